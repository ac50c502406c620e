"""Format declarations: every fact about a format, written once by its plugin and read without its code."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import attrs

from .options import Option, as_option

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def _lower_tuple(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(v.lower() for v in values)


def _bytes_tuple(values: Iterable[bytes]) -> tuple[bytes, ...]:
    return tuple(values)


def _str_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _options(values: Any) -> tuple[Option, ...]:
    return tuple(as_option(v) for v in values)


@attrs.frozen
class FormatSpec:
    """What a plugin declares about one format; read without importing reader code.

    The core dispatches on these fields alone: `schemes` for URIs, `suffixes`
    (longest first) for paths, `markers` (paths relative to a directory, globs
    allowed) for dataset directories, `magic` (header prefixes) for content;
    `priority` (higher first) then `name` break ties, never install order.
    The same facts feed the install hints, the docs and the conformance suite.
    """

    name: str
    suffixes: tuple[str, ...] = attrs.field(default=(), converter=_lower_tuple)
    schemes: tuple[str, ...] = attrs.field(default=(), converter=_lower_tuple)
    #: Header prefixes that identify the format; where given, the core's content check needs no plugin code.
    magic: tuple[bytes, ...] = attrs.field(default=(), converter=_bytes_tuple)
    #: Whether a directory can be one source of this format (a store, a dataset folder).
    directories: bool = False
    #: Entries whose presence makes a directory a dataset of this format.
    markers: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    #: Whether a file inside a folder holding the markers belongs to the dataset (it means nothing alone):
    #: loading it goes to this format, whatever its suffix.
    owns_files: bool = False
    #: Whether the files of a folder are handed over as one group (multi-file sets read together) when the
    #: folder is plain or this format accepts it by content; otherwise each file is loaded on its own.
    file_sets: bool = False
    priority: int = 0
    #: The options `load` accepts for this format (an `Option`, or a bare name for any value).
    options: tuple[Option, ...] = attrs.field(default=(), converter=_options)
    #: Whether the plugin handles `file@N` itself (reads `Source.index`: selects by it or refuses it) where
    #: no option is declared `index=True`; otherwise the core refuses a `@N` the format would ignore.
    handles_index: bool = False
    #: Whether options beyond `options` are accepted and passed on (e.g. to a user's loader).
    pass_through_options: bool = False
    #: What `in_memory` means when the caller leaves it unset (None).
    in_memory_default: bool = False
    #: Options that, when passed, select this format whatever the source looks like.
    selected_by: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    #: Modules that reading imports and that discovery and detection must not (checked by the conformance suite).
    heavy_modules: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    description: str = ""
    #: Destination suffixes this format writes (longest match wins), empty when it only reads.
    writes: tuple[str, ...] = attrs.field(default=(), converter=_lower_tuple)
    #: Names of the options `save`/`create`/`convert` pass to its writer; any other is an error.
    write_options: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    #: The distribution that provides the format; filled from the entry point if unset.
    distribution: str | None = None

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.options)

    def identifying(self, options: dict[str, Any]) -> dict[str, Any]:
        """The given options that identify the data (they belong in a stack's `load_options`)."""
        keep = {o.name for o in self.options if o.identifies}
        return {k: v for k, v in options.items() if k in keep and v is not None}

    def claims_directory(self, directory: Any) -> bool:
        """Whether `directory` (a `Source`) is a dataset of this format by its markers or suffix."""
        return self.directories and (
            any(directory.has(m) for m in self.markers) or any(s in self.suffixes for s in directory.suffixes)
        )

    def problems(self) -> list[str]:
        """Why this declaration is invalid (empty when valid)."""
        out = []
        if not _NAME.match(self.name):
            out.append(f"format name {self.name!r} must be lower-case letters, digits, '-' or '_'")
        out += [f"suffix {s!r} must start with '.'" for s in (*self.suffixes, *self.writes) if not s.startswith(".")]
        out += [f"scheme {s!r} must be letters only, without '://'" for s in self.schemes if not s.isalnum()]
        out += [f"magic {m!r} must be non-empty bytes" for m in self.magic if not isinstance(m, bytes) or not m]
        if self.markers and not self.directories:
            out.append("markers are given but directories=False")
        if self.owns_files and not self.markers:
            out.append("owns_files=True needs markers")
        if not isinstance(self.priority, int):
            out.append(f"priority must be an int, not {self.priority!r}")
        names = self.option_names
        out += [f"option {n!r} is declared twice" for n in sorted({n for n in names if names.count(n) > 1})]
        if sum(o.index for o in self.options) > 1:
            out.append("at most one option may be named by file@N (index=True)")
        return out
