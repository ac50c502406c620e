"""User preferences for which format reads a suffix, e.g. '.tif' -> 'tiff'.

Looked up, first match wins: the `prefer=` argument, then `STACKIO_PREFER`
(".tif=tiff,.czi=czi"), then the `[prefer]` table of the config file named by
`STACKIO_CONFIG` (default `~/.config/stackio/config.toml`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from .errors import ValidationError
from .files import file_kind


def config_path() -> Path:
    """The config file stackio reads (it need not exist)."""
    return Path(_config_file())


def _config_file() -> str:
    # os.path rather than pathlib: this runs on every load.
    if os.environ.get("STACKIO_CONFIG"):
        return os.path.expanduser(os.environ["STACKIO_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "stackio", "config.toml")


def _normalise(mapping: Mapping[str, str], where: str) -> dict[str, str]:
    if not isinstance(mapping, Mapping):
        raise ValidationError(
            f"{where}: preferences are a mapping of suffix to format name, like {{'.tif': 'tiff'}}, "
            f"not {type(mapping).__name__} {mapping!r}"
        )
    out = {}
    for suffix, fmt in mapping.items():
        if not isinstance(suffix, str) or not isinstance(fmt, str) or not suffix.startswith("."):
            raise ValidationError(
                f"{where}: a preference maps a suffix to a format name, like '.tif' = 'tiff'; got {suffix!r} = {fmt!r}"
            )
        out[suffix.lower()] = fmt
    return out


def _from_env() -> dict[str, str]:
    text = os.environ.get("STACKIO_PREFER", "")
    pairs = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in item:
            raise ValidationError(f"STACKIO_PREFER: {item!r} is not of the form .suffix=format, e.g. '.tif=tiff'")
        suffix, fmt = item.split("=", 1)
        pairs[suffix.strip()] = fmt.strip()
    return _normalise(pairs, "STACKIO_PREFER")


_config_cache: dict[tuple[str, int], dict[str, str]] = {}


def _from_config() -> dict[str, str]:
    path = _config_file()
    try:
        info = os.stat(path)
    except OSError:
        return {}
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block every load
        raise ValidationError(
            f"{path}: the stackio config file is {file_kind(info.st_mode)}, not a regular file; make it a "
            "regular TOML file, or point STACKIO_CONFIG at one"
        )
    stamp = (path, info.st_mtime_ns)
    if stamp not in _config_cache:
        _config_cache.clear()
        _config_cache[stamp] = _read_config(Path(path))
    return dict(_config_cache[stamp])


def _read_config(path: Path) -> dict[str, str]:
    import tomllib

    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))  # TOML is UTF-8, whatever the locale
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(f"{path}: the stackio config file cannot be read: {exc}", source=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{path}: the stackio config file is not UTF-8 text (byte {exc.start}); save it as UTF-8 TOML, "
            "or point STACKIO_CONFIG at another file",
            source=str(path),
        ) from exc
    except RecursionError as exc:
        raise ValidationError(
            f"{path}: the stackio config file nests arrays or tables too deeply to parse; it needs only a "
            "[prefer] table of '.suffix' = 'format'",
            source=str(path),
        ) from exc
    table = data.get("prefer", {})
    if not isinstance(table, dict):
        raise ValidationError(f"{path}: [prefer] must be a table of '.suffix' = 'format'")
    return _normalise(table, str(path))


def preferences(prefer: Mapping[str, str] | None = None) -> dict[str, str]:
    """Merged preferences, suffix -> format name; the argument overrides the environment and config."""
    merged = _from_config()
    merged.update(_from_env())
    if prefer:
        merged.update(_normalise(prefer, "prefer="))
    return merged
