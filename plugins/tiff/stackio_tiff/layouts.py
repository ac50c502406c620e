"""From tifffile's axis letters and the user's axes to a stackio `Layout` (the axes rule, for TIFF).

tifffile names a series' dimensions with its own letters: T, C, Z, Y, X mean
what they mean in stackio; S is colour samples (which stackio calls C) when the
pages have more than one sample per pixel there, else a sample axis as in
CAREamics' 'SYX' (stackio's S); I and Q are pages of unknown meaning; other
letters (R position, E lambda, H, A, P, ...) are extra dimensions a file
declares and are merged into S.

What binds given axes depends on what declares the letters:
- axis metadata (OME, ImageJ, tifffile 'shaped' with "axes", Micro-Manager,
  other flavours): every letter, except that a Z or T may be named S (merged
  into the samples) and colour samples may be named S;
- the page structure of a plain file ('generic', 'uniform'): rows Y, columns
  X, colour samples C (or S) and a page depth Z; the page index is free;
- tifffile 'shaped' without "axes": only the shape, so given axes name
  `tifffile.imread`'s dimensions in order, any letters. Its guessed letters
  (including an RGB photometric tifffile's writer chose) serve `axes=None`
  only, and a guess with I, Q or a repeated letter (e.g. 'YQX' or 'XYX' for
  images one pixel wide) asks for axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stackio import AxesError, Layout, normalize_axes
from stackio.axes import FREE, contradictions

#: tifffile letters that carry no meaning: the user must name them.
UNKNOWN = "IQ"
#: Series kinds whose axes come from the pages alone (a plain TIFF).
PLAIN = ("generic", "uniform")

_DECLARED_BY = {
    "ome": "OME metadata",
    "imagej": "ImageJ metadata",
    "shaped": "tifffile 'shaped' metadata",
    "mmstack": "Micro-Manager metadata",
    "generic": "page structure (rows Y, columns X, colour samples C or S; the page index is free)",
    "uniform": "page structure (rows Y, columns X, colour samples C or S)",
}


def declared_by(kind: str) -> str:
    return _DECLARED_BY.get(kind, f"structure ({kind or 'plain'} TIFF)")


def file_axes(tiff_axes: str, colour: bool = True) -> str:
    """tifffile's letters in stackio's terms for `axes=None`; '?' where the file says nothing.

    `colour`: whether tifffile's S is colour samples (S becomes C when C is free); otherwise S is
    a sample axis and stays S. I/Q become '?'.
    """
    out = []
    for a in tiff_axes:
        if a == "S" and colour:
            out.append("C" if "C" not in tiff_axes else FREE)
        elif a in UNKNOWN:
            out.append(FREE)
        else:
            out.append(a)
    return "".join(out)


def allowed_axes(tiff_axes: str, colour: bool = True) -> list[str]:
    """Per dimension, the letters given axes may use there (FREE for any)."""
    out = []
    for a in tiff_axes:
        if tiff_axes.count(a) > 1 or a in UNKNOWN or _extra(a):
            out.append(FREE)
        elif a == "S" and colour:
            out.append("S" if "C" in tiff_axes else "CS")
        else:
            out.append(a)
    return out


def colour_samples(image: Any) -> bool:
    """Whether the image's tifffile S is colour samples: its pages have >1 sample per pixel on that axis."""
    if "S" not in image.axes:
        return False
    keyframe = image.series.keyframe
    if int(getattr(keyframe, "samplesperpixel", 1) or 1) <= 1:
        return False
    if image.position is not None:  # a Micro-Manager position: tifffile puts S on the samples only
        return True
    from .images import _split

    split = _split(tuple(image.series.shape), keyframe.shaped)
    if split is None:
        return True
    start, mapping = split
    s = image.axes.index("S")
    # normalized page dimensions 0 and 4 are the separate and the interleaved samples
    return s >= start and mapping[s - start] in (0, 4)


def unreliable(tiff_axes: str) -> bool:
    """Whether guessed tifffile axes carry no meaning: pages of unknown meaning or a repeated letter."""
    return any(a in UNKNOWN or tiff_axes.count(a) > 1 for a in tiff_axes)


def _extra(letter: str) -> bool:
    return letter not in "STCZYX?"


def resolve_image(image: Any, shape: Sequence[int], given: str | None, *, source: str) -> str:
    """`resolve` for one image of a file (an `images.Image`), with the shape of the level read."""
    shaped_only = image.kind == "shaped" and image.guessed
    return resolve(
        image.axes, shape, given, source=source, kind=image.kind, guessed=shaped_only, colour=colour_samples(image)
    )


def resolve(
    tiff_axes: str,
    shape: Sequence[int],
    given: str | None,
    *,
    source: str,
    kind: str,
    guessed: bool = False,
    colour: bool = True,
) -> str:
    """The axes of the image in stackio letters (extras kept as tifffile's letters).

    `guessed`: the file declares only its shape (tifffile 'shaped' without "axes"): given axes
    are taken as they are, and `tiff_axes` (tifffile's guess) serve `axes=None` only.
    `colour`: whether tifffile's S is colour samples (see `colour_samples`).
    """
    declared = file_axes(tiff_axes, colour)
    shape = tuple(int(n) for n in shape)
    if guessed and given is not None:
        return normalize_axes(given, shape, source=source)
    vague = (guessed or kind in PLAIN) and unreliable(tiff_axes)
    if vague:
        declared = "".join(FREE if tiff_axes.count(a) > 1 else d for a, d in zip(tiff_axes, declared, strict=True))
    if given is None:
        unknown = [i for i, a in enumerate(declared) if a == FREE]
        if unknown:
            i = unknown[0]
            what = (
                "samples per pixel (S) beside channels (C)"
                if tiff_axes[i] == "S" and tiff_axes.count("S") == 1
                else f"pages of unknown meaning ({tiff_axes[i]!r})"
                if tiff_axes[i] in UNKNOWN
                else f"an axis tifffile could only guess ({tiff_axes[i]!r} appears twice)"
            )
            example = "".join("Z" if a == FREE else a for a in declared) if len(unknown) == 1 else None
            if guessed and unreliable(tiff_axes) and example and not example.endswith("YX"):
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
    allowed = allowed_axes(tiff_axes, colour)
    wrong = contradictions(upper, allowed)
    if wrong:
        named = "" if FREE not in declared else f" with each '?' named (e.g. {_example(declared, allowed)!r})"
        merge = "; a declared Z or T may be named S to make each plane a sample" if set("ZT") & set(declared) else ""
        raise AxesError(
            f"{source}: axes {given!r} contradict the file: its {declared_by(kind)} declares "
            f"{declared!r} for shape {shape} (tifffile axes {tiff_axes!r}); pass axes={declared!r}{named}"
            + (", or axes=None" if not named else "")
            + merge,
            source=source,
        )
    return upper


def _example(declared: str, allowed: Sequence[str]) -> str:
    """`declared` with each '?' replaced by a letter it may take (for messages)."""
    spare = iter(a for a in "ZTSC" if a not in declared)
    out = []
    for d, a in zip(declared, allowed, strict=True):
        out.append(d if d != FREE else a if a != FREE else next(spare, FREE))
    return "".join(out)


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
