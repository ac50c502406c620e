"""The `stackio` command: output, JSON, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from stackio.cli import main

from .test_registry import GOOD_PLUGIN, make_distribution


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    make_distribution(site, "stackio-fakefmt", "stackio_fakefmt", "fakefmt", GOOD_PLUGIN)
    return site


def stackio_cmd(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "stackio.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_info_json(site: Path, tmp_path: Path) -> None:
    path = tmp_path / "vol.fake"
    np.save(open(path, "wb"), np.zeros((4, 6, 8), dtype=np.uint16))
    result = stackio_cmd(site, "info", str(path), "--axes", "zyx", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["format"] == "fakefmt" and info["reason"] == "suffix .fake"
    (stack,) = info["stacks"]
    assert stack["axes"] == "SCZYX" and stack["data_shape"] == [1, 1, 4, 6, 8] and stack["dtype"] == "uint16"
    assert stack["original_axes"] == "ZYX" and stack["metadata"]["voxel_size"] is None
    assert stack["load_options"] == {}
    text = stackio_cmd(site, "info", str(path), "--axes", "ZYX").stdout
    assert "SCZYX (1, 1, 4, 6, 8) uint16" in text


def test_errors_exit_1_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tmp_path / "missing.tif")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("stackio: error: ") and "missing.tif: no such file or directory" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    (tmp_path / "x.czi").write_bytes(b"ZISRAWFILE" + bytes(64))
    assert main(["info", str(tmp_path / "x.czi"), "--format", "nope"]) == 1
    assert "format 'nope' is not installed" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stackio.cli", "--debug", "info", str(tmp_path / "gone.tif")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "Traceback" in result.stderr and "SourceNotFoundError" in result.stderr


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["info"])
    assert info.value.code == 2


def test_option_values_are_json_or_text() -> None:
    from stackio.cli import _parse_option

    assert _parse_option("scene=1") == ("scene", 1)
    assert _parse_option('select={"time": 2}') == ("select", {"time": 2})
    assert _parse_option("name=raw") == ("name", "raw")


def test_info_on_a_plain_folder_lists_the_format_of_each_part(site: Path, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    for i in range(2):
        np.save(open(folder / f"img{i}.fake", "wb"), np.full((3, 4), i, dtype=np.uint8))
    result = stackio_cmd(site, "info", str(folder), "--axes", "YX")
    assert result.returncode == 0, result.stderr  # `stackio.load(folder)` reads it, so info must too
    assert "a plain folder, read by format:" in result.stdout
    assert f"{folder / 'img1.fake'}: format fakefmt (suffix .fake)" in result.stdout
    info = json.loads(stackio_cmd(site, "info", str(folder), "--axes", "YX", "--json").stdout)
    assert info["format"] is None and [p["format"] for p in info["parts"]] == ["fakefmt", "fakefmt"]
    assert [s["data_shape"] for s in info["stacks"]] == [[1, 1, 3, 4], [1, 1, 3, 4]]


def test_diagnose_exits_1_when_no_plugin_reads_the_source(site: Path, tmp_path: Path) -> None:
    junk = tmp_path / "notes.bin"
    junk.write_bytes(b"just some text, no image here" * 4)
    result = stackio_cmd(site, "diagnose", str(junk))
    assert result.returncode == 1 and "would not load:" in result.stdout
    assert stackio_cmd(site, "diagnose", str(junk), "--json").returncode == 1
    readable = tmp_path / "vol.fake"
    np.save(open(readable, "wb"), np.zeros((2, 2), dtype=np.uint8))
    assert stackio_cmd(site, "diagnose", str(readable)).returncode == 0
    folder = tmp_path / "plain"
    folder.mkdir()
    np.save(open(folder / "a.fake", "wb"), np.zeros((2, 2), dtype=np.uint8))
    plain = stackio_cmd(site, "diagnose", str(folder))
    assert plain.returncode == 0 and "a plain folder" in plain.stdout
