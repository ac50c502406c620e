"""NDTiff datasets written with ndstorage's own writer, and ndstorage's reading of them as the reference."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from stackio_ndtiff.samples import scene, tiles, write_ndtiff

TCZ_CHANNELS = ("DAPI", "GFP")
GRID_OVERLAP = (6, 4)  # y, x
GRID_TILE = (30, 32)  # height, width of a full-resolution tile
GRID_ROWS = (1, 2)  # rows and columns need not start at 0
GRID_COLUMNS = (2, 3, 4)
GRID_MISSING = {"row": 2, "column": 3, "channel": "B", "z": 1}


def quiet(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Call an ndstorage function with its progress text kept off stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args, **kwargs)


def open_reference(path: Path) -> Any:
    import ndstorage

    return quiet(ndstorage.Dataset, str(path))


def close_reference(dataset: Any) -> None:
    # NDTiffPyramidDataset.close() iterates the level numbers, not the levels (ndstorage 0.1.18)
    for level in getattr(dataset, "res_levels", {0: dataset}).values():
        quiet(level.close)


def reference_array(
    path: Path, *, stitched: bool, level: int | None = None, **select: Any
) -> tuple[np.ndarray, list[str]]:
    """ndstorage's `as_array` as numpy, and the names of its axes (without y, x)."""
    dataset = open_reference(path)
    pyramid = type(dataset).__name__ == "NDTiffPyramidDataset"
    if pyramid:
        axes = dataset.axes
        if level is None or level == 0:
            array = quiet(dataset.as_array, stitched=stitched, res_level=0, **select)
        else:
            array = quiet(dataset.as_array, stitched=stitched, **select)[level]
    else:
        axes = dataset.axes
        array = quiet(dataset.as_array, stitched=stitched, **select)
    names = [a for a in axes if a not in select and not (stitched and a in ("row", "column"))]
    out = np.asarray(quiet(np.asarray, array))
    if out.ndim == len(names) + 3:  # RGB: the last axis holds R, G, B
        names = [*names, "rgb"]
        out = np.moveaxis(out, -1, len(names) - 1)
    close_reference(dataset)
    return out, names


def arrange(reference: np.ndarray, names: Sequence[str], stack: Any) -> np.ndarray:
    """Put ndstorage's array into the stack's SC(Z)YX order, using the axis names the stack declares."""
    wanted = list(stack.metadata.axis_names[:-2])
    array, have = reference, list(names)
    if "rgb" in have:  # R, G, B inside each channel
        if "channel" in have:
            array = np.moveaxis(array, [have.index("channel"), have.index("rgb")], [0, 1])
            rest = [a for a in have if a not in ("channel", "rgb")]
            array = array.reshape(-1, *array.shape[2:])
            array = np.moveaxis(array, 0, len(rest))
            have = [*rest, "channel"]
        else:
            have = ["channel" if a == "rgb" else a for a in have]
    for axis in wanted:
        if axis not in have:
            array = array[..., np.newaxis, :, :]
            have.append(axis)
    assert sorted(have) == sorted(wanted), (have, wanted)
    array = array.transpose([have.index(a) for a in wanted] + [len(have), len(have) + 1])
    return np.asarray(stack.layout.to_stack_order(array))


def whole(stack: Any) -> np.ndarray:
    return stack.read_all()


def patches_match(stack: Any, expected: np.ndarray, rng: np.random.Generator, count: int = 12) -> None:
    """Random patches (some reaching past the edges) equal the same region of `expected` (SC(Z)YX)."""
    spatial = expected.shape[2:]
    for _ in range(count):
        s = int(rng.integers(0, expected.shape[0]))
        size = [int(rng.integers(1, n + 3)) for n in spatial]
        start = [int(rng.integers(-sz + 1, n)) for sz, n in zip(size, spatial, strict=True)]
        channels = None if rng.random() < 0.5 else sorted({int(c) for c in rng.integers(0, expected.shape[1], 2)})
        patch = stack.extract_patch(s, channels, start, size)
        want = np.zeros((expected.shape[1] if channels is None else len(channels), *size), expected.dtype)
        src = tuple(slice(max(a, 0), min(a + b, n)) for a, b, n in zip(start, size, spatial, strict=True))
        dst = tuple(slice(r.start - a, r.stop - a) for r, a in zip(src, start, strict=True))
        block = expected[s][(slice(None), *src)]
        want[(slice(None), *dst)] = block if channels is None else block[channels]
        assert patch.dtype == expected.dtype
        np.testing.assert_array_equal(patch, want)


@pytest.fixture(scope="session")
def tcz_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """time 3 x channel (names) x z 4, uint16, with pixel size, z step and interval."""
    folder = tmp_path_factory.mktemp("ndtiff") / "tcz"
    images = [
        ({"time": t, "channel": ch, "z": z}, scene(24, 20, seed=100 * t + 10 * c + z))
        for t in range(3)
        for c, ch in enumerate(TCZ_CHANNELS)
        for z in range(4)
    ]
    return write_ndtiff(folder, images, {"PixelSize_um": 0.5, "z-step_um": 2.0, "Interval_ms": 250})


