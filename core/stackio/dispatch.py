"""Choosing the format that loads a source: explicit, deterministic, explained.

Order: `format=` given; an option that selects a format; URI scheme; suffix
(longest first, user preference where several formats claim it, else content
check); directory markers; content check of every format. Ties go to the
higher declared priority, then the name, never to install order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .errors import ReadError, SourceNotFoundError, UnsupportedFormatError
from .formats import known_format_for
from .hookspecs import Detection
from .registry import FormatEntry, Registry
from .source import Source


@attrs.frozen
class Verdict:
    """One format's answer on one source."""

    format: str
    plugin: str
    distribution: str | None
    status: str  # "accepted", "refused" or "crashed"
    reason: str


@attrs.frozen
class Decision:
    """The format chosen for a source, and why."""

    format: str
    plugin: str
    distribution: str | None
    reason: str
    verdicts: tuple[Verdict, ...] = ()


def _rank(entries: Iterable[FormatEntry]) -> list[FormatEntry]:
    return sorted(entries, key=lambda e: (-e.spec.priority, e.spec.name))


def _decide(entry: FormatEntry, reason: str, verdicts: Iterable[Verdict] = ()) -> Decision:
    return Decision(entry.name, entry.plugin, entry.distribution, reason, tuple(verdicts))


def run_detection(registry: Registry, entry: FormatEntry, source: Source) -> Verdict:
    """Ask one format's plugin about the source's content; a crash is a verdict too."""

    def verdict(status: str, reason: str) -> Verdict:
        return Verdict(entry.name, entry.plugin, entry.distribution, status, reason)

    if not registry.has_hook(entry.plugin, "stackio_detect"):
        return verdict("refused", "declares no content check")
    try:
        result = registry.call(entry.plugin, "stackio_detect", format=entry.name, source=source)
    except Exception as exc:  # a plugin's bug must not stop the others from answering
        return verdict("crashed", f"{type(exc).__name__}: {exc}")
    if isinstance(result, Detection):
        return verdict("accepted" if result.accepted else "refused", result.reason)
    if result is True:
        return verdict("accepted", "content check passed")
    if result is None:
        return verdict("refused", "content check gave no answer")
    return verdict("refused", "content check failed")


def _by_content(registry: Registry, entries: list[FormatEntry], source: Source, why: str) -> Decision | list[Verdict]:
    verdicts = [run_detection(registry, e, source) for e in _rank(entries)]
    accepted = [v for v in verdicts if v.status == "accepted"]
    if not accepted:
        return verdicts
    best = accepted[0]
    entry = registry.format(best.format)
    assert entry is not None
    return _decide(entry, f"{why}; content check: {best.reason}", verdicts)


def _installed_summary(registry: Registry) -> str:
    parts = []
    for entry in registry.formats():
        schemes = tuple("in-memory arrays" if s == "array" else f"{s}://" for s in entry.spec.schemes)
        claims = ", ".join(entry.spec.suffixes + schemes)
        parts.append(f"{entry.name} ({claims or 'content check'})")
    return "; ".join(parts) or "none"


def _unsupported(
    registry: Registry, source: Source, what: str, verdicts: Iterable[Verdict] = ()
) -> UnsupportedFormatError:
    names = source.names if source.is_dir else frozenset()
    known = known_format_for(source.suffixes, source.header if source.exists else b"", names)
    lines = [f"{source}: {what}."]
    if known is not None and registry.format(known.name) is None:
        lines.append(f"It looks like {known.name}: install the plugin with `pip install {known.distribution}`.")
    tried = [f"  {v.format}: {v.status}: {v.reason}" for v in verdicts]
    if tried:
        lines.append("Plugins tried:\n" + "\n".join(tried))
    lines.append(f"Installed formats: {_installed_summary(registry)}.")
    broken = registry.broken()
    if broken:
        lines.append("Broken plugins: " + "; ".join(f"{b.name} ({b.reason})" for b in broken) + ".")
    return UnsupportedFormatError("\n".join(lines), source=str(source))


