"""Per-image metadata: what the format records about each image (time stamp, stage position, exposure).

Read when asked, never at load. A plugin gives its `LazyStack` (or `FileBackedStack`) an
`ImageMetadataReader`; the stack maps a sample (and channel and depth index) to the file's own
coordinates and calls it with its open reader (a `FileBackedStack`: what its `image_opener` opens).
An in-memory copy of either keeps it. Formats without per-image metadata give `None`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import attrs

from .axes import Layout
from .errors import ReadError, StackioError, ValidationError
from .units import seconds_per


def seconds(value: Any, unit: str) -> float | None:
    """`value` in `unit` as seconds; `None` when either is not a finite number or a known time unit."""
    factor = seconds_per(unit)
    number = finite(value)
    return None if factor is None or number is None else number * factor


def finite(value: Any) -> float | None:
    """`value` as a finite float (numbers and numeric text), else `None`; bools are not numbers."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def finite_values(value: Mapping[str, Any] | None) -> dict[str, float] | None:
    """The finite numbers of a per-axis mapping (others declare nothing); `None` when none is left."""
    if value is None:
        return None
    kept = {k: number for k, v in value.items() if (number := finite(v)) is not None}
    return kept or None


@attrs.frozen
class ImageMetadata:
    """What the file records about one image (one plane of a sample), in one shape for every format.

    A field the format does not declare is `None`; stackio never guesses one. A number that is not
    finite (NaN, infinity) declares nothing either: it becomes `None` (or leaves its mapping).
    """

    #: Which image of the stack: sample, channel and depth index (`None` in a stack without depth).
    sample: int = 0
    channel: int = 0
    depth: int | None = None
    #: Where the image is in the file's own coordinates, e.g. NDTiff {"time": 3, "channel": "DAPI", "z": 2},
    #: CZI {"scene": 1, "T": 3, "C": 0, "Z": 5}, OME {"image": 0, "T": 3, "C": 0, "Z": 5}.
    file_coords: dict[str, Any] = attrs.field(factory=dict)
    #: Acquisition time in seconds after the first image the file records.
    time: float | None = attrs.field(default=None, converter=finite)
    #: Stage position per axis ("X", "Y", "Z"), in `stage_units` (keyed alike).
    stage_position: dict[str, float] | None = attrs.field(default=None, converter=finite_values)
    stage_units: dict[str, str] | None = None
    #: Exposure time in seconds.
    exposure: float | None = attrs.field(default=None, converter=finite)
    #: The format's own per-image metadata (NDTiff's JSON, a CZI subblock's XML, an OME Plane's attributes).
    raw: Any = attrs.field(default=None, eq=False, repr=False)

    def common(self) -> dict[str, Any]:
        """The fields every format shares, as JSON-ready data (without `raw`)."""
        return {
            "sample": self.sample,
            "channel": self.channel,
            "depth": self.depth,
            "file_coords": dict(self.file_coords),
            "time": self.time,
            "stage_position": self.stage_position,
            "stage_units": self.stage_units,
            "exposure": self.exposure,
        }


class ImageMetadataReader(Protocol):
    """A plugin's per-image metadata, read through the stack's open reader (picklable).

    `plane` holds, per original axis of the stack's layout, the index of one image: every axis merged
    into S, "C" (when the layout has it) and the depth axis (when it has one). Returns the image's
    metadata (sample, channel and depth are filled in by the stack) or `None` when the file records none.
    """

    def __call__(self, reader: Any, plane: dict[str, int]) -> ImageMetadata | None: ...


def _index(value: Any, what: str, size: int, source: str, plural: str) -> int:
    if isinstance(value, bool):
        raise ValidationError(f"{source}: {what} must be an int, not {value!r}", source=source)
    try:
        index = operator.index(value)
    except TypeError:
        raise ValidationError(f"{source}: {what} must be an int, not {value!r}", source=source) from None
    if not 0 <= index < size:
        raise ValidationError(
            f"{source}: {what} {index} does not exist; the stack has {size} {plural}, indices 0 to {size - 1}",
            source=source,
        )
    return index


