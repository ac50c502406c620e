"""Zarr stores at URLs, on real loopback servers (a static HTTP server that cannot list, moto's S3) and
fsspec's memory filesystem: the same stacks as the local reads, navigation by metadata only, bounded
requests, clear errors, credentials that never travel.
"""

from __future__ import annotations

import multiprocessing
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
import zarr
from stackio.testing import workers
from stackio.testing.remote import assert_same_stack, assert_sample_served
from stackio_zarr import load_crops, samples
from stackio_zarr.remote import RemoteTree


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    return list(samples.write_samples(tmp_path_factory.mktemp("zarr-samples")))


def test_samples_over_http_equal_the_local_reads(sample_files: list[Any], stackio_http: Any) -> None:
    for sample in sample_files:
        url = stackio_http.serve(sample.source)
        for a, b in assert_sample_served(sample, url):
            assert b.source.startswith(url)
            again = stackio.load(b.source, sample.axes, **b.load_options)
            assert [s.data_shape for s in again] == [b.data_shape]
            np.testing.assert_array_equal(again[0].read_all(), a.read_all())


def test_samples_over_s3_equal_the_local_reads(sample_files: list[Any], stackio_s3_server: Any) -> None:
    for sample in sample_files:
        url = stackio_s3_server.upload(sample.source)
        local = stackio.load(sample.source, sample.axes, **sample.options)
        remote = stackio.load(url, sample.axes, storage_options=stackio_s3_server.public_options, **sample.options)
        for a, b in zip(local, remote, strict=True):
            assert_same_stack(a, b, raw=True)
            assert b.source.startswith("s3://")
            assert b.load_options == {"storage_options": stackio_s3_server.public_options}


def test_memory_filesystem(tmp_path: Path, zw: Any) -> None:
    fsspec = pytest.importorskip("fsspec")
    data = zw.pattern((3, 20, 30), "uint16")
    local = zw.write_ome(tmp_path / "img.ome.zarr", [data, data[:, ::2, ::2]], version="0.5", axes="zyx")
    fs = fsspec.filesystem("memory")
    fs.put(str(local), "/stackio-test/img.ome.zarr", recursive=True)
    try:
        (stack,) = stackio.load("memory://stackio-test/img.ome.zarr")
        (level1,) = stackio.load("memory://stackio-test/img.ome.zarr", level=1)
        assert stack.source == "memory://stackio-test/img.ome.zarr/0"
        np.testing.assert_array_equal(stack.read_all()[0, 0], data)
        np.testing.assert_array_equal(level1.read_all()[0, 0], data[:, ::2, ::2])
    finally:
        fs.rm("/stackio-test", recursive=True)


# -- navigation by metadata, never by listing --------------------------------------------------------


def test_labels_plates_and_series_over_http(tmp_path: Path, stackio_http: Any, zw: Any) -> None:
    image = zw.pattern((2, 16, 16), "uint8")
    cells = zw.pattern((1, 16, 16), "uint32", seed=3)
    root = zw.write_ome(tmp_path / "img.ome.zarr", [image], version="0.5", axes="cyx")
    zw.write_ome(root / "labels" / "cells", [cells], version="0.5", axes="cyx")
    group = zarr.open_group(str(root / "labels"), mode="a")
    group.attrs.update({"ome": {"version": "0.5", "labels": ["cells"]}})
    url = stackio_http.serve(root)
    stackio_http.reset()
    (labels,) = stackio.load(f"{url}/labels")
    # found from the "labels" list: three documents, no listing (which this server would answer 404)
    assert [r.path.split("/", 3)[-1] for r in stackio_http.requests] == [
        "labels/zarr.json",
        "labels/cells/zarr.json",
        "labels/cells/0/zarr.json",
    ]
    assert labels.source == f"{url}/labels/cells/0"
    np.testing.assert_array_equal(labels.read_all()[0], cells)