def choose_format(
    registry: Registry,
    source: Source,
    *,
    format: str | None = None,
    options: Mapping[str, Any] | None = None,
    prefer: Mapping[str, str] | None = None,
    allow_plain_directory: bool = False,
) -> Decision | None:
    """Pick the format for `source`, or raise an error that explains the refusals.

    Returns None only for a plain directory (no format claims it as a dataset)
    when `allow_plain_directory` is set: the caller then loads its files.
    """
    if format is not None:
        entry = registry.format(format)
        if entry is None:
            known = next((k for k in _known_by_name(format)), None)
            hint = f" Install it with `pip install {known}`." if known else ""
            raise UnsupportedFormatError(
                f"{source}: format {format!r} is not installed.{hint} "
                f"Installed formats: {_installed_summary(registry)}.",
                source=str(source),
            )
        return _decide(entry, f"format={format!r} was given")

    formats = registry.formats()
    if options:
        selecting = [e for e in formats if set(e.spec.selected_by) & set(options)]
        if selecting:
            entry = selecting[0]
            chosen = sorted(set(entry.spec.selected_by) & set(options))
            return _decide(entry, f"option {chosen[0]}= selects it")

    if source.kind != "path" and source.scheme != "file":
        return _by_scheme(registry, formats, source, prefer or {}, options or {})

    if not source.exists:
        container = _containing_dataset(formats, source)
        if container is not None:
            # A missing group or array inside a store: its plugin can say what the store holds.
            return _decide(container, f"inside a {container.name} dataset")
        raise SourceNotFoundError(
            f"{source}: no such file or directory; check the path (relative paths are taken from "
            "the current directory)",
            source=str(source),
        )
    preferred = prefer or {}

    if source.is_dir:
        claiming = [
            e
            for e in formats
            if e.spec.directories
            and (any(source.has(m) for m in e.spec.markers) or any(s in e.spec.suffixes for s in source.suffixes))
        ]
        for suffix in source.suffixes:
            entry = _preferred(registry, preferred, suffix, source)
            if entry is not None:
                return _decide(entry, f"preference {suffix} -> {entry.name}")
        if len(claiming) == 1:
            return _decide(claiming[0], "directory markers or suffix")
        if claiming:
            result = _by_content(registry, claiming, source, "claimed as a dataset directory by several formats")
            if isinstance(result, Decision):
                return result
        others = [e for e in formats if e.spec.directories and e not in claiming]
        if others:
            result = _by_content(registry, others, source, "directory")
            if isinstance(result, Decision):
                return result
        if allow_plain_directory:
            return None
        raise _unsupported(registry, source, "no installed plugin reads this directory as a dataset")

    if source.path is not None and source.path.stat().st_size == 0:
        raise ReadError(
            f"{source}: the file is empty (0 bytes); it may not have been written completely",
            source=str(source),
        )

    for suffix in source.suffixes:
        entry = _preferred(registry, preferred, suffix, source)
        if entry is not None:
            return _decide(entry, f"preference {suffix} -> {entry.name}")
        claiming = [e for e in formats if suffix in e.spec.suffixes]
        if len(claiming) == 1:
            return _decide(claiming[0], f"suffix {suffix}")
        if claiming:
            result = _by_content(registry, claiming, source, f"suffix {suffix} is claimed by several formats")
            if isinstance(result, Decision):
                return result
            raise _unsupported(registry, source, f"the formats claiming {suffix} all refused its content", result)

    checkable = [e for e in formats if registry.has_hook(e.plugin, "stackio_detect")]
    result = _by_content(registry, checkable, source, "no format claims its suffix")
    if isinstance(result, Decision):
        return result
    suffix = source.suffixes[-1] if source.suffixes else "(none)"
    raise _unsupported(registry, source, f"no installed plugin reads files with suffix {suffix}", result)


