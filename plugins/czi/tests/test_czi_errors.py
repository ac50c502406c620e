"""Bad input to the CZI plugin: each gives a stackio error naming the file and what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import stackio
from pylibCZIrw import czi as pyczi
from stackio import AxesError, ReadError, ValidationError


def _write(path: Path, tiles: list[tuple[np.ndarray, dict[str, int], int]], compression: str | None = None) -> Path:
    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        for array, plane, scene in tiles:
            writer.write(array, plane=plane, location=(10 * scene, 0), scene=scene, compression_options=compression)
    return path


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 scenes, Z=3, C=2, 40x40 uint16, zstd-compressed."""
    rng = np.random.default_rng(5)
    tiles = [
        (rng.integers(0, 60000, (40, 40), dtype=np.uint16), {"Z": z, "C": c}, s)
        for s in range(2)
        for z in range(3)
        for c in range(2)
    ]
    return _write(tmp_path_factory.mktemp("czi") / "good.czi", tiles, "zstd1:ExplicitLevel=1")


def test_truncated_file(good: Path, tmp_path: Path) -> None:
    cut = tmp_path / "truncated.czi"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    expected = r"truncated\.czi: pylibCZIrw cannot open it as CZI .*truncated or corrupt"
    with pytest.raises(ReadError, match=expected) as info:
        stackio.load(cut)
    assert isinstance(info.value.__cause__, RuntimeError)  # libCZI's own error, chained


def test_file_cut_after_the_header(good: Path, tmp_path: Path) -> None:
    cut = tmp_path / "header_only.czi"
    cut.write_bytes(good.read_bytes()[:600])
    with pytest.raises(ReadError, match=r"header_only\.czi"):
        stackio.load(cut)


def test_corrupt_subblock_fails_on_read(good: Path, tmp_path: Path) -> None:
    """The directory is intact but pixel data is garbage: the patch read raises ReadError."""
    bad = tmp_path / "corrupt.czi"
    shutil.copy(good, bad)
    data = bytearray(bad.read_bytes())
    data[2000 : len(data) // 2] = b"\xff" * (len(data) // 2 - 2000)
    bad.write_bytes(bytes(data))
    stacks = stackio.load(bad)
    with pytest.raises(ReadError, match=r"corrupt\.czi@0: reading sample 0"):
        for z in range(3):
            stacks[0].extract_patch(0, None, (z, 0, 0), (1, 40, 40))


@pytest.mark.parametrize("content", [b"", b"hello, not a CZI at all\n" * 40, b"II*\x00" + b"\x00" * 600])
def test_not_a_czi_named_czi(tmp_path: Path, content: bytes) -> None:
    fake = tmp_path / "fake.czi"
    fake.write_bytes(content)
    expected = r"fake\.czi: (not a CZI file: it does not start with the CZI magic|the file is empty)"
    with pytest.raises(ReadError, match=expected):
        stackio.load(fake)


@pytest.mark.parametrize("axes", ["SCZTYX", "YX", "ZYX", "CZYX", "SZYX", "TZYX"])
def test_axes_other_than_the_three_layouts(good: Path, axes: str) -> None:
    with pytest.raises(AxesError, match=r"cannot describe a CZI stack; pass one of SCYX, SCZYX, SCTYX"):
        stackio.load(good, axes)


def test_depth_axis_the_file_lacks(good: Path) -> None:
    with pytest.raises(AxesError, match=r"axes 'SCTYX' need a T dimension of size > 1 .* use SCYX, or SCZYX"):
        stackio.load(good, "SCTYX")


def test_scene_given_twice(good: Path) -> None:
    with pytest.raises(ValidationError, match=r"scene is given twice, as '@1' in the path and as scene=0"):
        stackio.load(f"{good}@1", scene=0)


@pytest.mark.parametrize("source_suffix, options", [("@5", {}), ("", {"scene": 2})])
def test_scene_the_file_lacks(good: Path, source_suffix: str, options: dict[str, int]) -> None:
    with pytest.raises(ValidationError, match=r"good\.czi: scene \d does not exist; the file has scene\(s\) 0, 1"):
        stackio.load(f"{good}{source_suffix}", **options)


@pytest.mark.parametrize("scene", [-1, "1", 1.0, True])
def test_scene_must_be_an_index(good: Path, scene: object) -> None:
    with pytest.raises(ValidationError, match=r"scene must be a non-negative int"):
        stackio.load(good, scene=scene)


def test_background_must_be_a_number(good: Path) -> None:
    with pytest.raises(ValidationError, match=r"background must be a number"):
        stackio.load(good, background="white")


@pytest.mark.parametrize("cache_mb", [-1, "big", True, float("nan")])
def test_cache_size_must_be_a_non_negative_number(good: Path, cache_mb: object) -> None:
    with pytest.raises(ValidationError, match=r"cache_mb must be a number >= 0"):
        stackio.load(good, cache_mb=cache_mb)


def test_unknown_option(good: Path) -> None:
    expected = r"does not take the option\(s\) series; it accepts: scene, background, cache_mb"
    with pytest.raises(ValidationError, match=expected):
        stackio.load(good, series=1)


def test_patch_outside_the_scene(good: Path) -> None:
    stack = stackio.load(good, scene=1)[0]
    with pytest.raises(stackio.PatchBoundsError):
        stack.extract_patch(0, None, (0, 40, 0), (1, 4, 4))
    with pytest.raises(stackio.PatchBoundsError):
        stack.extract_patch(1, None, (0, 0, 0), (1, 4, 4))


def test_float_rgb_cannot_be_composed(tmp_path: Path) -> None:
    path = tmp_path / "bgr96.czi"
    with pyczi.create_czi(str(path)) as writer:
        writer.write(np.ones((5, 6, 3), np.float32))
    with pyczi.open_czi(str(path)) as reader:
        with pytest.raises(RuntimeError):  # pylibCZIrw itself cannot read it
            reader.read()
    with pytest.raises(ReadError, match=r"bgr96\.czi: pixel type Bgr96Float cannot be read"):
        stackio.load(path)


def test_channels_whose_types_libczi_converts_lossily(tmp_path: Path) -> None:
    path = tmp_path / "mixed.czi"
    with pyczi.create_czi(str(path)) as writer:
        writer.write(np.ones((5, 6, 3), np.uint8), plane={"C": 0})
        writer.write(np.ones((5, 6), np.uint16), plane={"C": 1})
    with pytest.raises(ReadError, match=r"cannot convert Bgr24 to Bgr48 without changing values"):
        stackio.load(path)
