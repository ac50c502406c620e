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
