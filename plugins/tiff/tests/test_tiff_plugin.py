"""The plugin as stackio sees it: declaration, cheap import, detection by content, folders, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import stackio
import stackio_tiff
import tifffile
from stackio import Source
from tiff_helpers import every_sample


def test_importing_the_plugin_imports_no_format_library() -> None:
    code = (
        "import sys, stackio, stackio_tiff\n"
        "stackio.formats()\n"
        "print(sorted(m for m in ('tifffile', 'imagecodecs', 'zarr') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_declared_suffixes_and_options() -> None:
    (spec,) = stackio_tiff_specs()
    for suffix in (".tif", ".tiff", ".ome.tif", ".ome.tiff", ".btf", ".tf8"):
        assert suffix in spec.suffixes
    assert set(spec.option_names) == {"series", "level", "file_backed", "allow_missing", "storage_options"}


def stackio_tiff_specs() -> list[stackio.FormatSpec]:
    found: list[stackio.FormatSpec] = []
    stackio_tiff.stackio_register_formats(found.append)
    return found


@pytest.mark.parametrize("name", ["no_suffix", "image.dat", "big.btf", "big.tf8"])
def test_tiff_content_is_recognised_whatever_the_name(tmp_path: Path, name: str) -> None:
    data = np.arange(24, dtype=np.uint16).reshape(4, 6)
    tifffile.imwrite(tmp_path / name, data, bigtiff=name.startswith("big"))
    decision = stackio.detect(tmp_path / name)
    assert decision.format == "tiff"
    assert ("BigTIFF" in decision.reason) == name.startswith("big") or "suffix" in decision.reason
    (stack,) = stackio.load(tmp_path / name)
    np.testing.assert_array_equal(every_sample(stack)[0, 0], data)


def test_detection_refuses_other_content(tmp_path: Path) -> None:
    (tmp_path / "x.tif").write_bytes(b"GIF89a" + bytes(50))
    verdict = stackio_tiff.stackio_detect(Source.parse(tmp_path / "x.tif"))
    assert not verdict.accepted and "no TIFF header" in verdict.reason
    tifffile.imwrite(tmp_path / "be.tif", np.zeros((2, 2), np.uint8), byteorder=">")
    assert stackio_tiff.stackio_detect(Source.parse(tmp_path / "be.tif")).reason == "TIFF (big-endian) header"


def test_folder_is_sorted_naturally(tmp_path: Path) -> None:
    for i in (10, 2, 1, 33, 3):
        tifffile.imwrite(tmp_path / f"img{i}.tif", np.full((3, 3), i, np.uint8))
    stacks = stackio.load(tmp_path)
    assert [Path(s.source).name for s in stacks] == ["img1.tif", "img2.tif", "img3.tif", "img10.tif", "img33.tif"]


def test_folder_of_1000_small_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = rng.integers(0, 65535, (1000, 12, 10), dtype=np.uint16)
    for i, array in enumerate(arrays):
        tifffile.imwrite(tmp_path / f"tile_{i}.tif", array)
    stacks = stackio.load(tmp_path)
    assert len(stacks) == 1000
    for i, stack in enumerate(stacks):
        assert Path(stack.source).name == f"tile_{i}.tif"
        np.testing.assert_array_equal(
            stack.extract_patch(0, None, (0, 0), (12, 10))[0], tifffile.imread(tmp_path / f"tile_{i}.tif")
        )
    memory = stackio.load(tmp_path, in_memory=True)
    np.testing.assert_array_equal(np.stack([m.data[0, 0] for m in memory]), arrays)


def test_cli_info_json_takes_axes_from_ome(tmp_path: Path) -> None:
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(path, np.zeros((2, 3, 8, 9), np.uint8), metadata={"axes": "TCYX", "PhysicalSizeX": 0.5})
    cli = Path(sys.executable).parent / "stackio"
    proc = subprocess.run([str(cli), "info", str(path), "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["format"] == "tiff"
    (stack,) = info["stacks"]
    assert stack["axes"] == "SCYX" and stack["data_shape"] == [2, 3, 8, 9] and stack["original_axes"] == "TCYX"
    assert stack["metadata"]["voxel_size"] == {"X": 0.5}


def test_cli_info_on_imagej_hyperstack(tmp_path: Path) -> None:
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, np.zeros((3, 2, 8, 9), np.uint16), imagej=True, metadata={"axes": "ZCYX"})
    cli = Path(sys.executable).parent / "stackio"
    proc = subprocess.run([str(cli), "info", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "SCZYX (1, 2, 3, 8, 9) uint16" in proc.stdout and "ZCYX" in proc.stdout


def test_demo_samples_load(tmp_path: Path) -> None:
    samples = stackio_tiff.stackio_write_samples(tmp_path)
    assert len(samples) == 3
    for sample in samples:
        stacks = stackio.load(sample.source, sample.axes)
        for stack in stacks:
            assert every_sample(stack).size > 0
    hyper, ome, _ = (stackio.load(s.source, s.axes) for s in samples)
    assert hyper[0].metadata.voxel_size == pytest.approx({"X": 0.2, "Y": 0.2, "Z": 0.5, "T": 2.0})
    assert len(ome) == 2 and ome[1].metadata.channel_names == ("DAPI", "GFP")
