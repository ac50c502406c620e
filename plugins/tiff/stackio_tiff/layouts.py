"""From tifffile's axis letters and the user's axes to a stackio `Layout`.

tifffile names a series' dimensions with its own letters: T, C, Z, Y, X mean
what they mean in stackio; S is samples per pixel (RGB), which stackio calls
C; I and Q are pages of unknown meaning; other letters (R position, E lambda,
H, A, P, ...) are extra dimensions a file declares and are merged into S.

A series without axis metadata (tifffile 'shaped' without "axes", 'generic',
'uniform') has axes tifffile guessed from the page structure. When the guess
has I, Q or a repeated letter (e.g. 'YQX' or 'XYX' for images one pixel wide)
it declares nothing: given axes are taken as they are.
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
    return _DECLARED_BY.get(kind, f"structure ({kind or 'plain'} TIFF)")


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


def unreliable(tiff_axes: str) -> bool:
    """Whether guessed tifffile axes carry no meaning: pages of unknown meaning or a repeated letter."""
    return any(a in UNKNOWN or tiff_axes.count(a) > 1 for a in tiff_axes)


def _extra(letter: str) -> bool:
    return letter not in "STCZYX?"


def resolve(
    tiff_axes: str,
    shape: Sequence[int],
    given: str | None,
    *,
    source: str,
    kind: str,
    guessed: bool = False,
) -> str:
    """The axes of the image in stackio letters (extras kept as tifffile's letters).

    `guessed`: the file has no axis metadata (tifffile guessed `tiff_axes`); a guess with I, Q or a
    repeated letter declares nothing, so given axes win.
    """
    declared = file_axes(tiff_axes)
    shape = tuple(int(n) for n in shape)
    vague = guessed and unreliable(tiff_axes)
    if vague:
        if given is not None:
            return normalize_axes(given, shape, source=source)
        declared = "".join("?" if tiff_axes.count(a) > 1 else d for a, d in zip(tiff_axes, declared, strict=True))
    if given is None:
        unknown = [i for i, a in enumerate(declared) if a == "?"]
        if unknown:
            i = unknown[0]
            what = (
                "samples per pixel (S) beside channels (C)"
                if tiff_axes[i] == "S" and not vague
                else f"pages of unknown meaning ({tiff_axes[i]!r})"
                if tiff_axes[i] in UNKNOWN
                else f"an axis tifffile could only guess ({tiff_axes[i]!r} appears twice)"
            )
            example = "".join("Z" if a == "?" else a for a in declared) if len(unknown) == 1 else None
            if vague and example and not example.endswith("YX"):
                example = None  # tifffile's Y and X are a guess here too
            hint = f", e.g. axes={example!r}" if example and "Z" not in declared else ""
            raise AxesError(
                f"{source}: axes are needed: dimension {i} (size {shape[i]}) holds {what}, and the file "
                f"does not say what it is (tifffile reads axes {tiff_axes!r}, shape {shape}); pass "
                f"{len(shape)} letters from STCZYX{hint}",
                source=source,
            )
        return declared
    upper = normalize_axes(given, shape, source=source)
    wrong = [i for i, (d, g) in enumerate(zip(declared, upper, strict=True)) if d != "?" and not _extra(d) and d != g]
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
