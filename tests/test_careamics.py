"""CAREamics on stackio stacks, as a CAREamics user would: `ImageStackLoading(loader)` with `data_type="custom"`.

CAREamics' own dataset over stackio's stacks must give the same patches as over CAREamics' own readers
(tifffile, zarr, pylibCZIrw) on the same files; a short N2V training and prediction must run on them and
predict the same as with CAREamics' own readers. `.ci/install` installs careamics
(`tests/requirements-careamics.txt`); the module is skipped, with the reason, where careamics is not importable.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
import stackio
from stackio.testing.careamics import import_careamics

try:
    import_careamics()
    from careamics import CAREamist, ImageStackLoading
    from careamics.config import create_advanced_n2v_config
    from careamics.dataset.factory.factory import create_dataset
except Exception as exc:  # not installed (see .ci/install), or torchvision failing in another way
    pytest.skip(f"careamics is not importable: {type(exc).__name__}: {exc}", allow_module_level=True)

SEED = 11


def stackio_loader(source: Any, axes: str, file_axes: str | None = None, **kwargs: Any) -> list[Any]:
    """CAREamics' ImageStackLoader signature: a source and its axes, to a list of image stacks.

    CAREamics takes T as the depth axis only for its own CZI reader; with `data_type="custom"` the
    configuration says Z and `file_axes="SCTYX"` tells stackio that T is meant.
    """
    return stackio.load(source, file_axes or axes, **kwargs)


def _noisy(shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).sum(axis=0) % 17
    return (grid * 100 + rng.integers(0, 400, shape)).astype(np.uint16)


@attrs.frozen
class Case:
    """The same pixels named for stackio's loader (`ours`) and for CAREamics' own reader (`theirs`)."""

    own_type: str  # CAREamics' data type for its own reader
    ours: Any
    theirs: Any
    axes: str
    patch: tuple[int, ...]
    loader_kwargs: dict[str, Any] = attrs.field(factory=dict)
    in_memory: bool | None = None  # None: CAREamics' default for the data type


def write_tiff(folder: Path) -> Case:
    import tifffile

    paths = []
    for i in range(3):
        path = folder / f"img{i}.tif"
        tifffile.imwrite(path, _noisy((64, 64), seed=i))
        paths.append(path)
    return Case("tiff", paths, paths, "YX", (32, 32))


def write_tiff_lazy(folder: Path) -> Case:
    """CAREamics reads lazily one file at a time (its LimitFilesPatchExtractor calls `load()` and `close()`)."""
    return attrs.evolve(write_tiff(folder), in_memory=False)


def write_tiff_tree(folder: Path) -> Case:
    """A folder with subfolders: CAREamics lists `*.tif*` recursively; stackio reads it with `recursive=True`."""
    import tifffile
    from careamics.lightning.data.data_module_utils import list_files

    root = folder / "tree"
    for i, name in enumerate(("img0.tif", "img1.tif", "sub/img2.tif", "sub/z/img3.tif")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(root / name, _noisy((64, 64), seed=30 + i))
    theirs = list_files(root, "tiff")
    assert len(theirs) == 4
    return Case("tiff", root, theirs, "YX", (32, 32), {"recursive": True})


def _write_store(folder: Path) -> Path:
    import zarr

    store = folder / "data.zarr"
    group = zarr.open_group(store, mode="w")
    for i, name in enumerate(("a", "b")):
        group.create_array(name, data=_noisy((3, 64, 64), seed=10 + i), chunks=(1, 32, 32))
    return store


def write_zarr(folder: Path) -> Case:
    store = _write_store(folder)
    # CAREamics names an array inside a store by a file URI
    uris = [f"file://{store}/a", f"file://{store}/b"]
    return Case("zarr", uris, uris, "SYX", (32, 32))


def write_zarr_store_paths(folder: Path) -> Case:
    """Zarr StorePaths of a store opened by a relative path (CAREamics' docs build URIs from them), and
    the relative `file://` URIs they print as, read from the folder the test runs in."""
    import zarr

    _write_store(folder)
    store = zarr.storage.LocalStore("data.zarr", read_only=True)
    paths = [zarr.open_array(store, path=name, mode="r").store_path for name in ("a", "b")]
    assert str(paths[0]) == "file://data.zarr/a"
    return Case("zarr", [paths[0], str(paths[1])], paths, "SYX", (32, 32))


def write_arrays(folder: Path) -> Case:
    arrays = [_noisy((2, 64, 64), seed=40 + i) for i in range(2)]
    return Case("array", arrays, arrays, "SYX", (32, 32))


def _write_czi(path: Path, depth: str) -> None:
    from pylibCZIrw import czi as pyczi

    volume = _noisy((16, 64, 64), seed=20)
    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        for d in range(volume.shape[0]):
            writer.write(volume[d], plane={"C": 0, depth: d}, location=(0, 0))


def write_czi_z(folder: Path) -> Case:
    path = folder / "z.czi"
    _write_czi(path, "Z")
    return Case("czi", [path], [path], "SCZYX", (8, 32, 32))


def write_czi_t(folder: Path) -> Case:
    """T as the depth: CAREamics' own CZI reader takes `SCTYX`; with `data_type="custom"` the configuration
    says Z and the loader is told `file_axes="SCTYX"`."""
    path = folder / "t.czi"
    _write_czi(path, "T")
    return Case("czi", [path], [path], "SCTYX", (8, 32, 32), {"file_axes": "SCTYX"})


CASES: dict[str, Callable[[Path], Case]] = {
    "tiff": write_tiff,
    "tiff-lazy": write_tiff_lazy,
    "tiff-tree": write_tiff_tree,
    "zarr": write_zarr,
    "zarr-store-paths": write_zarr_store_paths,
    "array": write_arrays,
    "czi-z": write_czi_z,
    "czi-t": write_czi_t,
}
TRAINED = ("tiff", "zarr", "czi-z", "czi-t")  # a short training and prediction (slow)


@pytest.fixture
def case(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Case:
    monkeypatch.chdir(tmp_path)  # relative sources are relative to the test's own folder
    return CASES[request.param](tmp_path)


def _custom_axes(case: Case) -> str:
    """The axes of the `data_type="custom"` configuration: CAREamics' configuration knows no T depth."""
    return case.axes.replace("T", "Z")


def _config(data_type: str, axes: str, patch: tuple[int, ...], **extra: Any) -> Any:
    return create_advanced_n2v_config(
        experiment_name="stackio",
        data_type=data_type,  # type: ignore[arg-type]
        axes=axes,
        patch_size=patch,
        batch_size=4,
        augmentations=[],
        num_workers=0,
        seed=SEED,
        n_channels=1 if "C" in axes else None,
        model_params={"depth": 2, "num_channels_init": 8},
        **extra,
    )


@pytest.mark.parametrize("case", list(CASES), indirect=True)
def test_careamics_dataset_reads_the_same_patches_from_stackio(case: Case) -> None:
    # no normalization: its statistics are summed in another order over lazily read files (float rounding)
    extra: dict[str, Any] = {"normalization": "none"}
    if case.in_memory is not None:
        extra["in_memory"] = case.in_memory
    config = _config("custom", _custom_axes(case), case.patch, **extra)
    loading = ImageStackLoading(stackio_loader, case.loader_kwargs)
    ours = create_dataset(config.data_config, case.ours, None, loading=loading)
    theirs = create_dataset(_config(case.own_type, case.axes, case.patch, **extra).data_config, case.theirs, None)
    extractor = type(theirs.patch_constructor.input_extractor)
    assert type(ours.patch_constructor.input_extractor) is extractor
    assert len(ours) == len(theirs) > 0
    for i in range(len(theirs)):
        (a,), (b,) = ours[i], theirs[i]
        assert a.region_spec == b.region_spec
        assert a.data.shape == b.data.shape and a.data.shape[-len(case.patch) :] == case.patch
        np.testing.assert_array_equal(a.data, b.data)
        assert tuple(a.original_data_shape) == tuple(b.original_data_shape)
        assert tuple(a.data_shape) == tuple(b.data_shape)
        assert (a.axes, b.axes) == (_custom_axes(case), case.axes)
        # CAREamics' own CZI reader hands out float32 (its dtype field then reads "<class 'numpy.float32'>")
        assert a.dtype == ("uint16" if case.own_type == "czi" else b.dtype)
        assert a.data.dtype == b.data.dtype
        if case.own_type == "array":
            assert a.source == b.source == "array"
        else:  # the same file (a zarr array's source is its file:// URI on both sides)
            assert _resolved(a.source) == _resolved(b.source)
    if case.in_memory is False:
        assert extractor.__name__ == "LimitFilesPatchExtractor"  # it loads and closes our stacks one by one
        loaded = [[s.is_loaded for s in d.patch_constructor.input_extractor.image_stacks] for d in (ours, theirs)]
        assert loaded[0] == loaded[1] and sum(loaded[0]) == 1


def _resolved(source: Any) -> str:
    text = str(source).removeprefix("file://")
    return str(Path(text).resolve())


@pytest.mark.slow
@pytest.mark.parametrize("case", TRAINED, indirect=True)
def test_careamics_trains_and_predicts_on_stackio_stacks(case: Case, tmp_path: Path) -> None:
    loading = ImageStackLoading(stackio_loader, case.loader_kwargs)
    config = _config("custom", _custom_axes(case), case.patch, num_epochs=1, num_steps=2, n_val_patches=2)
    careamist = CAREamist(config, work_dir=tmp_path / "work", enable_progress_bar=False)
    careamist.train(train_data=case.ours, loading=loading)
    tile = (8, 32, 32) if len(case.patch) == 3 else (32, 32)
    overlap = (4, 8, 8) if len(case.patch) == 3 else (8, 8)
    ours, _ = careamist.predict(case.ours, data_type="custom", loading=loading, tile_size=tile, tile_overlap=overlap)
    theirs, _ = careamist.predict(
        case.theirs, data_type=case.own_type, axes=case.axes, tile_size=tile, tile_overlap=overlap
    )
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape
        assert np.isfinite(a).all()
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
