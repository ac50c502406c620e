"""The command-line flags (standard library only: run.py reads them before any venv exists)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .scenarios import SCENARIOS, numbers_help


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.lower().replace("x", ",").split(","))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--smoke",
        action="store_const",
        dest="size",
        const="smoke",
        help="tiny data, one repeat: every code path in seconds (the figures mean nothing; for tests)",
    )
    size.add_argument(
        "--quick",
        action="store_const",
        dest="size",
        const="quick",
        help="small data, few repeats (about two minutes)",
    )
    size.add_argument(
        "--full",
        action="store_const",
        dest="size",
        const="full",
        help="larger data and more repeats (about half an hour)",
    )
    parser.set_defaults(size="default")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenario numbers ({numbers_help()})",
    )
    parser.add_argument("--no-bioio", action="store_true", help="skip the bioio baselines even if installed")
    parser.add_argument("--data-dir", type=Path, help="where to write the data (default: a temporary folder)")
    parser.add_argument("--keep-data", action="store_true", help="keep the data folder after the run")
    parser.add_argument("--out", type=Path, help="JSON file for the results (default: benchmarks/results/...)")
    parser.add_argument("--volume", type=_shape, help="scenario 4 volume Z,Y,X (uint16)")
    parser.add_argument("--patches", type=int, help="scenario 4 patches per timed call")
    parser.add_argument("--many-files", type=int, help="scenario 5 number of files")
    parser.add_argument("--big-gib", type=float, help="scenario 6 size of each large dataset in GiB")
    parser.add_argument("--big-patches", type=int, help="scenario 6 number of patches")
    parser.add_argument("--dask-volume", type=_shape, help="scenario 7 volume Z,Y,X")
