"""Reading CZI files through pylibCZIrw: one lazy stack per scene, each patch an ROI read per plane.

`load` locates the file and its scenes (`files.inspect`), plans each scene (axes, pixel type, the
planes merged into S) and builds a `LazyStack` over a `CziArray` per scene. Dimension letters are
CZI's own (T, Z, C, R, I, H, V, B); the file's S (scene) is not an axis of a stack, since each scene
is its own stack, and M (mosaic tile) is composed by pylibCZIrw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stackio import AxesError, ImageStack, Layout, LazyStack, ReadError, Source, ValidationError

from .array import CziOpener, CziPlan
from .files import FileInfo, inspect, scene_rectangles
from .image_meta import CziImages
from .integrity import MAGIC
from .metadata import build_metadata
from .order import ReorderedOpener, careamics_axes
from .pixels import read_pixel_type

#: Dimensions merged into S, outermost first (CAREamics' order); the depth axis is left out.
SAMPLE_ORDER = "TZRIHVB"


def _choose_axes(info: FileInfo, axes: str | None, where: str) -> str:
    sizes = {d: n for d, (_, n) in info.dims.items()}
    z, t = sizes.get("Z", 1), sizes.get("T", 1)
    if axes is None:
        return "SCZYX" if z > 1 else "SCYX"
    depth = {"SCZYX": ("Z", z), "SCTYX": ("T", t)}.get(axes)
    if depth is not None and depth[1] <= 1:
        have = ", ".join(f"{d}={n}" for d, n in sizes.items() if d != "C") or "no Z or T"
        other = "SCTYX" if depth[0] == "Z" and t > 1 else "SCZYX" if depth[0] == "T" and z > 1 else None
        hint = f"use SCYX, or {other}" if other else "use SCYX"
        raise AxesError(
            f"{where}: axes {axes!r} need a {depth[0]} dimension of size > 1 as depth, but the file has {have}; {hint}",
            source=where,
        )
    return axes


def _check_header(source: Source, where: str) -> None:
    header = source.header
    if not header.startswith(MAGIC):
        what = "is empty" if not header else "does not start with the CZI magic 'ZISRAWFILE'"
        raise ReadError(f"{where}: not a CZI file: it {what}; check the file or its suffix", source=where)


#: Default size of each open stack's cache of decoded compressed subblocks.
DEFAULT_CACHE_MB = 32.0


def load(source: Source, axes: str | None, options: Mapping[str, Any]) -> list[ImageStack]:
    """One lazy stack per scene of `source` (or the one scene chosen by '@N' or `scene=`).

    `options` holds the validated options (scene, background, cache_mb); an absent one is None.
    """
    info = locate(source)
    plans = plan(
        source,
        info,
        axes,
        scene=options.get("scene"),
        background=options.get("background"),
        cache_mb=options.get("cache_mb"),
    )
    return [build(info, scene_plan, layout) for scene_plan, layout in plans]


def locate(source: Source) -> FileInfo:
    """Check that `source` is a local CZI file and read its directory and metadata once."""
    path = source.path
    if path is None and source.is_remote and source.uri is not None:
        from .remote import RemoteBytes, refuse_scheme

        refuse_scheme(source.uri)
        RemoteBytes(source.uri)  # a missing or forbidden file is said so here, not as "not a CZI file"
        _check_header(source, source.uri)
        return inspect(source.uri)
    if path is None:
        raise ValidationError(f"{source}: the CZI reader needs a local file path or an http(s) URL", source=str(source))
    _check_header(source, str(path))
    return inspect(str(path.resolve()))


def _selected_scenes(source: Source, info: FileInfo, scene: int | None) -> list[int | None]:
    path = source.path if source.path is not None else source.uri
    chosen = source.index if source.index is not None else (None if scene is None else int(scene))
    if info.scenes:
        available = ", ".join(str(s) for s in info.scenes)
        if chosen is not None and chosen not in info.scenes:
            raise ValidationError(
                f"{path}: scene {chosen} does not exist; the file has scene(s) {available}",
                source=str(source),
            )
        return [chosen] if chosen is not None else list(info.scenes)
    if chosen is not None:
        raise ValidationError(
            f"{path}: scene {chosen} does not exist; the file has no scenes, so load it without '@N' or scene=",
            source=str(source),
        )
    return [None]


def plan(
    source: Source,
    info: FileInfo,
    axes: str | None,
    *,
    scene: int | None = None,
    background: float | None = None,
    cache_mb: float | None = None,
) -> list[tuple[CziPlan, Layout]]:
    """The read plan and stack layout of each selected scene: axes, depth, pixel type, planes merged into S."""
    where = str(source.path if source.path is not None else source.uri)
    selected = _selected_scenes(source, info, scene)
    axes = _choose_axes(info, axes, where)
    depth = {"SCZYX": "Z", "SCTYX": "T"}.get(axes)
    pixel_type, rgb = read_pixel_type(info.pixel_types, where)
    present = [d for d in SAMPLE_ORDER if d in info.dims or d == depth]
    plane_dims = tuple((d, *info.dims.get(d, (0, 1))) for d in present)
    sample_axes = "".join(d for d in present if d != depth)
    c_start, n_c = info.dims.get("C", (0, 1))
    plans = []
    for index in selected:
        scene_plan = CziPlan(
            path=info.path,
            scene=index,
            rect=info.scenes[index] if index is not None else info.whole,
            plane_dims=plane_dims,
            channel_start=c_start,
            n_czi_channels=n_c,
            pixel_type=pixel_type,
            rgb=rgb,
            background=float(background or 0.0),
            cache_mb=DEFAULT_CACHE_MB if cache_mb is None else float(cache_mb),
        )
        # with a depth axis, the stack's original axes are in CAREamics' order (merged, C, depth, YX)
        axes_out = careamics_axes(sample_axes, depth) if depth else scene_plan.original_axes
        shape = tuple(scene_plan.shape[scene_plan.original_axes.index(a)] for a in axes_out)
        plans.append((scene_plan, Layout(axes_out, shape, sample_axes, depth)))
    return plans


def build(info: FileInfo, scene_plan: CziPlan, layout: Layout) -> ImageStack:
    """The lazy stack of one planned scene; its source names the scene with '@N'."""
    name = info.path if scene_plan.scene is None else f"{info.path}@{scene_plan.scene}"
    metadata = build_metadata(info, scene_plan, layout)
    kept = {"background": scene_plan.background} if scene_plan.background else {}  # what `name` cannot say
    opener: CziOpener | ReorderedOpener = CziOpener(scene_plan)
    if layout.original_axes != scene_plan.original_axes:
        opener = ReorderedOpener(scene_plan, layout.original_axes)
    images = CziImages(scene_plan)
    return LazyStack(
        name, layout, scene_plan.dtype, opener, metadata=metadata, image_metadata=images, load_options=kept
    )


__all__ = ["DEFAULT_CACHE_MB", "build", "load", "locate", "plan", "scene_rectangles"]
