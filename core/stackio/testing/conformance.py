"""The conformance suite a plugin author runs on their plugin before publishing it.

In the plugin's tests::

    from stackio.testing.conformance import PluginConformance

    class TestMyFormatConformance(PluginConformance):
        plugin = "stackio_myformat"          # the entry-point module
        heavy_modules = ("myformatlib",)     # must not be imported at discovery or detection

The suite writes the plugin's samples (`stackio_write_samples`), adds any
`extra_samples`, and checks the declaration, discovery cost, detection,
validation and every stack the samples load (shapes, axes, dtype, C(Z)YX
patches, zero fill at edges, errors outside, `source`, pickling, metadata).
The `check_*` functions work without pytest and return a list of problems.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import json
import math
import os
import pickle
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from ..errors import AxesError, PatchBoundsError, PluginError, StackioError
from ..formats import FormatSpec
from ..hookspecs import Sample
from ..metadata import Metadata
from ..protocol import ImageStack, protocol_problems
from ..registry import ENTRY_POINT_GROUP, Registry, get_registry
from ..source import Source
from ..verdict import Status

#: Modules no plugin's entry-point module may import, whatever it reads: the core's own promise that
#: `import stackio` and discovery stay light. Each plugin's format libraries come from its declarations
#: (`FormatSpec.heavy_modules`), those of every installed plugin included.
CORE_HEAVY_MODULES = ("dask", "torch", "napari", "fsspec", "xarray", "pandas")


def declared_heavy_modules() -> set[str]:
    """The heavy modules every installed format declares."""
    return {m for entry in get_registry().formats() for m in entry.spec.heavy_modules}


STACK_AXES = ("SCYX", "SCZYX", "SCTYX")
#: At most this many stacks of one sample go through the stack checks.
STACKS_PER_SAMPLE = 3


# -- declarations and discovery ------------------------------------------------------


def _scratch(module: object, name: str) -> Registry:
    registry = Registry(entry_points=())  # the built-ins only: installed plugins are not consulted
    registry.register(module, name=name)
    return registry


def declared_formats(module: object, name: str = "conformance") -> list[FormatSpec]:
    """The formats `module` declares, registered into a scratch registry (raises PluginError)."""
    return [e.spec for e in _scratch(module, name).formats() if e.plugin == name]


def check_declaration(module: object) -> list[str]:
    """Problems with a plugin's hooks and format declarations."""
    try:
        registry = _scratch(module, "conformance")
    except PluginError as exc:
        return [str(exc)]
    handles = [e for e in registry.formats() if e.plugin == "conformance"]
    problems = []
    if not handles:
        problems.append("declares no format: stackio_register_formats must call register(FormatSpec(...))")
    if handles and not handles[0].loads:
        problems.append("has no stackio_load hook")
    for handle in handles:
        spec = handle.spec
        if not spec.description:
            problems.append(f"format {spec.name!r} has no description (shown by `stackio formats`)")
        if not (spec.suffixes or spec.schemes or spec.markers or spec.selected_by or handle.checks_content):
            problems.append(
                f"format {spec.name!r} claims no suffix, scheme, marker or selecting option and has no "
                "content check (stackio_detect or magic): nothing can ever dispatch to it"
            )
        missing = [o for o in spec.selected_by if o not in spec.option_names]
        if missing:
            problems.append(f"format {spec.name!r} is selected by {missing} but does not list them in options")
    return problems


_PROBE = r"""
import importlib, json, sys
import stackio
from stackio.registry import Registry
from stackio.source import Source
heavy, plugin, sources = json.loads(sys.argv[1])
before = set(sys.modules)
module = importlib.import_module(plugin)
registry = Registry(entry_points=())
registry.register(module, name="probe")
handles = [e for e in registry.formats() if e.plugin == "probe"]
heavy = sorted({*heavy, *(m for e in handles for m in e.spec.heavy_modules)})
def new(m):
    return any(k == m or k.startswith(m + ".") for k in set(sys.modules) - before)
after_discovery = sorted(m for m in heavy if new(m))
for text in sources:
    for handle in handles:
        handle.detect(Source.parse(text))  # a crash is a verdict, never an exception
after_detection = sorted(m for m in heavy if new(m))
print(json.dumps({"heavy": heavy, "discovery": after_discovery, "detection": after_detection}))
"""


