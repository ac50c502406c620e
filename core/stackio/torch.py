"""PyTorch datasets over stackio stacks (needs the `stackio[torch]` extra; `import stackio` never imports it).

- `PatchDataset` (map-style): item i is the patch of request i of a sampler (`stackio.sampling`);
  a DataLoader batch is read with one `read_patches` call per stack (`__getitems__`), and `collate`
  hands that batch over without copying it again.
- `IterablePatchDataset`: yields whole batches, each worker taking its own share of the requests
  (no request read twice, none missed), with an optional bounded set of stacks in memory per worker.
- `worker_init_fn`: reopens every stack in the worker (safe under fork, spawn and forkserver, also when
  a thread of the parent was reading while the workers forked) and seeds numpy for user transforms.
  `loader(dataset, ...)` makes a DataLoader with both set.

Requests come from the sampler by index only, so the patches do not depend on the number of workers.
`set_epoch` reaches the workers too, persistent ones included (`persistent_workers=True`, as CAREamics
sets): the epoch is held in shared memory that every worker reads before each batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info
from torch.utils.data._utils.collate import default_collate

from .batch import read_patches
from .errors import ValidationError
from .sampling import GridTiles, RandomPatches, Resident, check_pairs
from .workers import reopen_all

Sampler = RandomPatches | GridTiles
Transform = Callable[..., Any]


class Collated(list):
    """The samples of one batch, already read into one array per part (what `collate` returns)."""

    def __init__(self, parts: tuple[torch.Tensor, ...]) -> None:
        super().__init__()
        self.parts = parts


def collate(samples: Any) -> Any:
    """DataLoader `collate_fn`: a batch read by `__getitems__` as it is; anything else as torch does."""
    if isinstance(samples, Collated):
        return samples.parts[0] if len(samples.parts) == 1 else samples.parts
    return default_collate(samples)


def _tensor(array: np.ndarray, dtype: torch.dtype | None) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor if dtype is None else tensor.to(dtype)


class _Source:
    """Stacks (or input/target pairs) and how to read a group of requests from them."""

    def __init__(
        self,
        stacks: Sequence[Any] | None,
        pairs: Sequence[tuple[Any, Any]] | None,
        channels: Sequence[int] | None,
        target_channels: Sequence[int] | None,
    ) -> None:
        if (stacks is None) == (pairs is None):
            raise ValidationError("give either stacks or pairs (input, target), not both or neither")
        if pairs is not None:
            pairs = [tuple(p) for p in pairs]
            check_pairs(pairs)
            self.inputs = [a for a, _ in pairs]
            self.targets: list[Any] | None = [b for _, b in pairs]
        else:
            self.inputs = list(stacks)  # type: ignore[arg-type]
            self.targets = None
        self.channels = None if channels is None else list(channels)
        self.target_channels = None if target_channels is None else list(target_channels)
        n_channels = {len(self.channels) if self.channels else s.data_shape[1] for s in self.inputs}
        if len(n_channels) > 1:
            raise ValidationError(
                f"the stacks have different numbers of channels ({sorted(n_channels)}); a batch needs one: "
                "select the same number with channels=[...]"
            )

    def all_stacks(self) -> list[Any]:
        return self.inputs + (self.targets or [])

    def read(
        self, which: np.ndarray, samples: np.ndarray, coords: np.ndarray, size: tuple[int, ...], resident: Any = None
    ) -> tuple[np.ndarray, ...]:
        """The requests' patches as one (N, C, ...) array per part, in request order."""
        order = np.argsort(which, kind="stable")
        parts = []
        for stacks, channels in ((self.inputs, self.channels), (self.targets, self.target_channels)):
            if stacks is None:
                continue
            pieces = []
            for k in np.unique(which):
                rows = order[which[order] == k]
                stack = stacks[k] if resident is None or stacks is not self.inputs else resident[int(k)]
                pieces.append((rows, read_patches(stack, samples[rows], coords[rows], size, channels)))
            first = pieces[0][1]
            out = np.empty((len(which), *first.shape[1:]), dtype=first.dtype)
            for rows, batch in pieces:
                out[rows] = batch
            parts.append(out)
        return tuple(parts)


