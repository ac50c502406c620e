"""Decompression bombs: a segment that decodes to more than the memory available is refused before decoding.

A zlib TIFF tile, a gzip zarr chunk, a deflated `.npz` member and a PNG are decoded whole for any patch
that touches them; a few hundred KiB of compressed ones decode to 128 MiB here. Each is read in a
subprocess under a real address-space limit (`RLIMIT_AS`) that leaves less than that: the 8x8 patch must
be a clear `ReadError` naming the file and the segment, never a bare `MemoryError` or the OOM killer; with
the limit lifted the same patch reads the file's pixels, and a small-tiled file reads under the limit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SHAPE = (8192, 8192)  # uint16: 128 MiB decoded, above the size below which segments are not checked

_UNDER_RLIMIT = r"""
import json, resource, sys
import numpy as np, stackio
cases = json.loads(sys.argv[1])
stacks = {name: stackio.load(path, axes)[0] for name, (path, axes) in cases.items()}  # headers only
size = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize:"))
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (size + 96 * 2**20, hard))
out = {}
for name, stack in stacks.items():
    try:
        patch = stack.extract_patch(0, None, (0, 0), (8, 8))
        out[name] = ["read", int(patch.sum())]
    except stackio.ReadError as exc:
        out[name] = ["refused", str(exc)]
    except BaseException as exc:
        out[name] = ["other", f"{type(exc).__name__}: {exc}"]
resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
for name, stack in stacks.items():
    if out[name][0] == "refused":  # the same patch, with the memory there: the file itself is fine
        out[name].append(int(stack.extract_patch(0, None, (0, 0), (8, 8)).sum()))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """Each format's own library writes 128 MiB of ones as one compressed segment (and one small-tiled TIFF)."""
    import tifffile
    import zarr
    from PIL import Image

    d = tmp_path_factory.mktemp("bombs")
    ones = np.ones(SHAPE, np.uint16)
    tifffile.imwrite(d / "tile.tif", ones, compression="zlib", tile=SHAPE)
    tifffile.imwrite(d / "strip.tif", ones, compression="zlib", rowsperstrip=SHAPE[0])
    tifffile.imwrite(d / "small.tif", ones[:512, :512], compression="zlib", tile=(64, 64))
    array = zarr.create_array(
        store=str(d / "chunk.zarr"),
        shape=SHAPE,
        chunks=SHAPE,
        dtype="uint16",
        compressors=zarr.codecs.GzipCodec(level=1),
    )
    array[:] = ones
    np.savez_compressed(d / "member.npz", a=ones)
    Image.fromarray(ones).save(d / "big.png", compress_level=1)  # 16-bit grey
    for name in ("tile.tif", "strip.tif", "member.npz"):
        assert (d / name).stat().st_size < 2 * 2**20  # the bomb: a small file
    return {
        "tile": (str(d / "tile.tif"), "YX"),
        "strip": (str(d / "strip.tif"), "YX"),
        "small": (str(d / "small.tif"), "YX"),
        "chunk": (str(d / "chunk.zarr"), "YX"),
        "member": (str(d / "member.npz"), "YX"),
        "png": (str(d / "big.png"), "YX"),
    }


@pytest.fixture(scope="module")
def results(bombs: dict[str, tuple[str, str]]) -> dict[str, list]:
    pytest.importorskip("resource")
    proc = subprocess.run(
        [sys.executable, "-c", _UNDER_RLIMIT, json.dumps(bombs)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("name", "what", "remedy"),
    [
        ("tile", r"one tile of 8192x8192 pixels", r"re-save it with smaller tiles"),
        ("strip", r"one strip of 8192x8192 pixels", r"re-save it with smaller tiles"),
        ("chunk", r"one zarr chunk of shape \(8192, 8192\)", r"re-save it with smaller chunks"),
        ("member", r"array 'a' \(a \.npz member is decompressed whole\)", r"save the array with numpy\.save"),
        ("png", r"the image \(PNG and JPEG are decoded whole\)", r"save it as a tiled TIFF or a chunked zarr"),
    ],
)
def test_a_segment_larger_than_the_memory_available_is_refused_before_decoding(
    results: dict[str, list], bombs: dict[str, tuple[str, str]], name: str, what: str, remedy: str
) -> None:
    import re

    status, message, *after = results[name]
    assert status == "refused", (status, message)
    source = bombs[name][0]
    assert message.startswith(Path(source).as_uri() if name == "chunk" else source), message
    assert re.search(rf"{what} decodes to 0\.1[23] GiB, all of which must be in memory", message), message
    assert re.search(rf"GiB is available to this process; {remedy}", message), message
    # with the memory there, the very same patch reads the file's own pixels (8x8 ones)
    assert after == [64]


def test_segments_that_fit_are_read_under_the_same_limit(results: dict[str, list]) -> None:
    assert results["small"] == ["read", 64]
