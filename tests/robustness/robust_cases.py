"""The bad-input matrix: each case builds one bad input in a scratch folder and loads or reads it.

A case raises; `run_case` reports what (class, its bases, message). The test
(`test_robust_bad_inputs.py`) runs every case in watched worker processes and checks that the
error is the expected `StackioError` subclass and that its message names the source and says
what to do. Cases are grouped by what they exercise: core, patch, custom, plugins, and one group
per format.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import struct
import traceback
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import stackio
from robust_corpus import pattern, write_czi, write_ndtiff, write_png, write_tiff, write_zarr
from stackio import Detection, FormatSpec, Layout, LazyStack, hookimpl


@attrs.frozen
class Case:
    """One bad input: the error class expected and what its message must contain."""

    name: str
    group: str
    func: Callable[[Path], Any]
    expect: str
    names: tuple[str, ...]
    doc: str


CASES: dict[str, Case] = {}


def case(group: str, expect: type[stackio.StackioError], *names: str) -> Callable[[Callable[[Path], Any]], Any]:
    """Declare a case: `names` are texts the message must contain (the source as the user gave it)."""

    def register(func: Callable[[Path], Any]) -> Callable[[Path], Any]:
        name = f"{group}-{func.__name__}"
        assert name not in CASES, name
        CASES[name] = Case(name, group, func, expect.__name__, names, (func.__doc__ or "").strip())
        return func

    return register


def read_everything(source: Any, axes: str | None = None, **options: Any) -> list[Any]:
    """Load and read every pixel of every stack (lazy formats fail only when read)."""
    stacks = stackio.load(source, axes, **options)
    for stack in stacks:
        shape = stack.data_shape
        for sample in range(shape[0]):
            stack.extract_patch(sample, None, [0] * (len(shape) - 2), list(shape[2:]))
    return stacks


def run_case(name: str, scratch: Path) -> dict[str, Any]:
    """Run one case in a fresh folder; report the exception it raised (or that it raised none)."""
    folder = scratch / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    try:
        CASES[name].func(folder)
    except BaseException as exc:
        return {
            "outcome": "raised",
            "type": type(exc).__name__,
            "mro": [c.__name__ for c in type(exc).__mro__],
            "message": str(exc),
            "traceback": traceback.format_exc()[-2500:],
        }
    return {"outcome": "no error"}


# -- small builders -------------------------------------------------------------------------


def good_npy(d: Path, name: str = "vol.npy", shape: tuple[int, ...] = (3, 10, 12)) -> Path:
    path = d / name
    np.save(path, pattern(shape))
    return path


def good_tiff(d: Path, name: str = "img.tif") -> Path:
    return write_tiff(d / name, pattern((3, 12, 14)), imagej=True, metadata={"axes": "ZYX"})


def good_czi(d: Path, name: str = "img.czi") -> Path:
    planes = {(s, 0, c, z): pattern((10, 12), seed=s + c + z) for s in range(2) for c in range(2) for z in range(2)}
    return write_czi(d / name, planes)


def good_zarr(d: Path, name: str = "img.zarr") -> Path:
    return write_zarr(d / name, pattern((20, 20)), chunks=(10, 10), zarr_format=2)


def good_ndtiff(d: Path, name: str = "acq") -> Path:
    images = [({"channel": ch, "z": z}, pattern((10, 12), seed=z)) for ch in ("a", "b") for z in range(2)]
    return write_ndtiff(d / name, images, {"PixelSize_um": 1.0})


def good_png(d: Path, name: str = "img.png") -> Path:
    return write_png(d / name, pattern((12, 14), "uint8"))


def good_jpeg(d: Path, name: str = "img.jpg") -> Path:
    return write_png(d / name, pattern((16, 16), "uint8"))


def truncate(path: Path, keep: float | int) -> Path:
    data = path.read_bytes()
    n = keep if isinstance(keep, int) else int(len(data) * keep)
    path.write_bytes(data[:n])
    return path


def other_format_bytes(d: Path, kind: str) -> bytes:
    """The bytes of a small valid file of another format."""
    scratch = d / "_other"
    scratch.mkdir(exist_ok=True)
    builders = {"png": good_png, "tiff": good_tiff, "czi": good_czi, "jpeg": good_jpeg}
    return builders[kind](scratch).read_bytes()


# -- core: paths, URIs, dispatch ----------------------------------------------------------------


@case("core", stackio.SourceNotFoundError, "nothing.tif")
def missing_file(d: Path) -> None:
    """A path that does not exist."""
    stackio.load(d / "nothing.tif", "YX")


@case("core", stackio.SourceNotFoundError, "gone.zarr")
def missing_file_uri(d: Path) -> None:
    """A file:// URI to nothing."""
    stackio.load((d / "gone.zarr").as_uri())


@case("core", stackio.SourceNotFoundError, "link.tif")
def broken_symlink(d: Path) -> None:
    """A symbolic link whose target is gone."""
    os.symlink(d / "target.tif", d / "link.tif")
    stackio.load(d / "link.tif")


@case("core", stackio.SourceNotFoundError, "nope.tif")
def uri_with_dotdot_to_nothing(d: Path) -> None:
    """A file:// URI whose '..' leads nowhere."""
    (d / "sub").mkdir()
    stackio.load((d / "sub").as_uri() + "/../../nope.tif")


@case("core", stackio.ValidationError, "empty path")
def empty_string(d: Path) -> None:
    """'' as the source (it used to load the current folder)."""
    stackio.load("")


@case("core", stackio.ValidationError, "file://", "no path")
def file_uri_without_path(d: Path) -> None:
    """'file://' with nothing after it (it used to load the current folder)."""
    stackio.load("file://")


@case("core", stackio.SourceNotFoundError, "y" * 300)
def name_too_long(d: Path) -> None:
    """A file name longer than the file system allows (the lookup itself fails with ENAMETOOLONG)."""
    stackio.load(d / ("y" * 300 + ".tif"))


@case("core", stackio.SourceNotFoundError, "~nosuchuser")
def home_of_unknown_user(d: Path) -> None:
    """'~nosuchuser/x.tif': the home folder cannot be found."""
    stackio.load("~nosuchuser-stackio/x.tif")


@case("core", stackio.ValidationError, "server")
def file_uri_with_host(d: Path) -> None:
    """A file:// URI naming another host."""
    stackio.load("file://server/share/img.tif")


@case("core", stackio.UnsupportedFormatError, "foo")
def unknown_scheme(d: Path) -> None:
    """A URI scheme nobody declares."""
    stackio.load("foo://bucket/img.tif")


