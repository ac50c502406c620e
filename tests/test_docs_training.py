"""The Training page's complete loop runs as written (on small TIFF pairs written here)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

PAGE = Path(__file__).resolve().parent.parent / "docs" / "pages" / "training.md"


def test_the_training_loop_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import tifffile

    rng = np.random.default_rng(0)
    for name in ("noisy", "clean"):
        (tmp_path / name).mkdir()
    for i in range(2):
        clean = rng.random((10, 40, 36), dtype=np.float32)
        tifffile.imwrite(tmp_path / "clean" / f"img{i}.tif", clean)
        tifffile.imwrite(tmp_path / "noisy" / f"img{i}.tif", clean + rng.normal(0, 0.1, clean.shape).astype(np.float32))
    loop = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)[0]
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(loop, str(PAGE), "exec"), {"__name__": "training_page"})
    finally:
        os.chdir(here)
    assert capsys.readouterr().out.strip() == "(1, 1, 10, 40, 36)"
