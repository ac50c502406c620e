"""Mutation fuzzing of every format: at least 1,000 truncated or flipped mutants each (in CI).

Every mutant is loaded and read in a watched worker (`robust_fuzz.run_mutant`); the acceptable
outcomes are a StackioError naming the file, or data that agree with themselves and (for a
truncation, unless stackio warned) with the original. The outcome counts are printed at the end of
the test session. `STACKIO_FUZZ_MUTANTS=N` changes the count; `robust_fuzz.py --mutants N` runs
the fuzzer alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import robust_fuzz
from robust_corpus import FORMATS, Base
from robust_support import REPORT

#: Failure categories and the outcomes that fall in each.
CATEGORIES = {
    "no-crash-or-hang": ("crash", "hang"),
    "only-stackio-errors": ("foreign", "harness-error", "not run"),
    "errors-name-the-file": ("unnamed-error",),
    "no-wrong-data": ("inconsistent", "wrong-data"),
}
#: (format, category) pairs failing because of a bug in a plugin still being edited by its owner.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


#: Mutants that hit a known bug which has its own strict-xfail test elsewhere in the suite
#: (so the fuzz test stays green, yet counts them): (predicate, reason). None open now.
KNOWN_MUTANTS: list[tuple[Callable[[dict[str, Any]], bool], str]] = []


def known_bug(result: dict[str, Any]) -> str | None:
    return next((reason for match, reason in KNOWN_MUTANTS if match(result)), None)


@pytest.fixture(scope="module")
def fuzz_results(all_bases: list[Base]) -> list[dict[str, Any]]:
    usable, skipped = robust_fuzz.usable_bases(all_bases)
    results = robust_fuzz.run(usable, robust_fuzz.mutants_per_format())
    REPORT["fuzz"] = {
        "mutants per format": robust_fuzz.mutants_per_format(),
        "good inputs per format": {fmt: sum(b.format == fmt for b in usable) for fmt in FORMATS},
        "inputs skipped (they do not load as given)": [b.name for b in skipped],
        "outcomes": robust_fuzz.summarize(results),
        "failures": sum(r["outcome"] in robust_fuzz.FAILURES and not known_bug(r) for r in results),
        "failures of known plugin bugs": sum(
            r["outcome"] in robust_fuzz.FAILURES and bool(known_bug(r)) for r in results
        ),
    }
    return results


def test_every_format_gets_its_mutants(fuzz_results: list[dict[str, Any]]) -> None:
    per_format = robust_fuzz.mutants_per_format()
    counts = {fmt: sum(r["format"] == fmt for r in fuzz_results) for fmt in FORMATS}
    assert counts == dict.fromkeys(FORMATS, per_format)
    # The mutants exercise both paths: some fail to load or read, some still read.
    for fmt, outcomes in robust_fuzz.summarize(fuzz_results).items():
        read = outcomes.get("same", 0) + outcomes.get("changed", 0)
        assert outcomes.get("error", 0) > 0 and read > 0, (fmt, outcomes)


def _describe(result: dict[str, Any]) -> str:
    shown = {k: v for k, v in result.items() if k not in ("traceback", "stderr")}
    tail = result.get("traceback") or result.get("stderr") or ""
    return json.dumps(shown, default=str)[:700] + ("\n" + tail[-1200:] if tail else "")


@pytest.mark.parametrize(
    ("fmt", "category"),
    [
        pytest.param(f, c, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[f, c]))
        if (f, c) in KNOWN_BUGS
        else (f, c)
        for f in FORMATS
        for c in CATEGORIES
    ],
)
def test_mutants(fmt: str, category: str, fuzz_results: list[dict[str, Any]]) -> None:
    bad = [r for r in fuzz_results if r["format"] == fmt and r["outcome"] in CATEGORIES[category] and not known_bug(r)]
    assert not bad, (
        f"{len(bad)} {fmt} mutant(s) broke '{category}'; first ones:\n"
        + "\n\n".join(_describe(r) for r in bad[:3])
        + "\nReproduce one with robust_fuzz.materialize(job, folder) (job: format, k and seed above)."
    )