def check_cheap_discovery(plugin: str, heavy_modules: Sequence[str] = (), sources: Sequence[str] = ()) -> list[str]:
    """Import `plugin`, declare its formats and detect `sources` in a fresh process; no heavy import allowed.

    Heavy are `heavy_modules`, the core's `CORE_HEAVY_MODULES`, the plugin's declared ones and those every
    installed plugin declares.
    """
    heavy = sorted({*CORE_HEAVY_MODULES, *declared_heavy_modules(), *heavy_modules})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps([heavy, plugin, list(sources)])],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if proc.returncode != 0:
        return [f"importing {plugin} and declaring its formats failed in a fresh process:\n{proc.stderr[-2000:]}"]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    problems = []
    if found["discovery"]:
        problems.append(
            f"importing {plugin} and declaring its formats imported {found['discovery']}; import format "
            "libraries inside the functions that read, not at module level"
        )
    late = sorted(set(found["detection"]) - set(found["discovery"]))
    if late:
        problems.append(f"stackio_detect imported {late}; detection must read only source.header/names")
    return problems


def entry_point_for(plugin: str) -> Any:
    """The installed 'stackio' entry point whose target is the module `plugin`, or None."""
    import importlib_metadata

    for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.value.split(":")[0].strip() == plugin:
            return ep
    return None


# -- foreign content -------------------------------------------------------------------


def _png_bytes(height: int = 4, width: int = 5) -> bytes:
    """A valid 8-bit grayscale PNG, written without any imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(range(width)) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def write_foreign_sources(directory: Path, specs: Sequence[FormatSpec]) -> dict[str, list[Path]]:
    """Sources a plugin's formats must refuse: junk under their own suffixes, and other formats' files.

    Returns {"junk": files or folders named like the plugin's own, in a folder named after the
    format they imitate, "other": everything else}.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    claimed = {s for spec in specs for s in spec.suffixes}
    junk: list[Path] = []
    for spec in specs:
        folder = directory / spec.name  # the folder names the format the junk imitates
        folder.mkdir(exist_ok=True)
        for suffix in spec.suffixes[:3]:
            path = folder / f"junk{suffix}"
            path.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
            junk.append(path)
            if spec.directories:
                empty_dataset = folder / f"empty{suffix}"
                empty_dataset.mkdir(exist_ok=True)
                junk.append(empty_dataset)
    other = []
    text = directory / "notes.txt"
    text.write_text("not an image\n" * 20)
    binary = directory / "random.bin"
    binary.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    empty = directory / "empty-folder"
    empty.mkdir(exist_ok=True)
    other += [text, binary, empty]
    if ".npy" not in claimed:
        np.save(directory / "array.npy", np.zeros((4, 5), np.uint8))
        other.append(directory / "array.npy")
    if ".png" not in claimed:
        (directory / "image.png").write_bytes(_png_bytes())
        other.append(directory / "image.png")
    return {"junk": junk, "other": other}


# -- stacks ----------------------------------------------------------------------------


def _full(stack: ImageStack, sample: int) -> np.ndarray:
    spatial = tuple(stack.data_shape[2:])
    return stack.extract_patch(sample, None, (0,) * len(spatial), spatial)


def _expect_bounds_error(problems: list[str], where: str, what: str, call: Any) -> None:
    try:
        call()
    except PatchBoundsError:
        return
    except Exception as exc:
        problems.append(f"{where}: {what} raised {type(exc).__name__}: {exc}, not PatchBoundsError")
        return
    problems.append(f"{where}: {what} returned a patch instead of raising PatchBoundsError")


