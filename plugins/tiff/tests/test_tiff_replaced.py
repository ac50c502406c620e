"""A file replaced by another of the same size between load and the first read is refused, not read
through the old file's offsets (the map cache compares the modification time as well as the size)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import stackio
import tifffile


def _swapped_planes(path: Path, out: Path) -> None:
    """`out`: `path` with its two planes' pixel bytes swapped and their offsets swapped to match, so
    tifffile reads the same image from a file of the same size whose pixels sit elsewhere."""
    shutil.copy(path, out)
    with tifffile.TiffFile(out, mode="r+b") as tif:
        first, second = tif.pages[0], tif.pages[1]
        (a,), (b,), n = first.dataoffsets, second.dataoffsets, first.databytecounts[0]
        fh = tif.filehandle
        fh.seek(a)
        at_a = fh.read(n)
        fh.seek(b)
        at_b = fh.read(n)
        fh.seek(a)
        fh.write(at_b)
        fh.seek(b)
        fh.write(at_a)
        first.tags["StripOffsets"].overwrite((b,))
        second.tags["StripOffsets"].overwrite((a,))


def test_a_same_size_replacement_before_the_first_read_is_refused(tmp_path: Path) -> None:
    data = np.arange(2 * 16 * 16, dtype="uint16").reshape(2, 16, 16)
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, data, photometric="minisblack", metadata=None)
    (stack,) = stackio.load(path, "ZYX")
    _swapped_planes(path, tmp_path / "b.tif")
    assert np.array_equal(tifffile.imread(tmp_path / "b.tif"), data)
    assert (tmp_path / "b.tif").stat().st_size == path.stat().st_size
    os.replace(tmp_path / "b.tif", path)
    with pytest.raises(stackio.ReadError, match=r"a\.tif: the file changed since it was opened"):
        stack.extract_patch(0, None, (0, 0, 0), (2, 16, 16))
    (again,) = stackio.load(path, "ZYX")  # loading it again reads the new file's own offsets
    assert np.array_equal(again.extract_patch(0, None, (0, 0, 0), (2, 16, 16))[0], data)