@case("core", stackio.UnsupportedFormatError, "s3://bucket/img.npy")
def remote_scheme_without_plugin_s3(d: Path) -> None:
    """An s3:// URI of a format no plugin reads over s3 (and no network access is tried)."""
    stackio.load("s3://bucket/img.npy")


@case("core", stackio.UnsupportedFormatError, "webdav://example.org/a.tif")
def remote_scheme_without_plugin_https(d: Path) -> None:
    """A webdav:// URI with no plugin declaring webdav."""
    stackio.load("webdav://example.org/a.tif")


@case("core", stackio.ReadError, "empty.dat")
def empty_file_unknown_suffix(d: Path) -> None:
    """A 0-byte file with a suffix nobody claims."""
    (d / "empty.dat").write_bytes(b"")
    stackio.load(d / "empty.dat")


@case("core", stackio.ReadError, "pipe.tif")
def named_pipe(d: Path) -> None:
    """A FIFO named like a TIFF: must not block waiting for a writer."""
    os.mkfifo(d / "pipe.tif")
    stackio.load(d / "pipe.tif")


@case("core", stackio.UnsupportedFormatError, "emptydir")
def empty_directory(d: Path) -> None:
    """A folder with nothing in it."""
    (d / "emptydir").mkdir()
    stackio.load(d / "emptydir")


@case("core", stackio.UnsupportedFormatError, "notes")
def directory_of_unreadable_files(d: Path) -> None:
    """A folder whose files no plugin claims."""
    (d / "notes").mkdir()
    (d / "notes" / "a.txt").write_text("hello")
    (d / "notes" / "b.dat").write_bytes(b"\x00" * 100)
    stackio.load(d / "notes")


@case("core", stackio.ReadError, "bad.npy")
def directory_mixed_with_a_corrupt_file(d: Path) -> None:
    """A folder of good and corrupt files: the error names the corrupt file, not the folder."""
    folder = d / "mixed"
    folder.mkdir()
    good_npy(folder, "a_good.npy")
    truncate(good_npy(folder, "bad.npy"), 0.5)
    (folder / "readme.txt").write_text("notes")
    read_everything(folder, "ZYX")


@case("core", stackio.UnsupportedFormatError, "blob.xyz")
def unknown_suffix(d: Path) -> None:
    """Random bytes with an unknown suffix."""
    (d / "blob.xyz").write_bytes(os.urandom(300))
    stackio.load(d / "blob.xyz")


@case("core", stackio.UnsupportedFormatError, "blob")
def no_suffix_random_content(d: Path) -> None:
    """Random bytes without a suffix: every content check refuses."""
    (d / "blob").write_bytes(b"\x01\x02garbage" * 40)
    stackio.load(d / "blob")


@case("core", stackio.UnsupportedFormatError, "nope")
def format_not_installed(d: Path) -> None:
    """format= naming a format nobody provides."""
    stackio.load(good_npy(d), "ZYX", format="nope")


@case("core", stackio.UnsupportedFormatError, "nope")
def preference_not_installed(d: Path) -> None:
    """A preference for a format nobody provides."""
    stackio.load(good_tiff(d), prefer={".tif": "nope"})


@case("core", stackio.ValidationError, "prefer=", "mapping")
def preference_not_a_mapping(d: Path) -> None:
    """prefer='tiff' (a string, not a mapping)."""
    stackio.load(good_npy(d), "ZYX", prefer="tiff")


@case("core", stackio.ValidationError, "42")
def source_of_wrong_type(d: Path) -> None:
    """An int as the source."""
    stackio.load(42, "YX")


@case("core", stackio.ValidationError, "empty list")
def empty_source_list(d: Path) -> None:
    """An empty list of sources."""
    stackio.load([], "YX")


@case("core", stackio.ValidationError, "vol.npy")
def mixed_source_list(d: Path) -> None:
    """A list mixing a path and an array."""
    stackio.load([good_npy(d), np.zeros((4, 4))], "ZYX")


@case("core", stackio.AxesError, "array")
def array_without_axes(d: Path) -> None:
    """A numpy array carries no axes."""
    stackio.load(np.zeros((3, 4, 5)))


@case("core", stackio.AxesError, "vol.npy", "int")
def axes_not_a_string(d: Path) -> None:
    """axes=5."""
    stackio.load(good_npy(d), 5)


@case("core", stackio.AxesError, "QYX")
def axes_unknown_letter(d: Path) -> None:
    """An axis letter outside STCZYX."""
    stackio.load(good_npy(d), "QYX")


@case("core", stackio.AxesError, "YYX")
def axes_repeated(d: Path) -> None:
    """An axis named twice."""
    stackio.load(good_npy(d), "YYX")


@case("core", stackio.AxesError, "ZY")
def axes_without_x(d: Path) -> None:
    """Axes lacking X."""
    stackio.load(good_npy(d), "ZY")


@case("core", stackio.AxesError, "vol.npy")
def axes_wrong_length(d: Path) -> None:
    """Two letters for 3-D data."""
    stackio.load(good_npy(d), "YX")


@case("core", stackio.AxesError, "vol.npy")
def axes_needed(d: Path) -> None:
    """A .npy file without axes."""
    stackio.load(good_npy(d))


@case("core", stackio.ValidationError, "vol.npy")
def unknown_option_numpy(d: Path) -> None:
    """An unknown option for the numpy format."""
    stackio.load(good_npy(d), "ZYX", scale=2)


# -- patch requests (every format's stacks go through the same checks) ---------------------------


def _first_stack(d: Path, fmt: str) -> Any:
    builders = {
        "numpy": (good_npy, "ZYX"),
        "tiff": (good_tiff, None),
        "czi": (good_czi, None),
        "zarr": (good_zarr, "YX"),
        "ndtiff": (good_ndtiff, None),
        "png": (good_png, None),
        "jpeg": (good_jpeg, None),
    }
    build, axes = builders[fmt]
    return stackio.load(build(d), axes)[0]


PATCH_FILES = {
    "numpy": "vol.npy",
    "tiff": "img.tif",
    "czi": "img.czi",
    "zarr": "img.zarr",
    "ndtiff": "acq",
    "png": "img.png",
    "jpeg": "img.jpg",
}


def _spatial(stack: Any) -> int:
    return len(stack.data_shape) - 2


