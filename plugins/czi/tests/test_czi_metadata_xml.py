"""A CZI's metadata XML is not parsed by libCZI at load: deeply nested metadata costs neither GiBs nor seconds.

libCZI re-serialises the document indented when asked for it, so 30,000 nested elements (a 210 KiB
document) come back as a 900 MB string. Loading reads the voxel size and channel names from the metadata
segment by a streaming parse of bounded depth instead, and libCZI's XML is read only by `metadata.raw()`.
The files are written by pylibCZIrw; their metadata segment is then replaced by the given XML (a new
segment at the end of the file, the file header pointing to it), as a damaged or hostile file would be.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import stackio

PIXELS = np.arange(256, dtype=np.uint16).reshape(16, 16)
_HEAD = (
    "<ImageDocument><Metadata>{junk}<Scaling><Items><Distance Id='X'><Value>2.5e-07</Value></Distance>"
    "<Distance Id='Y'><Value>2.5e-07</Value></Distance></Items></Scaling><Information><Image><Dimensions>"
    "<Channels><Channel Name='GFP'/></Channels></Dimensions></Image></Information></Metadata></ImageDocument>"
)


def write_with_xml(path: Path, xml: str) -> Path:
    from pylibCZIrw import czi as pyczi

    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        writer.write(PIXELS, plane={"C": 0}, location=(0, 0))
        writer.write_metadata(document_name="x", channel_names={0: "DAPI"}, scale_x=0.5e-6, scale_y=0.5e-6)
    data = xml.encode()
    body = struct.pack("<ii", len(data), 0) + bytes(248) + data
    allocated = (len(body) + 31) // 32 * 32
    segment = b"ZISRAWMETADATA\0\0" + struct.pack("<qq", allocated, len(body)) + body + bytes(allocated - len(body))
    with open(path, "r+b") as f:
        position = f.seek(0, 2)
        f.write(segment)
        f.seek(32 + 60)  # the file header's MetadataPosition
        f.write(struct.pack("<q", position))
    return path


def _nested(depth: int) -> str:
    return "<a>" * depth + "</a>" * depth


def test_the_metadata_read_at_load_is_the_files_own(tmp_path: Path) -> None:
    from pylibCZIrw import czi as pyczi

    path = write_with_xml(tmp_path / "scaled.czi", _HEAD.format(junk=_nested(200)))
    (stack,) = stackio.load(path)
    assert stack.metadata.voxel_size == {"Y": pytest.approx(0.25), "X": pytest.approx(0.25)}
    assert stack.metadata.channel_names == ("GFP",)
    with pyczi.open_czi(str(path)) as reader:
        assert stack.metadata.raw() == reader.raw_metadata  # libCZI's XML, read when asked
        np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (16, 16))[0], reader.read()[..., 0])


_UNDER_RLIMIT = r"""
import resource, sys
import stackio
stackio.formats()  # plugins discovered before the limit
size = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + 384 * 2**20, resource.RLIM_INFINITY))
(stack,) = stackio.load(sys.argv[1])
total = int(stack.extract_patch(0, None, (0, 0), (16, 16)).sum())
print(stack.metadata.voxel_size, stack.metadata.channel_names, total)
"""


def test_deeply_nested_metadata_loads_in_little_memory(tmp_path: Path) -> None:
    pytest.importorskip("resource")
    path = write_with_xml(tmp_path / "deep.czi", _HEAD.format(junk=_nested(30_000)))
    assert path.stat().st_size < 2**20
    proc = subprocess.run([sys.executable, "-c", _UNDER_RLIMIT, str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # nested deeper than the bound: the XML is not read, so the stack says nothing of voxel size or channels
    assert proc.stdout.split() == ["None", "None", str(int(PIXELS.sum()))]


def test_a_document_type_declaration_is_not_read(tmp_path: Path) -> None:
    entities = "<!DOCTYPE d [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>]>"
    path = write_with_xml(tmp_path / "dtd.czi", entities + _HEAD.format(junk="<j>&b;</j>"))
    (stack,) = stackio.load(path)
    assert stack.metadata.voxel_size is None and stack.metadata.channel_names is None
