"""The plugin's declarations, detection, lazy imports and samples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import stackio
import stackio_zarr
import zarr
from stackio_zarr import samples


def test_importing_and_detecting_do_not_import_zarr(tmp_path: Path, zw) -> None:
    zw.write_array(tmp_path / "d.zarr", zw.pattern((4, 4)))
    code = (
        "import sys, stackio, stackio_zarr; names = [f.name for f in stackio.formats()]; "
        "assert 'zarr' in names, names; "
        "assert stackio.detect(sys.argv[1]).format == 'zarr'; "
        "assert 'zarr' not in sys.modules, 'zarr imported'; print('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "d.zarr")], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_format_declaration() -> None:
    entry = stackio.get_registry().format("zarr")
    assert entry is not None
    spec = entry.spec
    assert spec.suffixes == (".zarr", ".ome.zarr") and spec.directories
    assert set(spec.markers) == {"zarr.json", ".zgroup", ".zarray"}
    assert spec.options == stackio_zarr.OPTIONS and spec.option_names == ("level", "storage_options")
    assert entry.distribution == "stackio-zarr"


def test_detection_by_markers_and_inside_a_store(tmp_path: Path, zw) -> None:
    root = tmp_path / "store_without_suffix"
    group = zarr.open_group(str(root), mode="w", zarr_format=2)
    group.create_array("a/b", shape=(4, 4), dtype="uint8", chunks=(2, 2))
    group["a/b"][...] = 1
    for path in (root, root / "a", root / "a" / "b"):
        decision = stackio.detect(path)
        assert decision.format == "zarr", decision
    v3 = tmp_path / "v3.zarr"
    zw.write_array(v3, zw.pattern((4, 4)), chunks=(2, 2))
    assert stackio.detect(v3 / "c").format == "zarr"  # a chunk directory inside a store: we explain it
    plain = tmp_path / "plain"
    plain.mkdir()
    verdicts = {v.format: v for v in stackio.diagnose(plain).verdicts}
    assert verdicts["zarr"].status == "refused"
    [stack] = stackio.load(root / "a" / "b", "YX")
    assert stack.extract_patch(0, None, (0, 0), (4, 4)).sum() == 16


def test_samples_load_and_match_zarr(tmp_path: Path, assert_stack_equals) -> None:
    written = samples.write_samples(tmp_path)
    assert len(written) >= 2
    for sample in written:
        stacks = stackio.load(sample.source, sample.axes, **sample.options)
        assert len(stacks) == 1
        [stack] = stacks
        array = zarr.open_array(stack.source.removeprefix("file://"), mode="r")
        assert_stack_equals(stack, array[...])
    ome = stackio.load(written[0].source)[0]
    assert ome.metadata.channel_names == ("DAPI", "GFP")
    assert ome.metadata.voxel_size == {"Z": 0.5, "Y": 0.2, "X": 0.2}
    funlib = stackio.load(written[1].source)[0]
    assert funlib.shards == (1, 8, 32, 32) and funlib.chunks == (1, 4, 16, 16)
    assert funlib.metadata.offset == {"Z": 400.0, "Y": 80.0, "X": 80.0}
    level1 = stackio.load(written[0].source, level=1)[0]
    assert not np.array_equal(
        level1.extract_patch(0, None, (0, 0, 0), (1, 4, 4)), ome.extract_patch(0, None, (0, 0, 0), (1, 4, 4))
    )
