"""stackio.remote and URL dispatch on a real loopback HTTP server: storage options that keep their
secrets in the process, network failures as stackio errors, one ranged request for a header."""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any

import pytest
import stackio
from stackio.remote import StorageOptions, read_bytes
from stackio.source import HEADER_BYTES, Source

SECRET = "s3cr3t-value"


def test_storage_options_keep_credentials_out_of_pickles() -> None:
    given = {
        "anon": False,
        "key": "AKIA-test",
        "secret": SECRET,
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9", "region_name": "x"},
        "headers": {"Authorization": f"Bearer {SECRET}", "User-Agent": "stackio"},
    }
    options = StorageOptions.of(given, "src")
    assert options.public == {
        "anon": False,
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9", "region_name": "x"},
        "headers": {"User-Agent": "stackio"},
    }
    assert options.resolved() == given
    blob = pickle.dumps(options)
    assert SECRET.encode() not in blob and b"AKIA-test" not in blob
    assert SECRET not in repr(options.load_option())
    assert pickle.loads(blob).resolved() == given  # same process: the credentials are found again
    assert StorageOptions.of(None, "src").load_option() == {}
    with pytest.raises(stackio.ValidationError, match="storage_options must be a dict"):
        StorageOptions.of("anon", "src")


def test_a_header_is_one_ranged_request(tmp_path: Path, stackio_http: Any) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 64)
    source = Source.parse(stackio_http.serve(path))
    assert source.header == path.read_bytes()[:HEADER_BYTES]
    assert source.header == path.read_bytes()[:HEADER_BYTES]  # read once, shared
    assert [(r.method, r.range, r.sent) for r in stackio_http.requests] == [
        ("GET", f"bytes=0-{HEADER_BYTES - 1}", HEADER_BYTES)
    ]
    assert Source.parse(f"{stackio_http.url}/nothing/here").header == b""  # no object there: no header, no error


def test_network_failures_are_stackio_errors_naming_the_url(
    tmp_path: Path, stackio_http: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"x" * 4096)
    none = StorageOptions()
    missing = f"{stackio_http.url}/nothing/blob.bin"
    with pytest.raises(stackio.SourceNotFoundError, match=f"{missing}: not found on the server"):
        read_bytes(missing, none, "stackio")
    for fault in ("401", "403"):
        url = stackio_http.serve(path, fault=fault)
        with pytest.raises(stackio.ReadError, match=rf"{url}: access denied \(HTTP {fault}\).*storage_options.*anon"):
            read_bytes(url, none, "stackio")
    url = stackio_http.serve(path, fault="500")
    with pytest.raises(stackio.ReadError, match=rf"{url}: the server answered HTTP 500"):
        read_bytes(url, none, "stackio")
    url = stackio_http.serve(path, fault="close")
    with pytest.raises(stackio.ReadError, match=rf"{url}: the connection failed or was closed"):
        read_bytes(url, none, "stackio")
    refused = "http://127.0.0.1:9/blob.bin"  # nothing listens on the discard port
    with pytest.raises(stackio.ReadError, match=rf"{refused}: the connection failed"):
        read_bytes(refused, none, "stackio")
    monkeypatch.setenv("STACKIO_REMOTE_TIMEOUT", "0.5")
    stackio_http.stall_seconds = 3.0
    url = stackio_http.serve(path, fault="stall")
    started = time.monotonic()
    with pytest.raises(stackio.ReadError, match=rf"{url}: the server did not answer within 0.5 s"):
        read_bytes(url, none, "stackio")
    assert time.monotonic() - started < 2.5


def test_url_dispatch_explains_itself(tmp_path: Path, stackio_http: Any) -> None:
    assert "suffix .tif" in stackio.detect("https://example.org/data/a.tif").reason
    assert "inside a .ome.zarr dataset (img.ome.zarr)" in stackio.detect("s3://bucket/img.ome.zarr/labels/cells").reason
    assert "zarr.json is a zarr marker" in stackio.detect("https://example.org/x/zarr.json").reason
    with pytest.raises(stackio.UnsupportedFormatError, match=r"the png format reads .png files, but not over https://"):
        stackio.load("https://example.org/a.png")
    # no suffix: a content check; nothing there at all is a missing source
    with pytest.raises(stackio.SourceNotFoundError, match="nothing at this URL"):
        stackio.load(f"{stackio_http.url}/nothing/dataset")
    assert Source.parse("https://example.org/a.czi@2").index == 2
    assert str(Source.parse("https://example.org/a.czi@2")) == "https://example.org/a.czi@2"
