"""CZI files written by pylibCZIrw's own writer, read back through stackio pixel for pixel."""

from __future__ import annotations

import gc
import operator
import os
import pickle
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
from pylibCZIrw import czi as pyczi
from stackio import ArrayStack, LazyStack

ZSTD = "zstd1:ExplicitLevel=1;PreProcess=HiLoByteUnpack"
# Two scenes 90,000 px apart in X and Y: the whole-file box would be 90k x 90k pixels.
ORIGINS = {0: (1000, 2000), 1: (91000, 92000)}
T, Z, C, H, W = 2, 3, 2, 24, 32


def write_czi(path: Path, tiles: list[tuple[np.ndarray, dict[str, int], tuple[int, int], int]], **kw: Any) -> Path:
    """Write (array, plane, location, scene) tiles with pylibCZIrw."""
    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        for array, plane, location, scene in tiles:
            writer.write(array, plane=plane, location=location, scene=scene, compression_options=kw.get("compression"))
        if "metadata" in kw:
            writer.write_metadata(**kw["metadata"])
    return path


def pyczi_read(
    path: Path | str, plane: dict[str, int], roi: tuple[int, int, int, int], scene: int | None, **kw: Any
) -> np.ndarray:
    """pylibCZIrw's own reading of one plane and region."""
    with pyczi.open_czi(str(path)) as reader:
        return np.array(reader.read(roi=roi, plane=plane, scene=scene, **kw))