def _by_scheme(
    registry: Registry,
    formats: list[FormatEntry],
    source: Source,
    preferred: Mapping[str, str],
    options: Mapping[str, Any],
) -> Decision:
    """A URI: the formats declaring its scheme, then its suffix, an enclosing dataset's suffix, a
    marker name, and only then content (a ranged header read, or a plugin's metadata fetch). A URL
    refused by scheme or suffix costs no request."""
    scheme = source.scheme
    claiming = [e for e in formats if scheme in e.spec.schemes]
    if not claiming:
        schemes = sorted({s for e in formats for s in e.spec.schemes} | {"file"})
        raise _unsupported(
            registry,
            source,
            f"no installed plugin reads the URI scheme {scheme!r} (schemes installed: {', '.join(schemes)})",
        )
    if len(claiming) == 1 and not source.is_remote:
        return _decide(claiming[0], f"URI scheme {scheme!r}")
    source.storage_options = options.get("storage_options")
    why = f"URI scheme {scheme!r}"
    for suffix in source.suffixes:
        entry = _preferred(registry, preferred, suffix, source)
        if entry is not None and entry in claiming:
            return _decide(entry, f"{why}; preference {suffix} -> {entry.name}")
        claimed = [e for e in claiming if suffix in e.spec.suffixes]
        if len(claimed) == 1:
            return _decide(claimed[0], f"{why}; suffix {suffix}")
        if claimed:
            result = _by_content(registry, claimed, source, f"{why}; suffix {suffix} is claimed by several formats")
            if isinstance(result, Decision):
                return result
            raise _unsupported(registry, source, f"the formats claiming {suffix} all refused its content", result)
        local_only = sorted(e.name for e in formats if suffix in e.spec.suffixes)
        if local_only:
            raise _unsupported(
                registry,
                source,
                f"the {', '.join(local_only)} format reads {suffix} files, but not over {scheme}:// (it declares "
                f"no such scheme); download the file and load it from disk",
            )
    if source.uri is not None and source.is_remote:
        from urllib.parse import unquote, urlsplit

        segments = [unquote(p) for p in urlsplit(source.uri).path.split("/") if p][:-1]
        for segment in reversed(segments):
            inner = Source.parse(segment)
            for suffix in inner.suffixes:
                claimed = [e for e in claiming if e.spec.directories and suffix in e.spec.suffixes]
                if claimed:
                    return _decide(_rank(claimed)[0], f"{why}; inside a {suffix} dataset ({segment})")
        marked = [e for e in claiming if source.url_name in e.spec.markers]
        if marked:
            return _decide(_rank(marked)[0], f"{why}; {source.url_name} is a {marked[0].name} marker")
    if len(claiming) == 1:
        return _decide(claiming[0], why)
    header = source.header  # one ranged request, shared by every plugin; failures other than 404 raise here
    result = _by_content(registry, claiming, source, f"{why}, no suffix")
    if isinstance(result, Decision):
        return result
    if not header:
        raise SourceNotFoundError(
            f"{source}: nothing at this URL that an installed plugin reads: no file there (HTTP 404 / no such "
            "object) and no dataset metadata any plugin recognised; check the URL",
            source=str(source),
        )
    raise _unsupported(registry, source, f"no installed plugin reads what is at this {scheme}:// URL", result)


def _containing_dataset(formats: list[FormatEntry], source: Source) -> FormatEntry | None:
    """The directory format claiming the nearest existing ancestor of a missing path, if any."""
    if source.path is None:
        return None
    parent = next((p for p in source.path.parents if p.exists()), None)
    if parent is None or not parent.is_dir():
        return None
    ancestor = Source.parse(parent)
    for entry in formats:
        if entry.spec.directories and (
            any(ancestor.has(m) for m in entry.spec.markers) or any(s in entry.spec.suffixes for s in ancestor.suffixes)
        ):
            return entry
    return None


def _preferred(registry: Registry, preferred: Mapping[str, str], suffix: str, source: Source) -> FormatEntry | None:
    name = preferred.get(suffix)
    if name is None:
        return None
    entry = registry.format(name)
    if entry is None:
        raise UnsupportedFormatError(
            f"{source}: your preference {suffix} -> {name!r} names a format that is not installed; "
            f"installed formats: {_installed_summary(registry)}",
            source=str(source),
        )
    return entry


def _known_by_name(name: str) -> Iterable[str]:
    from .formats import KNOWN_FORMATS

    return (k.distribution for k in KNOWN_FORMATS if k.name == name)


def diagnose_source(registry: Registry, source: Source) -> list[Verdict]:
    """Every installed format's content verdict on `source`, whatever dispatch would pick."""
    if source.kind == "path" or source.scheme == "file":
        if not source.exists:
            raise SourceNotFoundError(f"{source}: no such file or directory", source=str(source))
    out = []
    for entry in registry.formats():
        if source.kind != "path" and source.scheme != "file":
            claims = source.scheme in entry.spec.schemes
            status = "accepted" if claims else "refused"
            out.append(
                Verdict(
                    entry.name,
                    entry.plugin,
                    entry.distribution,
                    status,
                    f"{'declares' if claims else 'does not declare'} scheme {source.scheme!r}",
                )
            )
            continue
        out.append(run_detection(registry, entry, source))
    return out


def claims_by_suffix(formats: list[FormatEntry], source: Source) -> bool:
    """Whether some format claims `source` by suffix or directory markers (no content read)."""
    for entry in formats:
        if source.is_dir:
            if entry.spec.directories and (
                any(source.has(m) for m in entry.spec.markers) or any(s in entry.spec.suffixes for s in source.suffixes)
            ):
                return True
        elif any(s in entry.spec.suffixes for s in source.suffixes):
            return True
    return False
