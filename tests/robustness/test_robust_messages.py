"""Leaked exceptions and misleading messages (issue 13, items 16, 18, 19 and 21), each on real files.

Out of memory, a file changed or removed under `metadata.raw()`, a config file that is not UTF-8 or nests
too deeply, file names whose digits `int()` refuses, `os.PathLike` objects giving bytes, `format="array"`
on a path, axes letters that case-fold into others, unordered channel lists, non-finite metadata and the
CLI's `--json` errors: each gives one clear `StackioError` (or valid JSON), never a foreign exception.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
import tifffile
from robust_corpus import pattern, write_czi, write_png
from stackio.cli import main

# -- out of memory (item 16, and item 21's lazy NDTiff message) ---------------------------------------

_UNDER_A_LIMIT = """
import json, resource, sys
import numpy as np
import stackio

def limit(extra):
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            now = int(line.split()[1]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (now + extra, resource.RLIM_INFINITY))

def outcome(call):
    try:
        call()
        return "ok"
    except stackio.StackioError as exc:
        return [type(exc).__name__, isinstance(exc, MemoryError), str(exc)]
    except MemoryError as exc:
        return ["bare " + type(exc).__name__, True, str(exc)]
"""


def _run(script: str, *args: str) -> Any:
    code = _UNDER_A_LIMIT + textwrap.dedent(script)
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, env=os.environ.copy()
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_patches_that_do_not_fit_in_memory_are_a_stackio_error(tmp_path: Path) -> None:
    np.save(tmp_path / "big.npy", np.ones((40, 1000, 1000), "uint16"))  # 80 MB, read lazily
    got = _run(
        """
        data = np.ones((40, 1000, 1000), "uint16")
        memory = stackio.load(data, "ZYX")[0]
        lazy = stackio.load(sys.argv[1], "ZYX")[0]
        whole = (0, None, (0, 0, 0), (40, 1000, 1000))
        lazy.extract_patch(0, None, (0, 0, 0), (1, 2, 2))
        limit(30 * 2**20)  # less than one whole-stack patch
        print(json.dumps({
            "in memory": outcome(lambda: memory.extract_patch(*whole)),
            "in memory, zero-filled": outcome(lambda: memory.extract_patch(0, None, (-1, 0, 0), (40, 1000, 1000))),
            "in memory, batch": outcome(lambda: memory.read_patches([0, 0], [(0, 0, 0)] * 2, (40, 1000, 1000))),
            "lazy": outcome(lambda: lazy.extract_patch(*whole)),
            "lazy, batch": outcome(lambda: stackio.read_patches(lazy, [0, 0], [(0, 0, 0)] * 2, (40, 1000, 1000))),
        }))
        """,
        str(tmp_path / "big.npy"),
    )
    for what, result in got.items():
        assert result != "ok", f"{what}: read 80 MB under a 30 MB limit"
        name, is_memory_error, message = result
        assert name == "NotEnoughMemoryError" and is_memory_error, f"{what}: {result}"
        assert "not enough memory" in message and "smaller patches" in message, f"{what}: {message}"
        assert "corrupt" not in message, f"{what}: blames the file: {message}"
    from stackio.errors import NotEnoughMemoryError

    assert issubclass(NotEnoughMemoryError, stackio.ReadError) and issubclass(NotEnoughMemoryError, MemoryError)


def test_a_lazy_load_out_of_memory_does_not_say_load_it_lazily(tmp_path: Path) -> None:
    from stackio_ndtiff.samples import write_ndtiff

    small = write_ndtiff(tmp_path / "small", [({"time": 0}, pattern((8, 8)))], {})
    big = write_ndtiff(tmp_path / "big", [({"time": t}, pattern((8, 8), seed=t)) for t in range(3)], {})
    with open(big / "NDTiff.index", "ab") as index:
        index.write(bytes(64 * 2**20))  # a writer's zero padding: the plugin reads the index whole at load
    assert len(stackio.load(big, "SCYX")) == 1
    got = _run(
        """
        stackio.load(sys.argv[1], "SCYX")[0].extract_patch(0, None, (0, 0), (2, 2))  # imports done
        limit(16 * 2**20)  # less than the 64 MiB index
        print(json.dumps(outcome(lambda: stackio.load(sys.argv[2], "SCYX", in_memory=False))))
        """,
        str(small),
        str(big),
    )
    assert got != "ok", "a 64 MiB index was read under a 16 MiB limit"
    name, is_memory_error, message = got
    assert name == "NotEnoughMemoryError" and is_memory_error, got
    assert str(big) in message and "not enough memory" in message
    assert "lazily" not in message and "in_memory" not in message, f"a lazy load is told to load lazily: {message}"


# -- metadata.raw() of a file that changed (item 16) --------------------------------------------------


def _raw_sources(d: Path) -> dict[str, tuple[Path, str | None]]:
    from stackio_ndtiff.samples import write_ndtiff
    from stackio_zarr.samples import write_ome_v04

    tifffile.imwrite(d / "a.ome.tif", pattern((2, 16, 16)), metadata={"axes": "ZYX", "PhysicalSizeX": 0.5})
    write_png(d / "a.png", pattern((12, 14), "uint8"))
    write_czi(d / "a.czi", {(0, t, 0, 0): pattern((10, 12), "uint8", t) for t in range(2)})
    write_ndtiff(d / "nd", [({"time": t}, pattern((8, 8), seed=t)) for t in range(2)], {"PixelSize_um": 0.5})
    write_ome_v04(d / "a.ome.zarr")
    return {
        "tiff": (d / "a.ome.tif", None),
        "png": (d / "a.png", None),
        "czi": (d / "a.czi", "SCTYX"),
        "ndtiff": (d / "nd", "SCYX"),
        "zarr": (d / "a.ome.zarr", None),
    }


def _garble(path: Path) -> None:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for f in files:
        f.write_bytes(b"not what it was " * 3)


@pytest.mark.parametrize("change", ["removed", "overwritten"])
def test_raw_metadata_of_a_changed_file_is_a_read_error(tmp_path: Path, change: str) -> None:
    sources = _raw_sources(tmp_path)
    stacks = {fmt: stackio.load(path, axes)[0] for fmt, (path, axes) in sources.items()}
    for stack in stacks.values():
        assert stack.metadata.raw() is not None  # the format's own metadata, read while the file is there
    for path, _ in sources.values():
        if change == "removed":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        else:
            _garble(path)
    for fmt, stack in stacks.items():
        with pytest.raises(stackio.ReadError) as caught:
            stack.metadata.raw()
        assert sources[fmt][0].name in str(caught.value), f"{fmt}: {caught.value}"


# -- the config file (item 16) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, says",
    [
        ('[prefer]\n".tif" = "tiff"\n# caf\xe9 in Latin-1\n'.encode("latin-1"), "not UTF-8"),
        (("x = " + "[" * 5000 + "]" * 5000 + "\n").encode(), "nests"),
    ],
    ids=["latin-1", "nested"],
)
def test_a_broken_config_file_is_a_validation_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, says: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(content)
    tifffile.imwrite(tmp_path / "a.tif", pattern((8, 8)))
    monkeypatch.setenv("STACKIO_CONFIG", str(config))
    for _ in range(2):  # every load says it, not only the first
        with pytest.raises(stackio.ValidationError, match=says) as caught:
            stackio.load(tmp_path / "a.tif", "YX")
        assert str(config) in str(caught.value)


# -- names and paths (item 16) ------------------------------------------------------------------------


def test_a_superscript_digit_in_a_file_name_sorts(tmp_path: Path) -> None:
    names = ["img10.tif", "img2.tif", "img\u0663.tif"]  # '٣' is a decimal digit (3), as int() reads it
    for k, name in enumerate(names):
        tifffile.imwrite(tmp_path / name, np.full((4, 4), k, "uint8"))
    # any name of the folder is sorted, also those no format claims: '²' is a digit int() refuses
    (tmp_path / "notes 1\u00b2").write_text("x")
    (tmp_path / "\u00b2").write_text("y")
    assert sorted(["a1\u00b2", "\u00b2", "a10", "a2"], key=stackio.natural_key) == ["a1\u00b2", "a2", "a10", "\u00b2"]
    stacks = stackio.load(tmp_path, "YX")
    assert [Path(s.source).name for s in stacks] == ["img2.tif", "img\u0663.tif", "img10.tif"]
    assert [int(s.extract_patch(0, None, (0, 0), (1, 1))[0, 0, 0]) for s in stacks] == [1, 2, 0]


class _BytesPath:
    def __init__(self, path: Any) -> None:
        self.path = path

    def __fspath__(self) -> Any:
        return self.path


def test_a_pathlike_giving_bytes_loads_like_its_text(tmp_path: Path) -> None:
    data = pattern((4, 8, 10))
    tifffile.imwrite(tmp_path / "a.tif", data, photometric="minisblack")
    (stack,) = stackio.load(_BytesPath(os.fsencode(tmp_path / "a.tif")), "ZYX")
    assert stack.source == str(tmp_path / "a.tif")
    assert np.array_equal(stack.extract_patch(0, None, (0, 0, 0), (4, 8, 10))[0], data)
    with pytest.raises(stackio.ValidationError, match="__fspath__"):
        stackio.load(_BytesPath(42), "ZYX")


# -- format="array" on a path (item 18) ----------------------------------------------------------------


def test_format_array_on_a_path_says_what_is_wrong(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "a.tif", pattern((8, 8)))
    for source in (tmp_path / "a.tif", str(tmp_path / "missing.tif"), "https://example.invalid/a.zarr"):
        with pytest.raises(stackio.ValidationError, match="in-memory") as caught:
            stackio.load(source, "YX", format="array")
        assert "crashed" not in str(caught.value)
    with pytest.raises(stackio.ValidationError, match="not in-memory arrays"):
        stackio.load(np.zeros((4, 4)), "YX", format="czi")  # not an axes error: the source is what is wrong


# -- axes and channel lists (item 21) ------------------------------------------------------------------


def test_axes_letters_that_case_fold_into_others_are_unknown() -> None:
    for axes, letter in (("\u00dfYX", "\u00df"), ("\u017fYX", "\u017f")):  # 'ß'.upper() is 'SS'; U+017F's is 'S'
        with pytest.raises(stackio.AxesError, match="unknown letters") as caught:
            stackio.load(np.zeros((2, 4, 4)), axes)
        assert letter in str(caught.value) and "repeats" not in str(caught.value)
    assert stackio.load(np.zeros((2, 4, 4)), "syx")[0].data_shape == (2, 1, 4, 4)


def test_unordered_collections_are_not_channel_lists_or_coordinates(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", pattern((3, 8, 8)))
    for stack in (stackio.load(pattern((3, 8, 8)), "CYX")[0], stackio.load(tmp_path / "a.npy", "CYX")[0]):
        for channels in ({0}, frozenset({1, 2}), {0: 1}):
            with pytest.raises(stackio.PatchBoundsError, match="ordered"):
                stack.extract_patch(0, channels, (0, 0), (2, 2))
            with pytest.raises(stackio.PatchBoundsError, match="ordered"):
                stack.read_patches([0], [(0, 0)], (2, 2), channels=channels)
        with pytest.raises(stackio.PatchBoundsError, match="coords must be an ordered"):
            stack.extract_patch(0, None, {1, 2}, (2, 2))
        with pytest.raises(stackio.PatchBoundsError, match="patch_size must be an ordered"):
            stack.extract_patch(0, None, (0, 0), {2, 3})
        assert stack.extract_patch(0, range(2), np.array([1, 2]), (2, 2)).shape == (2, 2, 2)  # ordered: fine


# -- non-finite metadata, and the CLI's JSON (item 19) --------------------------------------------------


def _non_finite_sources(d: Path) -> list[Path]:
    import zarr

    data = pattern((2, 8, 8))
    tifffile.imwrite(
        d / "nan.ome.tif", data, metadata={"axes": "ZYX", "PhysicalSizeX": math.nan, "PhysicalSizeY": math.inf}
    )
    tifffile.imwrite(d / "inf.tif", data, imagej=True, metadata={"axes": "ZYX", "spacing": math.inf, "unit": "um"})
    attributes = {"voxel_size": [math.nan, 1.0], "offset": [math.inf, 0.0], "axis_names": ["y", "x"]}
    array = zarr.create_array(str(d / "nan.zarr"), shape=(8, 8), chunks=(8, 8), dtype="uint16", attributes=attributes)
    array[...] = data[0]
    return [d / "nan.ome.tif", d / "inf.tif", d / "nan.zarr"]


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_voxel_sizes_and_offsets_are_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in _non_finite_sources(tmp_path):
        (stack,) = stackio.load(path)
        for field in ("voxel_size", "offset"):
            values = getattr(stack.metadata, field) or {}
            assert all(math.isfinite(v) for v in values.values()), f"{path.name}: {field} {values}"
        assert main(["info", str(path), "--json"]) == 0
        printed = _strict_json(capsys.readouterr().out)["stacks"][0]["metadata"]
        assert printed["voxel_size"] == stack.metadata.voxel_size and printed["offset"] == stack.metadata.offset
    meta = stackio.Metadata(voxel_size={"x": math.nan, "y": 0.5}, offset={"z": -math.inf})
    assert meta.voxel_size == {"Y": 0.5} and meta.offset is None
    image = stackio.ImageMetadata(time=math.nan, exposure=math.inf, stage_position={"X": math.nan, "Y": 2})
    assert image.time is None and image.exposure is None and image.stage_position == {"Y": 2.0}


def test_json_commands_print_their_error_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.tif").write_bytes(b"II*\x00" + bytes(20))
    cases = [
        (["info", str(tmp_path / "missing.tif"), "--json"], "SourceNotFoundError"),
        (["info", str(tmp_path / "bad.tif"), "--json"], "ReadError"),
        (["info", str(tmp_path / "bad.tif"), "--axes", "QYX", "--json"], "AxesError"),
        (["diagnose", str(tmp_path / "missing.tif"), "--json"], "SourceNotFoundError"),
    ]
    for argv, error_class in cases:
        assert main(argv) == 1
        out, err = capsys.readouterr()
        error = _strict_json(out)["error"]
        assert error["class"] == error_class, (argv, error)
        assert error["message"] in " ".join(err.split()) and error["message"], (argv, error, err)
        assert error["source"] is None or Path(error["source"]).name in error["message"]
    assert main(["info", str(tmp_path / "missing.tif")]) == 1
    assert capsys.readouterr().out == ""  # without --json, stdout stays empty
