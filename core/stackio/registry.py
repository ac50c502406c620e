"""Plugin discovery and the registry of formats the core dispatches over.

Entry points in the group "stackio" are imported on first need, not at
`import stackio`; `Registry(entry_points=...)` discovers from the given ones
instead (tests, embedding). A plugin that fails to import or register is
recorded with its reason and skipped. Hooks are called through pluggy, one
plugin at a time (`subset_hook_caller`), so precedence stays the core's.
What plugins declared is cached per environment (`plugin_cache`): a fresh
process imports a plugin's module only when one of its hooks is first called.
Environment switches:

- `STACKIO_DISABLE_PLUGINS=tiff,czi`: do not load these entry points.
- `STACKIO_TRACE=1`: print every hook call, its result and its time to stderr.
- `STACKIO_PLUGIN_CACHE=0`: import every plugin at discovery; `STACKIO_CACHE_DIR`: where the cache lives.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import pluggy

from . import forksafe, hookspecs
from .errors import PluginError
from .formats import FormatSpec
from .handles import FormatHandle, HookCall
from .plugin_cache import PluginCache, PluginRecord

ENTRY_POINT_GROUP = "stackio"
BUILTIN_PLUGINS = ("stackio.builtins",)

#: Kept for code written against the first version: a format's handle.
FormatEntry = FormatHandle


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


def disabled_plugins() -> set[str]:
    return {n.strip() for n in os.environ.get("STACKIO_DISABLE_PLUGINS", "").split(",") if n.strip()}


def installed_entry_points() -> list[Any]:
    """The entry points of the "stackio" group of the installed distributions."""
    import importlib_metadata

    return list(importlib_metadata.entry_points(group=ENTRY_POINT_GROUP))


class Registry:
    """The plugins and formats known to this process.

    `entry_points`: what to discover from (objects with `name`, `dist` and `load()`, like
    `importlib.metadata.EntryPoint`); None reads the installed distributions at discovery.
    """

    def __init__(self, entry_points: Iterable[Any] | None = None) -> None:
        self._pm = pluggy.PluginManager("stackio")
        self._pm.add_hookspecs(hookspecs)
        self._entry_points = None if entry_points is None else list(entry_points)
        self._plugins: dict[str, PluginInfo] = {}
        self._broken: dict[str, BrokenPlugin] = {}
        self._formats: dict[str, FormatHandle] = {}
        #: `formats()`'s last answer, with the handles it was sorted from.
        self._ordered: tuple[tuple[FormatHandle, ...], list[FormatHandle]] | None = None
        self._callers: dict[tuple[str, str], HookCall | None] = {}
        #: Plugins declared from the cache, not imported yet: name -> (entry point, what it declared).
        self._deferred: dict[str, tuple[Any, PluginRecord]] = {}
        self._cache: PluginCache | None = None
        self._discovered = False
        self._discovering: int | None = None  # the thread discovering, while it does
        self._lock = threading.RLock()
        if os.environ.get("STACKIO_TRACE", "") not in ("", "0"):
            _trace(self._pm)
        forksafe.track(self)

    def after_fork(self) -> None:
        """In a forked child: a free lock; a discovery a parent's thread had under way starts over."""
        if self._discovering is not None and self._discovering != threading.get_ident():
            self.__init__(self._entry_points)  # type: ignore[misc]  # half-registered plugins: discover anew
        self._lock = threading.RLock()

    # -- discovery ------------------------------------------------------------------

    def discover(self) -> None:
        """Register the built-ins and the entry points' plugins, once; later calls return at once.

        Safe from many threads: every caller returns only after discovery is complete.
        """
        if self._discovered:
            return
        with self._lock:
            if self._discovered or self._discovering == threading.get_ident():
                return  # done, or a plugin's import asks while its own thread discovers
            self._discovering = threading.get_ident()
            try:
                for module_name in BUILTIN_PLUGINS:
                    module = importlib.import_module(module_name)
                    self.register(module, name=module_name.rsplit(".", 1)[-1], builtin=True)
                entry_points: Sequence[Any] | None = self._entry_points
                if entry_points is None or entry_points:
                    self._cache = PluginCache()
                if entry_points is None:
                    assert self._cache is not None
                    entry_points = self._cache.installed_entry_points()
                    if entry_points is None:
                        entry_points = installed_entry_points()
                        self._cache.set_installed_entry_points(entry_points)
                skip = disabled_plugins()
                for ep in sorted(entry_points, key=lambda e: e.name):
                    if ep.name not in skip:
                        self._load_entry_point(ep)
                if self._cache is not None:
                    self._cache.save()
                self._discovered = True  # only now: others wait on the lock until every plugin is in
            finally:
                self._discovering = None

    def _load_entry_point(self, ep: Any) -> None:
        dist = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        if ep.name in self._plugins or ep.name in self._broken:
            owner = self._plugins.get(ep.name) or self._broken[ep.name]
            reason = f"the plugin name {ep.name!r} is already used by {owner.distribution}; uninstall one of them"
            self._broken[f"{ep.name} ({dist})"] = BrokenPlugin(ep.name, dist, version, "discovery", reason)
            return
        record = self._cache.plugin(ep) if self._cache is not None else None
        if record is not None and self._defer(ep, record, dist, version):
            return
        self._import_entry_point(ep, dist, version)

    def _import_entry_point(
        self, ep: Any, dist: str | None, version: str | None, replacing: PluginInfo | None = None
    ) -> PluginInfo | None:
        try:
            obj = ep.load()
        except Exception as exc:  # any import failure must leave other plugins working
            self._broken[ep.name] = BrokenPlugin(ep.name, dist, version, "import", f"{type(exc).__name__}: {exc}")
            return None
        try:
            info = self._register(obj, ep.name, dist, version, False, replacing)
        except PluginError as exc:
            self._broken[ep.name] = BrokenPlugin(ep.name, dist, version, "register", str(exc))
            return None
        if self._cache is not None:
            specs = [self._formats[f].spec for f in info.formats]
            hooks = [c.name for c in self._pm.get_hookcallers(obj) or []]
            self._cache.remember(ep, obj, specs, hooks)
        return info

    def _defer(self, ep: Any, record: PluginRecord, dist: str | None, version: str | None) -> bool:
        """Declare `ep`'s formats from the cache, its module not imported; False when they clash with others'."""
        specs = [attrs.evolve(s, distribution=dist) if s.distribution is None else s for s in record.specs]
        if any(s.name in self._formats for s in specs):
            return False  # importing it reports the clash as it always has
        self._deferred[ep.name] = (ep, record)
        for spec in specs:
            self._formats[spec.name] = FormatHandle(
                spec, ep.name, self._caller_for(ep.name), self._implements_for(ep.name)
            )
        self._plugins[ep.name] = PluginInfo(ep.name, dist, version, tuple(s.name for s in specs))
        return True

    def _materialize(self, name: str) -> None:
        """Import a deferred plugin and register it for real; raises `PluginError` when that fails now.

        Its formats stay visible to other threads throughout: the new handles replace the cached ones.
        """
        with self._lock:
            deferred = self._deferred.pop(name, None)
            if deferred is None:
                return
            ep = deferred[0]
            info = self._plugins[name]
            done = self._import_entry_point(ep, info.distribution, info.version, replacing=info)
            if done is None:
                self._plugins.pop(name, None)
                for fmt in info.formats:
                    self._formats.pop(fmt, None)
                if self._cache is not None:
                    self._cache.forget(ep)
                    self._cache.save()
                broken = self._broken[name]
                raise PluginError(f"plugin {name!r} ({info.distribution}) could not be used: {broken.reason}")
            if self._cache is not None:
                self._cache.save()  # what it declares now, if that changed

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
        return self._register(plugin, name, distribution, version, builtin, None)

    def _register(
        self,
        plugin: object,
        name: str,
        distribution: str | None,
        version: str | None,
        builtin: bool,
        replacing: PluginInfo | None,
    ) -> PluginInfo:
        """`register`; with `replacing` (the plugin's declarations from the cache), its formats are swapped."""
        with self._lock:
            if name in self._plugins and replacing is None:
                raise PluginError(f"a plugin named {name!r} is already registered")
            try:
                self._pm.register(plugin, name=name)
            except (pluggy.PluginValidationError, ValueError) as exc:
                raise PluginError(f"plugin {name!r} is invalid: {exc}") from exc
            self._callers.clear()
            try:
                unknown = [caller.name for caller in self._pm.get_hookcallers(plugin) or [] if caller.spec is None]
                if unknown:
                    known = sorted(n for n in dir(hookspecs) if n.startswith("stackio_"))
                    raise PluginError(f"plugin {name!r} implements unknown hook(s) {unknown}; known hooks: {known}")
                specs = self._collect_formats(name, distribution, replacing)
            except PluginError:
                self._pm.unregister(name=name)
                self._callers.clear()
                raise
            for spec in specs:
                self._formats[spec.name] = FormatHandle(spec, name, self._caller_for(name), self._implements_for(name))
            for gone in set(replacing.formats if replacing else ()) - {s.name for s in specs}:
                del self._formats[gone]  # declared when the cache was written, not any more
            info = PluginInfo(name, distribution, version, tuple(s.name for s in specs), builtin)
            self._plugins[name] = info
            return info

    def _collect_formats(self, name: str, distribution: str | None, replacing: PluginInfo | None) -> list[FormatSpec]:
        specs: list[FormatSpec] = []

        def register(spec: FormatSpec) -> None:
            if not isinstance(spec, FormatSpec):
                raise PluginError(f"plugin {name!r} registered {spec!r}, not a stackio.FormatSpec")
            specs.append(spec)

        hook = self._hook(name, "stackio_register_formats")
        if hook is None:
            return specs
        try:
            hook(register=register)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(
                f"plugin {name!r} failed while declaring its formats: {type(exc).__name__}: {exc}"
            ) from exc
        return [self._checked(spec, name, distribution, specs[:i], replacing) for i, spec in enumerate(specs)]

    def _checked(
        self,
        spec: FormatSpec,
        name: str,
        distribution: str | None,
        earlier: list[FormatSpec],
        replacing: PluginInfo | None,
    ) -> FormatSpec:
        problems = spec.problems()
        if problems:
            raise PluginError(f"plugin {name!r} declares an invalid format: {'; '.join(problems)}")
        taken = self._formats.get(spec.name)
        if taken is not None and replacing is not None and spec.name in replacing.formats:
            taken = None  # its own declaration, from the cache
        if taken is not None or any(s.name == spec.name for s in earlier):
            owner = taken.plugin if taken else name
            raise PluginError(
                f"plugin {name!r} declares the format {spec.name!r}, already declared by plugin {owner!r}"
            )
        if spec.distribution is None and distribution is not None:
            spec = attrs.evolve(spec, distribution=distribution)
        return spec

    def unregister(self, name: str) -> None:
        """Remove a plugin and its formats (used by tests and run-time registration)."""
        with self._lock:
            if self._deferred.pop(name, None) is None:
                self._pm.unregister(name=name)
            self._callers.clear()
            self._plugins.pop(name, None)
            for fmt in [f for f, e in self._formats.items() if e.plugin == name]:
                del self._formats[fmt]

    # -- queries --------------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        self.discover()
        return sorted(self._plugins.values(), key=lambda p: (not p.builtin, p.name))

    def plugin_name(self, plugin: object) -> str | None:
        """The name a plugin object is registered under, if it is."""
        module = getattr(plugin, "__name__", None)
        for name, (ep, _) in list(self._deferred.items()):
            if module is not None and getattr(ep, "value", "").split(":")[0].strip() == module:
                self._materialize(name)
        return self._pm.get_name(plugin)

    def broken(self) -> list[BrokenPlugin]:
        self.discover()
        return sorted(self._broken.values(), key=lambda p: p.name)

    def formats(self) -> list[FormatHandle]:
        """Every declared format, highest priority first, then by name."""
        self.discover()
        handles = tuple(self._formats.values())
        ordered = self._ordered
        if ordered is None or ordered[0] != handles:  # sorted again only when a format came or went
            ordered = self._ordered = (handles, sorted(handles, key=lambda e: (-e.spec.priority, e.spec.name)))
        return list(ordered[1])

    def format(self, name: str) -> FormatHandle | None:
        self.discover()
        return self._formats.get(name)

    def write_samples(self, plugin: str, directory: Path) -> list[Any] | None:
        """The samples `plugin` writes into `directory`; None when it writes none."""
        hook = self._hook(plugin, "stackio_write_samples")
        return None if hook is None else list(hook(directory=directory) or [])

    # -- calling one plugin's hook ------------------------------------------------------

    def _caller_for(self, plugin: str) -> Callable[[str], HookCall | None]:
        return lambda hook: self._hook(plugin, hook)

    def _implements_for(self, plugin: str) -> Callable[[str], bool]:
        return lambda hook: self._implements(plugin, hook)

    def _implements(self, plugin: str, hook: str) -> bool:
        """Whether `plugin` implements `hook`; a deferred plugin answers from the cache, still not imported."""
        deferred = self._deferred.get(plugin)
        if deferred is not None:
            return hook in deferred[1].hooks
        return self._hook(plugin, hook) is not None

    def _hook(self, plugin: str, hook: str) -> HookCall | None:
        """A callable running `plugin`'s implementation of `hook` through pluggy, or None if it has none."""
        key = (plugin, hook)
        try:
            return self._callers[key]
        except KeyError:
            with self._lock:
                caller = self._callers[key] = self._make_caller(plugin, hook)
            return caller

    def _make_caller(self, plugin: str, hook: str) -> HookCall | None:
        deferred = self._deferred.get(plugin)
        if deferred is not None:
            if hook not in deferred[1].hooks:
                return None
            self._materialize(plugin)
        obj = self._pm.get_plugin(plugin)
        impls = [i for i in getattr(self._pm.hook, hook).get_hookimpls() if i.plugin_name == plugin]
        if obj is None or not impls:
            return None
        others = [p for p in self._pm.get_plugins() if p is not obj]
        caller = self._pm.subset_hook_caller(hook, remove_plugins=others)

        def call(**kwargs: Any) -> Any:
            results = caller(**kwargs)
            return results[0] if results else None

        return call


