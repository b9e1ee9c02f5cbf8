"""Procedural cartoon faces: random parameters -> shapes (polygons) and named landmarks.

A face is drawn in a canonical frame: origin at the head centre, unit = head radius, v pointing
down. Head pose (position, scale, roll, yaw, pitch) maps that frame to image pixels. Shapes and
landmarks come from the same geometry, so every landmark lies on the part it names.

Image coordinates are (x, y) pixels at the output resolution: pixel column x has its centre at x.
"left"/"right" in landmark names are the image's left and right (the viewer's).
"""

import dataclasses
import math

import numpy as np

LANDMARK_NAMES = (
    "left_pupil",
    "right_pupil",
    "left_eye_outer",
    "left_eye_inner",
    "right_eye_inner",
    "right_eye_outer",
    "left_brow",
    "right_brow",
    "nose_tip",
    "mouth_left",
    "mouth_right",
    "upper_lip",
    "lower_lip",
    "chin",
    "left_ear",
    "right_ear",
    "hair_top",
)

ELLIPSE_POINTS = 40


@dataclasses.dataclass(frozen=True)
class FaceParams:
    """Everything that varies between faces. Positions are fractions of the image size."""

    center_x: float  # head centre, fraction of width
    center_y: float  # head centre, fraction of height
    head_radius: float  # fraction of the image size
    head_width: float  # horizontal / vertical radius of the head
    roll: float  # radians, positive turns the face clockwise on screen
    yaw: float  # -1 (looks to the image left) .. 1 (image right)
    pitch: float  # -1 (up) .. 1 (down)
    eye_spacing: float  # eye centre |u| in head radii
    eye_height: float  # eye centre v
    eye_size: float  # horizontal eye radius
    eye_open: float  # vertical / horizontal eye radius
    gaze_x: float  # -1 .. 1 within the eye
    gaze_y: float  # -1 .. 1 within the eye
    brow_raise: float  # extra gap between eye and brow
    brow_tilt: float  # radians, positive lifts the outer ends
    mouth_height: float  # mouth centre v
    mouth_width: float  # mouth half width
    mouth_open: float  # gap between the lips
    smile: float  # how much the corners rise above the lips' centre
    ear_size: float  # ear radius
    hair_volume: float  # how far the hair rises above the head
    fringe: float  # how low the fringe reaches (v)
    background_top: tuple  # RGB 0..255
    background_bottom: tuple
    skin: tuple
    hair: tuple
    iris: tuple
    mouth: tuple
    brow: tuple


def _hsv(rng, hue=None, sat=(0.4, 0.9), val=(0.45, 0.95)):
    """One random strong colour as an (r, g, b) tuple of ints."""
    h = rng.uniform(0, 1) if hue is None else hue
    s = rng.uniform(*sat)
    v = rng.uniform(*val)
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return tuple(round(255 * c) for c in rgb)


