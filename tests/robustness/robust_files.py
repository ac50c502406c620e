"""Scenarios of `test_robust_files.py`, each run in a process of its own (a SIGBUS or a descriptor limit
must not touch pytest): ``python robust_files.py SCENARIO FORMAT FOLDER``; prints one JSON result line.

- ``shrink``: a file cut short, or re-saved smaller in place, under an open stack that has read from it
  (with whole-file maps and with windows); the next read must be a ReadError, never a signal.
  ``shrink-batch``: the same, every read a batch (`stackio.read_patches`).
- ``many``: more stacks than ``RLIMIT_NOFILE`` allows descriptors, all open, each read twice and compared
  with the format's own library.
- ``chdir``: a stack loaded by a relative path, read after ``os.chdir`` and in a spawned worker started in
  another folder.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import resource
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: Stacks opened at once by ``many``, under a soft descriptor limit of `DESCRIPTORS`.
MANY = 1_100
DESCRIPTORS = 1_024

SHRINK_FORMATS = ("tiff-contiguous", "tiff-pages", "tiff-tiled", "tiff-tiled-raw", "numpy", "ndtiff")
MANY_FORMATS = ("tiff", "numpy", "czi", "ndtiff")
CHDIR_FORMATS = ("tiff", "numpy", "npz", "czi", "ndtiff", "png", "zarr")


def image(seed: int, shape: tuple[int, ...] = (512, 512)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 60_000, shape, dtype=np.uint16)


# -- writing, each with the format's own library ----------------------------------------------


def write_tiff(path: Path, data: np.ndarray, kind: str = "tiff-contiguous") -> Path:
    import tifffile

    options: dict[str, Any] = {
        "tiff-contiguous": {},
        "tiff-pages": {"contiguous": False, "metadata": None, "rowsperstrip": 64},
        "tiff-tiled": {"tile": (64, 64), "compression": "zlib"},
        "tiff-tiled-raw": {"tile": (64, 64)},
    }[kind]
    tifffile.imwrite(path, data, **options)
    return path


def write_ndtiff(folder: Path, data: np.ndarray) -> Path:
    """`data` (Z, Y, X) as an NDTiff dataset of one channel."""
    from stackio_ndtiff.samples import write_ndtiff as write

    return write(folder, [({"z": z}, plane) for z, plane in enumerate(data)], {"PixelSize_um": 1.0})


def write_czi(path: Path, data: np.ndarray) -> Path:
    from pylibCZIrw import czi as pyczi

    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        writer.write(data, location=(0, 0))
    return path


def write_zarr(path: Path, data: np.ndarray) -> Path:
    import zarr

    array = zarr.create_array(str(path), shape=data.shape, chunks=(32, 32), dtype=data.dtype)
    array[...] = data
    return path


def write_png(path: Path, data: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(data).save(path)
    return path


def reference(fmt: str, path: Path) -> np.ndarray:
    """What the format's own library reads, as (Y, X) or (Z, Y, X)."""
    if fmt.startswith("tiff"):
        import tifffile

        return tifffile.imread(path)
    if fmt == "numpy":
        return np.load(path)
    if fmt == "npz":
        with np.load(path) as archive:
            return archive["a"]
    if fmt == "czi":
        from pylibCZIrw import czi as pyczi

        with pyczi.open_czi(str(path)) as reader:
            return np.asarray(reader.read())[..., 0]
    if fmt == "ndtiff":
        import contextlib
        import io

        from ndstorage import Dataset

        with contextlib.redirect_stdout(io.StringIO()):
            dataset = Dataset(str(path))
            try:
                array = np.asarray(dataset.as_array())
                return array.reshape(-1, *array.shape[-2:])
            finally:
                dataset.close()
    if fmt == "png":
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im)
    if fmt == "zarr":
        import zarr

        return np.asarray(zarr.open_array(str(path), mode="r")[...])
    raise ValueError(fmt)


def axes_of(fmt: str) -> str | None:
    return None if fmt in ("ndtiff", "czi") else "YX"