def _trace(pm: pluggy.PluginManager) -> None:
    """Print every hook call with its arguments, result and time (pluggy's hook-call monitoring)."""
    started = threading.local()

    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        started.__dict__.setdefault("stack", []).append(time.perf_counter())

    def after(
        outcome: pluggy.Result[Any], hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]
    ) -> None:
        ms = (time.perf_counter() - started.stack.pop()) * 1000
        who = ",".join(i.plugin_name for i in impls) or "-"
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k != "register")
        if outcome.exception is not None:
            print(f"stackio: {who}.{hook_name}({args}) raised {outcome.exception!r} [{ms:.2f} ms]", file=sys.stderr)
            return
        result = outcome.get_result()
        shown = result[0] if isinstance(result, list) and len(result) == 1 else result
        print(f"stackio: {who}.{hook_name}({args}) -> {shown!r} [{ms:.2f} ms]", file=sys.stderr)

    pm.add_hookcall_monitoring(before, after)


_registry: Registry | None = None
_registry_lock = threading.Lock()


def _after_fork() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()


forksafe.at_fork(_after_fork)


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


@contextmanager
def use_registry(registry: Registry) -> Iterator[Registry]:
    """Make `registry` the process-wide one for the block (tests, embedding)."""
    global _registry
    with _registry_lock:
        previous, _registry = _registry, registry
    try:
        yield registry
    finally:
        with _registry_lock:
            _registry = previous


def register_plugin(plugin: object, name: str) -> PluginInfo:
    """Register a plugin object in this process, without packaging it."""
    registry = get_registry()
    registry.discover()
    return registry.register(plugin, name=name)


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered with `register_plugin`."""
    get_registry().unregister(name)
