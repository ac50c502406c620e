"""Find the shared real-file collection (`../shared/realdata` beside a checkout) and its manifest."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import attrs


@attrs.frozen
class RealFile:
    """One MANIFEST.tsv row: a real file or dataset folder and what its own library reads."""

    format: str
    path: Path
    description: str


def find_realdata(start: Path | None = None) -> Path | None:
    """`$STACKIO_REALDATA`, else the first `shared/realdata` beside `start` or one of its parents."""
    env = os.environ.get("STACKIO_REALDATA")
    if env:
        path = Path(env)
        return path if (path / "MANIFEST.tsv").is_file() else None
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder.parent / "shared" / "realdata"
        if (candidate / "MANIFEST.tsv").is_file():
            return candidate
    return None


def manifest(root: Path, format: str | None = None) -> list[RealFile]:
    """The manifest's rows, optionally only those of one format."""
    with open(root / "MANIFEST.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [
        RealFile(row["format"], root / row["path"], row["description"])
        for row in rows
        if format is None or row["format"] == format
    ]


def realdata_params(format: str, start: Path) -> list:
    """pytest parameters, one per manifest entry of `format`, for the real-file folder beside `start`.

    Without the folder there is one parameter, `None` (id "no-realdata"), so that a test taking the
    `stackio_realdata` fixture shows its clean skip instead of vanishing.
    """
    import pytest

    root = find_realdata(start)
    entries = manifest(root, format) if root is not None else []
    if not entries:
        return [pytest.param(None, id="no-realdata")]
    return [pytest.param(e, id=e.path.name) for e in entries]
