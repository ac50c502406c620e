"""Remote sources: fsspec filesystems (imported only here, on first use), storage options whose secrets
never leave the process, and network failures as stackio errors.

Plugins that read URLs build their filesystems through `filesystem` and wrap every remote call in
`remote_errors`; the rules below are then the same for every format.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import attrs

from . import forksafe
from .errors import ReadError, SourceNotFoundError, StackioError, UnsupportedFormatError, ValidationError
from .source import SCHEMES

#: The package that implements each scheme for fsspec, for error messages.
IMPLEMENTATIONS = {
    "http": "aiohttp",
    "https": "aiohttp",
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
}
#: Keys of storage options (at any depth) that hold credentials.
SECRET_KEYS = frozenset(
    {
        "key",
        "secret",
        "token",
        "password",
        "passwd",
        "session_token",
        "access_key",
        "secret_key",
        "access_key_id",
        "secret_access_key",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "account_key",
        "sas_token",
        "client_secret",
        "connection_string",
        "credentials",
        "auth",
    }
)
#: HTTP headers that carry credentials.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "x-amz-security-token"})
#: Seconds to wait for a connection or for the next bytes of an answer (STACKIO_REMOTE_TIMEOUT overrides).
DEFAULT_TIMEOUT = 30.0

# Secrets by reference, for this process and its forked children only: a pickle holds the reference,
# never the values, so a spawned worker resolves credentials from its own environment and profiles.
_SECRETS: dict[str, dict[str, Any]] = {}
_SECRETS_LOCK = threading.Lock()


def is_remote(url: str) -> bool:
    return urlsplit(url).scheme.lower() in SCHEMES


def timeout() -> float:
    """The per-request timeout in seconds (`STACKIO_REMOTE_TIMEOUT`, default 30)."""
    text = os.environ.get("STACKIO_REMOTE_TIMEOUT", "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        value = DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


def _split(options: Mapping[str, Any], headers: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    public: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for name, value in options.items():
        lowered = str(name).lower()
        if (headers and lowered in SECRET_HEADERS) or (not headers and lowered in SECRET_KEYS):
            secret[name] = value
        elif isinstance(value, Mapping):
            inner_public, inner_secret = _split(value, headers=lowered == "headers")
            public[name] = inner_public
            if inner_secret:
                secret[name] = inner_secret
        else:
            public[name] = value
    return public, secret


def _merge(public: Mapping[str, Any], secret: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(public)
    for name, value in secret.items():
        if isinstance(value, Mapping) and isinstance(out.get(name), Mapping):
            out[name] = _merge(out[name], value)
        else:
            out[name] = value
    return out


@attrs.frozen
class StorageOptions:
    """fsspec storage options, split into what may travel with a stack and the credentials.

    `public` (endpoint, `anon`, region, headers without credentials) is pickled and shown in
    `load_options`; the credentials stay in this process (and forked children). A stack unpickled in a
    spawned process has only `public`, so its filesystem takes credentials from that process's
    environment and profiles (AWS_*, ~/.aws, GOOGLE_APPLICATION_CREDENTIALS, ...).
    """

    public: dict[str, Any] = attrs.field(factory=dict)
    ref: str | None = None

    @classmethod
    def of(cls, options: Any, source: object) -> StorageOptions:
        if options is None:
            return cls()
        if isinstance(options, StorageOptions):
            return options
        if not isinstance(options, Mapping):
            raise ValidationError(
                f"{source}: storage_options must be a dict of fsspec options (e.g. {{'anon': True}} or "
                f"{{'client_kwargs': {{'endpoint_url': ...}}}}), not {type(options).__name__}",
                source=str(source),
            )
        public, secret = _split(options)
        ref = None
        if secret:
            import secrets  # only here: it brings hashlib and OpenSSL, which a local load never needs

            ref = secrets.token_hex(16)
            with _SECRETS_LOCK:
                _SECRETS[ref] = secret
        return cls(public, ref)

    @property
    def has_credentials(self) -> bool:
        return self.ref is not None

    def resolved(self) -> dict[str, Any]:
        """The options to build a filesystem with: public ones plus the credentials this process holds."""
        secret = _SECRETS.get(self.ref) if self.ref is not None else None
        return _merge(self.public, secret) if secret else dict(self.public)

    def load_option(self) -> dict[str, Any]:
        """`{'storage_options': public}` for a stack's load_options, or {} when there is nothing to say."""
        return {"storage_options": dict(self.public)} if self.public else {}

    def token(self) -> str:
        """A key for caching filesystems: equal options give equal tokens (credentials included)."""
        return repr(sorted(_flatten(self.resolved())))


