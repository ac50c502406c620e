"""Choosing the format that loads a source: explicit, deterministic, explained.

Dispatch runs these steps in order; each returns a decision, a refusal, or
passes to the next:

1. `format_given`: `format=` names the format.
2. `selecting_option`: an option that selects a format (`read_func=`).
3. `uri_scheme`: a URI's scheme.
4. `inside_dataset`: a file inside a folder whose format owns its files by markers (`owns_files`);
   a missing path inside a folder a format claims (its plugin says what the dataset holds); else not found.
5. `directory`: a folder claimed by markers or suffix, else by a directory format's content check;
   a folder nobody claims is a plain folder (None). A plain folder, or one accepted by the content check
   of a `file_sets` format, is divided by `stackio.api.plan`: each file goes to its own format.
6. `suffix`: the suffix, longest first; user preference or a content check where several formats claim it.
7. `content`: every format's content check.

Ties go to the higher declared priority, then the name, never to install order.
`UnsupportedFormatError`, listing every verdict collected, is raised in one place.
Before any step, a local path that is neither a folder nor a regular file (a FIFO, a device) is refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from .errors import ReadError, SourceNotFoundError, UnsupportedFormatError, ValidationError
from .files import missing_path_error, require_regular
from .handles import FormatHandle
from .hints import KnownFormat, known_by_name, known_format_for
from .markers import markers_in
from .registry import Registry
from .source import Source
from .verdict import Decision, Status, Verdict

__all__ = ["Decision", "Verdict", "choose_format", "claims_by_suffix", "dataset_of", "diagnose_source"]


@attrs.frozen
class Refusal:
    """A step's conclusion that no installed format reads the source."""

    what: str
    verdicts: tuple[Verdict, ...] = ()
    known: KnownFormat | None = None


#: A plain folder: no format reads it as one dataset; its files are loaded by format.
PLAIN_FOLDER = "plain folder"


@attrs.define
class Request:
    """What dispatch is asked about, and the formats it chooses among."""

    registry: Registry
    source: Source
    format: str | None
    options: Mapping[str, Any]
    prefer: Mapping[str, str]
    formats: list[FormatHandle]
    #: What is known of folders already looked at (the files of one folder share their parent's markers),
    #: and the decisions files of one folder share (see `choose_format`).
    folders: dict[Any, Outcome] = attrs.field(factory=dict)


Outcome = Decision | Refusal | str | None
Step = Callable[[Request], Outcome]


def _decide(entry: FormatHandle, reason: str, verdicts: Iterable[Verdict] = ()) -> Decision:
    return Decision(entry.name, entry.plugin, entry.distribution, reason, tuple(verdicts))


def _by_content(request: Request, entries: list[FormatHandle], why: str) -> Decision | list[Verdict]:
    verdicts = [e.detect(request.source) for e in entries]
    best = next((v for v in verdicts if v.status == Status.ACCEPTED), None)
    if best is None:
        return verdicts
    entry = request.registry.format(best.format)
    assert entry is not None
    return _decide(entry, f"{why}; content check: {best.reason}", verdicts)


def _preferred(request: Request, suffix: str) -> Decision | None:
    name = request.prefer.get(suffix)
    if name is None:
        return None
    entry = request.registry.format(name)
    if entry is None:
        raise UnsupportedFormatError(
            f"{request.source}: your preference {suffix} -> {name!r} names a format that is not installed; "
            f"installed formats: {installed_summary(request.registry)}",
            source=str(request.source),
        )
    return _decide(entry, f"preference {suffix} -> {entry.name}")


def _is_local(source: Source) -> bool:
    return source.kind == "path" or source.scheme == "file"


# -- the steps, in order --------------------------------------------------------------------


def format_given(request: Request) -> Outcome:
    if request.format is None:
        return None
    entry = request.registry.format(request.format)
    if entry is None:
        return Refusal(f"format {request.format!r} is not installed", known=known_by_name(request.format))
    _check_kind(entry, request.source)
    return _decide(entry, f"format={request.format!r} was given")


def _check_kind(entry: FormatHandle, source: Source) -> None:
    """A format named with format= must read this kind of source: in-memory arrays, or paths and URLs."""
    spec = entry.spec
    reads_arrays = "array" in spec.schemes
    arrays_only = set(spec.schemes) == {"array"} and not (spec.suffixes or spec.directories or entry.checks_content)
    if source.kind == "array" and not reads_arrays:
        raise ValidationError(
            f"{source}: format={entry.name!r} reads files, folders or URLs, not in-memory arrays; leave "
            "format= out to load an array",
            source=str(source),
        )
    if source.kind != "array" and arrays_only:
        raise ValidationError(
            f"{source}: format={entry.name!r} reads in-memory (numpy) arrays only, and this is a "
            f"{'URI' if source.kind == 'uri' else 'path'}; leave format= out to let stackio choose the format "
            "that reads it, or name one that does (`stackio formats` lists them)",
            source=str(source),
        )


