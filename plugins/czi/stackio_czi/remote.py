"""CZI files at http(s) URLs, read by pylibCZIrw's own libcurl input (byte ranges, its subblock cache).

libcurl speaks plain HTTP(S) only: files in buckets are read through presigned https URLs. Before
libCZI sees a URL, fsspec checks it (a missing or forbidden file gives the stackio error, not libCZI's
"not enough data") and reads the subblock directory for the integrity check a local file gets.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from stackio import ReadError, UnsupportedFormatError
from stackio.remote import StorageOptions, filesystem, remote_errors

from .integrity import check_directory
from .sigpipe import keep_sigpipe_ignored

DISTRIBUTION = "stackio-czi"
#: The schemes libcurl reads for pylibCZIrw.
SCHEMES = ("http", "https")


def is_url(path: str) -> bool:
    return "://" in path and urlsplit(path).scheme.lower() not in ("", "file")


class RemoteBytes:
    """Ranges of a remote file through fsspec, fetched concurrently."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.path = filesystem(url, StorageOptions(), DISTRIBUTION)
        with remote_errors(url, DISTRIBUTION):
            self.size = int(self.fs.size(self.path))

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        if not ranges:
            return []
        with remote_errors(self.url, DISTRIBUTION):
            found = self.fs.cat_ranges(
                [self.path] * len(ranges),
                [o for o, _ in ranges],
                [min(o + n, self.size) for o, n in ranges],
                on_error="raise",
            )
        return [bytes(b) for b in found]


def refuse_scheme(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise UnsupportedFormatError(
            f"{url}: CZI files are read over http:// and https:// only (pylibCZIrw reads URLs with libcurl); "
            "for a file in a bucket pass a presigned https URL, or download it",
            source=url,
        )


def open_reader(url: str, cache_mb: float) -> Any:
    """A pylibCZIrw reader on `url`, after fsspec checked it exists and its directory is sound."""
    from pylibCZIrw import czi as pyczi

    refuse_scheme(url)
    check_directory(url, RemoteBytes(url))
    cache = pyczi.CacheOptions(max_memory_usage=int(max(cache_mb, 32.0) * 2**20))
    try:
        return pyczi.CziReader(url, file_input_type=pyczi.ReaderFileInputTypes.Curl, cache_options=cache)
    except Exception as exc:
        raise ReadError(
            f"{url}: pylibCZIrw cannot read it as CZI over the network ({type(exc).__name__}: {exc}); the file "
            "may be truncated or corrupt, or the server may not answer byte-range requests",
            source=url,
        ) from exc
    finally:
        keep_sigpipe_ignored()
