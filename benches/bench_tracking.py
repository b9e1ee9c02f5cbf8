"""Point tracking, fused op vs reference, side by side in one run:
`pytest benches/bench_tracking.py --benchmark-only`.

Tracking radius round(12 * H / 512), L2 distance; the reference upsamples the whole map first,
as the official code does, and loops over handles on the host.
"""

import pytest
import torch

from draggan_fast.kernels import sample_upsampled, track_handles, track_handles_reference

IMPLEMENTATIONS = {"op": track_handles, "reference": track_handles_reference}


def _bench(timed_rounds, implementation, channels, native, image, count, device, rounds):
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(1, channels, native, native, generator=generator).to(device)
    features = start + 0.3 * torch.randn(start.shape, generator=generator).to(device)
    handles = torch.randint(0, image, (count, 2), generator=generator).float().to(device)
    references = sample_upsampled(start, handles, (image, image))
    radius = round(12 * image / 512)
    function = IMPLEMENTATIONS[implementation]

    def track():
        return function(features, references, handles, (image, image), radius)

    group = f"tracking {channels}x{native}^2 -> {image}px, {count} handles, {device}"
    timed_rounds(group, track, device, rounds)


@pytest.mark.parametrize("implementation", ["op", "reference"])
@pytest.mark.parametrize("count", [1, 5])
def test_tracking_256_cpu(timed_rounds, implementation, count):
    _bench(timed_rounds, implementation, 128, 128, 256, count, "cpu", rounds=5)


@pytest.mark.cuda
@pytest.mark.parametrize("implementation", ["op", "reference"])
@pytest.mark.parametrize("image, count", [(512, 5), (1024, 5), (1024, 68)])
def test_tracking_cuda(timed_rounds, implementation, image, count):
    _bench(timed_rounds, implementation, 256, 128, image, count, "cuda", rounds=20)
