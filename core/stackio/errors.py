"""The exceptions stackio raises; every one is a `StackioError`."""

from __future__ import annotations


class StackioError(Exception):
    """Base of every error stackio raises on purpose.

    Messages say which source, what is wrong and what to do. `source` holds the
    source the error is about, when there is one.
    """

    def __init__(self, message: str, *, source: object | None = None) -> None:
        super().__init__(message)
        self.source = source


class SourceNotFoundError(StackioError, FileNotFoundError):
    """The path or URI given does not exist."""


class UnsupportedFormatError(StackioError):
    """No installed plugin can load the source."""


class AxesError(StackioError, ValueError):
    """The axes string is malformed or does not fit the data."""


class ValidationError(StackioError, ValueError):
    """Arguments or options a plugin cannot accept (checked before reading)."""


class ReadError(StackioError):
    """The source could not be read: truncated, corrupt or not what it claims."""


class FileAccessError(ReadError):
    """A file a stack reads from changed, vanished or could not be opened since the stack was loaded."""


class NotEnoughMemoryError(ReadError, MemoryError):
    """An allocation failed: the memory available (or the process's limit) is smaller than what was asked."""


class PluginError(StackioError):
    """A plugin is broken: it failed to import, register, detect or load."""


class PatchBoundsError(StackioError, IndexError):
    """A sample, channel or patch lies outside the stack."""


class WriteError(StackioError):
    """A destination could not be written: it exists, is read-only, or the write failed part-way."""
