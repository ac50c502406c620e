"""The writer side of the plugin contract: what a plugin is asked to write, and what it returns.

The core decides the on-disk axes, the temporary name and the order of writes; a plugin's writer
turns blocks into its format (`ImageWriter.write`) and completes it (`DatasetWriter.finish`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs
import numpy as np

from .errors import ValidationError
from .metadata import Metadata

#: A callback writers call with the number of work units just done (for the progress bar).
Progress = Callable[[int], None]


@attrs.frozen
class ImageSpec:
    """One image to write, in the stack's SC(Z)YX terms, and the axes it gets on disk.

    `disk_axes` are the letters written (from TCZYX, in that order): the stack's S is written as
    T when it has more than one sample or came from T, C when it has more than one channel, the
    source had one or the channel is named; size-1 axes the source never had are left out.
    """

    shape: tuple[int, ...]
    dtype: np.dtype = attrs.field(converter=np.dtype)
    #: The stack's axes: "SCYX" or "SCZYX".
    axes: str
    disk_axes: str
    metadata: Metadata = attrs.field(factory=Metadata)
    #: Chunk shape in SC(Z)YX, or None for the writer's default.
    chunks: tuple[int, ...] | None = None
    #: Shard shape in SC(Z)YX (formats that shard), or None.
    shards: tuple[int, ...] | None = None
    #: Number of pyramid levels (1 = full resolution only).
    levels: int = 1
    #: Label image (integer ids, 0 = background): pyramids take the mode, not the mean.
    labels: bool = False
    name: str | None = None
    #: For a label image: its name under the image's "labels" group.
    label_of: int | None = None

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return self.shape[2:]

    @property
    def disk_shape(self) -> tuple[int, ...]:
        """The array's shape with `disk_axes`."""
        sizes = {"T": self.shape[0], "C": self.shape[1], **dict(zip(self.axes[2:], self.shape[2:], strict=True))}
        return tuple(sizes[a] for a in self.disk_axes)

    def disk_key(self, sample_idx: int, coords: Sequence[int], block_shape: Sequence[int]) -> tuple[Any, ...]:
        """The on-disk index of a C(Z)YX block of one sample at `coords`."""
        spatial = tuple(slice(c, c + n) for c, n in zip(coords, block_shape[1:], strict=True))
        key: list[Any] = []
        if "T" in self.disk_axes:
            key.append(sample_idx)
        if "C" in self.disk_axes:
            key.append(slice(None))
        return (*key, *spatial)

    def disk_block(self, block: np.ndarray) -> np.ndarray:
        """A C(Z)YX block as the disk array wants it (without C when C is not written)."""
        return block if "C" in self.disk_axes else block[0]


@attrs.frozen
class WriteRequest:
    """What the core asks a plugin to write: images (and their labels) at a temporary path."""

    #: Where to write now (a temporary name beside `dest`); the core moves it into place.
    path: Path
    #: Where the result will be, for messages.
    dest: Path
    images: tuple[ImageSpec, ...]
    options: dict[str, Any] = attrs.field(factory=dict)
    #: Threads the writer may use for work of its own (building pyramid levels).
    workers: int = 1


@runtime_checkable
class ImageWriter(Protocol):
    """Writes blocks of one image."""

    #: Shape (SC(Z)YX) of the units that may be written concurrently without a lock (chunks or
    #: shards); None when any two writes are independent.
    units: tuple[int, ...] | None

    def write(self, sample_idx: int, coords: Sequence[int], block: np.ndarray) -> None:
        """Write a C(Z)YX block (all channels) of one sample at spatial `coords`."""
        ...


@runtime_checkable
class DatasetWriter(Protocol):
    """A plugin's writer for one destination: one `ImageWriter` per `ImageSpec`, then `finish`."""

    @property
    def images(self) -> Sequence[ImageWriter]:
        """One writer per `ImageSpec` of the request, in its order (a plain attribute satisfies this)."""
        ...

    def finish(self, progress: Progress | None = None) -> None:
        """Complete the dataset after every block is written (pyramids, metadata, closing files)."""
        ...


def disk_axes_for(stack_axes: str, shape: Sequence[int], original_axes: str = "", named_channels: bool = False) -> str:
    """The axes an image with these stack axes and shape is written with (see `ImageSpec`)."""
    out = ""
    if shape[0] > 1 or "T" in original_axes:
        out += "T"
    if shape[1] > 1 or "C" in original_axes or named_channels:
        out += "C"
    if len(stack_axes) == 5:
        out += "Z"
    return out + "YX"


def spec_for_stack(stack: Any, **fields: Any) -> ImageSpec:
    """An `ImageSpec` from an ImageStack's shape, dtype, axes and metadata."""
    shape = tuple(int(n) for n in stack.data_shape)
    axes = str(stack.axes)
    if axes not in ("SCYX", "SCZYX"):
        # 'SCTYX': time as the depth axis; on disk time is the outer axis, so the blocks would not map
        raise ValidationError(
            f"{stack.source}: the stack's axes are {axes}; writers take SCYX or SCZYX stacks. Load it with "
            "Z as the depth axis (time merges into the samples and is written as the time axis)",
            source=stack.source,
        )
    original = str(getattr(stack, "original_axes", "") or "")
    metadata = stack.metadata if stack.metadata is not None else Metadata()
    disk = disk_axes_for(axes, shape, original, metadata.channel_names is not None)
    return ImageSpec(
        shape=shape, dtype=np.dtype(stack.data_dtype), axes=axes, disk_axes=disk, metadata=metadata, **fields
    )


def grid(shape: Sequence[int], step: Sequence[int]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(start, size) of each block of a regular grid over `shape`, C order."""
    import itertools

    ranges = [range(0, n, s) for n, s in zip(shape, step, strict=True)]
    out = []
    for start in itertools.product(*ranges):
        size = tuple(min(s, n - b) for b, s, n in zip(start, step, shape, strict=True))
        out.append((tuple(start), size))
    return out
