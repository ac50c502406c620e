"""The ``custom`` format: a user's read function, or a user's loader of ImageStacks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from stackio import (
    ArrayStack,
    AxesError,
    FileBackedStack,
    ImageStack,
    ReadError,
    Source,
    SourceNotFoundError,
    StackioError,
    ValidationError,
    natural_key,
    require_axes,
)
from stackio.protocol import protocol_problems

#: Options that belong to the read-function path and to the loader path.
READ_OPTIONS = ("read_func", "read_kwargs", "suffix")
LOADER_OPTIONS = ("loader", "loader_kwargs")


def describe(func: object) -> str:
    """A function's name as users wrote it, e.g. 'numpy.load' or 'my_module.read_raw'."""
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    if name is None:
        return repr(func)
    module = getattr(func, "__module__", None)
    return f"{module}.{name}" if module and module not in ("__main__", "builtins") else name


def _check_mapping(value: object, option: str, source: Source) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValidationError(
            f"{source}: {option} must be a dict of keyword arguments, e.g. {option}={{'allow_pickle': False}}, "
            f"not {type(value).__name__}",
            source=str(source),
        )
    return dict(value)


def validate_custom(source: Source, axes: str | None, options: Mapping[str, Any]) -> None:
    """Reject a bad combination of read_func/loader options before anything is read."""
    read_func, loader = options.get("read_func"), options.get("loader")
    if read_func is None and loader is None:
        raise ValidationError(
            f"{source}: the custom format needs read_func= (a function path -> numpy array) or "
            "loader= (a function returning ImageStacks)",
            source=str(source),
        )
    if read_func is not None and loader is not None:
        raise ValidationError(
            f"{source}: pass read_func= or loader=, not both; a loader reads the files itself",
            source=str(source),
        )
    if read_func is not None:  # the types of the options are declared (stackio_custom.CUSTOM_OPTIONS)
        wrong = sorted(set(options) & set(LOADER_OPTIONS))
        if wrong:
            raise ValidationError(
                f"{source}: {', '.join(wrong)} go with loader=, not with read_func=; use read_kwargs= "
                "for the read function's arguments",
                source=str(source),
            )
        _check_mapping(options.get("read_kwargs"), "read_kwargs", source)
        suffix = options.get("suffix")
        if suffix is not None and not (isinstance(suffix, str) and suffix.startswith(".")):
            raise ValidationError(
                f"{source}: suffix must be a file suffix starting with '.', such as '.npy', not {suffix!r}",
                source=str(source),
            )
        if source.index is not None:
            raise ValidationError(
                f"{source}: read_func= is given the whole file, never '@{source.index}'; drop the "
                f"'@{source.index}' and pick the part inside the function (read_kwargs= passes it arguments), "
                "or use loader=, which gets the source as given",
                source=str(source),
            )
        if source.kind == "array" or source.path is None:
            raise ValidationError(
                f"{source}: read_func reads files; give a file, a directory or a list of files "
                "(for a URI or an object of your own, pass loader= instead)",
                source=str(source),
            )
        if not source.exists:
            raise SourceNotFoundError(f"{source}: no such file or directory; check the path", source=str(source))
        if source.is_dir and suffix is None:
            raise ValidationError(
                f"{source}: is a directory; pass suffix= to say which of its files read_func reads, e.g. suffix='.npy'",
                source=str(source),
            )
        if axes is None:
            raise AxesError(
                f"{source}: axes are needed with read_func, since a plain array carries none; "
                "pass one letter per dimension of the arrays it returns, e.g. axes='YX' or 'ZYX'",
                source=str(source),
            )
    else:
        wrong = sorted(set(options) & set(READ_OPTIONS) - {"read_func"})
        if wrong:
            raise ValidationError(
                f"{source}: {', '.join(wrong)} go with read_func=, not with loader=; pass the loader's "
                "own arguments as loader_kwargs=",
                source=str(source),
            )
        _check_mapping(options.get("loader_kwargs"), "loader_kwargs", source)


# -- read functions -----------------------------------------------------------------


class ReadCall:
    """`read_func(path, **read_kwargs)` with its result checked; picklable when read_func is."""

    def __init__(self, read_func: Callable[..., Any], read_kwargs: Mapping[str, Any], axes: str) -> None:
        self.read_func = read_func
        self.read_kwargs = dict(read_kwargs)
        self.axes = axes
        # FileBackedStack names the function by this attribute in its own messages.
        self.__qualname__ = describe(read_func)

    def __call__(self, path: str | Path) -> np.ndarray:
        name = describe(self.read_func)
        try:
            array = self.read_func(Path(path), **self.read_kwargs)
        except StackioError:
            raise
        except Exception as exc:
            raise ReadError(
                f"{path}: the read function {name} failed on it ({type(exc).__name__}: {exc}); "
                "check the file, and that read_kwargs suit the function",
                source=str(path),
            ) from exc
        if not isinstance(array, np.ndarray):
            raise ValidationError(
                f"{path}: the read function {name} returned {type(array).__name__}, not a numpy array; "
                "a read function must return an ndarray (wrap its result in numpy.asarray)",
                source=str(path),
            )
        if array.ndim != len(self.axes):
            raise AxesError(
                f"{path}: the read function {name} returned an array of shape {array.shape} "
                f"({array.ndim} dimensions) but axes {self.axes!r} has {len(self.axes)} letters; "
                "give one letter per dimension of the returned array",
                source=str(path),
            )
        return array


