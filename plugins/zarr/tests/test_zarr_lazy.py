"""Laziness, shown structurally: a counting zarr store logs every key (and byte range) a patch reads."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
import stackio_zarr.reader as reader
from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.storage import LocalStore


class CountingStore(LocalStore):
    """A real LocalStore that records each read before doing it."""

    def __init__(self, root: str, log: list[tuple[str, Any]]) -> None:
        super().__init__(root, read_only=True)
        self.log = log

    async def get(self, key: str, prototype: Any = None, byte_range: Any = None) -> Any:
        self.log.append((key, byte_range))
        return await super().get(key, prototype, byte_range)

    async def get_partial_values(self, prototype: Any, key_ranges: Iterable[tuple[str, Any]]) -> Any:
        key_ranges = list(key_ranges)
        self.log.extend(key_ranges)
        return await super().get_partial_values(prototype, key_ranges)


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    entries: list[tuple[str, Any]] = []
    monkeypatch.setattr(reader, "local_store", lambda root: CountingStore(root, entries))
    return entries


def _chunk_reads(log: list[tuple[str, Any]]) -> list[str]:
    return [k for k, _ in log if not k.endswith(("zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata"))]


def _bytes(request: Any, size: int) -> int:
    if request is None:
        return size
    if isinstance(request, RangeByteRequest):
        return request.end - request.start
    if isinstance(request, SuffixByteRequest):
        return request.suffix
    if isinstance(request, OffsetByteRequest):
        return size - request.offset
    raise AssertionError(request)


def test_a_patch_reads_exactly_the_chunks_it_touches(tmp_path: Path, zw, log) -> None:
    data = zw.pattern((4, 64, 64), "uint16")
    zw.write_array(tmp_path / "c.zarr", data, chunks=(1, 16, 16))
    [stack] = stackio.load(tmp_path / "c.zarr", "ZYX")
    log.clear()
    patch = stack.extract_patch(0, None, (1, 20, 40), (2, 10, 10))
    np.testing.assert_array_equal(patch[0], data[1:3, 20:30, 40:50])
    expected = {f"c/{z}/1/{x}" for z in (1, 2) for x in (2, 3)}
    reads = _chunk_reads(log)
    assert sorted(reads) == sorted(expected)  # each touched chunk once, no other
    log.clear()
    stack.extract_patch(0, None, (3, 0, 0), (1, 16, 16))
    assert log == [("c/3/0/0", None)]  # no metadata is parsed again per patch


def test_v2_patch_reads_only_its_chunks(tmp_path: Path, zw, log) -> None:
    data = zw.pattern((2, 30, 30), "uint8")
    zw.write_array(tmp_path / "v2.zarr", data, zarr_format=2, chunks=(1, 10, 10))
    [stack] = stackio.load(tmp_path / "v2.zarr", "CYX")
    stack.extract_patch(0, None, (0, 0), (1, 1))
    log.clear()
    patch = stack.extract_patch(0, [1], (12, 25), (5, 5))
    np.testing.assert_array_equal(patch[0], data[1, 12:17, 25:30])
    assert sorted(_chunk_reads(log)) == ["1.1.2"]


def test_a_sharded_patch_reads_the_shard_index_and_one_inner_chunk(tmp_path: Path, zw, log) -> None:
    data = zw.pattern((64, 64), "uint16")
    zw.write_array(tmp_path / "sh.zarr", data, chunks=(8, 8), shards=(32, 32))
    [stack] = stackio.load(tmp_path / "sh.zarr", "YX")
    log.clear()
    patch = stack.extract_patch(0, None, (10, 40), (4, 4))  # inner chunk (1, 5) of shard (0, 1)
    np.testing.assert_array_equal(patch[0], data[10:14, 40:44])
    shard = tmp_path / "sh.zarr" / "c" / "0" / "1"
    reads = [(k, r) for k, r in log if k.startswith("c/")]
    assert {k for k, _ in reads} == {"c/0/1"}
    assert all(r is not None for _, r in reads)  # byte ranges only, never the whole shard
    assert len(reads) == 2  # the shard index and the one inner chunk
    read = sum(_bytes(r, shard.stat().st_size) for _, r in reads)
    assert read < shard.stat().st_size / 4


def test_ome_level_patch_reads_only_that_level(tmp_path: Path, zw, log) -> None:
    levels = [zw.pattern((64, 64), "uint8", 1), zw.pattern((32, 32), "uint8", 2)]
    path = zw.write_ome(tmp_path / "o.ome.zarr", levels, version="0.5", axes="yx", chunks=(16, 16))
    [stack] = stackio.load(path, level=1)
    log.clear()
    stack.extract_patch(0, None, (0, 0), (32, 32))
    assert sorted(_chunk_reads(log)) == [f"1/c/{y}/{x}" for y in (0, 1) for x in (0, 1)]