def _patch_case(fmt: str, kind: str) -> None:
    def run(d: Path) -> None:
        stack = _first_stack(d, fmt)
        n, zeros, ones = _spatial(stack), [0] * _spatial(stack), [1] * _spatial(stack)
        if kind == "sample_out_of_range":
            stack.extract_patch(stack.data_shape[0], None, zeros, ones)
        elif kind == "sample_negative":
            stack.extract_patch(-1, None, zeros, ones)
        elif kind == "sample_not_int":
            stack.extract_patch(0.5, None, zeros, ones)
        elif kind == "channel_out_of_range":
            stack.extract_patch(0, [stack.data_shape[1]], zeros, ones)
        elif kind == "channels_empty":
            stack.extract_patch(0, [], zeros, ones)
        elif kind == "coords_wrong_length":
            stack.extract_patch(0, None, [0] * (n + 1), [1] * (n + 1))
        elif kind == "patch_outside":
            stack.extract_patch(0, None, list(stack.data_shape[2:]), ones)
        elif kind == "patch_size_zero":
            stack.extract_patch(0, None, zeros, [0] * n)
        elif kind == "coords_not_whole":
            stack.extract_patch(0, None, [0.5] * n, ones)
        elif kind == "channels_not_a_list":
            stack.extract_patch(0, 0, zeros, ones)
        elif kind == "patch_too_large":
            stack.extract_patch(0, None, zeros, [2**40] * n)

    run.__name__ = f"{kind}_{fmt}"
    run.__doc__ = f"extract_patch with {kind.replace('_', ' ')} on a {fmt} stack."
    case("patch", stackio.PatchBoundsError, PATCH_FILES[fmt], PATCH_HINTS[kind])(run)


#: What each patch error must say besides the source: the valid range or the rule.
PATCH_HINTS = {
    "sample_out_of_range": "indices 0 to",
    "sample_negative": "indices 0 to",
    "sample_not_int": "must be an int",
    "channel_out_of_range": "indices 0 to",
    "channels_empty": "pass None",
    "coords_wrong_length": "must each have",
    "patch_outside": "spatial shape is",
    "patch_size_zero": "must be positive",
    "coords_not_whole": "whole numbers",
    "channels_not_a_list": "list of channel indices",
    "patch_too_large": "smaller patches",
}


for _fmt in PATCH_FILES:
    for _kind in ("sample_out_of_range", "patch_outside"):
        _patch_case(_fmt, _kind)
for _kind in (
    "sample_negative",
    "sample_not_int",
    "channel_out_of_range",
    "channels_empty",
    "coords_wrong_length",
    "patch_size_zero",
    "coords_not_whole",
    "channels_not_a_list",
    "patch_too_large",
):
    _patch_case("numpy", _kind)
    _patch_case("tiff", _kind)


# -- custom: read functions and loaders -----------------------------------------------------


def raising_reader(path: Path) -> np.ndarray:
    raise OSError(f"cannot parse {path.name}")


def list_reader(path: Path) -> list[int]:
    return [1, 2, 3]


def plane_reader(path: Path) -> np.ndarray:
    return np.zeros((4, 5), np.uint8)


def raw_file(d: Path) -> Path:
    (d / "img.raw").write_bytes(b"\x00" * 20)
    return d / "img.raw"


@case("custom", stackio.ReadError, "img.raw", "raising_reader")
def read_func_raises(d: Path) -> None:
    """A read function that raises."""
    read_everything(raw_file(d), "YX", read_func=raising_reader)


@case("custom", stackio.ValidationError, "img.raw", "list_reader")
def read_func_returns_a_list(d: Path) -> None:
    """A read function returning a list, not an array."""
    read_everything(raw_file(d), "YX", read_func=list_reader)


@case("custom", stackio.AxesError, "img.raw", "plane_reader")
def read_func_returns_wrong_ndim(d: Path) -> None:
    """A read function whose array does not fit the axes."""
    read_everything(raw_file(d), "ZYX", read_func=plane_reader)


@case("custom", stackio.ValidationError, "img.raw", "read_func")
def read_func_not_callable(d: Path) -> None:
    """read_func='numpy.load' (a string)."""
    stackio.load(raw_file(d), "YX", read_func="numpy.load")


@case("custom", stackio.ValidationError, "img.raw", "loader")
def read_func_and_loader(d: Path) -> None:
    """Both read_func and loader."""
    stackio.load(raw_file(d), "YX", read_func=plane_reader, loader=lambda s, a: [])


@case("custom", stackio.ValidationError, "raws", "suffix")
def read_func_directory_without_suffix(d: Path) -> None:
    """A folder for read_func without suffix=."""
    (d / "raws").mkdir()
    raw_file(d / "raws")
    stackio.load(d / "raws", "YX", read_func=plane_reader)


@case("custom", stackio.SourceNotFoundError, "raws", ".tif")
def read_func_directory_without_matching_files(d: Path) -> None:
    """A folder with no file of the suffix given."""
    (d / "raws").mkdir()
    raw_file(d / "raws")
    stackio.load(d / "raws", "YX", read_func=plane_reader, suffix=".tif")


@case("custom", stackio.AxesError, "img.raw", "axes")
def read_func_without_axes(d: Path) -> None:
    """read_func without axes."""
    stackio.load(raw_file(d), read_func=plane_reader)


@case("custom", stackio.ValidationError, "img.raw", "read_kwargs")
def read_kwargs_not_a_dict(d: Path) -> None:
    """read_kwargs as a list."""
    stackio.load(raw_file(d), "YX", read_func=plane_reader, read_kwargs=["a"])


def raising_loader(source: Any, axes: Any) -> list[Any]:
    raise RuntimeError("the loader hit a bug")


def dict_loader(source: Any, axes: Any) -> dict[str, Any]:
    return {"stack": 1}


def string_loader(source: Any, axes: Any) -> list[Any]:
    return ["not a stack"]


class ShapeLiar:
    """A stack that says SCZYX but has a 4-entry data_shape."""

    source = "liar"
    data_shape = (1, 1, 4, 4)
    data_dtype = np.dtype("uint8")
    axes = "SCZYX"
    original_axes = "YX"
    original_data_shape = (4, 4)
    metadata = stackio.Metadata()

    def extract_patch(self, *args: Any) -> np.ndarray:
        return np.zeros((1, 4, 4), np.uint8)


def lying_axes_loader(source: Any, axes: Any) -> list[Any]:
    return [ShapeLiar()]


