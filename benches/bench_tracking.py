"""Point tracking, the fused op (DRAGGAN_FAST_OPS: torch on the CPU, triton on CUDA) vs
its reference, side by side in one run:
`pytest benches/bench_tracking.py --benchmark-only`.

Tracking radius round(12 * H / 512), L2 distance; the reference upsamples the whole map first,
as the official code does, and loops over handles on the host.
"""

import pytest
import torch

from draggan_fast.dispatch import ENV_VAR
from draggan_fast.kernels import sample_upsampled, track_handles


def _bench(
    timed_rounds, monkeypatch, implementation, channels, native, image, count, device, rounds
):
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(1, channels, native, native, generator=generator).to(device)
    features = start + 0.3 * torch.randn(start.shape, generator=generator).to(device)
    handles = torch.randint(0, image, (count, 2), generator=generator).float().to(device)
    references = sample_upsampled(start, handles, (image, image))
    radius = round(12 * image / 512)
    monkeypatch.setenv(ENV_VAR, f"track_handles={implementation}")  # the public function runs it

    def track():
        return track_handles(features, references, handles, (image, image), radius)

    group = f"tracking {channels}x{native}^2 -> {image}px, {count} handles, {device}"
    timed_rounds(group, track, device, rounds)


@pytest.mark.parametrize("implementation", ["torch", "reference"])
@pytest.mark.parametrize("count", [1, 5])
def test_tracking_256_cpu(timed_rounds, monkeypatch, implementation, count):
    _bench(timed_rounds, monkeypatch, implementation, 128, 128, 256, count, "cpu", rounds=5)


@pytest.mark.cuda
@pytest.mark.parametrize("implementation", ["triton", "reference"])
@pytest.mark.parametrize("image, count", [(512, 5), (1024, 5), (1024, 68)])
def test_tracking_cuda(timed_rounds, monkeypatch, implementation, image, count):
    _bench(timed_rounds, monkeypatch, implementation, 256, 128, image, count, "cuda", rounds=20)