def test_a_group_without_consolidated_metadata_says_it_cannot_be_listed(
    tmp_path: Path, stackio_http: Any, zw: Any
) -> None:
    group = zarr.open_group(str(tmp_path / "plain.zarr"), mode="w", zarr_format=3)
    group.create_array("a", data=zw.pattern((4, 4), "uint8"))
    url = stackio_http.serve(tmp_path / "plain.zarr")
    with pytest.raises(stackio.ReadError, match=r"needs a listing.*consolidate"):
        stackio.load(url, "YX")
    (array,) = stackio.load(f"{url}/a", "YX")  # naming the array works
    zarr.consolidate_metadata(str(tmp_path / "plain.zarr"))
    (consolidated,) = stackio.load(stackio_http.serve(tmp_path / "plain.zarr"), "YX")
    np.testing.assert_array_equal(consolidated.read_all()[0, 0], array.read_all()[0, 0])


def test_crop_layout_over_http(tmp_path: Path, stackio_http: Any, zw: Any) -> None:
    store = zarr.open_group(str(tmp_path / "crops.zarr"), mode="w", zarr_format=3)
    expected = {}
    for split, seed in (("train", 1), ("test", 5)):
        crop = store.create_group(f"{split}/crop_1")
        raw, labels = zw.pattern((4, 8, 8), "uint8", seed), zw.pattern((4, 8, 8), "uint32", seed + 1)
        for role, data in (("raw", raw), ("labels", labels)):
            array = crop.create_array(role, data=data)
            array.attrs.update({"axis_names": ["z", "y", "x"], "voxel_size": [2.0, 1.0, 1.0]})
        expected[split] = (raw, labels)
    zarr.consolidate_metadata(str(tmp_path / "crops.zarr"))
    crops = load_crops(stackio_http.serve(tmp_path / "crops.zarr"))
    local = load_crops(tmp_path / "crops.zarr")
    assert (
        [(c.split, c.name) for c in crops]
        == [(c.split, c.name) for c in local]
        == [
            ("train", "crop_1"),
            ("test", "crop_1"),
        ]
    )
    for crop, mine in zip(crops, local, strict=True):
        assert_same_stack(mine.raw, crop.raw, raw=True)
        assert_same_stack(mine.labels, crop.labels, raw=True)
        np.testing.assert_array_equal(crop.labels.read_all()[0, 0], expected[crop.split][1])


# -- requests --------------------------------------------------------------------------------------


def test_an_ome_zarr_loads_in_few_requests_and_a_patch_costs_what_zarr_costs(
    tmp_path: Path, stackio_http: Any, zw: Any
) -> None:
    data = zw.pattern((1, 4, 64, 64), "uint16")
    root = zw.write_ome(
        tmp_path / "img.ome.zarr", [data, data[:, :, ::2, ::2]], version="0.5", axes="czyx", chunks=(1, 2, 16, 16)
    )
    url = stackio_http.serve(root)
    stackio_http.reset()
    (stack,) = stackio.load(url)
    assert len(stackio_http.requests) <= 3 + 1, [r.path for r in stackio_http.requests]
    stackio_http.reset()
    patch = stack.extract_patch(0, None, (1, 10, 20), (2, 20, 20))
    ours = len(stackio_http.requests)
    direct = zarr.open_array(f"{url}/0", mode="r")
    stackio_http.reset()
    expected = direct[:, 1:3, 10:30, 20:40]
    chunk_requests = [r for r in stackio_http.requests if not r.path.endswith("zarr.json")]
    assert ours <= len(chunk_requests)
    np.testing.assert_array_equal(patch, expected)


# -- errors ----------------------------------------------------------------------------------------


