"""What a user passed as a source, parsed once and shared by every plugin."""

from __future__ import annotations

import os
import re
import stat
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

HEADER_BYTES = 1024
#: Schemes the remote-reading plugins declare (`stackio.remote.SCHEMES`; here, so that a plugin's hook module
#: declares them without importing `remote`). Each needs its fsspec implementation installed
#: (http/https: aiohttp; s3/s3a: s3fs; gs/gcs: gcsfs; az/abfs: adlfs); `memory` is fsspec's own.
SCHEMES = ("http", "https", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory")
_INDEXED = re.compile(r"^(?P<base>.+)@(?P<index>\d+)$")
_URI = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")


def _is_store_path(given: Any) -> bool:
    """Whether `given` is a zarr StorePath (recognized without importing zarr)."""
    kind = type(given)
    return kind.__name__ == "StorePath" and kind.__module__.split(".")[0] == "zarr"


def _stat(path: Path) -> os.stat_result | None:
    """`os.stat(path)` (links followed); None, not an error, for a path that does not exist or that the
    file system cannot even look up."""
    try:
        return os.stat(path)
    except (OSError, ValueError):  # e.g. ENOENT, ENAMETOOLONG, or a NUL byte
        return None


def _exists(path: Path) -> bool:
    return _stat(path) is not None


def _fspath(given: str | os.PathLike[Any]) -> str:
    """The path `given` names, as text (an `os.PathLike` may give bytes: decoded as the OS does)."""
    try:
        return os.fsdecode(os.fspath(given))
    except (TypeError, UnicodeError) as exc:
        from .errors import ValidationError

        raise ValidationError(
            f"{type(given).__name__} object: its __fspath__() gives no usable path ({exc}); pass the path as a str",
            source=repr(given),
        ) from exc


class Source:
    """One source: a path, a URI or an in-memory array.

    `header` (the first bytes of a file) and `names` (a directory's entries)
    are read at most once, on first use, whichever plugin asks.
    """

    def __init__(
        self,
        given: Any,
        *,
        kind: Literal["path", "uri", "array"],
        scheme: str,
        path: Path | None = None,
        uri: str | None = None,
        index: int | None = None,
    ) -> None:
        #: The object the user passed.
        self.given = given
        self.kind = kind
        #: 'file' for paths and file:// URIs, 'array' for arrays, else the URI's scheme.
        self.scheme = scheme
        self.path = path
        self.uri = uri
        #: N from a trailing '@N' (a scene or series), if the source had one.
        self.index = index
        #: For a folder: the files of it handed to a format declaring `file_sets`, as one group (natural order).
        self.members: tuple[Path, ...] | None = None
        #: fsspec storage options for a URL's header read (set by dispatch from `storage_options=`).
        self.storage_options: Any = None

    @classmethod
    def parse(cls, given: Any) -> Source:
        if isinstance(given, Source):
            return given
        if isinstance(given, np.ndarray) or (
            hasattr(given, "__array__") and hasattr(given, "shape") and not isinstance(given, (str, os.PathLike))
        ):
            return cls(given, kind="array", scheme="array")
        if _is_store_path(given):
            given = str(given)  # zarr names a local store's path as a file:// URI (relative if its root is)
        if not isinstance(given, (str, os.PathLike)):
            from .errors import ValidationError

            raise ValidationError(
                f"{given!r}: a source must be a path, a URI, a numpy array, or a list of them, "
                f"not {type(given).__name__}",
                source=given,
            )
        text = given if isinstance(given, str) else str(given) if isinstance(given, Path) else _fspath(given)
        if not text:
            from .errors import ValidationError

            raise ValidationError(
                f"{text!r}: the source is an empty path; pass a file, a folder or a URI ('.' for the current folder)",
                source=text,
            )
        match = _URI.match(text)
        if match:
            scheme = match["scheme"].lower()
            if scheme != "file":
                url, index = cls._split_url_index(text)
                return cls(given, kind="uri", scheme=scheme, uri=url, index=index)
            from urllib.parse import unquote, urlparse

            parsed = urlparse(text)
            relative = Path(unquote(text[len("file://") :]))
            if parsed.netloc not in ("", "localhost") and _exists(cls._split_index(relative)[0]):
                # 'file://data/x.zarr': a path relative to the working folder, as zarr writes a store
                # opened at a relative root (and CAREamics builds its sources that way)
                path, index = cls._split_index(relative)
                return cls(given, kind="uri", scheme="file", path=path, uri=text, index=index)
            if parsed.netloc not in ("", "localhost"):
                from .errors import ValidationError

                raise ValidationError(
                    f"{text}: file URIs must name a local path: file:///abs/path, or file://rel/path relative to "
                    f"the working folder (no {relative} there), not the host {parsed.netloc!r}",
                    source=text,
                )
            if not parsed.path:
                from .errors import ValidationError

                raise ValidationError(f"{text}: the file URI names no path; write file:///abs/path", source=text)
            path, index = cls._split_index(Path(unquote(parsed.path)))
            return cls(given, kind="uri", scheme="file", path=path, uri=text, index=index)
        if text.startswith("~"):
            try:
                expanded = Path(text).expanduser()
            except RuntimeError:  # '~user' of an unknown user: kept as given, so it is reported as not found
                expanded = Path(text)
        else:
            expanded = given if isinstance(given, Path) else Path(text)
        found = cls._split_stat(expanded)
        source = cls(given, kind="path", scheme="file", path=found[0], index=found[1])
        source.__dict__["stat_info"] = found[2]  # the stat made to split '@N' off is the source's own
        return source

    @classmethod
    def listed(cls, folder: Path, name: str) -> Source:
        """The entry `name` found by listing `folder`: `parse(folder / name)` without what a listed name
        cannot need (a URI, '~', an '@N' to split off: the name exists as listed, or has vanished since)."""
        path = folder / name
        source = cls(path, kind="path", scheme="file", path=path)
        source.__dict__["stat_info"] = _stat(path)
        return source

    @staticmethod
    def _split_index(path: Path) -> tuple[Path, int | None]:
        found = Source._split_stat(path)
        return found[0], found[1]

    @staticmethod
    def _split_stat(path: Path) -> tuple[Path, int | None, os.stat_result | None]:
        """The path, the N of a trailing '@N' when only the path without it exists, and the path's stat."""
        info = _stat(path)
        if info is not None:
            return path, None, info
        match = _INDEXED.match(str(path))
        if match:
            base = Path(match["base"])
            info = _stat(base)
            if info is not None:
                return base, int(match["index"]), info
        return path, None, None

    @staticmethod
    def _split_url_index(url: str) -> tuple[str, int | None]:
        """'https://h/a.czi@2' names scene 2 of a.czi (an '@N' at the end of the URL's path)."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        match = _INDEXED.match(url)
        if match and "@" in parts.path and not parts.query and not parts.fragment:
            return match["base"], int(match["index"])
        return url, None

    @property
    def is_remote(self) -> bool:
        """A URL read over the network (any scheme but file://)."""
        return self.kind == "uri" and self.scheme != "file"

    @cached_property
    def url_name(self) -> str:
        """The last segment of a URL's path ('' for paths and arrays)."""
        if not self.is_remote or self.uri is None:
            return ""
        from urllib.parse import unquote, urlsplit

        return unquote(urlsplit(self.uri).path.rstrip("/").rsplit("/", 1)[-1])

    def __str__(self) -> str:
        if self.kind == "array":
            arr = self.given
            return f"<array {tuple(arr.shape)} {getattr(arr, 'dtype', '')}>"
        text = self.uri if self.kind == "uri" else str(self.path)
        shown = self.index is not None and (self.kind == "path" or self.is_remote)
        return f"{text}@{self.index}" if shown else str(text)

    def __repr__(self) -> str:
        return f"Source({str(self)!r})"

    @property
    def array(self) -> Any:
        """The array, for array sources."""
        return self.given if self.kind == "array" else None

    @cached_property
    def stat_info(self) -> os.stat_result | None:
        """The path's `os.stat` (links followed), made once; None when it does not exist (or is no path)."""
        return None if self.path is None else _stat(self.path)

    @property
    def exists(self) -> bool:
        return self.stat_info is not None

    @property
    def is_dir(self) -> bool:
        info = self.stat_info
        return info is not None and stat.S_ISDIR(info.st_mode)

    @property
    def is_file(self) -> bool:
        """Whether the path is a regular file (links followed)."""
        return self.stat_info is not None and stat.S_ISREG(self.stat_info.st_mode)

    @cached_property
    def suffixes(self) -> list[str]:
        """Candidate suffixes, longest first: 'a.ome.tif' gives ['.ome.tif', '.tif']."""
        if self.path is None and not self.is_remote:
            return []
        name = self.path.name.lower() if self.path is not None else self.url_name.lower()
        parts = name.split(".")[1:]
        return ["." + ".".join(parts[i:]) for i in range(len(parts)) if all(parts[i:])]

    @cached_property
    def header(self) -> bytes:
        """The first bytes of a file (empty for directories and arrays).

        For a URL: one ranged request, empty when the server has no object there (a dataset's
        directory, say); other failures (403, timeouts) raise the stackio error naming the URL.
        """
        if self.is_remote and self.uri is not None:
            from .errors import SourceNotFoundError
            from .remote import StorageOptions, read_bytes

            try:
                return read_bytes(
                    self.uri, StorageOptions.of(self.storage_options, self), "stackio", start=0, end=HEADER_BYTES
                )
            except SourceNotFoundError:
                return b""
        if self.path is None or not self.is_file:
            return b""
        with open(self.path, "rb") as f:
            return f.read(HEADER_BYTES)

    @cached_property
    def names(self) -> frozenset[str]:
        """A directory's entry names (empty for anything else)."""
        if not self.is_dir or self.path is None:
            return frozenset()
        from .files import list_folder

        return frozenset(list_folder(self.path, self))

    def has(self, relative: str) -> bool:
        """Whether a directory source contains `relative` (a glob pattern allowed)."""
        if not self.is_dir:
            return False
        if "/" not in relative and not any(c in relative for c in "*?["):
            return relative in self.names
        return any(True for _ in self.path.glob(relative))  # type: ignore[union-attr]
