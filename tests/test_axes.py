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


@pytest.mark.parametrize(
    ("axes", "head"),
    [
        ("YX", "none"),
        ("ZYX", "none"),
        ("SYX", "S"),
        ("SZYX", "S"),
        ("CYX", "C"),
        ("CZYX", "C"),
        ("SCYX", "SC"),
        ("SCZYX", "SC"),
        ("TYX", "S"),
        ("CSYX", None),  # C before S
        ("YXC", None),  # C after the spatial axes
        ("ZCYX", None),  # C between spatial axes
        ("YXZ", None),  # spatial axes out of order
        ("STYX", None),  # S merges two axes
        ("TCZYX", "SC"),
    ],
)
def test_common_patches_of_lazy_stacks_in_any_layout_match_numpy(axes: str, head: str | None) -> None:
    from stackio import LazyStack
    from stackio.patches import _HEAD_C, _HEAD_NONE, _HEAD_S, _HEAD_SC, PatchPlan

    shape = tuple({"S": 3, "T": 2, "C": 2, "Z": 5}.get(a, 11 if a == "Y" else 13) for a in axes)
    array = np.random.default_rng(4).integers(0, 60_000, shape, dtype=np.uint16)
    original = array.copy()
    layout = Layout.from_axes(axes, shape)
    plan = PatchPlan.of(layout)
    assert plan.head == {"none": _HEAD_NONE, "S": _HEAD_S, "C": _HEAD_C, "SC": _HEAD_SC, None: -1}[head]
    expected = reference(array, axes)
    spatial = expected.shape[2:]
    for reader in (array, array.copy(order="F")):  # views of the reader's data, and of a transposed one
        stack = LazyStack("<array>", layout, array.dtype, lambda reader=reader: reader)
        for sample in range(expected.shape[0]):
            size = tuple(n - 2 for n in spatial)
            coords = tuple(1 for _ in spatial)
            patch = stack.extract_patch(sample, None, coords, size)
            window = tuple(slice(c, c + s) for c, s in zip(coords, size, strict=True))
            np.testing.assert_array_equal(patch, expected[sample][(slice(None), *window)])
            assert patch.flags.c_contiguous and patch.flags.owndata  # a copy of its own
            patch[...] = 0
            np.testing.assert_array_equal(reader, original)  # the reader's data untouched