def _flatten(options: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for name, value in options.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", repr(value)


def _with_defaults(protocol: str, options: dict[str, Any]) -> dict[str, Any]:
    """Bounded timeouts where the user set none: a stalled server must fail, not hang a training run."""
    seconds = timeout()
    out = dict(options)
    if protocol in ("http", "https"):
        client = dict(out.get("client_kwargs") or {})
        if "timeout" not in client:
            import aiohttp

            client["timeout"] = aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)
        out["client_kwargs"] = client
    elif protocol in ("s3", "s3a"):
        config = dict(out.get("config_kwargs") or {})
        config.setdefault("connect_timeout", seconds)
        config.setdefault("read_timeout", seconds)
        out["config_kwargs"] = config
    return out


#: Schemes whose implementation the plugins' `remote` extra installs.
IN_EXTRA = frozenset({"http", "https", "s3", "s3a", "memory"})


def missing_extra(url: str, distribution: str, exc: BaseException | None = None) -> UnsupportedFormatError:
    """The error for a URL whose fsspec implementation is not installed, naming what to install."""
    scheme = urlsplit(url).scheme.lower()
    package = IMPLEMENTATIONS.get(scheme, "fsspec")
    detail = f" ({exc})" if exc is not None else ""
    command = f"pip install '{distribution}[remote]'" + ("" if scheme in IN_EXTRA else f" {package}")
    return UnsupportedFormatError(
        f"{url}: reading {scheme}:// URLs needs fsspec and {package}, which are not installed{detail}; "
        f"install them with `{command}`",
        source=url,
    )


_FILESYSTEMS: dict[tuple[Any, ...], Any] = {}
_FS_LOCK = threading.Lock()


def _forget_after_fork() -> None:
    global _FS_LOCK, _SECRETS_LOCK
    _FS_LOCK = threading.Lock()
    _SECRETS_LOCK = threading.Lock()
    _FILESYSTEMS.clear()  # a parent's sessions and event loops do not exist in the child


forksafe.at_fork(_forget_after_fork)


def filesystem(url: str, options: StorageOptions, distribution: str) -> tuple[Any, str]:
    """A synchronous fsspec filesystem for `url` and the path inside it, shared by every caller with
    the same scheme and options in this process (one connection pool)."""
    protocol = urlsplit(url).scheme.lower()
    key = (protocol, options.token(), timeout(), os.getpid())
    try:
        import fsspec  # type: ignore[import-untyped]
    except ImportError as exc:
        raise missing_extra(url, distribution, exc) from exc
    with _FS_LOCK:
        fs = _FILESYSTEMS.get(key)
        if fs is None:
            try:
                fs = fsspec.filesystem(protocol, **_with_defaults(protocol, options.resolved()))
            except ImportError as exc:
                raise missing_extra(url, distribution, exc) from exc
            except (TypeError, ValueError) as exc:
                raise ValidationError(
                    f"{url}: the storage_options are not accepted by fsspec's {protocol} filesystem ({exc})",
                    source=url,
                ) from exc
            _FILESYSTEMS[key] = fs
    return fs, fs._strip_protocol(url)


def store_options(url: str, options: StorageOptions) -> dict[str, Any]:
    """The options to give zarr's FsspecStore.from_url (defaults included)."""
    return _with_defaults(urlsplit(url).scheme.lower(), options.resolved())


# -- failures -------------------------------------------------------------------------------------

_TIMEOUTS = ("TimeoutError", "ServerTimeoutError", "ReadTimeoutError", "ConnectTimeoutError", "ConnectTimeout")
_CONNECTION = (
    "ClientConnectionError",
    "ServerDisconnectedError",
    "ClientPayloadError",
    "EndpointConnectionError",
    "ConnectionClosedError",
    "ConnectionError",
    "IncompleteRead",
    "ResponseStreamingError",
    "ContentLengthError",
)