class SmallReader:
    """An opener whose array is smaller than the layout it was given: reads come back short."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def __call__(self) -> np.ndarray:
        return np.ones(self.shape, np.uint8)


class ConstantReader:
    """An opener whose reader answers every request with one pixel."""

    def __call__(self) -> Any:
        class Reader:
            def __getitem__(self, key: Any) -> np.ndarray:
                return np.ones((1, 1), np.uint8)

        return Reader()


class WrongDtypeReader:
    """An opener whose data are float64 although the stack says uint8."""

    def __call__(self) -> np.ndarray:
        return np.full((8, 8), 0.5)


def short_read_loader(source: Any, axes: Any) -> list[Any]:
    layout = Layout.from_axes("YX", (8, 8))
    return [LazyStack(str(source), layout, "uint8", SmallReader((4, 8)))]


def one_pixel_loader(source: Any, axes: Any) -> list[Any]:
    layout = Layout.from_axes("YX", (8, 8))
    return [LazyStack(str(source), layout, "uint8", ConstantReader())]


def wrong_dtype_loader(source: Any, axes: Any) -> list[Any]:
    layout = Layout.from_axes("YX", (8, 8))
    return [LazyStack(str(source), layout, "uint8", WrongDtypeReader())]


@case("custom", stackio.ReadError, "img.raw", "raising_loader")
def loader_raises(d: Path) -> None:
    """A loader that raises."""
    stackio.load(raw_file(d), loader=raising_loader)


@case("custom", stackio.ValidationError, "img.raw", "dict_loader")
def loader_returns_a_dict(d: Path) -> None:
    """A loader returning a dict."""
    stackio.load(raw_file(d), loader=dict_loader)


@case("custom", stackio.ValidationError, "img.raw", "string_loader")
def loader_returns_non_stacks(d: Path) -> None:
    """A loader returning strings."""
    stackio.load(raw_file(d), loader=string_loader)


@case("custom", stackio.ValidationError, "img.raw", "data_shape")
def loader_lies_about_axes(d: Path) -> None:
    """A loader whose stack has axes SCZYX but a 4-entry shape."""
    stackio.load(raw_file(d), loader=lying_axes_loader)


@case("custom", stackio.ReadError, "img.raw")
def loader_stack_reads_short(d: Path) -> None:
    """A stack whose reader returns fewer rows than its shape says."""
    read_everything(raw_file(d), loader=short_read_loader)


@case("custom", stackio.ReadError, "img.raw")
def loader_stack_reads_one_pixel(d: Path) -> None:
    """A stack whose reader answers with one pixel: must not be broadcast into the patch."""
    (stack,) = stackio.load(raw_file(d), loader=one_pixel_loader)
    stack.extract_patch(0, None, (-2, 0), (4, 4))


@case("custom", stackio.ReadError, "img.raw", "float64")
def loader_stack_reads_wrong_dtype(d: Path) -> None:
    """A stack whose reader returns float64 when it declared uint8."""
    (stack,) = stackio.load(raw_file(d), loader=wrong_dtype_loader)
    stack.extract_patch(0, None, (0, 0), (4, 4))


# -- broken plugins ------------------------------------------------------------------------


class CrashAt:
    """A plugin claiming `.brk` that crashes in the hook named `where`."""

    def __init__(self, where: str) -> None:
        self.where = where

    def _maybe(self, hook: str) -> None:
        if self.where == hook:
            raise RuntimeError(f"plugin bug in {hook}")

    @hookimpl
    def stackio_register_formats(self, register: Callable[[FormatSpec], None]) -> None:
        self._maybe("register")
        register(FormatSpec(name="brk", suffixes=(".brk", ".shared"), description="broken on purpose"))

    @hookimpl
    def stackio_detect(self, source: stackio.Source) -> Detection:
        self._maybe("detect")
        return Detection.refuse("not mine")

    @hookimpl
    def stackio_validate(self, source: stackio.Source, options: dict[str, Any]) -> None:
        self._maybe("validate")

    @hookimpl
    def stackio_load(self, source: stackio.Source, axes: str | None) -> list[Any]:
        self._maybe("load")
        if self.where == "load-memory":
            raise MemoryError("cannot allocate")
        if self.where == "load-empty":
            return []
        if self.where == "load-junk":
            return [object()]
        layout = Layout.from_axes("YX", (4, 4))
        if self.where == "opener":
            return [LazyStack(str(source), layout, "uint8", functools.partial(_fail_open, str(source)))]
        if self.where == "getitem":
            return [LazyStack(str(source), layout, "uint8", FailingReader)]
        return [LazyStack(str(source), layout, "uint8", SmallReader((4, 4)))]


class SharedClaimer:
    """A second plugin claiming `.shared`, refusing every file."""

    @hookimpl
    def stackio_register_formats(self, register: Callable[[FormatSpec], None]) -> None:
        register(FormatSpec(name="other", suffixes=(".shared",), description="refuses all"))

    @hookimpl
    def stackio_detect(self, source: stackio.Source) -> Detection:
        return Detection.refuse("no magic")

    @hookimpl
    def stackio_load(self, source: stackio.Source) -> list[Any]:
        return []


def _fail_open(path: str) -> Any:
    raise OSError(f"{path}: device not ready")


class FailingReader:
    """A reader whose every read raises."""

    def __getitem__(self, key: Any) -> np.ndarray:
        raise ValueError("decoder state corrupt")


def _with_plugins(entry_points: dict[str, Any], d: Path, load: Callable[[], Any]) -> Any:
    """Discover only these plugins (and the real numpy one), check numpy files still load, then `load`."""
    import stackio_custom
    from stackio.testing import simulated_entry_points

    with simulated_entry_points({"custom": stackio_custom, **entry_points}):
        (stack,) = stackio.load(good_npy(d), "ZYX")  # the other plugins keep working
        assert stack.extract_patch(0, None, (0, 0, 0), (1, 2, 2)).shape == (1, 1, 2, 2)
        return load()


def brk_file(d: Path, name: str = "x.brk") -> Path:
    (d / name).write_bytes(b"BRK" + b"\x00" * 50)
    return d / name


@case("plugins", stackio.UnsupportedFormatError, "img.tif", "ImportError", "stackio-tiff")
def plugin_fails_to_import(d: Path) -> None:
    """The tiff plugin's import fails: its files get an error naming the broken plugin; .npy still loads."""
    _with_plugins({"tiff": ImportError("No module named 'tifffile'")}, d, lambda: stackio.load(good_tiff(d)))


@case("plugins", stackio.UnsupportedFormatError, "x.brk", "brk", "plugin bug in register")
def plugin_crashes_declaring_formats(d: Path) -> None:
    """A plugin whose stackio_register_formats raises is reported broken; others work."""
    _with_plugins({"brk": CrashAt("register")}, d, lambda: stackio.load(brk_file(d)))


