"""The hooks a stackio plugin implements (pluggy project name "stackio").

The core calls each hook on the one plugin that declared the format in
question, never on all of them at once, so precedence is the core's decision.
A plugin module stays tiny: format libraries are imported inside the
implementations of `stackio_load`, never at module level.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

if TYPE_CHECKING:
    from .formats import FormatSpec
    from .protocol import ImageStack
    from .source import Source
    from .writing import DatasetWriter, WriteRequest

hookspec = pluggy.HookspecMarker("stackio")
hookimpl = pluggy.HookimplMarker("stackio")


@attrs.frozen
class Detection:
    """A plugin's verdict on a source's content, with the reason shown to users."""

    accepted: bool
    reason: str

    @classmethod
    def accept(cls, reason: str) -> Detection:
        return cls(True, reason)

    @classmethod
    def refuse(cls, reason: str) -> Detection:
        return cls(False, reason)


@attrs.frozen
class Sample:
    """A small sample a plugin wrote for the demo and the conformance suite."""

    source: str
    axes: str | None
    description: str
    options: dict[str, Any] = attrs.field(factory=dict)


@hookspec
def stackio_register_formats(register: Callable[[FormatSpec], None]) -> None:
    """Declare formats by calling `register(FormatSpec(...))` once per format.

    Called once at discovery. Must be cheap: no format library imports.
    """


@hookspec
def stackio_detect(format: str, source: Source) -> Detection | bool | None:
    """Check whether `source` holds `format`, from `source.header` or `source.names`.

    Called when a suffix is claimed by several formats, is absent or unknown,
    or the source is a directory. Return a `Detection` (or a bool); never read
    more than a header, and never raise for content that is simply not yours.
    """


@hookspec
def stackio_validate(format: str, source: Source, axes: str | None, options: dict[str, Any]) -> None:
    """Reject axes or option combinations before anything heavy is opened (cross-field rules only).

    Each option in `options` already has its declared type and lies within its
    declared bounds (`FormatSpec.options`), unknown names are refused, and
    `file@N` is reconciled with the option N names. Raise `AxesError` or
    `ValidationError` with a message that names the source and shows what
    would work.
    """


@hookspec
def stackio_load(format: str, source: Source, axes: str | None, options: dict[str, Any]) -> Sequence[ImageStack]:
    """Open `source` and return its lazy stacks (at least one).

    `axes` is upper-case or None; `options` are validated. Return the core's
    `LazyStack` or `FileBackedStack` (or any `ImageStack`); the core reads them
    into memory when the user asks for `in_memory=True`. For a file of a plain
    folder an empty list is allowed (the file is covered by another one). For
    a format declaring `file_sets`, `source.members` lists the folder's files
    given to it as one group. Raise a `StackioError` subclass for bad input;
    any other exception is reported as a read failure of this plugin.
    """
    raise NotImplementedError  # pluggy never runs a spec body; raising tells a type checker no value falls out


@hookspec
def stackio_write_samples(directory: Path) -> Sequence[Sample] | None:
    """Write a few small sample files with the format's own library into `directory`.

    Used by `stackio demo` and the conformance suite in `stackio.testing`.
    """


@hookspec
def stackio_open_writer(format: str, request: WriteRequest) -> DatasetWriter:
    """Start writing `request.images` at `request.path` (a temporary name) and return the writer.

    Called for formats that declare `FormatSpec.writes`, after the core has checked the
    destination and the option names (`FormatSpec.write_options`). Raise `ValidationError` for
    data the format cannot hold (dtype, dimensions). The core writes each image's blocks through
    `writer.images[i].write`, calls `writer.finish()`, then moves the result into place.
    """
    raise NotImplementedError  # pluggy never runs a spec body; raising tells a type checker no value falls out
