"""Benchmark sizes: --smoke (tests), --quick (CI), default (a few minutes on 2 cores), --full."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass
class Config:
    data: Path = Path(".")
    #: Scenario 4: the (Z, Y, X) uint16 volume every format holds, and patches per timed call.
    volume: tuple[int, int, int] = (32, 1024, 1024)
    patches: int = 1000
    bioio_patches: int = 30
    #: Seconds each timed call may take in one case before the case stops early (min 30 samples).
    budget: float = 8.0
    #: Scenarios 1-2: fresh processes per command; scenario 3: warm iterations.
    fresh_repeats: int = 11
    bioio_fresh_repeats: int = 5
    warm_iterations: int = 1000
    bioio_warm: int = 100
    small_shape: tuple[int, int] = (512, 512)
    #: Scenario 5: a directory of small TIFFs.
    many_files: int = 10_000
    many_shape: tuple[int, int] = (64, 64)
    bioio_many: int = 200
    #: Scenario 6: bytes of each large dataset (zarr and TIFF), patches read, patch size.
    big_bytes: int = 2 * 2**30
    big_patches: int = 10_000
    #: Scenario 7: the volume reduced on a 2-process LocalCluster; repeats per method.
    dask_volume: tuple[int, int, int] = (128, 1024, 1024)
    dask_repeats: int = 3
    use_bioio: bool = True
    formats: frozenset[str] = field(default_factory=frozenset)
    size: str = "default"


PRESETS = {
    # For the test suite: every code path in seconds; the figures mean nothing.
    "smoke": dict(
        volume=(16, 128, 128),
        patches=20,
        bioio_patches=2,
        budget=0.2,
        fresh_repeats=1,
        bioio_fresh_repeats=1,
        warm_iterations=10,
        bioio_warm=2,
        small_shape=(64, 64),
        many_files=30,
        bioio_many=3,
        big_bytes=32 * 2**20,
        big_patches=50,
        dask_volume=(16, 128, 128),
        dask_repeats=1,
    ),
    "quick": dict(
        volume=(16, 256, 256),
        patches=100,
        bioio_patches=5,
        budget=1.0,
        fresh_repeats=3,
        bioio_fresh_repeats=2,
        warm_iterations=50,
        bioio_warm=5,
        small_shape=(256, 256),
        many_files=200,
        bioio_many=10,
        big_bytes=64 * 2**20,
        big_patches=300,
        dask_volume=(16, 256, 256),
        dask_repeats=1,
    ),
    "default": {},
    "full": dict(
        volume=(64, 2048, 2048),
        patches=5000,
        bioio_patches=100,
        budget=30.0,
        fresh_repeats=21,
        bioio_fresh_repeats=9,
        warm_iterations=2000,
        bioio_warm=300,
        many_files=10_000,
        bioio_many=1000,
        big_bytes=4 * 2**30,
        big_patches=10_000,
        dask_volume=(256, 2048, 2048),
        dask_repeats=5,
    ),
}


def preset(size: str, **overrides: object) -> Config:
    return replace(Config(size=size), **{**PRESETS[size], **overrides})  # type: ignore[arg-type]
