"""Conformance over the real ZEN / pylibCZIrw files in ../shared/realdata (skipped when absent).

The reference is pylibCZIrw's own `read` of the same plane, scene and region; the sample order is
rebuilt here from pylibCZIrw's dimension sizes (T, Z, R, I, H, V, B outer to inner, depth left out).
"""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
from pylibCZIrw import czi as pyczi
from stackio.testing import RealFile, realdata_params

pytestmark = pytest.mark.realdata

_PARAMS = realdata_params("czi", Path(__file__).resolve())
_ENTRIES = [p.values[0] for p in _PARAMS if p.values[0] is not None]


def _params() -> list[Any]:
    return _PARAMS


def _described(entry: RealFile) -> tuple[dict[str, int], int, tuple[int, int]]:
    """dims, scene count and the first plane's (h, w), as the MANIFEST says pylibCZIrw reads them."""
    dims = ast.literal_eval(re.search(r"dims=(\{[^}]*\})", entry.description)[1])
    scenes = int(re.search(r"scenes=(\d+)", entry.description)[1])
    h, w = (int(n) for n in re.search(r"->\((\d+), (\d+), 1\)", entry.description).groups())
    return dims, scenes, (h, w)


def _reference(path: Path, scene: int | None, axes: str) -> np.ndarray:
    """The stack pylibCZIrw reads, as S C (D) Y X, one `read` per plane."""
    with pyczi.open_czi(str(path)) as reader:
        box = reader.total_bounding_box_no_pyramid
        rect = (
            reader.scenes_bounding_rectangle_no_pyramid[scene]
            if scene is not None
            else reader.total_bounding_rectangle_no_pyramid
        )
        depth = {"SCZYX": "Z", "SCTYX": "T"}.get(axes)
        sample_dims = [d for d in "TZRIHVB" if d in box and d != depth]
        depth_size = box[depth][1] if depth else 1
        samples = []
        for combo in itertools.product(*(range(box[d][1]) for d in sample_dims)):
            plane = dict(zip(sample_dims, combo, strict=True))
            channels = []
            for c in range(box["C"][1]):
                planes = []
                for k in range(depth_size):
                    if depth:
                        plane[depth] = k
                    tile = reader.read(roi=rect, plane={**plane, "C": c}, scene=scene)
                    planes.append(tile[..., ::-1].transpose(2, 0, 1))  # (B,G,R) -> R,G,B; gray: 1
                channels.append(np.stack(planes, axis=1))  # k, D, Y, X
            samples.append(np.concatenate(channels, axis=0))
        out = np.stack(samples)
        return out if depth else out[:, :, 0]


def _full(stack: Any) -> np.ndarray:
    spatial = stack.data_shape[2:]
    return np.stack([stack.extract_patch(s, None, (0,) * len(spatial), spatial) for s in range(stack.data_shape[0])])


def _scene_of(stack: Any) -> int | None:
    return int(stack.source.rsplit("@", 1)[1]) if "@" in Path(stack.source).name else None


@pytest.mark.parametrize("entry", _params())
def test_real_czi_pixels_equal_pylibczirw(
    stackio_realdata: Path, entry: RealFile, capfd: pytest.CaptureFixture[str]
) -> None:
    dims, n_scenes, first_plane = _described(entry)
    stacks = stackio.load(entry.path)
    assert len(stacks) == max(n_scenes, 1)
    assert stacks[0].data_shape[-2:] == first_plane
    has_z, has_t = dims.get("Z", 1) > 1, dims.get("T", 1) > 1
    for stack in stacks:
        assert stack.axes == ("SCZYX" if has_z else "SCYX")
        shape = dict(zip(stack.original_axes, stack.original_data_shape, strict=True))
        for letter, size in dims.items():  # every dimension the file has, with pylibCZIrw's size
            if letter not in "XY" and size > 1:
                assert shape[letter] == size, (letter, shape)
        assert np.prod(stack.data_shape[:1] + stack.data_shape[2:-2]) == np.prod(
            [n for d, n in dims.items() if d not in "CXY"]
        )
    axes_to_try = [None] + (["SCYX"] if has_z else []) + (["SCTYX"] if has_t else [])
    for axes in axes_to_try:
        for stack in stackio.load(entry.path, axes):
            ref = _reference(entry.path, _scene_of(stack), stack.axes)
            got = _full(stack)
            assert got.dtype == ref.dtype and got.shape == ref.shape
            np.testing.assert_array_equal(got, ref)
            stack.close()
    assert capfd.readouterr().out == ""


