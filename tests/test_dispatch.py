"""Choosing a format: explicit, by scheme, suffix, preference, content; never by registration order."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
from stackio import FormatSpec, hookimpl
from stackio.registry import Registry

from .conftest import NpyPlugin


@pytest.fixture
def tif_like(tmp_path: Path) -> Path:
    """A real .npy file named .tif: both test formats below can read it."""
    path = tmp_path / "x.tif"
    with open(path, "wb") as f:
        np.save(f, np.arange(12, dtype=np.uint8).reshape(3, 4))
    return path


@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
def test_two_formats_claiming_a_suffix_resolve_the_same_whatever_the_order(
    fresh_registry: Registry, tif_like: Path, order: tuple[str, str]
) -> None:
    plugins = {"a": NpyPlugin("tif-a", (".tif",)), "b": NpyPlugin("tif-b", (".tif",))}
    for name in order:
        fresh_registry.register(plugins[name], name=name)
    decision = stackio.detect(tif_like)
    assert decision.format == "tif-a"  # equal priority: by name
    assert [v.format for v in decision.verdicts] == ["tif-a", "tif-b"]


def test_priority_beats_name(fresh_registry: Registry, tif_like: Path) -> None:
    fresh_registry.register(NpyPlugin("tif-a", (".tif",)), name="a")
    fresh_registry.register(NpyPlugin("tif-b", (".tif",), priority=5), name="b")
    assert stackio.detect(tif_like).format == "tif-b"


def test_content_refusal_passes_to_the_next(fresh_registry: Registry, tif_like: Path) -> None:
    fresh_registry.register(NpyPlugin("tif-a", (".tif",), accept=False), name="a")
    fresh_registry.register(NpyPlugin("tif-b", (".tif",)), name="b")
    assert stackio.detect(tif_like).format == "tif-b"


def test_preferences_argument_env_and_config(
    fresh_registry: Registry, tif_like: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_registry.register(NpyPlugin("tif-a", (".tif",)), name="a")
    fresh_registry.register(NpyPlugin("tif-b", (".tif",)), name="b")
    config = tmp_path / "config.toml"
    config.write_text('[prefer]\n".tif" = "tif-b"\n')
    monkeypatch.setenv("STACKIO_CONFIG", str(config))
    assert stackio.detect(tif_like).format == "tif-b"
    assert stackio.detect(tif_like).reason == "preference .tif -> tif-b"
    monkeypatch.setenv("STACKIO_PREFER", ".tif=tif-a")
    assert stackio.detect(tif_like).format == "tif-a"
    assert stackio.detect(tif_like, prefer={".tif": "tif-b"}).format == "tif-b"
    stacks = stackio.load(tif_like, "YX", prefer={".TIF": "tif-b"})
    assert stacks[0].data_shape == (1, 1, 3, 4)


def test_preference_for_a_missing_format_is_an_error(fresh_registry: Registry, tif_like: Path) -> None:
    fresh_registry.register(NpyPlugin("tif-a", (".tif",)), name="a")
    with pytest.raises(stackio.UnsupportedFormatError, match="preference .tif -> 'nope' names a format that is not"):
        stackio.detect(tif_like, prefer={".tif": "nope"})


def test_bad_preference_text(monkeypatch: pytest.MonkeyPatch, tif_like: Path, fresh_registry: Registry) -> None:
    monkeypatch.setenv("STACKIO_PREFER", "tif")
    with pytest.raises(stackio.ValidationError, match="STACKIO_PREFER: 'tif' is not of the form"):
        stackio.detect(tif_like)


def test_longest_suffix_wins(fresh_registry: Registry, tmp_path: Path) -> None:
    fresh_registry.register(NpyPlugin("plain", (".tif",), priority=9), name="a")
    fresh_registry.register(NpyPlugin("ome", (".ome.tif",)), name="b")
    path = tmp_path / "cells.OME.tif"
    np.save(open(path, "wb"), np.zeros((2, 2)))
    assert stackio.detect(path).format == "ome"
    assert stackio.detect(path).reason == "suffix .ome.tif"


def test_unclaimed_suffix_falls_back_to_content(fresh_registry: Registry, tmp_path: Path) -> None:
    fresh_registry.register(NpyPlugin("npyfmt", (".npy",)), name="a")
    path = tmp_path / "renamed.dat"
    np.save(open(path, "wb"), np.zeros((2, 2)))
    decision = stackio.detect(path)
    assert decision.format == "npyfmt" and "content check: numpy magic" in decision.reason
    no_suffix = tmp_path / "noext"
    np.save(open(no_suffix, "wb"), np.zeros((2, 2)))
    assert stackio.load(no_suffix, "YX")[0].data_shape == (1, 1, 2, 2)


def test_explicit_format_wins(fresh_registry: Registry, tif_like: Path) -> None:
    fresh_registry.register(NpyPlugin("tif-a", (".tif",)), name="a")
    fresh_registry.register(NpyPlugin("other", (".xyz",)), name="b")
    assert stackio.detect(tif_like, format="other").format == "other"
    with pytest.raises(
        stackio.UnsupportedFormatError, match="format 'czi' is not installed. Install it with `pip install stackio-czi`"
    ):
        stackio.load(tif_like, "YX", format="czi")


def test_unknown_suffix_names_the_distribution_and_the_reasons(fresh_registry: Registry, tmp_path: Path) -> None:
    fresh_registry.register(NpyPlugin("npyfmt", (".npy",)), name="a")
    path = tmp_path / "cells.czi"
    path.write_bytes(b"ZISRAWFILE" + bytes(200))
    with pytest.raises(stackio.UnsupportedFormatError) as info:
        stackio.load(path, "YX")
    message = str(info.value)
    assert "no installed plugin reads files with suffix .czi" in message
    assert "pip install stackio-czi" in message
    assert "npyfmt: refused: no numpy magic" in message
    assert "Installed formats: array (in-memory arrays); npyfmt (.npy)." in message


def test_unknown_scheme(fresh_registry: Registry) -> None:
    with pytest.raises(stackio.UnsupportedFormatError, match="no installed plugin reads the URI scheme 's3'"):
        stackio.load("s3://bucket/x.zarr", "YX")


def test_scheme_dispatch(fresh_registry: Registry) -> None:
    class Remote(NpyPlugin):
        @hookimpl
        def stackio_register_formats(self, register: Callable[[FormatSpec], None]) -> None:
            register(FormatSpec(name="remote", schemes=("demo",)))

    fresh_registry.register(Remote(), name="remote")
    assert stackio.detect("demo://host/x").format == "remote"


def test_missing_path_and_empty_file(fresh_registry: Registry, tmp_path: Path) -> None:
    fresh_registry.register(NpyPlugin(), name="a")
    with pytest.raises(stackio.SourceNotFoundError, match="nothere.npy: no such file or directory"):
        stackio.load(tmp_path / "nothere.npy", "YX")
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(stackio.ReadError, match=r"empty.npy: the file is empty \(0 bytes\)"):
        stackio.load(tmp_path / "empty.npy", "YX")


def test_unknown_option_lists_accepted_ones(fresh_registry: Registry, npy_file: tuple[Path, np.ndarray]) -> None:
    fresh_registry.register(NpyPlugin(), name="a")
    with pytest.raises(stackio.ValidationError, match="does not take the option.s. colour; it accepts: scale"):
        stackio.load(npy_file[0], "TCYX", colour="red")
    with pytest.raises(stackio.ValidationError, match="scale must be a number"):
        stackio.load(npy_file[0], "TCYX", scale="big")


def test_directory_marker_claims_the_folder(fresh_registry: Registry, tmp_path: Path) -> None:
    class Dataset(NpyPlugin):
        @hookimpl
        def stackio_register_formats(self, register: Callable[[FormatSpec], None]) -> None:
            register(FormatSpec(name="ds", directories=True, markers=("index.bin", "sub/*.idx")))

        @hookimpl
        def stackio_detect(self, source: stackio.Source) -> stackio.Detection:
            return stackio.Detection(source.has("index.bin") or source.has("sub/*.idx"), "marker")

    fresh_registry.register(Dataset(), name="ds")
    folder = tmp_path / "acq"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.idx").write_bytes(b"x")
    assert stackio.detect(folder).format == "ds"
    assert stackio.detect(folder).reason == "directory markers or suffix"


def test_option_selects_a_format(fresh_registry: Registry, tif_like: Path) -> None:
    class Custom(NpyPlugin):
        @hookimpl
        def stackio_register_formats(self, register: Callable[[FormatSpec], None]) -> None:
            register(FormatSpec(name="custom", options=("read_func",), selected_by=("read_func",)))

    fresh_registry.register(NpyPlugin("tif-a", (".tif",)), name="a")
    fresh_registry.register(Custom(), name="custom")
    assert stackio.detect(tif_like, read_func=print).format == "custom"


def test_crashing_detection_is_reported_and_others_still_work(fresh_registry: Registry, tif_like: Path) -> None:
    class Crashing(NpyPlugin):
        @hookimpl
        def stackio_detect(self, source: stackio.Source) -> Any:
            raise RuntimeError("detector exploded")

    fresh_registry.register(Crashing("tif-a", (".tif",)), name="a")
    fresh_registry.register(NpyPlugin("tif-b", (".tif",)), name="b")
    decision = stackio.detect(tif_like)
    assert decision.format == "tif-b"
    assert ("tif-a", "crashed", "RuntimeError: detector exploded") in [
        (v.format, v.status, v.reason) for v in decision.verdicts
    ]
    diagnosis = stackio.diagnose(tif_like)
    assert {v.format: v.status for v in diagnosis.verdicts} == {
        "tif-a": "crashed",
        "tif-b": "accepted",
        "array": "refused",
    }
    assert diagnosis.chosen is not None and diagnosis.chosen.format == "tif-b"


def test_crash_in_load_is_a_read_error_naming_the_plugin(
    fresh_registry: Registry, npy_file: tuple[Path, np.ndarray]
) -> None:
    class Failing(NpyPlugin):
        @hookimpl
        def stackio_load(self, source: stackio.Source) -> Any:
            raise KeyError("deep inside the format library")

    fresh_registry.register(Failing(), name="failing")
    with pytest.raises(stackio.ReadError, match=r"plugin 'failing' .*could not read it \(KeyError") as info:
        stackio.load(npy_file[0], "TCYX")
    assert isinstance(info.value.__cause__, KeyError)


def test_plugin_returning_non_stacks_is_a_plugin_error(
    fresh_registry: Registry, npy_file: tuple[Path, np.ndarray]
) -> None:
    class Lying(NpyPlugin):
        @hookimpl
        def stackio_load(self, source: stackio.Source) -> Any:
            return [np.zeros((2, 2))]

    fresh_registry.register(Lying(), name="lying")
    with pytest.raises(stackio.PluginError, match="not an ImageStack: source is missing"):
        stackio.load(npy_file[0], "TCYX")


def test_a_format_may_take_extra_options(fresh_registry: Registry, tif_like: Path) -> None:
    seen: dict[str, Any] = {}

    class PassThrough(NpyPlugin):
        @hookimpl
        def stackio_register_formats(self, register: Callable[[FormatSpec], None]) -> None:
            register(FormatSpec(name="loose", suffixes=(".tif",), options=("known",), pass_through_options=True))

        @hookimpl
        def stackio_load(self, source: stackio.Source, axes: str | None, options: dict[str, Any]) -> Any:
            seen.update(options)
            return NpyPlugin.stackio_load(self, source, axes)

    fresh_registry.register(PassThrough("loose"), name="loose")
    stackio.load(tif_like, "YX", known=1, anything="else")
    assert seen == {"known": 1, "anything": "else"}


def test_a_missing_path_inside_a_dataset_goes_to_its_format(fresh_registry: Registry, tmp_path: Path) -> None:
    class Store(NpyPlugin):
        @hookimpl
        def stackio_register_formats(self, register: Callable[[FormatSpec], None]) -> None:
            register(FormatSpec(name="store", suffixes=(".store",), directories=True, markers=("meta.json",)))

    fresh_registry.register(Store(), name="store")
    (tmp_path / "x.store" / "grp").mkdir(parents=True)
    (tmp_path / "x.store" / "grp" / "meta.json").write_text("{}")
    decision = stackio.detect(tmp_path / "x.store" / "grp" / "missing")
    assert decision.format == "store" and decision.reason == "inside a store dataset"
    with pytest.raises(stackio.SourceNotFoundError):
        stackio.detect(tmp_path / "plain" / "missing.npy")


def test_the_order_of_formats_follows_registration_and_removal(fresh_registry: Registry, tif_like: Path) -> None:
    """`formats()` is remembered between calls; a format registered or removed later is in the next answer."""
    fresh_registry.register(NpyPlugin("tif-b", (".tif",)), name="b")
    assert stackio.detect(tif_like).format == "tif-b"
    fresh_registry.register(NpyPlugin("tif-a", (".tif",), priority=5), name="a")
    names = [e.name for e in fresh_registry.formats()]
    assert names.index("tif-a") < names.index("tif-b")
    assert stackio.detect(tif_like).format == "tif-a"
    fresh_registry.unregister("a")
    assert "tif-a" not in [e.name for e in fresh_registry.formats()]
    assert stackio.detect(tif_like).format == "tif-b"


def test_a_source_is_looked_up_once_when_parsed(tmp_path: Path, tif_like: Path) -> None:
    """The stat made to split off '@N' is what dispatch knows of the path: kind, size, existence."""
    source = stackio.Source.parse(tif_like)
    assert source.stat_info is not None and source.stat_info.st_size == tif_like.stat().st_size
    assert source.exists and source.is_file and not source.is_dir and source.index is None
    indexed = stackio.Source.parse(f"{tif_like}@2")
    assert (indexed.path, indexed.index, indexed.is_file) == (tif_like, 2, True)
    folder = stackio.Source.parse(tmp_path)
    assert folder.exists and folder.is_dir and not folder.is_file
    missing = stackio.Source.parse(tmp_path / "nothing.tif")
    assert missing.stat_info is None and not missing.exists and not missing.is_dir
    with pytest.raises(stackio.SourceNotFoundError, match="no such file"):
        stackio.load(missing, "YX")
    nul = stackio.Source.parse("a\0b.tif")  # a name no file system can look up is simply not there
    assert not nul.exists and not nul.is_file


def _settle(folder: Path) -> int:
    """Give `folder` a modification time well in the past (as a folder not changed for a while has)."""
    old = os.stat(folder).st_mtime_ns - 60 * 10**9
    os.utime(folder, ns=(old, old))
    return old


def test_a_marker_made_after_a_folder_was_looked_at_is_seen(tmp_path: Path) -> None:
    """The folder's answer is remembered while its stat is unchanged: a marker made later changes it."""
    from stackio.markers import markers_in

    markers = ("NDTiff.index", "Full resolution/NDTiff.index", "zarr.json")
    _settle(tmp_path)
    assert markers_in(tmp_path, markers) == frozenset()
    assert markers_in(tmp_path, markers) == frozenset()  # remembered
    (tmp_path / "zarr.json").write_text("{}")
    assert markers_in(tmp_path, markers) == {"zarr.json"}
    (tmp_path / "zarr.json").unlink()
    (tmp_path / "Full resolution").mkdir()
    _settle(tmp_path / "Full resolution")
    _settle(tmp_path)
    assert markers_in(tmp_path, markers) == frozenset()
    (tmp_path / "Full resolution" / "NDTiff.index").write_bytes(b"")  # inside a subfolder: its stat says so
    assert markers_in(tmp_path, markers) == {"Full resolution/NDTiff.index"}