def check_image_request(
    source: str, shape: tuple[int, ...], sample_idx: Any, channel: Any, depth: Any
) -> tuple[int, int, int | None]:
    """Validate an image request against an SC(Z)YX shape; returns (sample, channel, depth or None)."""
    sample = _index(sample_idx, "sample", shape[0], source, "sample(s)")
    chan = _index(channel, "channel", shape[1], source, "channel(s)")
    if len(shape) == 5:
        return sample, chan, _index(depth, "depth", shape[2], source, "plane(s) in depth")
    if depth not in (0, None):
        raise ValidationError(
            f"{source}: depth {depth!r} was given but the stack has no depth axis (shape {shape}); leave it out",
            source=source,
        )
    return sample, chan, None


def _plan(layout: Layout) -> tuple[tuple[int, ...], tuple[tuple[str, int], ...], bool, str | None]:
    """The stack shape, (axis, size) of each axis merged into S (innermost first), whether the layout
    has C, and its depth axis; layouts are frozen, so this is computed once per layout."""
    merged = tuple(reversed(tuple(zip(layout.sample_axes, layout.sample_shape, strict=True))))
    return layout.shape, merged, "C" in layout.original_axes, layout.depth_axis


def plane_index(layout: Layout, sample: int, channel: int, depth: int | None, plan: Any = None) -> dict[str, int]:
    """The original-axis index of one image of a checked request."""
    _, merged, has_channel, depth_axis = plan or _plan(layout)
    plane = {}
    for axis, size in merged:
        plane[axis] = sample % size
        sample //= size
    if has_channel:
        plane["C"] = channel
    if depth_axis is not None and depth is not None:
        plane[depth_axis] = depth
    return plane


class PerImage:
    """A stack's per-image metadata: the plugin's reader and the open handle it reads through.

    A lazy stack shares its patch reader's handle; an in-memory copy opens one of its own on first use.
    """

    def __init__(self, reader_fn: ImageMetadataReader, handle: Any) -> None:
        self.reader_fn = reader_fn
        #: An `OnDemand`: `acquire()` gives the open reader, `release()` ends its use, `close()` closes it.
        self.handle = handle
        #: `_plan` of the layout last read (a stack's layout never changes).
        self._planned: tuple[Layout, Any] | None = None

    def read(self, stack: Any, sample_idx: Any, channel: Any, depth: Any) -> ImageMetadata | None:
        source = stack.source
        layout = stack.layout
        planned = self._planned
        if planned is None or planned[0] is not layout:
            planned = self._planned = (layout, _plan(layout))
        plan = planned[1]
        sample, chan, dep = check_image_request(source, plan[0], sample_idx, channel, depth)
        plane = plane_index(layout, sample, chan, dep, plan)
        reader = self.handle.acquire()
        try:
            found = self.reader_fn(reader, plane)
        except StackioError:
            raise
        except Exception as exc:
            where = f"sample {sample}, channel {chan}" + ("" if dep is None else f", depth {dep}")
            raise ReadError(
                f"{source}: reading the metadata of {where} failed ({type(exc).__name__}: {exc}); "
                "the file may be truncated or corrupt",
                source=source,
            ) from exc
        finally:
            self.handle.release()
        if found is None:
            return None
        return ImageMetadata(
            sample,
            chan,
            dep,
            found.file_coords,
            found.time,
            found.stage_position,
            found.stage_units,
            found.exposure,
            found.raw,
        )

    def close(self) -> None:
        self.handle.close()


def image_metadata(stack: Any, sample_idx: int, channel: int = 0, depth: int | None = 0) -> ImageMetadata | None:
    """One image's metadata from any stack: `stack.image_metadata(...)` where it has one, else `None`.

    `depth` is ignored (may be 0 or None) in a stack without a depth axis.
    """
    method = getattr(stack, "image_metadata", None)
    if not callable(method):
        check_image_request(str(stack.source), tuple(stack.data_shape), sample_idx, channel, depth)
        return None
    return method(sample_idx, channel, depth)


def iter_images(stack: Any, limit: int | None = None) -> Iterator[tuple[int, int, int | None]]:
    """(sample, channel, depth) of the stack's images in S, C, depth order; the first `limit` only."""
    shape = tuple(stack.data_shape)
    depths: list[int | None] = list(range(shape[2])) if len(shape) == 5 else [None]
    count = 0
    for sample in range(shape[0]):
        for channel in range(shape[1]):
            for depth in depths:
                if limit is not None and count >= limit:
                    return
                count += 1
                yield sample, channel, depth