@pytest.fixture(scope="module")
def tzc(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """2 scenes far apart, T=2, Z=3, C=2, 24x32 uint16, zstd; data[s, t, z, c, y, x]."""
    rng = np.random.default_rng(1)
    data = rng.integers(1, 65535, (2, T, Z, C, H, W), dtype=np.uint16)
    tiles = [
        (data[s, t, z, c], {"T": t, "Z": z, "C": c}, ORIGINS[s], s)
        for s in range(2)
        for t in range(T)
        for z in range(Z)
        for c in range(C)
    ]
    path = write_czi(tmp_path_factory.mktemp("czi") / "tzc.czi", tiles, compression=ZSTD)
    return path, data


def full(stack: Any) -> np.ndarray:
    """The whole stack through extract_patch, as S C (Z) Y X."""
    spatial = stack.data_shape[2:]
    return np.stack([stack.extract_patch(s, None, (0,) * len(spatial), spatial) for s in range(stack.data_shape[0])])


def test_one_stack_per_scene_with_its_own_rectangle(tzc: tuple[Path, np.ndarray]) -> None:
    path, _ = tzc
    stacks = stackio.load(path)
    assert [s.source for s in stacks] == [f"{path.resolve()}@0", f"{path.resolve()}@1"]
    for stack in stacks:
        assert isinstance(stack, LazyStack)
        assert stack.axes == "SCZYX"  # axes=None and Z > 1
        assert stack.data_shape == (T, C, Z, H, W)
        # with a depth axis, original axes are CAREamics' order: merged axes, C, depth, YX
        assert stack.original_axes == "TCZYX"
        assert stack.original_data_shape == (T, C, Z, H, W)
        assert stack.data_dtype == np.uint16


def test_every_pixel_equals_pylibczirw_per_plane(tzc: tuple[Path, np.ndarray]) -> None:
    path, data = tzc
    for scene, stack in enumerate(stackio.load(path, "SCZYX")):
        got = full(stack)
        x0, y0 = ORIGINS[scene]
        for t in range(T):
            for z in range(Z):
                for c in range(C):
                    ref = pyczi_read(path, {"T": t, "Z": z, "C": c}, (x0, y0, W, H), scene)[..., 0]
                    np.testing.assert_array_equal(got[t, c, z], ref)
                    np.testing.assert_array_equal(got[t, c, z], data[scene, t, z, c])


def test_scene_selected_by_suffix_or_option(tzc: tuple[Path, np.ndarray]) -> None:
    path, data = tzc
    (by_suffix,) = stackio.load(f"{path}@1", "SCZYX")
    (by_option,) = stackio.load(path, "SCZYX", scene=1)
    assert by_suffix.source == by_option.source == f"{path.resolve()}@1"
    np.testing.assert_array_equal(full(by_suffix), full(by_option))
    np.testing.assert_array_equal(full(by_suffix)[1, 0, 2], data[1, 1, 2, 0])
    (again,) = stackio.load(by_suffix.source, "SCZYX")
    np.testing.assert_array_equal(full(again), full(by_suffix))


@pytest.mark.parametrize(
    ("axes", "shape", "sample_axes"),
    [
        ("SCYX", (T * Z, C, H, W), "TZ"),  # s = t * Z + z
        ("SCZYX", (T, C, Z, H, W), "T"),
        ("SCTYX", (Z, C, T, H, W), "Z"),
    ],
)
def test_depth_axis_and_merged_sample_order(
    tzc: tuple[Path, np.ndarray], axes: str, shape: tuple[int, ...], sample_axes: str
) -> None:
    path, data = tzc
    (stack,) = stackio.load(path, axes, scene=0)
    assert stack.axes == axes and stack.data_shape == shape
    assert stack.layout.sample_axes == sample_axes
    original = {"SCYX": ("TZCYX", (T, Z, C, H, W)), "SCZYX": ("TCZYX", (T, C, Z, H, W))}
    assert (stack.original_axes, stack.original_data_shape) == original.get(axes, ("ZCTYX", (Z, C, T, H, W)))
    got = full(stack)
    d = data[0]  # t, z, c, y, x
    if axes == "SCYX":
        expected = d.reshape(T * Z, C, H, W)
    elif axes == "SCZYX":
        expected = d.transpose(0, 2, 1, 3, 4)
    else:
        expected = d.transpose(1, 2, 0, 3, 4)
    np.testing.assert_array_equal(got, expected)
    # spot check the documented order against the writer's own indices
    if axes == "SCYX":
        np.testing.assert_array_equal(stack.extract_patch(1 * Z + 2, [1], (0, 0), (H, W))[0], d[1, 2, 1])


def _log_reads(stack: LazyStack) -> list[tuple[tuple[int, ...], dict[str, int]]]:
    """Record the ROI and plane of every pylibCZIrw read the stack makes."""
    from stackio.openfiles import POOL

    handle = stack._open()._handle()
    POOL.release(handle)
    log: list[tuple[tuple[int, ...], dict[str, int]]] = []
    real = handle.roi.read  # every ROI read of the array goes through its handle's `RoiReader`

    def read(roi: tuple[int, int, int, int], plane: dict[str, int]) -> np.ndarray:
        log.append((tuple(roi), dict(plane)))
        return real(roi, plane)

    handle.roi.read = read
    return log


def test_patch_reads_only_its_region_and_planes(tzc: tuple[Path, np.ndarray]) -> None:
    path, data = tzc
    (stack,) = stackio.load(path, "SCZYX", scene=1)
    log = _log_reads(stack)
    patch = stack.extract_patch(1, [1], (1, 5, 7), (2, 8, 9))
    x0, y0 = ORIGINS[1]
    assert log == [((x0 + 7, y0 + 5, 9, 8), {"T": 1, "Z": z, "C": 1}) for z in (1, 2)]
    np.testing.assert_array_equal(patch, data[1, 1, 1:3, 1:2, 5:13, 7:16].transpose(1, 0, 2, 3))
    # a patch hanging over the edges reads the inside part and is zero outside
    log.clear()
    patch = stack.extract_patch(0, None, (2, -3, 28), (2, 6, 10))
    assert {roi for roi, _ in log} == {(x0 + 28, y0, 4, 3)}
    assert len(log) == 2  # C=2 x the one Z plane inside
    assert patch.shape == (2, 2, 6, 10)
    np.testing.assert_array_equal(patch[:, 0, 3:, :4], data[1, 0, 2, :, 0:3, 28:32])
    assert not patch[:, 1].any() and not patch[:, 0, :3].any() and not patch[:, 0, :, 4:].any()


@pytest.fixture(scope="module")
def big_tiles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """T=6 planes, each one zstd-compressed 1024x1024 uint16 subblock (2 MiB decoded)."""
    rng = np.random.default_rng(6)
    data = rng.integers(0, 4000, (6, 1024, 1024), dtype=np.uint16)
    path = write_czi(
        tmp_path_factory.mktemp("czi") / "big_tiles.czi",
        [(data[t], {"T": t}, (0, 0), 0) for t in range(6)],
        compression=ZSTD,
    )
    return path, data


@pytest.mark.parametrize(("cache_mb", "cached"), [(None, 6), (0, 0), (5, 2)])
def test_decoded_subblock_cache(big_tiles: tuple[Path, np.ndarray], cache_mb: float | None, cached: int) -> None:
    """Patches within one compressed tile decode it once; the cache stays within cache_mb."""
    path, data = big_tiles
    options = {} if cache_mb is None else {"cache_mb": cache_mb}
    (stack,) = stackio.load(path, "SCTYX", **options)
    for t in range(6):
        for y, x in [(0, 0), (100, 200), (900, 960)]:
            patch = stack.extract_patch(0, None, (t, y, x), (1, 64, 64))
            np.testing.assert_array_equal(patch[0, 0], data[t, y : y + 64, x : x + 64])
    info = stack._open()._reader.get_cache_info()
    assert info.elements_count == cached  # default 32 MiB holds all six 2 MiB tiles
    assert info.memory_usage <= (cache_mb if cache_mb is not None else 32) * 2**20


def test_in_memory_reads_scene_rectangles_only(tzc: tuple[Path, np.ndarray]) -> None:
    path, data = tzc
    lazy = stackio.load(path, "SCZYX")
    rois: set[tuple[int, ...]] = set()
    for stack in lazy:
        log = _log_reads(stack)
        whole = stack.read_all()
        rois |= {roi for roi, _ in log}
        assert whole.shape == stack.data_shape
    assert rois == {(*ORIGINS[s], W, H) for s in range(2)}
    memory = stackio.load(path, "SCYX", in_memory=True)
    assert all(isinstance(s, ArrayStack) for s in memory)
    np.testing.assert_array_equal(memory[1].data, data[1].reshape(T * Z, C, H, W))


def test_numpy_basic_indexing_of_the_reader(tzc: tuple[Path, np.ndarray]) -> None:
    path, data = tzc
    (stack,) = stackio.load(path, "SCZYX", scene=0)
    array = stack._open()
    d = data[0]  # T Z C Y X, the file's order
    assert array.axes == stack.original_axes == "TCZYX"  # the reader's axes are the stack's original axes

    def in_reader_order(key: tuple) -> tuple:
        key = key + (slice(None),) * (5 - len(key))
        return (key[0], key[2], key[1], key[3], key[4])

    for key in [
        (1, slice(None), 0),
        (-1, 2, slice(1, 2), slice(3, 20, 4), slice(None, None, -3)),
        (slice(0, 2), slice(0, 0)),
        (0, 0, 1, 5, 7),
    ]:
        np.testing.assert_array_equal(array[in_reader_order(key)], d.transpose(0, 2, 1, 3, 4)[in_reader_order(key)])
    with pytest.raises(IndexError):
        array[2]
    with pytest.raises(TypeError):
        array[[0, 1]]


@pytest.fixture(scope="module")
def mosaic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """One scene of two tiles (M index 0 and 1) at a non-zero origin, with an empty gap between."""
    rng = np.random.default_rng(2)
    a = rng.integers(1, 1000, (30, 40), dtype=np.uint16)
    b = rng.integers(1, 1000, (30, 40), dtype=np.uint16)
    path = write_czi(tmp_path_factory.mktemp("czi") / "mosaic.czi", [(a, {}, (500, 300), 0), (b, {}, (560, 310), 0)])
    return path, a, b


@pytest.mark.parametrize("background", [None, 0.5, 1.0])
def test_mosaic_is_stitched_and_gaps_take_the_background(
    mosaic: tuple[Path, np.ndarray, np.ndarray], background: float | None
) -> None:
    path, a, b = mosaic
    options = {} if background is None else {"background": background}
    (stack,) = stackio.load(path, **options)
    assert stack.axes == "SCYX" and stack.data_shape == (1, 1, 40, 100)
    got = stack.extract_patch(0, None, (0, 0), (40, 100))[0]
    fill = background or 0.0
    ref = pyczi_read(path, {}, (500, 300, 100, 40), 0, background_pixel=(fill,) * 3)[..., 0]
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got[0:30, 0:40], a)
    np.testing.assert_array_equal(got[10:40, 60:100], b)
    assert (got[0:10, 40:100] == round(fill * 65535)).all()  # no subblock there


