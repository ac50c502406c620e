"""Physical metadata every stack carries: `None` wherever the format does not say."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs


def _optional_mapping(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else {str(k).upper(): v for k, v in value.items()}


def _optional_tuple(value: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)


@attrs.frozen
class Metadata:
    """What a stack's source declares about its physical layout.

    Spatial mappings are keyed by axis letter ("Z", "Y", "X"; also "T" for the
    time step). A value the format does not declare is absent or `None`; stackio
    never guesses one.
    """

    #: Size of one voxel along each spatial axis, in `units`.
    voxel_size: dict[str, float] | None = attrs.field(default=None, converter=_optional_mapping)
    #: Unit of each axis in `voxel_size` / `offset`, e.g. {"X": "micrometer"}.
    units: dict[str, str] | None = attrs.field(default=None, converter=_optional_mapping)
    #: World coordinate of the first voxel, per axis.
    offset: dict[str, float] | None = attrs.field(default=None, converter=_optional_mapping)
    #: The format's own names for its axes, in original order.
    axis_names: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_tuple)
    #: One name per channel of the stack, in C order.
    channel_names: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_tuple)
    _raw: Callable[[], Any] | None = attrs.field(default=None, eq=False, repr=False, alias="raw")

    def raw(self) -> Any:
        """The format's own metadata (XML, JSON, dict), read when asked; `None` if none."""
        return None if self._raw is None else self._raw()

    def to_dict(self) -> dict[str, Any]:
        """The declared fields as plain JSON-ready data (raw metadata excluded)."""
        return {
            "voxel_size": self.voxel_size,
            "units": self.units,
            "offset": self.offset,
            "axis_names": list(self.axis_names) if self.axis_names is not None else None,
            "channel_names": list(self.channel_names) if self.channel_names is not None else None,
        }