def sample_face_params(rng: np.random.Generator) -> FaceParams:
    """Random face parameters; all randomness of one face comes from `rng`."""
    background_hue = rng.uniform(0, 1)
    skin_hue = (background_hue + rng.uniform(0.25, 0.75)) % 1.0
    return FaceParams(
        center_x=rng.uniform(0.4, 0.6),
        center_y=rng.uniform(0.5, 0.58),
        head_radius=rng.uniform(0.25, 0.31),
        head_width=rng.uniform(0.82, 1.0),
        roll=rng.uniform(-0.3, 0.3),
        yaw=rng.uniform(-1, 1),
        pitch=rng.uniform(-1, 1),
        eye_spacing=rng.uniform(0.33, 0.42),
        eye_height=rng.uniform(-0.2, -0.05),
        eye_size=rng.uniform(0.18, 0.24),
        eye_open=rng.uniform(0.45, 1.0),
        gaze_x=rng.uniform(-1, 1),
        gaze_y=rng.uniform(-1, 1),
        brow_raise=rng.uniform(0.0, 0.14),
        brow_tilt=rng.uniform(-0.35, 0.35),
        mouth_height=rng.uniform(0.42, 0.55),
        mouth_width=rng.uniform(0.22, 0.36),
        mouth_open=rng.uniform(0.0, 0.3) * (rng.uniform(0, 1) < 0.7),
        smile=rng.uniform(-0.08, 0.15),
        ear_size=rng.uniform(0.18, 0.28),
        hair_volume=rng.uniform(0.05, 0.3),
        fringe=rng.uniform(-0.7, -0.4),
        background_top=_hsv(rng, background_hue, sat=(0.2, 0.6), val=(0.6, 0.95)),
        background_bottom=_hsv(rng, background_hue, sat=(0.2, 0.6), val=(0.35, 0.7)),
        skin=_hsv(rng, skin_hue, sat=(0.25, 0.7), val=(0.7, 1.0)),
        hair=_hsv(rng, sat=(0.5, 1.0), val=(0.15, 0.6)),
        iris=_hsv(rng, sat=(0.5, 1.0), val=(0.45, 0.85)),
        mouth=_hsv(rng, rng.uniform(0.95, 1.05) % 1.0, sat=(0.6, 0.9), val=(0.3, 0.5)),
        brow=_hsv(rng, sat=(0.3, 0.8), val=(0.05, 0.3)),
    )


def _ellipse(center_u, center_v, radius_u, radius_v, start=0.0, stop=2 * math.pi):
    angles = np.linspace(start, stop, ELLIPSE_POINTS)
    return np.stack([center_u + radius_u * np.cos(angles), center_v + radius_v * np.sin(angles)], 1)


