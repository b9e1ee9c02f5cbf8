"""draggan_fast::motion_loss (vectorised PyTorch and Triton) against motion_loss_reference, the
definition (`motion_supervision`) on the float32 upsampled map."""

import pytest
import torch
import torch.nn.functional as F

from draggan_fast.kernels import motion_loss, motion_loss_reference
from draggan_fast.kernels.motion import motion_samples
from tests.conftest import requires_cuda
from tests.kernels.drag_cases import (
    CPU_SHAPES,
    TRITON_SHAPES,
    random_features,
    random_points,
    random_targets,
)


def _radius(image):
    return max(2, round(3 * image / 512))


def _sign_tie_allowance(features, handles, targets, image, radius):
    """How far the gradient may move when rounding flips sign(U(q) - S(q)) at near-ties.

    Each disk element with |U(q) - S(q)| < 1e-5 (from the definition's own samples) may take the
    other sign in an implementation that rounds differently; it moves any native gradient entry
    by at most 2 / (C * disk size).
    """
    upsampled = F.interpolate(features.float(), [image, image], mode="bilinear")
    allowance = 0.0
    for handle, target in zip(handles.tolist(), targets.tolist()):
        samples = motion_samples(upsampled, handle, target, radius)
        if samples is not None:
            values, shifted = samples  # [1, C, P] each
            ties = ((values - shifted).abs() < 1e-5).sum().item()
            allowance += 2 * ties / values.numel()
    return allowance


def _check_against_reference(channels, native, image, count, seed, fractional=True, device="cpu"):
    features = random_features(channels, native, seed, device=device).requires_grad_(True)
    handles = random_points(count, image, seed, fractional=fractional).to(device)
    targets = random_targets(handles.cpu(), image, seed).to(device)
    radius = _radius(image)

    expected = motion_loss_reference(features, handles, targets, (image, image), radius)
    (expected_grad,) = torch.autograd.grad(expected.sum(), features)
    terms = motion_loss(features, handles, targets, (image, image), radius)
    (grad,) = torch.autograd.grad(terms.sum(), features)

    assert terms.shape == (count,) and terms.dtype == torch.float32
    torch.testing.assert_close(terms, expected, rtol=1e-5, atol=1e-6)
    assert expected.abs().sum() > 0  # the case exercises the loss
    allowance = _sign_tie_allowance(
        features.detach().cpu(), handles.cpu(), targets.cpu(), image, radius
    )
    assert (grad - expected_grad).abs().max().item() <= 1e-6 + allowance
    assert expected_grad.abs().sum() > 0


@pytest.mark.parametrize("channels, native, image, count", CPU_SHAPES)
def test_torch_implementation_matches_reference(channels, native, image, count):
    _check_against_reference(channels, native, image, count, seed=native + count)


@pytest.mark.parametrize("channels, native, image, count", TRITON_SHAPES)
def test_triton_kernel_matches_reference(on_triton, channels, native, image, count):
    _check_against_reference(
        channels, native, image, count, seed=native + count + 1, device=on_triton
    )


def test_integer_handles_like_after_tracking():
    _check_against_reference(6, 32, 128, 5, seed=3, fractional=False)


def test_handles_near_their_targets_and_empty_disks_give_zero():
    features = random_features(4, 16, seed=0).requires_grad_(True)
    handles = torch.tensor([[10.0, 10.0], [30.0, 40.0]])
    targets = handles + torch.tensor([[0.6, 0.7], [-1.0, 0.0]])  # |d| < 1 and |d| == 1
    terms = motion_loss(features, handles, targets, (64, 64), 2)
    assert terms.tolist() == [0.0, 0.0]
    far = handles + 10
    assert motion_loss(features, handles, far, (64, 64), 0).tolist() == [0.0, 0.0]
    (grad,) = torch.autograd.grad(terms.sum(), features)
    assert grad.abs().sum() == 0


def test_no_handles():
    features = random_features(4, 16, seed=0)
    empty = torch.zeros(0, 2)
    assert motion_loss(features, empty, empty, (64, 64), 2).shape == (0,)


