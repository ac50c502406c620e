"""`stackio demo`: every installed plugin writes small samples with its own library; stackio loads them."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .errors import StackioError
from .registry import get_registry


def run_demo(directory: str | None = None) -> int:
    from . import api

    registry = get_registry()
    root = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="stackio-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"stackio demo: writing samples under {root}")
    failures = 0
    loaded = 0
    for plugin in registry.plugins():
        folder = root / plugin.name
        folder.mkdir(exist_ok=True)
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