def selecting_option(request: Request) -> Outcome:
    if not request.options:
        return None
    given = set(request.options)
    for entry in request.formats:
        chosen = sorted(set(entry.spec.selected_by) & given)
        if chosen:
            return _decide(entry, f"option {chosen[0]}= selects it")
    return None


def uri_scheme(request: Request) -> Outcome:
    """A URI: the formats declaring its scheme, then its suffix, an enclosing dataset's suffix, a
    marker name, and only then content (a ranged header read). A URL refused by scheme or suffix
    costs no request."""
    source = request.source
    if _is_local(source):
        return None
    scheme = source.scheme
    claiming = [e for e in request.formats if scheme in e.spec.schemes]
    if not claiming:
        schemes = sorted({s for e in request.formats for s in e.spec.schemes} | {"file"})
        return Refusal(f"no installed plugin reads the URI scheme {scheme!r} (schemes installed: {', '.join(schemes)})")
    if len(claiming) == 1 and not source.is_remote:
        return _decide(claiming[0], f"URI scheme {scheme!r}")
    source.storage_options = request.options.get("storage_options")
    why = f"URI scheme {scheme!r}"
    return (
        _remote_by_suffix(request, claiming, why)
        or _remote_by_name(request, claiming, why)
        or _remote_by_content(request, claiming, why)
    )


def _remote_by_suffix(request: Request, claiming: list[FormatHandle], why: str) -> Outcome:
    source = request.source
    for suffix in source.suffixes:
        preferred = _preferred(request, suffix)
        if preferred is not None and any(e.name == preferred.format for e in claiming):
            return attrs.evolve(preferred, reason=f"{why}; {preferred.reason}")
        claimed = [e for e in claiming if suffix in e.spec.suffixes]
        if len(claimed) == 1:
            return _decide(claimed[0], f"{why}; suffix {suffix}")
        if claimed:
            result = _by_content(request, claimed, f"{why}; suffix {suffix} is claimed by several formats")
            if isinstance(result, Decision):
                return result
            return Refusal(f"the formats claiming {suffix} all refused its content", tuple(result))
        local_only = sorted(e.name for e in request.formats if suffix in e.spec.suffixes)
        if local_only:
            return Refusal(
                f"the {', '.join(local_only)} format reads {suffix} files, but not over {source.scheme}:// (it "
                "declares no such scheme); download the file and load it from disk"
            )
    return None


def _remote_by_name(request: Request, claiming: list[FormatHandle], why: str) -> Outcome:
    source = request.source
    if source.uri is None or not source.is_remote:
        return None
    from urllib.parse import unquote, urlsplit

    segments = [unquote(p) for p in urlsplit(source.uri).path.split("/") if p][:-1]
    for segment in reversed(segments):
        for suffix in Source.parse(segment).suffixes:
            claimed = [e for e in claiming if e.spec.directories and suffix in e.spec.suffixes]
            if claimed:
                return _decide(claimed[0], f"{why}; inside a {suffix} dataset ({segment})")
    marked = [e for e in claiming if source.url_name in e.spec.markers]
    if marked:
        return _decide(marked[0], f"{why}; {source.url_name} is a {marked[0].name} marker")
    return None


def _remote_by_content(request: Request, claiming: list[FormatHandle], why: str) -> Outcome:
    source = request.source
    if len(claiming) == 1:
        return _decide(claiming[0], why)
    header = source.header  # one ranged request, shared by every plugin; failures other than 404 raise here
    result = _by_content(request, claiming, f"{why}, no suffix")
    if isinstance(result, Decision):
        return result
    if not header:
        raise SourceNotFoundError(
            f"{source}: nothing at this URL that an installed plugin reads: no file there (HTTP 404 / no such "
            "object) and no dataset metadata any plugin recognised; check the URL",
            source=str(source),
        )
    return Refusal(f"no installed plugin reads what is at this {source.scheme}:// URL", tuple(result))


def dataset_of(formats: Iterable[FormatHandle], folder: Path) -> FormatHandle | None:
    """The format owning the files of `folder` by its markers, if any (a few stat calls, no listing)."""
    owning = [e for e in formats if e.spec.owns_files]
    found = markers_in(folder, [m for e in owning for m in e.spec.markers])
    return next((e for e in owning if not found.isdisjoint(e.spec.markers)), None)


