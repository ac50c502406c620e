"""`in_memory=True` holds one copy of a stack at its peak: the whole read lands in the stack's own array.

Measured in a fresh process (its peak resident set, VmHWM, reset just before the read), on files written
by the formats' own libraries, against the same read by the format's library; pixels compared with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc")

#: The image: 48 MiB of uint16, ZYX, planes of 1 MiB (a whole read of it takes several blocks).
SHAPE = (48, 512, 1024)
#: Peak growth allowed beyond one copy, or beyond what the format's own library needs to read the whole
#: array (zarr holds chunk buffers of its own), whichever is more: a block being read, the interpreter's churn.
SLACK = 0.25

CHILD = """
import json, sys
import numpy as np

def read_with_library(kind, path):
    if kind.startswith("tiff"):
        import tifffile
        return tifffile.imread(path)
    if kind == "npy":
        return np.load(path)
    import zarr
    return zarr.open_array(path, mode="r")[...]

def read(path):
    if who == "library":
        return read_with_library(kind, path)
    import stackio
    stack = stackio.load(path, "ZYX", in_memory=True)[0]
    assert type(stack).__name__ == "ArrayStack", stack
    return stack.read_all()

def status():
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                fields[key] = int(value.split()[0]) * 1024
    return fields

who, kind, path, small, out = sys.argv[1:6]
read(small)  # the plugin and its library imported, caches warm
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # VmHWM := VmRSS now
before = status()["VmRSS"]
data = read(path)
growth = status()["VmHWM"] - before
np.save(out, data)
print(json.dumps({"growth": growth}))
"""


def _growth(who: str, kind: str, path: Path, small: Path, out: Path) -> int:
    """How much a fresh process's peak RSS grows while `who` ("stackio" or "library") reads `path` whole."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, who, kind, str(path), str(small), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout.strip().splitlines()[-1])["growth"])


def _tiff(path: Path, data: np.ndarray) -> Path:
    import tifffile

    tifffile.imwrite(path, data, photometric="minisblack", metadata={"axes": "ZYX"})  # one contiguous block
    return path


def _tiff_tiled(path: Path, data: np.ndarray) -> Path:
    import tifffile

    # big-endian uncompressed tiles: read page by page, tile by tile, byte order converted
    tifffile.imwrite(path, data, photometric="minisblack", tile=(256, 256), byteorder=">", metadata={"axes": "ZYX"})
    return path


def _tiff_zlib(path: Path, data: np.ndarray) -> Path:
    import tifffile

    tifffile.imwrite(path, data, photometric="minisblack", compression="zlib", metadata={"axes": "ZYX"})
    return path


def _npy(path: Path, data: np.ndarray) -> Path:
    np.save(path, data)
    return path


def _zarr(path: Path, data: np.ndarray) -> Path:
    import zarr

    array = zarr.create_array(store=str(path), shape=data.shape, chunks=(8, 256, 256), dtype=data.dtype)
    array[...] = data
    return path


WRITERS = {"tiff": _tiff, "tiff-tiled": _tiff_tiled, "tiff-zlib": _tiff_zlib, "npy": _npy, "zarr": _zarr}
SUFFIXES = {"npy": ".npy", "zarr": ".zarr"}


#: Formats whose library holds buffers of its own beside the result while it reads (zarr: chunk bytes and
#: decoded chunks, ~1.6x here): the bound is then what that library needs to read the whole array.
BUFFERING = {"zarr"}


@pytest.mark.parametrize("kind", list(WRITERS))
def test_an_in_memory_load_peaks_at_one_copy(tmp_path: Path, kind: str) -> None:
    data = np.random.default_rng(18).integers(0, 2**16, SHAPE, dtype=np.uint16)
    suffix = SUFFIXES.get(kind, ".tif")
    path = WRITERS[kind](tmp_path / f"image{suffix}", data)
    small = WRITERS[kind](tmp_path / f"small{suffix}", data[:2, :16, :16])
    growth = _growth("stackio", kind, path, small, tmp_path / "stackio.npy")
    floor = _growth("library", kind, path, small, tmp_path / "library.npy") if kind in BUFFERING else 0
    expected = np.load(tmp_path / "library.npy") if kind in BUFFERING else _library_read(kind, path)
    np.testing.assert_array_equal(np.load(tmp_path / "stackio.npy")[0, 0], expected)
    bound = max(data.nbytes, floor) + SLACK * data.nbytes
    assert growth <= bound, (
        f"{kind}: the in-memory load grew the peak RSS by {growth / 2**20:.0f} MiB for {data.nbytes / 2**20:.0f} "
        f"MiB of pixels (bound {bound / 2**20:.0f} MiB): more than one copy"
    )


def _library_read(kind: str, path: Path) -> np.ndarray:
    if kind.startswith("tiff"):
        import tifffile

        return tifffile.imread(path)
    assert kind == "npy"
    return np.load(path)
