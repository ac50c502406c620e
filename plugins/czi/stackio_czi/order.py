"""A scene seen in CAREamics' axis order when it has a depth axis: merged axes, C, depth, Y, X.

`CziArray` indexes planes in CZI's own order (`TZ...CYX`); CAREamics restores predictions from
`original_axes` expecting the axes merged into S first, then C, then the depth axis (its own CZI stack
reports `ZCTYX` for a T-depth stack of a `TZCYX` file). `Reordered` presents a `CziArray` in that order:
keys are mapped to the array's order and results transposed back, batched reads included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from .array import CziArray, CziPlan


def careamics_axes(sample_axes: str, depth: str | None) -> str:
    return sample_axes + "C" + (depth or "") + "YX"


class Reordered:
    """`inner` (axes `inner_axes`) indexed and returned in `axes`, a permutation of them."""

    def __init__(self, inner: Any, inner_axes: str, axes: str) -> None:
        self.inner = inner
        self.axes = axes
        self._to_inner = [axes.index(a) for a in inner_axes]  # inner position j <- our position
        self.shape = tuple(inner.shape[inner_axes.index(a)] for a in axes)
        self.dtype = inner.dtype
        self.ndim = len(axes)

    def _inner_key(self, key: Any) -> tuple[Any, ...]:
        if not isinstance(key, tuple):
            key = (key,)
        if len(key) > self.ndim:
            raise IndexError(f"too many indices for a {self.ndim}-d CZI array ({self.axes})")
        key = key + (slice(None),) * (self.ndim - len(key))
        return tuple(key[k] for k in self._to_inner)

    def _kept_order(self, key: tuple[Any, ...]) -> tuple[list[int], list[int]]:
        """Positions of the kept (sliced) axes, in our order and in the inner order."""
        ours = [k for k in range(self.ndim) if isinstance(key[k], slice)]
        inner = [k for k in self._to_inner if isinstance(key[k], slice)]
        return ours, inner

    def __getitem__(self, key: Any) -> np.ndarray:
        inner_key = self._inner_key(key)
        full = tuple(inner_key[self._to_inner.index(k)] for k in range(self.ndim))
        block = np.asarray(self.inner[inner_key])
        ours, inner = self._kept_order(full)
        return block.transpose([inner.index(k) for k in ours])

    def read_into(self, keys: Sequence[tuple[Any, ...]], outs: Sequence[np.ndarray]) -> None:
        inner_keys, inner_outs = [], []
        for key, out in zip(keys, outs, strict=True):
            inner_keys.append(self._inner_key(key))
            ours, inner = self._kept_order(tuple(key))
            inner_outs.append(out.transpose([ours.index(k) for k in inner]))
        self.inner.read_into(inner_keys, inner_outs)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # counters and the plan (`reads`, `plan`) are the inner array's
        return getattr(self.__dict__["inner"], name)


@attrs.frozen
class ReorderedOpener:
    """Picklable opener for `LazyStack`: a `CziArray` of `plan`, presented in `axes`."""

    plan: CziPlan
    axes: str

    def __call__(self) -> Reordered:
        return Reordered(CziArray(self.plan), self.plan.original_axes, self.axes)