def test_a_folder_changed_just_now_is_looked_at_again(tmp_path: Path) -> None:
    """An answer is remembered only for a folder unchanged for a while: a marker made within the file
    system's timestamp granularity of the look (same modification and change times) is still seen."""
    from stackio import markers

    fresh, settled = tmp_path / "fresh", tmp_path / "settled"
    fresh.mkdir()
    settled.mkdir()
    _settle(settled)
    for folder in (fresh, settled):
        assert markers.markers_in(folder, ("NDTiff.index",)) == frozenset()
    assert (str(fresh), ("NDTiff.index",)) not in markers._remembered
    assert (str(settled), ("NDTiff.index",)) in markers._remembered


def test_a_tiff_is_read_as_part_of_the_dataset_its_folder_became(tmp_path: Path) -> None:
    pytest.importorskip("stackio_ndtiff")
    pytest.importorskip("stackio_tiff")
    import tifffile

    path = tmp_path / "a.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint16))
    _settle(tmp_path)
    assert stackio.detect(path).format == "tiff"
    assert stackio.detect(path).format == "tiff"
    (tmp_path / "NDTiff.index").write_bytes(b"")
    decision = stackio.detect(path)
    assert decision.format == "ndtiff" and "inside a ndtiff dataset" in decision.reason


class _AnyContent(NpyPlugin):
    """Claims its suffixes and accepts any content (refusing nothing), below the .npy readers."""

    @hookimpl
    def stackio_detect(self, source: stackio.Source) -> Any:
        from stackio import Detection

        return Detection.accept("takes anything")