def test_bad_remote_stores_give_clear_errors(
    sample_files: list[Any], tmp_path: Path, stackio_http: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Path(sample_files[0].source)
    with pytest.raises(stackio.SourceNotFoundError, match="no zarr store, group or array at this URL"):
        stackio.load(f"{stackio_http.url}/nothing/here.zarr", format="zarr")
    with pytest.raises(stackio.ReadError, match=r"access denied \(HTTP 403\).*storage_options.*anon"):
        stackio.load(stackio_http.serve(store, fault="403"), format="zarr")
    with pytest.raises(stackio.ReadError, match="HTML page where the zarr metadata"):
        stackio.load(stackio_http.serve(store, fault="html"), format="zarr")
    closing = stackio_http.serve(store, fault="close")
    with pytest.raises(stackio.ReadError, match="connection failed or was closed") as closed:
        stackio.load(closing, format="zarr")
    assert closing in str(closed.value)
    monkeypatch.setenv("STACKIO_REMOTE_TIMEOUT", "0.5")
    stackio_http.stall_seconds = 3.0
    stalling = stackio_http.serve(store, fault="stall")
    started = time.monotonic()
    with pytest.raises(stackio.ReadError, match=r"did not answer within 0.5 s") as stalled:
        stackio.load(stalling, format="zarr")
    assert time.monotonic() - started < 2.5
    assert stalling in str(stalled.value)


def test_a_truncated_chunk_names_the_url(tmp_path: Path, stackio_http: Any, zw: Any) -> None:
    data = zw.pattern((32, 32), "uint16")
    array = zarr.create_array(str(tmp_path / "a.zarr"), shape=data.shape, chunks=(16, 16), dtype=data.dtype)
    array[...] = data
    chunk = next(p for p in (tmp_path / "a.zarr").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(chunk.read_bytes()[:7])
    url = stackio_http.serve(tmp_path / "a.zarr")
    (stack,) = stackio.load(url, "YX")
    with pytest.raises(stackio.ReadError, match=url):
        stack.read_all()


def test_a_missing_fsspec_implementation_names_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(stackio.UnsupportedFormatError, match=r"needs fsspec and adlfs.*stackio-zarr\[remote\]' adlfs"):
        stackio.load("az://container/img.zarr", format="zarr")
    code = (
        "import sys; sys.modules['aiohttp'] = None\n"
        "import stackio\n"
        "try:\n    stackio.load('http://127.0.0.1:9/img.zarr', format='zarr')\n"
        "except stackio.UnsupportedFormatError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "pip install 'stackio-zarr[remote]'" in out.stdout, out.stderr[-2000:]


# -- credentials, pickling, workers -----------------------------------------------------------------


def test_credentials_are_never_pickled_nor_in_load_options(sample_files: list[Any], stackio_s3_server: Any) -> None:
    url = stackio_s3_server.upload(sample_files[1].source)
    (stack,) = stackio.load(url, storage_options=stackio_s3_server.storage_options)
    blob = pickle.dumps(stack)
    assert stackio_s3_server.SECRET.encode() not in blob and stackio_s3_server.KEY.encode() not in blob
    assert stackio_s3_server.SECRET not in repr(stack.load_options)
    assert stack.load_options == {"storage_options": stackio_s3_server.public_options}
    # a spawned worker has no secrets from here: it takes the credentials from its environment
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        (remote,) = pool.map(workers.read_all, [stack])
    np.testing.assert_array_equal(remote, stackio.load(sample_files[1].source)[0].read_all())


def test_stacks_read_in_fork_and_spawn_workers(sample_files: list[Any], stackio_http: Any) -> None:
    (stack,) = stackio.load(stackio_http.serve(sample_files[0].source))
    expected = stack.read_all()  # opened here first: a forked child must not use this process's connections
    jobs = [(stack, 0, (0, y, 0), (2, 8, 8)) for y in range(0, 16, 4)]
    for method in ("fork", "spawn"):
        with multiprocessing.get_context(method).Pool(2) as pool:
            patches = pool.map(workers.read_patch, jobs)
        for (_, _, (z, y, x), _), patch in zip(jobs, patches, strict=True):
            np.testing.assert_array_equal(patch, expected[0, :, z : z + 2, y : y + 8, x : x + 8])


@pytest.mark.slow
def test_stacks_read_on_a_dask_local_cluster(sample_files: list[Any], stackio_http: Any) -> None:
    distributed = pytest.importorskip("distributed")
    (stack,) = stackio.load(stackio_http.serve(sample_files[0].source))
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        total = client.compute(stack.to_dask().sum()).result(timeout=120)
    assert total == stack.read_all().sum()


def test_many_threads_share_one_store_and_do_not_hang(sample_files: list[Any], stackio_http: Any) -> None:
    stackio_http.latency = 0.005
    stacks = [stackio.load(stackio_http.serve(sample_files[0].source))[0] for _ in range(3)]
    expected = stacks[0].read_all()
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            stack = stacks[i % len(stacks)]
            z, y = i % 2, (i * 3) % 16
            patch = stack.extract_patch(0, None, (z, y, 0), (2, 8, 8))
            np.testing.assert_array_equal(patch, expected[0, :, z : z + 2, y : y + 8, 0:8])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "reads hung"
    assert not errors, errors[:1]


def test_a_tree_fetches_each_document_once(sample_files: list[Any], stackio_http: Any) -> None:
    url = stackio_http.serve(sample_files[0].source)
    tree = RemoteTree(url, stackio.remote.StorageOptions())
    first = tree.fetch(f"{url}/.zattrs")
    assert first is not None and tree.fetch(f"{url}/.zattrs") == first
    assert tree.fetch(f"{url}/missing.json") is None and tree.fetch(f"{url}/missing.json") is None
    assert tree.requests == 2


# -- real files ------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_realdata_stores_over_http_equal_the_local_reads(stackio_realdata: Path, stackio_http: Any) -> None:
    folder = stackio_realdata / "zarr"
    if not folder.is_dir():
        pytest.skip("no zarr entries in the real-data folder")
    base = stackio_http.serve(folder)
    checked = 0
    for store in sorted(folder.iterdir()):
        try:
            local = stackio.load(store)
        except stackio.StackioError:
            continue  # stores the local reader refuses (non-image fixtures) are covered by its own tests
        remote = stackio.load(f"{base}/{store.name}")
        assert [s.data_shape for s in remote] == [s.data_shape for s in local], store.name
        for a, b in zip(local, remote, strict=True):
            # local sources name the real path (the real-data folder may be reached through a link)
            assert b.source == a.source.replace(store.resolve().as_uri(), f"{base}/{store.name}")
            for field in ("voxel_size", "units", "offset", "axis_names", "channel_names"):
                assert getattr(b.metadata, field) == getattr(a.metadata, field), (store.name, field)
            corner = [min(n, 32) for n in a.data_shape[2:]]
            np.testing.assert_array_equal(
                b.extract_patch(0, None, [0] * len(corner), corner), a.extract_patch(0, None, [0] * len(corner), corner)
            )
        checked += 1
    assert checked >= 5


@pytest.mark.realdata
def test_realdata_collections_over_s3_equal_the_local_reads(stackio_realdata: Path, stackio_s3_server: Any) -> None:
    """A bioformats2raw collection, an HCS plate and nested dataset paths, found without listing."""
    names = ("fiji_bf2raw_dataset_v5.ome.zarr", "hcs_example_metadata_only.ome.zarr", "neuroglancer_simple_0.4")
    stores = [stackio_realdata / "zarr" / n for n in names if (stackio_realdata / "zarr" / n).is_dir()]
    if not stores:
        pytest.skip("none of the collection stores in the real-data folder")
    for store in stores:
        url = stackio_s3_server.upload(store)
        local = stackio.load(store)
        remote = stackio.load(url, storage_options=stackio_s3_server.public_options)
        assert [s.source.replace(url, store.resolve().as_uri()) for s in remote] == [s.source for s in local], (
            store.name
        )
        for a, b in zip(local, remote, strict=True):
            for field in ("voxel_size", "units", "offset", "axis_names", "channel_names"):
                assert getattr(b.metadata, field) == getattr(a.metadata, field), (store.name, field)
            corner = [min(n, 32) for n in a.data_shape[2:]]
            origin = [0] * len(corner)
            np.testing.assert_array_equal(
                b.extract_patch(0, None, origin, corner), a.extract_patch(0, None, origin, corner)
            )
