"""Small sample files for `stackio demo` and the conformance suite, written with numpy itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from stackio import Sample


def write_samples(directory: Path) -> list[Sample]:
    directory = Path(directory)
    rng = np.random.default_rng(7)
    yx = rng.integers(0, 4000, size=(48, 40), dtype=np.uint16)
    np.save(directory / "plane.npy", yx)
    zyx = rng.random((5, 24, 20), dtype=np.float32)
    np.save(directory / "volume.npy", zyx)
    np.savez_compressed(
        directory / "channels.npz",
        first=rng.integers(0, 255, size=(2, 16, 18), dtype=np.uint8),
        second=rng.integers(0, 255, size=(2, 16, 18), dtype=np.uint8),
    )
    csv_dir = directory / "csv"
    csv_dir.mkdir(exist_ok=True)
    for i in range(3):
        np.savetxt(csv_dir / f"plane{i}.csv", rng.integers(0, 100, size=(12, 10 + i)), delimiter=",", fmt="%d")
    return [
        Sample(str(directory / "plane.npy"), "YX", "a uint16 2-D array saved with numpy.save (memory-mapped)"),
        Sample(str(directory / "volume.npy"), "ZYX", "a float32 3-D array saved with numpy.save"),
        Sample(str(directory / "channels.npz"), "CYX", "a compressed .npz with two uint8 CYX arrays"),
        Sample(
            str(csv_dir),
            "YX",
            "a folder of CSV planes read by numpy.loadtxt through read_func=",
            {"read_func": np.loadtxt, "read_kwargs": {"delimiter": ","}, "suffix": ".csv"},
        ),
    ]
