"""Each format's page lists the options its plugin declares, as the core checks them."""

from __future__ import annotations

from pathlib import Path

import pytest
import stackio

PAGES = Path(__file__).resolve().parent.parent / "docs" / "formats"
#: The page of each format that declares options.
PAGE_OF = {"tiff": "tiff.md", "czi": "czi.md", "zarr": "zarr.md", "ndtiff": "ndtiff.md", "custom": "custom.md"}


def documented_options(text: str, format: str) -> list[tuple[str, str]]:
    """(option, value) of each row of the options table generated for `format`."""
    marker = f"<!-- options of the {format} format: generated from its declaration"
    if marker not in text:
        return []
    table = text.split(marker, 1)[1].split("\n\n", 2)[1]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.splitlines()[2:]]
    return [(row[0].strip("`"), row[1]) for row in rows]


def _declaring() -> list[stackio.FormatHandle]:
    return [e for e in stackio.formats() if e.spec.options and not e.plugin.startswith("runtime:")]


@pytest.mark.parametrize("entry", _declaring(), ids=lambda e: e.name)
def test_the_format_page_lists_every_declared_option(entry: stackio.FormatHandle) -> None:
    assert entry.name in PAGE_OF, f"{entry.name} declares options but has no page in {PAGES}"
    documented = documented_options((PAGES / PAGE_OF[entry.name]).read_text(), entry.name)
    assert documented == [(o.name, o.expected()) for o in entry.spec.options]


def test_the_check_can_fail() -> None:
    text = "<!-- options of the x format: generated from its declaration -->\n\n| option | value |\n| --- | --- |\n"
    assert documented_options(text + "| `a` | an int |\n", "x") == [("a", "an int")]
    assert documented_options(text, "y") == []
