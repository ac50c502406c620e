"""Every folder under plugins/ has the one plugin shape that plugins/_template shows.

A format plugin `<name>` is the distribution `stackio-<name>` with the entry point
`<name> = "stackio_<name>"` in the group `stackio`; its package holds a hooks-only `__init__.py`
(nothing heavy imported when stackio discovers it), `reader.py` whose `load(source, axes, options)`
goes locate -> plan -> build, `samples.py` and `py.typed`; its tests hold `test_<name>_read.py` and
`test_<name>_conformance.py`; it has a README. A folder that plugs stackio into something else (it
declares entry points of other groups only, e.g. napari's) has the same distribution, package, README,
`py.typed` and read tests.
"""

from __future__ import annotations

import ast
import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "plugins"
FOLDERS = sorted(p for p in PLUGINS.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))
#: What a hooks module may import at module level: the standard library, stackio and what stackio imports.
LIGHT = frozenset({*sys.stdlib_module_names, "stackio", "numpy", "attrs", "pluggy", "importlib_metadata"})
#: The steps of every reader's `load`, in order.
STEPS = ("locate", "plan", "build")


def _module_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports executed when the module is imported (those under `if TYPE_CHECKING:` are not)."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.If, ast.Try)) and not (
            isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        ):
            found += _module_imports(ast.Module(body=[*ast.walk(node)][1:], type_ignores=[]))  # type: ignore[list-item]
    return found


def heavy_imports(package: Path, module: str = "__init__", seen: set[str] | None = None) -> list[str]:
    """Module-level imports of anything but LIGHT, from `module` of `package` and the sibling modules it imports."""
    seen = set() if seen is None else seen
    if module in seen:
        return []
    seen.add(module)
    path = package / f"{module}.py"
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in _module_imports(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            targets = [node.module] if node.module else [a.name for a in node.names]
            for target in targets:
                if (package / f"{target.split('.')[0]}.py").is_file():
                    found += heavy_imports(package, target.split(".")[0], seen)
            continue
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
        found += [f"{path.name}:{node.lineno} imports {n}" for n in names if n.split(".")[0] not in LIGHT]
    return found


def hooks_only_problems(init: Path) -> list[str]:
    """What makes `__init__.py` more than declarations and hooks."""
    problems = [f"{p} at module level (import it inside the hook)" for p in heavy_imports(init.parent)]
    tree = ast.parse(init.read_text())
    # The package's public API (a lazy wrapper such as stackio_zarr.write_crops) is named in __all__.
    public = {
        ast.literal_eval(e)
        for n in tree.body
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)
        for e in getattr(n.value, "elts", [])
    }
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            problems.append(f"__init__.py:{node.lineno} defines the class {node.name}; move code to its own module")
        elif isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and node.name not in public:
            hook = any("hookimpl" in ast.unparse(d) for d in node.decorator_list)
            if not hook:
                problems.append(f"__init__.py:{node.lineno} defines {node.name}(), neither a hook nor in __all__")
        elif isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant):
            problems.append(f"__init__.py:{node.lineno} runs code at import: {ast.unparse(node)[:60]}")
    return problems


