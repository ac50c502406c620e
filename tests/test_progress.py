"""Progress of long loads: on a terminal only (a real pseudo-terminal here), never on a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest


def _run_on_terminal(code: str) -> str:
    """Run `code` with stderr on a pseudo-terminal; what it wrote there."""
    leader, follower = pty.openpty()
    # a real terminal has a size (a new pseudo-terminal has 0 columns, where tqdm draws nothing)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], stderr=follower, stdout=subprocess.PIPE, timeout=300, env=dict(os.environ)
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other side is closed: all was read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    return b"".join(chunks).decode(errors="replace")


COUNT = """
from stackio.progress import Progress
with Progress("counting things", 5, delay=0) as progress:
    for _ in range(5):
        progress.advance()
"""


def test_progress_is_shown_on_a_terminal() -> None:
    assert "counting things" in _run_on_terminal(COUNT)


def test_progress_is_never_shown_without_a_terminal() -> None:
    proc = subprocess.run([sys.executable, "-c", COUNT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_progress_waits_a_second_before_showing() -> None:
    quick = COUNT.replace(", delay=0", "")
    assert "counting things" not in _run_on_terminal(quick)


def test_loading_a_folder_of_tiffs_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    pytest.importorskip("stackio_tiff")
    for i in range(20):
        tifffile.imwrite(tmp_path / f"img{i}.tif", np.full((8, 8), i, np.uint16))
    code = f"""
import stackio, stackio.progress
stackio.progress.DELAY = 0  # this folder loads in well under the second a real load waits
stacks = stackio.load({str(tmp_path)!r}, "YX")
assert len(stacks) == 20
"""
    shown = _run_on_terminal(code)
    assert f"opening the TIFF files of {tmp_path.name}" in shown and "20" in shown, shown
    piped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
