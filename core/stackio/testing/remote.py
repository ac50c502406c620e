"""Checks for tests of remote reading: a stack read at a URL against the same file read from disk.

The servers the URLs point at are the fixtures `stackio_http` / `stackio_http_server` (a static HTTP
server on 127.0.0.1) and `stackio_s3_server` (moto's S3 server), from `stackio.testing.servers`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The metadata fields a remote stack must share with its local twin (`raw` is compared on request).
METADATA_FIELDS = ("voxel_size", "units", "offset", "axis_names", "channel_names")


def assert_same_stack(local: Any, remote: Any, *, raw: bool = False) -> None:
    """Assert that `remote` is `local` read over the network: shape, dtype, axes (and the file's own),
    the metadata fields, every pixel; and with `raw=True` the format's raw metadata too."""
    assert remote.data_shape == local.data_shape
    assert remote.data_dtype == local.data_dtype
    assert remote.axes == local.axes and remote.original_axes == local.original_axes
    for field in METADATA_FIELDS:
        assert getattr(remote.metadata, field) == getattr(local.metadata, field), field
    if raw:
        assert remote.metadata.raw() == local.metadata.raw()
    np.testing.assert_array_equal(remote.read_all(), local.read_all())


def assert_sample_served(sample: Any, url: str, **options: Any) -> list[tuple[Any, Any]]:
    """Load a plugin's `Sample` from its file and from `url` (the same file or folder on a server) and
    assert the stacks pair up alike (`assert_same_stack` with `raw=True`) and that a pickled remote stack
    reads the same pixels. `options` go to the remote load only (e.g. `storage_options`). Returns the
    (local, remote) pairs, for the format's own checks."""
    import pickle

    import stackio

    local: list[Any] = stackio.load(sample.source, sample.axes, **sample.options)
    remote: list[Any] = stackio.load(url, sample.axes, **sample.options, **options)
    assert len(remote) == len(local), (url, len(remote), len(local))
    for a, b in zip(local, remote, strict=True):
        assert_same_stack(a, b, raw=True)
        copy = pickle.loads(pickle.dumps(b))
        np.testing.assert_array_equal(copy.read_all(), a.read_all())
    return list(zip(local, remote, strict=True))
