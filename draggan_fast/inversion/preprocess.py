"""Photos -> uint8 [H, W, 3] arrays at a generator's resolution, or one-line ValueErrors.

Accepted: a path (str or os.PathLike), a PIL image, or a uint8 array [H, W], [H, W, 1],
[H, W, 3] or [H, W, 4]. Steps: EXIF orientation applied (files and PIL images); alpha
flattened onto WHITE; greyscale expanded to RGB; the largest centred crop of the output's
aspect ratio taken, then resized with a Lanczos filter to (height, width).
Files over MAX_PIXELS pixels are refused from their header, before any pixel is decoded
(decompression bombs), and so are arrays of that size.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 50_000_000  # 50 megapixels (about 8660 x 5770): far more than any photo needs
ALPHA_BACKGROUND = (255, 255, 255)  # transparent pixels become white
_ARRAY_CHANNELS = {1: "L", 3: "RGB", 4: "RGBA"}


def _check_pixel_count(width: int, height: int, what: str):
    if width * height > MAX_PIXELS:
        raise ValueError(
            f"{what}: {width}x{height} is {width * height} pixels, over the limit of "
            f"{MAX_PIXELS} (a decompression bomb or an oversized image); downscale it first"
        )
    if width < 1 or height < 1:
        raise ValueError(f"{what}: empty image ({width}x{height})")


def _open_file(path) -> Image.Image:
    """Decode the image file at `path` fully, or raise a one-line ValueError."""
    what = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{what}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                _check_pixel_count(image.width, image.height, what)  # header only so far
                image.load()  # decodes the pixels: truncated data fails here
                return ImageOps.exif_transpose(image)
    except UnidentifiedImageError:
        raise ValueError(f"{what}: not an image file (Pillow cannot identify it)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"{what}: refused as a decompression bomb ({exc})") from None
    except (OSError, SyntaxError, EOFError) as exc:  # Pillow's errors for damaged files
        raise ValueError(f"{what}: truncated or damaged image ({exc})") from None


def _from_array(array) -> Image.Image:
    if not isinstance(array, np.ndarray):
        raise ValueError(
            f"image must be a path, a PIL image or a numpy array, got {type(array).__name__}"
        )
    if array.dtype != np.uint8:
        raise ValueError(f"image array must be uint8, got {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in _ARRAY_CHANNELS:
        raise ValueError(f"image array must be [H, W, 3] (or [H, W], [H, W, 4]), got "
                         f"{list(array.shape)}")  # fmt: skip
    _check_pixel_count(array.shape[1], array.shape[0], "image array")
    mode = _ARRAY_CHANNELS[array.shape[2]]
    return Image.fromarray(np.ascontiguousarray(array[:, :, 0] if mode == "L" else array), mode)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB: alpha (or palette transparency) flattened onto white."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*ALPHA_BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16/32-bit greyscale -> 8 bit
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        grey = np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    return image.convert("RGB")


def centre_crop_box(width: int, height: int, out_width: int, out_height: int):
    """(left, top, right, bottom) of the largest centred crop with the output's aspect ratio."""
    if width * out_height > height * out_width:  # too wide: crop columns
        crop = max(1, round(height * out_width / out_height))
        left = (width - crop) // 2
        return left, 0, left + crop, height
    crop = max(1, round(width * out_height / out_width))
    top = (height - crop) // 2
    return 0, top, width, top + crop


def load_photo(image, size: tuple[int, int]) -> np.ndarray:
    """`image` (path, PIL image or uint8 array) -> uint8 [height, width, 3] for size
    (height, width): oriented, flattened, centre-cropped and resized as the module says."""
    height, width = size
    if isinstance(image, (str, os.PathLike)):
        picture = _open_file(image)
    elif isinstance(image, Image.Image):
        _check_pixel_count(image.width, image.height, "PIL image")
        try:
            image.load()
        except (OSError, SyntaxError, EOFError) as exc:
            raise ValueError(f"PIL image: truncated or damaged ({exc})") from None
        picture = ImageOps.exif_transpose(image)
    else:
        picture = _from_array(image)
    rgb = _to_rgb(picture)
    box = centre_crop_box(rgb.width, rgb.height, width, height)
    resized = rgb.crop(box).resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8).copy()


def generator_size(G) -> tuple[int, int]:
    """(height, width) of G's images: img_resolution high, img_width wide when G has one."""
    height = int(G.img_resolution)
    return height, int(getattr(G, "img_width", height))
