"""Mask term: its definition and the `draggan_fast::mask_loss` op.

    mask term = mean over [C, H, W] of |U * (1 - M) - U0 * (1 - M)|

U and U0 are the current and the starting feature maps bilinearly upsampled to the image, M the
movable region [H, W] (1 = may change, floats allowed). `mask_term` is the definition, the
official DragGAN formulation on U and U0 (the reference step calls it on its maps, the op's
reference on float32 ones). The caller multiplies by lambda. The gradient flows into the current
features only. Fast implementations: kernels/mask_triton.py (CUDA) and kernels/mask_torch.py
(vectorised PyTorch); neither builds U at image size.
"""

import torch
import torch.nn.functional as F

from draggan_fast import dispatch
from draggan_fast.kernels.implementations import drag_implementations, fast_module
from draggan_fast.kernels.validation import check_features, check_image_size

dispatch.register("mask_loss", "drag", drag_implementations("mask"))


def mask_term(upsampled, upsampled_reference, movable_mask):
    """The official mask term: l1(U * (1 - M), U0 * (1 - M)), a 0-d tensor.

    upsampled, upsampled_reference: [1, C, H, W] U and U0 (any float dtype; U0 is not
    differentiated); movable_mask: [H, W] (bool or float, 1 = movable).
    """
    fixed = 1 - movable_mask.float()  # [H, W]: 1 where the features must stay
    return F.l1_loss(upsampled * fixed, upsampled_reference.detach() * fixed)


def mask_loss_reference(features, reference_features, movable_mask):
    """The op's reference: `mask_term` on U and U0 upsampled in float32 (as the kernels compute
    them from the native values): a float32 scalar."""
    image_size = list(movable_mask.shape)
    upsampled = F.interpolate(features.float(), image_size, mode="bilinear")  # [1, C, H, W]
    upsampled_reference = F.interpolate(reference_features.float(), image_size, mode="bilinear")
    return mask_term(upsampled, upsampled_reference, movable_mask)


def _mean_scale(features, movable_mask):
    return 1.0 / (features.shape[1] * movable_mask.shape[0] * movable_mask.shape[1])


@torch.library.custom_op("draggan_fast::mask_loss", mutates_args=())
def _mask_loss_op(
    features: torch.Tensor, reference_features: torch.Tensor, movable_mask: torch.Tensor
) -> torch.Tensor:
    total = fast_module("mask_loss", "mask", features.device).mask_sum(
        features, reference_features, movable_mask
    )
    return total * _mean_scale(features, movable_mask)


@_mask_loss_op.register_fake
def _(features, reference_features, movable_mask):
    return features.new_empty((), dtype=torch.float32)


@torch.library.custom_op("draggan_fast::mask_loss_backward", mutates_args=())
def _mask_loss_backward_op(
    grad_loss: torch.Tensor,
    features: torch.Tensor,
    reference_features: torch.Tensor,
    movable_mask: torch.Tensor,
) -> torch.Tensor:
    grad_sum = grad_loss.to(torch.float32) * _mean_scale(features, movable_mask)
    return fast_module("mask_loss", "mask", features.device).mask_grad(
        features, reference_features, movable_mask, grad_sum
    )


@_mask_loss_backward_op.register_fake
def _(grad_loss, features, reference_features, movable_mask):
    return torch.empty_like(features)


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _backward(ctx, grad_loss):
    features, reference_features, movable_mask = ctx.saved_tensors
    grad_features = torch.ops.draggan_fast.mask_loss_backward(
        grad_loss, features, reference_features, movable_mask
    )
    return grad_features, None, None


_mask_loss_op.register_autograd(_backward, setup_context=_setup_context)


def mask_loss(features, reference_features, movable_mask):
    """Mean |U (1 - M) - U0 (1 - M)| (float32 scalar) without building the upsampled maps.

    features, reference_features: [1, C, h, w] (same shape and device; the reference is not
    differentiated); movable_mask: [H, W] (bool or float, 1 = movable) at the image size.
    Runs the implementation `draggan_fast.dispatch` chooses (DRAGGAN_FAST_OPS, e.g.
    `mask_loss=torch`).
    """
    check_features(features, "features")
    check_features(reference_features, "reference_features", like=features)
    if not isinstance(movable_mask, torch.Tensor) or movable_mask.ndim != 2:
        raise ValueError("movable_mask must be an [H, W] tensor at the image size")
    if movable_mask.device != features.device:
        raise ValueError(
            f"movable_mask must be on {features.device} like the features, "
            f"got {movable_mask.device}"
        )
    check_image_size(tuple(movable_mask.shape))
    if movable_mask.dtype == torch.bool:
        movable_mask = movable_mask.to(torch.float32)
    if dispatch.runs("mask_loss", features.device.type, "reference"):
        return mask_loss_reference(features, reference_features.detach(), movable_mask)
    return _mask_loss_op(features, reference_features.detach(), movable_mask)
