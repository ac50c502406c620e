"""CZI pixel types: which ones stackio reads, as which dtype, and the one type a file's channels are read as."""

from __future__ import annotations

from collections.abc import Sequence

from stackio import ReadError

#: Gray pixel types and the dtype they read as.
GRAY = {"Gray8": "uint8", "Gray16": "uint16", "Gray32Float": "float32"}
#: Colour pixel types (stored B, G, R) and the dtype of each of their 3 channels.
RGB = {"Bgr24": "uint8", "Bgr48": "uint16"}
#: Pixel types pylibCZIrw cannot return as themselves, and what libCZI converts them to.
CONVERTED = {"Bgra32": "Bgr24"}
#: Pixel types pylibCZIrw finds but cannot compose, and why.
UNREADABLE = {
    "Bgr96Float": "libCZI's tile composition does not implement it (\"this pixeltype isn't implemented yet\")",
}
#: Conversions libCZI makes without changing values, used for files whose channels differ in type.
LOSSLESS = frozenset(
    {
        ("Gray8", "Gray16"),
        ("Gray8", "Gray32Float"),
        ("Gray16", "Gray32Float"),
        ("Gray8", "Bgr24"),
        ("Gray8", "Bgr48"),
        ("Gray16", "Bgr48"),
    }
)
_BITS = {"uint8": 0, "uint16": 1, "float32": 2}
_GRAY_BY_BITS = {_BITS[v]: k for k, v in GRAY.items()}
_RGB_BY_BITS = {_BITS[v]: k for k, v in RGB.items()}


def read_pixel_type(pixel_types: Sequence[str], path: str) -> tuple[str, bool]:
    """The one pylibCZIrw pixel type all channels are read as, and whether it is RGB.

    Channels of mixed types are read as the widest type present (colour if any channel is
    colour), but only where libCZI's conversion keeps the values (see `LOSSLESS`).
    """
    present = [p for p in pixel_types if p != "Invalid"]
    if not present:
        raise ReadError(f"{path}: no channel has a valid pixel type; the file may be corrupt", source=path)
    unreadable = sorted({p for p in present if p in UNREADABLE})
    if unreadable:
        raise ReadError(
            f"{path}: pixel type {', '.join(unreadable)} cannot be read: {UNREADABLE[unreadable[0]]}",
            source=path,
        )
    known = [CONVERTED.get(p, p) for p in present]
    unknown = sorted({p for p in known if p not in GRAY and p not in RGB})
    if unknown:
        raise ReadError(
            f"{path}: pixel type {', '.join(unknown)} is not supported; this plugin reads "
            f"{', '.join([*GRAY, *RGB, *CONVERTED])}",
            source=path,
        )
    bits = max(_BITS[GRAY.get(p) or RGB[p]] for p in known)
    rgb = any(p in RGB for p in known)
    target = (_RGB_BY_BITS if rgb else _GRAY_BY_BITS).get(bits)
    lossy = sorted({p for p in known if p != target and (p, target) not in LOSSLESS})
    if target is None:  # colour with float channels: no RGB float type libCZI composes
        lossy = sorted(set(known))
    if lossy:
        raise ReadError(
            f"{path}: its channels have pixel types {', '.join(sorted(set(pixel_types)))}, and libCZI "
            f"cannot convert {', '.join(lossy)} to {target or 'one colour type'} without changing "
            "values; such files are not supported (convert the channels to one pixel type in ZEN)",
            source=path,
        )
    assert target is not None  # without one, every channel type is lossy
    return target, rgb