def inside_dataset(request: Request) -> Outcome:
    source = request.source
    if source.path is None or source.is_dir:
        return None
    if not source.exists:
        parent = next((p for p in source.path.parents if p.exists()), None)
        if parent is not None and parent.is_dir():
            ancestor = Source.parse(parent)
            container = next((e for e in request.formats if e.spec.claims_directory(ancestor)), None)
            if container is not None:
                # A missing group or array inside a store: its plugin can say what the store holds.
                return _decide(container, f"inside a {container.name} dataset")
        raise missing_path_error(source.path, source)
    parent = source.path.parent
    key = str(parent)
    if key not in request.folders:
        request.folders[key] = _parent_dataset(request, parent)
    return request.folders[key]


def _parent_dataset(request: Request, parent: Path) -> Outcome:
    container = dataset_of(request.formats, parent)
    if container is not None:
        return _decide(container, f"a file inside a {container.name} dataset ({parent})")
    missing = _known_missing(request)
    found = markers_in(parent, [m for k in missing for m in k.markers]) if missing else frozenset()
    known = next((k for k in missing if not found.isdisjoint(k.markers)), None)
    if known is not None:
        return Refusal(
            f"this file is part of a {known.name} dataset (the folder {parent} holds its markers) and is only "
            f"meaningful through it; load the folder {parent} with the {known.name} format "
            f"(`pip install {known.distribution}`)"
        )
    return None


def _known_missing(request: Request) -> list[KnownFormat]:
    from .hints import KNOWN_FORMATS

    installed = {e.name for e in request.formats}
    return [k for k in KNOWN_FORMATS if k.markers and k.name not in installed]


def directory(request: Request) -> Outcome:
    source = request.source
    if not source.is_dir:
        return None
    for suffix in source.suffixes:
        preferred = _preferred(request, suffix)
        if preferred is not None:
            return preferred
    claiming = [e for e in request.formats if e.spec.claims_directory(source)]
    if len(claiming) == 1:
        return _decide(claiming[0], "directory markers or suffix")
    verdicts: list[Verdict] = []
    if claiming:
        result = _by_content(request, claiming, "claimed as a dataset directory by several formats")
        if isinstance(result, Decision):
            return result
        verdicts += result
    others = [e for e in request.formats if e.spec.directories and e not in claiming]
    if others:
        result = _by_content(request, others, "directory")
        if isinstance(result, Decision):
            return result
    return PLAIN_FOLDER


def suffix(request: Request) -> Outcome:
    source = request.source
    if source.path is not None:
        _refuse_empty(source)
    for suffix in source.suffixes:
        preferred = _preferred(request, suffix)
        if preferred is not None:
            return preferred
        claiming = [e for e in request.formats if suffix in e.spec.suffixes]
        if len(claiming) == 1:
            return _decide(claiming[0], f"suffix {suffix}")
        if claiming:
            result = _by_content(request, claiming, f"suffix {suffix} is claimed by several formats")
            if isinstance(result, Decision):
                return result
            return Refusal(f"the formats claiming {suffix} all refused its content", tuple(result))
    return None


def _refuse_empty(source: Source) -> None:
    if _size(source) == 0:
        raise ReadError(
            f"{source}: the file is empty (0 bytes); it may not have been written completely", source=str(source)
        )


def _size(source: Source) -> int:
    assert source.path is not None
    if source.stat_info is None:  # gone since it was found (another program moved it)
        raise missing_path_error(source.path, source, vanished=True)
    return source.stat_info.st_size


def _refuse_special(source: Source) -> None:
    """A FIFO, device or socket would block or never end in any plugin: refused before one opens it
    (by the source's one stat, made when it was parsed)."""
    if source.path is None or source.stat_info is None or source.is_dir:
        return
    require_regular(source.path, source=source, what="the source", info=source.stat_info)


def content(request: Request) -> Outcome:
    checkable = [e for e in request.formats if e.checks_content]
    result = _by_content(request, checkable, "no format claims its suffix")
    if isinstance(result, Decision):
        return result
    last = request.source.suffixes[-1] if request.source.suffixes else "(none)"
    return Refusal(f"no installed plugin reads files with suffix {last}", tuple(result))


STEPS: tuple[Step, ...] = (format_given, selecting_option, uri_scheme, inside_dataset, directory, suffix, content)