def _requests(sampler: Sampler, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]:
    if isinstance(sampler, RandomPatches):
        table = sampler.table()
        idx = np.asarray(indices, dtype=np.int64)
        return table["stack"][idx], table["sample"][idx], table["coords"][idx], sampler.patch_size
    tiles = [sampler[int(i)] for i in indices]
    return (
        np.array([t.stack for t in tiles], dtype=np.int64),
        np.array([t.sample for t in tiles], dtype=np.int64),
        np.array([t.coords for t in tiles], dtype=np.int64).reshape(len(tiles), -1),
        sampler.tile_size,
    )


class PatchDataset(Dataset):
    """Map-style dataset: item i is request i of `sampler` read from `stacks` (or `pairs`).

    Items are tensors C(Z)YX, or (input, target) pairs read at the same place. `dtype` converts
    (e.g. `torch.float32`); `transform(batch)` (or `transform(inputs, targets)` for pairs) receives
    numpy (N, C, ...) batches and returns the same. Use `loader(dataset, batch_size, ...)`, or a
    DataLoader with `collate_fn=stackio.torch.collate` and `worker_init_fn=stackio.torch.worker_init_fn`.
    """

    def __init__(
        self,
        sampler: Sampler,
        stacks: Sequence[Any] | None = None,
        *,
        pairs: Sequence[tuple[Any, Any]] | None = None,
        channels: Sequence[int] | None = None,
        target_channels: Sequence[int] | None = None,
        dtype: torch.dtype | None = None,
        transform: Transform | None = None,
    ) -> None:
        if stacks is None and pairs is None:
            stacks = sampler.stacks
        self.source = _Source(stacks, pairs, channels, target_channels)
        if len(sampler.stacks) != len(self.source.inputs):
            raise ValidationError(
                f"the sampler covers {len(sampler.stacks)} stack(s) but the dataset has {len(self.source.inputs)}"
            )
        self.sampler = sampler
        self.dtype = dtype
        self.transform = transform
        # persistent DataLoader workers keep their own copy of the dataset from one epoch to the next:
        # the epoch lives in shared memory (inherited under fork, passed as shared memory under spawn and
        # forkserver), so that `set_epoch` in the parent reaches them
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._seen = 0  # the shared epoch this copy last followed (a sampler's own set_epoch is kept)

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        """Draw the requests of another epoch (random samplers), in this process and in the DataLoader's workers."""
        if isinstance(self.sampler, RandomPatches):
            self._epoch.fill_(int(epoch))
            self._seen = int(epoch)
            self.sampler.set_epoch(epoch)

    def _sync_epoch(self) -> None:
        """Follow an epoch set in the parent after this worker's copy of the dataset was made."""
        if isinstance(self.sampler, RandomPatches):
            epoch = int(self._epoch)
            if epoch != self._seen:
                self._seen = epoch
                self.sampler.set_epoch(epoch)

    def stacks(self) -> list[Any]:
        return self.source.all_stacks()

    def _read(self, indices: Sequence[int]) -> tuple[torch.Tensor, ...]:
        self._sync_epoch()
        which, samples, coords, size = _requests(self.sampler, indices)
        parts = self.source.read(which, samples, coords, size)
        if self.transform is not None:
            result = self.transform(*parts)
            parts = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        return tuple(_tensor(p, self.dtype) for p in parts)

    def __getitem__(self, index: int) -> Any:
        if not -len(self) <= index < len(self):
            raise IndexError(f"item {index} of a dataset of {len(self)}")
        parts = self._read([int(index) % len(self)])
        return parts[0][0] if len(parts) == 1 else tuple(p[0] for p in parts)

    def __getitems__(self, indices: Sequence[int]) -> Collated:
        """A whole DataLoader batch, read with one batched read per stack."""
        return Collated(self._read(list(indices)))


