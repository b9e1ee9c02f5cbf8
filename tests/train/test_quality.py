"""Model quality figures: the Fréchet distance, the mirror map, flip disagreement, sharpness, and
`eval-model` on stand-in generators whose answers are known."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from draggan_fast.assets_registry import default_detector_path
from draggan_fast.cli import main
from draggan_fast.stylegan.dataset import LANDMARK_NAMES, FaceDataset
from draggan_fast.stylegan.landmarks import load_detector
from draggan_fast.stylegan.training import quality


def test_frechet_distance_matches_the_closed_form():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 2.0, [400, 1]), rng.normal(-0.5, 0.5, [300, 1])
    mean_a, mean_b = a.mean(), b.mean()
    var_a, var_b = a.var(ddof=1), b.var(ddof=1)
    expected = (mean_a - mean_b) ** 2 + var_a + var_b - 2 * np.sqrt(var_a * var_b)
    assert quality.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    # commuting covariances in 3-D: tr sqrt(S1 S2) = sum sqrt(eigenvalue products)
    scales_a, scales_b = np.array([1.0, 2.0, 3.0]), np.array([0.5, 4.0, 1.0])
    x = rng.normal(size=[5000, 3])
    x = (x - x.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(x, rowvar=False))).T
    shift = np.array([1.0, 0.0, -2.0])
    fd = quality.frechet_distance(x * scales_a, x * scales_b + shift)
    assert fd == pytest.approx((shift**2).sum() + ((scales_a - scales_b) ** 2).sum(), rel=1e-6)
    c = rng.normal(size=[200, 5])
    assert quality.frechet_distance(c, c) == pytest.approx(0.0, abs=1e-9)
    assert quality.frechet_distance(a, b) == pytest.approx(quality.frechet_distance(b, a))


def test_the_mirror_map_swaps_left_and_right():
    mirror = quality._MIRROR
    assert [mirror[i] for i in mirror] == list(range(len(LANDMARK_NAMES)))
    pairs = [("left_pupil", "right_pupil"), ("left_ear", "right_ear"),
             ("mouth_left", "mouth_right"), ("left_eye_outer", "right_eye_outer")]  # fmt: skip
    for left, right in pairs:
        assert mirror[LANDMARK_NAMES.index(left)] == LANDMARK_NAMES.index(right)
    for name in ("nose_tip", "chin", "hair_top", "upper_lip"):
        assert mirror[LANDMARK_NAMES.index(name)] == LANDMARK_NAMES.index(name)


@pytest.fixture(scope="module")
def detector():
    return load_detector(default_detector_path())


@pytest.fixture(scope="module")
def real_images():
    return quality.real_faces(64, 2002)(0, 32)  # [32, 3, 64, 64]


def test_the_detector_agrees_with_itself_on_mirrored_real_faces(detector, real_images):
    stats = quality.face_statistics(real_images, detector)
    assert stats["flip_px"].shape == (32,) and stats["features"].shape[0] == 32
    assert stats["flip_px"].mean() < 1.0  # the mirrored answer, mirrored back, lands on the same
    # a wrong mirror (names not swapped) puts each left landmark on the right one
    unswapped = detector(real_images.flip(3))
    unswapped[..., 0] = 63 - unswapped[..., 0]
    wrong = (detector(real_images) - unswapped).norm(dim=2).mean()
    assert wrong > 5 * stats["flip_px"].mean()


def test_blur_lowers_sharpness(detector, real_images):
    kernel = torch.full([3, 1, 3, 3], 1 / 9)
    blurred = F.conv2d(F.pad(real_images, [1, 1, 1, 1], mode="replicate"), kernel, groups=3)
    sharp = quality.face_statistics(real_images, detector)["sharpness"].mean()
    soft = quality.face_statistics(blurred, detector)["sharpness"].mean()
    assert soft < 0.5 * sharp


class _StandIn(torch.nn.Module):
    """A 'generator' whose faces are procedural renders of another dataset seed, maybe blurred."""

    def __init__(self, blur):
        super().__init__()
        self.z_dim, self.img_resolution, self.blur = 8, 64, blur
        self.anchor = torch.nn.Parameter(torch.zeros([]))
        self.dataset = FaceDataset(64, 7)

    def forward(self, z, truncation_psi=1.0, noise_mode="const"):
        start = int(z[0, 0].abs() * 1000) % 10_000  # any z -> some faces
        images = torch.stack([self.dataset[start + i][0] for i in range(len(z))])
        return F.avg_pool2d(images, 3, 1, 1, count_include_pad=False) if self.blur else images


def test_a_generator_of_real_faces_scores_at_the_floor_and_blur_shows(detector):
    real = quality.measure_quality(_StandIn(blur=False), detector, count=60, batch_size=30)
    blurry = quality.measure_quality(_StandIn(blur=True), detector, count=60, batch_size=30)
    assert real["sharpness_ratio"] == pytest.approx(1.0, abs=0.15)
    assert blurry["sharpness_ratio"] < 0.6
    assert real["feature_fd"] < 3 * real["feature_fd_real"]
    assert real["landmark_fd"] < 3 * real["landmark_fd_real"]
    with pytest.raises(ValueError, match="count"):
        quality.measure_quality(_StandIn(blur=False), detector, count=10)


def test_eval_model_prints_a_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "quality.json"
    assert main(["eval-model", "--count", "50", "--device", "cpu", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| landmark Fréchet distance (px²) |" in printed and "real faces" in printed
    document = json.loads(out.read_text())
    (result,) = document["results"].values()
    assert result["count"] == 50 and np.isfinite(result["landmark_fd"])
    assert main(["eval-model", "--count", "50", "--model", str(tmp_path / "none.st")]) == 2