@pytest.mark.parametrize(("dtype", "pixel_type"), [(np.uint8, "Bgr24"), (np.uint16, "Bgr48")])
def test_rgb_becomes_three_channels_in_rgb_order(tmp_path: Path, dtype: type, pixel_type: str) -> None:
    rng = np.random.default_rng(3)
    bgr = [(rng.random((20, 24, 3)) * 200).astype(dtype) for _ in range(2)]
    path = write_czi(tmp_path / "rgb.czi", [(bgr[c], {"C": c}, (0, 0), 0) for c in range(2)])
    with pyczi.open_czi(str(path)) as reader:
        assert reader.pixel_types == {0: pixel_type, 1: pixel_type}
    (stack,) = stackio.load(path)
    assert stack.data_shape == (1, 6, 20, 24) and stack.data_dtype == np.dtype(dtype)
    got = stack.extract_patch(0, None, (0, 0), (20, 24))
    for c in range(2):
        ref = pyczi_read(path, {"C": c}, (0, 0, 24, 20), 0)
        assert ref.shape == (20, 24, 3)
        np.testing.assert_array_equal(got[3 * c : 3 * c + 3], ref[..., ::-1].transpose(2, 0, 1))
        np.testing.assert_array_equal(got[3 * c], bgr[c][..., 2])  # R first
        np.testing.assert_array_equal(got[3 * c + 2], bgr[c][..., 0])  # B last
    np.testing.assert_array_equal(
        stack.extract_patch(0, [4, 0], (2, 3), (5, 6)), np.stack([bgr[1][2:7, 3:9, 1], bgr[0][2:7, 3:9, 2]])
    )


