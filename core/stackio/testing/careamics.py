"""Importing CAREamics next to the CPU build of PyTorch, for tests and benchmarks that compare with it.

PyPI's torchvision for torch 2.13 is a CUDA build: its C++ operators do not load next to the CPU torch,
and torchvision then fails on two shape registrations it makes unconditionally (`nms`, `qnms`;
pytorch/vision#9085). Declaring the two schemas (without kernels) lets the rest of torchvision import.
CAREamics uses only `torchvision.transforms.functional` and `torchvision.__version__`; calling one of
torchvision's operators still raises torchvision's own "Couldn't load custom C++ ops".
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

#: The schemas declared by `import_careamics`, kept alive for the process.
_TORCHVISION_OPS: Any = None


def import_careamics() -> ModuleType:
    """`import careamics`, declaring torchvision's two unguarded operator schemas first if they fail.

    Raises whatever the import raises otherwise (ImportError when careamics is not installed).
    """
    global _TORCHVISION_OPS
    try:
        import torchvision
    except RuntimeError as exc:
        if "torchvision::nms" not in str(exc):
            raise
        import torch

        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        _TORCHVISION_OPS = torch.library.Library("torchvision", "FRAGMENT")
        _TORCHVISION_OPS.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _TORCHVISION_OPS.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import torchvision  # noqa: F401
    import careamics

    return careamics
