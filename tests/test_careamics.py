"""CAREamics on stackio stacks, as a CAREamics user would: `ImageStackLoading(loader)` with `data_type="custom"`.

CAREamics' own dataset over stackio's stacks must give the same patches as over CAREamics' own readers
(tifffile, zarr, pylibCZIrw) on the same files; a short N2V training and prediction must run on them and
predict the same as with CAREamics' own readers. Skipped when careamics cannot be imported: every careamics
release so far caps torchvision at a version built for an older torch than the project's torch 2.13 CPU
build, and PyPI's torchvision for torch 2.13 (0.28.0) is linked against CUDA torch and fails to import with
the CPU build (see the Training page). Run it where careamics imports: `pytest tests/test_careamics.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

try:
    import careamics  # noqa: F401
except Exception as exc:  # ImportError, or torchvision's extension not loading with this torch build
    pytest.skip(f"careamics is not importable: {type(exc).__name__}: {exc}", allow_module_level=True)

import stackio
from careamics import CAREamist, ImageStackLoading
from careamics.config import create_advanced_n2v_config
from careamics.dataset.factory.factory import create_dataset

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


def write_tiff(folder: Path) -> tuple[list[Path], str, tuple[int, ...]]:
    import tifffile

    paths = []
    for i in range(3):
        path = folder / f"img{i}.tif"
        tifffile.imwrite(path, _noisy((64, 64), seed=i))
        paths.append(path)
    return paths, "YX", (32, 32)


def write_zarr(folder: Path) -> tuple[list[str], str, tuple[int, ...]]:
    import zarr

    store = folder / "data.zarr"
    group = zarr.open_group(store, mode="w")
    for i, name in enumerate(("a", "b")):
        group.create_array(name, data=_noisy((3, 64, 64), seed=10 + i), chunks=(1, 32, 32))
    # CAREamics names an array inside a store by a file URI (its docs build them from a StorePath)
    return [f"file://{store}/a", f"file://{store}/b"], "SYX", (32, 32)


def _write_czi(path: Path, depth: str) -> None:
    from pylibCZIrw import czi as pyczi

    volume = _noisy((16, 64, 64), seed=20)
    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        for d in range(volume.shape[0]):
            writer.write(volume[d], plane={"C": 0, depth: d}, location=(0, 0))


def write_czi_z(folder: Path) -> tuple[list[Path], str, tuple[int, ...]]:
    path = folder / "z.czi"
    _write_czi(path, "Z")
    return [path], "SCZYX", (8, 32, 32)


def write_czi_t(folder: Path) -> tuple[list[Path], str, tuple[int, ...]]:
    path = folder / "t.czi"
    _write_czi(path, "T")
    return [path], "SCTYX", (8, 32, 32)


Writer = Callable[[Path], tuple[list[Any], str, tuple[int, ...]]]
CASES: dict[str, tuple[str, Writer]] = {
    "tiff": ("tiff", write_tiff),
    "zarr": ("zarr", write_zarr),
    "czi-z": ("czi", write_czi_z),
    "czi-t": ("czi", write_czi_t),
}


def _custom(axes: str) -> tuple[str, Any]:
    """The axes of a `data_type="custom"` configuration, and the loading that reads the files with stackio."""
    if "T" in axes:
        return axes.replace("T", "Z"), ImageStackLoading(stackio_loader, {"file_axes": axes})
    return axes, ImageStackLoading(stackio_loader)


def _config(data_type: str, axes: str, patch: tuple[int, ...], work: Path, **extra: Any) -> Any:
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


@pytest.mark.parametrize("case", list(CASES))
def test_careamics_dataset_reads_the_same_patches_from_stackio(case: str, tmp_path: Path) -> None:
    own_type, write = CASES[case]
    inputs, axes, patch = write(tmp_path)
    custom_axes, loading = _custom(axes)
    # no normalization: its statistics are summed in another order over lazily read files (float rounding)
    raw = {"normalization": "none"}
    config = _config("custom", custom_axes, patch, tmp_path, **raw)
    ours = create_dataset(config.data_config, inputs, None, loading=loading)
    theirs = create_dataset(_config(own_type, axes, patch, tmp_path, **raw).data_config, inputs, None)
    assert len(ours) == len(theirs) > 0
    for i in range(len(theirs)):
        (a,), (b,) = ours[i], theirs[i]
        assert a.region_spec == b.region_spec
        assert a.data.shape == b.data.shape and a.data.shape[-len(patch) :] == patch
        np.testing.assert_array_equal(a.data, b.data)
        assert tuple(a.original_data_shape) == tuple(b.original_data_shape)


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_careamics_trains_and_predicts_on_stackio_stacks(case: str, tmp_path: Path) -> None:
    own_type, write = CASES[case]
    inputs, axes, patch = write(tmp_path)
    custom_axes, loading = _custom(axes)
    config = _config("custom", custom_axes, patch, tmp_path, num_epochs=1, num_steps=2, n_val_patches=2)
    careamist = CAREamist(config, work_dir=tmp_path / "work", enable_progress_bar=False)
    careamist.train(train_data=inputs, loading=loading)
    tile = (8, 32, 32) if len(patch) == 3 else (32, 32)
    overlap = (4, 8, 8) if len(patch) == 3 else (8, 8)
    ours, _ = careamist.predict(inputs, data_type="custom", loading=loading, tile_size=tile, tile_overlap=overlap)
    theirs, _ = careamist.predict(inputs, data_type=own_type, axes=axes, tile_size=tile, tile_overlap=overlap)
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape
        assert np.isfinite(a).all()
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
