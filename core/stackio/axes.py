"""Axes strings and the layout that maps an array's own axes onto SC(Z)YX."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import attrs

from .errors import AxesError

#: The axes a user may name, in the order stackio arranges them.
KNOWN_AXES = "STCZYX"

DepthAxis = Literal["Z", "T"]


def _example(ndim: int) -> str:
    examples = {2: "YX", 3: "ZYX", 4: "CZYX", 5: "TCZYX", 6: "STCZYX"}
    return examples.get(ndim, "YX")


def normalize_axes(axes: str, shape: Sequence[int] | None = None, *, source: object = None) -> str:
    """Return `axes` upper-cased after checking it, and its length against `shape`.

    Rules: a subset of STCZYX in any order, no repeats, Y and X present, one
    letter per array dimension.
    """
    shape_note = f" for data of shape {tuple(shape)}" if shape is not None else ""
    where = f"{source}: " if source is not None else ""
    if not isinstance(axes, str):
        raise AxesError(
            f"{where}axes must be a string such as 'YX' or 'ZYX', not {type(axes).__name__}{shape_note}",
            source=source,
        )
    example = _example(len(shape)) if shape is not None else "ZYX"
    # checked before case folding: 'ß'.upper() is 'SS' and the long s (U+017F) upper-cases to 'S'
    unknown = sorted({a for a in axes if a not in KNOWN_AXES and a not in KNOWN_AXES.lower()})
    if unknown:
        raise AxesError(
            f"{where}axes {axes!r} has unknown letters {''.join(unknown)!r}{shape_note}; "
            f"use letters from {KNOWN_AXES}, e.g. {example!r}",
            source=source,
        )
    upper = axes.upper()
    repeated = sorted({a for a in upper if upper.count(a) > 1})
    if repeated:
        raise AxesError(
            f"{where}axes {axes!r} repeats {''.join(repeated)!r}{shape_note}; name each axis once, e.g. {example!r}",
            source=source,
        )
    missing = [a for a in "YX" if a not in upper]
    if missing:
        raise AxesError(
            f"{where}axes {axes!r} lacks {''.join(missing)!r}{shape_note}; every image needs Y and X, e.g. {example!r}",
            source=source,
        )
    if shape is not None and len(upper) != len(shape):
        raise AxesError(
            f"{where}axes {axes!r} has {len(upper)} letters but the data has {len(shape)} "
            f"dimensions (shape {tuple(shape)}); give one letter per dimension, e.g. {example!r}",
            source=source,
        )
    return upper


@attrs.frozen
class Layout:
    """How an array with its own axes is seen as an SC(Z)YX stack.

    `original_axes` may hold letters beyond STCZYX (a plugin's own dimensions,
    such as CZI's H or M); those listed in `sample_axes` are merged into S, outer
    first. The last entries of `axes` after S and C are the spatial axes, read
    from the same-named original axes.
    """

    original_axes: str
    original_shape: tuple[int, ...]
    sample_axes: str
    depth_axis: str | None

    @classmethod
    def from_axes(
        cls,
        axes: str,
        shape: Sequence[int],
        *,
        depth_axis: DepthAxis = "Z",
        source: object = None,
    ) -> Layout:
        """Layout for a user's axes string over STCZYX.

        S and T merge into S (S outer) unless T is the depth axis; then Z, if
        present, is merged into S instead.
        """
        axes = normalize_axes(axes, shape, source=source)
        other = "T" if depth_axis == "Z" else "Z"
        sample_axes = "".join(a for a in ("S", other) if a in axes)
        depth = depth_axis if depth_axis in axes else None
        return cls(axes, tuple(int(n) for n in shape), sample_axes, depth)

    def __attrs_post_init__(self) -> None:
        if len(self.original_axes) != len(self.original_shape):
            raise AxesError(f"layout axes {self.original_axes!r} do not match shape {self.original_shape}")
        for a in (*self.sample_axes, "Y", "X", *(self.depth_axis or "")):
            if a not in self.original_axes:
                raise AxesError(f"layout axes {self.original_axes!r} lack {a!r}")
        leftover = set(self.original_axes) - set(self.sample_axes) - set(self.spatial_axes) - {"C"}
        if leftover:
            raise AxesError(
                f"layout axes {self.original_axes!r}: {''.join(sorted(leftover))!r} is neither "
                "merged into S, nor C, nor spatial"
            )

    @property
    def spatial_axes(self) -> str:
        """The spatial axes in output order: (Z|T)YX."""
        return (self.depth_axis or "") + "YX"

    @property
    def axes(self) -> str:
        """The stack's axes: 'SCYX', 'SCZYX' or 'SCTYX'."""
        return "SC" + self.spatial_axes

    def _size(self, axis: str) -> int:
        return self.original_shape[self.original_axes.index(axis)]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self._size(a) for a in self.sample_axes)

    @property
    def n_samples(self) -> int:
        return math.prod(self.sample_shape)

    @property
    def n_channels(self) -> int:
        return self._size("C") if "C" in self.original_axes else 1

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self._size(a) for a in self.spatial_axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """The stack's data_shape in SC(Z)YX."""
        return (self.n_samples, self.n_channels, *self.spatial_shape)

    def sample_index(self, sample_idx: int) -> dict[str, int]:
        """The original index of each merged axis for one sample."""
        if not self.sample_axes:
            return {}
        return dict(zip(self.sample_axes, _unravel(sample_idx, self.sample_shape), strict=True))

    @property
    def stack_order(self) -> tuple[int, ...]:
        """The transposition of the original axes that puts them in S (unmerged), C, spatial order."""
        order = [self.original_axes.index(a) for a in self.sample_axes]
        if "C" in self.original_axes:
            order.append(self.original_axes.index("C"))
        order += [self.original_axes.index(a) for a in self.spatial_axes]
        return tuple(order)

    def to_stack_order(self, array: Any) -> Any:
        """Rearrange a whole array with these original axes into SC(Z)YX.

        Works on any object with numpy's `transpose`/`reshape` (numpy, dask).
        """
        arranged = array.transpose(self.stack_order)
        return arranged.reshape(self.shape)


def _unravel(index: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for size in reversed(shape):
        out.append(index % size)
        index //= size
    return tuple(reversed(out))


#: In a declared axes string, a dimension the file does not name: any letter may be given for it.
FREE = "?"


def contradictions(given: str, declared: Sequence[str]) -> list[int]:
    """The dimensions where `given` axes contradict what a file declares (the axes rule).

    `declared` holds, per dimension, the letters the file allows there: one letter for a declared
    axis, several where the file allows a choice (colour samples: 'CS'), FREE where it says nothing.
    A declared Z or T may also be named S, which merges it into the samples (2-D training on a
    3-D or time-lapse file). Both strings are upper case, one entry per dimension.
    """
    return [
        i
        for i, (g, allowed) in enumerate(zip(given, declared, strict=True))
        if FREE not in allowed and g not in allowed and not (g == "S" and allowed in ("Z", "T"))
    ]
