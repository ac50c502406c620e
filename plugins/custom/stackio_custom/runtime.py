"""Formats named at run time: a suffix bound to a read function, a loader or an ImageStack class.

    stackio_custom.register_format("npy", [".npy"], read_func=numpy.load)
    stackio.load("x.npy", "YX")   # dispatched to it like to any plugin

The format lives in this process only, as an in-process plugin named
``runtime:<name>``; `unregister_format` removes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import stackio
from stackio import (
    AxesError,
    Detection,
    FormatSpec,
    ImageStack,
    Source,
    SourceNotFoundError,
    ValidationError,
    hookimpl,
)
from stackio.forksafe import at_fork

PLUGIN_PREFIX = "runtime:"
_lock = threading.Lock()
_registered: dict[str, RuntimeFormat] = {}


def _after_fork() -> None:
    global _lock
    _lock = threading.Lock()  # a parent's thread may have held it at the fork


at_fork(_after_fork)


class _StackClassLoader:
    """A loader that builds one stack with `stack_class(source, axes, **kwargs)`."""

    def __init__(self, stack_class: Callable[..., ImageStack]) -> None:
        self.stack_class = stack_class
        self.__qualname__ = getattr(stack_class, "__qualname__", repr(stack_class))
        self.__module__ = getattr(stack_class, "__module__", __name__)

    def __call__(self, source: object, axes: str | None, **kwargs: Any) -> list[ImageStack]:
        return [self.stack_class(source, axes, **kwargs)]


class RuntimeFormat:
    """The in-process plugin behind one `register_format` call."""

    def __init__(
        self,
        spec: FormatSpec,
        *,
        read_func: Callable[..., Any] | None,
        read_kwargs: Mapping[str, Any],
        loader: Callable[..., Any] | None,
    ) -> None:
        self.spec = spec
        self.read_func = read_func
        self.read_kwargs = dict(read_kwargs)
        self.loader = loader

    @property
    def plugin_name(self) -> str:
        return PLUGIN_PREFIX + self.spec.name

    @hookimpl
    def stackio_register_formats(self, register: Callable[[FormatSpec], None]) -> None:
        register(self.spec)

    @hookimpl
    def stackio_detect(self, source: Source) -> Detection:
        for suffix in source.suffixes:
            if suffix in self.spec.suffixes:
                return Detection.accept(f"{suffix} was registered at run time for {self.spec.name}")
        for marker in self.spec.markers:
            if source.has(marker):
                return Detection.accept(f"{marker} was registered at run time for {self.spec.name}")
        return Detection.refuse(f"not a suffix or marker registered for {self.spec.name}")

    @hookimpl
    def stackio_validate(self, source: Source, axes: str | None) -> None:
        if self.read_func is None:
            return
        if source.path is None or not source.exists:
            raise SourceNotFoundError(f"{source}: no such file; check the path", source=str(source))
        if axes is None:
            raise AxesError(
                f"{source}: axes are needed for the {self.spec.name} format (registered with a read "
                "function, so the array carries none); pass one letter per dimension, e.g. axes='YX'",
                source=str(source),
            )

    @hookimpl
    def stackio_load(self, source: Source, axes: str | None, options: dict[str, Any]) -> Sequence[ImageStack]:
        from . import readers

        if self.read_func is not None:
            assert axes is not None  # stackio_validate refused None: a read function's array carries no axes
            merged = {**self.read_kwargs, **options}
            return readers.load_with_read_func(
                source,
                axes,
                {"read_func": self.read_func, "read_kwargs": merged},
                in_memory=False,  # the core reads into memory when asked
            )
        assert self.loader is not None
        return readers.call_loader(self.loader, source.given, source, axes, {**self.read_kwargs, **options})


def register_format(
    name: str,
    suffixes: Sequence[str] = (),
    *,
    read_func: Callable[..., Any] | None = None,
    loader: Callable[..., Sequence[ImageStack]] | None = None,
    stack_class: Callable[..., ImageStack] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    options: Sequence[str] = (),
    markers: Sequence[str] = (),
    priority: int = 100,
    description: str = "",
) -> FormatSpec:
    """Name a format in this process so `stackio.load` dispatches to it like to any plugin.

    Give exactly one way to read it:

    - `read_func(path, **kwargs) -> ndarray` (the user passes axes),
    - `loader(source, axes, **kwargs) -> list of ImageStacks`,
    - `stack_class(source, axes, **kwargs) -> ImageStack` (one stack per source).

    `kwargs` are fixed keyword arguments for it; `options` names those a user
    may pass to `stackio.load` as well. `markers` make directories holding them
    a dataset of this format. `priority` (default 100) lets it win over an
    installed plugin claiming the same suffix. Returns the declared FormatSpec.
    """
    given = [v for v in (read_func, loader, stack_class) if v is not None]
    if len(given) != 1:
        raise ValidationError(
            f"register_format({name!r}): give exactly one of read_func=, loader= or stack_class=, not {len(given)}"
        )
    if not callable(given[0]):
        raise ValidationError(f"register_format({name!r}): {given[0]!r} is not callable")
    if not suffixes and not markers:
        raise ValidationError(
            f"register_format({name!r}): give the suffixes (e.g. ['.npy']) or directory markers it claims"
        )
    if isinstance(suffixes, str):
        suffixes = (suffixes,)
    if markers and read_func is not None:
        raise ValidationError(
            f"register_format({name!r}): a read function reads files; a dataset directory (markers=) "
            "needs loader= or stack_class="
        )
    spec = FormatSpec(
        name=name,
        suffixes=tuple(suffixes),
        directories=bool(markers),
        markers=tuple(markers),
        priority=priority,
        options=tuple(options),
        handles_index=read_func is None,  # a loader gets the source as given, @N included
        description=description or f"registered at run time ({_describe(given[0])})",
        distribution="<run time>",
    )
    problems = spec.problems()
    if problems:
        raise ValidationError(f"register_format({name!r}): {'; '.join(problems)}")
    plugin = RuntimeFormat(
        spec,
        read_func=read_func,
        read_kwargs=kwargs or {},
        loader=loader if loader is not None else (_StackClassLoader(stack_class) if stack_class else None),
    )
    with _lock:
        stackio.register_plugin(plugin, plugin.plugin_name)
        _registered[name] = plugin
    return spec


def unregister_format(name: str) -> None:
    """Forget a format named with `register_format`."""
    with _lock:
        if name not in _registered:
            raise ValidationError(
                f"no format {name!r} was registered at run time; registered: {sorted(_registered) or 'none'}"
            )
        del _registered[name]
        stackio.unregister_plugin(PLUGIN_PREFIX + name)


def registered_formats() -> list[str]:
    """The names of the formats registered at run time in this process."""
    with _lock:
        return sorted(_registered)


def _describe(func: object) -> str:
    from .readers import describe

    return describe(func)
