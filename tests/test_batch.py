"""Batched reads (`stackio.read_patches`) equal per-patch reads, pixel for pixel, on every plugin's samples
and the real-data corpus; bad batches give clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
from stackio.batch import read_patches
from stackio.registry import get_registry
from stackio.testing import find_realdata, manifest


def _requests(stack: Any, n: int, seed: int, *, edges: bool = True) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """N random requests over a stack, some partly outside (zero fill), sizes up to 24 per axis."""
    rng = np.random.default_rng(seed)
    n_samples, _, *spatial = stack.data_shape
    size = tuple(int(min(s, rng.integers(1, 25))) for s in spatial)
    lo = [-(p // 2) if edges else 0 for p in size]
    hi = [s - p // 2 if edges else s - p + 1 for s, p in zip(spatial, size, strict=True)]
    coords = np.stack([rng.integers(a, max(a + 1, b), n) for a, b in zip(lo, hi, strict=True)], axis=1)
    samples = rng.integers(0, n_samples, n)
    return samples, coords, size


def _channel_choices(stack: Any) -> list[list[int] | None]:
    n = stack.data_shape[1]
    choices: list[list[int] | None] = [None, [n - 1]]
    if n > 2:
        choices += [[n - 1, 0], [0, 2]]
    return choices


def assert_batch_equals_patches(stack: Any, n: int = 24, seed: int = 0) -> None:
    for k, channels in enumerate(_channel_choices(stack)):
        samples, coords, size = _requests(stack, n, seed + k)
        batch = read_patches(stack, samples, coords, size, channels)
        want = np.stack([stack.extract_patch(int(s), channels, c, size) for s, c in zip(samples, coords, strict=True)])
        assert batch.dtype == np.dtype(stack.data_dtype).newbyteorder("="), stack
        assert batch.shape == want.shape, (stack, channels)
        np.testing.assert_array_equal(batch, want, err_msg=f"{stack} channels={channels}")
        # The method on stackio's stacks is the same read.
        method = getattr(stack, "read_patches", None)
        if method is not None:
            np.testing.assert_array_equal(method(samples, coords, size, channels), want)
    # Patches wholly inside (the fast path) and repeated requests (shared decodes).
    samples, coords, size = _requests(stack, n, seed + 7, edges=False)
    samples, coords = np.concatenate([samples, samples[:4]]), np.concatenate([coords, coords[:4]])
    want = np.stack([stack.extract_patch(int(s), None, c, size) for s, c in zip(samples, coords, strict=True)])
    np.testing.assert_array_equal(read_patches(stack, samples, coords, size), want)


def _plugin_samples(root: Path) -> list[tuple[str, Any]]:
    registry = get_registry()
    found = []
    for plugin in registry.plugins():
        folder = root / plugin.name
        folder.mkdir()
        for sample in registry.write_samples(plugin.name, folder) or []:
            found.append((plugin.name, sample))
    return found


def test_batches_equal_patches_on_every_plugin_sample(tmp_path: Path) -> None:
    samples = _plugin_samples(tmp_path)
    plugins = {name for name, _ in samples}
    assert {"tiff", "czi", "zarr", "ndtiff"} <= plugins, plugins
    checked = 0
    for _, sample in samples:
        for stack in stackio.load(sample.source, sample.axes, **sample.options):
            assert_batch_equals_patches(stack)
            for in_memory in (stackio.load(sample.source, sample.axes, in_memory=True, **sample.options),):
                for mem in in_memory:
                    assert_batch_equals_patches(mem, n=8)
            checked += 1
    assert checked >= len(samples)


def test_batches_on_arrays_of_every_axes_kind() -> None:
    rng = np.random.default_rng(1)
    for axes, shape in (("YX", (40, 50)), ("CYX", (3, 30, 20)), ("ZCYX", (6, 2, 20, 30)), ("TCZYX", (3, 2, 5, 9, 11))):
        array = rng.integers(0, 60000, shape, dtype=np.uint16)
        (stack,) = stackio.load(array, axes)
        assert_batch_equals_patches(stack)
    big_endian = np.arange(2 * 30 * 40, dtype=">f4").reshape(2, 30, 40)
    (stack,) = stackio.load(big_endian, "ZYX")
    assert_batch_equals_patches(stack)


REALDATA = find_realdata(Path(__file__).parent)


@pytest.mark.realdata
@pytest.mark.skipif(REALDATA is None, reason="no real-data folder beside the checkout")
def test_batches_equal_patches_on_the_realdata_corpus() -> None:
    assert REALDATA is not None
    checked = 0
    for entry in manifest(REALDATA):
        try:
            stacks = stackio.load(str(entry.path))
        except stackio.StackioError:
            continue  # files that need axes or an optional codec are covered by their plugin's tests
        for stack in stacks[:3]:
            assert_batch_equals_patches(stack, n=12)
            checked += 1
    assert checked >= 20


class ForeignStack:
    """An ImageStack that is none of stackio's classes: batches go through its extract_patch."""

    def __init__(self, array: np.ndarray) -> None:
        self.data = array
        self.source = "foreign"
        self.data_shape = array.shape
        self.data_dtype = array.dtype
        self.axes = "SCYX"
        self.original_axes = "SCYX"
        self.original_data_shape = array.shape
        self.metadata = stackio.Metadata()

    def extract_patch(self, sample_idx: int, channels: Any, coords: Any, patch_size: Any) -> np.ndarray:
        (stack,) = stackio.load(self.data, "SCYX")
        return stack.extract_patch(sample_idx, channels, coords, patch_size)


def test_foreign_stacks_are_read_patch_by_patch() -> None:
    stack = ForeignStack(np.arange(2 * 3 * 20 * 30, dtype=np.int32).reshape(2, 3, 20, 30))
    assert_batch_equals_patches(stack)


def test_bad_batches_are_refused_clearly() -> None:
    (stack,) = stackio.load(np.zeros((2, 20, 30), np.uint8), "ZYX")
    (flat,) = stackio.load(np.zeros((4, 20, 30), np.uint8), "SYX")
    with pytest.raises(stackio.PatchBoundsError, match="patch 1 at .* lies wholly outside"):
        read_patches(stack, 0, [(0, 0, 0), (0, 25, 0)], (1, 4, 4))
    with pytest.raises(stackio.PatchBoundsError, match="patch 2 asks for sample 4"):
        read_patches(flat, [0, 1, 4], [(0, 0)] * 3, (4, 4))
    with pytest.raises(stackio.PatchBoundsError, match="2 value.* for 3 patch"):
        read_patches(flat, [0, 1], [(0, 0)] * 3, (4, 4))
    with pytest.raises(stackio.PatchBoundsError, match="N rows of 3 values"):
        read_patches(stack, 0, [(0, 0)], (1, 4, 4))
    with pytest.raises(stackio.PatchBoundsError, match="whole numbers"):
        read_patches(flat, 0, [(0.5, 0)], (4, 4))
    with pytest.raises(stackio.PatchBoundsError, match="channel"):
        read_patches(flat, 0, [(0, 0)], (4, 4), channels=[1])
    with pytest.raises(stackio.PatchBoundsError, match="positive"):
        read_patches(flat, 0, [(0, 0)], (0, 4))
    empty = read_patches(flat, [], np.zeros((0, 2), int), (4, 5))
    assert empty.shape == (0, 1, 4, 5) and empty.dtype == np.uint8
