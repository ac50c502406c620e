"""How stackio opens and names the files a source or a dataset references, in one place.

- Only regular files are opened: a FIFO would block the reader forever, a device (`/dev/zero`) would be
  read without end, a socket cannot be read at all. `open_regular` never blocks on one; `require_regular`
  checks a path a format library opens itself.
- A file name a dataset records (an NDTiff index entry, an OME-TIFF `UUID FileName`, a zarr path) stays
  inside the dataset: `confined` refuses absolute names and `..`. The rule is by name; a symbolic link
  inside the dataset is the owner's own arrangement and is followed.
- An OS failure says what happened and what to do, decided by its errno (`os_failure`), instead of
  blaming the file: too many open files, no memory or address space, permission, a link loop, an I/O
  error. `raise_explained` raises, for any error of a read, the `StackioError` it means.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO, NoReturn

from .errors import ReadError, SourceNotFoundError, StackioError, ValidationError

__all__ = [
    "confined",
    "confined_parts",
    "file_kind",
    "list_folder",
    "missing_path_error",
    "open_regular",
    "os_failure",
    "raise_explained",
    "require_regular",
]

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What a file of `st_mode` `mode` is, as errors name it ('a FIFO (named pipe)', ...)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _not_regular(path: str | os.PathLike[str], mode: int, source: object, what: str) -> ReadError:
    shown = os.fspath(path)
    itself = source is None or str(source) == shown
    subject = f"{shown}: is" if itself else f"{source}: {what} {shown} is"
    return ReadError(
        f"{subject} {file_kind(mode)}, not a regular file; stackio reads only regular files (a pipe or "
        "device would block or never end): put the data in a regular file and read that",
        source=str(shown if itself else source),
    )


def require_regular(
    path: str | os.PathLike[str], *, source: object = None, what: str = "the file", info: os.stat_result | None = None
) -> os.stat_result:
    """`os.stat(path)` (links followed) if it is a regular file, else a ReadError naming it.

    For paths a format library opens itself; an `OSError` of the stat (missing, no permission) passes through.
    `info`: the path's stat made already (no second one is made).
    """
    if info is None:
        info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, info.st_mode, source, what)
    return info


def open_regular(path: str | os.PathLike[str], *, source: object = None, what: str = "the file") -> BinaryIO:
    """`path` opened for binary reading, never blocking: a FIFO, device or socket is a ReadError naming it.

    The kind is checked on the opened descriptor (no race with a file swapped in between); an
    `OSError` of the open (missing, no permission; `IsADirectoryError`, as `open` gives) passes through.
    """
    nonblocking = getattr(os, "O_NONBLOCK", 0)
    flags = os.O_RDONLY | nonblocking | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket cannot be opened at all
            require_regular(path, source=source, what=what)
        raise
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):  # as open() says of a directory
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode, source, what)
        if nonblocking:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def confined(folder: str | os.PathLike[str], name: str, *, source: object, what: str, container: str = "") -> Path:
    """`folder / name` for a file name recorded in a dataset, refused if it could leave the dataset.

    A recorded name is relative to the dataset and '/'-separated: no absolute path, drive or
    backslash, no '..' part. `container` names the dataset in the error (default: `folder`).
    """
    return Path(folder, *confined_parts(name, source=source, what=what, container=container or f"the folder {folder}"))


def confined_parts(name: str, *, source: object, what: str, container: str) -> list[str]:
    """The parts of a recorded relative name ('.' and empty parts dropped), or a ValidationError."""
    text = str(name)
    parts = text.split("/")
    drive = len(text) > 1 and text[1] == ":" and text[0].isalpha()
    if text.startswith("/") or drive or "\\" in text or "\0" in text or ".." in parts:
        raise ValidationError(
            f"{source}: {what} {text!r} would leave {container}; names a dataset records are relative to it "
            "and never absolute or with '..' (stackio reads nothing outside the dataset). The dataset was "
            "written wrongly or tampered with: rename its files so they stay inside",
            source=str(source),
        )
    return [p for p in parts if p not in ("", ".")]


# -- OS failures -------------------------------------------------------------------------------------


def _limit(name: str) -> int | None:
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    soft, _ = resource.getrlimit(getattr(resource, name))
    return None if soft == resource.RLIM_INFINITY or soft < 0 else soft


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def _on(exc: OSError) -> str:
    return f" ({exc.filename})" if exc.filename else ""


def _no_memory(exc: BaseException) -> str:
    limit = _limit("RLIMIT_AS")
    bound = f" (this process may use {_gib(limit)} of address space: `ulimit -v`)" if limit is not None else ""
    doing = "map or read the file" if isinstance(exc, OSError) else "read it"
    return (
        f"there was not enough memory or address space to {doing}{bound}; read smaller patches, close "
        "stacks and programs you no longer need, or raise the limit (`ulimit -v`, the container's memory)"
    )


def _advice(exc: OSError) -> str | None:
    code = exc.errno
    if code == errno.EMFILE:
        limit = _limit("RLIMIT_NOFILE")
        bound = f" (the limit, `ulimit -n`, is {limit})" if limit is not None else ""
        return (
            f"this process has too many files open{bound}; close stacks you no longer read "
            "(`stack.close()`), or raise the limit"
        )
    if code == errno.ENFILE:
        return "the system has too many files open; close files or stacks, or raise the system's limit (fs.file-max)"
    if code == errno.ENOMEM:
        return _no_memory(exc)
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"permission denied{_on(exc)}: this user may not read it; check its permissions and those "
            "of the folders above it (`ls -l`)"
        )
    if code == errno.ELOOP:
        return f"a symbolic link loop{_on(exc)}: the link leads back to itself through other links; fix or remove it"
    if code == errno.EIO:
        return f"an input/output error from the disk or network share{_on(exc)}; check the storage, then read again"
    if code == getattr(errno, "ESTALE", None):
        return f"the network share's file handle went stale{_on(exc)}; remount the share and read again"
    if code == errno.ENOENT:
        return (
            f"a file it needs does not exist{_on(exc)}: it was moved or deleted, perhaps while being read; "
            "check that the file or dataset is complete"
        )
    if code == errno.ENAMETOOLONG:
        return f"a file name is too long for the file system{_on(exc)}; shorten it"
    return None


#: Failures of the environment, not of the file: where they occur in a cause chain, they are the reason.
_ENVIRONMENT = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EACCES, errno.EPERM, errno.ELOOP, errno.EIO}
_ENVIRONMENT |= {getattr(errno, "ESTALE", errno.EIO)}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 8 and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return seen


def os_failure(exc: BaseException) -> str | None:
    """What an OS failure behind `exc` means and what to do; None when `exc` is not one (a format error).

    `exc` itself, or an exception it was raised from, counts when it is a `MemoryError` or an
    `OSError` of the environment (EMFILE, ENOMEM, EACCES, ELOOP, EIO, ...); `exc` itself also for
    the rest that errno explains (a name too long).
    """
    for i, link in enumerate(_chain(exc)):
        if isinstance(link, MemoryError):
            return _no_memory(link)
        if isinstance(link, OSError) and (i == 0 or link.errno in _ENVIRONMENT):
            advice = _advice(link)
            if advice is not None:
                return advice
    return None


def raise_explained(exc: BaseException, source: object, doing: str, blame: str = "") -> NoReturn:
    """Raise the error for `exc`, caught while `doing` (a phrase: "reading sample 0 failed") to `source`.

    An OS failure (see `os_failure`) is a ReadError saying so, even where a plugin's ReadError blamed
    the file; any other `StackioError` is raised as it is; anything else is a ReadError
    "{source}: {doing} ({exception}){blame}", `blame` saying what is likely wrong with the file.
    """
    reason = os_failure(exc)
    if reason is not None and (isinstance(exc, ReadError) or not isinstance(exc, StackioError)):
        raise ReadError(f"{source}: {doing}: {reason} [{type(exc).__name__}: {exc}]", source=str(source)) from exc
    if isinstance(exc, StackioError):
        raise exc
    raise ReadError(f"{source}: {doing} ({type(exc).__name__}: {exc}){blame}", source=str(source)) from exc


def missing_path_error(path: str | os.PathLike[str], source: object, *, vanished: bool = False) -> StackioError:
    """Why a local path that does not seem to exist cannot be read: a link loop, a dangling link, a
    folder it may not look into, or truly no such file (`vanished`: it was there a moment ago, when its
    folder was listed or it was first looked at)."""
    shown = os.fspath(path)
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT and os.path.islink(path):
            return SourceNotFoundError(
                f"{source}: is a symbolic link to {os.readlink(path)}, which does not exist; fix the link",
                source=str(source),
            )
        advice = _advice(exc) if exc.errno != errno.ENOENT else None
        if exc.errno == errno.ENAMETOOLONG:  # no file can have that name
            return SourceNotFoundError(f"{source}: no such file: {advice}", source=str(source))
        if advice is not None:
            return ReadError(f"{source}: cannot be read: {advice}", source=str(source))
    except ValueError:  # a NUL byte in the name
        pass
    if vanished:
        return SourceNotFoundError(
            f"{source}: was there a moment ago (its folder listed it, or stackio had looked at it) but is gone "
            "now: another program moved or deleted it while it was being loaded; load it again once nothing "
            "changes it",
            source=str(source),
        )
    return SourceNotFoundError(
        f"{source}: no such file or directory; check the path (relative paths are taken from the current directory)",
        source=str(source) if source is not None else shown,
    )


def list_folder(folder: str | os.PathLike[str], source: object = None) -> list[str]:
    """The entry names of `folder` (`os.listdir`); a folder that cannot be listed is a StackioError saying why."""
    try:
        return os.listdir(folder)
    except OSError as exc:
        shown = source if source is not None else os.fspath(folder)
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise SourceNotFoundError(
                f"{shown}: the folder is gone or is no folder any more: it was moved or deleted while being "
                "read; check the path",
                source=str(shown),
            ) from exc
        advice = _advice(exc) or f"{type(exc).__name__}: {exc}"
        raise ReadError(f"{shown}: the folder cannot be listed: {advice}", source=str(shown)) from exc
