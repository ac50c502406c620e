"""stackio.save, stackio.create and stackio convert: routing, safety, streaming and bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import stackio
import zarr
from stackio.cli import main
from stackio.pyramids import auto_levels, downsample, level_factors


def _image(shape: tuple[int, ...] = (2, 5, 70, 90), dtype: str = "uint16", seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 4000, size=shape).astype(dtype)


def _all(stack: stackio.ImageStack, sample: int = 0) -> np.ndarray:
    return stack.extract_patch(sample, None, (0,) * (len(stack.data_shape) - 2), stack.data_shape[2:])


# -- routing ------------------------------------------------------------------------------------


def test_save_routes_by_suffix_and_format(tmp_path: Path) -> None:
    data = _image()
    zarr_out = stackio.save(data, tmp_path / "a.ome.zarr", axes="CZYX")
    tiff_out = stackio.save(data, tmp_path / "a.ome.tif", axes="CZYX")
    named = stackio.save(data, tmp_path / "a.store", axes="CZYX", format="zarr")
    assert zarr.open_group(str(zarr_out), mode="r").attrs["ome"]["version"] == "0.5"
    assert zarr.open_group(str(named), mode="r").attrs["ome"]["version"] == "0.5"
    assert tiff_out.read_bytes()[:4] in (b"II*\x00", b"II+\x00")
    for out in (zarr_out, tiff_out, named):
        back = stackio.load(out, format="zarr" if out == named else None)[0]
        assert back.data_shape == (1, 2, 5, 70, 90)
        np.testing.assert_array_equal(_all(back), data)


def test_unknown_destination_suffix_names_the_formats_that_write(tmp_path: Path) -> None:
    with pytest.raises(stackio.UnsupportedFormatError, match=r"\.xyz.*tiff: \.ome\.tif.*zarr: \.ome\.zarr, \.zarr"):
        stackio.save(_image(), tmp_path / "a.xyz", axes="CZYX")
    with pytest.raises(stackio.UnsupportedFormatError, match="'czi' reads but does not write"):
        stackio.save(_image(), tmp_path / "a.zarr", axes="CZYX", format="czi")
    assert not list(tmp_path.iterdir())


def test_unknown_writer_option_lists_the_accepted_ones(tmp_path: Path) -> None:
    with pytest.raises(stackio.ValidationError, match="does not take the option.*colour.*accepts: version"):
        stackio.save(_image(), tmp_path / "a.ome.zarr", axes="CZYX", colour="red")
    assert not list(tmp_path.iterdir())


# -- safety -------------------------------------------------------------------------------------


def test_an_existing_destination_is_kept_unless_overwrite(tmp_path: Path) -> None:
    dest = tmp_path / "a.ome.zarr"
    stackio.save(_image(seed=1), dest, axes="CZYX")
    with pytest.raises(stackio.WriteError, match="already exists; pass overwrite=True"):
        stackio.save(_image(seed=2), dest, axes="CZYX")
    np.testing.assert_array_equal(_all(stackio.load(dest)[0]), _image(seed=1))
    stackio.save(_image(seed=2), dest, axes="CZYX", overwrite=True)
    np.testing.assert_array_equal(_all(stackio.load(dest)[0]), _image(seed=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ome.zarr"]  # no temporaries left


def test_never_writes_into_the_source(tmp_path: Path) -> None:
    src = stackio.save(_image(), tmp_path / "src.ome.zarr", axes="CZYX")
    before = sorted(str(p.relative_to(src)) for p in src.rglob("*"))
    with pytest.raises(stackio.ValidationError, match="never writes into its source"):
        stackio.convert(src, src / "inner.ome.zarr")
    with pytest.raises(stackio.ValidationError, match="overlaps the source"):
        stackio.save(stackio.load(src), src, overwrite=True)
    assert sorted(str(p.relative_to(src)) for p in src.rglob("*")) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_destination_folder_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(stackio.WriteError, match="permission denied"):
            stackio.save(_image(), folder / "a.ome.zarr", axes="CZYX")
    finally:
        folder.chmod(0o755)


def test_a_missing_destination_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(stackio.WriteError, match="does not exist; create it first"):
        stackio.save(_image(), tmp_path / "nope" / "a.ome.zarr", axes="CZYX")


class _FailingStack:
    """A stack whose reads fail part-way, like a file truncated in the middle."""

    def __init__(self, stack: stackio.ImageStack, after: int) -> None:
        self._stack, self._left = stack, after
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> object:
        return getattr(self._stack, name)

    def extract_patch(self, *args: object) -> np.ndarray:
        with self._lock:
            self._left -= 1
            if self._left < 0:
                raise stackio.ReadError("<failing>: the file ends early", source="<failing>")
        return self._stack.extract_patch(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".ome.zarr", ".ome.tif"])
def test_a_source_failing_mid_way_leaves_nothing_that_looks_complete(tmp_path: Path, suffix: str) -> None:
    stack = stackio.ArrayStack.from_axes(_image((3, 8, 600, 600)), "CZYX")
    failing = _FailingStack(stack, after=2)
    dest = tmp_path / f"out{suffix}"
    with pytest.raises(stackio.ReadError, match="ends early.*nothing was written at.*partial output was removed"):
        stackio.save(failing, dest, chunks=(2, 128, 128))
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_conversion_is_never_at_the_destination(tmp_path: Path) -> None:
    """A killed process leaves only a hidden `.NAME.partial-*` folder, never the destination."""
    src = stackio.save(_image((2, 16, 512, 512)), tmp_path / "src.ome.zarr", axes="CZYX")
    dest = tmp_path / "out.ome.zarr"
    script = (
        "import os, stackio, stackio.saving as s\n"
        "real = s.copy_stack\n"
        "def copy(*a, **k):\n"
        "    k['progress'] = lambda n: os._exit(9)\n"  # dies after the first region is written
        "    real(*a, **k)\n"
        "s.copy_stack = copy\n"
        f"stackio.convert({str(src)!r}, {str(dest)!r}, chunks=(4, 64, 64))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == 9
    assert not dest.exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "src.ome.zarr"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".out.ome.zarr.partial-")
    with pytest.raises(stackio.SourceNotFoundError):
        stackio.load(dest)


def test_dtype_the_destination_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(stackio.ValidationError, match="OME-TIFF cannot hold int64.*OME-Zarr"):
        stackio.save(_image(dtype="int64"), tmp_path / "a.ome.tif", axes="CZYX")
    with pytest.raises(stackio.ValidationError, match="ImageJ hyperstack cannot hold int16"):
        stackio.save(_image(dtype="int16"), tmp_path / "a.tif", axes="CZYX", flavor="imagej")
    with pytest.raises(stackio.ValidationError, match="OME-Zarr holds bool, integer and float pixels, not complex"):
        stackio.save(_image().astype("complex64"), tmp_path / "a.ome.zarr", axes="CZYX")
    with pytest.raises(stackio.ValidationError, match="a TIFF holds one image here, but labels"):
        stackio.save(_image(), tmp_path / "b.ome.tif", axes="CZYX", labels={"x": _image((5, 70, 90))})
    assert list(tmp_path.iterdir()) == []


# -- streaming ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".ome.zarr", ".ome.tif"])
def test_create_from_many_threads_equals_the_whole(tmp_path: Path, suffix: str) -> None:
    """Unaligned overlapping-free tiles from 4 threads; chunk-sharing writes must not lose pixels."""
    truth = np.random.default_rng(3).random((3, 2, 24, 100, 130)).astype("float32")  # S C Z Y X
    dest = tmp_path / f"pred{suffix}"
    tiles = [(s, z, y, x) for s in range(3) for z in (0, 13) for y in range(0, 100, 30) for x in range(0, 130, 37)]

    with stackio.create(dest, truth.shape, "float32", "SCZYX", chunks=(16, 64, 64)) as writer:

        def work(part: list[tuple[int, int, int, int]]) -> None:
            for s, z, y, x in part:
                writer.write_patch(s, (z, y, x), truth[s, :, z : z + 13, y : y + 30, x : x + 37])

        threads = [threading.Thread(target=work, args=(tiles[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not dest.exists()  # only once closed
    back = stackio.load(dest)[0]
    assert back.data_shape == (3, 2, 24, 100, 130)
    for s in range(3):
        np.testing.assert_array_equal(_all(back, s), truth[s])


def test_create_bad_patches(tmp_path: Path) -> None:
    writer = stackio.create(tmp_path / "p.ome.zarr", (2, 40, 50), "uint8", "CYX")
    with pytest.raises(stackio.ValidationError, match=r"all 2 channel\(s\).*got shape \(1, 10, 10\)"):
        writer.write_patch(0, (0, 0), np.zeros((1, 10, 10), "uint8"))
    with pytest.raises(stackio.PatchBoundsError, match="reaches X 45..55 but the image has X 0..50"):
        writer.write_patch(0, (0, 45), np.zeros((2, 10, 10), "uint8"))
    with pytest.raises(stackio.PatchBoundsError, match="sample_idx 1"):
        writer.write_patch(1, (0, 0), np.zeros((2, 10, 10), "uint8"))
    with pytest.raises(stackio.ValidationError, match="float32 block cannot be stored in this uint8"):
        writer.write_patch(0, (0, 0), np.zeros((2, 10, 10), "float32"))
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(stackio.WriteError, match="closed"):
        writer.write_patch(0, (0, 0), np.zeros((2, 10, 10), "uint8"))


def test_create_discards_on_exception(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), stackio.create(tmp_path / "p.ome.zarr", (40, 50), "uint8", "YX") as w:
        w.write_patch(0, (0, 0), np.ones((1, 10, 10), "uint8"))
        raise RuntimeError("the network crashed")
    assert list(tmp_path.iterdir()) == []


# -- convert ------------------------------------------------------------------------------------


def test_convert_with_threads_and_pyramid(tmp_path: Path) -> None:
    data = _image((2, 9, 300, 500))
    src = stackio.save(data, tmp_path / "src.ome.tif", axes="CZYX", metadata={"voxel_size": {"X": 0.2, "Y": 0.2}})
    dest = stackio.convert(src, tmp_path / "dst.ome.zarr", pyramid="auto", workers=3, chunks=(4, 64, 64))
    back = stackio.load(dest)[0]
    np.testing.assert_array_equal(_all(back), data)
    assert back.metadata.voxel_size == {"X": 0.2, "Y": 0.2, "Z": 1.0}
    level1 = stackio.load(dest, level=1)[0]
    expected = downsample(data, (2, 2), labels=False)  # Z is coarse next to 0.2 um pixels: not halved
    np.testing.assert_array_equal(_all(level1), expected)


def test_convert_with_dask_distributed(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    data = _image((2, 4, 200, 300))
    src = stackio.save(data, tmp_path / "src.ome.zarr", axes="CZYX")
    with distributed.Client(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as client:
        dest = stackio.convert(src, tmp_path / "dst.ome.zarr", client=client, chunks=(2, 64, 64), pyramid=2)
    np.testing.assert_array_equal(_all(stackio.load(dest)[0]), data)
    omero = zarr.open_group(str(dest), mode="r").attrs["ome"]["omero"]
    assert [c["window"]["end"] for c in omero["channels"]] == [float(data[c].max()) for c in range(2)]


def test_convert_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _image((2, 4, 100, 120))
    src = stackio.save(data, tmp_path / "src.tif", axes="CZYX")
    dest = tmp_path / "dst.ome.zarr"
    code = main(["convert", str(src), str(dest), "--chunks", "2,64,64", "--pyramid", "2", "--version", "0.4"])
    assert code == 0 and capsys.readouterr().out.strip() == str(dest)
    np.testing.assert_array_equal(_all(stackio.load(dest)[0]), data)
    assert zarr.open_group(str(dest), mode="r", zarr_format=2).attrs["multiscales"][0]["version"] == "0.4"
    assert main(["convert", str(src), str(dest)]) == 1
    assert "already exists; pass overwrite=True" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["convert", str(src), str(dest), "--overwrite", "--pyramid", "x"])
    assert exited.value.code == 2


def test_convert_command_piped_has_no_progress_bar(tmp_path: Path) -> None:
    src = stackio.save(_image((2, 4, 100, 120)), tmp_path / "src.ome.zarr", axes="CZYX")
    result = subprocess.run(
        [sys.executable, "-m", "stackio.cli", "convert", str(src), str(tmp_path / "d.ome.tif")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_the_progress_bar_counts_every_region(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = stackio.save(_image((2, 4, 100, 120)), tmp_path / "src.ome.zarr", axes="CZYX")
    stackio.convert(src, tmp_path / "d.ome.zarr", chunks=(4, 64, 64), progress=True, pyramid=2)
    err = capsys.readouterr().err
    assert "writing d.ome.zarr" in err and "region" in err


# -- pyramids -----------------------------------------------------------------------------------


def test_downsample_mean_and_mode() -> None:
    block = np.array([[1, 2, 9], [3, 6, 9]], dtype=np.uint8)
    np.testing.assert_array_equal(downsample(block, (2, 2), labels=False), [[3, 9]])  # (1+2+3+6)/4 = 3
    labels = np.array([[5, 5, 7, 0], [5, 2, 0, 0]], dtype=np.uint32)
    np.testing.assert_array_equal(downsample(labels, (2, 2), labels=True), [[5, 0]])
    assert downsample(labels, (2, 2), labels=True).dtype == np.uint32


def test_level_factors_keep_a_coarse_z() -> None:
    assert level_factors((10, 512, 512), (2.0, 0.25, 0.25), 4) == [(1, 1, 1), (1, 2, 2), (1, 4, 4), (2, 8, 8)]
    assert level_factors((64, 64, 64), None, 3) == [(1, 1, 1), (2, 2, 2), (4, 4, 4)]
    assert auto_levels((3000, 1000)) == 5
