"""Axes strings and their SC(Z)YX reshaping, checked against plain numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stackio import ArrayStack, AxesError, Layout, normalize_axes


def reference(data: np.ndarray, axes: str) -> np.ndarray:
    """SC(Z)YX by hand: add missing S/T/C/Z as singletons, order STCZYX, merge S with T."""
    full = data
    present = axes
    for letter in "STCZ":
        if letter not in present:
            full = full[..., np.newaxis]
            present += letter
    order = [present.index(a) for a in "STCZYX"]
    full = full.transpose(order)
    s, t, c, z, y, x = full.shape
    merged = full.reshape(s * t, c, z, y, x)
    return merged if "Z" in axes else merged[:, :, 0]


@pytest.mark.parametrize(
    ("axes", "shape", "fragment"),
    [
        ("ZYQ", (2, 3, 4), "unknown letters 'Q'"),
        ("YYX", (2, 3, 4), "repeats 'Y'"),
        ("ZX", (2, 3), "lacks 'Y'"),
        ("ZYX", (3, 4), "has 3 letters but the data has 2 dimensions"),
        ("", (3, 4), "lacks 'YX'"),
    ],
)
def test_bad_axes_each_have_their_own_message(axes: str, shape: tuple[int, ...], fragment: str) -> None:
    with pytest.raises(AxesError) as info:
        normalize_axes(axes, shape, source="img.tif")
    message = str(info.value)
    assert fragment in message
    assert "img.tif" in message and str(shape) in message and "e.g." in message


def test_axes_are_case_insensitive() -> None:
    assert normalize_axes("tzyx", (1, 2, 3, 4)) == "TZYX"


def test_non_string_axes_is_an_axes_error() -> None:
    with pytest.raises(AxesError, match="must be a string"):
        normalize_axes(["Y", "X"], (2, 2))  # type: ignore[arg-type]


def test_t_is_merged_into_s_with_s_outer() -> None:
    data = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    stack = ArrayStack.from_axes(data, "STYX")
    assert stack.data_shape == (6, 1, 4, 5)
    np.testing.assert_array_equal(stack.extract_patch(4, None, (0, 0), (4, 5))[0], data[1, 1])


def test_t_as_depth_merges_z_into_s() -> None:
    data = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)  # Z T Y X
    layout = Layout.from_axes("ZTYX", data.shape, depth_axis="T")
    assert layout.axes == "SCTYX" and layout.shape == (2, 1, 3, 4, 5)
    stack = ArrayStack(data, layout)
    np.testing.assert_array_equal(stack.extract_patch(1, None, (0, 0, 0), (3, 4, 5))[0], data[1])


def test_layout_rejects_axes_it_cannot_place() -> None:
    with pytest.raises(AxesError, match="neither merged into S"):
        Layout("QYX", (2, 3, 4), "", None)


axes_strategy = st.permutations(list("STCZYX")).flatmap(
    lambda perm: st.sets(st.sampled_from("STCZ")).map(lambda keep: "".join(a for a in perm if a in keep or a in "YX"))
)


@settings(max_examples=60, deadline=None)
@given(axes=axes_strategy, data=st.data())
def test_any_axes_order_matches_numpy(axes: str, data: st.DataObject) -> None:
    shape = tuple(data.draw(st.integers(1, 3)) if a in "STCZ" else data.draw(st.integers(1, 9)) for a in axes)
    array = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    stack = ArrayStack.from_axes(array, axes)
    expected = reference(array, axes)
    assert stack.data_shape == expected.shape
    assert stack.axes == ("SCZYX" if "Z" in axes else "SCYX")
    assert stack.original_axes == axes and stack.original_data_shape == shape
    sample = data.draw(st.integers(0, expected.shape[0] - 1))
    spatial = expected.shape[2:]
    size = tuple(data.draw(st.integers(1, n + 2)) for n in spatial)
    coords = tuple(data.draw(st.integers(-s + 1, n - 1)) for n, s in zip(spatial, size, strict=True))
    n_channels = expected.shape[1]
    channels = data.draw(st.one_of(st.none(), st.lists(st.integers(0, n_channels - 1), min_size=1, max_size=3)))
    patch = stack.extract_patch(sample, channels, coords, size)
    # Reference: pad the sample with zeros, then slice.
    chosen = expected[sample] if channels is None else expected[sample][channels]
    padded = np.zeros((chosen.shape[0], *(n + 2 * p for n, p in zip(spatial, size, strict=True))), chosen.dtype)
    padded[(slice(None), *(slice(p, p + n) for n, p in zip(spatial, size, strict=True)))] = chosen
    window = tuple(slice(c + p, c + p + s) for c, p, s in zip(coords, size, size, strict=True))
    np.testing.assert_array_equal(patch, padded[(slice(None), *window)])
    assert patch.dtype == array.dtype
