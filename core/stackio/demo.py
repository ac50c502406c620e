"""`stackio demo`: every installed plugin writes small samples with its own library; stackio loads them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import StackioError, ValidationError
from .registry import get_registry


def demo_folder(directory: str | os.PathLike[str] | None) -> Path:
    """Where the demo writes, never over anything: a new temporary folder by default; `directory`
    itself when it does not exist yet (it is made) or is empty; else a new subfolder of it."""
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="stackio-demo-"))
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise ValidationError(f"{root}: exists and is not a folder; give the demo a folder to write in", source=root)
    try:
        root.mkdir(parents=True)
        return root
    except FileExistsError:
        pass
    if not any(root.iterdir()):
        return root
    return Path(tempfile.mkdtemp(prefix="stackio-demo-", dir=root))


def run_demo(directory: str | None = None) -> int:
    from . import api

    registry = get_registry()
    root = demo_folder(directory)
    if directory is not None and root != Path(directory):
        print(f"stackio demo: {directory} is not empty; writing into a new folder in it, so nothing is written over")
    print(f"stackio demo: writing samples under {root}")
    failures = 0
    loaded = 0
    for plugin in registry.plugins():
        folder = root / plugin.name
        folder.mkdir()  # in a folder that was new or empty: a name taken meanwhile is an error, not overwritten
        samples = registry.write_samples(plugin.name, folder)
        if samples is None:
            folder.rmdir()
            continue
        print(f"\n{plugin.name} ({plugin.distribution} {plugin.version or ''}): {len(samples)} sample(s)")
        for sample in samples:
            try:
                decision = api.detect(sample.source, **sample.options)
                stacks = api.load(sample.source, sample.axes, **sample.options)
            except StackioError as exc:
                failures += 1
                print(f"  FAILED {sample.source}: {exc}")
                continue
            name = Path(sample.source).name if "://" not in sample.source else sample.source
            print(f"  {name}: {sample.description}")
            print(f"    format {decision.format} ({decision.reason}); axes={sample.axes!r}")
            for stack in stacks:
                spatial = stack.data_shape[2:]
                patch = stack.extract_patch(0, None, (0,) * len(spatial), tuple(min(n, 16) for n in spatial))
                loaded += 1
                print(
                    f"    -> {stack.axes} {stack.data_shape} {stack.data_dtype}; "
                    f"patch {patch.shape} mean {float(np.mean(patch)):.1f}"
                )
                close = getattr(stack, "close", None)
                if callable(close):
                    close()
    for broken in registry.broken():
        print(f"\nbroken plugin {broken.name}: {broken.reason}")
    if loaded == 0 and failures == 0:
        print("\nno plugin with samples is installed; install one, e.g. `pip install -e plugins/tiff`")
    print(f"\nloaded {loaded} stack(s); {failures} sample(s) failed")
    return 1 if failures else 0
