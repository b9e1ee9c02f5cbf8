"""The reference step marks the profiler regions the benchmark breaks its time into."""

import numpy as np
from torch.profiler import ProfilerActivity, profile

from draggan_fast import DragSession

STEP_REGIONS = {
    "draggan/forward_features", "draggan/synthesis_rest", "draggan/tracking", "draggan/motion",
    "draggan/mask", "draggan/backward", "draggan/optimizer", "draggan/image_transfer",
}  # fmt: skip


def _region_counts(prof):
    return {event.key: event.count for event in prof.key_averages() if event.key in STEP_REGIONS}


def test_a_rendered_masked_step_marks_every_region(tiny_G):
    session = DragSession(tiny_G, lr=0.05)
    session.add_point((10, 12), (25, 18))
    session.set_mask(np.ones([32, 32], bool))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        session.step(render=True)
    assert _region_counts(prof) == dict.fromkeys(STEP_REGIONS, 1)


def test_an_unrendered_step_skips_the_rest_of_the_synthesis(tiny_G):
    session = DragSession(tiny_G, lr=0.05)
    session.add_point((10, 12), (25, 18))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        session.step(render=False)
    counts = _region_counts(prof)
    assert "draggan/synthesis_rest" not in counts and "draggan/image_transfer" not in counts
    assert "draggan/mask" not in counts  # no mask set: no mask term
    assert counts["draggan/forward_features"] == counts["draggan/backward"] == 1
