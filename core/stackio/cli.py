"""The `stackio` command: formats, info, diagnose, convert, demo.

Exit codes: 0 ok, 1 error (one line, no traceback unless --debug), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TypedDict

from .errors import StackioError


def _parse_option(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not comma-separated integers such as 32,256,256") from None
    return values


def _levels(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of levels or 'auto'") from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count of images (0 or more)")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stackio", description="Load microscopy images as image stacks.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    fmt = sub.add_parser("formats", help="list installed formats, plugins and broken plugins")
    fmt.add_argument("--json", action="store_true", help="print JSON")

    info = sub.add_parser("info", help="load a source and describe its stacks")
    info.add_argument("source")
    info.add_argument("--axes", default=None, help="axes of the data, e.g. ZYX")
    info.add_argument("--format", default=None, help="skip detection and use this format")
    info.add_argument(
        "-r", "--recursive", action="store_true", help="read a plain folder's subfolders too (datasets stay whole)"
    )
    info.add_argument(
        "-o",
        "--option",
        action="append",
        type=_parse_option,
        default=[],
        metavar="KEY=VALUE",
        help="an option for the format's plugin (JSON value or text)",
    )
    info.add_argument("--json", action="store_true", help="print JSON")
    info.add_argument(
        "--images",
        type=_count,
        default=0,
        metavar="N",
        help="also show the per-image metadata (time, stage position, exposure) of each stack's first N images",
    )

    diag = sub.add_parser("diagnose", help="show every installed plugin's verdict on a source")
    diag.add_argument("source")
    diag.add_argument("--json", action="store_true", help="print JSON")

    conv = sub.add_parser("convert", help="convert a source to OME-Zarr or OME-TIFF, region by region")
    conv.add_argument("source")
    conv.add_argument("dest", help="destination; its suffix picks the format (.ome.zarr, .zarr, .ome.tif, .tif)")
    conv.add_argument("--axes", default=None, help="axes of the source, where its metadata does not say")
    conv.add_argument("--scene", type=int, action="append", default=None, help="scene to write (repeatable)")
    conv.add_argument("--level", type=int, default=None, help="pyramid level of the source to read")
    conv.add_argument("--format", default=None, help="the destination's format (default: from its suffix)")
    conv.add_argument("--chunks", type=_ints, default=None, metavar="Z,Y,X", help="chunk shape, (Z)YX")
    conv.add_argument("--shards", type=_ints, default=None, metavar="Z,Y,X", help="shard shape (OME-Zarr 0.5)")
    conv.add_argument("--pyramid", type=_levels, default=1, metavar="N|auto", help="levels to write (default 1)")
    conv.add_argument("--compression", default=None, help="codec: zstd, blosc, lz4, gzip, none (zarr); see docs")
    conv.add_argument("--version", dest="ngff_version", default=None, help="OME-Zarr version: 0.5 or 0.4")
    conv.add_argument("--workers", type=int, default=1, help="threads reading and writing regions")
    conv.add_argument("--scheduler", default=None, help="a dask.distributed scheduler address to write with")
    conv.add_argument("--overwrite", action="store_true", help="replace an existing destination")
    conv.add_argument("--no-progress", action="store_true", help="no progress bar (none is shown when piped)")
    conv.add_argument(
        "-o",
        "--option",
        action="append",
        type=_parse_option,
        default=[],
        metavar="KEY=VALUE",
        help="an option for the destination's writer (JSON value or text)",
    )

    demo = sub.add_parser("demo", help="write sample files with each plugin's own library and load them")
    demo.add_argument(
        "directory",
        nargs="?",
        default=None,
        help="where to write (default: a new temporary folder); a folder that exists and is not empty gets a new "
        "subfolder for the samples, so nothing in it is written over",
    )
    return parser


class _FormatRow(TypedDict):
    """One format as `stackio formats --json` prints it."""

    format: str
    plugin: str
    distribution: str | None
    version: str | None
    priority: int
    suffixes: list[str]
    schemes: list[str]
    directories: bool
    options: list[str]
    option_docs: list[str]


def _cmd_formats(args: argparse.Namespace) -> int:
    from .registry import get_registry

    registry = get_registry()
    plugins = {p.name: p for p in registry.plugins()}
    rows: list[_FormatRow] = []
    for entry in registry.formats():
        plugin = plugins.get(entry.plugin)
        rows.append(
            {
                "format": entry.name,
                "plugin": entry.plugin,
                "distribution": entry.distribution,
                "version": plugin.version if plugin else None,
                "priority": entry.spec.priority,
                "suffixes": list(entry.spec.suffixes),
                "schemes": list(entry.spec.schemes),
                "directories": entry.spec.directories,
                "options": list(entry.spec.option_names),
                "option_docs": [o.describe() for o in entry.spec.options],
            }
        )
    broken = [
        {"plugin": b.name, "distribution": b.distribution, "stage": b.stage, "reason": b.reason}
        for b in registry.broken()
    ]
    if args.json:
        print(_dumps({"formats": rows, "broken": broken}))
        return 0
    for row in rows:
        dist = f"{row['distribution']} {row['version'] or ''}".strip()
        claims = " ".join(row["suffixes"] + [f"{s}://" for s in row["schemes"]])
        if row["directories"]:
            claims += " (directories)"
        print(f"{row['format']:<10} {dist:<24} priority {row['priority']:<3} {claims}")
    for b in broken:
        print(f"BROKEN {b['plugin']} ({b['distribution'] or 'unknown distribution'}) at {b['stage']}: {b['reason']}")
    return 0


def _describe(stack: Any) -> dict[str, Any]:
    out = {
        "source": stack.source,
        "axes": stack.axes,
        "data_shape": list(stack.data_shape),
        "dtype": str(stack.data_dtype),
        "original_axes": stack.original_axes,
        "original_data_shape": list(stack.original_data_shape),
        "metadata": stack.metadata.to_dict(),
        "load_options": dict(getattr(stack, "load_options", {}) or {}),
    }
    return out


def _cmd_info(args: argparse.Namespace) -> int:
    from . import api

    options = dict(args.option)
    # a plain folder is several parts, each read by its own format; a dataset or file is one part
    parts = api.plan(args.source, format=args.format, recursive=args.recursive, **options)
    stacks = api.load(args.source, args.axes, format=args.format, recursive=args.recursive, **options)
    described = [_describe(s) for s in stacks]
    if args.images:
        from .image_metadata import image_metadata, iter_images

        for d, s in zip(described, stacks, strict=True):
            records = [image_metadata(s, *where) for where in iter_images(s, args.images)]
            d["images"] = None if all(r is None for r in records) else [r and r.common() for r in records]
    for s in stacks:
        close = getattr(s, "close", None)
        if callable(close):
            close()
    decisions = [p.decision for p in parts]
    whole = decisions[0] if len(parts) == 1 and str(parts[0].source) == str(api.Source.parse(args.source)) else None
    if args.json:
        print(_dumps(_info_json(args.source, whole, parts, described)))
        return 0
    if whole is not None:
        print(f"{args.source}: format {whole.format} (plugin {whole.plugin}, {whole.reason})")
    else:
        print(f"{args.source}: a plain folder, read by format:")
        for part in parts:
            print(f"  {part.source}: format {part.decision.format} ({part.decision.reason})")
    for i, d in enumerate(described):
        print(f"  [{i}] {d['source']}")
        print(
            f"      {d['axes']} {tuple(d['data_shape'])} {d['dtype']}  "
            f"(file: {d['original_axes']} {tuple(d['original_data_shape'])})"
        )
        meta = {k: v for k, v in d["metadata"].items() if v is not None}
        if meta:
            print(f"      metadata: {meta}")
        if args.images:
            _print_images(d.get("images"))
    return 0


def _print_images(images: list[dict[str, Any] | None] | None) -> None:
    if images is None:
        print("      images: the format records no per-image metadata")
        return
    for record in images:
        if record is None:
            continue
        where = f"[{record['sample']}, {record['channel']}" + (
            "]" if record["depth"] is None else f", {record['depth']}]"
        )
        fields = {k: record[k] for k in ("time", "stage_position", "stage_units", "exposure") if record[k] is not None}
        print(f"      image {where} {record['file_coords']}: {fields or 'nothing recorded'}")


def _info_json(source: str, whole: Any, parts: list[Any], described: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"source": source}
    if whole is not None:
        out |= {"format": whole.format, "plugin": whole.plugin, "distribution": whole.distribution}
        out["reason"] = whole.reason
    else:
        out |= {"format": None, "plugin": None, "distribution": None, "reason": "a plain folder"}
        out["parts"] = [
            {"source": str(p.source), "format": p.decision.format, "reason": p.decision.reason} for p in parts
        ]
    out["stacks"] = described
    return out


def _cmd_diagnose(args: argparse.Namespace) -> int:
    from . import api

    diagnosis = api.diagnose(args.source)
    if args.json:
        print(
            _dumps(
                {
                    "source": diagnosis.source,
                    "chosen": diagnosis.chosen.format if diagnosis.chosen else None,
                    "reason": diagnosis.chosen.reason if diagnosis.chosen else diagnosis.error,
                    "verdicts": [
                        {"format": v.format, "plugin": v.plugin, "status": v.status, "reason": v.reason}
                        for v in diagnosis.verdicts
                    ],
                    "broken": [{"plugin": b.name, "reason": b.reason} for b in diagnosis.broken],
                }
            )
        )
        return diagnosis.exit_code
    print(f"{diagnosis.source}")
    for v in diagnosis.verdicts:
        print(f"  {v.format:<10} {v.status:<9} {v.reason}")
    for b in diagnosis.broken:
        print(f"  {b.name:<10} broken    {b.reason}")
    if diagnosis.chosen:
        print(f"would load with: {diagnosis.chosen.format} ({diagnosis.chosen.reason})")
    elif diagnosis.plain_folder:
        print("would load: a plain folder, each of its files by its own format (`stackio info` lists them)")
    else:
        print(f"would not load: {diagnosis.error}")
    return diagnosis.exit_code


def _cmd_convert(args: argparse.Namespace) -> int:
    from .convert import convert

    options = dict(args.option)
    if args.compression is not None:
        options["compression"] = args.compression
    if args.ngff_version is not None:
        options["version"] = args.ngff_version
    client = None
    if args.scheduler is not None:
        from distributed import Client

        client = Client(args.scheduler)
    try:
        path = convert(
            args.source,
            args.dest,
            axes=args.axes,
            scene=args.scene,
            level=args.level,
            format=args.format,
            overwrite=args.overwrite,
            chunks=args.chunks,
            shards=args.shards,
            pyramid=args.pyramid,
            workers=args.workers,
            client=client,
            progress=False if args.no_progress else None,
            **options,
        )
    finally:
        if client is not None:
            client.close()
    print(path)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.directory)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    commands = {
        "formats": _cmd_formats,
        "info": _cmd_info,
        "diagnose": _cmd_diagnose,
        "convert": _cmd_convert,
        "demo": _cmd_demo,
    }
    try:
        return commands[args.command](args)
    except StackioError as exc:
        if args.debug:
            raise
        _json_error(args, exc)
        print(f"stackio: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        _json_error(args, exc)
        print(
            f"stackio: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback, "
            "and please report it)",
            file=sys.stderr,
        )
        return 1


def _json_error(args: argparse.Namespace, exc: Exception) -> None:
    """With --json, an error is JSON on stdout too, so a program reading it always gets a document."""
    if not getattr(args, "json", False):
        return
    source = getattr(exc, "source", None)
    error = {
        "class": type(exc).__name__,
        "message": " ".join(str(exc).split()),
        "source": None if source is None else str(source),
        "internal": not isinstance(exc, StackioError),
    }
    print(_dumps({"error": error}))


def _dumps(document: Any) -> str:
    """JSON text; never NaN or Infinity (not JSON): the metadata model gives None for those."""
    return json.dumps(document, indent=2, default=str, allow_nan=False)


if __name__ == "__main__":
    sys.exit(main())
