"""A per-environment cache of what each plugin declared, so discovery need not import plugins.

A fresh process reads the stored entry points and format declarations instead of
scanning the installed distributions (importlib-metadata) and importing every
plugin's hook module; a plugin's module is imported when one of its hooks is
first called. Nothing stored is trusted blindly:

- the installed entry points are reused only while no distribution appeared,
  vanished or was reinstalled in any `sys.path` folder (the names and times of
  their `*.dist-info` / `*.egg-info` entries);
- a plugin's declarations are reused only while the files of its package and of
  the stackio core are unchanged (size and modification time);
- an unreadable, corrupt or foreign cache file is ignored and rewritten; an
  unwritable cache directory only costs the saving.

Where: `$STACKIO_CACHE_DIR`, else `$XDG_CACHE_HOME/stackio`, else `~/.cache/stackio`;
`STACKIO_PLUGIN_CACHE=0` turns the cache off.
"""

from __future__ import annotations

import os
import pickle
import re
import sys
import time
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from .formats import FormatSpec

#: Bumped whenever what is stored changes shape; a file of another version is ignored.
_VERSION = 1
#: Cache files kept (one per interpreter and import path); the least recently used beyond are removed.
MAX_FILES = 64
_DIST_SUFFIXES = (".dist-info", ".egg-info", ".egg-link")
_TARGET = re.compile(r"^\s*([\w.]+)\s*(?::\s*([\w.]+)\s*)?$")

#: (path, size, mtime_ns) of one file; size and time -1 when the file is missing.
Stamp = tuple[str, int, int]


@attrs.frozen
class EntryPointRecord:
    """An installed entry point as discovery needs it: `name`, `value`, `dist` and `load()`."""

    name: str
    value: str
    distribution: str | None
    version: str | None

    @property
    def dist(self) -> _Dist | None:
        return None if self.distribution is None else _Dist(self.distribution, self.version)

    def load(self) -> Any:
        """The object the entry point names (`module` or `module:attribute`), imported now."""
        import importlib

        match = _TARGET.match(self.value)
        if match is None:
            raise ValueError(f"entry point {self.name!r} has an invalid target {self.value!r}")
        obj: Any = importlib.import_module(match.group(1))
        for part in (match.group(2) or "").split(".") if match.group(2) else ():
            obj = getattr(obj, part)
        return obj


@attrs.frozen
class _Dist:
    name: str
    version: str | None


@attrs.frozen
class PluginRecord:
    """What one plugin declared, and the files whose change makes that stale."""

    specs: tuple[FormatSpec, ...]
    hooks: frozenset[str]
    files: tuple[Stamp, ...]


@attrs.frozen
class _Stored:
    version: int
    environment: str
    core: tuple[Stamp, ...]
    #: Per `sys.path` folder: its modification time, and the distributions in it with their times.
    folders: tuple[tuple[str, int, tuple[tuple[str, int], ...]], ...]
    entry_points: tuple[EntryPointRecord, ...] | None
    plugins: dict[tuple[str, str, str | None, str | None], PluginRecord]


def enabled() -> bool:
    return os.environ.get("STACKIO_PLUGIN_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    explicit = os.environ.get("STACKIO_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stackio"


def _environment() -> str:
    # another interpreter, venv or PYTHONPATH sees other plugins: each has its own file. The first entry
    # is the script's folder, another for every script: only the distributions in it count (`_distributions_of`)
    return repr((sys.executable, sys.prefix, sys.version, sys.path[1:]))


def _cache_file(environment: str) -> Path:
    # a clash of this short checksum only costs a rebuild: the file holds the whole environment string
    return cache_dir() / f"plugins-{zlib.crc32(environment.encode()):08x}.pickle"


def stamp(path: str) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return (path, -1, -1)
    return (path, st.st_size, st.st_mtime_ns)


def _core_stamps() -> tuple[Stamp, ...]:
    folder = os.path.dirname(__file__)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".py"))
    except OSError:
        return ()
    return tuple(stamp(os.path.join(folder, n)) for n in names)


def _mtime(folder: str) -> int:
    try:
        return os.stat(folder or ".").st_mtime_ns
    except OSError:
        return -1


def _distributions(folder: str) -> tuple[tuple[str, int], ...]:
    """The distributions installed in one `sys.path` folder, each with its metadata's modification time."""
    try:
        with os.scandir(folder or ".") as entries:
            return tuple(
                sorted((e.name, e.stat().st_mtime_ns) for e in entries if e.name.lower().endswith(_DIST_SUFFIXES))
            )
    except OSError:
        return ()


def _folders(previous: _Stored | None) -> tuple[tuple[str, int, tuple[tuple[str, int], ...]], ...]:
    """Each `sys.path` folder with its distributions; a folder whose time is unchanged is not listed again."""
    known = {f: (t, d) for f, t, d in previous.folders} if previous is not None else {}
    out = []
    for folder in dict.fromkeys(sys.path):
        mtime = _mtime(folder)
        seen = known.get(folder)
        # installing, upgrading or removing a distribution adds or removes entries: the folder's time changes
        dists = seen[1] if seen is not None and seen[0] == mtime else _distributions(folder)
        out.append((folder, mtime, dists))
    return tuple(out)


def _distributions_of(folders: Iterable[tuple[str, int, tuple[tuple[str, int], ...]]]) -> list[Any]:
    """What decides the entry points: the distributions in each folder (the script's folder by content only)."""
    return [(folder if i else "", dists) for i, (folder, _, dists) in enumerate(folders)]


