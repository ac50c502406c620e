"""TIFF files at URLs, on real loopback servers (a static HTTP server with byte ranges, moto's S3):
the same stacks as the local reads, reads that fetch only what they touch, clear errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
import tifffile
from stackio.testing.remote import assert_same_stack, assert_sample_served
from stackio_tiff import samples


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    return [s for s in samples.write_samples(tmp_path_factory.mktemp("tiff-samples")) if Path(s.source).is_file()]


def test_samples_over_http_equal_the_local_reads(sample_files: list[Any], stackio_http: Any) -> None:
    for sample in sample_files:
        url = stackio_http.serve(sample.source)
        pairs = assert_sample_served(sample, url)
        assert [b.source.replace(url, sample.source) for _, b in pairs] == [a.source for a, _ in pairs]
        for a, b in pairs:
            (again,) = stackio.load(b.source, sample.axes, **b.load_options)
            np.testing.assert_array_equal(again.read_all(), a.read_all())


def test_samples_over_s3_equal_the_local_reads(sample_files: list[Any], stackio_s3_server: Any) -> None:
    for sample in sample_files[:2]:
        url = stackio_s3_server.upload(sample.source)
        local = stackio.load(sample.source, sample.axes)
        remote = stackio.load(url, sample.axes, storage_options=stackio_s3_server.public_options)
        for a, b in zip(local, remote, strict=True):
            assert_same_stack(a, b)


def test_a_patch_of_a_tiled_file_fetches_only_its_tiles(tmp_path: Path, stackio_http: Any) -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 65535, (2048, 2048), dtype=np.uint16)  # noise: tiles do not compress
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, data, tile=(256, 256), compression="zlib")
    url = stackio_http.serve(path)
    (stack,) = stackio.load(url, "YX")
    stackio_http.reset()
    patch = stack.extract_patch(0, None, (1000, 1000), (64, 64))
    np.testing.assert_array_equal(patch[0], data[1000:1064, 1000:1064])
    sent = stackio_http.sent
    assert 0 < sent < path.stat().st_size / 4, (sent, path.stat().st_size)
    assert all(r.range for r in stackio_http.requests if r.method == "GET")


def test_a_series_named_in_the_url(sample_files: list[Any], stackio_http: Any) -> None:
    ome = next(s for s in sample_files if s.source.endswith("two_positions.ome.tif"))
    url = stackio_http.serve(ome.source)
    (second,) = stackio.load(f"{url}@1")
    assert second.source == f"{url}@1"
    (local,) = stackio.load(f"{ome.source}@1")
    assert_same_stack(local, second)
    with pytest.raises(stackio.ValidationError, match="series 5 does not exist"):
        stackio.load(f"{url}@5")


def test_bad_remote_tiffs_give_clear_errors(sample_files: list[Any], tmp_path: Path, stackio_http: Any) -> None:
    path = Path(sample_files[0].source)
    with pytest.raises(stackio.SourceNotFoundError, match="not found on the server"):
        stackio.load(f"{stackio_http.url}/nothing/a.tif")
    with pytest.raises(stackio.ReadError, match=r"access denied \(HTTP 401\).*storage_options"):
        stackio.load(stackio_http.serve(path, fault="401"))
    with pytest.raises(stackio.ReadError, match="is not a TIFF file"):
        stackio.load(stackio_http.serve(path, fault="html"))
    cut = tmp_path / "cut.tif"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    url = stackio_http.serve(cut)
    with pytest.raises(stackio.ReadError, match=url):
        for stack in stackio.load(url):
            stack.read_all()


@pytest.mark.realdata
def test_realdata_tiffs_over_http_equal_the_local_reads(stackio_realdata: Path, stackio_http: Any) -> None:
    folder = stackio_realdata / "tiff"
    if not folder.is_dir():
        pytest.skip("no tiff entries in the real-data folder")
    base = stackio_http.serve(folder)
    checked = 0
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            local = stackio.load(path)
            for stack in local:
                stack.extract_patch(0, None, [0] * (len(stack.data_shape) - 2), [1] * (len(stack.data_shape) - 2))
        except stackio.StackioError:
            continue  # e.g. a codec this environment lacks: the local tests cover that error
        remote = stackio.load(f"{base}/{path.name}")
        assert [s.data_shape for s in remote] == [s.data_shape for s in local], path.name
        for a, b in zip(local, remote, strict=True):
            assert_same_stack(a, b)
        checked += 1
    assert checked >= 5
