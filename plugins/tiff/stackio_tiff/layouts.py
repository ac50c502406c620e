"""From tifffile's axis letters and the user's axes to a stackio `Layout`.

tifffile names a series' dimensions with its own letters: T, C, Z, Y, X mean
what they mean in stackio; S is samples per pixel (RGB), which stackio calls
C; I and Q are pages of unknown meaning; other letters (R position, E lambda,
H, A, P, ...) are extra dimensions a file declares and are merged into S.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackio import AxesError, Layout, normalize_axes

#: tifffile letters that carry no meaning: the user must name them.
UNKNOWN = "IQ"

_DECLARED_BY = {
    "ome": "OME metadata",
    "imagej": "ImageJ metadata",
    "shaped": "tifffile 'shaped' metadata",
    "mmstack": "Micro-Manager metadata",
}


def declared_by(kind: str) -> str:
    return _DECLARED_BY.get(kind, f"the file's structure ({kind or 'plain'} TIFF)")


def file_axes(tiff_axes: str) -> str:
    """tifffile's letters in stackio's terms: S becomes C (when C is free), I/Q become '?'."""
    out = []
    for a in tiff_axes:
        if a == "S":
            out.append("C" if "C" not in tiff_axes else "?")
        elif a in UNKNOWN:
            out.append("?")
        else:
            out.append(a)
    return "".join(out)


def _extra(letter: str) -> bool:
    return letter not in "STCZYX?"


def resolve(
    tiff_axes: str, shape: Sequence[int], given: str | None, *, source: str, kind: str
) -> str:
    """The axes of the image in stackio letters (extras kept as tifffile's letters)."""
    declared = file_axes(tiff_axes)
    shape = tuple(int(n) for n in shape)
    if given is None:
        unknown = [i for i, a in enumerate(declared) if a == "?"]
        if unknown:
            i = unknown[0]
            what = (
                "samples per pixel (S) beside channels (C)"
                if tiff_axes[i] == "S"
                else f"pages of unknown meaning ({tiff_axes[i]!r})"
            )
            example = "".join("Z" if a == "?" else a for a in declared) if len(unknown) == 1 else None
            hint = f", e.g. axes={example!r}" if example and "Z" not in declared else ""
            raise AxesError(
                f"{source}: axes are needed: dimension {i} (size {shape[i]}) holds {what}, and the file "
                f"does not say what it is (tifffile reads axes {tiff_axes!r}, shape {shape}); pass "
                f"{len(shape)} letters from STCZYX{hint}",
                source=source,
            )
        return declared
    upper = normalize_axes(given, shape, source=source)
    wrong = [
        i for i, (d, g) in enumerate(zip(declared, upper, strict=True))
        if d != "?" and not _extra(d) and d != g
    ]
    if wrong:
        named = "" if "?" not in declared else " with each '?' named"
        raise AxesError(
            f"{source}: axes {given!r} contradict the file: its {declared_by(kind)} declares "
            f"{declared!r} for shape {shape} (tifffile axes {tiff_axes!r}); pass axes={declared!r}{named}"
            + (", or axes=None" if not named else ""),
            source=source,
        )
    return upper


def layout_for(axes: str, shape: Sequence[int], *, source: str) -> Layout:
    """The Layout for resolved axes; extra letters merge into S, outermost first."""
    shape = tuple(int(n) for n in shape)
    extras = "".join(a for a in axes if _extra(a))
    if not extras:
        return Layout.from_axes(axes, shape, source=source)
    if "C" in extras or any(axes.count(a) > 1 for a in axes):
        raise AxesError(f"{source}: axes {axes!r} name a dimension twice", source=source)
    sample = extras + "".join(a for a in ("S", "T") if a in axes)
    depth = "Z" if "Z" in axes else None
    return Layout(axes, shape, sample, depth)
