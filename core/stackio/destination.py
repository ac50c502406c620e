"""Where a writer writes: checks before anything is written, a temporary name, and the move into place.

A dataset is written under a hidden name beside the destination (`.NAME.partial-XXXX`) and renamed
to the destination only once complete, so an interrupted write never looks like a finished one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

from .errors import ValidationError, WriteError

PARTIAL = ".partial-"


def _local(value: object) -> Path | None:
    """The local path a source string or path names, if any."""
    from .source import Source

    try:
        source = Source.parse(value)
    except Exception:
        return None
    if source.path is None or not source.exists:
        return None  # an in-memory stack ('array', '<array>') has no place on disk to protect
    return source.path.resolve()


def _overlaps(a: Path, b: Path) -> bool:
    return a == b or a in b.parents or b in a.parents


class Destination:
    """One destination path, checked, with its temporary twin."""

    def __init__(self, dest: str | os.PathLike[str], *, overwrite: bool, sources: Iterable[object] = ()) -> None:
        if not isinstance(dest, (str, os.PathLike)) or not os.fspath(dest):
            raise ValidationError(f"{dest!r}: the destination must be a non-empty path", source=dest)
        text = os.fspath(dest)
        if "://" in text and not text.startswith("file://"):
            raise ValidationError(
                f"{text}: stackio writes to local paths (or file:// URIs); write locally and upload the result",
                source=text,
            )
        path = _local(text) if text.startswith("file://") else Path(text).expanduser().resolve()
        assert path is not None
        self.path = path
        self.overwrite = overwrite
        for source in sources:
            src = _local(source)
            if src is not None and _overlaps(src, path):
                raise ValidationError(
                    f"{path}: the destination {'is' if src == path else 'overlaps'} the source {src}; stackio "
                    "never writes into its source. Choose a destination outside it",
                    source=str(path),
                )
        if path.exists() and not overwrite:
            raise WriteError(
                f"{path}: already exists; pass overwrite=True (--overwrite) to replace it, or choose another name",
                source=str(path),
            )
        parent = path.parent
        if not parent.is_dir():
            raise WriteError(f"{path}: the folder {parent} does not exist; create it first", source=str(path))
        if not os.access(parent, os.W_OK | os.X_OK):
            raise WriteError(
                f"{path}: cannot write into {parent} (permission denied); choose a folder you can write to",
                source=str(path),
            )
        self.partial = parent / f".{path.name}{PARTIAL}{uuid.uuid4().hex[:8]}"

    def commit(self) -> None:
        """Move the finished temporary into place (replacing an old destination only now)."""
        old = None
        if self.path.exists() or self.path.is_symlink():
            if not self.overwrite:  # created by someone else while we wrote
                raise WriteError(
                    f"{self.path}: appeared while writing; the result is kept at {self.partial}", source=str(self.path)
                )
            old = self.path.parent / f".{self.path.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(self.path, old)
        os.replace(self.partial, self.path)
        if old is not None:
            _remove(old)

    def discard(self) -> None:
        """Remove the temporary (after a failure)."""
        _remove(self.partial)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)
