"""TIFF files are read through the core's bounded pool of open files (`stackio.openfiles`).

A many-file dataset can have thousands of lazy stacks open at once; the pool holds a bounded number
of descriptors and maps for all of them and checks on every read that the file has not changed.
"""

from __future__ import annotations

from stackio.openfiles import POOL, FileKey, Leased

__all__ = ["POOL", "FileKey", "Leased"]
