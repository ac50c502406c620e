#!/usr/bin/env python3
"""Run the stackio benchmarks: `python benchmarks/run.py [--quick | --full] [--scenarios 1,4]`.

First sets up `.venv-bench/` at the top of the repository (the core and every plugin in editable mode,
plus the baselines in benchmarks/requirements.txt: bioio and its readers, distributed), then runs itself
there. `--no-venv` runs in the current interpreter as it is (bioio columns are left out when bioio is
not installed). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = REPO / ".venv-bench"
REQUIREMENTS = HERE / "requirements.txt"
#: CAREamics for scenario 9's comparison, installed as `.ci/install` does: its requirements, then itself
#: with --no-deps (its torchvision pin does not fit the torch installed here).
CAREAMICS = (REPO / "tests" / "requirements-careamics.txt", REPO / "tests" / "requirements-careamics-nodeps.txt")


def _venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _plugins() -> list[Path]:
    return sorted(
        p for p in (REPO / "plugins").iterdir() if not p.name.startswith("_") and (p / "pyproject.toml").is_file()
    )


def _stamp() -> str:
    """Changes when the requirements, the core's or a plugin's pyproject, or the set of plugins change."""
    digest = hashlib.sha256()
    for path in [REQUIREMENTS, *CAREAMICS, REPO / "pyproject.toml", *(p / "pyproject.toml" for p in _plugins())]:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def ensure_venv(base_python: str) -> Path:
    """Create or update .venv-bench; return its interpreter."""
    python = _venv_python()
    if not python.exists():
        print(f"creating {VENV.name}/ ...", file=sys.stderr, flush=True)
        subprocess.run([base_python, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    stamp_file = VENV / ".stackio-bench-stamp"
    stamp = _stamp()
    if not stamp_file.exists() or stamp_file.read_text() != stamp:
        print(f"installing stackio, its plugins and the baselines into {VENV.name}/ ...", file=sys.stderr, flush=True)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "-e", str(REPO), "-r", str(REQUIREMENTS)], check=True)
        failed = []
        for plugin in _plugins():  # one at a time: a plugin that does not install leaves the others working
            if subprocess.run([*pip, "-e", str(plugin)]).returncode != 0:
                failed.append(plugin.name)
        careamics = subprocess.run([*pip, "-r", str(CAREAMICS[0])]).returncode == 0
        if not careamics or subprocess.run([*pip, "--no-deps", "-r", str(CAREAMICS[1])]).returncode != 0:
            failed.append("careamics (scenario 9's comparison is skipped)")
        if failed:
            print(f"warning: could not install {', '.join(failed)}; their cases are skipped", file=sys.stderr)
        else:
            stamp_file.write_text(stamp)
    return python


def parse(argv: list[str]) -> argparse.Namespace:
    sys.path.insert(0, str(HERE))
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-venv", action="store_true", help="run in this interpreter; do not set up .venv-bench")
    parser.add_argument("--setup-only", action="store_true", help="set up .venv-bench and stop")
    from stackio_bench.cli import add_arguments  # standard library only

    add_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    inside = Path(sys.prefix).resolve() == VENV.resolve()
    if not args.no_venv and not inside:
        python = ensure_venv(sys.executable)
        if args.setup_only:
            return 0
        return subprocess.run([str(python), str(Path(__file__).resolve()), *argv]).returncode
    if args.setup_only:
        return 0
    from stackio_bench.runner import main as run

    return run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