def whole(stack: Any) -> np.ndarray:
    """The stack's only sample and channel, (Y, X) or (Z, Y, X)."""
    shape = stack.data_shape
    return stack.extract_patch(0, None, (0,) * (len(shape) - 2), shape[2:])[0]


# -- scenarios ---------------------------------------------------------------------------------


def shrink(fmt: str, folder: Path, how: str, batched: bool = False) -> dict[str, Any]:
    """Read the end of a file under an open stack, shrink the file, read the end again (`batched`: each
    read a batch of patches, the end's among them, so the batch path's single check per file is what
    must catch the change)."""
    import stackio

    data = image(1, (4, 256, 256)) if fmt == "ndtiff" else image(1)
    if fmt == "ndtiff":
        path = write_ndtiff(folder / "set", data)
        (victim,) = sorted(path.glob("*.tif"))
        stack = stackio.load(path)[0]
        end: tuple[Any, ...] = (data.shape[0] - 1, 192, 192)
        size: tuple[int, ...] = (1, 64, 64)
    else:
        path = folder / ("a.npy" if fmt == "numpy" else "a.tif")
        if fmt == "numpy":
            np.save(path, data)
        else:
            write_tiff(path, data, fmt)
        victim = path
        stack = stackio.load(path, "YX")[0]
        end, size = (448, 448), (64, 64)

    def read() -> np.ndarray:
        if not batched:
            return stack.extract_patch(0, None, end, size)[0]
        corners = [(0,) * len(end), end, end]  # the end twice: a repeated patch reads the same bytes
        return stackio.read_patches(stack, 0, corners, size)[1, 0]

    first = read()
    expect = data[tuple(slice(a, a + n) for a, n in zip(end, size, strict=True))]
    if not np.array_equal(first.reshape(expect.shape), expect):
        return {"outcome": "wrong pixels before the change"}
    if how == "truncate":
        os.truncate(victim, 1000)
    else:  # re-saved smaller, in place (the same file, as numpy, tifffile and most writers do)
        smaller = image(2, (16, 16))
        if fmt == "numpy":
            np.save(victim, smaller)
        elif fmt == "ndtiff":
            other = write_ndtiff(folder / "small", smaller[None])
            victim.write_bytes(next(other.glob("*.tif")).read_bytes())
        else:
            write_tiff(victim, smaller, fmt)
    try:
        read()
    except stackio.ReadError as exc:
        return {"outcome": "error", "type": type(exc).__name__, "message": str(exc)}
    except Exception as exc:
        return {"outcome": "other error", "type": type(exc).__name__, "message": str(exc)}
    return {"outcome": "read"}


def shrink_all(fmt: str, folder: Path, batched: bool = False) -> dict[str, Any]:
    """`shrink` truncating and re-saving, with whole-file maps and with windows (see `stackio.readmode`)."""
    import stackio

    results = {}
    for reads in ("map", "window"):
        stackio.set_file_reads(reads)  # type: ignore[arg-type]
        for how in ("truncate", "resave"):
            where = folder / f"{reads}-{how}"
            where.mkdir()
            results[f"{reads} {how}"] = shrink(fmt, where, how, batched)
    return results


def _ndtiff_copies(folder: Path) -> list[Path]:
    """`MANY` one-image NDTiff datasets: one written by ndstorage, copied with image(i)'s pixels put
    in place of its own (ndstorage's writer takes about 30 ms per dataset)."""
    from stackio_ndtiff.index import read_index

    first = write_ndtiff(folder / "set0", image(0, (32, 32))[None])
    (entry,) = read_index(first).entries
    paths = [first]
    for i in range(1, MANY):
        copy = shutil.copytree(first, folder / f"set{i}")
        with open(copy / entry.filename, "r+b") as f:
            f.seek(entry.pixel_offset)
            f.write(image(i, (32, 32)).astype("<u2").tobytes())
        paths.append(copy)
    return paths


