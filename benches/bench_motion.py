"""Motion supervision, the fused op (DRAGGAN_FAST_OPS: torch on the CPU, triton on CUDA) vs
its reference (forward + backward), side by side in one run:
`pytest benches/bench_motion.py --benchmark-only`.

Shapes are those of real drags: the 128x128 feature block of config-f generators (128 channels
at 256 px, 256 at 512 and 1024 px), motion radius round(3 * H / 512). The reference materialises
the upsampled [C, H, W] map as the official code does; the op reads the native map only.
"""

import pytest
import torch

from draggan_fast.dispatch import ENV_VAR
from draggan_fast.kernels import motion_loss


def _inputs(channels, native, image, count, device):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(1, channels, native, native, generator=generator).to(device)
    handles = torch.randint(0, image, (count, 2), generator=generator).float().to(device)
    targets = (handles + 20 * torch.randn(count, 2, generator=generator).to(device)).contiguous()
    return features.requires_grad_(True), handles, targets


def _bench(
    timed_rounds, monkeypatch, implementation, channels, native, image, count, device, rounds
):
    features, handles, targets = _inputs(channels, native, image, count, device)
    radius = round(3 * image / 512)
    monkeypatch.setenv(ENV_VAR, f"motion_loss={implementation}")  # the public function runs it

    def forward_backward():
        terms = motion_loss(features, handles, targets, (image, image), radius)
        return torch.autograd.grad(terms.sum(), features)[0]

    group = f"motion {channels}x{native}^2 -> {image}px, {count} handles, {device}"
    timed_rounds(group, forward_backward, device, rounds)


@pytest.mark.parametrize("implementation", ["torch", "reference"])
@pytest.mark.parametrize("count", [1, 5])
def test_motion_256_cpu(timed_rounds, monkeypatch, implementation, count):
    _bench(timed_rounds, monkeypatch, implementation, 128, 128, 256, count, "cpu", rounds=5)


@pytest.mark.cuda
@pytest.mark.parametrize("implementation", ["triton", "reference"])
@pytest.mark.parametrize("image, channels, count", [(512, 256, 5), (1024, 256, 5), (1024, 256, 68)])
def test_motion_cuda(timed_rounds, monkeypatch, implementation, image, channels, count):
    _bench(
        timed_rounds, monkeypatch, implementation, channels, 128, image, count, "cuda", rounds=20
    )
