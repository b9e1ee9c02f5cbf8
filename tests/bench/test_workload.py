"""The benchmark's drag: points inside the image, targets out of reach, a centred mask."""

import math

import numpy as np
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


def test_session_gets_the_points_and_mask():
    from draggan_fast.bench.presets import build_preset_generator
    from draggan_fast.bench.workload import make_session

    generator = build_preset_generator("tiny")
    workload = DragWorkload(handles=3, mask=True)
    session = make_session(generator, workload, "reference", "cpu", compile_step=False)
    expected = np.array(handle_target_pairs(3, 64))  # [K, 2 (handle, target), 2 (x, y)]
    np.testing.assert_allclose(session.handles, expected[:, 0], atol=1e-5)
    np.testing.assert_allclose(session.targets, expected[:, 1], atol=1e-5)
    assert (session.movable_mask > 0).tolist() == movable_mask(64).tolist()


def test_compile_of_the_reference_backend_compiles_the_synthesis_blocks():
    from draggan_fast.bench.presets import build_preset_generator
    from draggan_fast.bench.workload import compile_method, make_session

    generator = build_preset_generator("tiny")
    make_session(generator, DragWorkload(), "reference", "cpu", compile_step=True)
    assert all(block._compiled_call_impl is not None for block in generator.synthesis.blocks)
    assert "synthesis block" in compile_method("reference")
    assert compile_method("fast") == "DragSession(compile=True)"


def test_no_cuda_graph_applies_to_the_fast_backend_only():
    from draggan_fast.bench import presets
    from draggan_fast.bench.runner import BenchOptions, configuration_spec

    options = BenchOptions(
        source=presets.describe_source("tiny", None), backends=["fast", "reference"],
        device="cpu", eager_fast=True,
    )  # fmt: skip
    fast, reference = (configuration_spec(options, backend) for backend in options.backends)
    assert (fast["label"], fast["cuda_graph"]) == ("fast-nograph", False)
    assert (reference["label"], reference["cuda_graph"]) == ("reference", None)
    options.eager_fast = False
    assert configuration_spec(options, "fast")["cuda_graph"] is None  # the session's default


def test_the_workload_session_takes_the_cuda_graph_setting():
    from draggan_fast.bench.presets import build_preset_generator
    from draggan_fast.bench.workload import make_session

    generator = build_preset_generator("tiny")
    session = make_session(generator, DragWorkload(), "fast", "cpu", False, cuda_graph=True)
    assert "CUDA graph (cuda_graph=True" in session.backend
    session = make_session(generator, DragWorkload(), "fast", "cpu", False, cuda_graph=False)
    assert session.hyperparameters["cuda_graph"] is False and "CUDA graph" not in session.backend
