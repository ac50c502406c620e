"""What the README says about the API matches the API."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import stackio

README = Path(__file__).resolve().parent.parent / "README.md"


def _defaults(signature: str) -> dict[str, str]:
    """Parameter -> default text, from 'name=default' pairs of a written signature."""
    return dict(re.findall(r"(\w+)=([^,)]+)", signature))


def test_the_load_signature_in_the_readme_is_the_real_one() -> None:
    (written,) = re.findall(r"^`stackio\.load\((.*)\) -> list\[ImageStack\]`$", README.read_text(), flags=re.M)
    real = inspect.signature(stackio.load)
    defaults = {n: repr(p.default) for n, p in real.parameters.items() if p.default is not inspect.Parameter.empty}
    assert _defaults(written) == defaults
    assert [w.strip().split("=")[0] for w in written.split(",")] == [
        f"*{n}" if p.kind is p.VAR_POSITIONAL else f"**{n}" if p.kind is p.VAR_KEYWORD else n
        for n, p in real.parameters.items()
    ][:2] + ["*"] + [f"**{n}" if p.kind is p.VAR_KEYWORD else n for n, p in list(real.parameters.items())[2:]]


def test_the_readme_states_the_in_memory_default_it_has() -> None:
    default = inspect.signature(stackio.load).parameters["in_memory"].default
    text = README.read_text()
    assert f"`in_memory={default}` (default)" in text
    assert "`in_memory=False` (default)" not in text or default is False


def _axes_rule(text: str) -> str:
    (block,) = re.findall(r"^#+ The axes rule\n(.*?)(?=^#|^\*\*|\Z)", text, flags=re.M | re.S)
    return " ".join(block.split())


def test_the_axes_rule_is_stated_in_the_same_words_everywhere() -> None:
    """The docs' axes page and every format plugin's README state one rule, word for word."""
    root = README.parent
    page = _axes_rule((root / "docs" / "formats" / "index.md").read_text())
    assert "A declared Z or T may be merged into S" in page
    readmes = sorted(p for p in (root / "plugins").glob("*/README.md") if p.parent.name != "napari")
    assert {p.parent.name for p in readmes} >= {"tiff", "czi", "zarr", "ndtiff", "png", "custom", "_template"}
    for path in readmes:
        assert _axes_rule(path.read_text()) == page, path
