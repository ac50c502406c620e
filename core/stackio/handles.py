"""The typed facade over one declared format: the only way the core calls plugin code.

Registration yields one `FormatHandle` per declared format. Its methods call
that format's plugin through pluggy and own the error policy, once: a foreign
exception is wrapped once with the source and the plugin named, a crash in a
content check becomes a verdict, declared options are checked before the
plugin sees them, and what `load` returns is checked against the `ImageStack`
protocol; `open_writer` starts the write side with the same policy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import PluginError, ReadError, StackioError
from .files import missing_path_error, raise_explained
from .formats import FormatSpec
from .hookspecs import Detection
from .options import check_options
from .verdict import Status, Verdict

if TYPE_CHECKING:
    from .protocol import ImageStack
    from .source import Source
    from .writing import DatasetWriter, WriteRequest

#: Calls one hook of one plugin with keyword arguments; None when the plugin lacks the hook.
HookCall = Callable[..., Any]


def _vanished(source: Source) -> bool:
    """Whether a local source that existed when it was parsed is gone now (a plugin failed because of it)."""
    if source.path is None or source.stat_info is None:
        return False
    return not os.path.lexists(source.path)


class FormatHandle:
    """One format and the plugin serving it: `detect`, `validate`, `load`."""

    def __init__(
        self,
        spec: FormatSpec,
        plugin: str,
        call: Callable[[str], HookCall | None],
        implements: Callable[[str], bool] | None = None,
    ) -> None:
        self.spec = spec
        self.plugin = plugin
        self._call = call
        # answers "has it this hook?" without importing a plugin whose declarations came from the cache
        self._implements = implements or (lambda hook: call(hook) is not None)

    def __repr__(self) -> str:
        return f"FormatHandle({self.name!r}, plugin={self.plugin!r})"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def distribution(self) -> str | None:
        return self.spec.distribution

    @property
    def where(self) -> str:
        """The plugin, as errors name it."""
        return f"plugin {self.plugin!r} ({self.distribution or 'built-in'})"

    @property
    def loads(self) -> bool:
        """Whether the plugin implements `stackio_load`."""
        return self._implements("stackio_load")

    @property
    def checks_content(self) -> bool:
        """Whether a content check exists: a `stackio_detect` hook or declared magic."""
        return self._implements("stackio_detect") or bool(self.spec.magic)

    def verdict(self, status: Status, reason: str) -> Verdict:
        return Verdict(self.name, self.plugin, self.distribution, status, reason)

    def detect(self, source: Source) -> Verdict:
        """This format's verdict on the source's content; a crash is a verdict too, never an exception."""
        hook = self._call("stackio_detect")
        if hook is None:
            return self._detect_magic(source)
        try:
            result = hook(format=self.name, source=source)
        except Exception as exc:  # a plugin's bug must not stop the others from answering
            return self.verdict(Status.CRASHED, f"{type(exc).__name__}: {exc}")
        if isinstance(result, Detection):
            return self.verdict(Status.ACCEPTED if result.accepted else Status.REFUSED, result.reason)
        if result is True:
            return self.verdict(Status.ACCEPTED, "content check passed")
        if result is None:
            return self.verdict(Status.REFUSED, "content check gave no answer")
        return self.verdict(Status.REFUSED, "content check failed")

    def _detect_magic(self, source: Source) -> Verdict:
        if not self.spec.magic:
            return self.verdict(Status.REFUSED, "declares no content check")
        header = source.header
        found = next((m for m in self.spec.magic if header.startswith(m)), None)
        if found is not None:
            return self.verdict(Status.ACCEPTED, f"{self.name} magic bytes {found!r}")
        declared = ", ".join(repr(m) for m in self.spec.magic)
        return self.verdict(Status.REFUSED, f"no {self.name} magic bytes ({declared})")

    def validate(self, source: Source, axes: str | None, options: Mapping[str, Any]) -> dict[str, Any]:
        """The options checked against the declaration, then the plugin's own cross-field rules."""
        spec = self.spec
        checked = check_options(
            self.name,
            spec.options,
            spec.pass_through_options,
            source,
            source.index,
            options,
            handles_index=spec.handles_index,
        )
        hook = self._call("stackio_validate")
        if hook is not None:
            try:
                hook(format=self.name, source=source, axes=axes, options=checked)
            except StackioError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"{source}: {self.where} crashed while validating: {type(exc).__name__}: {exc}",
                    source=str(source),
                ) from exc
        return checked

    def load(
        self, source: Source, axes: str | None, options: Mapping[str, Any], *, allow_empty: bool = False
    ) -> list[ImageStack]:
        """The source's stacks, lazy; `options` as returned by `validate`.

        `allow_empty`: an empty result is allowed (a file of a folder covered by another of its files).
        """
        hook = self._call("stackio_load")
        if hook is None:
            raise PluginError(f"{source}: {self.where} has no stackio_load hook", source=str(source))
        try:
            stacks = list(hook(format=self.name, source=source, axes=axes, options=dict(options)))
        except MemoryError as exc:
            # the hook builds stacks (lazy, or read whole on first use): its own index and metadata did not fit
            from .memory import not_enough_memory

            hint = "free memory, or raise the process's memory limit (ulimit -v)"
            raise not_enough_memory(str(source), f"{self.where} to load it", exc, hint) from exc
        except Exception as exc:
            if _vanished(source):
                raise missing_path_error(source.path, source, vanished=True) from exc  # type: ignore[arg-type]
            raise_explained(
                exc,
                source,
                f"{self.where} could not read it",
                ". The file may be truncated or corrupt; if it opens elsewhere, report this to "
                f"{self.distribution or 'stackio'}",
            )
        if not stacks and not allow_empty:
            raise ReadError(
                f"{source}: {self.where} found no image in it; check that it is a complete file of that format "
                "(`stackio diagnose` shows every plugin's verdict)",
                source=str(source),
            )
        for stack in stacks:
            self._check_stack(source, stack)
        return stacks

    def open_writer(self, request: WriteRequest) -> DatasetWriter:
        """The plugin's writer for `request` (destination and option names already checked by the core)."""
        hook = self._call("stackio_open_writer")
        if hook is None:
            raise PluginError(f"{request.dest}: {self.where} has no stackio_open_writer hook", source=str(request.dest))
        try:
            writer = hook(format=self.name, request=request)
        except StackioError:
            raise
        except Exception as exc:
            raise PluginError(
                f"{request.dest}: {self.where} failed to start writing: {type(exc).__name__}: {exc}",
                source=str(request.dest),
            ) from exc
        if writer is None:
            raise PluginError(f"{request.dest}: {self.where} returned no writer", source=str(request.dest))
        return writer

    def _check_stack(self, source: Source, stack: Any) -> None:
        from .protocol import protocol_problems
        from .stacks import ArrayStack, FileBackedStack, LazyStack

        # The core's own stack classes satisfy the protocol by construction; check anything else.
        problems = [] if type(stack) in (LazyStack, ArrayStack, FileBackedStack) else protocol_problems(stack)
        if problems:
            raise PluginError(
                f"{source}: {self.where} returned an object that is not an ImageStack: {'; '.join(problems)}",
                source=str(source),
            )
        if 0 in tuple(stack.data_shape):
            # an empty axis is a corrupt or empty file; as a stack it would only fail later, far from here
            raise ReadError(
                f"{stack.source}: holds no pixels: its shape is {tuple(stack.data_shape)} ({stack.axes}); "
                "the file may be corrupt or was written empty",
                source=str(stack.source),
            )
