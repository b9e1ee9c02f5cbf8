"""Photo preprocessing: orientation, alpha, greyscale, crop/resize and one-line errors."""

import numpy as np
import pytest
from PIL import Image

from draggan_fast.inversion import preprocess
from draggan_fast.inversion.preprocess import generator_size, load_photo


def halves(width=40, height=20):
    """RGB image: left half red, right half blue."""
    array = np.zeros([height, width, 3], np.uint8)
    array[:, : width // 2] = (255, 0, 0)
    array[:, width // 2 :] = (0, 0, 255)
    return array


def is_red(pixels):
    return (pixels[..., 0] > 200).all() and (pixels[..., 2] < 55).all()


def is_blue(pixels):
    return (pixels[..., 2] > 200).all() and (pixels[..., 0] < 55).all()


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(halves())
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display": left half ends up on top
    path = tmp_path / "rotated.png"
    image.save(path, exif=exif)
    photo = load_photo(path, (8, 4))  # displayed 20 wide, 40 high: no crop needed
    assert photo.shape == (8, 4, 3) and photo.dtype == np.uint8
    assert is_red(photo[:2]) and is_blue(photo[-2:])
    # the same pixels without the tag are side by side: left red, right blue
    image.save(tmp_path / "plain.png")
    plain = load_photo(tmp_path / "plain.png", (4, 8))
    assert is_red(plain[:, :2]) and is_blue(plain[:, -2:])


def test_alpha_is_flattened_onto_white():
    rgba = np.zeros([8, 8, 4], np.uint8)
    rgba[:, :4] = (255, 0, 0, 255)  # opaque red
    rgba[:, 4:] = (0, 0, 255, 0)  # fully transparent blue
    photo = load_photo(Image.fromarray(rgba, "RGBA"), (8, 8))
    assert is_red(photo[:, :2]) and (photo[:, 6:] >= 250).all()
    np.testing.assert_array_equal(load_photo(rgba, (8, 8)), photo)


def test_greyscale_is_expanded():
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    for image in (grey, grey[:, :, None], Image.fromarray(grey, "L")):
        photo = load_photo(image, (8, 8))
        assert photo.shape == (8, 8, 3)
        np.testing.assert_array_equal(photo[:, :, 0], grey)
        np.testing.assert_array_equal(photo[:, :, 1], grey)
        np.testing.assert_array_equal(photo[:, :, 2], grey)


def test_centre_crop_keeps_the_middle_of_a_wide_image():
    array = np.zeros([10, 30, 3], np.uint8)
    array[:, 10:20] = 200  # the centre square
    photo = load_photo(array, (5, 5))
    assert (photo == 200).all()
    assert preprocess.centre_crop_box(30, 10, 5, 5) == (10, 0, 20, 10)
    assert preprocess.centre_crop_box(10, 30, 5, 5) == (0, 10, 10, 20)
    assert preprocess.centre_crop_box(40, 40, 20, 10) == (0, 10, 40, 30)  # 2:1 output


def test_rectangular_generators_use_their_width():
    class Wide:
        img_resolution = 32
        img_width = 64

    class Square:
        img_resolution = 32

    assert generator_size(Wide()) == (32, 64) and generator_size(Square()) == (32, 32)
    assert load_photo(halves(), generator_size(Wide())).shape == (32, 64, 3)


def test_not_an_image_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello, not pixels")
    with pytest.raises(ValueError, match=r"notes.png: not an image file") as error:
        load_photo(path, (8, 8))
    assert "\n" not in str(error.value)


def test_truncated_image(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, [64, 64, 3], dtype=np.uint8)).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut.png: truncated or damaged image") as error:
        load_photo(tmp_path / "cut.png", (8, 8))
    assert "\n" not in str(error.value)


def test_too_many_pixels_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(preprocess, "MAX_PIXELS", 399)
    Image.fromarray(halves(20, 20)).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match=r"big.png: 20x20 is 400 pixels, over the limit of 399"):
        load_photo(tmp_path / "big.png", (8, 8))
    with pytest.raises(ValueError, match="over the limit"):
        load_photo(halves(20, 20), (8, 8))
    load_photo(halves(19, 21), (8, 8))  # 399 pixels: fine


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"missing.jpg: no such file"):
        load_photo(tmp_path / "missing.jpg", (8, 8))


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros([8, 8, 3], np.float32), "must be uint8, got float32"),
        (np.zeros([8, 8, 2], np.uint8), r"must be \[H, W, 3\].*got \[8, 8, 2\]"),
        (np.zeros([2, 8, 8, 3], np.uint8), r"got \[2, 8, 8, 3\]"),
        (np.zeros([0, 8, 3], np.uint8), "empty image"),
        ([[1, 2], [3, 4]], "must be a path, a PIL image or a numpy array, got list"),
    ],
)
def test_bad_arrays(array, message):
    with pytest.raises(ValueError, match=message):
        load_photo(array, (8, 8))