def test_files_of_a_folder_share_a_decision_made_by_suffix_but_not_one_made_by_content(
    fresh_registry: Registry, tmp_path: Path
) -> None:
    fresh_registry.register(NpyPlugin(), name="npy")
    fresh_registry.register(NpyPlugin("tif-npy", (".tif",), priority=5), name="tif-npy")
    fresh_registry.register(_AnyContent("tif-any", (".tif",)), name="tif-any")
    for i in range(3):
        np.save(tmp_path / f"a{i}.npy", np.zeros((2, 2), np.uint8))
    with open(tmp_path / "b1.tif", "wb") as f:
        np.save(f, np.zeros((2, 2), np.uint8))  # numpy content: tif-npy's, by priority
    (tmp_path / "b2.tif").write_bytes(b"not numpy")  # tif-npy refuses it: tif-any's
    (tmp_path / "b3.tif").write_bytes((tmp_path / "b1.tif").read_bytes())
    parts = stackio.plan(tmp_path)
    assert [(p.source.path.name, p.decision.format) for p in parts] == [  # type: ignore[union-attr]
        ("a0.npy", "npytest"),
        ("a1.npy", "npytest"),
        ("a2.npy", "npytest"),
        ("b1.tif", "tif-npy"),
        ("b2.tif", "tif-any"),
        ("b3.tif", "tif-npy"),
    ]
    assert parts[0].decision is parts[2].decision  # by suffix: decided once for the folder
    assert parts[3].decision.verdicts and parts[3].decision is not parts[5].decision  # by content: each file
    (tmp_path / "a3.npy").write_bytes(b"")  # a file sharing the decision is still checked to hold bytes
    with pytest.raises(stackio.ReadError, match=r"a3.npy: the file is empty \(0 bytes\)"):
        stackio.plan(tmp_path)
    (tmp_path / "a3.npy").unlink()
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "a3.npy")  # and to be a regular file
        with pytest.raises(stackio.StackioError, match="a3.npy"):
            stackio.plan(tmp_path)