@pytest.fixture(scope="session")
def positions_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """position 3 x time 2 x integer channel 2 (names in ChNames) x a user axis 'angle', uint8."""
    folder = tmp_path_factory.mktemp("ndtiff") / "positions"
    rng = np.random.default_rng(1)
    images = [
        ({"position": p, "time": t, "channel": c, "angle": a}, rng.integers(0, 255, (16, 18), dtype=np.uint8))
        for p in range(3)
        for t in range(2)
        for c in range(2)
        for a in (0, 90)
    ]
    return write_ndtiff(folder, images, {"PixelSize_um": 1.25, "ChNames": ["BF", "GFP"]})


@pytest.fixture(scope="session")
def sparse_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """time 3 x z 3 where two images were never acquired."""
    folder = tmp_path_factory.mktemp("ndtiff") / "sparse"
    missing = {(0, 2), (2, 0)}
    images = [
        ({"time": t, "z": z}, scene(12, 14, seed=t * 3 + z))
        for t in range(3)
        for z in range(3)
        if (t, z) not in missing
    ]
    return write_ndtiff(folder, images, {})


def grid_images() -> list[tuple[dict[str, Any], np.ndarray]]:
    rows, columns = len(GRID_ROWS), len(GRID_COLUMNS)
    height = rows * (GRID_TILE[0] - GRID_OVERLAP[0]) + GRID_OVERLAP[0]
    width = columns * (GRID_TILE[1] - GRID_OVERLAP[1]) + GRID_OVERLAP[1]
    images = []
    for c, channel in enumerate("AB"):
        for z in range(2):
            whole = scene(height, width, seed=11 + 2 * c + z)
            for key, tile in tiles(whole, rows, columns, GRID_OVERLAP, (GRID_ROWS[0], GRID_COLUMNS[0])):
                coords = {**key, "channel": channel, "z": z}
                if coords != GRID_MISSING:
                    images.append((coords, tile))
    return images


GRID_SUMMARY = {
    "PixelSize_um": 0.325,
    "GridPixelOverlapY": GRID_OVERLAP[0],
    "GridPixelOverlapX": GRID_OVERLAP[1],
    "Height": GRID_TILE[0],
    "Width": GRID_TILE[1],
}


@pytest.fixture(scope="session")
def grid_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pyramid layout: 'Full resolution' (rows 1-2 x columns 2-4, overlap 6/4 px, channel A/B,
    z 2, one tile missing) and 'Downsampled_x2' (tiles of the full-resolution tile shape)."""
    root = tmp_path_factory.mktemp("ndtiff") / "grid"
    write_ndtiff(root / "Full resolution", grid_images(), GRID_SUMMARY)
    step = (GRID_TILE[0] - GRID_OVERLAP[0], GRID_TILE[1] - GRID_OVERLAP[1])
    rng = np.random.default_rng(5)
    low = [
        ({"row": r, "column": c, "channel": ch, "z": z}, rng.integers(0, 4000, step, dtype=np.uint16))
        for r in (0, 1)
        for c in (1, 2)
        for ch in "AB"
        for z in range(2)
    ]
    write_ndtiff(root / "Downsampled_x2", low, GRID_SUMMARY)
    return root


@pytest.fixture(scope="session")
def flat_grid_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiles as `grid_dataset`'s full resolution, written flat (no 'Full resolution' folder)."""
    return write_ndtiff(tmp_path_factory.mktemp("ndtiff") / "flatgrid", grid_images(), GRID_SUMMARY)


def rewrite_index(folder: Path, change: Any) -> None:
    """Re-serialise every index entry with ndstorage's own index code after `change(entry)`."""
    from ndstorage.ndtiff_index import NDTiffIndexEntry

    data = (folder / "NDTiff.index").read_bytes()
    out, position = b"", 0
    while position < len(data):
        position, axes, entry = NDTiffIndexEntry.unpack_single_index_entry(data, position)
        entry.axes_key = axes.items()
        change(entry)
        out += entry.as_byte_buffer().getvalue()
    (folder / "NDTiff.index").write_bytes(out)


@pytest.fixture(scope="session")
def rgb_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 8-bit RGB dataset (time 2 x channel 2). ndstorage's Python writer cannot write RGB, so the
    R, G, B bytes are written as a 3x wider 8-bit image and the index entries then marked RGB."""
    folder = tmp_path_factory.mktemp("ndtiff") / "rgb"
    rng = np.random.default_rng(3)
    images = [
        ({"time": t, "channel": ch}, rng.integers(0, 255, (10, 3 * 12), dtype=np.uint8))
        for t in range(2)
        for ch in ("left", "right")
    ]
    write_ndtiff(folder, images, {"PixelSize_um": 2.0})

    from ndstorage.ndtiff_index import NDTiffIndexEntry

    def to_rgb(entry: Any) -> None:
        entry.pixel_type = NDTiffIndexEntry.EIGHT_BIT_RGB
        entry.image_width //= 3

    rewrite_index(folder, to_rgb)
    return folder