def _canonical_shapes(params: FaceParams):
    """Drawing order of (part name, colour key, polygon [P, 2] in (u, v)) and landmarks (u, v)."""
    head_ru, head_rv = params.head_width, 1.1
    feature_du, feature_dv = 0.22 * params.yaw, 0.12 * params.pitch
    shapes, marks = [], {}

    for side, name in ((-1, "left"), (1, "right")):
        ear_u = side * (head_ru + 0.1) - 0.12 * params.yaw
        ear_radius = params.ear_size * (1 + 0.3 * side * params.yaw)
        shapes.append((f"{name}_ear", "skin_shadow", _ellipse(ear_u, 0.05, ear_radius, ear_radius)))
        marks[f"{name}_ear"] = (ear_u + side * 0.35 * ear_radius, 0.05)

    hair_top = -head_rv - params.hair_volume
    hair_cap = _ellipse(0.0, -0.1, head_ru * 1.08, -0.1 - hair_top, math.pi, 2 * math.pi)
    shapes.append(("hair_back", "hair", hair_cap))
    shapes.append(("head", "skin", _ellipse(0.0, 0.0, head_ru, head_rv)))
    marks["hair_top"] = (0.0, hair_top + 0.06)
    marks["chin"] = (0.0, head_rv - 0.08)

    # the fringe: the part of the hair ellipse above the line v = fringe, drawn over the head
    shapes.append(("fringe", "hair", hair_cap[hair_cap[:, 1] <= params.fringe]))

    eye_rv = params.eye_size * params.eye_open
    iris_radius = min(0.1, 0.85 * eye_rv)
    for side, name in ((-1, "left"), (1, "right")):
        eye_u = side * params.eye_spacing + feature_du
        eye_v = params.eye_height + feature_dv
        eye_ru = params.eye_size * (1 + 0.2 * side * params.yaw)
        shapes.append((f"{name}_eye", "eye_white", _ellipse(eye_u, eye_v, eye_ru, eye_rv)))
        # the iris stays inside the middle 75% of the eye, clear of the corner landmarks
        pupil_u = eye_u + params.gaze_x * max(0.75 * eye_ru - iris_radius, 0.0)
        pupil_v = eye_v + params.gaze_y * max(0.75 * eye_rv - iris_radius, 0.0)
        shapes.append(
            (f"{name}_iris", "iris", _ellipse(pupil_u, pupil_v, iris_radius, iris_radius))
        )
        pupil_radius = 0.55 * iris_radius
        shapes.append(
            (f"{name}_pupil", "pupil", _ellipse(pupil_u, pupil_v, pupil_radius, pupil_radius))
        )
        marks[f"{name}_pupil"] = (pupil_u, pupil_v)
        outer, inner = ("outer", "inner") if side < 0 else ("inner", "outer")
        marks[f"{name}_eye_{outer}"] = (eye_u - 0.9 * eye_ru, eye_v)
        marks[f"{name}_eye_{inner}"] = (eye_u + 0.9 * eye_ru, eye_v)

        brow_v = eye_v - eye_rv - 0.1 - params.brow_raise
        tilt = side * params.brow_tilt
        half_length, half_thickness = 0.17, 0.045
        direction = np.array([math.cos(tilt), -math.sin(tilt)])
        normal = np.array([-direction[1], direction[0]])
        centre = np.array([eye_u, brow_v])
        brow = np.stack(
            [
                centre - half_length * direction - half_thickness * normal,
                centre + half_length * direction - half_thickness * normal,
                centre + half_length * direction + half_thickness * normal,
                centre - half_length * direction + half_thickness * normal,
            ]
        )
        shapes.append((f"{name}_brow", "brow", brow))
        marks[f"{name}_brow"] = (eye_u, brow_v)

    nose_u, nose_v = 0.35 * params.yaw, 0.22 + feature_dv
    nose = np.array([[nose_u, nose_v - 0.16], [nose_u + 0.09, nose_v], [nose_u - 0.09, nose_v]])
    shapes.append(("nose", "skin_shadow", nose))
    marks["nose_tip"] = (nose_u, nose_v - 0.04)

    mouth_u, mouth_v = feature_du, params.mouth_height + feature_dv
    corner_v = mouth_v - params.smile
    xs = np.linspace(-1.0, 1.0, ELLIPSE_POINTS // 2)
    bulge = 1 - xs**2
    upper_v = corner_v + (mouth_v - 0.03 - 0.25 * params.mouth_open - corner_v) * bulge
    lower_v = corner_v + (mouth_v + 0.05 + 0.75 * params.mouth_open - corner_v) * bulge
    mouth_us = mouth_u + params.mouth_width * xs
    mouth = np.concatenate(
        [np.stack([mouth_us, upper_v], 1), np.stack([mouth_us, lower_v], 1)[::-1]]
    )
    shapes.append(("mouth", "mouth", mouth))
    corner_inset = 0.1 * params.mouth_width
    marks["mouth_left"] = (mouth_u - params.mouth_width + corner_inset, corner_v)
    marks["mouth_right"] = (mouth_u + params.mouth_width - corner_inset, corner_v)
    marks["upper_lip"] = (mouth_u, upper_v[len(xs) // 2] + 0.02)
    marks["lower_lip"] = (mouth_u, lower_v[len(xs) // 2] - 0.02)
    return shapes, marks


def to_image_coords(params: FaceParams, points_uv: np.ndarray, resolution: int) -> np.ndarray:
    """Canonical (u, v) [P, 2] -> image (x, y) pixels [P, 2] at `resolution`."""
    cos, sin = math.cos(params.roll), math.sin(params.roll)
    scale = params.head_radius * resolution
    u, v = points_uv[:, 0], points_uv[:, 1]
    x = params.center_x * resolution - 0.5 + scale * (cos * u - sin * v)
    y = params.center_y * resolution - 0.5 + scale * (sin * u + cos * v)
    return np.stack([x, y], 1)


def face_geometry(params: FaceParams, resolution: int):
    """(shapes, landmarks): [(part, colour key, polygon [P, 2] (x, y) px)], [K, 2] (x, y) px.

    Landmarks follow LANDMARK_NAMES.
    """
    shapes, marks = _canonical_shapes(params)
    shapes = [(part, key, to_image_coords(params, poly, resolution)) for part, key, poly in shapes]
    marks_uv = np.array([marks[name] for name in LANDMARK_NAMES], dtype=np.float64)
    return shapes, to_image_coords(params, marks_uv, resolution).astype(np.float32)
