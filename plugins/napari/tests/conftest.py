"""Fixtures for the stackio-napari tests: every format plugin's samples, npe2 reading, a headless viewer.

The viewer runs on a virtual X screen (Debian's Xvfb, installed by .ci/install) because napari draws with
OpenGL, which Qt's offscreen platform does not provide; the tests start Xvfb themselves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stackio

sys.path.insert(0, str(Path(__file__).parent))

from napari_helpers import format_plugins


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    """Every installed format plugin's samples, written by its own `stackio_write_samples` (its library)."""
    root = tmp_path_factory.mktemp("samples")
    written: dict[str, list[Any]] = {}
    for entry_point in format_plugins():
        write = getattr(entry_point.load(), "stackio_write_samples", None)
        if write is None:
            continue
        folder = root / entry_point.name
        folder.mkdir()
        written[entry_point.name] = list(write(directory=folder))
    return written


@pytest.fixture(scope="session")
def npe2_read() -> Any:
    """npe2's own reading API, restricted to this plugin: `npe2_read(path) -> list[LayerData]`."""
    import npe2

    npe2.PluginManager.instance().discover()

    def read(path: str | Path) -> list[Any]:
        return npe2.read([str(path)], plugin_name="stackio-napari", stack=False)

    return read


@pytest.fixture(scope="session")
def xvfb_display() -> Iterator[str]:
    """A virtual X screen for the test session; skipped where Xvfb is not installed."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (Debian package xvfb; .ci/install installs it)")
    read_fd, write_fd = os.pipe()
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        process.kill()
        pytest.fail("Xvfb did not report a display number")
    try:
        yield f":{number}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def session_viewer(xvfb_display: str) -> Iterator[Any]:
    """One napari viewer on the virtual screen (Qt's xcb platform) for the session: a viewer costs seconds."""
    os.environ["DISPLAY"] = xvfb_display
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "stackio-napari-xdg"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
    import napari

    viewer = napari.Viewer(show=False)
    yield viewer
    viewer.close()


@pytest.fixture
def viewer(session_viewer: Any) -> Iterator[Any]:
    """The session's napari viewer with no layers, emptied again after the test."""
    session_viewer.layers.clear()
    yield session_viewer
    session_viewer.layers.clear()


@pytest.fixture
def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """Record the shape of every patch a stackio stack reads (the stack classes' own extract_patch)."""
    reads: list[tuple[int, ...]] = []
    depth = threading.local()  # a file-backed stack reads through an in-memory one: count the outer call

    for cls in {stackio.LazyStack, stackio.FileBackedStack, stackio.ArrayStack}:
        original = cls.extract_patch

        def counted(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> np.ndarray:
            depth.n = getattr(depth, "n", 0) + 1
            try:
                patch = _original(self, *args, **kwargs)
            finally:
                depth.n -= 1
            if depth.n == 0:
                reads.append(tuple(patch.shape))
            return patch

        monkeypatch.setattr(cls, "extract_patch", counted)
    return reads


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # the long viewer runs (every sample, every real file, multi-GB files) keep the default suite short:
    # they run when asked for, with `pytest plugins/napari -m slow`
    asked = bool(config.getoption("markexpr", ""))
    skip_slow = pytest.mark.skip(reason="long napari viewer run: pytest plugins/napari -m slow")
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            if "slow" in item.keywords and not asked:
                item.add_marker(skip_slow)
            # npe2's pydantic models warn about pydantic's own deprecations on import: not ours to fix
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning:npe2"))
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning:pydantic"))