def files_of(source: Source, suffix: str | None) -> list[Path]:
    """The files a read function reads: the source itself, or a directory's files with `suffix`."""
    assert source.path is not None
    if not source.is_dir:
        return [source.path.resolve()]
    assert suffix is not None
    wanted = suffix.lower()
    found = [
        p
        for p in source.path.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(wanted)
    ]
    if not found:
        others = sorted({"".join(p.suffixes[-1:]) or p.name for p in source.path.iterdir()})
        raise SourceNotFoundError(
            f"{source}: the directory has no file ending in {suffix}; it holds "
            f"{', '.join(others[:10]) or 'nothing'}; pass the suffix of the files to read",
            source=str(source),
        )
    return [p.resolve() for p in sorted(found, key=lambda p: natural_key(p.name))]


def load_with_read_func(source: Source, axes: str, options: Mapping[str, Any], *, in_memory: bool) -> list[ImageStack]:
    """One stack per file; in memory, or file-backed with at most one file in memory at a time."""
    call = read_call(source, axes, options)
    return read_func_stacks(call, files_of(source, options.get("suffix")), in_memory=in_memory)


def read_call(source: Source, axes: str, options: Mapping[str, Any]) -> ReadCall:
    """The read function and its keyword arguments, as one call per file."""
    return ReadCall(options["read_func"], _check_mapping(options.get("read_kwargs"), "read_kwargs", source), axes)


def read_func_stacks(call: ReadCall, files: Sequence[Path], *, in_memory: bool) -> list[ImageStack]:
    """The stacks of `files`, each read once now to learn its shape and dtype (and fail now, naming it)."""
    axes = call.axes
    # Each stack's source is one file: the function (and its arguments) recreate it from that file.
    identity = {"read_func": call.read_func, **({"read_kwargs": dict(call.read_kwargs)} if call.read_kwargs else {})}
    stacks: list[ImageStack] = []
    for path in files:
        array = call(path)
        if in_memory:
            stacks.append(ArrayStack.from_axes(array, axes, source=str(path), load_options=identity))
        else:
            # Read once to learn shape and dtype (and fail now, naming the file); keep nothing.
            stacks.append(
                FileBackedStack(str(path), call, axes, shape=array.shape, dtype=array.dtype, load_options=identity)
            )
        del array
    return stacks


# -- loaders ------------------------------------------------------------------------


def check_loader_result(result: object, loader: object, source: object) -> list[ImageStack]:
    """The stacks a loader returned, or an error naming the loader and the wrong member."""
    name = describe(loader)
    if not isinstance(result, Sequence) or isinstance(result, (str, bytes)):
        raise ValidationError(
            f"{source}: the loader {name} returned {type(result).__name__}; a loader returns a list of "
            "ImageStacks (return [stack] for one)",
            source=str(source),
        )
    stacks = list(result)
    for i, stack in enumerate(stacks):
        problems = protocol_problems(stack)
        if problems:
            raise ValidationError(
                f"{source}: the loader {name} returned {type(stack).__name__} as stack {i}, which is not "
                f"an ImageStack: {'; '.join(problems)}. See the ImageStack protocol in stackio.protocol",
                source=str(source),
            )
    return stacks


def call_loader(
    loader: Callable[..., Any], given: object, source: object, axes: str | None, kwargs: Mapping[str, Any]
) -> list[ImageStack]:
    """`loader(given, axes, **kwargs)`, its exceptions turned into a ReadError that names it."""
    try:
        result = loader(given, axes, **kwargs)
    except StackioError:
        raise
    except Exception as exc:
        raise ReadError(
            f"{source}: the loader {describe(loader)} failed on it ({type(exc).__name__}: {exc})",
            source=str(source),
        ) from exc
    return check_loader_result(result, loader, source)


def load_custom(source: Source, axes: str | None, options: Mapping[str, Any], *, in_memory: bool) -> list[ImageStack]:
    validate_custom(source, axes, options)
    if options.get("read_func") is not None:
        return load_with_read_func(source, axes, options, in_memory=in_memory)  # type: ignore[arg-type]
    return call_loader(options["loader"], source.given, source, axes, loader_kwargs(source, options))


def loader_kwargs(source: Source, options: Mapping[str, Any]) -> dict[str, Any]:
    """The loader's keyword arguments: loader_kwargs, and every option that is not the plugin's own."""
    kwargs = _check_mapping(options.get("loader_kwargs"), "loader_kwargs", source)
    kwargs.update({k: v for k, v in options.items() if k not in (*READ_OPTIONS, *LOADER_OPTIONS)})
    return kwargs


__all__ = [
    "ReadCall",
    "call_loader",
    "check_loader_result",
    "describe",
    "files_of",
    "load_custom",
    "load_with_read_func",
    "loader_kwargs",
    "read_call",
    "read_func_stacks",
    "require_axes",
    "validate_custom",
]
