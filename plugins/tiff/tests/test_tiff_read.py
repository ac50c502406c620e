"""TIFF flavours written by tifffile, read by stackio and compared pixel for pixel with tifffile.imread."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import stackio
import tifffile
from stackio import ArrayStack, FileBackedStack, LazyStack
from stackio_tiff.pages import MemmapStore, PlaneStore
from tiff_helpers import arranged, every_sample, same_as_tifffile, whole

RNG = np.random.default_rng(42)


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("tiff")
    tifffile.imwrite(d / "plain2d.tif", RNG.integers(0, 65535, (37, 53), dtype=np.uint16))
    tifffile.imwrite(
        d / "pages.tif", RNG.integers(0, 255, (6, 40, 30), dtype=np.uint8), photometric="minisblack", metadata=None
    )
    tifffile.imwrite(
        d / "hyper.tif",
        RNG.integers(0, 4000, (3, 4, 2, 33, 41), dtype=np.uint16),
        imagej=True,
        resolution=(1 / 0.25, 1 / 0.25),
        metadata={"axes": "TZCYX", "spacing": 0.75, "unit": "um", "finterval": 1.5},
    )
    tifffile.imwrite(d / "rgb_contig.tif", RNG.integers(0, 255, (31, 45, 3), dtype=np.uint8), photometric="rgb")
    tifffile.imwrite(
        d / "rgb_planar.tif",
        RNG.integers(0, 255, (3, 31, 45), dtype=np.uint8),
        photometric="rgb",
        planarconfig="separate",
    )
    tifffile.imwrite(
        d / "rgb_planar_tiled.tif",
        RNG.integers(0, 255, (3, 70, 90), dtype=np.uint8),
        photometric="rgb",
        planarconfig="separate",
        tile=(32, 32),
        compression="zlib",
    )
    tifffile.imwrite(
        d / "bigtiff.tif",
        RNG.integers(0, 255, (3, 20, 25), dtype=np.uint8),
        bigtiff=True,
        photometric="minisblack",
        metadata={"axes": "ZYX"},
    )
    tifffile.imwrite(
        d / "big_endian.tif",
        RNG.random((4, 21, 19)).astype(">f4"),
        byteorder=">",
        photometric="minisblack",
        metadata={"axes": "ZYX"},
    )
    tifffile.imwrite(d / "float_nan.tif", np.where(RNG.random((15, 16)) > 0.5, np.nan, 1.0).astype(np.float32))
    for codec in ("zlib", "zstd", "lzw"):
        tifffile.imwrite(
            d / f"tiled_{codec}.tif",
            RNG.integers(0, 60000, (5, 150, 170), dtype=np.uint16),
            tile=(64, 48),
            compression=codec,
            photometric="minisblack",
            metadata={"axes": "ZYX"},
        )
        tifffile.imwrite(
            d / f"strips_{codec}.tif",
            RNG.integers(0, 60000, (5, 150, 170), dtype=np.uint16),
            rowsperstrip=16,
            compression=codec,
            photometric="minisblack",
            metadata={"axes": "ZYX"},
        )
    tifffile.imwrite(
        d / "predictor.tif",
        RNG.integers(0, 60000, (2, 50, 60), dtype=np.uint16),
        compression="zlib",
        predictor=True,
        tile=(32, 32),
        photometric="minisblack",
        metadata={"axes": "TYX"},
    )
    tifffile.imwrite(
        d / "volume_tiles.tif",
        RNG.integers(0, 255, (20, 40, 48), dtype=np.uint8),
        tile=(8, 16, 16),
        compression="zlib",
        photometric="minisblack",
        metadata=None,
    )
    tifffile.imwrite(d / "bits.tif", RNG.integers(0, 2, (17, 23)).astype(bool))
    with tifffile.TiffWriter(d / "multi.ome.tif", ome=True) as tif:
        for i, shape in enumerate([(2, 3, 24, 28), (2, 3, 24, 28), (2, 5, 16, 20)]):
            tif.write(
                RNG.integers(0, 255, shape, dtype=np.uint8),
                photometric="minisblack",
                metadata={
                    "axes": "CZYX",
                    "Name": f"pos{i}",
                    "PhysicalSizeX": 0.1 * (i + 1),
                    "PhysicalSizeY": 0.2,
                    "PhysicalSizeZ": 1.5,
                    "PhysicalSizeXUnit": "nm",
                    "Channel": {"Name": ["DAPI", f"GFP{i}"]},
                },
            )
    with tifffile.TiffWriter(d / "pyramid.ome.tif", ome=True) as tif:
        base = RNG.integers(0, 255, (128, 96), dtype=np.uint8)
        tif.write(base, subifds=2, tile=(32, 32), compression="zlib", metadata={"axes": "YX"})
        tif.write(base[::2, ::2], subfiletype=1, tile=(32, 32), compression="zlib")
        tif.write(base[::4, ::4], subfiletype=1, tile=(32, 32), compression="zlib")
    return d


def test_plain_2d_is_memory_mapped(d: Path) -> None:
    (stack,) = stackio.load(d / "plain2d.tif")
    assert isinstance(stack, LazyStack) and stack.axes == "SCYX" and stack.data_shape == (1, 1, 37, 53)
    assert isinstance(stack._open(), MemmapStore)
    same_as_tifffile(stack, d / "plain2d.tif", "YX")
    patch = stack.extract_patch(0, None, (30, 50), (10, 10))
    expected = np.zeros((1, 10, 10), np.uint16)
    expected[0, :7, :3] = tifffile.imread(d / "plain2d.tif")[30:, 50:]
    np.testing.assert_array_equal(patch, expected)


def test_multi_page_needs_axes_and_reads_with_them(d: Path) -> None:
    with pytest.raises(stackio.AxesError, match=r"pages\.tif.*'I'.*axes='ZYX'"):
        stackio.load(d / "pages.tif")
    (stack,) = stackio.load(d / "pages.tif", "ZYX")
    assert stack.data_shape == (1, 1, 6, 40, 30)
    same_as_tifffile(stack, d / "pages.tif", "ZYX")
    (as_time,) = stackio.load(d / "pages.tif", "TYX")
    assert as_time.data_shape == (6, 1, 40, 30)
    same_as_tifffile(as_time, d / "pages.tif", "TYX")


def test_imagej_hyperstack_axes_and_calibration(d: Path) -> None:
    (stack,) = stackio.load(d / "hyper.tif")
    assert stack.original_axes == "TZCYX" and stack.axes == "SCZYX" and stack.data_shape == (3, 2, 4, 33, 41)
    same_as_tifffile(stack, d / "hyper.tif", "TZCYX")
    meta = stack.metadata
    assert meta.voxel_size == pytest.approx({"X": 0.25, "Y": 0.25, "Z": 0.75, "T": 1.5})
    assert meta.units == {"X": "micrometer", "Y": "micrometer", "Z": "micrometer", "T": "second"}
    assert meta.axis_names == ("T", "Z", "C", "Y", "X")
    raw = meta.raw()
    assert (raw["spacing"], raw["frames"], raw["slices"], raw["channels"]) == (0.75, 3, 4, 2)
    (explicit,) = stackio.load(d / "hyper.tif", "tzcyx")
    np.testing.assert_array_equal(every_sample(explicit), every_sample(stack))


def test_patch_of_hyperstack_with_channel_subset(d: Path) -> None:
    (stack,) = stackio.load(d / "hyper.tif")
    reference = tifffile.imread(d / "hyper.tif")  # TZCYX
    patch = stack.extract_patch(2 * 1 + 0, [1], (1, 5, 7), (2, 10, 12))  # sample = T index 2
    np.testing.assert_array_equal(patch, reference[2, 1:3, 1, 5:15, 7:19][np.newaxis])


@pytest.mark.parametrize("name", ["rgb_contig.tif", "rgb_planar.tif", "rgb_planar_tiled.tif"])
def test_rgb_samples_become_channels(d: Path, name: str) -> None:
    (stack,) = stackio.load(d / name)
    assert stack.data_shape[:2] == (1, 3)
    axes = "YXC" if name == "rgb_contig.tif" else "CYX"
    assert stack.original_axes == axes
    same_as_tifffile(stack, d / name, axes)
    (renamed,) = stackio.load(d / name, axes)
    np.testing.assert_array_equal(every_sample(renamed), every_sample(stack))


@pytest.mark.parametrize("codec", ["zlib", "zstd", "lzw"])
@pytest.mark.parametrize("layout", ["tiled", "strips"])
def test_compressed_tiles_and_strips(d: Path, codec: str, layout: str) -> None:
    path = d / f"{layout}_{codec}.tif"
    (stack,) = stackio.load(path)
    assert isinstance(stack._open(), PlaneStore)
    same_as_tifffile(stack, path, "ZYX")
    reference = tifffile.imread(path)
    for coords, size in [((1, 60, 40), (3, 70, 100)), ((4, 140, 160), (1, 10, 10)), ((0, 0, 0), (5, 150, 170))]:
        z, y, x = coords
        patch = stack.extract_patch(0, None, coords, size)[0]
        expected = reference[z : z + size[0], y : y + size[1], x : x + size[2]]
        np.testing.assert_array_equal(patch[: expected.shape[0], : expected.shape[1], : expected.shape[2]], expected)
    assert stack.chunks == ((1, 64, 48) if layout == "tiled" else (1, 16, 170))


@pytest.mark.parametrize(
    ("name", "axes"),
    [
        ("predictor.tif", "TYX"),
        ("volume_tiles.tif", "ZYX"),
        ("bits.tif", "YX"),
        ("big_endian.tif", "ZYX"),
        ("bigtiff.tif", "ZYX"),
        ("float_nan.tif", "YX"),
    ],
)
def test_other_encodings(d: Path, name: str, axes: str) -> None:
    (stack,) = stackio.load(d / name, axes)
    reference = tifffile.imread(d / name)
    got = every_sample(stack)
    np.testing.assert_array_equal(got, arranged(reference, axes))
    assert got.dtype.isnative


def test_volume_tiles_read_in_pieces(d: Path) -> None:
    (stack,) = stackio.load(d / "volume_tiles.tif", "ZYX")
    reference = tifffile.imread(d / "volume_tiles.tif")
    patch = stack.extract_patch(0, None, (5, 10, 20), (6, 20, 20))
    np.testing.assert_array_equal(patch[0], reference[5:11, 10:30, 20:40])


def test_ome_series_positions_and_physical_sizes(d: Path) -> None:
    stacks = stackio.load(d / "multi.ome.tif")
    assert len(stacks) == 3
    for i, stack in enumerate(stacks):
        assert stack.source == f"{(d / 'multi.ome.tif').absolute()}@{i}"
        same_as_tifffile(stack, d / "multi.ome.tif", "CZYX", series=i)
        assert stack.metadata.voxel_size == pytest.approx({"X": 0.1 * (i + 1), "Y": 0.2, "Z": 1.5})
        assert stack.metadata.units == {"X": "nanometer", "Y": "micrometer", "Z": "micrometer"}
        assert stack.metadata.channel_names == ("DAPI", f"GFP{i}")
        assert "<OME" in stack.metadata.raw()
    assert stacks[2].data_shape == (1, 2, 5, 16, 20)


def test_one_series_by_index_or_option(d: Path) -> None:
    (by_at,) = stackio.load(f"{d / 'multi.ome.tif'}@2")
    (by_option,) = stackio.load(d / "multi.ome.tif", series=2)
    assert by_at.source == by_option.source == f"{(d / 'multi.ome.tif').absolute()}@2"
    np.testing.assert_array_equal(every_sample(by_at), every_sample(by_option))
    assert by_at.data_shape == (1, 2, 5, 16, 20)
    with pytest.raises(stackio.ValidationError, match=r"multi\.ome\.tif: series 3 does not exist; .* 3 series"):
        stackio.load(f"{d / 'multi.ome.tif'}@3")
    with pytest.raises(stackio.ValidationError, match="series=1 was also given"):
        stackio.load(f"{d / 'multi.ome.tif'}@2", series=1)


def test_pyramid_levels(d: Path) -> None:
    (stack,) = stackio.load(d / "pyramid.ome.tif")
    assert stack.data_shape == (1, 1, 128, 96)
    same_as_tifffile(stack, d / "pyramid.ome.tif", "YX")
    (level1,) = stackio.load(d / "pyramid.ome.tif", level=1)
    assert level1.data_shape == (1, 1, 64, 48)
    same_as_tifffile(level1, d / "pyramid.ome.tif", "YX", level=1)
    assert stack.load_options == {} and level1.load_options == {"level": 1}
    (again,) = stackio.load(level1.source, **level1.load_options)
    assert again.data_shape == level1.data_shape
    with pytest.raises(stackio.ValidationError, match="level 3 does not exist; the image has 3 level"):
        stackio.load(d / "pyramid.ome.tif", level=3)


def test_file_backed_pyramid_level_is_recreated_from_its_load_options(d: Path) -> None:
    (level1,) = stackio.load(d / "pyramid.ome.tif", level=1, file_backed=True)
    assert isinstance(level1, FileBackedStack) and level1.load_options == {"level": 1}
    (again,) = stackio.load(level1.source, **level1.load_options)
    assert again.data_shape == level1.data_shape == (1, 1, 64, 48)
    np.testing.assert_array_equal(every_sample(again), every_sample(level1))
    same_as_tifffile(again, d / "pyramid.ome.tif", "YX", level=1)


def test_in_memory_reads_everything_once(d: Path) -> None:
    (stack,) = stackio.load(d / "tiled_zstd.tif", in_memory=True)
    assert isinstance(stack, ArrayStack)
    np.testing.assert_array_equal(stack.data[0, 0], tifffile.imread(d / "tiled_zstd.tif"))
    (mapped,) = stackio.load(d / "hyper.tif", in_memory=True)
    assert isinstance(mapped, ArrayStack)
    root = mapped.data
    while isinstance(root.base, np.ndarray):
        root = root.base
    assert root.base is None and root.flags.owndata  # a copy in memory, not a view on the file's map


def test_file_backed_stacks_load_and_close(d: Path) -> None:
    stacks = stackio.load([d / "tiled_zlib.tif", d / "hyper.tif"], None, file_backed=True)
    assert all(isinstance(s, FileBackedStack) and not s.is_loaded for s in stacks)
    assert stacks[1].data_shape == (3, 2, 4, 33, 41) and stacks[1].data_dtype == np.uint16
    for stack, (path, axes) in zip(stacks, [(d / "tiled_zlib.tif", "ZYX"), (d / "hyper.tif", "TZCYX")], strict=True):
        stack.load()
        assert stack.is_loaded
        same_as_tifffile(stack, path, axes)
        stack.close()
        assert not stack.is_loaded
    copy = pickle.loads(pickle.dumps(stacks[1]))
    np.testing.assert_array_equal(every_sample(copy), every_sample(stacks[1]))


def test_list_of_files_is_concatenated(d: Path) -> None:
    stacks = stackio.load([d / "plain2d.tif", d / "multi.ome.tif"])
    assert [s.data_shape[2:] for s in stacks] == [(37, 53), (3, 24, 28), (3, 24, 28), (5, 16, 20)]


def test_stacks_pickle_with_their_opened_reader(d: Path) -> None:
    for name, axes in [("tiled_lzw.tif", "ZYX"), ("plain2d.tif", None), ("multi.ome.tif", None)]:
        stack = stackio.load(d / name, axes)[-1]
        before = whole(stack)
        copy = pickle.loads(pickle.dumps(stack))
        np.testing.assert_array_equal(whole(copy), before)
        assert copy.metadata.to_dict() == stack.metadata.to_dict()


def test_series_whose_pages_do_not_map_onto_its_axes_are_read_whole(d: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stackio_tiff import images, shared

    monkeypatch.setattr(images, "_split", lambda shape, shaped: None)
    shared.RECENT.clear()  # layouts parsed before the patch would be reused for the same file
    (stack,) = stackio.load(d / "tiled_zstd.tif")
    assert isinstance(stack._open(), images.WholeSeriesStore)
    same_as_tifffile(stack, d / "tiled_zstd.tif", "ZYX")
