"""pytest fixtures for stackio plugin authors (loaded automatically when stackio is installed)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from ..registry import Registry, get_registry
from .plugins import simulated_entry_points


@pytest.fixture
def stackio_register() -> Iterator[Callable[[object, str], Any]]:
    """Register plugin objects in-process; they are unregistered after the test."""
    registry = get_registry()
    registry.discover()
    names: list[str] = []

    def register(plugin: object, name: str) -> Any:
        info = registry.register(plugin, name=name)
        names.append(name)
        return info

    yield register
    for name in names:
        registry.unregister(name)


@pytest.fixture
def stackio_entry_points() -> Iterator[Callable[..., Registry]]:
    """Simulate installed plugins: call with {entry-point name: plugin object, or an exception to raise}.

    Returns the fresh registry discovered from them (only them, unless `replace=False`); the real
    registry is back after the test.
    """
    with ExitStack() as stack:

        def simulate(entry_points: dict[str, Any], *, replace: bool = True) -> Registry:
            return stack.enter_context(simulated_entry_points(entry_points, replace=replace))

        yield simulate


@pytest.fixture
def stackio_isolated() -> Iterator[Registry]:
    """A registry with the built-in formats only, as if no plugin were installed."""
    with simulated_entry_points({}) as registry:
        yield registry


@pytest.fixture(scope="session")
def stackio_realdata(request: pytest.FixtureRequest) -> Any:
    """The shared real-file folder; the test is skipped when it is absent."""
    from .realdata import find_realdata

    root = find_realdata(Path(str(request.config.rootpath)))
    if root is None:
        pytest.skip("no ../shared/realdata beside this checkout (set STACKIO_REALDATA to use one)")
    return root


@pytest.fixture(scope="session")
def stackio_http_server() -> Iterator[Any]:
    """A static HTTP server on 127.0.0.1 (no listing, byte ranges); `serve(path)` gives a file's or
    folder's URL. Shared by the session: `stackio_http` gives it reset for one test."""
    from .servers import StaticServer

    with StaticServer() as server:
        yield server


@pytest.fixture
def stackio_http(stackio_http_server: Any) -> Any:
    """The session's static HTTP server, with no latency and an empty request log for this test."""
    stackio_http_server.latency = 0.0
    stackio_http_server.reset()
    return stackio_http_server


@pytest.fixture(scope="session")
def stackio_s3_server() -> Iterator[Any]:
    """moto's S3 server on 127.0.0.1; `upload(path)` gives an s3:// URL, `storage_options` reach it.

    The AWS credential variables are set for the session, so spawned workers find credentials the
    way a real deployment's workers do: from their environment.
    """
    pytest.importorskip("moto.server", reason="the S3 tests need `pip install 'moto[server]' s3fs`")
    pytest.importorskip("s3fs", reason="the S3 tests need `pip install 'moto[server]' s3fs`")
    from .servers import S3Server

    server = S3Server()
    saved = {k: os.environ.get(k) for k in server.credentials_env()}
    os.environ.update(server.credentials_env())
    try:
        with server:
            yield server
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
