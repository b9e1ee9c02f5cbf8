"""Mask term, the fused op (DRAGGAN_FAST_OPS: torch on the CPU, triton on CUDA) vs
its reference (forward + backward), side by side in one run:
`pytest benches/bench_mask.py --benchmark-only`.

The reference upsamples both feature maps to [C, H, W] as the official code does; the op reads
the native maps only. Half of the image is movable.
"""

import pytest
import torch

from draggan_fast.dispatch import ENV_VAR
from draggan_fast.kernels import mask_loss


def _bench(timed_rounds, monkeypatch, implementation, channels, native, image, device, rounds):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(1, channels, native, native, generator=generator).to(device)
    features.requires_grad_(True)
    reference_features = torch.randn(1, channels, native, native, generator=generator).to(device)
    movable = torch.zeros(image, image, device=device)
    movable[:, : image // 2] = 1
    monkeypatch.setenv(ENV_VAR, f"mask_loss={implementation}")  # the public function runs it

    def forward_backward():
        loss = mask_loss(features, reference_features, movable)
        return torch.autograd.grad(loss, features)[0]

    group = f"mask {channels}x{native}^2 -> {image}px, {device}"
    timed_rounds(group, forward_backward, device, rounds)


@pytest.mark.parametrize("implementation", ["torch", "reference"])
def test_mask_256_cpu(timed_rounds, monkeypatch, implementation):
    _bench(timed_rounds, monkeypatch, implementation, 128, 128, 256, "cpu", rounds=5)


@pytest.mark.cuda
@pytest.mark.parametrize("implementation", ["triton", "reference"])
@pytest.mark.parametrize("image", [512, 1024])
def test_mask_cuda(timed_rounds, monkeypatch, implementation, image):
    _bench(timed_rounds, monkeypatch, implementation, 256, 128, image, "cuda", rounds=20)
