"""Mask term, fused op vs reference (forward + backward), side by side in one run:
`pytest benches/bench_mask.py --benchmark-only`.

The reference upsamples both feature maps to [C, H, W] as the official code does; the op reads
the native maps only. Half of the image is movable.
"""

import pytest
import torch

from draggan_fast.kernels import mask_loss, mask_loss_reference

IMPLEMENTATIONS = {"op": mask_loss, "reference": mask_loss_reference}


def _bench(timed_rounds, implementation, channels, native, image, device, rounds):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(1, channels, native, native, generator=generator).to(device)
    features.requires_grad_(True)
    reference_features = torch.randn(1, channels, native, native, generator=generator).to(device)
    movable = torch.zeros(image, image, device=device)
    movable[:, : image // 2] = 1
    function = IMPLEMENTATIONS[implementation]

    def forward_backward():
        loss = function(features, reference_features, movable)
        return torch.autograd.grad(loss, features)[0]

    group = f"mask {channels}x{native}^2 -> {image}px, {device}"
    timed_rounds(group, forward_backward, device, rounds)


@pytest.mark.parametrize("implementation", ["op", "reference"])
def test_mask_256_cpu(timed_rounds, implementation):
    _bench(timed_rounds, implementation, 128, 128, 256, "cpu", rounds=5)


@pytest.mark.cuda
@pytest.mark.parametrize("implementation", ["op", "reference"])
@pytest.mark.parametrize("image", [512, 1024])
def test_mask_cuda(timed_rounds, implementation, image):
    _bench(timed_rounds, implementation, 256, 128, image, "cuda", rounds=20)
