"""The shared stencil helpers (kernels/stencil.py) against F.interpolate and the official disk
(kernels/motion.py `motion_disk`)."""

import pytest
import torch
import torch.nn.functional as F

from draggan_fast.kernels import motion_disk, sample_upsampled
from draggan_fast.kernels.stencil import (
    gather_upsampled,
    motion_geometry,
    scatter_upsampled,
    stencil,
)
from tests.kernels.drag_cases import random_features


def _all_pixels(image):
    rows, cols = torch.meshgrid(torch.arange(image), torch.arange(image), indexing="ij")
    return rows, cols


@pytest.mark.parametrize("native, image", [(16, 128), (32, 256), (64, 128), (128, 256)])
def test_gather_is_f_interpolate_bit_for_bit(native, image):
    features = random_features(5, native, seed=native)
    rows, cols = _all_pixels(image)
    taps = stencil(rows, cols, (native, native), (image, image))
    values = gather_upsampled(features[0].reshape(5, -1), native, taps)
    assert torch.equal(values, F.interpolate(features, [image, image], mode="bilinear")[0])


@pytest.mark.parametrize("native, image", [(8, 64), (16, 64), (64, 64)])
def test_gather_matches_f_interpolate_at_small_sizes(native, image):
    features = random_features(5, native, seed=native)
    rows, cols = _all_pixels(image)
    taps = stencil(rows, cols, (native, native), (image, image))
    values = gather_upsampled(features[0].reshape(5, -1), native, taps)
    expected = F.interpolate(features, [image, image], mode="bilinear")[0]
    torch.testing.assert_close(values, expected, rtol=0, atol=1e-6)  # an ulp at most


def test_scatter_is_the_adjoint_of_gather():
    native, image = 16, 64
    features = random_features(3, native, seed=1).requires_grad_(True)
    rows = torch.randint(0, image, (7, 5))
    cols = torch.randint(0, image, (7, 5))
    taps = stencil(rows, cols, (native, native), (image, image))
    weights = torch.randn(3, 7, 5)
    (expected,) = torch.autograd.grad(
        (gather_upsampled(features[0].reshape(3, -1), native, taps) * weights).sum(), features
    )
    grad = scatter_upsampled(torch.zeros(3, native * native), native, taps, weights)
    torch.testing.assert_close(grad.reshape(expected.shape), expected)


def test_sample_upsampled_rounds_half_to_even():
    features = random_features(4, 16, seed=2)
    pixels = torch.tensor([[2.5, 3.5], [0.4, 127.0], [10.6, 7.49]])
    upsampled = F.interpolate(features, [128, 128], mode="bilinear")[0]
    expected = torch.stack([upsampled[:, 2, 4], upsampled[:, 0, 127], upsampled[:, 11, 7]])
    assert torch.equal(sample_upsampled(features, pixels, (128, 128)), expected)


@pytest.mark.parametrize("image, radius", [(64, 1), (128, 3), (257, 4), (1024, 6)])
def test_motion_disk_is_the_official_set(image, radius):
    handles = torch.tensor([[0.0, 0.0], [image - 1.0, 5.0], [17.0, 30.0], [40.3, 22.7]])
    targets = handles + 5
    geometry = motion_geometry(handles, targets, radius, (image, image), channels=1)
    for index, handle in enumerate(handles.tolist()):
        disk = motion_disk(handle, radius, (image, image), "cpu")
        official = set(zip(*(axis.tolist() for axis in disk)))
        selected = geometry.pixel_weight[index] > 0
        ours = set(
            zip(geometry.rows[index][selected].tolist(), geometry.cols[index][selected].tolist())
        )
        assert ours == official and len(official) > 0
        assert geometry.disk_scale[index] == 1 / len(official)


def test_sample_positions_are_grid_sample_positions():
    image = 64
    handles = torch.tensor([[10.0, 20.0]])
    targets = torch.tensor([[13.0, 24.0]])  # direction (0.6, 0.8)
    geometry = motion_geometry(handles, targets, 3, (image, image), channels=1)
    torch.testing.assert_close(
        geometry.sample_rows - geometry.rows, torch.full_like(geometry.sample_rows, 0.6)
    )
    torch.testing.assert_close(
        geometry.sample_cols - geometry.cols, torch.full_like(geometry.sample_cols, 0.8)
    )
