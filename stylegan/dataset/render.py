"""Rasterise a face's shapes with Pillow: supersampled polygons, box-filtered down."""

import numpy as np
from PIL import Image, ImageDraw

from draggan_fast.stylegan.dataset.faces import FaceParams, face_geometry

EYE_WHITE = (245, 245, 240)
PUPIL = (15, 15, 20)
MIN_RESOLUTION, MAX_RESOLUTION = 16, 1024


def _shade(colour, factor):
    return tuple(round(c * factor) for c in colour)


def part_colours(params: FaceParams) -> dict:
    """Colour key -> RGB of every part of this face."""
    return {
        "skin": params.skin,
        "skin_shadow": _shade(params.skin, 0.8),
        "hair": params.hair,
        "eye_white": EYE_WHITE,
        "iris": params.iris,
        "pupil": PUPIL,
        "mouth": params.mouth,
        "brow": params.brow,
    }


def _background(params: FaceParams, size: int) -> np.ndarray:
    """Vertical gradient [size, size, 3] uint8 from the top colour to the bottom colour."""
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]  # [H, 1, 1]
    top = np.asarray(params.background_top, dtype=np.float32)
    bottom = np.asarray(params.background_bottom, dtype=np.float32)
    rows = top + (bottom - top) * ramp  # [H, 1, 3]
    return np.broadcast_to(rows, (size, size, 3)).round().astype(np.uint8)


def check_resolution(resolution: int) -> int:
    if not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
        raise ValueError(
            f"resolution must be in [{MIN_RESOLUTION}, {MAX_RESOLUTION}], got {resolution}"
        )
    return resolution


def render_face(params: FaceParams, resolution: int, supersample: int = 4):
    """(image uint8 [R, R, 3], landmarks float32 [K, 2] in (x, y) pixels at `resolution`)."""
    check_resolution(resolution)
    if supersample < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    size = resolution * supersample
    shapes, landmarks = face_geometry(params, resolution)
    colours = part_colours(params)
    canvas = Image.fromarray(_background(params, size))
    draw = ImageDraw.Draw(canvas)
    for _part, colour_key, polygon in shapes:
        if len(polygon) < 3:
            continue
        # pixel x at the output covers supersampled columns around (x + 0.5) * s - 0.5
        points = (polygon + 0.5) * supersample - 0.5
        draw.polygon([tuple(p) for p in points.tolist()], fill=colours[colour_key])
    if supersample > 1:
        canvas = canvas.reduce(supersample)
    return np.asarray(canvas), landmarks
