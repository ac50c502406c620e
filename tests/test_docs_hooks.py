"""The documentation is the contract: every hook has a heading and its exact signature in docs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import stackio.hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS_PAGE = ROOT / "docs" / "pages" / "hooks.md"


def _hook_signatures() -> dict[str, str]:
    """Each hook spec's `def ...:` line, from the source of stackio/hookspecs.py."""
    tree = ast.parse(Path(stackio.hookspecs.__file__).read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(d, ast.Name) and d.id == "hookspec" for d in node.decorator_list
        ):
            node.decorator_list, node.body = [], [ast.Pass()]
            out[node.name] = " ".join(ast.unparse(node).split("\n")[0].split())
    return out


def _documented_signatures(text: str) -> dict[str, str]:
    out = {}
    for match in re.finditer(r"^def (stackio_\w+)\((.*?)\)\s*->\s*(.*?):\s*$", text, flags=re.M | re.S):
        out[match[1]] = " ".join(f"def {match[1]}({match[2]}) -> {match[3]}:".split())
    return out


HOOKS = sorted(_hook_signatures())


def test_there_are_hooks_to_document() -> None:
    assert {"stackio_register_formats", "stackio_detect", "stackio_load"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_heading(hook: str) -> None:
    headings = re.findall(r"^#+\s+`?(\w+)`?\s*$", HOOKS_PAGE.read_text(), flags=re.M)
    assert hook in headings, f"{hook} is not documented in {HOOKS_PAGE.relative_to(ROOT)}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_shows_its_exact_signature(hook: str) -> None:
    documented = _documented_signatures(HOOKS_PAGE.read_text())
    assert documented.get(hook) == _hook_signatures()[hook]


def test_no_documented_hook_is_stale() -> None:
    assert sorted(_documented_signatures(HOOKS_PAGE.read_text())) == HOOKS


def test_the_check_can_fail() -> None:
    wrong = "def stackio_detect(source: Source) -> bool:\n"
    assert _documented_signatures(wrong)["stackio_detect"] != _hook_signatures()["stackio_detect"]
