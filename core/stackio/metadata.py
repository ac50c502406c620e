"""Physical metadata every stack carries: `None` wherever the format does not say."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from .errors import ReadError, StackioError


def _optional_mapping(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else {str(k).upper(): v for k, v in value.items()}


def _finite_mapping(value: Mapping[str, Any] | None) -> dict[str, float] | None:
    """Per-axis numbers, without those that are not finite (a NaN or infinite size declares nothing);
    `None` when none is left."""
    if value is None:
        return None
    kept = {str(k).upper(): v for k, v in value.items() if not _non_finite(v)}
    return kept or None


def _non_finite(value: Any) -> bool:
    try:
        return not math.isfinite(value)
    except TypeError:  # not a number: left for the format's own checks
        return False


def _optional_tuple(value: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)


@attrs.frozen
class Metadata:
    """What a stack's source declares about its physical layout.

    Spatial mappings are keyed by axis letter ("Z", "Y", "X"; also "T" for the
    time step). A value the format does not declare is absent or `None`; stackio
    never guesses one. A size or offset that is not finite (NaN, infinity) declares
    nothing: it is dropped here, for every format, so `to_dict()` is always JSON.
    """

    #: Size of one voxel along each spatial axis, in `units`.
    voxel_size: dict[str, float] | None = attrs.field(default=None, converter=_finite_mapping)
    #: Unit of each axis in `voxel_size` / `offset`, e.g. {"X": "micrometer"}.
    units: dict[str, str] | None = attrs.field(default=None, converter=_optional_mapping)
    #: World coordinate of the first voxel, per axis.
    offset: dict[str, float] | None = attrs.field(default=None, converter=_finite_mapping)
    #: The format's own names for its axes, in original order.
    axis_names: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_tuple)
    #: One name per channel of the stack, in C order.
    channel_names: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_tuple)
    _raw: Callable[[], Any] | None = attrs.field(default=None, eq=False, repr=False, alias="raw")
    #: The stack's source, for errors of `raw()` (set by the stack that carries this metadata).
    source: str | None = attrs.field(default=None, eq=False, repr=False)

    def bound(self, raw: Callable[[], Any] | None, source: str | None) -> Metadata:
        """The same metadata, its raw metadata read by `raw`, for the stack `source`.

        Equal to `attrs.evolve(self, raw=raw, source=source)`, without converting again what is
        converted already (a folder's thousands of stacks each get one); mappings are copied.
        """
        new = object.__new__(Metadata)
        for name in _COPIED:
            value = getattr(self, name)
            object.__setattr__(new, name, dict(value) if isinstance(value, dict) else value)
        object.__setattr__(new, "_raw", raw)
        object.__setattr__(new, "source", source)
        return new

    def raw(self) -> Any:
        """The format's own metadata (XML, JSON, dict), read when asked; `None` if none.

        Read from the file anew: a file removed or changed since it was loaded is a `ReadError`."""
        if self._raw is None:
            return None
        try:
            return self._raw()
        except StackioError:
            raise
        except Exception as exc:
            where = self.source or "the stack's source"
            raise ReadError(
                f"{where}: its metadata could not be read ({type(exc).__name__}: {exc}); the file may have been "
                "moved, changed or truncated since it was loaded: load it again",
                source=self.source,
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        """The declared fields as plain JSON-ready data (raw metadata excluded)."""
        return {
            "voxel_size": self.voxel_size,
            "units": self.units,
            "offset": self.offset,
            "axis_names": list(self.axis_names) if self.axis_names is not None else None,
            "channel_names": list(self.channel_names) if self.channel_names is not None else None,
        }


#: The fields `Metadata.bound` copies as they are.
_COPIED = tuple(a.name for a in attrs.fields(Metadata) if a.name not in ("_raw", "source"))
