"""Real servers on 127.0.0.1 for testing remote reading: a static HTTP server and an S3-compatible one.

`StaticServer` serves local folders and files like a plain web server: GET and HEAD with byte ranges,
no directory listing, optional latency per request and injected faults, and a log of every request and
the bytes it sent. `S3Server` runs moto's S3 server (`pip install 'moto[server]'`) in a thread.
Neither imports anything heavy until started.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs

#: Faults a mount can be served with: an HTTP status, a closed connection, a stall, an HTML page for
#: every request, or bodies cut short.
FAULTS = ("401", "403", "404", "500", "close", "stall", "html", "truncate")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
HTML_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please sign in</body></html>"


@attrs.define
class Request:
    method: str
    path: str
    status: int
    sent: int
    range: str | None = None


class StaticServer:
    """A threaded static HTTP server on 127.0.0.1 (no listing, byte ranges, latency, faults)."""

    def __init__(self, latency: float = 0.0, stall_seconds: float = 5.0) -> None:
        #: Seconds added before each answer (a far-away server).
        self.latency = latency
        #: How long a 'stall' fault holds a request before closing it.
        self.stall_seconds = stall_seconds
        self._mounts: dict[str, tuple[Path, str | None]] = {}
        self._log: list[Request] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life -----------------------------------------------------------------------------------
    def start(self) -> StaticServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="stackio-static-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> StaticServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        host, port = self._httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{name}:{port}"

    # -- content --------------------------------------------------------------------------------
    def serve(self, path: str | os.PathLike[str], *, fault: str | None = None, name: str | None = None) -> str:
        """Serve a local file or folder under a fresh prefix; returns its URL."""
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {FAULTS}")
        local = Path(path)
        prefix = uuid.uuid4().hex[:12]
        with self._lock:
            self._mounts[prefix] = (local, fault)
        return f"{self.url}/{prefix}/{name or local.name}"

    def _resolve(self, url_path: str) -> tuple[Path | None, str | None]:
        parts = unquote(urlsplit(url_path).path).lstrip("/").split("/", 2)
        if len(parts) < 2:
            return None, None
        with self._lock:
            mount = self._mounts.get(parts[0])
        if mount is None:
            return None, None
        local, fault = mount
        rest = parts[2] if len(parts) == 3 else ""
        if ".." in rest.split("/"):
            return None, fault
        target = local / rest if rest else local
        return target, fault

    # -- what was asked -------------------------------------------------------------------------
    def _record(self, request: Request) -> None:
        with self._lock:
            self._log.append(request)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._log)

    @property
    def sent(self) -> int:
        """Bytes sent in answer to the requests logged since the last `reset()`."""
        with self._lock:
            return sum(r.sent for r in self._log)

    def reset(self) -> None:
        with self._lock:
            self._log.clear()


class _Handler(BaseHTTPRequestHandler):
    owner: StaticServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _status(self, code: int, payload: bytes = b"", content_type: str = "text/plain") -> None:
        # recorded before answering: a client that has its answer finds its request in the log
        self.owner._record(Request(self.command, self.path, code, len(payload) if self.command != "HEAD" else 0))
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _answer(self, body: bool) -> None:
        owner = self.owner
        if owner.latency:
            time.sleep(owner.latency)
        target, fault = owner._resolve(self.path)
        if fault in ("401", "403", "404", "500"):
            self._status(int(fault), b"no")
            return
        if fault == "close":
            owner._record(Request(self.command, self.path, 0, 0))
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "stall":
            owner._record(Request(self.command, self.path, 0, 0))
            time.sleep(owner.stall_seconds)
            self.close_connection = True
            return
        if fault == "html":
            self._status(200, HTML_PAGE, "text/html")
            return
        if target is None or not target.is_file():
            # directories are never listed: a static server without an index answers 404
            self._status(404, b"not found")
            return
        size = target.stat().st_size
        start, stop = 0, size
        header = self.headers.get("Range")
        partial = False
        if header:
            match = _RANGE.match(header.strip())
            if match is None:
                self._status(416, b"bad range")
                return
            first, last = match.groups()
            if first == "":
                start, stop = max(0, size - int(last)), size
            else:
                start = int(first)
                stop = min(size, int(last) + 1) if last else size
            if start >= size or start >= stop:
                owner._record(Request(self.command, self.path, 416, 0, header))
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            partial = True
        length = stop - start
        data = b""
        if body:
            with open(target, "rb") as f:
                f.seek(start)
                data = f.read(length)
            if fault == "truncate":
                data = data[: max(1, len(data) // 2)]
                self.close_connection = True
        owner._record(Request(self.command, self.path, 206 if partial else 200, len(data), header))
        self.send_response(206 if partial else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(length))
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        self.end_headers()
        self.wfile.write(data)


# -- S3 -------------------------------------------------------------------------------------------


class S3Server:
    """moto's S3 server on 127.0.0.1 in a thread; `upload` copies local files into a bucket."""

    KEY = "stackio-test-key"
    SECRET = "stackio-test-secret"

    def __init__(self) -> None:
        self._server: Any = None
        self.bucket = "stackio"

    def start(self) -> S3Server:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        fs = self.filesystem()
        if not fs.exists(self.bucket):
            fs.mkdir(self.bucket)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def storage_options(self) -> dict[str, Any]:
        """What a client needs: the endpoint and credentials (moto accepts any)."""
        return {"key": self.KEY, "secret": self.SECRET, "client_kwargs": {"endpoint_url": self.endpoint}}

    @property
    def public_options(self) -> dict[str, Any]:
        """The endpoint only: credentials then come from the environment (see `credentials_env`)."""
        return {"client_kwargs": {"endpoint_url": self.endpoint}}

    def credentials_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.KEY,
            "AWS_SECRET_ACCESS_KEY": self.SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def filesystem(self) -> Any:
        import s3fs  # type: ignore[import-untyped]

        return s3fs.S3FileSystem(**self.storage_options, skip_instance_cache=True)

    def upload(self, path: str | os.PathLike[str], name: str | None = None) -> str:
        """Copy a local file or folder to a fresh prefix of the bucket; returns its s3:// URL."""
        local = Path(path)
        key = f"{self.bucket}/{uuid.uuid4().hex[:12]}/{name or local.name}"
        fs = self.filesystem()
        if local.is_dir():
            for file in _files(local):
                fs.put_file(str(file), f"{key}/{file.relative_to(local).as_posix()}")
        else:
            fs.put_file(str(local), key)
        return f"s3://{key}"