def test_float_gray_and_mixed_pixel_types(tmp_path: Path) -> None:
    f32 = np.linspace(-1, 1, 15 * 16, dtype=np.float32).reshape(15, 16)
    (stack,) = stackio.load(write_czi(tmp_path / "f32.czi", [(f32, {}, (0, 0), 0)]))
    assert stack.data_dtype == np.float32
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (15, 16))[0], f32)

    g8 = np.full((10, 12), 200, np.uint8)
    g16 = np.arange(120, dtype=np.uint16).reshape(10, 12) * 300
    path = write_czi(tmp_path / "mixed.czi", [(g8, {"C": 0}, (0, 0), 0), (g16, {"C": 1}, (0, 0), 0)])
    (stack,) = stackio.load(path)
    assert stack.data_dtype == np.uint16  # the widest channel type; libCZI converts the others
    got = stack.extract_patch(0, None, (0, 0), (10, 12))
    for c in range(2):
        ref = pyczi_read(path, {"C": c}, (0, 0, 12, 10), 0, pixel_type="Gray16")[..., 0]
        np.testing.assert_array_equal(got[c], ref)
    np.testing.assert_array_equal(got[1], g16)


def test_dimensions_starting_above_zero(tmp_path: Path) -> None:
    """T and Z indices that start at 1 and 3 are read at their own coordinates."""
    tiles = [(np.full((6, 7), 10 * t + z, np.uint8), {"T": t, "Z": z}, (0, 0), 0) for t in (1, 2) for z in (3, 4)]
    path = write_czi(tmp_path / "offset_dims.czi", tiles)
    (stack,) = stackio.load(path, "SCTYX")
    assert stack.data_shape == (2, 1, 2, 6, 7) and stack.original_axes == "ZCTYX"
    got = full(stack)
    for t in range(2):
        for z in range(2):
            ref = pyczi_read(path, {"T": t + 1, "Z": z + 3}, (0, 0, 7, 6), 0)[..., 0]
            np.testing.assert_array_equal(got[z, 0, t], ref)
            assert (got[z, 0, t] == 10 * (t + 1) + z + 3).all()