def check_stack_protocol(stack: object) -> list[str]:
    """Problems with a stack's members, shapes, axes and dtype (no data read)."""
    problems = [f"not an ImageStack: {p}" for p in protocol_problems(stack)]
    if problems:
        return problems
    s: Any = stack
    where = s.source or "<stack>"
    shape, orig_shape = tuple(s.data_shape), tuple(s.original_data_shape)
    if s.axes not in STACK_AXES:
        problems.append(f"{where}: axes {s.axes!r} is not one of {STACK_AXES}")
    if any(int(n) < 1 for n in shape):
        problems.append(f"{where}: data_shape {shape} has an empty axis")
    if len(s.original_axes) != len(orig_shape):
        problems.append(f"{where}: original_axes {s.original_axes!r} does not match original_data_shape {orig_shape}")
    if not {"Y", "X"} <= set(s.original_axes):
        problems.append(f"{where}: original_axes {s.original_axes!r} lacks Y or X")
    if math.prod(shape) != math.prod(orig_shape):
        problems.append(
            f"{where}: data_shape {shape} and original_data_shape {orig_shape} hold different numbers of values"
        )
    if not s.source:
        problems.append("source is empty: it must recreate the stack")
    return problems


def check_stack_patches(stack: ImageStack, samples: Sequence[int] | None = None) -> list[str]:
    """Problems with a stack's patches: layout, dtype, sub-regions, channels, zero fill, errors outside."""
    problems: list[str] = []
    where = stack.source
    shape = tuple(int(n) for n in stack.data_shape)
    n_samples, n_channels, *spatial = shape
    dtype = np.dtype(stack.data_dtype)
    zeros = (0,) * len(spatial)
    for sample in samples if samples is not None else sorted({0, n_samples - 1}):
        at = f"{where} sample {sample}"
        full = _full(stack, sample)
        if not isinstance(full, np.ndarray):
            problems.append(f"{at}: extract_patch returned {type(full).__name__}, not a numpy array")
            continue
        if full.shape != (n_channels, *spatial):
            problems.append(
                f"{at}: the whole-sample patch has shape {full.shape}, expected C(Z)YX {(n_channels, *spatial)}"
            )
            continue
        if full.dtype != dtype:
            problems.append(f"{at}: patches are {full.dtype} but data_dtype is {dtype}")
        again = _full(stack, sample)
        if not np.array_equal(full, again, equal_nan=dtype.kind in "fc"):
            problems.append(f"{at}: reading the same patch twice gave different data")
        if full.flags.writeable:
            full_copy = full.copy()
            full.flat[0] = 1 if full.flat[0] == 0 else 0
            if not np.array_equal(_full(stack, sample), full_copy, equal_nan=dtype.kind in "fc"):
                problems.append(f"{at}: writing into a returned patch changed the stack; return copies")
            full = full_copy
        size = tuple(max(1, n // 2) for n in spatial)
        start = tuple(n // 4 for n in spatial)
        inner = stack.extract_patch(sample, None, start, size)
        region = full[(slice(None), *(slice(a, a + b) for a, b in zip(start, size, strict=True)))]
        if inner.shape != region.shape or not np.array_equal(inner, region, equal_nan=dtype.kind in "fc"):
            problems.append(f"{at}: the patch at {start} of size {size} differs from that region of the whole")
        if n_channels > 1:
            picked = stack.extract_patch(sample, [n_channels - 1, 0], zeros, tuple(spatial))
            if not np.array_equal(picked, full[[n_channels - 1, 0]], equal_nan=dtype.kind in "fc"):
                problems.append(f"{at}: channels=[{n_channels - 1}, 0] does not give those channels in that order")
        one = stack.extract_patch(sample, [0], zeros, tuple(spatial))
        if one.shape != (1, *spatial):
            problems.append(f"{at}: channels=[0] gave shape {one.shape}, expected {(1, *spatial)}")
        # Patches hanging over the far and the near edges: zero outside, the image inside.
        for sign in (1, -1):
            shift = tuple(sign * (n // 2) for n in spatial)
            patch = stack.extract_patch(sample, None, shift, tuple(spatial))
            expected = np.zeros_like(full)
            src = tuple(slice(max(c, 0), n + min(c, 0)) for c, n in zip(shift, spatial, strict=True))
            dst = tuple(slice(max(-c, 0), n - max(c, 0)) for c, n in zip(shift, spatial, strict=True))
            expected[(slice(None), *dst)] = full[(slice(None), *src)]
            if patch.shape != expected.shape or not np.array_equal(patch, expected, equal_nan=dtype.kind in "fc"):
                side = "far" if sign > 0 else "near"
                problems.append(f"{at}: a patch at {shift} over the {side} edges is not the image with zeros outside")
        _expect_bounds_error(
            problems,
            at,
            f"a patch starting at the extent {tuple(spatial)}",
            lambda s=sample: stack.extract_patch(s, None, tuple(spatial), (1,) * len(spatial)),
        )
        _expect_bounds_error(
            problems,
            at,
            "a patch wholly before the origin",
            lambda s=sample: stack.extract_patch(s, None, (-2,) * len(spatial), (2,) * len(spatial)),
        )
    _expect_bounds_error(
        problems,
        where,
        f"sample_idx={n_samples}",
        lambda: stack.extract_patch(n_samples, None, zeros, (1,) * len(spatial)),
    )
    _expect_bounds_error(
        problems,
        where,
        f"channels=[{n_channels}]",
        lambda: stack.extract_patch(0, [n_channels], zeros, (1,) * len(spatial)),
    )
    _expect_bounds_error(
        problems,
        where,
        "coords with one value too many",
        lambda: stack.extract_patch(0, None, (0, *zeros), (1, *(1,) * len(spatial))),
    )
    return problems


def check_metadata(stack: ImageStack) -> list[str]:
    """Problems with the types and values of a stack's metadata."""
    meta, where = stack.metadata, stack.source
    if not isinstance(meta, Metadata):
        return [f"{where}: metadata is {type(meta).__name__}, not stackio.Metadata"]
    problems = []
    for field in ("voxel_size", "units", "offset"):
        mapping = getattr(meta, field)
        if mapping is None:
            continue
        if not isinstance(mapping, dict):
            problems.append(f"{where}: metadata.{field} is {type(mapping).__name__}, not a dict")
            continue
        bad_keys = [k for k in mapping if k not in "TZYX" or len(k) != 1]
        if bad_keys:
            problems.append(f"{where}: metadata.{field} has keys {bad_keys}; use axis letters T, Z, Y, X")
        for key, value in mapping.items():
            if field == "units":
                if not isinstance(value, str) or not value:
                    problems.append(f"{where}: metadata.units[{key!r}] = {value!r} is not a unit name")
            elif value is not None and not (isinstance(value, (int, float, np.number)) and math.isfinite(value)):
                problems.append(f"{where}: metadata.{field}[{key!r}] = {value!r} is not a finite number")
            elif field == "voxel_size" and value is not None and value <= 0:
                problems.append(f"{where}: metadata.voxel_size[{key!r}] = {value!r} is not positive")
    if meta.channel_names is not None and len(meta.channel_names) != stack.data_shape[1]:
        problems.append(f"{where}: {len(meta.channel_names)} channel_names for {stack.data_shape[1]} channels")
    try:
        json.dumps(meta.to_dict())
    except (TypeError, ValueError) as exc:
        problems.append(f"{where}: metadata.to_dict() is not JSON-ready ({exc})")
    try:
        meta.raw()
    except Exception as exc:
        problems.append(f"{where}: metadata.raw() raised {type(exc).__name__}: {exc}")
    return problems


def check_stack(stack: ImageStack) -> list[str]:
    """Every in-process check of one stack: protocol, patches and metadata."""
    problems = check_stack_protocol(stack)
    if problems:
        return problems
    try:
        return check_stack_patches(stack) + check_metadata(stack)
    except Exception as exc:
        return [f"{stack.source}: reading patches raised {type(exc).__name__}: {exc}"]


def same_data(a: ImageStack, b: ImageStack) -> list[str]:
    """Problems where two stacks that should be equal are not (shape, dtype, axes, first/last sample)."""
    where = a.source
    left = (a.axes, tuple(a.data_shape), np.dtype(a.data_dtype))
    right = (b.axes, tuple(b.data_shape), np.dtype(b.data_dtype))
    if left != right:
        return [f"{where}: {left} vs {right} (axes, data_shape, dtype)"]
    equal_nan = np.dtype(a.data_dtype).kind in "fc"
    for sample in sorted({0, a.data_shape[0] - 1}):
        if not np.array_equal(_full(a, sample), _full(b, sample), equal_nan=equal_nan):
            return [f"{where}: sample {sample} differs"]
    return []


# -- the pytest class ------------------------------------------------------------------


def _read_at(stack: ImageStack, size: tuple[int, ...], request: tuple[int, tuple[int, ...]]) -> np.ndarray:
    return stack.extract_patch(request[0], None, request[1], size)


def _close(stacks: Sequence[object]) -> None:
    for stack in stacks:
        close = getattr(stack, "close", None)
        if callable(close):
            close()


def _fail(problems: list[str], what: str) -> None:
    if problems:
        pytest.fail(f"{what}:\n  - " + "\n  - ".join(problems), pytrace=False)


class PluginConformance:
    """Subclass as `TestXxxConformance` and set `plugin` to the plugin's entry-point module name."""

    #: Import name of the plugin's entry-point module, e.g. "stackio_png".
    plugin: ClassVar[str] = ""
    #: Modules that must not be imported at discovery or detection (common format libraries are added).
    heavy_modules: ClassVar[tuple[str, ...]] = ()
    #: Samples beyond those the plugin writes (files the author ships with the tests).
    extra_samples: ClassVar[tuple[Sample, ...]] = ()
    #: Whether the plugin must be installed (found through its entry point).
    require_entry_point: ClassVar[bool] = True

    # -- fixtures -----------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_plugin(cls) -> Iterator[str]:
        """The plugin's name in the process registry (registered in-process when not installed)."""
        if not cls.plugin:
            pytest.fail(f"{cls.__name__}: set `plugin` to the plugin's module name", pytrace=False)
        module = importlib.import_module(cls.plugin)
        registry = get_registry()
        registry.plugins()  # discover installed plugins first
        name = registry.plugin_name(module)
        if name is not None:
            yield name
            return
        name = cls.plugin
        registry.register(module, name=name)
        try:
            yield name
        finally:
            registry.unregister(name)

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_formats(cls, conformance_plugin: str) -> list[FormatSpec]:
        registry = get_registry()
        return [e.spec for e in registry.formats() if e.plugin == conformance_plugin]

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_samples(cls, conformance_plugin: str, tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
        """The plugin's own samples plus `extra_samples`."""
        directory = tmp_path_factory.mktemp(f"{cls.plugin}-samples")
        written = get_registry().write_samples(conformance_plugin, directory) or []
        return [*written, *cls.extra_samples]

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_foreign(
        cls, conformance_formats: list[FormatSpec], tmp_path_factory: pytest.TempPathFactory
    ) -> dict[str, list[Path]]:
        return write_foreign_sources(tmp_path_factory.mktemp(f"{cls.plugin}-foreign"), conformance_formats)

    @staticmethod
    def _load(sample: Sample, axes: Any = "same", **extra: Any) -> list[ImageStack]:
        import stackio

        return stackio.load(sample.source, sample.axes if axes == "same" else axes, **{**sample.options, **extra})

    def _each_stack(self, samples: list[Sample], **extra: Any) -> Iterator[tuple[Sample, list[ImageStack]]]:
        if not samples:
            # A plugin without samples would pass every stack check without being checked at all.
            pytest.fail(
                "the plugin wrote no samples and no extra_samples are given, so no stack can be checked; "
                "write a few small files in stackio_write_samples",
                pytrace=False,
            )
        for sample in samples:
            stacks = self._load(sample, **extra)
            try:
                yield sample, stacks[:STACKS_PER_SAMPLE]
            finally:
                _close(stacks)

    # -- declaration and discovery -------------------------------------------------------

    def test_declaration_is_valid(self, conformance_plugin: str) -> None:
        _fail(check_declaration(importlib.import_module(self.plugin)), f"{self.plugin}'s declaration")

    def test_found_through_entry_point(self) -> None:
        if not self.require_entry_point:
            pytest.skip("require_entry_point is False")
        ep = entry_point_for(self.plugin)
        if ep is None:
            pytest.fail(
                f"no installed entry point in the group {ENTRY_POINT_GROUP!r} targets {self.plugin}; add "
                f'[project.entry-points.stackio] <name> = "{self.plugin}" to pyproject.toml and install it',
                pytrace=False,
            )
        name = get_registry().plugin_name(importlib.import_module(self.plugin))
        broken = [b for b in get_registry().broken() if b.name == ep.name]
        _fail([f"{b.stage}: {b.reason}" for b in broken], f"{self.plugin} is installed but broken")
        assert name == ep.name, f"{self.plugin} is registered as {name!r}, not under its entry point {ep.name!r}"

    def test_discovery_imports_nothing_heavy(self, conformance_samples: list[Sample]) -> None:
        sources = [s.source for s in conformance_samples]
        _fail(check_cheap_discovery(self.plugin, self.heavy_modules, sources), "discovery is not cheap")

    def test_writes_samples(self, conformance_samples: list[Sample], conformance_formats: list[FormatSpec]) -> None:
        if not conformance_samples:
            pytest.fail("stackio_write_samples wrote no sample and no extra_samples are given", pytrace=False)
        problems = []
        options = {o for spec in conformance_formats for o in spec.option_names}
        for sample in conformance_samples:
            if not isinstance(sample, Sample):
                problems.append(f"{sample!r} is not a stackio.Sample")
                continue
            if "://" not in sample.source and not Path(sample.source.rsplit("@", 1)[0]).exists():
                problems.append(f"{sample.source}: does not exist")
            if not sample.description:
                problems.append(f"{sample.source}: has no description")
            unknown = sorted(set(sample.options) - options)
            if unknown:
                problems.append(f"{sample.source}: options {unknown} are not declared by any of its formats")
        _fail(problems, "samples")

    # -- detection and validation --------------------------------------------------------

    def test_detection_accepts_samples(
        self, conformance_plugin: str, conformance_samples: list[Sample], conformance_formats: list[FormatSpec]
    ) -> None:
        import stackio

        registry = get_registry()
        names = {spec.name for spec in conformance_formats}
        selecting = {o for spec in conformance_formats for o in spec.selected_by}
        problems = []
        for sample in conformance_samples:
            try:
                decision = stackio.detect(sample.source, **sample.options)
            except StackioError as exc:
                problems.append(f"{sample.source}: dispatch failed: {exc}")
                continue
            if decision.format not in names:
                problems.append(f"{sample.source}: dispatch chose {decision.format!r} ({decision.reason})")
                continue
            handle = registry.format(decision.format)
            if set(sample.options) & selecting or handle is None or not handle.checks_content:
                continue
            verdict = handle.detect(Source.parse(sample.source))
            if verdict.status != Status.ACCEPTED:
                problems.append(f"{sample.source}: its content check refused its own sample: {verdict}")
        _fail(problems, "detection of the plugin's own samples")

    def test_detection_refuses_other_content(
        self, conformance_plugin: str, conformance_formats: list[FormatSpec], conformance_foreign: dict[str, list[Path]]
    ) -> None:
        registry = get_registry()
        handles = [e for e in registry.formats() if e.plugin == conformance_plugin and e.checks_content]
        if not handles:
            pytest.skip("the plugin has no content check (it relies on suffixes alone)")
        problems = []
        for path in conformance_foreign["junk"] + conformance_foreign["other"]:
            for handle in handles:
                verdict = handle.detect(Source.parse(path))
                if verdict.status == Status.CRASHED:
                    problems.append(f"{path.name}: stackio_detect({handle.name!r}) raised {verdict.reason}")
                elif verdict.status == Status.ACCEPTED:
                    problems.append(f"{path.name}: stackio_detect({handle.name!r}) accepted it: {verdict.reason}")
        _fail(problems, "detection of content that is not the plugin's")

    def test_bad_files_give_clear_errors(
        self,
        conformance_formats: list[FormatSpec],
        conformance_foreign: dict[str, list[Path]],
        conformance_samples: list[Sample],
    ) -> None:
        import stackio

        axes_by_suffix = {Path(s.source).suffix.lower(): s.axes for s in conformance_samples}
        problems = []
        for path in conformance_foreign["junk"]:
            spec = next((s for s in conformance_formats if s.name == path.parent.name), None)
            if spec is None or spec.selected_by:
                continue
            axes = axes_by_suffix.get(path.suffix.lower())
            try:
                stacks = stackio.load(path, axes, format=spec.name)
            except StackioError as exc:
                if path.name not in str(exc):
                    problems.append(f"{path.name}: the error does not name the file: {exc}")
                continue
            except Exception as exc:  # pragma: no cover - the core wraps these
                problems.append(f"{path.name}: raised {type(exc).__name__} instead of a StackioError: {exc}")
                continue
            _close(stacks)
            problems.append(f"{path.name}: junk bytes loaded as {len(stacks)} stack(s) instead of a ReadError")
        _fail(problems, "loading junk named like the plugin's files")

    def test_validation_rejects_bad_axes(self, conformance_samples: list[Sample]) -> None:
        with_axes = [s for s in conformance_samples if s.axes]
        if not with_axes:
            pytest.skip("no sample gives axes")
        problems = []
        for sample in with_axes:
            axes = sample.axes.upper()  # type: ignore[union-attr]
            extra = next(a for a in "STCZ" if a not in axes) if len(axes) < 6 else None
            wrong = [extra + axes] if extra else []
            fewer = next((a for a in axes if a not in "YX"), None)
            if fewer:
                wrong.append(axes.replace(fewer, "", 1))
            for bad in wrong:
                try:
                    stacks = self._load(sample, bad)
                except AxesError as exc:
                    name = Path(sample.source.rsplit("@", 1)[0]).name
                    if name not in str(exc) and sample.source not in str(exc):
                        problems.append(f"{sample.source}: the AxesError for axes={bad!r} does not name the source")
                    continue
                except Exception as exc:
                    problems.append(f"{sample.source}: axes={bad!r} raised {type(exc).__name__}: {exc}, not AxesError")
                    continue
                _close(stacks)
                problems.append(f"{sample.source}: axes={bad!r} (data is {axes!r}) loaded without error")
        _fail(problems, "axes validation")

    # -- stacks --------------------------------------------------------------------------

    def test_stacks_satisfy_protocol(self, conformance_samples: list[Sample]) -> None:
        problems = []
        for _sample, stacks in self._each_stack(conformance_samples):
            for stack in stacks:
                problems += check_stack_protocol(stack)
        _fail(problems, "ImageStack protocol")

    def test_patches(self, conformance_samples: list[Sample]) -> None:
        problems = []
        for _sample, stacks in self._each_stack(conformance_samples):
            for stack in stacks:
                problems += check_stack(stack)
        _fail(problems, "patches")

    def test_in_memory_matches_lazy(self, conformance_samples: list[Sample]) -> None:
        problems = []
        for sample, lazy in self._each_stack(conformance_samples):
            memory = self._load(sample, in_memory=True)
            try:
                if len(memory) < len(lazy):
                    problems.append(f"{sample.source}: in_memory=True gave {len(memory)} stacks, lazily more")
                for a, b in zip(lazy, memory, strict=False):
                    problems += same_data(a, b)
                    problems += check_stack_protocol(b)
            finally:
                _close(memory)
        _fail(problems, "in_memory=True")

    def test_source_recreates_stack(self, conformance_samples: list[Sample]) -> None:
        import stackio

        problems = []
        for sample, stacks in self._each_stack(conformance_samples):
            for stack in stacks:
                again = stackio.load(stack.source, sample.axes, **sample.options)
                try:
                    if len(again) != 1:
                        problems.append(f"{stack.source}: load(stack.source) gave {len(again)} stacks, not 1")
                        continue
                    problems += same_data(stack, again[0])
                finally:
                    _close(again)
        _fail(problems, "stack.source")

    def test_load_options_recreate_every_stack_kind(
        self, conformance_samples: list[Sample], conformance_formats: list[FormatSpec]
    ) -> None:
        """`load(stack.source, axes, **stack.load_options)` gives the same pixels, whatever the stack's kind.

        Each sample is loaded as the format chooses, in memory, and not in memory (on demand or
        file-backed); formats that read whole files on request declare the `file_backed` option.
        """
        import stackio

        kinds: list[tuple[str, dict[str, Any]]] = [("default", {}), ("in_memory=True", {"in_memory": True})]
        kinds.append(("in_memory=False", {"in_memory": False}))
        if any("file_backed" in spec.option_names for spec in conformance_formats):
            kinds.append(("file_backed=True", {"file_backed": True}))
        problems = []
        for kind, extra in kinds:
            for sample, stacks in self._each_stack(conformance_samples, **extra):
                for stack in stacks:
                    where = f"{stack.source} ({type(stack).__name__}, loaded with {kind})"
                    options = getattr(stack, "load_options", {})
                    try:
                        again = stackio.load(stack.source, sample.axes, **options)
                    except StackioError as exc:
                        problems.append(f"{where}: load(source, **{options}) failed: {exc}")
                        continue
                    try:
                        if len(again) != 1:
                            problems.append(f"{where}: load(source, **{options}) gave {len(again)} stacks, not 1")
                            continue
                        problems += [f"{where}: {p}" for p in same_data(stack, again[0])]
                    finally:
                        _close(again)
        _fail(problems, "stack.source and stack.load_options")

    def test_stacks_pickle(self, conformance_samples: list[Sample]) -> None:
        problems = []
        for _sample, stacks in self._each_stack(conformance_samples):
            for stack in stacks:
                _full(stack, 0)  # pickling must work on a stack that has opened its files
                try:
                    copy = pickle.loads(pickle.dumps(stack))
                except Exception as exc:
                    problems.append(f"{stack.source}: does not pickle ({type(exc).__name__}: {exc})")
                    continue
                problems += same_data(stack, copy)
                if copy.metadata.to_dict() != stack.metadata.to_dict():
                    problems.append(f"{stack.source}: metadata changed through pickling")
                _close([copy])
        _fail(problems, "pickling")

    def test_stacks_work_in_another_process(self, conformance_samples: list[Sample], tmp_path: Path) -> None:
        expected, stacks_out = [], []
        for _sample, stacks in self._each_stack(conformance_samples):
            for stack in stacks[:1]:
                expected.append(_full(stack, 0).tobytes().hex()[:4000])
                stacks_out.append(stack)
        path = tmp_path / "stacks.pickle"
        path.write_bytes(pickle.dumps(stacks_out))
        code = (
            "import pickle, sys, json\n"
            "stacks = pickle.load(open(sys.argv[1], 'rb'))\n"
            "out = []\n"
            "for s in stacks:\n"
            "    sp = tuple(s.data_shape[2:])\n"
            "    out.append(s.extract_patch(0, None, (0,) * len(sp), sp).tobytes().hex()[:4000])\n"
            "print(json.dumps(out))\n"
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        proc = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env, timeout=120
        )
        if proc.returncode != 0:
            pytest.fail(f"unpickling and reading in another process failed:\n{proc.stderr[-2000:]}", pytrace=False)
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        bad = [s.source for s, a, b in zip(stacks_out, expected, got, strict=True) if a != b]
        _fail([f"{b}: another process read different data" for b in bad], "stacks in another process")

    def test_concurrent_patches(self, conformance_samples: list[Sample]) -> None:
        problems = []
        for sample_given, stacks in self._each_stack(conformance_samples):
            stack = stacks[0]
            spatial = tuple(stack.data_shape[2:])
            size = tuple(max(1, n // 2) for n in spatial)
            corners = [
                tuple((i >> k & 1) * (n - s) for k, (n, s) in enumerate(zip(spatial, size, strict=True)))
                for i in range(2 ** len(spatial))
            ]
            requests = [(sample, c) for sample in sorted({0, stack.data_shape[0] - 1}) for c in corners] * 3
            fresh = self._load(sample_given)[0]
            try:
                read = partial(_read_at, fresh, size)
                with concurrent.futures.ThreadPoolExecutor(4) as pool:
                    results = list(pool.map(read, requests))
                for (sample, corner), got in zip(requests, results, strict=True):
                    want = stack.extract_patch(sample, None, corner, size)
                    if not np.array_equal(got, want, equal_nan=np.dtype(stack.data_dtype).kind in "fc"):
                        problems.append(f"{stack.source}: concurrent reads of sample {sample} at {corner} differ")
                        break
            finally:
                _close([fresh])
        _fail(problems, "patches read from several threads")


__all__ = [
    "CORE_HEAVY_MODULES",
    "declared_heavy_modules",
    "PluginConformance",
    "check_cheap_discovery",
    "check_declaration",
    "check_metadata",
    "check_stack",
    "check_stack_patches",
    "check_stack_protocol",
    "declared_formats",
    "entry_point_for",
    "same_data",
    "write_foreign_sources",
]
