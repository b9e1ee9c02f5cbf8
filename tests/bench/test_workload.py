"""The benchmark's drag: points inside the image, targets out of reach, a centred mask."""

import math

import pytest

from draggan_fast.bench.workload import DragWorkload, handle_target_pairs, movable_mask


@pytest.mark.parametrize("handles", [1, 3, 8])
@pytest.mark.parametrize("resolution", [64, 256, 1024])
def test_points_lie_inside_and_targets_far(handles, resolution):
    pairs = handle_target_pairs(handles, resolution)
    assert len(pairs) == handles
    for handle, target in pairs:
        for x, y in (handle, target):
            assert 0 <= x <= resolution - 1 and 0 <= y <= resolution - 1
        assert math.dist(handle, target) >= 0.15 * resolution
    assert len({target for _, target in pairs}) == handles


def test_movable_mask_is_a_centred_square():
    mask = movable_mask(64)
    assert mask.shape == (64, 64) and mask.dtype == bool
    assert mask[32, 32] and not mask[0, 0] and not mask[63, 63]
    assert mask.sum() == 32 * 32


def test_render_schedule():
    assert [DragWorkload(render_every=3).renders(i) for i in range(6)] == [
        True, False, False, True, False, False,
    ]  # fmt: skip
    assert not any(DragWorkload(render_every=0).renders(i) for i in range(4))


@pytest.mark.parametrize("kwargs", [{"handles": 0}, {"render_every": -1}])
def test_bad_workloads_are_refused(kwargs):
    with pytest.raises(ValueError):
        DragWorkload(**kwargs)
