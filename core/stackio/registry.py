"""Plugin discovery and the registry of formats the core dispatches over.

Entry points in the group "stackio" are imported on first need, not at
`import stackio`. A plugin that fails to import or register is recorded with
its reason and skipped. Environment switches:

- `STACKIO_DISABLE_PLUGINS=tiff,czi`: do not load these entry points.
- `STACKIO_TRACE=1`: print every hook call, its result and its time to stderr.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .errors import PluginError
from .formats import FormatSpec

ENTRY_POINT_GROUP = "stackio"
BUILTIN_PLUGINS = ("stackio.builtins",)


@attrs.frozen
class PluginInfo:
    """A plugin that registered, and the formats it declared."""

    name: str
    distribution: str | None
    version: str | None
    formats: tuple[str, ...]
    builtin: bool = False


@attrs.frozen
class BrokenPlugin:
    """A plugin that could not be used, and why."""

    name: str
    distribution: str | None
    version: str | None
    stage: str
    reason: str


@attrs.frozen
class FormatEntry:
    """A declared format and the plugin that serves it."""

    spec: FormatSpec
    plugin: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def distribution(self) -> str | None:
        return self.spec.distribution


def _tracing() -> bool:
    return os.environ.get("STACKIO_TRACE", "") not in ("", "0")


def disabled_plugins() -> set[str]:
    return {n.strip() for n in os.environ.get("STACKIO_DISABLE_PLUGINS", "").split(",") if n.strip()}


class Registry:
    """The plugins and formats known to this process."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager("stackio")
        self._pm.add_hookspecs(hookspecs)
        self._plugins: dict[str, PluginInfo] = {}
        self._broken: dict[str, BrokenPlugin] = {}
        self._formats: dict[str, FormatEntry] = {}
        self._discovered = False
        self._lock = threading.RLock()

    # -- discovery ------------------------------------------------------------------

    def _discover(self) -> None:
        if self._discovered:
            return
        with self._lock:
            if self._discovered:
                return
            self._discovered = True
            import importlib

            for module_name in BUILTIN_PLUGINS:
                self.register(importlib.import_module(module_name), name=module_name.rsplit(".", 1)[-1], builtin=True)
            self._load_entry_points()

    def _load_entry_points(self) -> None:
        import importlib_metadata

        skip = disabled_plugins()
        for ep in sorted(importlib_metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            if ep.name in skip:
                continue
            if ep.name in self._plugins or ep.name in self._broken:
                owner = self._plugins.get(ep.name) or self._broken[ep.name]
                self._broken[f"{ep.name} ({dist})"] = BrokenPlugin(
                    ep.name,
                    dist,
                    version,
                    "discovery",
                    f"the plugin name {ep.name!r} is already used by {owner.distribution}; uninstall one of them",
                )
                continue
            try:
                obj = ep.load()
            except Exception as exc:  # any import failure must leave other plugins working
                self._broken[ep.name] = BrokenPlugin(ep.name, dist, version, "import", f"{type(exc).__name__}: {exc}")
                continue
            try:
                self.register(obj, name=ep.name, distribution=dist, version=version)
            except PluginError as exc:
                self._broken[ep.name] = BrokenPlugin(ep.name, dist, version, "register", str(exc))

    # -- registration ---------------------------------------------------------------

    def register(
        self,
        plugin: object,
        *,
        name: str,
        distribution: str | None = None,
        version: str | None = None,
        builtin: bool = False,
    ) -> PluginInfo:
        """Register a plugin object (a module or any object with hook implementations).

        Raises `PluginError` when its hooks are misnamed or mistyped or its format
        declarations are invalid or taken; nothing of it stays registered then.
        """
        with self._lock:
            if name in self._plugins:
                raise PluginError(f"a plugin named {name!r} is already registered")
            try:
                self._pm.register(plugin, name=name)
            except (pluggy.PluginValidationError, ValueError) as exc:
                raise PluginError(f"plugin {name!r} is invalid: {exc}") from exc
            try:
                unknown = [caller.name for caller in self._pm.get_hookcallers(plugin) or [] if caller.spec is None]
                if unknown:
                    known = sorted(n for n in dir(hookspecs) if n.startswith("stackio_"))
                    raise PluginError(f"plugin {name!r} implements unknown hook(s) {unknown}; known hooks: {known}")
                specs = self._collect_formats(plugin, name, distribution)
            except PluginError:
                self._pm.unregister(name=name)
                raise
            for spec in specs:
                self._formats[spec.name] = FormatEntry(spec, name)
            info = PluginInfo(name, distribution, version, tuple(s.name for s in specs), builtin)
            self._plugins[name] = info
            return info

    def _collect_formats(self, plugin: object, name: str, distribution: str | None) -> list[FormatSpec]:
        specs: list[FormatSpec] = []

        def register(spec: FormatSpec) -> None:
            if not isinstance(spec, FormatSpec):
                raise PluginError(f"plugin {name!r} registered {spec!r}, not a stackio.FormatSpec")
            specs.append(spec)

        impl = self._impl(name, "stackio_register_formats")
        if impl is None:
            return specs
        try:
            impl(register=register)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(
                f"plugin {name!r} failed while declaring its formats: {type(exc).__name__}: {exc}"
            ) from exc
        out = []
        for spec in specs:
            problems = spec.problems()
            if problems:
                raise PluginError(f"plugin {name!r} declares an invalid format: {'; '.join(problems)}")
            taken = self._formats.get(spec.name)
            if taken is not None or any(s.name == spec.name for s in out):
                owner = taken.plugin if taken else name
                raise PluginError(
                    f"plugin {name!r} declares the format {spec.name!r}, already declared by plugin {owner!r}"
                )
            if spec.distribution is None and distribution is not None:
                spec = attrs.evolve(spec, distribution=distribution)
            out.append(spec)
        return out

    def unregister(self, name: str) -> None:
        """Remove a plugin and its formats (used by tests and run-time registration)."""
        with self._lock:
            self._pm.unregister(name=name)
            self._plugins.pop(name, None)
            for fmt in [f for f, e in self._formats.items() if e.plugin == name]:
                del self._formats[fmt]

    # -- queries --------------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        self._discover()
        return sorted(self._plugins.values(), key=lambda p: (not p.builtin, p.name))

    def broken(self) -> list[BrokenPlugin]:
        self._discover()
        return sorted(self._broken.values(), key=lambda p: p.name)

    def formats(self) -> list[FormatEntry]:
        """Every declared format, highest priority first, then by name."""
        self._discover()
        return sorted(self._formats.values(), key=lambda e: (-e.spec.priority, e.spec.name))

    def format(self, name: str) -> FormatEntry | None:
        self._discover()
        return self._formats.get(name)

    # -- calling hooks ----------------------------------------------------------------

    def _impl(self, plugin: str, hook: str) -> Callable[..., Any] | None:
        for impl in getattr(self._pm.hook, hook).get_hookimpls():
            if impl.plugin_name == plugin:
                return functools.partial(_call_impl, impl.function, impl.argnames)
        return None

    def has_hook(self, plugin: str, hook: str) -> bool:
        return self._impl(plugin, hook) is not None

    def call(self, plugin: str, hook: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of `hook`; None if it has none."""
        impl = self._impl(plugin, hook)
        if impl is None:
            return None
        if not _tracing():
            return impl(**kwargs)
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k != "register")
        start = time.perf_counter()
        try:
            result = impl(**kwargs)
        except BaseException as exc:
            ms = (time.perf_counter() - start) * 1000
            print(f"stackio: {plugin}.{hook}({args}) raised {exc!r} [{ms:.2f} ms]", file=sys.stderr)
            raise
        ms = (time.perf_counter() - start) * 1000
        print(f"stackio: {plugin}.{hook}({args}) -> {result!r} [{ms:.2f} ms]", file=sys.stderr)
        return result


def _call_impl(function: Callable[..., Any], argnames: tuple[str, ...], **kwargs: Any) -> Any:
    """Call a hook implementation with just the arguments it declares (pluggy's convention)."""
    return function(*(kwargs[a] for a in argnames))


_registry: Registry | None = None
_registry_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry (created, not yet discovered, on first call)."""
    global _registry
    if _registry is None:
        with _registry_lock:
            if _registry is None:
                _registry = Registry()
    return _registry


def reset_registry() -> None:
    """Forget every plugin; the next query discovers again (for tests)."""
    global _registry
    with _registry_lock:
        _registry = None


def register_plugin(plugin: object, name: str) -> PluginInfo:
    """Register a plugin object in this process, without packaging it."""
    registry = get_registry()
    registry._discover()
    return registry.register(plugin, name=name)


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered with `register_plugin`."""
    get_registry().unregister(name)