@case("plugins", stackio.UnsupportedFormatError, "x.shared", "crashed", "plugin bug in detect")
def plugin_crashes_detecting(d: Path) -> None:
    """Two plugins claim .shared; one crashes in its content check, the other refuses."""
    _with_plugins(
        {"brk": CrashAt("detect"), "other": SharedClaimer()}, d, lambda: stackio.load(brk_file(d, "x.shared"))
    )


@case("plugins", stackio.PluginError, "x.brk", "brk", "plugin bug in validate")
def plugin_crashes_validating(d: Path) -> None:
    """stackio_validate raises a non-stackio error."""
    _with_plugins({"brk": CrashAt("validate")}, d, lambda: stackio.load(brk_file(d)))


@case("plugins", stackio.ReadError, "x.brk", "brk", "plugin bug in load")
def plugin_crashes_loading(d: Path) -> None:
    """stackio_load raises RuntimeError."""
    _with_plugins({"brk": CrashAt("load")}, d, lambda: stackio.load(brk_file(d)))


@case("plugins", stackio.ReadError, "x.brk", "memory")
def plugin_runs_out_of_memory(d: Path) -> None:
    """stackio_load raises MemoryError."""
    _with_plugins({"brk": CrashAt("load-memory")}, d, lambda: stackio.load(brk_file(d)))


@case("plugins", stackio.ReadError, "x.brk", "no image")
def plugin_returns_no_stack(d: Path) -> None:
    """stackio_load returns []."""
    _with_plugins({"brk": CrashAt("load-empty")}, d, lambda: stackio.load(brk_file(d)))


@case("plugins", stackio.PluginError, "x.brk", "not an ImageStack")
def plugin_returns_junk(d: Path) -> None:
    """stackio_load returns [object()]."""
    _with_plugins({"brk": CrashAt("load-junk")}, d, lambda: stackio.load(brk_file(d)))


@case("plugins", stackio.ReadError, "x.brk", "device not ready")
def plugin_opener_fails(d: Path) -> None:
    """The stack's opener raises OSError on first read."""
    _with_plugins({"brk": CrashAt("opener")}, d, lambda: read_everything(brk_file(d)))


@case("plugins", stackio.ReadError, "x.brk", "decoder state corrupt")
def plugin_reader_fails(d: Path) -> None:
    """The stack's reader raises ValueError on a patch."""
    _with_plugins({"brk": CrashAt("getitem")}, d, lambda: read_everything(brk_file(d)))


# -- tiff ---------------------------------------------------------------------------------


@case("tiff", stackio.ReadError, "empty.tif")
def empty_tiff(d: Path) -> None:
    """A 0-byte .tif."""
    (d / "empty.tif").write_bytes(b"")
    stackio.load(d / "empty.tif")


@case("tiff", stackio.ReadError, "img.tif")
def truncated_tiff(d: Path) -> None:
    """A TIFF cut in half."""
    read_everything(truncate(good_tiff(d), 0.5))


@case("tiff", stackio.ReadError, "img.tif")
def tiff_header_only(d: Path) -> None:
    """Only the 8-byte TIFF header."""
    read_everything(truncate(good_tiff(d), 8))


@case("tiff", stackio.ReadError, "tiled.tif")
def tiff_corrupt_compressed_tile(d: Path) -> None:
    """A deflate tile overwritten with garbage."""
    path = write_tiff(d / "tiled.tif", pattern((64, 64)), tile=(32, 32), compression="deflate")
    import tifffile

    with tifffile.TiffFile(path) as tif:
        offset = tif.pages.first.dataoffsets[1]
    data = bytearray(path.read_bytes())
    data[offset : offset + 40] = b"\xff" * 40
    path.write_bytes(bytes(data))
    read_everything(path)


@case("tiff", stackio.ReadError, "fake.tif")
def png_named_tif(d: Path) -> None:
    """PNG bytes in a .tif."""
    (d / "fake.tif").write_bytes(other_format_bytes(d, "png"))
    stackio.load(d / "fake.tif")


@case("tiff", stackio.AxesError, "img.tif", "ZYX")
def tiff_axes_contradict_metadata(d: Path) -> None:
    """Axes that contradict the ImageJ metadata."""
    stackio.load(good_tiff(d), "CYX")


@case("tiff", stackio.ValidationError, "img.tif", "foo")
def tiff_unknown_option(d: Path) -> None:
    """An option the tiff format does not take."""
    stackio.load(good_tiff(d), foo=1)


@case("tiff", stackio.ValidationError, "img.tif", "series")
def tiff_series_not_an_int(d: Path) -> None:
    """series='1'."""
    stackio.load(good_tiff(d), series="1")


@case("tiff", stackio.ValidationError, "img.tif", "series 5")
def tiff_series_missing(d: Path) -> None:
    """series=5 of a one-series file."""
    stackio.load(good_tiff(d), series=5)


@case("tiff", stackio.ValidationError, "img.tif", "9")
def tiff_index_missing(d: Path) -> None:
    """img.tif@9."""
    good_tiff(d)
    stackio.load(f"{d / 'img.tif'}@9")


@case("tiff", stackio.ValidationError, "img.tif", "level")
def tiff_level_missing(d: Path) -> None:
    """level=3 of a file without pyramid."""
    stackio.load(good_tiff(d), level=3)


# -- czi ----------------------------------------------------------------------------------


@case("czi", stackio.ReadError, "empty.czi")
def empty_czi(d: Path) -> None:
    """A 0-byte .czi."""
    (d / "empty.czi").write_bytes(b"")
    stackio.load(d / "empty.czi")


@case("czi", stackio.ReadError, "img.czi")
def truncated_czi(d: Path) -> None:
    """A CZI cut in half."""
    read_everything(truncate(good_czi(d), 0.5))


@case("czi", stackio.ReadError, "img.czi")
def czi_magic_then_garbage(d: Path) -> None:
    """The CZI magic followed by garbage."""
    (d / "img.czi").write_bytes(b"ZISRAWFILE" + os.urandom(2000))
    read_everything(d / "img.czi")


@case("czi", stackio.ReadError, "fake.czi")
def tiff_named_czi(d: Path) -> None:
    """TIFF bytes in a .czi."""
    (d / "fake.czi").write_bytes(other_format_bytes(d, "tiff"))
    stackio.load(d / "fake.czi")


