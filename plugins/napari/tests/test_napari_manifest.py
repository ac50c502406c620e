"""The npe2 manifest: valid, its patterns in step with the installed formats, and nothing heavy imported."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from stackio_napari import patterns

NPE2 = Path(sys.executable).with_name("npe2")


def _validate(target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(NPE2), "validate", target], capture_output=True, text=True, timeout=120)


def test_npe2_validate_passes_on_the_installed_manifest() -> None:
    result = _validate("stackio-napari")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_npe2_validate_fails_on_a_broken_copy(tmp_path: Path) -> None:
    # the check above can fail: a command id outside the plugin's namespace is refused
    text = resources.files("stackio_napari").joinpath("napari.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "napari.yaml"
    broken.write_text(text.replace("id: stackio-napari.get_reader", "id: other.get_reader"), encoding="utf-8")
    result = _validate(str(broken))
    assert result.returncode != 0


def test_manifest_patterns_are_the_suffixes_the_installed_formats_declare() -> None:
    declared, manifest = patterns.declared_patterns(), patterns.manifest_patterns()
    missing, extra = sorted(set(declared) - set(manifest)), sorted(set(manifest) - set(declared))
    assert not missing and not extra, (
        f"napari.yaml is out of step with the installed formats: missing {missing}, extra {extra}; "
        "paste the output of `python -m stackio_napari.patterns` into its filename_patterns"
    )


def test_patterns_cover_every_first_party_format() -> None:
    # the sync test above compares with what is installed; make sure that is every plugin in the repository
    plugins = Path(__file__).resolve().parents[2]
    first_party = {p.name for p in plugins.iterdir() if (p / "pyproject.toml").is_file() and not p.name[0] == "_"}
    first_party -= {"napari"}
    installed = {spec.distribution for spec in patterns.format_specs()}
    assert {f"stackio-{name}" for name in first_party} <= installed


def test_directories_are_accepted_because_formats_read_them() -> None:
    import yaml

    text = resources.files("stackio_napari").joinpath("napari.yaml").read_text(encoding="utf-8")
    (reader,) = yaml.safe_load(text)["contributions"]["readers"]
    assert reader["accepts_directories"] is True
    assert {"ndtiff", "zarr"} <= set(patterns.formats_with_directories())


def test_patterns_command_prints_the_manifest_list() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stackio_napari.patterns"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '        - "*.czi"' in result.stdout.splitlines()


@pytest.mark.parametrize("module", ["stackio", "stackio_napari", "stackio_napari.reader"])
def test_importing_does_not_import_napari_or_qt(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "heavy = [m for m in ('napari', 'npe2', 'qtpy', 'PyQt5', 'vispy') if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_import_stackio_imports_no_dask_through_this_plugin() -> None:
    code = "import sys, stackio; print('dask' in sys.modules, 'stackio_napari' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False False", result.stderr


def test_npe2_is_installed_by_the_project_files() -> None:
    assert shutil.which(str(NPE2)), "npe2 comes with stackio-napari[viewer], installed by .ci/install"