def reader_problems(reader: Path) -> list[str]:
    """`load(source, axes, options) -> list[ImageStack]` that calls locate, plan and build in that order."""
    tree = ast.parse(reader.read_text())
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    imported = {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    load = functions.get("load")
    if load is None:
        return ["reader.py defines no load()"]
    problems = []
    positional = [a.arg for a in load.args.posonlyargs + load.args.args]
    if positional != ["source", "axes", "options"] or load.args.vararg or load.args.kwarg:
        problems.append(f"reader.load takes ({', '.join(positional)}), not (source, axes, options)")
    if load.args.kwonlyargs and None in load.args.kw_defaults:
        problems.append("reader.load has a keyword-only argument without a default")
    if load.returns is None or ast.unparse(load.returns) != "list[ImageStack]":
        problems.append("reader.load is not annotated -> list[ImageStack]")
    missing = [s for s in STEPS if s not in functions and s not in imported]
    if missing:
        problems.append(f"reader.py has no {', '.join(missing)}() (load goes locate -> plan -> build)")
    called = [n.func.id for n in ast.walk(load) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    order = [s for s in called if s in STEPS]
    if sorted(set(order), key=order.index) != list(STEPS):
        problems.append(f"reader.load calls {order}, not locate, plan and build in that order")
    return problems


def conformance_problems(test: Path, module: str) -> list[str]:
    for node in ast.walk(ast.parse(test.read_text())):
        if isinstance(node, ast.ClassDef) and any("PluginConformance" in ast.unparse(b) for b in node.bases):
            values = [
                ast.unparse(s.value) for s in node.body if isinstance(s, ast.Assign) and "plugin" in ast.unparse(s)
            ]
            if repr(module) in values or f'"{module}"' in values:
                return []
            return [f"{test.name}: {node.name} does not set plugin = {module!r}"]
    return [f"{test.name} has no PluginConformance subclass"]


def _distribution_problems(folder: Path, config: dict[str, Any], name: str) -> list[str]:
    problems = []
    if not folder.name.startswith("_") and folder.name != name:
        problems.append(f"the folder is {folder.name!r} but the plugin is {name!r}")
    if config["project"].get("name") != f"stackio-{name}":
        problems.append(f"the distribution is {config['project'].get('name')!r}, not 'stackio-{name}'")
    wheel = config.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
    if wheel.get("packages") != [f"stackio_{name}"]:
        problems.append(f"the wheel does not package exactly stackio_{name} ([tool.hatch.build.targets.wheel])")
    return problems


def shape_problems(folder: Path) -> list[str]:
    """Everything that keeps `folder` from having the plugin shape (empty when it has it)."""
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return ["has no pyproject.toml"]
    config = tomllib.loads(pyproject.read_text())
    groups = config.get("project", {}).get("entry-points", {})
    entry_points = groups.get("stackio", {})
    if not entry_points and groups:  # plugs stackio into another program: no format of its own
        name = folder.name
        required = [
            "README.md",
            f"stackio_{name}/__init__.py",
            f"stackio_{name}/py.typed",
            f"tests/test_{name}_read.py",
        ]
        missing = [f"has no {f}" for f in required if not (folder / f).is_file()]
        return _distribution_problems(folder, config, name) + missing
    if len(entry_points) != 1:
        return [f"pyproject.toml declares {len(entry_points)} entry points in the group 'stackio', not 1"]
    ((name, module),) = entry_points.items()
    problems = []
    if module != f"stackio_{name}":
        problems.append(f"the entry point {name} = {module!r} does not target the module 'stackio_{name}'")
    problems += _distribution_problems(folder, config, name)
    package = folder / f"stackio_{name}"
    required = [
        "README.md",
        f"stackio_{name}/__init__.py",
        f"stackio_{name}/reader.py",
        f"stackio_{name}/samples.py",
        f"stackio_{name}/py.typed",
        f"tests/test_{name}_read.py",
        f"tests/test_{name}_conformance.py",
    ]
    problems += [f"has no {f}" for f in required if not (folder / f).is_file()]
    if (package / "__init__.py").is_file():
        problems += hooks_only_problems(package / "__init__.py")
    if (package / "reader.py").is_file():
        problems += reader_problems(package / "reader.py")
    samples = package / "samples.py"
    if samples.is_file():
        functions = {n.name for n in ast.parse(samples.read_text()).body if isinstance(n, ast.FunctionDef)}
        if "write_samples" not in functions:
            problems.append("samples.py defines no write_samples(directory)")
    conformance = folder / "tests" / f"test_{name}_conformance.py"
    if conformance.is_file():
        problems += conformance_problems(conformance, f"stackio_{name}")
    return problems


def test_there_are_plugins_and_the_template() -> None:
    names = [f.name for f in FOLDERS]
    assert "_template" in names and {"tiff", "czi", "zarr", "ndtiff", "custom", "png"} <= set(names)


#: Known gaps, each to be closed by a change of the plugin's hooks module (the reader already has the
#: rest): an entry here fails once the gap is closed, so that it is removed with it.
KNOWN: dict[str, list[str]] = {}


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_plugin_has_the_shape(folder: Path) -> None:
    problems = shape_problems(folder)
    known = KNOWN.get(folder.name, [])
    assert problems == known, f"plugins/{folder.name}:\n  - " + "\n  - ".join(problems)


def test_the_shape_check_names_what_is_wrong(tmp_path: Path) -> None:
    folder = tmp_path / "acme"
    shutil.copytree(PLUGINS / "_template", folder, ignore=shutil.ignore_patterns("__pycache__"))
    assert shape_problems(folder) == ["the folder is 'acme' but the plugin is 'myformat'"]
    package = folder / "stackio_myformat"
    init = package / "__init__.py"
    heavy = init.read_text().replace("from pathlib import Path\n", "from pathlib import Path\n\nimport tifffile\n")
    init.write_text(heavy + "\nfrom .helpers import *\n\n\ndef open_file():\n    pass\n")
    (package / "helpers.py").write_text("import zarr\n")
    reader = package / "reader.py"
    reader.write_text(reader.read_text().replace("    layout = plan(source, header, axes)\n", ""))
    (folder / "tests" / "test_myformat_read.py").unlink()
    assert [re.sub(r"\.py:\d+", ".py", p) for p in shape_problems(folder)] == [
        "the folder is 'acme' but the plugin is 'myformat'",
        "has no tests/test_myformat_read.py",
        "__init__.py imports tifffile at module level (import it inside the hook)",
        "helpers.py imports zarr at module level (import it inside the hook)",
        "__init__.py defines open_file(), neither a hook nor in __all__",
        "reader.load calls ['locate', 'build'], not locate, plan and build in that order",
    ]
