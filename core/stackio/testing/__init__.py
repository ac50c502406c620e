"""Helpers for testing stackio plugins: in-process registration, simulated entry points, conformance.

The conformance suite lives in `stackio.testing.conformance` (it needs pytest).
"""

from .plugins import registered_plugin, simulated_entry_points
from .realdata import RealFile, find_realdata, manifest, realdata_params

__all__ = [
    "RealFile",
    "find_realdata",
    "manifest",
    "realdata_params",
    "registered_plugin",
    "simulated_entry_points",
]