def _write_many(fmt: str, folder: Path) -> list[Path]:
    if fmt == "ndtiff":
        return _ndtiff_copies(folder)
    paths = []
    for i in range(MANY):
        data = image(i, (32, 32))
        if fmt == "tiff":
            paths.append(write_tiff(folder / f"f{i}.tif", data))
        elif fmt == "numpy":
            np.save(folder / f"f{i}.npy", data)
            paths.append(folder / f"f{i}.npy")
        elif fmt == "czi":
            paths.append(write_czi(folder / f"f{i}.czi", data))
    return paths


def many(fmt: str, folder: Path) -> dict[str, Any]:
    """`MANY` stacks of distinct files open at once under a soft limit of `DESCRIPTORS` descriptors."""
    paths = _write_many(fmt, folder)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, hard))
    import stackio

    stacks = [stackio.load(p, None if fmt in ("czi", "ndtiff") else "YX")[0] for p in paths]
    reads: list[list[np.ndarray]] = [[], []]
    try:
        for order, out in zip((stacks, stacks[::-1]), reads, strict=True):
            out += [whole(s).reshape(32, 32) for s in order]
    except stackio.StackioError as exc:
        return {"outcome": "error", "type": type(exc).__name__, "message": str(exc), "read": len(reads[0])}
    reads[1].reverse()
    # every stack against what was written; every one (ndtiff: every 50th, ndstorage is slow) against the library
    step = 50 if fmt == "ndtiff" else 1
    wrong = [
        str(p)
        for i, (p, a, b) in enumerate(zip(paths, *reads, strict=True))
        if not (np.array_equal(a, b) and np.array_equal(a, image(i, (32, 32))))
        or (i % step == 0 and not np.array_equal(a, reference(fmt, p).reshape(32, 32)))
    ]
    return {"outcome": "read", "stacks": len(stacks), "wrong": wrong[:5], "fds": len(os.listdir("/proc/self/fd"))}


def _read_elsewhere(blob: bytes, cwd: str) -> np.ndarray:
    os.chdir(cwd)
    return whole(pickle.loads(blob))


def chdir(fmt: str, folder: Path) -> dict[str, Any]:
    """Load by a relative path, then read from another working directory, here and in a spawned worker."""
    import stackio

    data = image(3, (2, 64, 64)) if fmt == "ndtiff" else image(3, (64, 64))
    home = folder / "home"
    home.mkdir()
    writers: dict[str, Callable[[], Path]] = {
        "tiff": lambda: write_tiff(home / "a.tif", data),
        "numpy": lambda: (np.save(home / "a.npy", data), home / "a.npy")[1],
        "npz": lambda: (np.savez(home / "a.npz", a=data), home / "a.npz")[1],
        "czi": lambda: write_czi(home / "a.czi", data),
        "ndtiff": lambda: write_ndtiff(home / "set", data),
        "png": lambda: write_png(home / "a.png", data),
        "zarr": lambda: write_zarr(home / "a.zarr", data),
    }
    path = writers[fmt]()
    expect = reference(fmt, path)
    os.chdir(home)
    stack = stackio.load(path.name, axes_of(fmt))[0]
    elsewhere = folder / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / path.name).mkdir()  # a same-named decoy where the relative path would now lead
    os.chdir(elsewhere)
    outcome: dict[str, Any] = {"outcome": "read"}
    try:
        outcome["here"] = bool(np.array_equal(whole(stack).reshape(expect.shape), expect))
        blob = pickle.dumps(stackio.load(Path("..") / "home" / path.name, axes_of(fmt))[0])
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            got = pool.apply(_read_elsewhere, (blob, str(elsewhere)))
        outcome["worker"] = bool(np.array_equal(got.reshape(expect.shape), expect))
    except Exception as exc:
        return {"outcome": "error", "type": type(exc).__name__, "message": str(exc)}
    return outcome


def main() -> None:
    scenario, fmt, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3]).resolve()
    if scenario in ("shrink", "shrink-batch"):
        result = shrink_all(fmt, folder, batched=scenario == "shrink-batch")
    elif scenario == "many":
        result = many(fmt, folder)
    elif scenario == "chdir":
        result = chdir(fmt, folder)
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    shutil.rmtree(folder / "home", ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
