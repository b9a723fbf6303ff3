"""Any image file -> the RGB uint8 array a viewer shows (fidle_runs.data.images.decode): every
mode and format users have, EXIF orientation, transparency on a chosen background, and GTSRB's
blend on white unchanged."""

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import color, util

from fidle_runs.core.errors import UserError
from fidle_runs.data.images.decode import is_image_file, load_rgb

RNG = np.random.default_rng(0)
GREY = RNG.integers(0, 256, (20, 30), dtype=np.uint8)
RGB = RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)
ALPHA = RNG.integers(0, 256, (20, 30), dtype=np.uint8)
ORANGE = (255, 128, 0)


def saved(tmp_path: Path, im: Image.Image, name: str, **options) -> Path:
    path = tmp_path / name
    im.save(path, **options)
    return path


def composite(rgba: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """GTSRB's blend as it was written before the background became a choice."""
    return util.img_as_ubyte(color.rgba2rgb(rgba, tuple(c / 255 for c in background)))


@pytest.mark.parametrize(("mode", "name"), [("L", "grey.png"), ("L", "grey.pgm"),
                                            ("L", "grey.bmp"), ("L", "grey.tif"),
                                            ("L", "grey.webp")])
def test_grey_files_decode_to_three_equal_channels(tmp_path, mode, name):
    options = {"lossless": True} if name.endswith(".webp") else {}
    path = saved(tmp_path, Image.fromarray(GREY, mode), name, **options)
    assert np.array_equal(load_rgb(path), np.repeat(GREY[:, :, None], 3, axis=2))


@pytest.mark.parametrize("name", ["rgb.png", "rgb.ppm", "rgb.bmp", "rgb.tiff"])
def test_rgb_files_decode_as_stored(tmp_path, name):
    assert np.array_equal(load_rgb(saved(tmp_path, Image.fromarray(RGB), name)), RGB)


def test_sixteen_bit_grey_is_scaled_exactly_to_eight_bits(tmp_path):
    wide = GREY.astype(np.uint16) * 257
    png = saved(tmp_path, Image.fromarray(wide), "wide.png")
    with Image.open(png) as im:
        assert im.mode in ("I;16", "I")
    assert np.array_equal(load_rgb(png)[:, :, 0], GREY)
    big_endian = saved(tmp_path, Image.fromarray(wide.astype(">u2")), "wide_be.tif")
    assert np.array_equal(load_rgb(big_endian)[:, :, 1], GREY)
    assert np.array_equal(load_rgb(saved(tmp_path, Image.fromarray(wide.astype(np.int32)),
                                         "wide_int.tif"))[:, :, 2], GREY)
    # Values between two 8-bit levels round to the nearest one.
    assert load_rgb(saved(tmp_path, Image.fromarray(np.full((2, 2), 129 + 257 * 7, np.uint16)),
                          "between.png"))[0, 0, 0] == 8


def test_float_pixels_are_taken_in_zero_one(tmp_path):
    levels = GREY.astype(np.float32) / 255
    path = saved(tmp_path, Image.fromarray(levels), "float.tif")
    assert np.array_equal(load_rgb(path)[:, :, 0], GREY)


def test_cmyk_jpeg_is_converted(tmp_path):
    path = saved(tmp_path, Image.fromarray(RGB).convert("CMYK"), "cmyk.jpg", quality=95)
    with Image.open(path) as im:
        assert im.mode == "CMYK"
    got = load_rgb(path).astype(int)
    # JPEG is lossy on random pixels; the picture is still this one, not its negative.
    assert np.abs(got - RGB).mean() < 20


def test_transparency_is_composited_on_the_background(tmp_path):
    rgba = np.dstack([RGB, ALPHA])
    path = saved(tmp_path, Image.fromarray(rgba, "RGBA"), "rgba.png")
    assert np.array_equal(load_rgb(path), composite(rgba, (255, 255, 255)))
    on_orange = load_rgb(path, background=ORANGE)
    assert np.array_equal(on_orange, composite(rgba, ORANGE))
    clear = ALPHA == 0
    assert clear.any() and (on_orange[clear] == ORANGE).all()
    opaque = saved(tmp_path, Image.fromarray(np.dstack([RGB, np.full_like(ALPHA, 255)])),
                   "opaque.png")
    assert np.array_equal(load_rgb(opaque, background=ORANGE), RGB)


def test_grey_alpha_and_palette_transparency_are_composited(tmp_path):
    la = saved(tmp_path, Image.fromarray(np.dstack([GREY, ALPHA]), "LA"), "la.png")
    assert np.array_equal(load_rgb(la, background=ORANGE),
                          composite(np.dstack([np.repeat(GREY[:, :, None], 3, 2), ALPHA]),
                                    ORANGE))
    palette = Image.fromarray(GREY // 64 * 64).convert("P")
    transparent = palette.getpixel((0, 0))
    path = saved(tmp_path, palette, "palette.png", transparency=transparent)
    got = load_rgb(path, background=ORANGE)
    hidden = np.asarray(palette) == transparent
    assert (got[hidden] == ORANGE).all()
    assert np.array_equal(got[~hidden], np.repeat((GREY // 64 * 64)[:, :, None], 3, 2)[~hidden])
    gif = saved(tmp_path, palette, "palette.gif", transparency=transparent)
    assert np.array_equal(load_rgb(gif, background=ORANGE), got)


def test_a_transparent_grey_value_is_composited_at_8_and_16_bits(tmp_path):
    key = int(GREY[0, 0])
    want = np.repeat(GREY[:, :, None], 3, axis=2)
    want[np.equal(GREY, key)] = ORANGE
    narrow = saved(tmp_path, Image.fromarray(GREY), "key.png", transparency=key)
    assert np.array_equal(load_rgb(narrow, background=ORANGE), want)
    wide = saved(tmp_path, Image.fromarray(GREY.astype(np.uint16) * 257), "key16.png",
                 transparency=key * 257)
    with Image.open(wide) as im:
        assert im.mode == "I;16" and im.info["transparency"] == key * 257
    assert np.array_equal(load_rgb(wide, background=ORANGE), want)


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    stored = np.ascontiguousarray(np.rot90(RGB))  # stored a quarter turn anticlockwise
    path = saved(tmp_path, Image.fromarray(stored), "turned.png", exif=exif)
    assert np.array_equal(load_rgb(path), RGB)


def test_a_file_that_does_not_decode_is_one_line(tmp_path):
    good = saved(tmp_path, Image.fromarray(RGB), "cut.png")
    good.write_bytes(good.read_bytes()[:200])
    with pytest.raises(UserError, match=re.escape(f"cannot decode image {good}")) as e:
        load_rgb(good, "remove it")
    assert str(e.value).endswith(": remove it") and "\n" not in str(e.value)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(UserError, match="cannot decode image"):
        load_rgb(text)


def test_image_files_are_told_by_extension():
    for name in ("a.png", "b.JPG", "c.jpeg", "d.ppm", "e.pgm", "f.pbm", "g.bmp", "h.webp",
                 "i.tif", "j.TIFF", "k.gif"):
        assert is_image_file(Path(name)), name
    for name in ("notes.txt", "labels.csv", ".DS_Store", "Thumbs.db", "archive.zip"):
        assert not is_image_file(Path(name)), name


def test_an_undecodable_image_error_crosses_a_process_boundary(tmp_path):
    """A pool worker's exception reaches the parent pickled: it must come back whole."""
    import pickle

    from fidle_runs.data.images.decode import UndecodableImage

    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(UndecodableImage) as raised:
        load_rgb(bad, "replace it")
    again = pickle.loads(pickle.dumps(raised.value))
    assert str(again) == str(raised.value) and again.reason == raised.value.reason
