"""Mutation fuzzing: truncated and bit-flipped copies of good inputs, loaded and read by stackio.

A mutant is a good input (`robust_corpus.Base`) with one of its files changed: truncated, bytes
flipped, an integer field set to an edge value, a block zeroed, or (for JSON metadata) one value
replaced. `run_mutant` applies it to a private copy, loads the copy, reads patches, checks them,
and restores the copy. The acceptable outcomes are a `StackioError` naming the source, or data
that agree with themselves (patch = whole read = re-read after close) and, for truncations, with
the original pixels unless stackio warned. The runner (`robust_support`) turns crashes and hangs
into outcomes too.

Run more mutants than the test suite does::

    .venv/bin/python tests/robustness/robust_fuzz.py --mutants 10000 [--format tiff] [--all-realdata]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from robust_corpus import Base, base_files  # noqa: E402

#: Mutants per format in the default (CI) run; STACKIO_FUZZ_MUTANTS overrides it.
DEFAULT_MUTANTS = 1000
#: Seconds one mutant may take (load, patches, whole read) before it counts as a hang.
MUTANT_TIMEOUT = 30.0
#: Whole reads are checked only for stacks up to this size.
WHOLE_LIMIT = 16 * 2**20
#: Outcomes that are failures.
FAILURES = ("crash", "hang", "foreign", "inconsistent", "wrong-data", "unnamed-error", "harness-error", "not run")

METADATA_NAMES = ("zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata", "NDTiff.index", "display_settings.json")
JSON_NAMES = ("zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata", "display_settings.json")


def mutants_per_format() -> int:
    return int(os.environ.get("STACKIO_FUZZ_MUTANTS", DEFAULT_MUTANTS))


def make_jobs(bases: list[Base], per_format: int, *, seed: int = 20260921) -> list[dict[str, Any]]:
    """`per_format` mutant jobs per format, spread round-robin over that format's bases."""
    jobs = []
    by_format: dict[str, list[Base]] = {}
    for base in bases:
        by_format.setdefault(base.format, []).append(base)
    for fmt, group in sorted(by_format.items()):
        for k in range(per_format):
            base = group[k % len(group)]
            digest = hashlib.sha256(f"{seed}:{fmt}:{k}".encode()).digest()
            jobs.append(
                {
                    "kind": "mutant",
                    "format": fmt,
                    "k": k,
                    "base": base.to_json(),
                    "seed": int.from_bytes(digest[:8], "little"),
                }
            )
    return jobs


# -- mutations --------------------------------------------------------------------------------


def _offset(size: int, rng: np.random.Generator) -> int:
    """Where to mutate: headers and trailers (where formats keep their structure) more often."""
    if size <= 1:
        return 0
    roll = rng.random()
    if roll < 0.45:
        return int(rng.integers(0, min(size, 4096)))
    if roll < 0.6:
        return int(rng.integers(max(0, size - 4096), size))
    return int(rng.integers(0, size))


INTERESTING = (
    0,
    1,
    0x7F,
    0x80,
    0xFF,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
    2**63 - 1,
    2**64 - 1,
    1 << 40,
)
JSON_VALUES: tuple[Any, ...] = (
    0,
    -1,
    1,
    2**31,
    2**63,
    -(2**63),
    1e308,
    0.5,
    "",
    "../..",
    "x" * 5000,
    [],
    {},
    None,
    True,
    [0],
    [2**40, 2**40],
    "<u2",
    "|O",
    "float64",
)


def mutate_json(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """Replace one value (or drop one key) of a JSON document."""
    try:
        doc = json.loads(data)
    except ValueError:
        return flip(data, rng)
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list):
            for i, value in enumerate(node[:20]):
                walk(value, (*path, i))

    walk(doc, ())
    path = paths[int(rng.integers(1, len(paths)))] if len(paths) > 1 else ()
    if not path:
        return json.dumps(JSON_VALUES[int(rng.integers(len(JSON_VALUES)))]).encode(), "json root replaced"
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if isinstance(parent, dict) and rng.random() < 0.25:
        del parent[path[-1]]
        return json.dumps(doc).encode(), f"json drop {'/'.join(map(str, path))}"
    value = JSON_VALUES[int(rng.integers(len(JSON_VALUES)))]
    parent[path[-1]] = value
    return json.dumps(doc).encode(), f"json {'/'.join(map(str, path))} = {str(value)[:20]!r}"


