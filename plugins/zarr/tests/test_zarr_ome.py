"""OME-Zarr (NGFF 0.1-0.5): levels, axes, transformations, channel names, bioformats2raw, plates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stackio
import zarr


def _levels(zw, shape: tuple[int, ...], n: int, dtype: str = "uint16") -> list[np.ndarray]:
    """Levels with different content (each its own random pattern), halving Y and X."""
    out = []
    for i in range(n):
        s = (*shape[:-2], max(1, shape[-2] >> i), max(1, shape[-1] >> i))
        out.append(zw.pattern(s, dtype, seed=100 + i))
    return out


@pytest.fixture
def ome04(tmp_path: Path, zw) -> tuple[Path, list[np.ndarray]]:
    levels = _levels(zw, (2, 6, 40, 48), 3)
    path = zw.write_ome(
        tmp_path / "img.ome.zarr",
        levels,
        version="0.4",
        axes="czyx",
        scales=[[1, 2.0, 0.5, 0.5], [1, 2.0, 1.0, 1.0], [1, 2.0, 2.0, 2.0]],
        translations=[None, [0, 0, 0.25, 0.25], [0, 0, 0.75, 0.75]],
        units={"z": "micrometer", "y": "micrometer", "x": "micrometer"},
        channels=["DAPI", "GFP"],
    )
    return path, levels


def test_ome04_reads_level_0_with_axes_from_metadata(ome04, assert_stack_equals) -> None:
    path, levels = ome04
    [stack] = stackio.load(path)
    assert stack.axes == "SCZYX" and stack.original_axes == "CZYX"
    expected = zarr.open_array(str(path / "0"), mode="r")[...]
    np.testing.assert_array_equal(expected, levels[0])
    assert_stack_equals(stack, expected)
    assert stack.source == (path / "0").as_uri()
    md = stack.metadata
    assert md.voxel_size == {"Z": 2.0, "Y": 0.5, "X": 0.5}
    assert md.units == {"Z": "micrometer", "Y": "micrometer", "X": "micrometer"}
    assert md.offset is None  # level 0 declares no translation
    assert md.channel_names == ("DAPI", "GFP")
    assert md.axis_names == ("c", "z", "y", "x")
    assert md.raw()["image_attributes"]["multiscales"][0]["version"] == "0.4"


@pytest.mark.parametrize("level", [1, 2])
def test_ome04_level_option_reads_that_level(ome04, assert_stack_equals, level: int) -> None:
    path, levels = ome04
    [stack] = stackio.load(path, level=level)
    assert_stack_equals(stack, zarr.open_array(str(path / str(level)), mode="r")[...])
    assert not np.array_equal(stack.extract_patch(0, None, (0, 0, 0), (1, 4, 4)), levels[0][:, :1, :4, :4])
    assert stack.metadata.voxel_size == {"Z": 2.0, "Y": 2.0 ** (level - 1), "X": 2.0 ** (level - 1)}
    assert stack.metadata.offset == {"Z": 0.0, "Y": [0.25, 0.75][level - 1], "X": [0.25, 0.75][level - 1]}
    # the source names the level's array; loading it alone gives the same level and metadata
    [again] = stackio.load(stack.source)
    assert again.metadata == stack.metadata
    np.testing.assert_array_equal(
        again.extract_patch(0, None, (0, 0, 0), again.data_shape[2:]),
        stack.extract_patch(0, None, (0, 0, 0), stack.data_shape[2:]),
    )
    [same] = stackio.load(stack.source, level=level)  # agreeing level on an array URI is fine
    assert same.data_shape == stack.data_shape


def test_level_out_of_range_and_contradicting_levels(ome04) -> None:
    path, _ = ome04
    with pytest.raises(stackio.ValidationError, match=r"level 3 does not exist;.*3 level\(s\), 0 to 2"):
        stackio.load(path, level=3)
    with pytest.raises(stackio.ValidationError, match=r"level 1 of the OME-Zarr image .*level=2 contradicts"):
        stackio.load((path / "1").as_uri(), level=2)
    for bad in (-1, "1", True, 1.0):
        with pytest.raises(stackio.ValidationError, match="level must be a non-negative int"):
            stackio.load(path, level=bad)


def test_axes_given_must_agree_with_the_metadata(ome04) -> None:
    path, _ = ome04
    [stack] = stackio.load(path, "czyx")
    assert stack.axes == "SCZYX"
    with pytest.raises(stackio.AxesError, match=r"axes='TZYX' contradict the OME-Zarr axes \['c', 'z', 'y', 'x'\]"):
        stackio.load(path, "TZYX")


@pytest.fixture
def ome05(tmp_path: Path, zw) -> tuple[Path, list[np.ndarray]]:
    """NGFF 0.5 (zarr v3, sharded) with nested dataset paths and an image-wide scale."""
    levels = _levels(zw, (3, 2, 4, 32, 32), 2, "uint8")
    path = zw.write_ome(
        tmp_path / "img05.ome.zarr",
        levels,
        version="0.5",
        axes="tczyx",
        paths=["scale0/image", "scale1/image"],
        scales=[[1, 1, 1, 0.2, 0.2], [1, 1, 1, 0.4, 0.4]],
        translations=[[0, 0, 5, 10, 20], None],
        global_transforms=[{"type": "scale", "scale": [30.0, 1, 3.0, 1, 1]}],
        units={"t": "second", "z": "micrometer", "y": "micrometer", "x": "micrometer"},
        channels=["a", "b"],
        chunks=(1, 1, 2, 8, 8),
        shards=(1, 1, 4, 16, 16),
    )
    return path, levels


def test_ome05_nested_paths_sharded_and_image_wide_transforms(ome05, assert_stack_equals) -> None:
    path, levels = ome05
    [stack] = stackio.load(path)
    assert stack.original_axes == "TCZYX" and stack.data_shape == (3, 2, 4, 32, 32)
    expected = zarr.open_array(str(path / "scale0" / "image"), mode="r")[...]
    assert_stack_equals(stack, expected)
    assert stack.chunks == (1, 1, 2, 8, 8) and stack.shards == (1, 1, 4, 16, 16)
    md = stack.metadata
    assert md.voxel_size == {"T": 30.0, "Z": 3.0, "Y": 0.2, "X": 0.2}
    assert md.offset == {"T": 0.0, "Z": 15.0, "Y": 10.0, "X": 20.0}  # translation then the image-wide scale
    assert md.units == {"T": "second", "Z": "micrometer", "Y": "micrometer", "X": "micrometer"}
    assert md.channel_names == ("a", "b")
    [level1] = stackio.load(path.as_uri(), level=1)
    assert level1.source == (path / "scale1" / "image").as_uri()
    assert_stack_equals(level1, levels[1])
    [again] = stackio.load(level1.source)  # found through the grandparent's multiscales
    assert again.metadata.voxel_size == {"T": 30.0, "Z": 3.0, "Y": 0.4, "X": 0.4}


def test_legacy_ngff_without_axes_is_tczyx(tmp_path: Path, zw, assert_stack_equals) -> None:
    levels = _levels(zw, (2, 1, 3, 16, 16), 2)
    for version in ("0.1", "0.2"):
        path = zw.write_ome(tmp_path / f"v{version}.zarr", levels, version=version, axes=None)
        [stack] = stackio.load(path)
        assert stack.original_axes == "TCZYX"
        assert_stack_equals(stack, levels[0])
        assert stack.metadata.voxel_size is None
    bad = zw.write_ome(tmp_path / "bad.zarr", [zw.pattern((4, 16, 16))], version="0.2", axes=None)
    with pytest.raises(stackio.ReadError, match=r"declares 5 axes .* has 3 dimensions"):
        stackio.load(bad)


def test_ngff_03_axes_are_strings(tmp_path: Path, zw, assert_stack_equals) -> None:
    levels = _levels(zw, (4, 16, 16), 1)
    path = zw.write_ome(tmp_path / "v03.zarr", levels, version="0.3", axes="zyx")
    [stack] = stackio.load(path)
    assert stack.original_axes == "ZYX"
    assert_stack_equals(stack, levels[0])


def test_custom_axis_names_need_axes(tmp_path: Path, zw, assert_stack_equals) -> None:
    levels = [zw.pattern((3, 16, 16))]
    path = zw.write_ome(tmp_path / "custom.zarr", levels, axes="wyx")  # 'w' has no stackio letter
    with pytest.raises(stackio.AxesError, match=r"OME-Zarr axes \['w', 'y', 'x'\] include names .*axes="):
        stackio.load(path)
    [stack] = stackio.load(path, "CYX")
    assert_stack_equals(stack, levels[0])
    assert stack.metadata.axis_names == ("w", "y", "x")


def _bf2raw(tmp_path: Path, zw, *, listed: bool) -> tuple[Path, list[list[np.ndarray]]]:
    root = tmp_path / ("bf_listed.zarr" if listed else "bf.zarr")
    group = zarr.open_group(str(root), mode="w", zarr_format=3)
    group.attrs.update({"ome": {"version": "0.5", "bioformats2raw.layout": 3}})
    series = []
    for s in range(3):
        levels = [zw.pattern((10 + s, 12), "uint8", seed=10 * s + i) for i in range(2)]
        levels[1] = levels[1][::2, ::2].copy()
        zw.write_ome(root / str(s), levels, version="0.5", axes="yx")
        series.append(levels)
    if listed:  # the OME group names the series (here in a different order)
        ome = group.create_group("OME")
        ome.attrs.update({"ome": {"version": "0.5", "series": ["2", "0"]}})
    return root, series


def test_bioformats2raw_gives_one_stack_per_series(tmp_path: Path, zw, assert_stack_equals) -> None:
    root, series = _bf2raw(tmp_path, zw, listed=False)
    stacks = stackio.load(root)
    assert [s.source for s in stacks] == [(root / str(i) / "0").as_uri() for i in range(3)]
    for stack, levels in zip(stacks, series, strict=True):
        assert_stack_equals(stack, levels[0])
    [second] = stackio.load(f"{root}@1", level=1)
    assert_stack_equals(second, series[1][1])
    listed, lseries = _bf2raw(tmp_path, zw, listed=True)
    stacks = stackio.load(listed)
    assert [s.source.rsplit("/", 2)[1] for s in stacks] == ["2", "0"]
    assert_stack_equals(stacks[0], lseries[2][0])


def test_hcs_plate_gives_one_stack_per_field(tmp_path: Path, zw, assert_stack_equals) -> None:
    root = tmp_path / "plate.ome.zarr"
    plate = zarr.open_group(str(root), mode="w", zarr_format=2)
    plate.attrs.update(
        {
            "plate": {
                "version": "0.4",
                "rows": [{"name": "A"}, {"name": "B"}],
                "columns": [{"name": "1"}],
                "wells": [
                    {"path": "B/1", "rowIndex": 1, "columnIndex": 0},
                    {"path": "A/1", "rowIndex": 0, "columnIndex": 0},
                ],
            }
        }
    )
    fields = {}
    for well, n_fields in (("A/1", 2), ("B/1", 1)):
        w = plate.require_group(well)
        w.attrs.update({"well": {"version": "0.4", "images": [{"path": str(f)} for f in range(n_fields)]}})
        for f in range(n_fields):
            data = zw.pattern((2, 8, 9), "uint16", seed=len(fields))
            zw.write_ome(root / well / str(f), [data], version="0.4", axes="cyx")
            fields[f"{well}/{f}"] = data
    stacks = stackio.load(root)
    order = ["B/1/0", "A/1/0", "A/1/1"]  # plate order, then well order
    assert [s.source for s in stacks] == [(root / k / "0").as_uri() for k in order]
    for stack, key in zip(stacks, order, strict=True):
        assert_stack_equals(stack, fields[key])
    [well_a] = stackio.load(root / "A" / "1" / "0")
    assert_stack_equals(well_a, fields["A/1/0"])
    assert len(stackio.load((root / "A" / "1").as_uri())) == 2  # a well gives its fields


def test_metadata_paths_may_not_leave_the_store(tmp_path: Path, zw) -> None:
    path = zw.write_ome(tmp_path / "esc.zarr", [zw.pattern((8, 8))], axes="yx")
    group = zarr.open_group(str(path), mode="r+")
    attrs = group.attrs.asdict()
    attrs["multiscales"][0]["datasets"][0]["path"] = "../other.zarr/0"
    group.attrs.update(attrs)
    with pytest.raises(stackio.ValidationError, match=r"'\.\./other.zarr/0' would leave the zarr store"):
        stackio.load(path)


def test_level_on_plain_zarr_is_an_error(tmp_path: Path, zw) -> None:
    zw.write_array(tmp_path / "plain.zarr", zw.pattern((8, 8)))
    with pytest.raises(stackio.ValidationError, match="not part of one; drop level="):
        stackio.load(tmp_path / "plain.zarr", "YX", level=0)


def test_ome_labels_image_is_read_by_path(ome04, zw, assert_stack_equals) -> None:
    path, _ = ome04
    labels = zw.pattern((6, 40, 48), "uint32", seed=9)
    zarr.open_group(str(path), mode="r+").create_group("labels").attrs.update({"labels": ["cells"]})
    zw.write_ome(path / "labels" / "cells", [labels], version="0.4", axes="zyx")
    [stack] = stackio.load(path)  # the image itself is unchanged by its labels group
    assert stack.source == (path / "0").as_uri()
    [cells] = stackio.load((path / "labels" / "cells").as_uri())
    assert cells.data_dtype == np.uint32
    assert_stack_equals(cells, labels)


def test_a_group_between_image_and_level_keeps_the_image_metadata(ome05) -> None:
    path, _ = ome05
    [via_group] = stackio.load(path / "scale1")  # a plain group holding level 1's array
    [via_array] = stackio.load(via_group.source)
    assert via_group.source == (path / "scale1" / "image").as_uri()
    assert via_group.metadata == via_array.metadata
    assert via_group.metadata.voxel_size == {"T": 30.0, "Z": 3.0, "Y": 0.4, "X": 0.4}
