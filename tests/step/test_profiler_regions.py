"""Both backends' steps mark the profiler regions the benchmark breaks its time into."""

import numpy as np
import pytest
from torch.profiler import ProfilerActivity, profile

from draggan_fast import DragSession

STEP_REGIONS = {
    "draggan/forward_features", "draggan/synthesis_rest", "draggan/tracking", "draggan/motion",
    "draggan/mask", "draggan/backward", "draggan/optimizer", "draggan/image_transfer",
}  # fmt: skip


def _region_counts(prof):
    return {event.key: event.count for event in prof.key_averages() if event.key in STEP_REGIONS}


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_a_rendered_masked_step_marks_every_region_once(tiny_G, backend):
    session = DragSession(tiny_G, lr=0.05, backend=backend)
    session.add_point((10, 12), (25, 18))
    session.set_mask(np.ones([32, 32], bool))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        result = session.step(render=True)
        assert result.image.shape == (32, 32, 3)  # the fast backend transfers it when read
    assert _region_counts(prof) == dict.fromkeys(STEP_REGIONS, 1)


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_an_unrendered_step_skips_the_rest_of_the_synthesis(tiny_G, backend):
    session = DragSession(tiny_G, lr=0.05, backend=backend)
    session.add_point((10, 12), (25, 18))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        session.step(render=False)
    counts = _region_counts(prof)
    assert "draggan/synthesis_rest" not in counts and "draggan/image_transfer" not in counts
    assert "draggan/mask" not in counts  # no mask set: no mask term
    assert counts["draggan/forward_features"] == counts["draggan/backward"] == 1
