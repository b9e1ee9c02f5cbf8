"""Phase times from Chrome traces: synthetic traces with known answers, then a real one."""

import json

import pytest
import torch

from draggan_fast.bench import measure, presets, trace
from draggan_fast.bench.progress import ProgressLine
from draggan_fast.bench.workload import DragWorkload, make_session
from tests.conftest import requires_cuda


def _event(name, start, duration, category=trace.HOST_CATEGORY):
    return {"ph": "X", "cat": category, "name": name, "ts": start, "dur": duration, "pid": 1}


def test_phase_totals_count_nested_regions_once():
    events = [
        _event("draggan/forward_features", 0.0, 100.0),
        _event("draggan/tracking", 100.0, 10.0),
        _event("draggan/motion", 105.0, 20.0),  # overlaps tracking by 5
        _event("draggan/backward", 200.0, 50.0),
        _event("draggan/optimizer", 210.0, 5.0),  # nested in backward
        _event("aten::conv2d", 0.0, 1000.0, category="cpu_op"),  # not a region
        _event("draggan/forward_features", 0.0, 999.0, category="gpu_user_annotation"),
        {"ph": "M", "name": "process_name", "pid": 1},
    ]
    totals, covered = trace.phase_totals_us({"traceEvents": events})
    assert totals["draggan/forward_features"] == 100.0
    assert totals["draggan/motion"] == 20.0
    assert totals["draggan/optimizer"] == 5.0
    assert totals["draggan/mask"] == 0.0
    assert covered == 100.0 + 25.0 + 50.0


def _launch(correlation, start, category="cuda_runtime"):
    return {"ph": "X", "cat": category, "name": "cudaLaunchKernel", "ts": start, "dur": 1.0,
            "tid": 7, "args": {"correlation": correlation}}  # fmt: skip


def _kernel(correlation, start, duration):
    return {"ph": "X", "cat": "kernel", "name": "gemm", "ts": start, "dur": duration,
            "args": {"correlation": correlation}}  # fmt: skip


def _cuda_trace():
    """Two host regions; kernels run later than their launches, one from another thread."""
    return {
        "traceEvents": [
            _event("draggan/forward_features", 0.0, 100.0),
            _event("draggan/backward", 100.0, 100.0),
            _event("draggan/optimizer", 150.0, 10.0),  # nested in backward
            _launch(1, 10.0), _kernel(1, 300.0, 40.0),  # forward, runs after the region ended
            _launch(2, 20.0), _kernel(2, 340.0, 60.0),
            _launch(3, 120.0, "cuda_driver"), _kernel(3, 400.0, 500.0),  # backward thread
            _launch(4, 155.0), _kernel(4, 900.0, 8.0),  # inside optimizer: the innermost wins
            _launch(5, 500.0), _kernel(5, 910.0, 7.0),  # outside every region
            _kernel(6, 920.0, 3.0),  # launch not in the trace
        ]
    }  # fmt: skip


def test_device_totals_attribute_kernels_to_the_region_that_launched_them():
    totals, covered = trace.device_phase_totals_us(_cuda_trace())
    assert totals["draggan/forward_features"] == 100.0
    assert totals["draggan/backward"] == 500.0
    assert totals["draggan/optimizer"] == 8.0
    assert covered == 608.0
    assert trace.device_phase_totals_us({"traceEvents": [_event("draggan/motion", 0, 5)]}) is None


def test_breakdown_uses_gpu_time_on_cuda_and_host_time_otherwise():
    document = _cuda_trace()
    device = trace.breakdown_from_trace(document, steps=2, step_ms=1.0, use_device=True)
    assert device["clock"].startswith("gpu time")
    assert device["phases_ms"]["draggan/backward"] == pytest.approx(0.25)
    assert device["outside_regions_ms"] == pytest.approx(1.0 - 0.304)
    host = trace.breakdown_from_trace(document, steps=2, step_ms=1.0, use_device=False)
    assert host["clock"] == "host wall"
    assert host["phases_ms"]["draggan/backward"] == pytest.approx(0.05)
    assert host["covered_ms"] == pytest.approx(0.1)  # 200 us over 2 steps, nesting counted once
    with pytest.raises(ValueError):
        trace.breakdown_from_trace(document, steps=0, step_ms=1.0, use_device=False)


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"events": []}'])
def test_load_trace_rejects_non_traces(tmp_path, text):
    path = tmp_path / "trace.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="trace"):
        trace.load_trace(path)


def test_profiled_steps_write_a_chrome_trace_with_every_phase(tmp_path):
    generator = presets.build_preset_generator("tiny")
    workload = DragWorkload(handles=2, mask=True, render_every=1)
    session = make_session(generator, workload, "reference", "cpu", compile_step=False)
    clock = measure.StepClock(session, workload, torch.device("cpu"))
    clock.run(1, "warm-up", ProgressLine("test"))  # takes the feature references
    trace_path = tmp_path / "trace.json"
    breakdown, operators = measure.profile_steps(clock, 2, trace_path, ProgressLine("test"))

    document = json.loads(trace_path.read_text())  # what chrome://tracing reads
    assert isinstance(document["traceEvents"], list)
    for name in trace.PHASES:
        spans = [e for e in trace.region_events(document, trace.HOST_CATEGORY) if e["name"] == name]
        assert len(spans) == 2, name  # one per profiled step: every phase ran, once per step
        assert all(span["dur"] >= 0 for span in spans)
    phases = breakdown["phases_ms"]
    assert phases["draggan/forward_features"] > 0 and phases["draggan/backward"] > 0
    assert breakdown["covered_ms"] <= breakdown["step_ms"] * 1.01
    assert breakdown["covered_ms"] == pytest.approx(sum(phases.values()), rel=1e-6)
    assert operators and all(not op["name"].startswith("draggan/") for op in operators)
    self_times = [op["self_ms_per_step"] for op in operators]
    assert self_times == sorted(self_times, reverse=True)


@requires_cuda
@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_cuda_breakdown_counts_gpu_time_in_every_phase_that_launches_work(tmp_path, backend):
    device = torch.device("cuda")
    generator = presets.build_preset_generator("tiny").to(device)
    workload = DragWorkload(handles=2, mask=True, render_every=1)
    session = make_session(generator, workload, backend, device, compile_step=False)
    clock = measure.StepClock(session, workload, device)
    clock.run(2, "warm-up", ProgressLine("test"))
    breakdown, operators = measure.profile_steps(
        clock, 2, tmp_path / "trace.json", ProgressLine("test")
    )
    assert breakdown["clock"].startswith("gpu time")
    phases = breakdown["phases_ms"]
    for name in ["draggan/forward_features", "draggan/backward", "draggan/synthesis_rest"]:
        assert phases[name] > 0, name  # backward kernels come from autograd's own thread
    assert breakdown["covered_ms"] <= breakdown["step_ms"]
    assert operators and operators[0]["self_ms_per_step"] > 0