def test_scene_indices_with_gaps(tmp_path: Path) -> None:
    tiles = [(np.full((5, 6), 1, np.uint8), {}, (0, 0), 0), (np.full((4, 3), 2, np.uint8), {}, (100, 50), 2)]
    path = write_czi(tmp_path / "gap.czi", tiles)
    stacks = stackio.load(path)
    assert [s.source.rsplit("@", 1)[1] for s in stacks] == ["0", "2"]
    assert [s.data_shape for s in stacks] == [(1, 1, 5, 6), (1, 1, 4, 3)]
    assert (stacks[1].extract_patch(0, None, (0, 0), (4, 3)) == 2).all()
    assert stackio_czi_reader().scene_rectangles(path) == {0: (0, 0, 6, 5), 2: (100, 50, 3, 4)}
    with pytest.raises(stackio.ValidationError, match=r"scene 1 does not exist; the file has scene\(s\) 0, 2"):
        stackio.load(f"{path}@1")


def stackio_czi_reader() -> Any:
    from stackio_czi import reader

    return reader


def test_scene_rectangles_helper(tzc: tuple[Path, np.ndarray]) -> None:
    path, _ = tzc
    rects = stackio_czi_reader().scene_rectangles(path)
    assert rects == {s: (*ORIGINS[s], W, H) for s in range(2)}
    with pyczi.open_czi(str(path)) as reader:
        assert rects == {k: tuple(v) for k, v in reader.scenes_bounding_rectangle_no_pyramid.items()}


def test_metadata_voxel_size_channel_names_and_raw(tmp_path: Path) -> None:
    tiles = [(np.zeros((4, 5), np.uint8), {"C": c, "Z": z}, (0, 0), 0) for c in range(2) for z in range(2)]
    # CZI's Scaling values are metres; pylibCZIrw's writer stores scale_* as given (its docstring says µm).
    meta = {"channel_names": {0: "DAPI", 1: "GFP"}, "scale_x": 0.125e-6, "scale_y": 0.25e-6, "scale_z": 1.5e-6}
    path = write_czi(tmp_path / "meta.czi", tiles, metadata=meta)
    (stack,) = stackio.load(path)
    md = stack.metadata
    assert md.voxel_size == pytest.approx({"Z": 1.5, "Y": 0.25, "X": 0.125})
    assert md.units == {"Z": "micrometer", "Y": "micrometer", "X": "micrometer"}
    assert md.channel_names == ("DAPI", "GFP")
    assert md.axis_names == ("T", "C", "Z", "Y", "X")  # the writer always writes T; Z is the depth axis
    with pyczi.open_czi(str(path)) as reader:
        assert md.raw() == reader.raw_metadata
    (flat,) = stackio.load(path, "SCYX")
    assert flat.metadata.voxel_size == pytest.approx({"Y": 0.25, "X": 0.125})
    assert pickle.loads(pickle.dumps(md)).raw() == md.raw()


def test_unscaled_file_declares_no_voxel_size(tzc: tuple[Path, np.ndarray]) -> None:
    stack = stackio.load(tzc[0])[0]
    assert stack.metadata.voxel_size is None and stack.metadata.units is None


def test_pickled_stack_reads_in_a_spawned_process(tzc: tuple[Path, np.ndarray]) -> None:
    path, data = tzc
    (stack,) = stackio.load(path, "SCZYX", scene=1)
    stack.extract_patch(0, None, (0, 0, 0), (1, 2, 2))  # open the reader: it must not travel
    read = operator.methodcaller("extract_patch", 1, [0], (0, 4, 5), (3, 10, 11))
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        remote = pool.submit(read, stack).result(timeout=120)
        source = pool.submit(operator.attrgetter("source"), stack).result(timeout=60)
    assert source == stack.source
    np.testing.assert_array_equal(remote, data[1, 1, :, 0:1, 4:14, 5:16].transpose(1, 0, 2, 3))
    np.testing.assert_array_equal(remote, read(stack))


def _open_fds(path: Path) -> int:
    target = str(path.resolve())
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == target
        except OSError:
            pass
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count open files")
def test_file_is_closed_on_close_and_on_collection(tzc: tuple[Path, np.ndarray]) -> None:
    path, _ = tzc
    before = _open_fds(path)
    stacks = stackio.load(path)
    assert _open_fds(path) == before  # load itself keeps nothing open
    for s in stacks:
        s.extract_patch(0, None, (0, 0, 0), (1, 2, 2))
    assert _open_fds(path) == before + 2
    stacks[0].close()
    assert _open_fds(path) == before + 1
    del stacks, s
    gc.collect()
    assert _open_fds(path) == before