@case("czi", stackio.AxesError, "img.czi", "SCZYX")
def czi_axes_outside_layouts(d: Path) -> None:
    """axes='ZYX' for a CZI."""
    stackio.load(good_czi(d), "ZYX")


@case("czi", stackio.ValidationError, "img.czi", "scene")
def czi_scene_negative(d: Path) -> None:
    """scene=-1."""
    stackio.load(good_czi(d), scene=-1)


@case("czi", stackio.ValidationError, "img.czi", "7", "0, 1")
def czi_scene_missing(d: Path) -> None:
    """scene=7 of a 2-scene file: the message lists the scenes."""
    stackio.load(good_czi(d), scene=7)


@case("czi", stackio.ValidationError, "img.czi", "scene")
def czi_scene_given_twice(d: Path) -> None:
    """img.czi@0 and scene=0."""
    good_czi(d)
    stackio.load(f"{d / 'img.czi'}@0", scene=0)


@case("czi", stackio.ValidationError, "img.czi", "background")
def czi_background_not_a_number(d: Path) -> None:
    """background='black'."""
    stackio.load(good_czi(d), background="black")


@case("czi", stackio.ReadError, "img.czi", "corrupt")
def czi_corrupt_channel_index(d: Path) -> None:
    """A subblock directory entry whose C index is -2**31 + ...: refused, not a 2-billion-channel loop."""
    path = write_czi(d / "img.czi", {(0, 0, c, 0): pattern((8, 8), seed=c) for c in range(2)})
    data = path.read_bytes()
    entry = b"C\x00\x00\x00" + struct.pack("<ii", 1, 1)  # dimension C, start 1, size 1
    assert entry in data
    path.write_bytes(data.replace(entry, b"C\x00\x00\x00" + struct.pack("<ii", -2113929216, 1)))
    stackio.load(path)


@case("czi", stackio.ReadError, "img.czi", "119 dimensions")
def czi_directory_entry_with_119_dimensions(d: Path) -> None:
    """A directory entry's dimension count flipped to 119: libCZI reads past its buffer and segfaults
    (found by the fuzzer); the plugin validates the directory first."""
    path = good_czi(d)
    data = bytearray(path.read_bytes())
    (directory,) = struct.unpack_from("<q", data, 84)  # the file header's SubBlockDirectoryPosition
    first_entry = directory + 32 + 128  # segment header, entry count and reserved bytes
    assert data[first_entry : first_entry + 2] == b"DV"
    struct.pack_into("<i", data, first_entry + 28, 119)
    path.write_bytes(bytes(data))
    stackio.load(path)


@case("czi", stackio.ReadError, "img.czi", "more than the file holds")
def czi_subblock_data_size_beyond_the_file(d: Path) -> None:
    """A zstd subblock whose data size reads 2**40: libCZI segfaults decoding it (found by the fuzzer);
    the plugin checks every subblock's sizes against the file first."""
    planes = {(0, 0, c, 0): pattern((24, 32), seed=c) for c in range(2)}
    path = write_czi(d / "img.czi", planes, compression="zstd1:ExplicitLevel=1;PreProcess=HiLoByteUnpack")
    data = bytearray(path.read_bytes())
    (directory,) = struct.unpack_from("<q", data, 84)
    (subblock,) = struct.unpack_from("<q", data, directory + 32 + 128 + 6)  # entry 0's file position
    assert data[subblock : subblock + 14] == b"ZISRAWSUBBLOCK"
    struct.pack_into("<q", data, subblock + 32 + 8, 2**40)  # after metadata and attachment sizes
    path.write_bytes(bytes(data))
    read_everything(path)


@case("czi", stackio.ReadError, "img.czi", "disagrees")
def czi_subblock_header_with_a_corrupt_dimension_count(d: Path) -> None:
    """A subblock's own copy of its directory entry says 7 + 209 * 2**24 dimensions: libCZI segfaults
    reading it (found by the fuzzer); the plugin compares each subblock header with the directory."""
    path = write_czi(d / "img.czi", {(0, t, 0, 0): pattern((20, 28), "uint8", t) for t in range(2)})
    data = bytearray(path.read_bytes())
    (directory,) = struct.unpack_from("<q", data, 84)
    (subblock,) = struct.unpack_from("<q", data, directory + 32 + 128 + 6)
    own_entry = subblock + 32 + 16  # after the segment header and the three sizes
    assert data[own_entry : own_entry + 2] == b"DV"
    data[own_entry + 31] ^= 209  # the high byte of the dimension count
    path.write_bytes(bytes(data))
    read_everything(path)


# -- zarr ---------------------------------------------------------------------------------


@case("zarr", stackio.ReadError, "x.zarr")
def file_named_zarr(d: Path) -> None:
    """A plain file called x.zarr."""
    (d / "x.zarr").write_text("not a store")
    stackio.load(d / "x.zarr")


@case("zarr", stackio.ReadError, "tifs.zarr")
def folder_of_tiffs_named_zarr(d: Path) -> None:
    """A folder called .zarr holding TIFFs, no zarr metadata."""
    (d / "tifs.zarr").mkdir()
    good_tiff(d / "tifs.zarr")
    stackio.load(d / "tifs.zarr")


@case("zarr", stackio.ReadError, "img.zarr")
def zarr_metadata_not_json(d: Path) -> None:
    """.zarray that is not JSON."""
    (good_zarr(d) / ".zarray").write_text("{not json")
    stackio.load(d / "img.zarr", "YX")


@case("zarr", stackio.ReadError, "img.zarr")
def zarr_metadata_missing_keys(d: Path) -> None:
    """.zarray that is JSON but lacks the array's keys."""
    (good_zarr(d) / ".zarray").write_text("{}")
    stackio.load(d / "img.zarr", "YX")


@case("zarr", stackio.ReadError, "img.zarr")
def zarr_corrupt_chunk(d: Path) -> None:
    """A zlib chunk overwritten with garbage."""
    (good_zarr(d) / "0.0").write_bytes(b"\x00garbage" * 10)
    read_everything(d / "img.zarr", "YX")


@case("zarr", stackio.ReadError, "img.zarr")
def zarr_truncated_chunk(d: Path) -> None:
    """A compressed chunk cut in half."""
    truncate(good_zarr(d) / "1.1", 0.5)
    read_everything(d / "img.zarr", "YX")


@case("zarr", stackio.ValidationError, "..")
def zarr_uri_with_dotdot(d: Path) -> None:
    """A URI inside a store that climbs out with '..'."""
    store = good_zarr(d)
    stackio.load(store.as_uri() + "/../img.zarr", "YX")


