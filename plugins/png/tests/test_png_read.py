"""PNG and JPEG files written by Pillow, read by stackio, compared pixel for pixel with Pillow's reading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stackio
from PIL import Image
from stackio import AxesError, LazyStack, ReadError, ValidationError


def _pillow(path: Path, mode: str | None = None) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert(mode) if mode else image)


def _whole(stack: stackio.ImageStack, sample: int = 0) -> np.ndarray:
    return stack.extract_patch(sample, None, (0,) * (len(stack.data_shape) - 2), stack.data_shape[2:])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("png")
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 65535, (30, 41), dtype=np.uint16)).save(d / "g16.png")
    Image.fromarray(rng.integers(0, 255, (30, 41, 4), dtype=np.uint8), "RGBA").save(d / "rgba.png", dpi=(254, 127))
    Image.fromarray(rng.integers(0, 255, (30, 41, 3), dtype=np.uint8), "RGB").convert("P").save(d / "pal.png")
    Image.fromarray(rng.integers(0, 2, (9, 10), dtype=np.uint8) * 255).convert("1").save(d / "bits.png")
    Image.fromarray(rng.integers(0, 255, (30, 41), dtype=np.uint8)).save(d / "grey.jpg", quality=90)
    Image.fromarray(rng.integers(0, 255, (30, 41, 3), dtype=np.uint8), "RGB").save(d / "nodpi.jpg")
    frames = [Image.fromarray(rng.integers(0, 255, (12, 14, 3), dtype=np.uint8), "RGB") for _ in range(4)]
    frames[0].save(d / "anim.png", save_all=True, append_images=frames[1:])
    return d


def test_16_bit_grey_is_exact(files: Path) -> None:
    (stack,) = stackio.load(files / "g16.png")
    assert isinstance(stack, LazyStack) and stack.data_dtype == np.uint16 and stack.original_axes == "YX"
    np.testing.assert_array_equal(_whole(stack)[0], _pillow(files / "g16.png"))
    patch = stack.extract_patch(0, None, (10, 20), (5, 6))[0]
    np.testing.assert_array_equal(patch, _pillow(files / "g16.png")[10:15, 20:26])
    assert stack.metadata.voxel_size is None


def test_rgba_channels_and_declared_pixel_size(files: Path) -> None:
    (stack,) = stackio.load(files / "rgba.png")
    assert stack.axes == "SCYX" and stack.data_shape == (1, 4, 30, 41)
    np.testing.assert_array_equal(_whole(stack), np.moveaxis(_pillow(files / "rgba.png"), -1, 0))
    assert stack.metadata.channel_names == ("R", "G", "B", "A")
    assert stack.metadata.voxel_size == pytest.approx({"Y": 200.0, "X": 100.0}, rel=1e-3)  # 127 and 254 dpi
    assert stack.metadata.raw()["mode"] == "RGBA"


def test_colour_samples_as_separate_samples(files: Path) -> None:
    (stack,) = stackio.load(files / "rgba.png", "YXS")
    assert stack.data_shape == (4, 1, 30, 41) and stack.metadata.channel_names is None
    np.testing.assert_array_equal(_whole(stack, 2)[0], _pillow(files / "rgba.png")[..., 2])


def test_palette_is_expanded_and_bilevel_is_bool(files: Path) -> None:
    (stack,) = stackio.load(files / "pal.png")
    np.testing.assert_array_equal(_whole(stack), np.moveaxis(_pillow(files / "pal.png", "RGB"), -1, 0))
    (bits,) = stackio.load(files / "bits.png", in_memory=True)
    assert bits.data_dtype == np.bool_
    np.testing.assert_array_equal(bits.data[0, 0], _pillow(files / "bits.png"))


def test_jpeg(files: Path) -> None:
    (grey,) = stackio.load(files / "grey.jpg", "YX")
    np.testing.assert_array_equal(_whole(grey)[0], _pillow(files / "grey.jpg"))
    (colour,) = stackio.load(files / "nodpi.jpg")
    assert colour.data_shape == (1, 3, 30, 41) and colour.metadata.voxel_size is None


def test_animated_png_frames_are_samples_or_depth(files: Path) -> None:
    expected = []
    with Image.open(files / "anim.png") as image:
        for i in range(image.n_frames):
            image.seek(i)
            expected.append(np.asarray(image.convert("RGB")))
    (stack,) = stackio.load(files / "anim.png")
    assert stack.original_axes == "TYXC" and stack.data_shape == (4, 3, 12, 14)
    np.testing.assert_array_equal(_whole(stack, 3), np.moveaxis(expected[3], -1, 0))
    (volume,) = stackio.load(files / "anim.png", "ZYXC")
    assert volume.axes == "SCZYX" and volume.data_shape == (1, 3, 4, 12, 14)


def test_the_image_is_decoded_once_and_dropped_on_close(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stackio_png import reader

    calls = []
    original = reader.Decoder.__call__

    def counting(self: reader.Decoder) -> np.ndarray:
        calls.append(self.path)
        return original(self)

    monkeypatch.setattr(reader.Decoder, "__call__", counting)
    (stack,) = stackio.load(files / "g16.png")
    assert calls == []  # loading reads the header only
    for y in range(0, 30, 5):
        stack.extract_patch(0, None, (y, 0), (5, 41))
    assert len(calls) == 1
    stack.close()
    stack.extract_patch(0, None, (0, 0), (1, 1))
    assert len(calls) == 2


def test_wrong_axes_show_the_shape(files: Path) -> None:
    with pytest.raises(
        AxesError,
        match=r"rgba\.png: the image has 3 dimensions, shape \(30, 41, 4\) \(YXC: rows, "
        r"columns, colour samples\); axes 'YX' has 2 letters",
    ):
        stackio.load(files / "rgba.png", "YX")


def test_bad_files(files: Path, tmp_path: Path) -> None:
    data = (files / "g16.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (stack,) = stackio.load(tmp_path / "cut.png")  # the header is intact ...
    with pytest.raises(ReadError, match=r"cut\.png"):  # ... the pixels are not
        stack.extract_patch(0, None, (0, 0), (30, 41))
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(ReadError, match=r"junk\.png: Pillow cannot read it as PNG"):
        stackio.load(tmp_path / "junk.png")
    (tmp_path / "swapped.jpg").write_bytes(data)
    with pytest.raises(ReadError, match=r"swapped\.jpg: is a PNG image, not JPEG"):
        stackio.load(tmp_path / "swapped.jpg", format="jpeg")


def test_a_folder_of_pngs_is_one_stack_per_file(files: Path, tmp_path: Path) -> None:
    for i in range(3):
        Image.fromarray(np.full((4, 5), i, np.uint8)).save(tmp_path / f"t{i}.png")
    stacks = stackio.load(tmp_path)
    assert [int(_whole(s).max()) for s in stacks] == [0, 1, 2]


def test_other_content_named_png_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros(3))
    (tmp_path / "a.npy").rename(tmp_path / "fake.png")
    verdicts = {v.format: v for v in stackio.diagnose(tmp_path / "fake.png").verdicts}
    assert verdicts["png"].status == "refused" and verdicts["png"].reason == "no PNG magic bytes"
    assert verdicts["numpy"].status == "accepted"


@pytest.mark.parametrize("name", ["anim.png@2", "anim.png@0", "grey.jpg@1"])
def test_file_at_n_is_refused_not_ignored(files: Path, name: str) -> None:
    # a PNG or JPEG holds one image (frames are samples): '@N' names nothing and must not read every frame
    index = name.rsplit("@", 1)[1]
    with pytest.raises(ValidationError, match=rf"'@{index}' names nothing in the (png|jpeg) format.*sample_idx"):
        stackio.load(f"{files / name}")
    (stack,) = stackio.load(files / name.split("@")[0])  # the file itself still loads whole
    assert stack.data_shape[0] == (4 if name.startswith("anim") else 1)


def test_axes_rule_rows_and_columns_are_bound(files: Path) -> None:
    """Rows and columns are Y and X, colour samples C or S; only the frame index is free."""
    with pytest.raises(AxesError, match=r"rgba\.png: axes 'XYC' contradict the file: its structure declares 'YXC'"):
        stackio.load(files / "rgba.png", "XYC")
    with pytest.raises(AxesError, match=r"axes 'YXZ' contradict the file"):
        stackio.load(files / "rgba.png", "YXZ")
    with pytest.raises(AxesError, match=r"anim\.png: axes 'TYXZ' contradict the file: .*the frame index is free"):
        stackio.load(files / "anim.png", "TYXZ")
    (frames,) = stackio.load(files / "anim.png", "SYXC")  # frames named freely
    assert frames.data_shape == (4, 3, 12, 14)
    with Image.open(files / "anim.png") as image:
        image.seek(2)
        third = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(_whole(frames, 2), np.moveaxis(third, -1, 0))