def plugin_files(target: str) -> tuple[Stamp, ...] | None:
    """Stamps of the loaded modules of the package `target` names (None when it is not a file-backed module)."""
    match = _TARGET.match(target)
    if match is None:
        return None
    top = match.group(1).split(".")[0]
    module = sys.modules.get(match.group(1))
    if getattr(module, "__file__", None) is None:
        return None
    files: set[str] = set()
    for name, loaded in list(sys.modules.items()):
        file = getattr(loaded, "__file__", None)
        if (name == top or name.startswith(top + ".")) and isinstance(file, str):
            files.add(file)
    return tuple(stamp(f) for f in sorted(files))


def record_key(ep: Any) -> tuple[str, str, str | None, str | None] | None:
    """What identifies an entry point in the cache; None when it cannot be identified (no module target)."""
    value = getattr(ep, "value", None)
    if not isinstance(value, str) or _TARGET.match(value) is None:
        return None
    dist = getattr(ep, "dist", None)
    return (ep.name, value, getattr(dist, "name", None), getattr(dist, "version", None))


def target_of(obj: Any, value: str) -> bool:
    """Whether `value` ("module" or "module:attr") names `obj`, so that importing it later gives the same plugin."""
    match = _TARGET.match(value)
    if match is None:
        return False
    found: Any = sys.modules.get(match.group(1))
    for part in match.group(2).split(".") if match.group(2) else ():
        found = getattr(found, part, None)
    return found is obj


class PluginCache:
    """The stored declarations of this environment, read once per registry, saved when they changed."""

    def __init__(self) -> None:
        self._environment = _environment()
        self._path = _cache_file(self._environment) if enabled() else None
        stored = self._read()
        self._core = _core_stamps()
        self._folders = _folders(stored)
        usable = (
            stored is not None
            and stored.environment == self._environment
            and stored.core == self._core
            and _distributions_of(stored.folders) == _distributions_of(self._folders)
        )
        self._entry_points = stored.entry_points if usable and stored is not None else None
        self._plugins = dict(stored.plugins) if usable and stored is not None else {}
        self._dirty = not usable or stored is None or stored.folders != self._folders

    def _read(self) -> _Stored | None:
        if self._path is None:
            return None
        try:
            with open(self._path, "rb") as f:
                stored = pickle.load(f)
        except FileNotFoundError:
            return None
        except Exception:  # corrupt, truncated, written by another stackio: rebuilt
            return None
        if not isinstance(stored, _Stored) or stored.version != _VERSION:
            return None
        return stored

    def installed_entry_points(self) -> Sequence[Any] | None:
        """The installed entry points as stored, when no distribution changed since; else None."""
        return self._entry_points

    def set_installed_entry_points(self, entry_points: Iterable[Any]) -> None:
        records = tuple(
            EntryPointRecord(ep.name, ep.value, *(k[2:] if (k := record_key(ep)) else (None, None)))
            for ep in entry_points
            if record_key(ep) is not None
        )
        if records != self._entry_points:
            self._entry_points, self._dirty = records, True

    def plugin(self, ep: Any) -> PluginRecord | None:
        """The stored declarations of `ep`'s plugin, if its files are unchanged."""
        key = record_key(ep)
        record = self._plugins.get(key) if key is not None else None
        if record is None:
            return None
        if any(stamp(path) != (path, size, mtime) for path, size, mtime in record.files):
            del self._plugins[key]  # type: ignore[arg-type]
            self._dirty = True
            return None
        return record

    def remember(self, ep: Any, obj: Any, specs: Sequence[FormatSpec], hooks: Iterable[str]) -> None:
        """Store what `ep`'s plugin (`obj`, just imported and registered) declared, when it can be re-imported."""
        key = record_key(ep)
        if key is None or not target_of(obj, key[1]):
            return
        files = plugin_files(key[1])
        if not files:
            return
        record = PluginRecord(tuple(specs), frozenset(hooks), files)
        if self._plugins.get(key) != record:
            self._plugins[key] = record
            self._dirty = True

    def forget(self, ep: Any) -> None:
        key = record_key(ep)
        if key is not None and self._plugins.pop(key, None) is not None:
            self._dirty = True

    def save(self) -> None:
        """Write the cache if it changed; never raises (a read-only home only costs the next start-up)."""
        if self._path is None:
            return
        if not self._dirty:
            self.touch()
            return
        stored = _Stored(_VERSION, self._environment, self._core, self._folders, self._entry_points, self._plugins)
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp = f"{self._path}.{os.getpid()}.{id(self)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                with os.fdopen(fd, "wb") as f:
                    pickle.dump(stored, f, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, self._path)  # readers see the old file or the new one, never half of one
            except BaseException:
                os.unlink(tmp)
                raise
            _prune(self._path.parent)
        except Exception:
            return
        self._dirty = False

    def touch(self) -> None:
        """Mark the file used (at most daily), so that pruning keeps the environments in use."""
        if self._path is None or self._dirty:
            return
        try:
            if time.time() - os.stat(self._path).st_mtime > 86400:
                os.utime(self._path)
        except OSError:
            pass


def _prune(folder: Path) -> None:
    """Remove the least recently used cache files beyond `MAX_FILES`."""
    files = []
    for entry in os.scandir(folder):
        if entry.name.startswith("plugins-") and entry.name.endswith(".pickle"):
            try:
                files.append((entry.stat().st_mtime, entry.path))
            except OSError:
                continue
    for _, path in sorted(files, reverse=True)[MAX_FILES:]:
        try:
            os.unlink(path)
        except OSError:
            pass