def test_threads_share_one_stack(tzc: tuple[Path, np.ndarray]) -> None:
    path, data = tzc
    (stack,) = stackio.load(path, "SCYX", scene=0)
    expected = data[0].reshape(T * Z, C, H, W)
    rng = np.random.default_rng(4)
    jobs = [(int(rng.integers(0, T * Z)), int(rng.integers(0, H - 8)), int(rng.integers(0, W - 8))) for _ in range(200)]
    barrier = threading.Barrier(4)

    def work(chunk: list[tuple[int, int, int]]) -> bool:
        barrier.wait()
        return all(
            np.array_equal(stack.extract_patch(s, None, (y, x), (8, 8)), expected[s, :, y : y + 8, x : x + 8])
            for s, y, x in chunk
        )

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(work, [jobs[i::4] for i in range(4)]))


def test_nothing_is_printed_to_stdout(tzc: tuple[Path, np.ndarray], capfd: pytest.CaptureFixture[str]) -> None:
    for stack in stackio.load(tzc[0]):
        stack.extract_patch(0, None, (0, 0, 0), (1, 4, 4))
        stack.metadata.raw()
    out, _ = capfd.readouterr()
    assert out == ""


def test_planes_a_scene_lacks_read_as_background(tmp_path: Path) -> None:
    """Dimension sizes are the file's; scene 1 has only Z=0 of the file's Z=3."""
    tiles = [(np.full((5, 6), z + 1, np.uint8), {"Z": z}, (0, 0), 0) for z in range(3)]
    tiles.append((np.full((5, 6), 9, np.uint8), {"Z": 0}, (50, 0), 1))
    path = write_czi(tmp_path / "lacking.czi", tiles)
    stacks = stackio.load(path, background=1.0)
    assert [s.data_shape for s in stacks] == [(1, 1, 3, 5, 6)] * 2
    got = stacks[1].extract_patch(0, None, (0, 0, 0), (3, 5, 6))[0]
    assert (got[0] == 9).all() and (got[1:] == 255).all()
    ref = pyczi_read(path, {"Z": 2}, (50, 0, 6, 5), 1, background_pixel=(1.0, 1.0, 1.0))[..., 0]
    np.testing.assert_array_equal(got[2], ref)


def test_channels_starting_above_zero(tmp_path: Path) -> None:
    """C = 1, 2: pylibCZIrw's own `pixel_types` looks at C 0..1 and misses C2; the plugin does not."""
    tiles = [
        (np.full((5, 6), 7, np.uint8), {"C": 1}, (0, 0), 0),
        (np.arange(30, dtype=np.uint16).reshape(5, 6) * 1000, {"C": 2}, (0, 0), 0),
    ]
    path = write_czi(tmp_path / "c12.czi", tiles)
    with pyczi.open_czi(str(path)) as reader:
        assert reader.pixel_types == {0: "Invalid", 1: "Gray8"}
    (stack,) = stackio.load(path)
    assert stack.data_shape == (1, 2, 5, 6) and stack.data_dtype == np.uint16
    got = stack.extract_patch(0, None, (0, 0), (5, 6))
    for c in (1, 2):
        ref = pyczi_read(path, {"C": c}, (0, 0, 6, 5), 0, pixel_type="Gray16")[..., 0]
        np.testing.assert_array_equal(got[c - 1], ref)
    np.testing.assert_array_equal(got[1], tiles[1][0])


def test_background_travels_in_load_options_and_dask_names(mosaic: tuple[Path, np.ndarray, np.ndarray]) -> None:
    pytest.importorskip("dask")
    path, _, _ = mosaic
    (black,) = stackio.load(path)
    (grey,) = stackio.load(path, background=0.5)
    assert black.load_options == {} and grey.load_options == {"background": 0.5}
    (again,) = stackio.load(grey.source, **grey.load_options)
    whole = (0, 0), (40, 100)
    np.testing.assert_array_equal(again.extract_patch(0, None, *whole), grey.extract_patch(0, None, *whole))
    assert black.to_dask().name != grey.to_dask().name
    total = (black.to_dask().astype(np.int64) + grey.to_dask()).compute()[0]
    expected = black.extract_patch(0, None, *whole).astype(np.int64) + grey.extract_patch(0, None, *whole)
    np.testing.assert_array_equal(total, expected)