def choose_format(
    registry: Registry,
    source: Source,
    *,
    format: str | None = None,
    options: Mapping[str, Any] | None = None,
    prefer: Mapping[str, str] | None = None,
    allow_plain_directory: bool = False,
    folders: dict[Any, Any] | None = None,
) -> Decision | None:
    """Pick the format for `source`, or raise an error that explains the refusals.

    Returns None only for a plain folder (no format claims it as a dataset)
    when `allow_plain_directory` is set: the caller then loads its files.
    `folders`: shared by calls with the same `format`, `options` and `prefer` (the files of a folder), so
    that a folder's markers are looked up once, and so that a regular file whose format was decided
    without a content check (by its folder, its suffixes or the options: the decision carries no verdict)
    decides the format of the next files of its folder with the same suffixes, each checked only to be
    a regular, non-empty file.
    """
    _refuse_special(source)
    shared_key = None
    if folders is not None and source.is_file and source.path is not None:
        shared_key = (os.path.dirname(source.path), tuple(source.suffixes))
        shared = folders.get(shared_key)
        if isinstance(shared, Decision):
            _refuse_empty(source)
            return shared
    request = Request(registry, source, format, options or {}, prefer or {}, registry.formats())
    if folders is not None:
        request.folders = folders
    for step in STEPS:
        outcome = step(request)
        if outcome is None:
            continue
        if isinstance(outcome, Decision):
            if shared_key is not None and not outcome.verdicts and folders is not None:
                folders[shared_key] = outcome
            return outcome
        if outcome == PLAIN_FOLDER:
            if allow_plain_directory:
                return None
            outcome = Refusal("no installed plugin reads this directory as a dataset")
        assert isinstance(outcome, Refusal)
        raise unsupported(registry, source, outcome)
    raise AssertionError("the content step always decides or refuses")


def installed_summary(registry: Registry) -> str:
    parts = []
    for entry in registry.formats():
        schemes = tuple("in-memory arrays" if s == "array" else f"{s}://" for s in entry.spec.schemes)
        claims = ", ".join(entry.spec.suffixes + schemes)
        parts.append(f"{entry.name} ({claims or 'content check'})")
    return "; ".join(parts) or "none"


def unsupported(registry: Registry, source: Source, refusal: Refusal) -> UnsupportedFormatError:
    """The one error for "no installed format reads this": the hint, every verdict, what is installed."""
    lines = [f"{source}: {refusal.what}."]
    known = refusal.known
    if known is not None and refusal.what.startswith("format ") and registry.format(known.name) is None:
        lines[0] += f" Install it with `pip install {known.distribution}`."
        known = None
    elif known is None and _is_local(source):
        names = source.names if source.is_dir else frozenset()
        known = known_format_for(source.suffixes, source.header if source.exists else b"", names)
    if known is not None and registry.format(known.name) is None:
        lines.append(f"It looks like {known.name}: install the plugin with `pip install {known.distribution}`.")
    tried = [f"  {v.format}: {v.status}: {v.reason}" for v in refusal.verdicts]
    if tried:
        lines.append("Plugins tried:\n" + "\n".join(tried))
    lines.append(f"Installed formats: {installed_summary(registry)}.")
    broken = registry.broken()
    if broken:
        lines.append("Broken plugins: " + "; ".join(f"{b.name} ({b.reason})" for b in broken) + ".")
    return UnsupportedFormatError("\n".join(lines), source=str(source))


def diagnose_source(registry: Registry, source: Source) -> list[Verdict]:
    """Every installed format's content verdict on `source`, whatever dispatch would pick."""
    if _is_local(source) and not source.exists:
        raise missing_path_error(source.path or str(source), source)
    out = []
    for entry in registry.formats():
        if not _is_local(source):
            claims = source.scheme in entry.spec.schemes
            reason = f"{'declares' if claims else 'does not declare'} scheme {source.scheme!r}"
            out.append(entry.verdict(Status.ACCEPTED if claims else Status.REFUSED, reason))
            continue
        out.append(entry.detect(source))
    return out


def claims_by_suffix(formats: list[FormatHandle], source: Source, suffixes: frozenset[str] | None = None) -> bool:
    """Whether some format claims `source` by suffix or directory markers (no content read).

    `suffixes`: `claimed_suffixes(formats)`, for a caller asking about many sources.
    """
    if source.is_dir:
        return any(e.spec.claims_directory(source) for e in formats)
    if suffixes is None:
        suffixes = claimed_suffixes(formats)
    return not suffixes.isdisjoint(source.suffixes)


def claimed_suffixes(formats: Iterable[FormatHandle]) -> frozenset[str]:
    """Every suffix some of `formats` claims."""
    return frozenset(s for e in formats for s in e.spec.suffixes)