@case("zarr", stackio.StackioError, "ome.zarr", "..")
def zarr_ome_dataset_path_with_dotdot(d: Path) -> None:
    """OME multiscales naming a dataset path '../../elsewhere'."""
    from stackio_zarr import samples

    store = d / "img.ome.zarr"
    samples.write_ome_v04(store)
    import json

    attrs_file = store / ".zattrs"
    meta = json.loads(attrs_file.read_text())
    meta["multiscales"][0]["datasets"][0]["path"] = "../../elsewhere"
    attrs_file.write_text(json.dumps(meta))
    stackio.load(store)


@case("zarr", stackio.ReadError, "empty.zarr", "no pixels")
def zarr_array_with_an_empty_axis(d: Path) -> None:
    """A zarr array of shape (0, 10): no stack with an empty axis."""
    write_zarr(d / "empty.zarr", np.zeros((0, 10), np.uint8), chunks=(1, 10))
    stackio.load(d / "empty.zarr", "YX")


@case("zarr", stackio.ReadError, "big.zarr")
def zarr_shape_beyond_int64(d: Path) -> None:
    """zarr.json declaring a dimension of 2**63: zarr-python wraps its index arithmetic and returns
    uninitialized memory for patches far out; the metadata must be refused instead."""
    import json

    path = write_zarr(d / "big.zarr", pattern((12, 12), "float64"), chunks=(12, 12))
    meta = json.loads((path / "zarr.json").read_text())
    meta["shape"][1] = 2**63
    (path / "zarr.json").write_text(json.dumps(meta))
    (stack,) = stackio.load(path, "YX")
    first = stack.extract_patch(0, None, (0, 2122507086024498982), (8, 8))
    stack.close()
    again = stack.extract_patch(0, None, (0, 2122507086024498982), (8, 8))
    assert np.array_equal(first, again) and not first.any(), "patches far out are not the fill value"


@case("zarr", stackio.ValidationError, "img.zarr", "level")
def zarr_level_negative(d: Path) -> None:
    """level=-1."""
    stackio.load(good_zarr(d), "YX", level=-1)


@case("zarr", stackio.ValidationError, "ome.zarr", "level")
def zarr_level_missing(d: Path) -> None:
    """level=9 of a 2-level OME-Zarr."""
    from stackio_zarr import samples

    samples.write_ome_v04(d / "img.ome.zarr")
    stackio.load(d / "img.ome.zarr", level=9)


# -- ndtiff -------------------------------------------------------------------------------


@case("ndtiff", stackio.ReadError, "acq")
def ndtiff_index_truncated(d: Path) -> None:
    """NDTiff.index cut to 10 bytes."""
    truncate(good_ndtiff(d) / "NDTiff.index", 10)
    read_everything(d / "acq")


@case("ndtiff", stackio.ReadError, "acq")
def ndtiff_index_garbage(d: Path) -> None:
    """NDTiff.index replaced by random bytes."""
    index = good_ndtiff(d) / "NDTiff.index"
    index.write_bytes(os.urandom(index.stat().st_size))
    read_everything(d / "acq")


@case("ndtiff", stackio.ReadError, "acq")
def ndtiff_stack_file_missing(d: Path) -> None:
    """The dataset's image file deleted."""
    for f in good_ndtiff(d).glob("*.tif"):
        f.unlink()
    read_everything(d / "acq")


@case("ndtiff", stackio.ReadError, "acq")
def ndtiff_stack_file_truncated(d: Path) -> None:
    """The dataset's image file cut in half."""
    for f in good_ndtiff(d).glob("*.tif"):
        truncate(f, 0.5)
    read_everything(d / "acq")


@case("ndtiff", stackio.ValidationError, "acq", "nope")
def ndtiff_select_unknown_axis(d: Path) -> None:
    """select= an axis the dataset lacks."""
    stackio.load(good_ndtiff(d), select={"nope": 1})


@case("ndtiff", stackio.ValidationError, "acq", "Cy5")
def ndtiff_select_missing_value(d: Path) -> None:
    """select= a channel the dataset lacks."""
    stackio.load(good_ndtiff(d), select={"channel": "Cy5"})


@case("ndtiff", stackio.ValidationError, "acq", "level")
def ndtiff_level_missing(d: Path) -> None:
    """level=4 of a dataset without pyramid."""
    stackio.load(good_ndtiff(d), level=4)


@case("ndtiff", stackio.AxesError, "acq", "SCTYX")
def ndtiff_depth_axis_missing(d: Path) -> None:
    """SCTYX for a dataset without time."""
    stackio.load(good_ndtiff(d), "SCTYX")


# -- numpy (custom plugin) ------------------------------------------------------------------


@case("numpy", stackio.ReadError, "empty.npy")
def empty_npy(d: Path) -> None:
    """A 0-byte .npy."""
    (d / "empty.npy").write_bytes(b"")
    stackio.load(d / "empty.npy", "YX")


@case("numpy", stackio.ReadError, "vol.npy")
def truncated_npy(d: Path) -> None:
    """A .npy cut in half."""
    read_everything(truncate(good_npy(d), 0.5), "ZYX")


@case("numpy", stackio.ReadError, "fake.npy")
def text_named_npy(d: Path) -> None:
    """Text in a .npy."""
    (d / "fake.npy").write_text("x,y\n1,2\n")
    stackio.load(d / "fake.npy", "YX")


