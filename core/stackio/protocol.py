"""The ImageStack protocol every loaded stack satisfies, and the check that says why an object does not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from .metadata import Metadata


@runtime_checkable
class ImageStack(Protocol):
    """What every loaded stack offers (CAREamics' image-stack API).

    `data_shape` is always S, C, then the spatial axes: (Z)YX, or TYX when time
    is the depth axis.

    Optional, beyond this contract: `image_metadata(sample_idx, channel=0, depth=0)`, the file's own
    record of one image (`stackio.ImageMetadata`, or `None`), and `to_xarray()`. stackio's stacks have
    both; `stackio.image_metadata(stack, ...)` works on any stack and gives `None` where it lacks one.
    """

    @property
    def source(self) -> str:
        """Recreates the stack: `load(stack.source, axes)` gives the same data."""

    @property
    def data_shape(self) -> tuple[int, ...]: ...

    @property
    def data_dtype(self) -> np.dtype: ...

    @property
    def axes(self) -> str:
        """'SCYX', 'SCZYX' or 'SCTYX'."""

    @property
    def original_axes(self) -> str: ...

    @property
    def original_data_shape(self) -> tuple[int, ...]: ...

    @property
    def metadata(self) -> Metadata: ...

    def extract_patch(
        self,
        sample_idx: int,
        channels: Sequence[int] | None,
        coords: Sequence[int],
        patch_size: Sequence[int],
    ) -> np.ndarray:
        """Return a C(Z)YX patch in the stack's dtype.

        `channels=None` means all channels. Parts of the patch outside the image
        are zero; a patch wholly outside raises `PatchBoundsError`.
        """


#: numpy kinds of the pixels a stack may hold: bool, signed and unsigned integers, floats, complex.
PIXEL_KINDS = "biufc"


def dtype_problem(dtype: np.dtype) -> str | None:
    """Why `dtype` cannot be a stack's pixel type (None when it can).

    One rule for every format: numeric and bool pixels are read (in native byte order); text, objects,
    dates, durations and records are not image data.
    """
    if dtype.kind in PIXEL_KINDS and dtype.fields is None:
        return None
    return (
        f"holds {dtype} data, not image data (stackio reads bool, integer, float and complex pixels); "
        "convert it to one of those first"
    )


def pixel_type(dtype: np.dtype, source: object) -> np.dtype:
    """`dtype` in native byte order if a stack may hold it; a ReadError naming `source` if not.

    Plugins may call this as soon as they know a file's pixel type, before any other check.
    """
    dtype = np.dtype(dtype)
    problem = dtype_problem(dtype)
    if problem is not None:
        from .errors import ReadError

        raise ReadError(f"{source}: {problem}", source=str(source))
    return dtype.newbyteorder("=")


def numpy_instance(dtype: np.dtype) -> np.dtype:
    """numpy's own instance of a native scalar dtype equal to `dtype` (others as they are).

    Arrays made from a dtype keep its instance, and an instance made elsewhere (a library's
    ``newbyteorder("<")``) fails the ``is`` test the patch paths try before the slower ``==``.
    """
    if dtype.isnative and dtype.fields is None and dtype.subdtype is None and dtype.metadata is None:
        own = np.dtype(dtype.str)
        if own == dtype:
            return own
    return dtype


PROTOCOL_MEMBERS = (
    "source",
    "data_shape",
    "data_dtype",
    "axes",
    "original_axes",
    "original_data_shape",
    "metadata",
    "extract_patch",
)


def protocol_problems(obj: object) -> list[str]:
    """Say what keeps `obj` from being an ImageStack (empty when it is one)."""
    problems = []
    for name in PROTOCOL_MEMBERS:
        try:
            value = getattr(obj, name)
        except Exception as exc:  # a property that raises is a missing member too
            problems.append(f"{name} is missing ({type(exc).__name__}: {exc})")
            continue
        if name == "extract_patch":
            if not callable(value):
                problems.append("extract_patch is not callable")
        elif name in ("source", "axes", "original_axes") and not isinstance(value, str):
            problems.append(f"{name} should be a str, not {type(value).__name__}")
        elif name in ("data_shape", "original_data_shape") and not (
            isinstance(value, tuple) and all(isinstance(n, (int, np.integer)) for n in value)
        ):
            problems.append(f"{name} should be a tuple of ints, not {value!r}")
        elif name == "metadata" and not isinstance(value, Metadata):
            problems.append(f"metadata should be a stackio.Metadata, not {type(value).__name__}")
        elif name == "data_dtype":
            try:
                problem = dtype_problem(np.dtype(value))
            except TypeError:
                problem = f"should be a numpy dtype, not {value!r}"
            if problem is not None:
                problems.append(f"data_dtype {problem}")
    if not problems:
        shape, axes = tuple(obj.data_shape), obj.axes  # type: ignore[attr-defined]
        if axes not in ("SCYX", "SCZYX", "SCTYX"):
            problems.append(f"axes should be 'SCYX', 'SCZYX' or 'SCTYX', not {axes!r}")
        elif len(shape) != len(axes):
            problems.append(f"data_shape {shape} does not have one entry per axis of {axes!r}")
    return problems
