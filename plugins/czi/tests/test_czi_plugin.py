"""The CZI plugin's declarations: registration, detection, lazy imports and the demo samples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import stackio
from pylibCZIrw import czi as pyczi


def test_declared_format() -> None:
    (entry,) = [f for f in stackio.formats() if f.name == "czi"]
    assert entry.spec.suffixes == (".czi",)
    assert set(entry.spec.option_names) == {"scene", "background", "cache_mb"}
    assert entry.distribution == "stackio-czi"


def test_importing_the_plugin_does_not_import_pylibczirw() -> None:
    code = (
        "import sys, stackio, stackio_czi; stackio.formats(); "
        "assert 'czi' in [f.name for f in stackio.formats()]; "
        "bad = [m for m in sys.modules if m.lower().startswith(('pylibczirw', '_pylibczirw'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[stackio.Sample]:
    from stackio_czi import stackio_write_samples

    return list(stackio_write_samples(tmp_path_factory.mktemp("samples")))


def test_detected_by_magic_without_the_suffix(samples: list[stackio.Sample], tmp_path: Path) -> None:
    renamed = tmp_path / "scan.bin"
    renamed.write_bytes(Path(samples[0].source).read_bytes())
    decision = stackio.detect(renamed)
    assert decision.format == "czi"
    assert len(stackio.load(renamed)) == 2


def test_not_detected_without_the_magic(tmp_path: Path) -> None:
    czi = stackio.get_registry().format("czi")  # the content check is the declared magic, run by the core
    assert czi is not None
    other = tmp_path / "other.czi"
    other.write_bytes(b"II*\x00" + bytes(100))
    verdict = czi.detect(stackio.Source.parse(other))
    assert verdict.status != "accepted" and "ZISRAWFILE" in verdict.reason


def test_samples_load_and_match_pylibczirw(samples: list[stackio.Sample]) -> None:
    scenes, rgb = samples
    stacks = stackio.load(scenes.source, scenes.axes, **scenes.options)
    assert len(stacks) == 2 and all(s.axes == "SCZYX" and s.data_shape == (1, 2, 4, 48, 64) for s in stacks)
    with pyczi.open_czi(scenes.source) as reader:
        rects = reader.scenes_bounding_rectangle
        for scene, stack in enumerate(stacks):
            got = stack.extract_patch(0, None, (0, 0, 0), (4, 48, 64))
            for c in range(2):
                for z in range(4):
                    ref = reader.read(roi=rects[scene], plane={"C": c, "Z": z}, scene=scene)[..., 0]
                    np.testing.assert_array_equal(got[c, z], ref)
    (stack,) = stackio.load(rgb.source, rgb.axes)
    assert stack.axes == "SCYX" and stack.data_shape == (1, 3, 40, 56)
    with pyczi.open_czi(rgb.source) as reader:
        ref = reader.read()
    np.testing.assert_array_equal(stack.extract_patch(0, None, (0, 0), (40, 56)), ref[..., ::-1].transpose(2, 0, 1))
