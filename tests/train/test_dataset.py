"""The procedural faces are deterministic and their landmarks lie on the parts they name."""

import numpy as np
import pytest
import torch

from draggan_fast.stylegan.dataset import (
    LANDMARK_NAMES,
    FaceDataset,
    face_params,
    part_colours,
    render_face,
)

# landmark -> colour keys of the parts it may show
EXPECTED_PARTS = {
    "left_pupil": ("pupil",),
    "right_pupil": ("pupil",),
    "left_eye_outer": ("eye_white",),
    "left_eye_inner": ("eye_white",),
    "right_eye_inner": ("eye_white",),
    "right_eye_outer": ("eye_white",),
    "left_brow": ("brow",),
    "right_brow": ("brow",),
    "nose_tip": ("skin_shadow",),
    "upper_lip": ("mouth",),
    "lower_lip": ("mouth",),
    "chin": ("skin",),
    "left_ear": ("skin_shadow",),
    "right_ear": ("skin_shadow",),
    "hair_top": ("hair",),
}
COLOUR_TOLERANCE = 12  # max |channel difference| at a part's inside, after 4x supersampling


def test_same_seed_and_index_give_the_same_face():
    first, again = FaceDataset(64, seed=3), FaceDataset(64, seed=3)
    image, landmarks = first[5]
    image_again, landmarks_again = again[5]
    assert image.shape == (3, 64, 64) and landmarks.shape == (len(LANDMARK_NAMES), 2)
    assert torch.equal(image, image_again) and torch.equal(landmarks, landmarks_again)
    assert not torch.equal(image, first[6][0])
    assert not torch.equal(image, FaceDataset(64, seed=4)[5][0])


def test_images_are_in_range_and_landmarks_inside():
    dataset = FaceDataset(64, seed=0)
    for index in range(20):
        image, landmarks = dataset[index]
        assert image.min() >= -1 and image.max() <= 1
        assert landmarks.min() >= 0 and landmarks.max() <= 63


def test_at_least_ten_distinct_named_landmarks():
    assert len(set(LANDMARK_NAMES)) == len(LANDMARK_NAMES) >= 10


@pytest.mark.parametrize("index", range(24))
def test_landmarks_lie_on_their_parts(index):
    params = face_params(7, index)
    image, landmarks = render_face(params, 256)
    colours = part_colours(params)
    for name, (x, y) in zip(LANDMARK_NAMES, landmarks):
        if name not in EXPECTED_PARTS:
            continue
        pixel = image[round(float(y)), round(float(x))].astype(int)
        errors = [np.abs(pixel - np.array(colours[key])).max() for key in EXPECTED_PARTS[name]]
        assert min(errors) <= COLOUR_TOLERANCE, (index, name, pixel.tolist(), colours)


def test_mouth_corners_are_at_the_ends_of_the_mouth():
    for index in range(8):
        params = face_params(1, index)
        _, landmarks = render_face(params, 256)
        named = dict(zip(LANDMARK_NAMES, landmarks))
        width = np.linalg.norm(named["mouth_right"] - named["mouth_left"])
        lips = (named["upper_lip"] + named["lower_lip"]) / 2
        corners = (named["mouth_left"] + named["mouth_right"]) / 2
        assert width > 256 * params.head_radius * params.mouth_width
        assert np.linalg.norm(lips - corners) < width / 2


def test_landmarks_scale_with_resolution_in_pixel_centre_coordinates():
    params = face_params(2, 9)
    _, small = render_face(params, 64)
    _, large = render_face(params, 256)
    np.testing.assert_allclose((small + 0.5) * 4 - 0.5, large, atol=1e-3)


def test_pose_moves_the_landmarks():
    params = face_params(0, 0)
    moved = type(params)(**{**params.__dict__, "center_x": params.center_x + 0.1})
    _, before = render_face(params, 64)
    _, after = render_face(moved, 64)
    np.testing.assert_allclose(after[:, 0] - before[:, 0], 6.4, atol=1e-3)
    np.testing.assert_allclose(after[:, 1], before[:, 1], atol=1e-3)


@pytest.mark.parametrize("resolution", [8, 0, 2048])
def test_bad_resolution_is_refused(resolution):
    with pytest.raises(ValueError, match="resolution"):
        render_face(face_params(0, 0), resolution)
    with pytest.raises(ValueError, match="resolution"):
        FaceDataset(resolution)


def test_negative_index_is_refused():
    with pytest.raises(ValueError, match="index"):
        face_params(0, -1)


def test_pool_renders_the_same_faces_as_the_dataset():
    from draggan_fast.stylegan.dataset.pool import render_pool

    pool, landmarks = render_pool(16, seed=5, count=6, processes=2)  # [6, 3, 16, 16] uint8
    dataset = FaceDataset(16, seed=5)
    assert pool.shape == (6, 3, 16, 16) and pool.dtype == torch.uint8
    for index in range(6):
        torch.testing.assert_close(pool[index].float() / 127.5 - 1, dataset[index][0])
        torch.testing.assert_close(landmarks[index], dataset[index][1])


def test_pooled_batches_wrap_around_the_pool_and_match_rendered_ones():
    from draggan_fast.stylegan.dataset.pool import FaceBatches

    rendered = FaceBatches(16, seed=5, device="cpu")
    pooled = FaceBatches(16, seed=5, device="cpu", pool_size=4, processes=1)
    images, landmarks = pooled.batch(2, 4)  # faces 2, 3, then 0, 1 again
    expected_images, expected_landmarks = rendered.batch(0, 4)
    assert images.shape == (4, 3, 16, 16) and landmarks.shape == (4, len(LANDMARK_NAMES), 2)
    torch.testing.assert_close(images[:2], rendered.batch(2, 2)[0])
    torch.testing.assert_close(images[2:], expected_images[:2])
    torch.testing.assert_close(landmarks[2:], expected_landmarks[:2])