@case("numpy", stackio.ReadError, "obj.npy")
def npy_of_python_objects(d: Path) -> None:
    """A pickled object array: refused, never unpickled."""
    np.save(d / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    stackio.load(d / "obj.npy", "YX")


@case("numpy", stackio.ReadError, "obj.npz")
def npz_of_python_objects(d: Path) -> None:
    """An .npz member holding objects."""
    np.savez(d / "obj.npz", a=np.array([[{"a": 1}]], dtype=object))
    read_everything(d / "obj.npz", "YX")


@case("numpy", stackio.ReadError, "none.npz")
def npz_without_arrays(d: Path) -> None:
    """A zip named .npz with no .npy inside."""
    with zipfile.ZipFile(d / "none.npz", "w") as z:
        z.writestr("readme.txt", "nothing")
    stackio.load(d / "none.npz", "YX")


@case("numpy", stackio.ReadError, "pair.npz")
def truncated_npz(d: Path) -> None:
    """An .npz cut in half."""
    np.savez_compressed(d / "pair.npz", a=pattern((4, 30, 30)), b=pattern((30, 30)))
    read_everything(truncate(d / "pair.npz", 0.5), "YX")


@case("numpy", stackio.ReadError, "empty.npy", "no pixels")
def npy_with_an_empty_axis(d: Path) -> None:
    """A .npy of shape (3, 0, 5)."""
    np.save(d / "empty.npy", np.zeros((3, 0, 5), np.uint16))
    stackio.load(d / "empty.npy", "ZYX")


@case("numpy", stackio.ValidationError, "vol.npy", "@2")
def npy_with_index(d: Path) -> None:
    """vol.npy@2: a .npy has one array."""
    good_npy(d)
    stackio.load(f"{d / 'vol.npy'}@2", "ZYX")


@case("numpy", stackio.ValidationError, "pair.npz", "5")
def npz_index_missing(d: Path) -> None:
    """pair.npz@5 of a 2-array archive."""
    np.savez(d / "pair.npz", a=pattern((4, 4)), b=pattern((4, 4)))
    stackio.load(f"{d / 'pair.npz'}@5", "YX")


# -- png / jpeg -----------------------------------------------------------------------------


@case("png", stackio.ReadError, "empty.png")
def empty_png(d: Path) -> None:
    """A 0-byte .png."""
    (d / "empty.png").write_bytes(b"")
    stackio.load(d / "empty.png")


@case("png", stackio.ReadError, "img.png")
def truncated_png(d: Path) -> None:
    """A PNG cut in half."""
    read_everything(truncate(good_png(d), 0.5))


@case("png", stackio.ReadError, "fake.png")
def czi_named_png(d: Path) -> None:
    """CZI bytes in a .png."""
    (d / "fake.png").write_bytes(other_format_bytes(d, "czi"))
    stackio.load(d / "fake.png")


@case("png", stackio.AxesError, "img.png", "YX")
def png_axes_wrong_length(d: Path) -> None:
    """ZYX for a 2-D PNG."""
    stackio.load(good_png(d), "ZYX")


@case("jpeg", stackio.ReadError, "img.jpg")
def truncated_jpeg(d: Path) -> None:
    """A JPEG cut to its first 200 bytes."""
    read_everything(truncate(good_jpeg(d), 200))


@case("jpeg", stackio.ReadError, "fake.jpg")
def text_named_jpeg(d: Path) -> None:
    """Text in a .jpg."""
    (d / "fake.jpg").write_text("hello, not a picture\n" * 5)
    stackio.load(d / "fake.jpg")


# -- tiny files declaring huge images, read into memory ---------------------------------------


#: Declared sizes are terabytes: more than any machine's memory.
HUGE = 1_000_000


def huge_tiff(path: Path) -> Path:
    """A classic TIFF with one deflate strip whose IFD declares HUGE x HUGE uint16."""
    strip = zlib.compress(b"\x00" * 256)
    entries = [
        (256, 4, HUGE),
        (257, 4, HUGE),
        (258, 3, 16),
        (259, 3, 8),
        (262, 3, 1),
        (273, 4, 0),
        (277, 3, 1),
        (278, 4, HUGE),
        (279, 4, len(strip)),
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    body = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        value = 8 + ifd_size if tag == 273 else value
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        body += struct.pack("<HHI", tag, kind, 1) + packed
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + body + struct.pack("<I", 0) + strip)
    return path


def huge_npy_header(shape: tuple[int, ...]) -> bytes:
    fp = io.BytesIO()
    np.lib.format.write_array_header_1_0(fp, {"descr": "<u2", "fortran_order": False, "shape": shape})
    return fp.getvalue()


def huge_png(path: Path) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )
    return path


@case("bomb", stackio.ValidationError, "huge.tif", "in_memory=False")
def huge_tiff_in_memory(d: Path) -> None:
    """A 150-byte TIFF declaring 2 TB, in_memory=True: refused before allocating."""
    stackio.load(huge_tiff(d / "huge.tif"), "YX", in_memory=True)


@case("bomb", stackio.ValidationError, "huge.zarr", "in_memory=False")
def huge_zarr_in_memory(d: Path) -> None:
    """A zarr array of 20 TB without chunks, in_memory=True."""
    import zarr

    zarr.create_array(str(d / "huge.zarr"), shape=(1000, 100_000, 100_000), dtype="uint16", chunks=(1, 1000, 1000))
    stackio.load(d / "huge.zarr", "ZYX", in_memory=True)


@case("bomb", stackio.ValidationError, "huge.czi", "in_memory=False")
def huge_czi_in_memory(d: Path) -> None:
    """Two 8x8 tiles 2e9 pixels apart: a 7 EB bounding box, in_memory=True."""
    from pylibCZIrw import czi as pyczi

    with pyczi.create_czi(str(d / "huge.czi"), exist_ok=True) as writer:
        writer.write(np.ones((8, 8), np.uint16), location=(0, 0))
        writer.write(np.ones((8, 8), np.uint16), location=(2_000_000_000, 2_000_000_000))
    stackio.load(d / "huge.czi", in_memory=True)


@case("bomb", stackio.ValidationError, "huge", "in_memory=False")
def huge_ndtiff_in_memory(d: Path) -> None:
    """Two 16x16 tiles 40,000 grid steps apart, stitched: ~400 GB, in_memory=True."""
    tiles = [({"row": 0, "column": 0}, pattern((16, 16))), ({"row": 40_000, "column": 40_000}, pattern((16, 16)))]
    write_ndtiff(d / "huge", tiles, {"GridPixelOverlapY": 0, "GridPixelOverlapX": 0})
    stackio.load(d / "huge", in_memory=True)


@case("bomb", stackio.ValidationError, "huge.npz", "in_memory=False")
def huge_npz_in_memory(d: Path) -> None:
    """An .npz member whose header declares 2 TB and holds no data, in_memory=True."""
    with zipfile.ZipFile(d / "huge.npz", "w") as z:
        z.writestr("x.npy", huge_npy_header((HUGE, HUGE)))
    stackio.load(d / "huge.npz", "YX", in_memory=True)


@case("bomb", stackio.ReadError, "huge.npy")
def huge_npy_in_memory(d: Path) -> None:
    """A .npy header declaring 2 TB with no data, in_memory=True: the map cannot be made."""
    (d / "huge.npy").write_bytes(huge_npy_header((HUGE, HUGE)))
    stackio.load(d / "huge.npy", "YX", in_memory=True)


@case("bomb", stackio.ReadError, "huge.png")
def huge_png_in_memory(d: Path) -> None:
    """A 100-byte PNG declaring 50,000 x 50,000."""
    stackio.load(huge_png(d / "huge.png"), in_memory=True)
