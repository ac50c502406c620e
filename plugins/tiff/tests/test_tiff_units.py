"""ImageJ calibration units as ImageJ, Fiji and scripts write them all read as one long name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stackio
import tifffile
from tiff_helpers import same_as_tifffile


def _imagej(path: Path, unit: str) -> Path:
    tifffile.imwrite(
        path,
        np.arange(2 * 6 * 7, dtype=np.uint16).reshape(2, 6, 7),
        imagej=True,
        resolution=(4.0, 4.0),
        metadata={"axes": "ZYX", "unit": unit, "spacing": 0.5},
    )
    return path


@pytest.mark.parametrize("unit", ["\\xb5m", "\\u00B5m", "\\u03bcm", "micron", "microns", "um"])
def test_imagej_micrometre_spellings_normalise(tmp_path: Path, unit: str) -> None:
    path = _imagej(tmp_path / "z.tif", unit)
    with tifffile.TiffFile(path) as tif:
        assert tif.imagej_metadata["unit"] == unit  # the file holds the spelling as written
    (stack,) = stackio.load(path)
    assert stack.metadata.units == {"X": "micrometer", "Y": "micrometer", "Z": "micrometer"}
    assert stack.metadata.voxel_size == pytest.approx({"X": 0.25, "Y": 0.25, "Z": 0.5})
    same_as_tifffile(stack, path, "ZYX")


@pytest.mark.parametrize(("raw", "unit"), [(b"\xc2\xb5m", "micrometer"), (b"\xce\xbcm", "micrometer")])
def test_imagej_micro_sign_and_greek_mu_bytes(tmp_path: Path, raw: bytes, unit: str) -> None:
    """ImageJ writes the description in UTF-8; tifffile refuses to write non-ASCII, so the bytes are set after."""
    path = _imagej(tmp_path / "z.tif", "QQm")
    data = path.read_bytes()
    assert data.count(b"unit=QQm") == 1
    path.write_bytes(data.replace(b"unit=QQm", b"unit=" + raw))
    (stack,) = stackio.load(path)
    assert stack.metadata.units == {"X": unit, "Y": unit, "Z": unit}


@pytest.mark.parametrize(("unit", "name"), [("nm", "nanometer"), ("mm", "millimeter"), ("cm", "centimeter")])
def test_imagej_other_lengths(tmp_path: Path, unit: str, name: str) -> None:
    (stack,) = stackio.load(_imagej(tmp_path / "z.tif", unit))
    assert stack.metadata.units == {"X": name, "Y": name, "Z": name}


@pytest.mark.parametrize("unit", ["pixel", "none"])
def test_imagej_uncalibrated_declares_no_size(tmp_path: Path, unit: str) -> None:
    (stack,) = stackio.load(_imagej(tmp_path / "z.tif", unit))
    assert stack.metadata.voxel_size is None and stack.metadata.units is None
