"""Helpers for testing stackio plugins: in-process registration and simulated entry points."""

from .plugins import registered_plugin, simulated_entry_points
from .realdata import RealFile, find_realdata, manifest

__all__ = ["RealFile", "find_realdata", "manifest", "registered_plugin", "simulated_entry_points"]
