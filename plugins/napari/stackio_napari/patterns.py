"""The reader's filename patterns: what the manifest declares, and what the installed formats claim.

npe2 manifests are static, so the patterns are written into `napari.yaml`; the test suite compares them
with the installed formats' declared suffixes (`python -m stackio_napari.patterns` prints the list).
"""

from __future__ import annotations

import sys
from importlib import resources
from typing import Any

import stackio


def format_specs() -> list[Any]:
    """The installed formats' declarations (`stackio.formats()` entries, or their `spec`)."""
    return [getattr(entry, "spec", entry) for entry in stackio.formats()]


def option_names(spec: Any) -> set[str]:
    """Names of the load options a format declares (plain names or option declarations)."""
    return {getattr(option, "name", option) for option in spec.options}


def declared_patterns() -> list[str]:
    """`*<suffix>` for every suffix an installed stackio format declares, sorted."""
    return sorted({f"*{suffix}" for spec in format_specs() for suffix in spec.suffixes})


def formats_with_directories() -> list[str]:
    """Names of the installed formats that read a directory as one source (stores, dataset folders)."""
    return sorted(spec.name for spec in format_specs() if spec.directories)


def manifest_patterns() -> list[str]:
    """The filename patterns written in this plugin's `napari.yaml`, sorted."""
    import yaml  # type: ignore[import-untyped]  # npe2 and napari depend on PyYAML; only the checks need it

    text = resources.files("stackio_napari").joinpath("napari.yaml").read_text(encoding="utf-8")
    manifest = yaml.safe_load(text)
    readers = manifest["contributions"]["readers"]
    return sorted({p for reader in readers for p in reader.get("filename_patterns", [])})


def main() -> int:
    """Print the patterns to paste into napari.yaml; exit 1 when the manifest differs."""
    declared = declared_patterns()
    for pattern in declared:
        print(f'        - "{pattern}"')
    return 0 if declared == manifest_patterns() else 1


if __name__ == "__main__":
    sys.exit(main())
