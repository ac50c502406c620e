"""Unit names: the spellings formats write ('µm', 'micron', '\\u00B5m', 'um'), normalised to one long name.

stackio metadata spells units as UDUNITS-2 / NGFF long names ('micrometer', 'second'). Every plugin
reads a file's unit through `unit_name`, and writes one through `symbol` when a format wants OME's
symbols, so a unit means the same whatever file it came from.
"""

from __future__ import annotations

import re

#: Each long name, then the OME symbol (what `symbol` writes), then other spellings seen in files:
#: ImageJ ('micron', 'um', '\\u00B5m', 'pixel'), Bio-Formats / OME ('µm' with U+00B5 or U+03BC, 'Å'),
#: Micro-Manager ('um'), NGFF (long names), and plurals or British spellings people type.
_SPELLINGS: dict[str, tuple[str, ...]] = {
    "meter": ("m", "metre", "meters", "metres"),
    "centimeter": ("cm", "centimetre", "centimeters", "centimetres"),
    "millimeter": ("mm", "millimetre", "millimeters", "millimetres"),
    "micrometer": ("µm", "μm", "um", "micron", "microns", "micrometre", "micrometers", "micrometres"),
    "nanometer": ("nm", "nanometre", "nanometers", "nanometres"),
    "picometer": ("pm", "picometre", "picometers", "picometres"),
    "angstrom": ("\u00c5", "\u212b", "a", "angstroms", "\u00e5ngstr\u00f6m"),
    "inch": ("in", "inches"),
    "second": ("s", "sec", "secs", "seconds"),
    "millisecond": ("ms", "msec", "milliseconds"),
    "microsecond": ("µs", "μs", "us", "microseconds"),
    "nanosecond": ("ns", "nanoseconds"),
    "minute": ("min", "mins", "minutes"),
    "hour": ("h", "hr", "hrs", "hours"),
    "day": ("d", "days"),
    #: ImageJ's and OME's word for "not calibrated": a size in pixels says nothing physical.
    "pixel": ("pixel", "pixels", "px", "none", ""),
}

#: Seconds per unit, for the time units above.
SECONDS = {
    "second": 1.0,
    "millisecond": 1e-3,
    "microsecond": 1e-6,
    "nanosecond": 1e-9,
    "minute": 60.0,
    "hour": 3600.0,
    "day": 86400.0,
}

_NAMES = {spelling: name for name, spellings in _SPELLINGS.items() for spelling in (name, *spellings)}
#: Words match in any case; symbols only as written ('Mm' is not 'mm').
_FOLDED = {spelling.casefold(): name for spelling, name in _NAMES.items() if len(spelling) > 2}
#: Python and Java escapes as ImageJ metadata holds them when written through ASCII ('\xb5m', '\u00B5m').
_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))")
#: UTF-8 read as Latin-1 ('Âµm' for 'µm'), as a description decoded with the wrong code page gives.
_MOJIBAKE = {"Âµ": "µ", "Î¼": "μ", "Ã…": "Å"}


def _unescape(text: str) -> str:
    def char(match: re.Match[str]) -> str:
        code = int(next(g for g in match.groups() if g is not None), 16)
        return chr(code) if code < 0x110000 else match.group(0)

    text = _ESCAPE.sub(char, text)
    for wrong, right in _MOJIBAKE.items():
        text = text.replace(wrong, right)
    return text


def unit_name(unit: str | None) -> str | None:
    """The long name of a unit as a file spells it ('\\xb5m', 'µm', 'micron' -> 'micrometer').

    'pixel', 'none' and '' (not calibrated) give 'pixel'; None gives None; a unit not in the table
    is returned as written (stripped, escapes decoded), so nothing a file says is lost.
    """
    if unit is None:
        return None
    text = _unescape(str(unit)).strip()
    return _NAMES.get(text) or _FOLDED.get(text.casefold()) or text


def calibrated(unit: str | None) -> bool:
    """Whether a unit says something physical (not None, 'pixel', 'none' or empty)."""
    return unit is not None and unit_name(unit) != "pixel"


def symbol(name: str) -> str:
    """The OME symbol of a long name ('micrometer' -> 'µm'); other names are returned as given."""
    spellings = _SPELLINGS.get(name)
    return spellings[0] if spellings and name != "pixel" else name


def seconds_per(unit: str | None) -> float | None:
    """Seconds in one `unit` ('ms' -> 0.001), or None when it is not a time unit."""
    return SECONDS.get(unit_name(unit) or "")