def _files(directory: Path) -> Iterator[Path]:
    for root, _, names in os.walk(directory):
        for name in sorted(names):
            yield Path(root, name)


def copy_tree(source: Path, target: Path) -> Path:
    """A copy of a file or folder (a test may then damage it without touching the original)."""
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return target


class ServerProcess:
    """A `StaticServer` in a child process, for readers that hold Python's global lock while they wait
    for the network (pylibCZIrw's libcurl input): a server thread in the same process could not answer.
    """

    def __init__(self, *paths: str | os.PathLike[str], fault: str | None = None) -> None:
        self.paths = [str(p) for p in paths]
        self.fault = fault
        self.urls: list[str] = []
        self._process: Any = None

    def __enter__(self) -> ServerProcess:
        import subprocess
        import sys

        args = [sys.executable, "-m", "stackio.testing.servers", *(["--fault", self.fault] if self.fault else [])]
        self._process = subprocess.Popen([*args, *self.paths], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.urls = [self._process.stdout.readline().strip() for _ in self.paths]
        if not all(self.urls):
            self.__exit__()
            raise RuntimeError("the server process did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.stdin.close()  # the child stops when its stdin closes
            self._process.wait(timeout=30)
            self._process = None


def _main(argv: list[str]) -> None:
    import sys

    fault = None
    if argv[:1] == ["--fault"]:
        fault, argv = argv[1], argv[2:]
    with StaticServer() as server:
        for path in argv:
            print(server.serve(path, fault=fault), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
