"""The functions users call: load, load_pairs, plan, detect, diagnose."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .axes import normalize_axes
from .dispatch import Decision, Verdict, choose_format, claimed_suffixes, claims_by_suffix, diagnose_source
from .errors import AxesError, StackioError, UnsupportedFormatError, ValidationError
from .files import list_folder, missing_path_error
from .hints import known_format_for
from .preferences import preferences
from .protocol import ImageStack
from .registry import BrokenPlugin, Registry, get_registry
from .source import Source
from .stacks import FileBackedStack, LazyStack


def natural_key(name: str) -> list[Any]:
    """Sort key that puts 'img2' before 'img10' (runs of decimal digits compare as numbers)."""
    # isdecimal, not isdigit: '²' is a digit that int() refuses, and `\d` does not split it off
    return [int(t) if t.isdecimal() else t.lower() for t in re.split(r"(\d+)", name)]


def _is_many(source: Any) -> bool:
    return isinstance(source, (list, tuple))


def _sources(source: Any) -> list[Source]:
    if _is_many(source):
        if not source:
            raise ValidationError("load() was given an empty list of sources; pass at least one path or array")
        parsed = [Source.parse(s) for s in source]
        kinds = {p.kind for p in parsed}
        if len(kinds) > 1:
            raise ValidationError(
                f"{[str(p) for p in parsed]}: a list of sources must be all paths, all URIs or all "
                f"arrays, not a mix of {', '.join(sorted(kinds))}; load them in separate calls",
                source=source,
            )
        return parsed
    return [Source.parse(source)]


@attrs.frozen
class Part:
    """One call of one format's `load`: a source (or a group of a plain folder's files) and its decision."""

    source: Source
    decision: Decision
    #: A file of a plain folder may give no stack (it is covered by another file of its set).
    allow_empty: bool = False


def plan(
    source: Any,
    *,
    format: str | None = None,
    prefer: Mapping[str, str] | None = None,
    recursive: bool = False,
    **options: Any,
) -> list[Part]:
    """How `load` would read `source`: which format reads what, in order (nothing is read beyond headers).

    A plain folder (no format claims it as a dataset) is divided among formats:
    a file inside it goes to the format its own suffix or content names; the
    files of a format declaring `file_sets` go to it as one group. Subfolders are
    read only with `recursive=True` (see `_divide`).
    """
    return _plan(get_registry(), _sources(source), format, options, preferences(prefer), recursive)


def _plan(
    registry: Registry,
    sources: list[Source],
    format: str | None,
    options: Mapping[str, Any],
    preferred: Mapping[str, str],
    recursive: bool = False,
) -> list[Part]:
    parts: list[Part] = []
    for src in sources:
        decision = choose_format(
            registry, src, format=format, options=options, prefer=preferred, allow_plain_directory=True
        )
        if decision is None or (format is None and _divided(registry, src, decision)):
            parts += _divide(registry, src, options, preferred, recursive)
        else:
            parts.append(Part(src, decision))
    return parts


def _divided(registry: Registry, source: Source, decision: Decision) -> bool:
    """Whether a folder a format accepted by content is divided among formats (it reads file sets)."""
    entry = registry.format(decision.format)
    return source.is_dir and entry is not None and entry.spec.file_sets and not entry.spec.claims_directory(source)


def _divide(
    registry: Registry, folder: Source, options: Mapping[str, Any], prefer: Mapping[str, str], recursive: bool = False
) -> list[Part]:
    seen = {_folder_id(folder.path)} if recursive and folder.path is not None else None
    parts = _folder_parts(registry, folder, options, prefer, seen)
    if not parts:
        raise _empty_folder(folder, recursive)
    return parts


def _folder_parts(
    registry: Registry,
    folder: Source,
    options: Mapping[str, Any],
    prefer: Mapping[str, str],
    seen: set[tuple[int, int]] | None,
) -> list[Part]:
    """The parts of a plain folder, in natural order; with `seen` (recursive), its plain subfolders' parts
    at their place in that order. A subfolder that is a dataset (a zarr store, an NDTiff folder) is one
    source; hidden entries (`.git`, `.zattrs`) are skipped; a folder reached again (a symlink loop) is not
    entered twice."""
    assert folder.path is not None
    formats = registry.formats()
    suffixes = claimed_suffixes(formats)
    parts: list[Part] = []
    groups: dict[str, list[Source]] = {}
    known: dict[Any, Any] = {}  # the folder's markers and the decisions its files share, found once for all its files
    for name in sorted(list_folder(folder.path, folder), key=natural_key):
        if name.startswith("."):
            continue
        child = Source.listed(folder.path, name)
        if seen is not None and child.is_dir:
            parts += _subfolder(registry, child, options, prefer, seen)
            continue
        if not claims_by_suffix(formats, child, suffixes):
            continue
        if not child.exists:
            raise missing_path_error(folder.path / name, child, vanished=True)
        decision = choose_format(registry, child, options=options, prefer=prefer, folders=known)
        assert decision is not None
        entry = registry.format(decision.format)
        if entry is not None and entry.spec.file_sets and not child.is_dir:
            if decision.format not in groups:
                groups[decision.format] = []
                parts.append(Part(folder, decision))  # placeholder, at the position of the group's first file
            groups[decision.format].append(child)
            continue
        parts.append(Part(child, decision, allow_empty=True))
    return [_grouped(folder, p, groups) if p.source is folder else p for p in parts]


def _folder_id(path: Path) -> tuple[int, int]:
    try:
        info = os.stat(path)
    except OSError:  # gone since it was listed
        raise missing_path_error(path, path, vanished=True) from None
    return info.st_dev, info.st_ino


def _subfolder(
    registry: Registry,
    child: Source,
    options: Mapping[str, Any],
    prefer: Mapping[str, str],
    seen: set[tuple[int, int]],
) -> list[Part]:
    """A subfolder met while reading recursively: one part if it is a dataset, else its own parts."""
    assert child.path is not None
    decision = choose_format(registry, child, options=options, prefer=prefer, allow_plain_directory=True)
    if decision is not None and not _divided(registry, child, decision):
        return [Part(child, decision, allow_empty=True)]
    key = _folder_id(child.path)
    if key in seen:
        return []
    seen.add(key)
    return _folder_parts(registry, child, options, prefer, seen)


def _grouped(folder: Source, part: Part, groups: dict[str, list[Source]]) -> Part:
    members = groups[part.decision.format]
    group = Source.parse(folder.path)
    group.members = tuple(m.path for m in members if m.path is not None)
    reason = f"{len(members)} file(s) of a plain folder, read together by {part.decision.format}"
    decision = attrs.evolve(part.decision, reason=reason, verdicts=())
    return Part(group, decision)


def _empty_folder(folder: Source, recursive: bool = False) -> UnsupportedFormatError:
    known = known_format_for([], b"", folder.names)
    hint = f" It looks like {known.name}: `pip install {known.distribution}`." if known is not None else ""
    assert folder.path is not None
    subfolders = [n for n in folder.names if not n.startswith(".") and (folder.path / n).is_dir()]
    if recursive:
        where = "the directory and its subfolders hold"
    else:
        where = "the directory holds"
        if subfolders:
            hint += f" It has {len(subfolders)} subfolder(s): pass recursive=True to read them."
    return UnsupportedFormatError(
        f"{folder}: {where} no file or dataset that an installed plugin reads "
        f"(it has {len(folder.names)} entries); check the folder, or install the plugin for its "
        f"files (`stackio formats` lists what is installed).{hint}",
        source=str(folder),
    )


def _check_axes(axes: Any, source: Source) -> str | None:
    if axes is None:
        return None
    normalize_axes(axes, source=str(source))
    return axes.upper()


def _load_part(
    registry: Registry, part: Part, axes: str | None, in_memory: bool | None, options: dict[str, Any]
) -> list[ImageStack]:
    entry = registry.format(part.decision.format)
    assert entry is not None
    checked = entry.validate(part.source, axes, options)
    stacks = entry.load(part.source, axes, checked, allow_empty=part.allow_empty)
    if entry.spec.in_memory_default if in_memory is None else in_memory:
        stacks = [_into_memory(s) for s in stacks]
    return stacks


def _into_memory(stack: ImageStack) -> ImageStack:
    if isinstance(stack, (LazyStack, FileBackedStack)):
        memory = stack.to_memory()
        stack.close()
        return memory
    return stack


def load(
    source: Any,
    axes: str | None = None,
    *,
    format: str | None = None,
    in_memory: bool | None = None,
    prefer: Mapping[str, str] | None = None,
    recursive: bool = False,
    # h6writing: `save`/`create` (the write side) belong beside `load` here, calling `FormatHandle.write`.
    **options: Any,
) -> list[ImageStack]:
    """Load image stacks from a path, URI, directory, array, or a list of them.

    `axes` describes the data (see each format's rules); None where the format's
    metadata says. `format=` skips detection; `prefer={".tif": "tiff"}` settles
    which format reads a suffix. `in_memory=None` (the default) leaves it to the
    format: lazy (patches read from disk on demand) for all but read functions;
    True reads everything into memory once; False is always lazy. `recursive=True`
    also reads a plain folder's subfolders (a dataset folder inside is one source).
    Other keyword options go to the format's plugin, checked against its declared options.
    """
    registry = get_registry()
    sources = _sources(source)
    for src in sources:
        norm_axes = _check_axes(axes, src)
    stacks: list[ImageStack] = []
    for part in _plan(registry, sources, format, options, preferences(prefer), recursive):
        stacks += _load_part(registry, part, norm_axes, in_memory, options)
    return stacks


def load_pairs(
    inputs: Any, targets: Any, axes: str | None = None, *, recursive: bool = False, **options: Any
) -> list[tuple[ImageStack, ImageStack]]:
    """Load inputs and targets alike and pair their stacks in order (CARE, Noise2Noise).

    Each pair must agree in the number of samples and the spatial shape. `recursive=True`
    reads folders with their subfolders (both trees in the same natural order).
    """
    ins = load(inputs, axes, recursive=recursive, **options)
    outs = load(targets, axes, recursive=recursive, **options)
    if len(ins) != len(outs):
        raise ValidationError(
            f"{inputs!r} gave {len(ins)} stack(s) but {targets!r} gave {len(outs)}; "
            "inputs and targets must pair one to one",
            source=inputs,
        )
    for i, (a, b) in enumerate(zip(ins, outs, strict=True)):
        if a.data_shape[0] != b.data_shape[0] or a.data_shape[2:] != b.data_shape[2:]:
            raise ValidationError(
                f"pair {i}: input {a.source} has shape {a.data_shape} ({a.axes}) but target "
                f"{b.source} has {b.data_shape} ({b.axes}); samples and spatial sizes must agree",
                source=a.source,
            )
    return list(zip(ins, outs, strict=True))


def detect(
    source: Any, *, format: str | None = None, prefer: Mapping[str, str] | None = None, **options: Any
) -> Decision:
    """Which format would load `source`, and why (nothing is read beyond a header)."""
    src = Source.parse(source)
    decision = choose_format(get_registry(), src, format=format, options=options, prefer=preferences(prefer))
    assert decision is not None
    return decision


@attrs.frozen
class Diagnosis:
    """Every installed format's verdict on a source, what dispatch picks, and broken plugins."""

    source: str
    verdicts: tuple[Verdict, ...]
    chosen: Decision | None
    error: str | None
    broken: tuple[BrokenPlugin, ...]
    #: No format reads it as one dataset, but its files are loaded by their formats.
    plain_folder: bool = False

    @property
    def exit_code(self) -> int:
        """What `stackio diagnose` exits with: 0 when the source would load, else 1."""
        return 0 if self.chosen is not None or self.plain_folder else 1


def diagnose(source: Any) -> Diagnosis:
    """Report what every installed plugin makes of `source`."""
    registry = get_registry()
    src = Source.parse(source)
    verdicts = diagnose_source(registry, src)
    chosen, error, plain = None, None, False
    try:
        chosen = choose_format(registry, src, prefer=preferences(None), allow_plain_directory=True)
        plain = chosen is None
    except StackioError as exc:
        error = str(exc)
    if plain:
        error = "a plain directory: each file in it is loaded on its own"
    return Diagnosis(str(src), tuple(verdicts), chosen, error, tuple(registry.broken()), plain)


def require_axes(axes: str | None, shape: Sequence[int], source: object, why: str = "") -> str:
    """Return `axes`, or raise the standard error asking for them (with the shape)."""
    if axes is not None:
        return axes
    ndim = len(shape)
    example = {2: "YX", 3: "ZYX", 4: "CZYX", 5: "TCZYX"}.get(ndim, "YX")
    raise AxesError(
        f"{source}: axes are needed{why}; the data has shape {tuple(shape)}, so pass "
        f"{ndim} letters from STCZYX, e.g. axes={example!r}",
        source=str(source),
    )