def _names(exc: BaseException) -> set[str]:
    return {c.__name__ for c in type(exc).__mro__}


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None) or getattr(exc, "code", None)
    if isinstance(status, int):
        return status
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        meta = response.get("ResponseMetadata") or {}
        code = meta.get("HTTPStatusCode")
        return code if isinstance(code, int) else None
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _denied(url: str, status: int | None) -> ReadError:
    return ReadError(
        f"{url}: access denied{f' (HTTP {status})' if status else ''}: the server wants credentials this "
        "request did not have (or none were found). Pass them in storage_options= (e.g. {'key': ..., 'secret': ...}, "
        "{'token': ...} or {'headers': {'Authorization': ...}}) or set them in the environment or a "
        "profile; for a public bucket pass storage_options={'anon': True}",
        source=url,
    )


def _not_found(url: str) -> SourceNotFoundError:
    return SourceNotFoundError(f"{url}: not found on the server (HTTP 404 / no such object); check the URL", source=url)


def network_error(exc: BaseException, url: str, distribution: str = "stackio") -> StackioError | None:
    """The stackio error for a failure of the network or the server while reading `url`, or None when
    the failure came from somewhere else (a format library refusing the bytes, say).

    The whole chain of causes is read: fsspec reports a refused HEAD request, a closed connection and a
    missing object alike as FileNotFoundError, with the real reason as its cause.
    """
    causes = list(_chain(exc))
    for cause in causes:
        if isinstance(cause, StackioError):
            return cause
    for cause in causes:
        status = _status(cause)
        if status == 404:
            return _not_found(url)
        if status in (401, 403):
            return _denied(url, status)
        if status is not None and status >= 400:
            return ReadError(f"{url}: the server answered HTTP {status} ({cause})", source=url)
    for cause in causes:
        if _names(cause) & set(_TIMEOUTS) or isinstance(cause, TimeoutError):
            return ReadError(
                f"{url}: the server did not answer within {timeout():g} s; check the server, or raise the "
                "limit with STACKIO_REMOTE_TIMEOUT=seconds",
                source=url,
            )
    for cause in causes:
        if _names(cause) & set(_CONNECTION) or isinstance(cause, (ConnectionError, EOFError)):
            return ReadError(
                f"{url}: the connection failed or was closed before the answer was complete "
                f"({type(cause).__name__}: {cause}); check the URL and that the server is reachable",
                source=url,
            )
    for cause in causes:
        if _names(cause) & {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}:
            return _denied(url, None)
    for cause in causes:
        if isinstance(cause, FileNotFoundError):
            return _not_found(url)
        if isinstance(cause, PermissionError):
            return _denied(url, None)
        if isinstance(cause, ImportError):
            return missing_extra(url, distribution, cause)
    return None


def remote_error(exc: BaseException, url: str, distribution: str = "stackio") -> StackioError:
    """The stackio error for any failure while reading `url`."""
    found = network_error(exc, url, distribution)
    return found if found is not None else ReadError(f"{url}: reading failed ({type(exc).__name__}: {exc})", source=url)


@contextmanager
def remote_errors(url: str, distribution: str = "stackio") -> Iterator[None]:
    """Turn any failure inside the block into the stackio error for `url`."""
    try:
        yield
    except StackioError:
        raise
    except Exception as exc:
        raise remote_error(exc, url, distribution) from exc


def looks_like_html(data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")) or b"<html" in head


def read_bytes(
    url: str, options: StorageOptions, distribution: str, *, start: int = 0, end: int | None = None
) -> bytes:
    """Bytes `start:end` of one object (the whole object when `end` is None), in one request."""
    fs, path = filesystem(url, options, distribution)
    with remote_errors(url, distribution):
        return bytes(fs.cat_file(path, start=start, end=end))


def join(url: str, *parts: str) -> str:
    """`url` with '/'-separated `parts` appended (query strings are not supported in store URLs)."""
    base = url.rstrip("/")
    tail = "/".join(p.strip("/") for p in parts if p and p.strip("/"))
    return f"{base}/{tail}" if tail else base


__all__ = [
    "SCHEMES",
    "StorageOptions",
    "filesystem",
    "is_remote",
    "join",
    "looks_like_html",
    "missing_extra",
    "network_error",
    "read_bytes",
    "remote_error",
    "remote_errors",
    "store_options",
    "timeout",
]
