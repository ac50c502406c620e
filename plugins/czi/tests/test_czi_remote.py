"""CZI files at http(s) URLs through pylibCZIrw's libcurl input, on a loopback server in a child process
(pylibCZIrw holds Python's global lock while it waits for the network): the same stacks as local reads."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio
from stackio.testing import workers
from stackio.testing.remote import assert_same_stack, assert_sample_served
from stackio.testing.servers import ServerProcess
from stackio_czi import samples


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    return list(samples.write_samples(tmp_path_factory.mktemp("czi-samples")))


def test_samples_over_http_equal_the_local_reads(sample_files: list[Any]) -> None:
    files = sorted({s.source for s in sample_files})
    with ServerProcess(*files) as server:
        urls = dict(zip(files, server.urls, strict=True))
        for sample in sample_files:
            url = urls[sample.source]
            pairs = assert_sample_served(sample, url)
            assert [b.source.replace(url, sample.source) for _, b in pairs] == [a.source for a, _ in pairs]
        stack = stackio.load(server.urls[0])[0]
        shape = stack.data_shape
        jobs = [(stack, 0, tuple(0 for _ in shape[2:]), tuple(min(8, n) for n in shape[2:]))]
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            (patch,) = pool.map(workers.read_patch, jobs)
        np.testing.assert_array_equal(patch, workers.read_patch(jobs[0]))


def test_bad_remote_czi_give_clear_errors(sample_files: list[Any], tmp_path: Path) -> None:
    path = Path(sample_files[0].source)
    cut = tmp_path / "cut.czi"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with ServerProcess(path, cut) as server:
        base = server.urls[0].rsplit("/", 2)[0]
        with pytest.raises(stackio.SourceNotFoundError, match="not found on the server"):
            stackio.load(f"{base}/nothing/a.czi")
        with pytest.raises(stackio.ReadError, match=server.urls[1]):
            for stack in stackio.load(server.urls[1]):
                stack.read_all()
    with ServerProcess(path, fault="403") as server:
        with pytest.raises(stackio.ReadError, match=r"access denied \(HTTP 403\)"):
            stackio.load(server.urls[0])
    with pytest.raises(stackio.UnsupportedFormatError, match=r"czi format reads .czi files, but not over s3://"):
        stackio.load("s3://bucket/a.czi")


@pytest.mark.realdata
def test_realdata_czi_over_http_equal_the_local_reads(stackio_realdata: Path) -> None:
    folder = stackio_realdata / "czi"
    if not folder.is_dir():
        pytest.skip("no czi entries in the real-data folder")
    files = sorted(p for p in folder.iterdir() if p.suffix == ".czi")[:4]
    with ServerProcess(*files) as server:
        for path, url in zip(files, server.urls, strict=True):
            local = stackio.load(path)
            remote = stackio.load(url)
            assert [s.data_shape for s in remote] == [s.data_shape for s in local]
            for a, b in zip(local, remote, strict=True):
                assert_same_stack(a, b)


def test_reading_over_http_leaves_sigpipe_ignored(sample_files: list[Any]) -> None:
    """libcurl reset SIGPIPE to its default after each transfer: a later write to a closed pipe killed the
    whole process (it ended the test session) instead of raising BrokenPipeError."""
    code = (
        "import os, sys, stackio\n"
        "from stackio.testing.servers import ServerProcess\n"
        "with ServerProcess(sys.argv[1]) as server:\n"
        "    for stack in stackio.load(server.urls[0]):\n"
        "        stack.read_all()\n"
        "r, w = os.pipe()\n"
        "os.close(r)\n"
        "try:\n    os.write(w, b'x')\n"
        "except BrokenPipeError:\n    print('broken pipe raised')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, sample_files[0].source], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "broken pipe raised" in done.stdout, (done.returncode, done.stderr[-2000:])
