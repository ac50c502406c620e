"""The functions users call: load, load_pairs, detect, diagnose."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .axes import normalize_axes
from .dispatch import Decision, Verdict, choose_format, claims_by_suffix, diagnose_source
from .errors import AxesError, PluginError, ReadError, StackioError, UnsupportedFormatError, ValidationError
from .preferences import preferences
from .protocol import ImageStack, protocol_problems
from .registry import BrokenPlugin, Registry, get_registry
from .source import Source
from .stacks import ArrayStack, FileBackedStack, LazyStack

_CORE_STACKS = (LazyStack, ArrayStack, FileBackedStack)


def natural_key(name: str) -> list[Any]:
    """Sort key that puts 'img2' before 'img10'."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


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


def _expand_directory(registry: Registry, source: Source) -> list[Source]:
    formats = registry.formats()
    children = []
    assert source.path is not None
    for name in sorted(os.listdir(source.path), key=natural_key):
        if name.startswith("."):
            continue
        child = Source.parse(source.path / name)
        child.expanded_from = source.path
        if claims_by_suffix(formats, child):
            children.append(child)
    if not children:
        raise UnsupportedFormatError(
            f"{source}: the directory holds no file or dataset that an installed plugin reads "
            f"(it has {len(source.names)} entries); check the folder, or install the plugin for its "
            "files (`stackio formats` lists what is installed)",
            source=str(source),
        )
    return children


def _check_axes(axes: Any, source: Source) -> str | None:
    if axes is None:
        return None
    normalize_axes(axes, source=str(source))
    return axes.upper()


def _load_one(
    registry: Registry,
    source: Source,
    decision: Decision,
    axes: str | None,
    in_memory: bool | None,
    options: dict[str, Any],
) -> list[ImageStack]:
    entry = registry.format(decision.format)
    assert entry is not None
    if in_memory is None:
        in_memory = entry.spec.in_memory_default
    unknown = sorted(set(options) - set(entry.spec.options))
    if unknown and not entry.spec.pass_through_options:
        accepted = ", ".join(entry.spec.options) or "none"
        raise ValidationError(
            f"{source}: the {entry.name} format does not take the option(s) {', '.join(unknown)}; "
            f"it accepts: {accepted}",
            source=str(source),
        )
    where = f"plugin {entry.plugin!r} ({entry.distribution or 'built-in'})"
    try:
        registry.call(entry.plugin, "stackio_validate", format=entry.name, source=source, axes=axes, options=options)
    except StackioError:
        raise
    except Exception as exc:
        raise PluginError(
            f"{source}: {where} crashed while validating: {type(exc).__name__}: {exc}", source=str(source)
        ) from exc
    try:
        stacks = registry.call(
            entry.plugin,
            "stackio_load",
            format=entry.name,
            source=source,
            axes=axes,
            options=options,
            in_memory=in_memory,
        )
    except StackioError:
        raise
    except MemoryError as exc:
        raise ReadError(
            f"{source}: not enough memory to load it; load it lazily (in_memory=False)", source=str(source)
        ) from exc
    except Exception as exc:
        raise ReadError(
            f"{source}: {where} could not read it ({type(exc).__name__}: {exc}). The file may be "
            f"truncated or corrupt; if it opens elsewhere, report this to {entry.distribution or 'stackio'}",
            source=str(source),
        ) from exc
    if stacks is None:
        raise PluginError(f"{source}: {where} has no stackio_load hook", source=str(source))
    stacks = list(stacks)
    if not stacks:
        if source.expanded_from is not None:
            return []  # e.g. a later file of a multi-file set, already read through its first file
        raise ReadError(
            f"{source}: {where} found no image in it; check that it is a complete file of that format "
            "(`stackio diagnose` shows every plugin's verdict)",
            source=str(source),
        )
    for stack in stacks:
        # The core's own stack classes satisfy the protocol by construction; check anything else.
        problems = [] if type(stack) in _CORE_STACKS else protocol_problems(stack)
        if problems:
            raise PluginError(
                f"{source}: {where} returned an object that is not an ImageStack: {'; '.join(problems)}",
                source=str(source),
            )
        if 0 in tuple(stack.data_shape):
            # an empty axis is a corrupt or empty file; as a stack it would only fail later, far from here
            raise ReadError(
                f"{stack.source}: holds no pixels: its shape is {tuple(stack.data_shape)} ({stack.axes}); "
                "the file may be corrupt or was written empty",
                source=str(stack.source),
            )
    if in_memory:
        stacks = [_into_memory(s) for s in stacks]
    return stacks


def _into_memory(stack: ImageStack) -> ImageStack:
    if isinstance(stack, LazyStack):
        memory = stack.to_memory()
        stack.close()
        return memory
    if isinstance(stack, FileBackedStack):
        stack.load()
    return stack


def load(
    source: Any,
    axes: str | None = None,
    *,
    format: str | None = None,
    in_memory: bool | None = None,
    prefer: Mapping[str, str] | None = None,
    **options: Any,
) -> list[ImageStack]:
    """Load image stacks from a path, URI, directory, array, or a list of them.

    `axes` describes the data (see each format's rules); None where the format's
    metadata says. `format=` skips detection; `prefer={".tif": "tiff"}` settles
    which format reads a suffix. With `in_memory=False` patches are read from
    disk on demand; None leaves it to the format (lazy for all but read functions).
    Other keyword options go to the format's plugin.
    """
    registry = get_registry()
    preferred = preferences(prefer)
    stacks: list[ImageStack] = []
    for src in _sources(source):
        norm_axes = _check_axes(axes, src)
        decision = choose_format(
            registry, src, format=format, options=options, prefer=preferred, allow_plain_directory=True
        )
        if decision is None:
            for child in _expand_directory(registry, src):
                child_decision = choose_format(registry, child, options=options, prefer=preferred)
                assert child_decision is not None
                stacks += _load_one(registry, child, child_decision, norm_axes, in_memory, options)
            continue
        stacks += _load_one(registry, src, decision, norm_axes, in_memory, options)
    return stacks


def load_pairs(
    inputs: Any, targets: Any, axes: str | None = None, **options: Any
) -> list[tuple[ImageStack, ImageStack]]:
    """Load inputs and targets alike and pair their stacks in order (CARE, Noise2Noise).

    Each pair must agree in the number of samples and the spatial shape.
    """
    ins = load(inputs, axes, **options)
    outs = load(targets, axes, **options)
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


def diagnose(source: Any) -> Diagnosis:
    """Report what every installed plugin makes of `source`."""
    registry = get_registry()
    src = Source.parse(source)
    verdicts = diagnose_source(registry, src)
    chosen, error = None, None
    try:
        chosen = choose_format(registry, src, prefer=preferences(None), allow_plain_directory=True)
    except StackioError as exc:
        error = str(exc)
    if chosen is None and error is None:
        error = "a plain directory: each file in it is loaded on its own"
    return Diagnosis(str(src), tuple(verdicts), chosen, error, tuple(registry.broken()))


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
