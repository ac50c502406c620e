"""Pyramid levels of loaded stacks, found through the formats' `level=` load option.

stackio gives one stack per level; a format that declares a `level` option (OME-Zarr, pyramid TIFF,
NDTiff) is asked for level 1, 2, ... until it says there is none. A level is kept only when it keeps the
samples and channels and is no larger than the level above it, as napari's multiscale layers require.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import stackio

from .patterns import format_specs, option_names

#: More levels than any real pyramid has (a 2**31-pixel side halves 31 times); a safety stop only.
MAX_LEVELS = 32


def takes_level(format_name: str) -> bool:
    """Whether the installed format `format_name` declares a `level` load option."""
    return any(spec.name == format_name and "level" in option_names(spec) for spec in format_specs())


def _is_level_below(upper: Any, lower: Any) -> bool:
    """Whether `lower` can be the next napari level under `upper`: same S and C, smaller or equal space."""
    up, low = tuple(upper.data_shape), tuple(lower.data_shape)
    if len(up) != len(low) or up[:2] != low[:2] or upper.axes != lower.axes:
        return False
    spatial = list(zip(up[2:], low[2:], strict=True))
    return all(b <= a for a, b in spatial) and any(b < a for a, b in spatial)


def _load_level(source: str, axes: str | None, fmt: str, options: dict[str, Any], level: int) -> list[Any] | None:
    try:
        return stackio.load(source, axes, format=fmt, **{**options, "level": level})
    except stackio.StackioError:
        return None  # the format says this level does not exist (or cannot be read): the pyramid ends


def pyramids(source: str, stacks: Sequence[Any], axes: str | None, fmt: str) -> list[list[Any]]:
    """For each stack of `source` (its level 0), the list of its levels, level 0 first.

    The whole source is asked for each level first (an OME-Zarr image answers for its arrays); when that
    does not give one stack per stack, each stack is asked on its own, from its `source` and
    `load_options`.
    """
    levels: list[list[Any]] = [[stack] for stack in stacks]
    if not stacks or not takes_level(fmt):
        return levels
    whole_source = True
    for level in range(1, MAX_LEVELS):
        if whole_source:
            found = _load_level(source, axes, fmt, {}, level)
            if found is not None and len(found) == len(stacks):
                if not all(_is_level_below(chain[-1], s) for chain, s in zip(levels, found, strict=True)):
                    break
                for chain, s in zip(levels, found, strict=True):
                    chain.append(s)
                continue
            if level > 1:
                break
            whole_source = False
        grew = False
        for chain in levels:
            if len(chain) != level:
                continue
            base = chain[0]
            options = dict(getattr(base, "load_options", {}) or {})
            found = _load_level(base.source, axes, fmt, options, level)
            if found is not None and len(found) == 1 and _is_level_below(chain[-1], found[0]):
                chain.append(found[0])
                grew = True
        if not grew:
            break
    return levels
