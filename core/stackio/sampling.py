"""Where to read patches for training and prediction (numpy only; no torch).

- `RandomPatches`: random patches over a list of stacks, uniform over voxels or weighted per stack,
  optionally only where a mask covers at least a fraction of the patch; input/target pairs from
  `load_pairs` share each request. Patch `i` of epoch `e` depends only on (seed, e, i), so any number of
  workers, in any order, reads the same patches.
- `GridTiles`: tiles with overlap covering every voxel of every sample (borders included), each with the
  part it keeps when stitched, split halfway through each overlap as CAREamics does.
- `Stitcher`: writes predicted tiles back into arrays, or into anything with
  `write_patch(sample_idx, coords, block)` (a streaming writer).
- `Resident`: a bounded set of stacks held in memory at once, for datasets larger than memory.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs
import numpy as np

from .errors import ValidationError


@attrs.frozen
class Request:
    """One patch to read: which stack, which sample, where (corner) and how large."""

    stack: int
    sample: int
    coords: tuple[int, ...]
    size: tuple[int, ...]


def _name(stack: Any, index: int) -> str:
    return f"stack {index} ({getattr(stack, 'source', '?')})"


def _samples(stack: Any) -> int:
    return int(stack.data_shape[0])


def _spatial(stack: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in tuple(stack.data_shape)[2:])


def _check_size(stacks: Sequence[Any], patch_size: Sequence[int]) -> tuple[int, ...]:
    if not stacks:
        raise ValidationError("no stacks to sample from; pass at least one stack")
    size = tuple(int(p) for p in patch_size)
    if any(p < 1 for p in size):
        raise ValidationError(f"patch_size must be positive, got {size}")
    for i, stack in enumerate(stacks):
        spatial = _spatial(stack)
        if len(spatial) != len(size):
            raise ValidationError(
                f"{_name(stack, i)} has spatial shape {spatial} ({stack.axes}) but patch_size {size} has "
                f"{len(size)} values; give one size per spatial axis, and stacks of one kind (2-D or 3-D)"
            )
        if any(p > n for p, n in zip(size, spatial, strict=True)):
            raise ValidationError(
                f"{_name(stack, i)}: patch_size {size} is larger than its spatial shape {spatial}; "
                "choose a smaller patch or leave this stack out"
            )
    return size


def _box_fraction(mask: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """For every corner where a patch fits, the fraction of the patch the mask covers (summed-area table)."""
    table = mask.astype(np.int64)
    for axis in range(table.ndim):
        table = np.cumsum(table, axis=axis)
    table = np.pad(table, [(1, 0)] * table.ndim)
    total = np.zeros(tuple(n - p + 1 for n, p in zip(mask.shape, size, strict=True)), dtype=np.int64)
    for corner in np.ndindex(*(2,) * mask.ndim):
        sign = (-1) ** (mask.ndim - sum(corner))
        index = tuple(slice(c * p, c * p + n) for c, p, n in zip(corner, size, total.shape, strict=True))
        total += sign * table[index]
    return total / math.prod(size)


@attrs.define(eq=False)
class _Region:
    """Where patch corners may go in one stack: every corner, or a list of allowed ones per sample."""

    n_samples: int
    corners: tuple[int, ...]  # number of corner positions per spatial axis
    allowed: list[np.ndarray] | None  # per sample, flat indices of the allowed corners

    @property
    def count(self) -> int:
        if self.allowed is None:
            return self.n_samples * math.prod(self.corners)
        return sum(len(a) for a in self.allowed)


def _mask_array(mask: Any, stack: Any, index: int) -> np.ndarray:
    """A mask as an S + spatial boolean array (any channel set counts)."""
    shape = tuple(stack.data_shape)
    if hasattr(mask, "data_shape") and hasattr(mask, "extract_patch"):
        mshape = tuple(mask.data_shape)
        if mshape[0] != shape[0] or mshape[2:] != shape[2:]:
            raise ValidationError(
                f"the mask of {_name(stack, index)} has shape {mshape}; it needs the stack's samples and "
                f"spatial shape {shape[:1] + shape[2:]}"
            )
        from .batch import read_patches

        whole = read_patches(mask, np.arange(mshape[0]), np.zeros((mshape[0], len(mshape) - 2), int), mshape[2:])
        return np.asarray(whole.any(axis=1))
    array = np.asarray(mask)
    spatial = shape[2:]
    if array.shape == spatial:
        array = np.broadcast_to(array, (shape[0], *spatial))
    elif array.shape == (shape[0], 1, *spatial) or array.shape == (shape[0], shape[1], *spatial):
        array = np.asarray(array.any(axis=1))
    elif array.shape != (shape[0], *spatial):
        raise ValidationError(
            f"the mask of {_name(stack, index)} has shape {array.shape}; give the stack's spatial shape "
            f"{spatial}, samples and spatial shape {(shape[0], *spatial)}, or its full shape {shape}"
        )
    return array.astype(bool, copy=False)


class RandomPatches:
    """`n_patches` random patch requests per epoch over `stacks`.

    - `weights=None`: uniform over voxels (a stack with twice the positions gets twice the patches);
      else one weight per stack (relative; each stack's patches are uniform within it).
    - `masks`: one per stack (None for no constraint): an ImageStack or an array of the stack's spatial
      shape, S + spatial shape or full shape, true where labels are known. Only patches of which at least
      `min_fraction` is masked are drawn (`min_fraction=0` still needs one masked voxel).
    - `grouped=True`: each epoch's requests are ordered stack by stack (stacks in a random order), so a
      loop or a worker needs only one stack in memory at a time (see `Resident`).
    - `sampler[i]` is request i of the current epoch (`set_epoch`); it depends on (seed, epoch, i) only.
    """

    def __init__(
        self,
        stacks: Sequence[Any],
        patch_size: Sequence[int],
        n_patches: int,
        *,
        seed: int = 0,
        weights: Sequence[float] | None = None,
        masks: Sequence[Any] | None = None,
        min_fraction: float = 0.0,
        grouped: bool = False,
    ) -> None:
        self.stacks = list(stacks)
        self.patch_size = _check_size(self.stacks, patch_size)
        if not isinstance(n_patches, (int, np.integer)) or n_patches < 1:
            raise ValidationError(f"n_patches must be a positive int, not {n_patches!r}")
        self.n_patches = int(n_patches)
        self.seed = int(seed)
        self.grouped = grouped
        self.epoch = 0
        if not 0.0 <= float(min_fraction) <= 1.0:
            raise ValidationError(f"min_fraction must be between 0 and 1, not {min_fraction!r}")
        self.min_fraction = float(min_fraction)
        if masks is not None and len(masks) != len(self.stacks):
            raise ValidationError(f"{len(masks)} mask(s) for {len(self.stacks)} stack(s); give one per stack (or None)")
        self._regions = [
            self._region(i, stack, None if masks is None else masks[i]) for i, stack in enumerate(self.stacks)
        ]
        counts = np.array([r.count for r in self._regions], dtype=np.float64)
        if weights is None:
            chosen = counts
        else:
            chosen = np.asarray(weights, dtype=np.float64)
            if chosen.shape != counts.shape or not np.all(np.isfinite(chosen)) or np.any(chosen < 0):
                raise ValidationError(
                    f"weights {list(weights)} must be one finite, non-negative number per stack ({len(counts)})"
                )
            chosen = np.where(counts > 0, chosen, 0.0)
        if chosen.sum() <= 0:
            raise ValidationError("no stack has a position to draw a patch from; check the masks and the weights")
        self._p = chosen / chosen.sum()
        self._cache: tuple[int, dict[str, np.ndarray]] | None = None

    def _region(self, index: int, stack: Any, mask: Any) -> _Region:
        spatial = _spatial(stack)
        corners = tuple(n - p + 1 for n, p in zip(spatial, self.patch_size, strict=True))
        n_samples = _samples(stack)
        if mask is None:
            return _Region(n_samples, corners, None)
        array = _mask_array(mask, stack, index)
        allowed = []
        for sample in range(n_samples):
            fraction = _box_fraction(array[sample], self.patch_size)
            ok = (fraction >= self.min_fraction) & (fraction > 0)
            allowed.append(np.flatnonzero(ok))
        region = _Region(n_samples, corners, allowed)
        if region.count == 0:
            raise ValidationError(
                f"the mask of {_name(stack, index)} has no position where a {self.patch_size} patch is at least "
                f"{self.min_fraction:.0%} masked (and has a masked voxel); lower min_fraction, use smaller "
                "patches, or check that the mask marks the labelled voxels"
            )
        return region

    def __len__(self) -> int:
        return self.n_patches

    def set_epoch(self, epoch: int) -> None:
        """Draw the requests of another epoch (each epoch's are fixed by the seed)."""
        self.epoch = int(epoch)

    def table(self, epoch: int | None = None) -> dict[str, np.ndarray]:
        """Every request of an epoch as arrays: `stack` (N), `sample` (N), `coords` (N x spatial)."""
        epoch = self.epoch if epoch is None else int(epoch)
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        rng = np.random.default_rng([self.seed, epoch])
        n = self.n_patches
        which = rng.choice(len(self.stacks), size=n, p=self._p)
        samples = np.zeros(n, dtype=np.int64)
        coords = np.zeros((n, len(self.patch_size)), dtype=np.int64)
        for k, region in enumerate(self._regions):
            rows = np.flatnonzero(which == k)
            if not rows.size:
                continue
            if region.allowed is None:
                samples[rows] = rng.integers(0, region.n_samples, rows.size)
                for axis, m in enumerate(region.corners):
                    coords[rows, axis] = rng.integers(0, m, rows.size)
                continue
            sizes = np.array([len(a) for a in region.allowed], dtype=np.int64)
            starts = np.concatenate([[0], np.cumsum(sizes)])
            flat = rng.integers(0, starts[-1], rows.size)
            sample = np.searchsorted(starts, flat, side="right") - 1
            samples[rows] = sample
            picks = np.array([region.allowed[s][f - starts[s]] for s, f in zip(sample, flat, strict=True)])
            coords[rows] = np.stack(np.unravel_index(picks, region.corners), axis=1)
        if self.grouped:
            rank = rng.permutation(len(self.stacks))
            order = np.argsort(rank[which], kind="stable")
            which, samples, coords = which[order], samples[order], coords[order]
        table = {"stack": which, "sample": samples, "coords": coords}
        self._cache = (epoch, table)
        return table

    def __getitem__(self, index: int) -> Request:
        if not -self.n_patches <= index < self.n_patches:
            raise IndexError(f"request {index} of {self.n_patches}")
        t = self.table()
        i = int(index) % self.n_patches
        return Request(int(t["stack"][i]), int(t["sample"][i]), tuple(int(c) for c in t["coords"][i]), self.patch_size)

    def __iter__(self) -> Iterator[Request]:
        return (self[i] for i in range(self.n_patches))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": None}


def check_pairs(pairs: Sequence[tuple[Any, Any]]) -> None:
    """Refuse input/target pairs that cannot share patch requests (samples or spatial shape differ)."""
    if not pairs:
        raise ValidationError("no input/target pairs; pass at least one (input, target) pair")
    for i, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValidationError(f"pair {i} is {pair!r}, not an (input, target) pair of stacks")
        a, b = pair
        sa, sb = tuple(a.data_shape), tuple(b.data_shape)
        if sa[0] != sb[0] or sa[2:] != sb[2:]:
            raise ValidationError(
                f"pair {i}: input {a.source} has shape {sa} but target {b.source} has {sb}; inputs and targets "
                "need the same samples and spatial shape (channels may differ)"
            )


# -- tiling and stitching -----------------------------------------------------------------------------------


@attrs.frozen
class Tile:
    """A prediction tile: read `size` at `coords`, keep `keep_tile` of the result at `keep_image`."""

    stack: int
    sample: int
    coords: tuple[int, ...]
    size: tuple[int, ...]
    #: The part of the tile that is kept, in tile coordinates, and where it goes in the image.
    keep_tile: tuple[slice, ...]
    keep_image: tuple[slice, ...]


def _axis_tiles(extent: int, size: int, overlap: int) -> list[tuple[int, int, int]]:
    """Per axis: (start, keep from, keep to) in image coordinates, covering 0..extent exactly once."""
    if size >= extent:
        return [(0, 0, extent)]  # one tile; the part past the border is zero-filled when read
    step = size - overlap
    starts = list(range(0, extent - size + 1, step))
    if starts[-1] + size < extent:
        starts.append(extent - size)  # the last tile ends at the border
    out = []
    for k, start in enumerate(starts):
        lo = 0 if k == 0 else (start + starts[k - 1] + size) // 2
        hi = extent if k == len(starts) - 1 else (starts[k + 1] + start + size) // 2
        out.append((start, lo, hi))
    return out


class GridTiles:
    """Tiles of `tile_size` overlapping by `overlap` over every sample of every stack.

    Tiles lie inside the image (the last along an axis ends at the border) unless the tile is larger
    than the image along that axis (then it starts at 0 and is zero-filled). Each tile keeps the part
    nearer to it than to its neighbours: the kept parts cover every voxel exactly once.
    """

    def __init__(self, stacks: Sequence[Any], tile_size: Sequence[int], overlap: Sequence[int] | int = 0) -> None:
        self.stacks = list(stacks)
        if not self.stacks:
            raise ValidationError("no stacks to tile; pass at least one stack")
        self.tile_size = tuple(int(t) for t in tile_size)
        nd = len(self.tile_size)
        self.overlap = (
            (int(overlap),) * nd if isinstance(overlap, (int, np.integer)) else tuple(int(o) for o in overlap)
        )
        if len(self.overlap) != nd or any(t < 1 for t in self.tile_size):
            raise ValidationError(f"tile_size {self.tile_size} and overlap {self.overlap} need one value per axis")
        if any(not 0 <= o < t for o, t in zip(self.overlap, self.tile_size, strict=True)):
            raise ValidationError(
                f"overlap {self.overlap} must be at least 0 and smaller than tile_size {self.tile_size}"
            )
        for i, stack in enumerate(self.stacks):
            if len(_spatial(stack)) != nd:
                raise ValidationError(
                    f"{_name(stack, i)} has spatial shape {_spatial(stack)}; tile_size has {nd} values"
                )
        self.tiles: list[Tile] = []
        for i, stack in enumerate(self.stacks):
            axes = [_axis_tiles(n, t, o) for n, t, o in zip(_spatial(stack), self.tile_size, self.overlap, strict=True)]
            for sample in range(_samples(stack)):
                for combo in np.ndindex(*(len(a) for a in axes)):
                    parts = [a[k] for a, k in zip(axes, combo, strict=True)]
                    self.tiles.append(
                        Tile(
                            i,
                            sample,
                            tuple(s for s, _, _ in parts),
                            self.tile_size,
                            tuple(slice(lo - s, hi - s) for s, lo, hi in parts),
                            tuple(slice(lo, hi) for _, lo, hi in parts),
                        )
                    )

    def __len__(self) -> int:
        return len(self.tiles)

    def __getitem__(self, index: int) -> Tile:
        return self.tiles[index]

    def __iter__(self) -> Iterator[Tile]:
        return iter(self.tiles)

    def batches(self, batch_size: int) -> Iterator[list[Tile]]:
        """Tiles in batches of one stack each (so each batch is one `read_patches` call)."""
        batch: list[Tile] = []
        for tile in self.tiles:
            if batch and (len(batch) == batch_size or batch[0].stack != tile.stack):
                yield batch
                batch = []
            batch.append(tile)
        if batch:
            yield batch


class Stitcher:
    """Writes predicted tiles back: `add(tile, prediction)` with a C(Z)YX prediction of the tile's size.

    `targets` holds one destination per stack: an (S, C, (Z), Y, X) array, or any object with
    `write_patch(sample_idx, coords, block)` (e.g. a streaming writer); `Stitcher.arrays(tiler, channels,
    dtype)` makes arrays for every stack.
    """

    def __init__(self, targets: Sequence[Any]) -> None:
        self.targets = list(targets)

    @classmethod
    def arrays(cls, tiler: GridTiles, channels: int, dtype: Any = np.float32) -> Stitcher:
        shapes = [(_samples(s), channels, *_spatial(s)) for s in tiler.stacks]
        return cls([np.zeros(shape, dtype=dtype) for shape in shapes])

    def add(self, tile: Tile, prediction: Any) -> None:
        block = np.asarray(prediction)
        if block.ndim != len(tile.size) + 1 or block.shape[1:] != tile.size:
            raise ValidationError(
                f"a prediction of shape {block.shape} for a tile of size {tile.size}; give C{tuple(tile.size)} "
                "(one channel axis, then the tile's own size)"
            )
        kept = block[(slice(None), *tile.keep_tile)]
        target = self.targets[tile.stack]
        write = getattr(target, "write_patch", None)
        if callable(write):
            write(tile.sample, tuple(s.start for s in tile.keep_image), kept)
            return
        target[(tile.sample, slice(None), *tile.keep_image)] = kept

    def add_batch(self, tiles: Sequence[Tile], predictions: Any) -> None:
        for tile, prediction in zip(tiles, predictions, strict=True):
            self.add(tile, prediction)


def predict_tiled(
    stacks: Sequence[Any],
    predict: Callable[[np.ndarray], Any],
    tile_size: Sequence[int],
    overlap: Sequence[int] | int,
    *,
    batch_size: int = 8,
    out_channels: int | None = None,
    dtype: Any = np.float32,
    targets: Sequence[Any] | None = None,
) -> list[Any]:
    """Predict every stack tile by tile and stitch the results; returns the targets (arrays by default).

    `predict` maps an (N, C, (Z), Y, X) batch to (N, C_out, (Z), Y, X) (numpy or anything `np.asarray`
    takes). Tiles are read with `read_patches`, one batch per call.
    """
    from .batch import read_patches

    tiler = GridTiles(stacks, tile_size, overlap)
    stitcher = Stitcher(targets) if targets is not None else None
    for tiles in tiler.batches(batch_size):
        stack = tiler.stacks[tiles[0].stack]
        batch = read_patches(stack, [t.sample for t in tiles], [t.coords for t in tiles], tiler.tile_size)
        predicted = np.asarray(predict(batch))
        if stitcher is None:
            stitcher = Stitcher.arrays(tiler, out_channels or predicted.shape[1], dtype)
        stitcher.add_batch(tiles, predicted)
    assert stitcher is not None
    return stitcher.targets


# -- a bounded set of stacks in memory ------------------------------------------------------------------------


class Resident:
    """At most `max_resident` of `stacks` held in memory at once (least recently used dropped first).

    `resident[i]` is stack i ready to read: a stack with `load()` (FileBackedStack, or a lazy stack) is
    loaded, one with `to_memory()` is copied into memory; dropping calls `close()` (or forgets the copy).
    For datasets of many files larger than memory, with requests grouped by stack.
    """

    def __init__(self, stacks: Sequence[Any], max_resident: int = 1) -> None:
        if max_resident < 1:
            raise ValidationError(f"max_resident must be at least 1, not {max_resident!r}")
        self.stacks = list(stacks)
        self.max_resident = int(max_resident)
        self._held: OrderedDict[int, Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self.stacks)

    @property
    def held(self) -> list[int]:
        """Indices of the stacks in memory now, least recently used first."""
        return list(self._held)

    def __getitem__(self, index: int) -> Any:
        if index in self._held:
            self._held.move_to_end(index)
            return self._held[index]
        while len(self._held) >= self.max_resident:
            old, held = self._held.popitem(last=False)
            self._drop(self.stacks[old], held)
        stack = self.stacks[index]
        if callable(getattr(stack, "load", None)) and hasattr(stack, "is_loaded"):
            stack.load()
            held = stack
        elif callable(getattr(stack, "to_memory", None)):
            held = stack.to_memory()
        else:
            held = stack
        self._held[index] = held
        return held

    @staticmethod
    def _drop(stack: Any, held: Any) -> None:
        if held is stack:
            close = getattr(stack, "close", None)
            if callable(close) and getattr(stack, "is_loaded", False):
                close()

    def clear(self) -> None:
        while self._held:
            old, held = self._held.popitem(last=False)
            self._drop(self.stacks[old], held)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_held": OrderedDict()}
