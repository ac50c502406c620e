"""Tiled XY acquisitions: stitched exactly as ndstorage's `as_array(stitched=True)`, tiles as samples, levels."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import stackio
from ndtiff_helpers import (
    GRID_COLUMNS,
    GRID_MISSING,
    GRID_OVERLAP,
    GRID_ROWS,
    GRID_SUMMARY,
    GRID_TILE,
    arrange,
    grid_images,
    reference_array,
)
from stackio_ndtiff.samples import scene, tiles, write_ndtiff

STEP = (GRID_TILE[0] - GRID_OVERLAP[0], GRID_TILE[1] - GRID_OVERLAP[1])
STITCHED = (len(GRID_ROWS) * STEP[0], len(GRID_COLUMNS) * STEP[1])


def test_stitched_matches_ndstorage(grid_dataset: Path) -> None:
    stack = stackio.load(grid_dataset)[0]
    assert stack.axes == "SCZYX"
    assert stack.data_shape == (1, 2, 2, *STITCHED)
    ref, names = reference_array(grid_dataset, stitched=True)
    np.testing.assert_array_equal(stack.read_all(), arrange(ref, names, stack))
    assert stack.metadata.channel_names == ("A", "B")
    assert stack.metadata.voxel_size == {"Y": 0.325, "X": 0.325}


def test_stitched_plane_is_the_scene_the_tiles_were_cut_from(grid_dataset: Path) -> None:
    stack = stackio.load(grid_dataset, "SCYX", select={"channel": "A", "z": 0})[0]
    height = len(GRID_ROWS) * STEP[0] + GRID_OVERLAP[0]
    width = len(GRID_COLUMNS) * STEP[1] + GRID_OVERLAP[1]
    whole = scene(height, width, seed=11)
    oy, ox = GRID_OVERLAP[0] // 2, GRID_OVERLAP[1] // 2
    plane = stack.extract_patch(0, None, (0, 0), STITCHED)[0]
    np.testing.assert_array_equal(plane, whole[oy : oy + STITCHED[0], ox : ox + STITCHED[1]])


def test_missing_tile_reads_as_zeros(grid_dataset: Path) -> None:
    stack = stackio.load(grid_dataset)[0]
    i = GRID_ROWS.index(GRID_MISSING["row"])
    j = GRID_COLUMNS.index(GRID_MISSING["column"])
    region = (slice(i * STEP[0], (i + 1) * STEP[0]), slice(j * STEP[1], (j + 1) * STEP[1]))
    data = stack.read_all()
    assert not data[0, 1, 1][region].any()
    assert data[0, 0, 1][region].any() and data[0, 1, 0][region].any()


def test_stitched_patches_across_tiles(grid_dataset: Path) -> None:
    stack = stackio.load(grid_dataset)[0]
    full = stack.read_all()[0]
    rng = np.random.default_rng(2)
    for _ in range(30):
        y, x = int(rng.integers(-5, STITCHED[0])), int(rng.integers(-5, STITCHED[1]))
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 60))
        patch = stack.extract_patch(0, None, (0, y, x), (2, h, w))
        want = np.zeros((2, 2, h, w), np.uint16)
        ys, xs = slice(max(y, 0), min(y + h, STITCHED[0])), slice(max(x, 0), min(x + w, STITCHED[1]))
        want[:, :, ys.start - y : ys.stop - y, xs.start - x : xs.stop - x] = full[:, :, ys, xs]
        np.testing.assert_array_equal(patch, want)


def test_stitched_patch_reads_only_the_tiles_it_touches(grid_dataset: Path) -> None:
    stack = stackio.load(grid_dataset, "SCYX", select={"channel": "A", "z": 0})[0]
    reader = stack._open()
    stack.extract_patch(0, None, (2, 2), (10, 10))  # inside the first tile
    assert reader.images_read == 1
    stack.extract_patch(0, None, (STEP[0] - 3, STEP[1] - 3), (6, 6))  # the corner of four tiles
    assert reader.images_read == 1 + 4
    stack.extract_patch(0, None, (0, 0), STITCHED)  # the whole plane: every tile once
    assert reader.images_read == 1 + 4 + len(GRID_ROWS) * len(GRID_COLUMNS)
    assert reader.files_opened == 1


def test_stitched_select_matches_ndstorage(grid_dataset: Path) -> None:
    stack = stackio.load(grid_dataset, select={"channel": "B", "z": 1})[0]
    assert stack.data_shape == (1, 1, *STITCHED)
    ref, names = reference_array(grid_dataset, stitched=True, channel="B", z=1)
    np.testing.assert_array_equal(stack.read_all(), arrange(ref, names, stack))


def test_tiles_as_samples_match_ndstorage(grid_dataset: Path) -> None:
    stack = stackio.load(grid_dataset, stitched=False)[0]
    assert stack.metadata.axis_names == ("row", "column", "channel", "z", "y", "x")
    assert stack.data_shape == (len(GRID_ROWS) * len(GRID_COLUMNS), 2, 2, *GRID_TILE)
    ref, names = reference_array(grid_dataset, stitched=False)
    np.testing.assert_array_equal(stack.read_all(), arrange(ref, names, stack))
    one = stackio.load(grid_dataset, stitched=False, select={"row": 2, "column": 4})[0]
    np.testing.assert_array_equal(one.read_all()[0], stack.read_all()[-1])


def test_flat_layout_stitches_like_the_pyramid_layout(grid_dataset: Path, flat_grid_dataset: Path) -> None:
    flat = stackio.load(flat_grid_dataset)[0]
    pyramid = stackio.load(grid_dataset)[0]
    np.testing.assert_array_equal(flat.read_all(), pyramid.read_all())


@pytest.mark.parametrize(("overlap", "first"), [((5, 3), (0, 0)), ((0, 0), (-3, 1)), ((1, 2), (-1, -2))])
def test_odd_overlaps_and_negative_rows_match_ndstorage(
    tmp_path: Path, overlap: tuple[int, int], first: tuple[int, int]
) -> None:
    whole = scene(50, 61, seed=4)
    root = tmp_path / "odd"
    summary = {"GridPixelOverlapY": overlap[0], "GridPixelOverlapX": overlap[1]}
    tiled = [({**k, "channel": 0}, t) for k, t in tiles(whole, 2, 3, overlap, first)]
    write_ndtiff(root / "Full resolution", tiled, summary)
    stack = stackio.load(root)[0]
    ref, names = reference_array(root, stitched=True)
    np.testing.assert_array_equal(stack.read_all(), arrange(ref, names, stack))


def test_level_matches_ndstorage_pyramid(grid_dataset: Path) -> None:
    stack = stackio.load(grid_dataset, level=1)[0]
    # the full-resolution extent at half size: rows 1-2, columns 2-4 of 24x28 tiles
    assert stack.data_shape == (1, 2, 2, STITCHED[0] // 2, STITCHED[1] // 2)
    assert stack.metadata.voxel_size == {"Y": 0.65, "X": 0.65}
    ref, names = reference_array(grid_dataset, stitched=True, level=1)
    np.testing.assert_array_equal(stack.read_all(), arrange(ref, names, stack))
    tiles_ = stackio.load(grid_dataset, level=1, stitched=False)[0]
    assert tiles_.data_shape == (4, 2, 2, *STEP)


def test_stitching_options_errors(grid_dataset: Path, tcz_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(stackio.ValidationError, match=r"tcz: stitched=True needs row and column axes"):
        stackio.load(tcz_dataset, stitched=True)
    with pytest.raises(stackio.ValidationError, match=r"grid: select\['row'\] picks tiles.*stitched=False"):
        stackio.load(grid_dataset, select={"row": 1})
    missing_level = r"grid: resolution level 3 does not exist.*0 \(Full resolution\), 1"
    with pytest.raises(stackio.ValidationError, match=missing_level):
        stackio.load(grid_dataset, level=3)
    with pytest.raises(stackio.ValidationError, match=r"tcz: resolution level 1 does not exist"):
        stackio.load(tcz_dataset, level=1)
    no_overlap = write_ndtiff(tmp_path / "nooverlap", grid_images()[:4], {})
    with pytest.raises(stackio.ValidationError, match=r"nooverlap: stitched=True needs the tile overlap"):
        stackio.load(no_overlap, stitched=True)
    assert stackio.load(no_overlap)[0].data_shape[0] == 2 * 3  # without an overlap: tiles as samples
    bad = write_ndtiff(tmp_path / "bigoverlap", grid_images()[:4], {**GRID_SUMMARY, "GridPixelOverlapX": 99})
    with pytest.raises(stackio.ReadError, match=r"bigoverlap: the tile overlap"):
        stackio.load(bad)


@pytest.mark.parametrize(
    ("dataset", "options"),
    [
        ("grid_dataset", {}),
        ("grid_dataset", {"stitched": False}),
        ("grid_dataset", {"level": 1}),
        ("grid_dataset", {"select": {"channel": "B"}}),
        ("tcz_dataset", {}),
        ("tcz_dataset", {"axes": "SCTYX"}),
        ("sparse_dataset", {}),
        ("positions_dataset", {}),
        ("rgb_dataset", {}),
    ],
)
def test_sparse_tables_read_what_dense_tables_read(
    dataset: str, options: dict, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stackio_ndtiff import planes

    path = request.getfixturevalue(dataset)
    options = dict(options)
    axes = options.pop("axes", None)
    dense = stackio.load(path, axes, **options)[0]
    assert not dense._open().plan.sparse
    monkeypatch.setattr(planes, "DENSE_TABLE_CELLS", 0)
    monkeypatch.setattr(planes, "DENSE_CELLS_PER_IMAGE", 0)
    sparse = stackio.load(path, axes, **options)[0]
    assert sparse._open().plan.sparse and isinstance(sparse._open().plan.table, dict)
    expected = dense.read_all()
    np.testing.assert_array_equal(sparse.read_all(), expected)
    rng = np.random.default_rng(5)
    spatial = dense.data_shape[2:]
    for _ in range(20):
        s = int(rng.integers(0, dense.data_shape[0]))
        start = [int(rng.integers(-3, n)) for n in spatial]
        size = [int(rng.integers(max(1, 1 - a), n + 4)) for a, n in zip(start, spatial, strict=True)]
        np.testing.assert_array_equal(
            sparse.extract_patch(s, None, start, size), dense.extract_patch(s, None, start, size)
        )


def test_tiles_far_apart_load_lazily_and_read_right(tmp_path: Path) -> None:
    """Two tiles 40,000 rows and columns apart: the table holds two cells, not 1.6e9."""
    first, last = scene(16, 16, seed=1), scene(16, 16, seed=2)
    far = 40_000
    folder = write_ndtiff(
        tmp_path / "far",
        [({"row": 0, "column": 0}, first), ({"row": far, "column": far}, last)],
        {"GridPixelOverlapY": 0, "GridPixelOverlapX": 0},
    )
    stackio.load(folder)  # modules imported, not measured
    tracemalloc.start()
    try:
        (stack,) = stackio.load(folder)
        reader = stack._open()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, peak
    assert reader.plan.sparse and len(reader.plan.table) == 2
    assert stack.data_shape == (1, 1, (far + 1) * 16, (far + 1) * 16)
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (20, 20))[0], np.pad(first, ((0, 4), (0, 4))))
    corner = far * 16 - 4
    np.testing.assert_array_equal(
        stack.extract_patch(0, None, (corner, corner), (24, 24))[0], np.pad(last, ((4, 4), (4, 4)))
    )
    assert not stack.extract_patch(0, None, (20_000 * 16, 8), (64, 64)).any()
    assert reader.images_read == 2