def flip(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    out = bytearray(data)
    where = []
    for _ in range(int(rng.integers(1, 5))):
        o = _offset(len(out), rng)
        out[o] ^= int(rng.integers(1, 256))
        where.append(o)
    return bytes(out), f"flip at {where}"


def mutate(data: bytes, name: str, rng: np.random.Generator) -> tuple[bytes, str, str]:
    """(mutated bytes, operation, description) for one file's content."""
    if not data:
        return data, "none", "empty file left as is"
    roll = rng.random()
    if name in JSON_NAMES and roll < 0.5:
        new, what = mutate_json(data, rng)
        return new, "json", what
    if roll < 0.3:
        keep = _offset(len(data), rng)
        return data[:keep], "truncate", f"truncate to {keep} of {len(data)} bytes"
    if roll < 0.65:
        new, what = flip(data, rng)
        return new, "flip", what
    if roll < 0.92:
        width = int(rng.choice([1, 2, 4, 8]))
        o = min(_offset(len(data), rng), max(0, len(data) - width))
        value = int(rng.choice(INTERESTING)) % (1 << (8 * width))
        order = "little" if rng.random() < 0.7 else "big"
        out = bytearray(data)
        out[o : o + width] = value.to_bytes(width, order)[: len(data) - o]
        return bytes(out), "interesting", f"{width}-byte {order}-endian {value:#x} at {o}"
    o = _offset(len(data), rng)
    length = int(rng.integers(1, 513))
    out = bytearray(data)
    out[o : o + length] = bytes(len(out[o : o + length]))
    return bytes(out), "zero", f"zero {length} bytes at {o}"


def _write(path: Path, data: bytes) -> None:
    """Replace the file atomically: maps of the previous content stay valid (no SIGBUS in leaked maps)."""
    tmp = path.with_name(path.name + ".mutating~")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# -- a worker's private copies and the truth read from them ----------------------------------------


_COPIES: dict[str, tuple[str, str]] = {}
_TRUTH: dict[str, Any] = {}


def _split(path: str) -> tuple[str, str]:
    """'a.npz@1' -> ('a.npz', '@1') when the part before '@' exists."""
    if not os.path.exists(path) and "@" in Path(path).name:
        head, _, index = path.rpartition("@")
        return head, "@" + index
    return path, ""


def private_copy(base: Base, scratch: Path) -> tuple[str, str]:
    """(source to load, top file or folder) of this worker's copy of the base."""
    key = f"{base.origin}:{base.path}"
    if key not in _COPIES:
        real, index = _split(base.path)
        folder = scratch / "copies" / hashlib.sha256(key.encode()).hexdigest()[:12]
        folder.mkdir(parents=True, exist_ok=True)
        top = folder / Path(real).name
        if Path(real).is_dir():
            shutil.copytree(real, top, dirs_exist_ok=True)
        else:
            shutil.copyfile(real, top)
        _COPIES[key] = (str(top) + index, str(top))
    return _COPIES[key]


def whole(stack: Any) -> np.ndarray:
    """Every pixel of a stack, SC(Z)YX."""
    read_all = getattr(stack, "read_all", None)
    if callable(read_all):
        return np.asarray(read_all())
    shape = stack.data_shape
    return np.stack([stack.extract_patch(s, None, [0] * (len(shape) - 2), shape[2:]) for s in range(shape[0])])


def nbytes(stack: Any) -> int:
    return int(np.prod(stack.data_shape, dtype=np.float64)) * np.dtype(stack.data_dtype).itemsize


def truth_of(base: Base, source: str) -> list[dict[str, Any]] | None:
    """Shapes, dtypes and (when small) pixels of the unmutated copy; None if it does not load."""
    key = f"{base.origin}:{base.path}"
    if key not in _TRUTH:
        import stackio

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                stacks = stackio.load(source, base.axes, **base.options)
                _TRUTH[key] = [
                    {
                        "shape": tuple(s.data_shape),
                        "dtype": np.dtype(s.data_dtype),
                        "data": whole(s) if nbytes(s) <= WHOLE_LIMIT else None,
                    }
                    for s in stacks
                ]
                for s in stacks:
                    getattr(s, "close", lambda: None)()
        except Exception as exc:
            _TRUTH[key] = None
            _TRUTH[key + ":why"] = f"{type(exc).__name__}: {exc}"
    return _TRUTH[key]


# -- one mutant ---------------------------------------------------------------------------------


def _choose_file(files: list[Path], rng: np.random.Generator) -> Path:
    weights = np.array(
        [4.0 if (f.name in METADATA_NAMES or f.suffix in (".json", ".xml", ".ome")) else 1.0 for f in files]
    )
    return files[int(rng.choice(len(files), p=weights / weights.sum()))]


def _patches(shape: tuple[int, ...], rng: np.random.Generator) -> list[tuple[int, list[int], list[int]]]:
    """Two patches: a corner one, and one anywhere (possibly over the edge, to exercise zero fill)."""
    spatial = shape[2:]
    size = [int(min(n, 8)) for n in spatial]
    corner = (0, [0] * len(spatial), size)
    sample = int(rng.integers(0, shape[0]))
    coords = [int(rng.integers(-(s // 2), n)) for n, s in zip(spatial, size, strict=True)]
    return [corner, (sample, coords, size)]


def _expected(data: np.ndarray, sample: int, coords: list[int], size: list[int]) -> np.ndarray:
    block = np.zeros((data.shape[1], *size), dtype=data.dtype)
    src = [slice(max(c, 0), min(c + s, n)) for c, s, n in zip(coords, size, data.shape[2:], strict=True)]
    dst = [slice(r.start - c, r.stop - c) for r, c in zip(src, coords, strict=True)]
    block[(slice(None), *dst)] = data[(sample, slice(None), *src)]
    return block


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def examine(
    source: str, base: Base, truth: list[dict[str, Any]] | None, op: str, rng: np.random.Generator
) -> dict[str, Any]:
    """Load the mutant and read it; classify what happened."""
    import stackio

    name = Path(_split(base.path)[0]).name
    stage = "load"
    problems: list[str] = []
    changed = False
    stacks: list[Any] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            stacks = stackio.load(source, base.axes, **base.options)
            stage = "read"
            for i, stack in enumerate(stacks[:3]):
                shape, dtype = tuple(stack.data_shape), np.dtype(stack.data_dtype)
                if 0 in shape:
                    problems.append(f"stack {i}: empty shape {shape} loaded without error")
                    continue
                known = truth[i] if truth is not None and i < len(truth) else None
                comparable = known is not None and known["shape"] == shape and known["dtype"] == dtype
                changed |= not comparable
                small = nbytes(stack) <= WHOLE_LIMIT
                everything = whole(stack) if small else None
                for sample, coords, size in _patches(shape, rng):
                    patch = stack.extract_patch(sample, None, coords, size)
                    if patch.shape != (shape[1], *size) or patch.dtype != dtype:
                        problems.append(
                            f"stack {i}: patch {patch.shape} {patch.dtype}, stack says {(shape[1], *size)} {dtype}"
                        )
                        continue
                    if everything is not None and not _same(patch, _expected(everything, sample, coords, size)):
                        problems.append(f"stack {i}: patch at {sample}, {coords} differs from the whole read")
                    getattr(stack, "close", lambda: None)()
                    again = stack.extract_patch(sample, None, coords, size)
                    if not _same(patch, again):
                        problems.append(f"stack {i}: patch at {sample}, {coords} differs when read again")
                    if comparable and known["data"] is not None:
                        if not _same(patch, _expected(known["data"], sample, coords, size)):
                            changed = True
                            if op == "truncate":
                                problems.append(
                                    f"stack {i}: truncated file read without error but patch at "
                                    f"{sample}, {coords} differs from the original"
                                )
                getattr(stack, "close", lambda: None)()
        except stackio.StackioError as exc:
            message = str(exc)
            return {
                "outcome": "error" if name in message else "unnamed-error",
                "stage": stage,
                "type": type(exc).__name__,
                "message": message[:600],
            }
        except BaseException as exc:
            return {
                "outcome": "foreign",
                "stage": stage,
                "type": type(exc).__name__,
                "message": f"{exc}"[:600],
                "traceback": traceback.format_exc()[-2500:],
            }
        finally:
            for stack in stacks:
                getattr(stack, "close", lambda: None)()
        warned = [
            f"{w.category.__name__}: {w.message}"[:200]
            for w in caught
            if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, ResourceWarning))
        ]
    if problems:
        truncation_only = all("truncated file" in p for p in problems)
        if truncation_only and warned:
            return {"outcome": "changed", "warned": warned[:3], "problems": problems[:3]}
        return {
            "outcome": "wrong-data" if truncation_only else "inconsistent",
            "problems": problems[:5],
            "warned": warned[:3],
        }
    return {"outcome": "changed" if changed else "same", "stacks": len(stacks)}


def run_mutant(job: dict[str, Any], scratch: Path) -> dict[str, Any]:
    base = Base(**job["base"])
    source, top = private_copy(base, scratch)
    truth = truth_of(base, source)
    rng = np.random.default_rng(job["seed"])
    files = base_files(Path(top))
    target = _choose_file(files, rng)
    original = target.read_bytes()
    data, op, what = mutate(original, target.name, rng)
    description = {
        "format": job["format"],
        "base": base.name,
        "k": job["k"],
        "seed": job["seed"],
        "file": str(target.relative_to(Path(top).parent)),
        "op": op,
        "what": what,
    }
    if truth is None:
        return {"outcome": "base-unreadable", "why": _TRUTH.get(f"{base.origin}:{base.path}:why"), **description}
    _write(target, data)
    try:
        result = examine(source, base, truth, op, rng)
    finally:
        _write(target, original)
    return {**result, **description}


def materialize(job: dict[str, Any], folder: Path) -> tuple[str, dict[str, Any]]:
    """Write the mutant of `job` into `folder` (to reproduce a finding); returns (source, description)."""
    base = Base(**job["base"])
    real, index = _split(base.path)
    top = folder / Path(real).name
    if Path(real).is_dir():
        shutil.copytree(real, top, dirs_exist_ok=True)
    else:
        shutil.copyfile(real, top)
    rng = np.random.default_rng(job["seed"])
    target = _choose_file(base_files(top), rng)
    data, op, what = mutate(target.read_bytes(), target.name, rng)
    _write(target, data)
    return str(top) + index, {"file": str(target), "op": op, "what": what}


# -- running many ---------------------------------------------------------------------------------


def usable_bases(bases: list[Base]) -> tuple[list[Base], list[Base]]:
    """(bases that load, bases that do not): a base without axes that needs them gets ZYX or YX if those work."""
    import attrs
    import stackio

    good, bad = [], []
    for base in bases:
        for axes in [base.axes] if base.axes is not None else [None, "ZYX", "YX"]:
            try:
                for stack in stackio.load(base.path, axes, **base.options):
                    stack.close()
            except stackio.StackioError:
                continue
            good.append(attrs.evolve(base, axes=axes))
            break
        else:
            bad.append(base)
    return good, bad


def summarize(results: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Outcome counts per format."""
    out: dict[str, Counter[str]] = {}
    for r in results:
        out.setdefault(r.get("format", "?"), Counter())[r["outcome"]] += 1
    return {fmt: dict(sorted(c.items())) for fmt, c in sorted(out.items())}


def run(
    bases: list[Base],
    per_format: int,
    *,
    workers: int | None = None,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the mutant jobs and return one result per job (with format and base filled in on crashes)."""
    from robust_support import run_jobs

    jobs = make_jobs(bases, per_format) if seed is None else make_jobs(bases, per_format, seed=seed)
    start = time.monotonic()
    results = run_jobs(jobs, timeout=MUTANT_TIMEOUT, workers=workers)
    for job, result in zip(jobs, results, strict=True):
        result.setdefault("format", job["format"])
        result.setdefault("base", Base(**job["base"]).name)
        result.setdefault("seed", job["seed"])
        result.setdefault("k", job["k"])
    if progress:
        progress(f"{len(jobs)} mutants in {time.monotonic() - start:.0f} s")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mutants", type=int, default=DEFAULT_MUTANTS, help="mutants per format")
    parser.add_argument("--format", action="append", help="only these formats (repeatable)")
    parser.add_argument("--all-realdata", action="store_true", help="also fuzz the large real files")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None, help="another seed gives other mutants")
    parser.add_argument("--out", type=Path, default=None, help="write every failure as JSON lines here")
    args = parser.parse_args()
    import tempfile

    from robust_corpus import REALDATA_LIMIT, realdata_bases, realdata_root, write_corpus

    with tempfile.TemporaryDirectory(prefix="stackio-fuzz-") as tmp:
        bases = write_corpus(Path(tmp) / "corpus")
        bases += realdata_bases(realdata_root(), limit=None if args.all_realdata else REALDATA_LIMIT)
        if args.format:
            bases = [b for b in bases if b.format in args.format]
        bases, skipped = usable_bases(bases)
        print(f"{len(bases)} inputs; skipped (they do not load): {[b.name for b in skipped]}")
        results = run(bases, args.mutants, workers=args.workers, seed=args.seed, progress=print)
    failures = [r for r in results if r["outcome"] in FAILURES]
    print(json.dumps(summarize(results), indent=1))
    for r in failures[:50]:
        print(json.dumps({k: v for k, v in r.items() if k != "traceback"})[:800])
    if args.out:
        with open(args.out, "w") as f:
            for r in failures:
                f.write(json.dumps(r) + "\n")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
