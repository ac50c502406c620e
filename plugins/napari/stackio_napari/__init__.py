"""napari reader for every format stackio reads (npe2 manifest `napari.yaml`).

`reader.get_reader` is napari's entry; `layers` turns stacks into napari layer data and `levels` finds
pyramid levels. Nothing here is imported by `import stackio`, and napari is never imported here.
"""

from .reader import get_reader, read

__all__ = ["get_reader", "read"]
