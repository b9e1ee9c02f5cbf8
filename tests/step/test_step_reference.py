"""The pieces of the reference step against hand-computed answers on planted feature maps."""

import math

import pytest
import torch

from draggan_fast.kernels.motion import motion_disk
from draggan_fast.step.backend import DragConfig, build_styles, create_backend, image_to_uint8
from draggan_fast.step.reference import (
    ReferenceBackend,
    is_done,
    mask_loss,
    motion_loss,
    take_references,
    track_handles,
)


def _planted_map(height, width, channels=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn([1, channels, height, width], generator=generator)


def test_tracking_finds_the_planted_feature_inside_the_window():
    features = _planted_map(20, 24)
    reference = features[0, :, 12, 9].clone()  # plant at (row 12, col 9)
    (found,) = track_handles(features, reference[None], [(10.0, 10.0)], tracking_radius=3)
    assert found == [12, 9]
    found_l1 = track_handles(features, reference[None], [(10.0, 10.0)], 3, tracking="l1")[0]
    assert found_l1 == [12, 9]


def test_tracking_only_searches_its_window():
    features = _planted_map(20, 24)
    reference = features[0, :, 2, 2].clone()  # 8 rows away from the handle
    (found,) = track_handles(features, reference[None], [(10.0, 10.0)], tracking_radius=3)
    assert 7 <= found[0] <= 13 and 7 <= found[1] <= 13
    assert found != [2, 2]


def test_tracking_window_is_clipped_at_the_image_border():
    features = _planted_map(16, 16)
    corner = track_handles(features, features[0, :, 0, 0][None], [(1.0, 0.0)], 4)[0]
    assert corner == [0, 0]
    far_corner = track_handles(features, features[0, :, 15, 15][None], [(15.0, 13.0)], 4)[0]
    assert far_corner == [15, 15]


def test_tracking_ties_go_to_the_first_pixel_in_row_major_order():
    features = torch.zeros([1, 2, 10, 10])
    features[0, 0, 6, 3] = features[0, 0, 4, 7] = 5.0  # two equal best matches
    reference = torch.tensor([[5.0, 0.0]])
    assert track_handles(features, reference, [(5.0, 5.0)], 3) == [[4, 7]]
    flat = torch.zeros([1, 2, 10, 10])  # every pixel ties: the window's top-left wins
    assert track_handles(flat, reference, [(5.0, 5.0)], 2) == [[3, 3]]


def test_tracking_rounds_float_handles_for_the_window():
    features = _planted_map(20, 20)
    reference = features[0, :, 8, 14].clone()
    # Rounded to (6, 12), the window of radius 2 reaches (8, 14); truncating (5, 11) would not.
    assert track_handles(features, reference[None], [(5.6, 11.7)], 2) == [[8, 14]]


def test_l1_and_l2_tracking_disagree_where_the_norms_do():
    features = torch.full([1, 2, 5, 5], 9.0)
    features[0, :, 2, 1] = torch.tensor([1.0, 1.0])  # L1 2, L2 1.41
    features[0, :, 2, 3] = torch.tensor([1.8, 0.0])  # L1 1.8, L2 1.8
    reference = torch.zeros([1, 2])
    assert track_handles(features, reference, [(2.0, 2.0)], 2, tracking="l2") == [[2, 1]]
    assert track_handles(features, reference, [(2.0, 2.0)], 2, tracking="l1") == [[2, 3]]


def _disk_float64(handle_rc, radius, height, width):
    """The official disk, in float64 arithmetic: pixel i sits at i * H / (H - 1)."""
    row, col = handle_rc
    return {
        (i, j)
        for i in range(height)
        for j in range(width)
        if math.hypot(i * height / (height - 1) - row, j * width / (width - 1) - col) < radius
    }


@pytest.mark.parametrize("handle_rc", [(40, 40), (0, 0), (127, 5), (64, 100)])
@pytest.mark.parametrize("radius", [1, 3])
def test_motion_disk_uses_linspace_coordinates(handle_rc, radius):
    rows, cols = motion_disk(handle_rc, radius, (128, 128), "cpu")
    disk = set(zip(rows.tolist(), cols.tolist()))
    assert disk == _disk_float64(handle_rc, radius, 128, 128)


def test_motion_disk_differs_from_an_integer_pixel_disk():
    rows, cols = motion_disk((40, 40), 1, (128, 128), "cpu")
    disk = set(zip(rows.tolist(), cols.tolist()))
    assert disk == {(39, 39), (39, 40), (40, 39), (40, 40)}  # not {(40, 40)}: X[40] = 40.31


def _ramp(height, width):
    """One channel whose value is the column index: F(q + d) - F(q) = d_col exactly."""
    return torch.arange(width, dtype=torch.float32).expand(1, 1, height, width).clone()


def test_motion_loss_on_a_ramp_is_the_unit_step_along_x():
    features = _ramp(32, 32).requires_grad_(True)
    loss = motion_loss(features, [[10, 10]], [[10.0, 20.0]], motion_radius=2)
    assert loss.item() == pytest.approx(1.0, abs=1e-5)  # d = (1, 0) in (col, row)
    diagonal = motion_loss(features, [[10, 10]], [[14.0, 13.0]], motion_radius=2)
    assert diagonal.item() == pytest.approx(0.6, abs=1e-5)  # d = (3, 4) / 5
    loss.backward()
    assert features.grad is not None and features.grad.abs().sum() > 0


def test_motion_loss_sums_handles_and_skips_those_within_one_pixel():
    features = _ramp(32, 32)
    one = motion_loss(features, [[10, 10]], [[10.0, 20.0]], 2)
    two = motion_loss(features, [[10, 10], [20, 5]], [[10.0, 20.0], [20.0, 25.0]], 2)
    assert two.item() == pytest.approx(2 * one.item(), abs=1e-5)
    near = motion_loss(features, [[10, 10], [20, 5]], [[10.0, 20.0], [20.7, 5.7]], 2)
    assert near.item() == pytest.approx(one.item(), abs=1e-6)
    assert motion_loss(features, [[10, 10]], [[10.0, 11.0]], 2).item() == 0


def test_mask_loss_counts_only_the_fixed_region():
    features, reference = _planted_map(8, 8, seed=1), _planted_map(8, 8, seed=2)
    movable = torch.zeros(8, 8)
    movable[:, :4] = 1
    expected = 20 * (features - reference)[..., 4:].abs().sum() / features.numel()
    assert mask_loss(features, reference, movable, 20).item() == pytest.approx(expected.item())
    assert mask_loss(features, reference, torch.ones(8, 8), 20).item() == 0


def test_stop_flag_uses_the_stop_distance():
    assert is_done([[10, 10]], [[10.0, 12.0]], 2.0)  # exactly at the distance: done
    assert not is_done([[10, 10]], [[10.0, 12.5]], 2.0)
    assert not is_done([[10, 10], [5, 5]], [[10.0, 11.0], [9.0, 5.0]], 2.0)


def test_references_are_the_upsampled_map_at_rounded_handles():
    feature_map = _planted_map(8, 8, channels=3)
    references = take_references(feature_map, (16, 16), [(3.4, 10.6), (15.0, 0.0)])
    upsampled = torch.nn.functional.interpolate(feature_map, [16, 16], mode="bilinear")
    assert references.handle_features.shape == (2, 3)
    torch.testing.assert_close(references.handle_features[0], upsampled[0, :, 3, 11])
    torch.testing.assert_close(references.handle_features[1], upsampled[0, :, 15, 0])
    assert references.feature_map is not None and not references.feature_map.requires_grad


def _config(latent_space):
    return DragConfig(latent_space, 2, 0, 1, 1, 20.0, "l2", 2.0, "const")


def test_styles_take_the_optimised_rows_then_w0():
    w0 = torch.randn(1, 5, 3)
    w_plus = torch.randn(1, 5, 3)
    styles = build_styles(w_plus, w0, _config("w+"))
    torch.testing.assert_close(styles, torch.cat([w_plus[:, :2], w0[:, 2:]], dim=1))
    w = torch.randn(1, 3)
    styles = build_styles(w, w0, _config("w"))
    torch.testing.assert_close(styles, torch.cat([w[:, None], w[:, None], w0[:, 2:]], dim=1))


def test_image_to_uint8_is_the_official_conversion():
    img = torch.tensor([-1.5, -1.0, 0.0, 0.999, 1.0]).reshape(1, 1, 1, 5).expand(1, 3, 1, 5)
    pixels = image_to_uint8(img)
    assert pixels.shape == (1, 5, 3) and pixels.dtype == torch.uint8
    assert pixels[0, :, 0].tolist() == [0, 0, 128, 255, 255]


def test_backends_are_found_by_name():
    backend = create_backend("reference")
    assert isinstance(backend, ReferenceBackend)
    assert "reference" in backend.describe(torch.device("cpu"))
    with pytest.raises(ValueError, match=r"unknown backend 'nope'.*reference"):
        create_backend("nope")