class IterablePatchDataset(IterableDataset):
    """Yields batches of `batch_size` requests of `sampler`; workers split the requests between them.

    Worker w of W reads a contiguous share of the requests (so with `grouped=True` samplers each worker
    touches few stacks), and at most `max_resident` input stacks are held in memory per worker when set.
    Use with `loader(dataset, batch_size=None, ...)`.
    """

    def __init__(
        self,
        sampler: Sampler,
        stacks: Sequence[Any] | None = None,
        *,
        batch_size: int,
        pairs: Sequence[tuple[Any, Any]] | None = None,
        channels: Sequence[int] | None = None,
        target_channels: Sequence[int] | None = None,
        dtype: torch.dtype | None = None,
        transform: Transform | None = None,
        max_resident: int | None = None,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValidationError(f"batch_size must be at least 1, not {batch_size!r}")
        self.dataset = PatchDataset(
            sampler,
            stacks,
            pairs=pairs,
            channels=channels,
            target_channels=target_channels,
            dtype=dtype,
            transform=transform,
        )
        self.batch_size = int(batch_size)
        self.max_resident = max_resident
        self.drop_last = drop_last

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def stacks(self) -> list[Any]:
        return self.dataset.stacks()

    def share(self) -> range:
        """The request indices this process reads (all of them outside DataLoader workers)."""
        n = len(self.dataset)
        info = get_worker_info()
        if info is None:
            return range(n)
        per = -(-n // info.num_workers)
        return range(min(n, info.id * per), min(n, (info.id + 1) * per))

    def __iter__(self) -> Iterator[Any]:
        mine = self.share()
        resident = Resident(self.dataset.source.inputs, self.max_resident) if self.max_resident else None
        ds = self.dataset
        ds._sync_epoch()
        try:
            for start in range(mine.start, mine.stop, self.batch_size):
                indices = list(range(start, min(start + self.batch_size, mine.stop)))
                if self.drop_last and len(indices) < self.batch_size:
                    return
                which, samples, coords, size = _requests(ds.sampler, indices)
                parts = ds.source.read(which, samples, coords, size, resident)
                if ds.transform is not None:
                    result = ds.transform(*parts)
                    parts = tuple(result) if isinstance(result, (tuple, list)) else (result,)
                tensors = tuple(_tensor(p, ds.dtype) for p in parts)
                yield tensors[0] if len(tensors) == 1 else tensors
        finally:
            if resident is not None:
                resident.clear()


def worker_init_fn(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: reopen the dataset's stacks in this worker and seed numpy from torch."""
    info = get_worker_info()
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)  # for user transforms that use numpy's global generator
    if info is not None:
        stacks = getattr(info.dataset, "stacks", None)
        if callable(stacks):
            reopen_all(stacks())


def loader(dataset: PatchDataset | IterablePatchDataset, batch_size: int | None = None, **options: Any) -> DataLoader:
    """A DataLoader over a stackio dataset with `collate` and `worker_init_fn` set.

    `batch_size` is required for a `PatchDataset` and must be None for an `IterablePatchDataset`
    (it batches itself). Other options go to DataLoader (num_workers, shuffle, multiprocessing_context...).
    """
    if isinstance(dataset, IterablePatchDataset):
        if batch_size is not None:
            raise ValidationError("an IterablePatchDataset makes its own batches; pass batch_size=None")
        options.setdefault("collate_fn", None)
    else:
        if batch_size is None:
            raise ValidationError("give a batch_size for a PatchDataset")
        options.setdefault("collate_fn", collate)
    user_init = options.pop("worker_init_fn", None)
    init = worker_init_fn if user_init is None else _Chained(user_init)
    return DataLoader(dataset, batch_size=batch_size, worker_init_fn=init, **options)


class _Chained:
    """stackio's worker_init_fn, then the user's (picklable, for spawn)."""

    def __init__(self, user: Callable[[int], None]) -> None:
        self.user = user

    def __call__(self, worker_id: int) -> None:
        worker_init_fn(worker_id)
        self.user(worker_id)