@pytest.mark.parametrize("entry", _params())
def test_real_czi_patches_are_roi_reads(stackio_realdata: Path, entry: RealFile) -> None:
    """Patches at offsets (some over the edge) equal pylibCZIrw's read of that region of the scene."""
    rng = np.random.default_rng(0)
    for stack in stackio.load(entry.path, "SCYX"):
        scene = _scene_of(stack)
        n_s, n_c, h, w = stack.data_shape
        with pyczi.open_czi(str(entry.path)) as reader:
            rect = (
                reader.scenes_bounding_rectangle_no_pyramid[scene]
                if scene is not None
                else reader.total_bounding_rectangle_no_pyramid
            )
            box = reader.total_bounding_box_no_pyramid
            sample_dims = [d for d in "TZRIHVB" if d in box]
            for _ in range(4):
                s = int(rng.integers(0, n_s))
                size = (int(rng.integers(1, min(h, 96) + 1)), int(rng.integers(1, min(w, 96) + 1)))
                y, x = int(rng.integers(-size[0] // 2, h)), int(rng.integers(-size[1] // 2, w))
                patch = stack.extract_patch(s, None, (y, x), size)
                plane = dict(zip(sample_dims, np.unravel_index(s, [box[d][1] for d in sample_dims]), strict=True))
                y0, y1, x0, x1 = max(y, 0), min(y + size[0], h), max(x, 0), min(x + size[1], w)
                expected = np.zeros((n_c, *size), stack.data_dtype)
                per = n_c // box["C"][1]
                for c in range(box["C"][1]):
                    tile = reader.read(
                        roi=(rect.x + x0, rect.y + y0, x1 - x0, y1 - y0),
                        plane={**{k: int(v) for k, v in plane.items()}, "C": c},
                        scene=scene,
                    )
                    expected[c * per : (c + 1) * per, y0 - y : y1 - y, x0 - x : x1 - x] = tile[..., ::-1].transpose(
                        2, 0, 1
                    )
                np.testing.assert_array_equal(patch, expected)


@pytest.mark.parametrize("entry", _params())
def test_real_czi_metadata_is_what_the_file_declares(stackio_realdata: Path, entry: RealFile) -> None:
    stack = stackio.load(entry.path)[0]
    with pyczi.open_czi(str(entry.path)) as reader:
        raw = reader.raw_metadata
        doc = reader.metadata["ImageDocument"]["Metadata"]
    distances = (doc.get("Scaling") or {}).get("Items", {}).get("Distance", [])
    distances = distances if isinstance(distances, list) else [distances]
    declared = {d["@Id"]: float(d["Value"]) * 1e6 for d in distances if float(d.get("Value") or 0) > 0}
    expected = {a: declared[a] for a in stack.axes[2:] if a in declared}
    assert (stack.metadata.voxel_size or {}) == pytest.approx(expected)
    assert stack.metadata.units == ({a: "micrometer" for a in expected} or None)
    names = stack.metadata.channel_names
    if names is not None:
        assert len(names) == stack.data_shape[1]
        assert all(n in raw for n in names)
    assert stack.metadata.raw() == raw
    assert stack.metadata.axis_names == tuple(stack.original_axes)


def test_real_czi_known_layouts(stackio_realdata: Path) -> None:
    """Spot checks of files whose structure the MANIFEST spells out."""
    root = stackio_realdata / "czi"
    mosaic = stackio.load(root / "S3_1Pos_2Mosaic_T1_Z1_CH1_zstd.czi")
    assert [s.data_shape for s in mosaic] == [(1, 1, 122, 295), (1, 1, 64, 64), (1, 1, 237, 352)]
    assert mosaic[0].original_axes == "TZHCYX"
    (origin,) = stackio.load(root / "1_tileregion_offset_origin.czi")
    assert origin.data_shape == (1, 1, 570, 1480) and origin.source.endswith("@0")
    (division,) = stackio.load(root / "CellDivision_T3_Z5_CH2_X240_Y170.czi", "SCTYX")
    assert division.original_axes == "ZBCTYX" and division.data_shape == (5, 2, 3, 170, 240)
    assert division.metadata.channel_names == ("LED555", "LED470")
    assert division.metadata.voxel_size == pytest.approx({"Y": 0.090576674152210312, "X": 0.090576674152210312})
    (dapi_gfp,) = stackio.load(root / "DAPI_GFP.czi")
    assert dapi_gfp.metadata.channel_names == ("DAPI", "GFP")  # from DisplaySetting: Information has no names
    assert dapi_gfp.metadata.voxel_size is None
    with pytest.raises(stackio.ValidationError, match=r"scene 3 does not exist; the file has scene\(s\) 0, 1, 2"):
        stackio.load(f"{root / 'S3_1Pos_2Mosaic_T1_Z1_CH1_zstd.czi'}@3")
    with pytest.raises(stackio.ValidationError, match=r"the file has no scenes"):
        stackio.load(root / "DAPI_GFP.czi", scene=0)
