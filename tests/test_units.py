"""One unit table for every plugin: the spellings files use, normalised to long names."""

from __future__ import annotations

import pytest
from stackio.units import calibrated, seconds_per, symbol, unit_name


@pytest.mark.parametrize(
    ("written", "name"),
    [
        ("\\xb5m", "micrometer"),  # Python escape, as 'µm'.encode('unicode_escape') gives
        ("\\u00B5m", "micrometer"),  # ImageJ's Java escape
        ("\\u00b5m", "micrometer"),
        ("\\u03bcm", "micrometer"),  # Greek mu, escaped
        ("\u00b5m", "micrometer"),  # micro sign
        ("\u03bcm", "micrometer"),  # Greek small mu (what Bio-Formats' OME symbol normalises to)
        ("\u00c2\u00b5m", "micrometer"),  # UTF-8 read as Latin-1
        ("um", "micrometer"),
        ("micron", "micrometer"),
        ("microns", "micrometer"),
        ("Micron", "micrometer"),
        ("micrometre", "micrometer"),
        (" micrometer ", "micrometer"),
        ("nm", "nanometer"),
        ("mm", "millimeter"),
        ("cm", "centimeter"),
        ("m", "meter"),
        ("\u00c5", "angstrom"),
        ("\\u00C5", "angstrom"),
        ("pm", "picometer"),
        ("in", "inch"),
        ("sec", "second"),
        ("s", "second"),
        ("msec", "millisecond"),
        ("\\xb5s", "microsecond"),
        ("min", "minute"),
        ("h", "hour"),
        ("pixel", "pixel"),
        ("pixels", "pixel"),
        ("none", "pixel"),
        ("", "pixel"),
    ],
)
def test_spellings_normalise_to_one_long_name(written: str, name: str) -> None:
    assert unit_name(written) == name


def test_symbols_are_not_folded_and_unknown_units_are_kept() -> None:
    assert unit_name("Mm") == "Mm"  # megametre, not millimetre
    assert unit_name("parsec-ish") == "parsec-ish"
    assert unit_name(None) is None


def test_calibration_symbols_and_seconds() -> None:
    assert not calibrated("pixel") and not calibrated("none") and not calibrated(None) and calibrated("\\xb5m")
    assert symbol("micrometer") == "\u00b5m" and symbol("second") == "s" and symbol("parsec") == "parsec"
    assert seconds_per("msec") == pytest.approx(1e-3) and seconds_per("\\xb5s") == pytest.approx(1e-6)
    assert seconds_per("micrometer") is None