def test_opcheck():
    features = random_features(5, 16, seed=1).requires_grad_(True)
    handles = random_points(5, 64, seed=1, fractional=True)
    targets = random_targets(handles, 64, seed=1)
    torch.library.opcheck(
        torch.ops.draggan_fast.motion_loss.default, (features, handles, targets, 64, 64, 2)
    )
    grad_terms = torch.rand(5)
    torch.library.opcheck(
        torch.ops.draggan_fast.motion_loss_backward.default,
        (grad_terms, features.detach(), handles, targets, 64, 64, 2),
    )


def test_compiles_fullgraph():
    features = random_features(4, 16, seed=2).requires_grad_(True)
    handles = random_points(3, 64, seed=2)
    targets = random_targets(handles, 64, seed=2)

    def loss(values):
        return motion_loss(values, handles, targets, (64, 64), 2).sum()

    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    (grad,) = torch.autograd.grad(compiled(features), features)
    (expected,) = torch.autograd.grad(loss(features), features)
    torch.testing.assert_close(grad, expected)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"features": torch.zeros(2, 3, 8, 8)}, r"\[1, C, h, w\]"),
        ({"handles": torch.zeros(3, 3)}, r"\[K, 2\]"),
        ({"handles": torch.zeros(3, 2, dtype=torch.float64)}, "float32"),
        ({"targets": torch.zeros(2, 2)}, "same shape"),
        ({"image_size": (64,)}, "image_size"),
        ({"radius": 1.5}, "radius"),
        ({"radius": float("nan")}, "radius must be a non-negative integer"),
    ],
)
def test_bad_input_is_named(bad, message):
    arguments = {
        "features": torch.zeros(1, 3, 8, 8),
        "handles": torch.zeros(3, 2),
        "targets": torch.ones(3, 2),
        "image_size": (64, 64),
        "radius": 2,
    }
    arguments.update(bad)
    with pytest.raises((ValueError, TypeError), match=message):
        motion_loss(**arguments)


@requires_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_on_cuda(dtype):
    features = random_features(32, 64, seed=5, dtype=dtype, device="cuda").requires_grad_(True)
    handles = random_points(5, 256, seed=5, fractional=True).cuda()
    targets = random_targets(handles.cpu(), 256, seed=5).cuda()
    expected = motion_loss_reference(features.float(), handles, targets, (256, 256), 2)
    terms = motion_loss(features, handles, targets, (256, 256), 2)
    (grad,) = torch.autograd.grad(terms.sum(), features)
    assert grad.dtype == dtype
    tolerance = 2e-2 if dtype == torch.bfloat16 else 2e-3
    torch.testing.assert_close(terms, expected, rtol=tolerance, atol=tolerance)


def test_triton_kernel_with_the_gpu_block_sizes(on_triton, monkeypatch):
    """Several pixel and channel blocks per handle, as on a GPU (larger blocks interpreted)."""
    from draggan_fast.kernels import motion_triton

    monkeypatch.setattr(motion_triton, "_BLOCK_P", 64)
    monkeypatch.setattr(motion_triton, "_BLOCK_C", 32)
    features = random_features(40, 16, seed=8, device=on_triton).requires_grad_(True)
    handles = random_points(2, 64, seed=8, fractional=True).to(on_triton)
    targets = random_targets(handles.cpu(), 64, seed=8).to(on_triton)
    expected = motion_loss_reference(features, handles, targets, (64, 64), 4)  # 121 candidates
    (expected_grad,) = torch.autograd.grad(expected.sum(), features)
    terms = motion_loss(features, handles, targets, (64, 64), 4)
    (grad,) = torch.autograd.grad(terms.sum(), features)
    torch.testing.assert_close(terms, expected, rtol=1e-5, atol=1e-6)
    allowance = _sign_tie_allowance(features.detach().cpu(), handles.cpu(), targets.cpu(), 64, 4)
    assert (grad - expected_grad).abs().max().item() <= 1e-6 + allowance
