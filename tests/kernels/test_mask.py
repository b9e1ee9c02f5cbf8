"""draggan_fast::mask_loss (vectorised PyTorch and Triton) against mask_loss_reference, the
definition (`mask_term`) on the float32 upsampled maps."""

import pytest
import torch

from draggan_fast.kernels import mask_loss, mask_loss_reference, mask_torch
from tests.conftest import requires_cuda
from tests.kernels.drag_cases import (
    CPU_SHAPES,
    TRITON_SHAPES,
    random_features,
)


def _movable_mask(image, seed, kind):
    generator = torch.Generator().manual_seed(seed)
    if kind == "random":
        return (torch.rand(image, image, generator=generator) > 0.5).float()
    if kind == "soft":
        return torch.rand(image, image, generator=generator)  # floats are allowed
    mask = torch.zeros(image, image)  # a movable rectangle touching the top border
    mask[: image // 2, image // 4 : image // 2 + 3] = 1
    return mask


def _check_against_reference(channels, native, image, seed, kind, device="cpu"):
    features = random_features(channels, native, seed, device=device).requires_grad_(True)
    reference_features = random_features(channels, native, seed + 100, device=device)
    movable = _movable_mask(image, seed, kind).to(device)

    expected = mask_loss_reference(features, reference_features, movable)
    (expected_grad,) = torch.autograd.grad(expected, features)
    loss = mask_loss(features, reference_features, movable)
    (grad,) = torch.autograd.grad(loss, features)

    assert loss.shape == () and loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-7)
    # U and U0 differ everywhere here, so no element sits at a sign tie.
    scale = expected_grad.abs().max().item()
    torch.testing.assert_close(grad, expected_grad, rtol=1e-4, atol=1e-6 * scale)
    assert scale > 0


@pytest.mark.parametrize("kind", ["random", "soft", "rectangle"])
@pytest.mark.parametrize("channels, native, image, count", CPU_SHAPES[:5])
def test_torch_implementation_matches_reference(channels, native, image, count, kind):
    _check_against_reference(channels, native, image, seed=native, kind=kind)


@pytest.mark.parametrize("native", [32, 24])  # whole-multiple scale (crops) and 64 / 24 (taps)
def test_torch_implementation_works_in_bands(monkeypatch, native):
    monkeypatch.setattr(mask_torch, "_BAND_ELEMENTS", 3 * 128 * 7)  # small bands, a short last one
    _check_against_reference(3, native, 128, seed=4, kind="random")


def test_torch_implementation_at_a_fractional_scale():
    _check_against_reference(4, 24, 64, seed=5, kind="rectangle")


@pytest.mark.parametrize("channels, native, image, count", TRITON_SHAPES)
def test_triton_kernel_matches_reference(on_triton, channels, native, image, count):
    _check_against_reference(
        channels, native, image, seed=native + 1, kind="random", device=on_triton
    )


def test_triton_kernel_soft_mask(on_triton):
    _check_against_reference(3, 16, 64, seed=9, kind="soft", device=on_triton)


def test_everything_movable_gives_zero():
    features = random_features(4, 16, seed=0).requires_grad_(True)
    loss = mask_loss(features, random_features(4, 16, seed=1), torch.ones(64, 64, dtype=torch.bool))
    assert loss.item() == 0.0
    (grad,) = torch.autograd.grad(loss, features)
    assert grad.abs().sum() == 0


def test_unchanged_features_give_zero():
    features = random_features(4, 16, seed=0)
    assert mask_loss(features, features.clone(), torch.zeros(64, 64)).item() == 0.0


def test_opcheck():
    features = random_features(3, 16, seed=1).requires_grad_(True)
    reference = random_features(3, 16, seed=2)
    movable = _movable_mask(64, 1, "random")
    torch.library.opcheck(torch.ops.draggan_fast.mask_loss.default, (features, reference, movable))
    torch.library.opcheck(
        torch.ops.draggan_fast.mask_loss_backward.default,
        (torch.tensor(0.7), features.detach(), reference, movable),
    )


def test_compiles_fullgraph():
    features = random_features(3, 16, seed=2).requires_grad_(True)
    reference = random_features(3, 16, seed=3)
    movable = _movable_mask(64, 2, "random")
    compiled = torch.compile(mask_loss, fullgraph=True, backend="aot_eager")
    (grad,) = torch.autograd.grad(compiled(features, reference, movable), features)
    (expected,) = torch.autograd.grad(mask_loss(features, reference, movable), features)
    torch.testing.assert_close(grad, expected)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"features": torch.zeros(1, 3, 8)}, r"\[1, C, h, w\]"),
        ({"reference_features": torch.zeros(1, 4, 8, 8)}, "must match features"),
        ({"movable_mask": torch.zeros(64)}, r"\[H, W\]"),
        ({"movable_mask": torch.zeros(1, 64)}, "image_size"),
    ],
)
def test_bad_input_is_named(bad, message):
    arguments = {
        "features": torch.zeros(1, 3, 8, 8),
        "reference_features": torch.zeros(1, 3, 8, 8),
        "movable_mask": torch.zeros(64, 64),
    }
    arguments.update(bad)
    with pytest.raises((ValueError, TypeError), match=message):
        mask_loss(**arguments)


@requires_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_on_cuda(dtype):
    features = random_features(32, 64, seed=5, dtype=dtype, device="cuda").requires_grad_(True)
    reference = random_features(32, 64, seed=6, dtype=dtype, device="cuda")
    movable = _movable_mask(256, 5, "random").cuda()
    expected = mask_loss_reference(features.float(), reference.float(), movable)
    loss = mask_loss(features, reference, movable)
    (grad,) = torch.autograd.grad(loss, features)
    assert grad.dtype == dtype
    torch.testing.assert_close(loss, expected, rtol=1e-3, atol=1e-5)


def test_triton_kernel_with_the_gpu_block_sizes(on_triton, monkeypatch):
    """Several channel blocks per program, as on a GPU (larger blocks interpreted)."""
    from draggan_fast.kernels import mask_triton

    monkeypatch.setattr(mask_triton, "_BLOCK_P", 1024)
    monkeypatch.setattr(mask_triton, "_BLOCK_C", 16)
    _check_against_reference(20, 16, 64, seed=11, kind="random", device=on_triton)
