"""The generator ops on draggan_fast.dispatch: extension loading (once, failure cached and warned
once), dispatch reasons, opt-out, self-checks, and the public functions' fallback to the
reference for inputs the kernels do not take."""

import dataclasses
import importlib
import warnings

import pytest
import torch

from draggan_fast import dispatch
from draggan_fast.stylegan import ops
from draggan_fast.stylegan.ops import extension
from draggan_fast.stylegan.ops.bias_act import bias_act_reference
from draggan_fast.stylegan.ops.conv2d_resample import (
    conv2d_resample_reference,
    upsample2d_reference,
)
from draggan_fast.stylegan.ops.modulated_conv2d import modulated_conv2d_reference
from draggan_fast.stylegan.ops.upfirdn2d import setup_filter, upfirdn2d_reference

OPS = ("bias_act", "upfirdn2d", "filtered_lrelu", "modulated_conv2d")  # registration order
COMPILED_OPS = ("bias_act", "upfirdn2d", "modulated_conv2d")  # filtered_lrelu: reference only


def _op_module(op):
    """The op's file (the package's attribute of that name is the op's function)."""
    return importlib.import_module(f"draggan_fast.stylegan.ops.{op}")


def _row(device, op):
    return next(row for row in ops.describe_dispatch(device) if row["op"] == op)


def test_describe_dispatch_lists_every_op_with_a_reason():
    rows = ops.describe_dispatch("cpu")
    assert [row["op"] for row in rows] == [*OPS, "upsample2d", "conv2d_resample"]
    for row in rows:
        assert row["family"] == "generator"
        assert row["implementation"] in ("compiled", "reference")
        assert row["reason"]


def test_cpu_ops_are_compiled_when_the_extension_loads(compiled_ops):
    assert _row("cpu", "bias_act")["implementation"] == "compiled"
    assert "float32/float64 inputs" in _row("cpu", "bias_act")["reason"]
    assert _row("cpu", "upfirdn2d")["implementation"] == "compiled"
    modulated = _row("cpu", "modulated_conv2d")
    assert modulated["implementation"] == "reference"
    assert "no compiled CPU kernel" in modulated["reason"]


def test_opt_out_selects_the_reference(fresh_dispatch):
    fresh_dispatch.setenv("DRAGGAN_FAST_OPS", "reference")
    for row in ops.describe_dispatch("cpu"):
        assert row["implementation"] == "reference"
    assert "DRAGGAN_FAST_OPS asks for it" in _row("cpu", "bias_act")["reason"]


def test_per_op_items_compile_only_the_named_ops(compiled_ops, fresh_dispatch):
    fresh_dispatch.setenv("DRAGGAN_FAST_OPS", "reference,bias_act=compiled")
    assert _row("cpu", "bias_act")["implementation"] == "compiled"
    row = _row("cpu", "upfirdn2d")
    assert row["implementation"] == "reference"
    assert "DRAGGAN_FAST_OPS asks for it: plain PyTorch" in row["reason"]


def test_measured_slower_ops_run_the_reference_unless_compiled_is_asked(
    compiled_ops, fresh_dispatch
):
    slower = extension.compiled_implementation(
        "upfirdn2d", None, {"cpu": "RESULTS.md, a made-up section"}, lambda device: None
    )
    reference = dispatch.Implementation("reference", "plain PyTorch")
    fresh_dispatch.setitem(
        dispatch._ops, "upfirdn2d", dispatch._Op("generator", (slower, reference))
    )
    row = _row("cpu", "upfirdn2d")
    assert row["implementation"] == "reference"
    assert "measured slower than the reference here (RESULTS.md, a made-up" in row["reason"]
    assert _row("cpu", "bias_act")["implementation"] == "compiled"
    # "compiled" names every op that has it and can run it; modulated_conv2d has no CPU kernel:
    # it stays auto (the reference) and says why; asked for by op name, that is an error.
    fresh_dispatch.setenv("DRAGGAN_FAST_OPS", "compiled")
    assert _row("cpu", "upfirdn2d")["implementation"] == "compiled"
    row = _row("cpu", "modulated_conv2d")
    assert row["implementation"] == "reference"
    assert "asks for compiled, which cannot run here: no compiled CPU kernel" in row["reason"]
    fresh_dispatch.setenv("DRAGGAN_FAST_OPS", "modulated_conv2d=compiled")
    with pytest.raises(ValueError, match="no compiled CPU kernel for modulated_conv2d"):
        ops.describe_dispatch("cpu")


def test_bad_opt_out_value_is_named(fresh_dispatch):
    fresh_dispatch.setenv("DRAGGAN_FAST_OPS", "fastest")
    with pytest.raises(ValueError, match="'fastest' is not 'auto', an implementation"):
        ops.describe_dispatch("cpu")


def test_cuda_without_a_gpu_is_reference():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    row = _row("cuda", "bias_act")
    assert row["implementation"] == "reference"
    assert (
        row["reason"] == "plain PyTorch (bias_act_reference); not compiled: CUDA is not available"
    )


def test_public_functions_fall_back_for_dtypes_the_cpu_kernels_do_not_take():
    x = torch.randn(2, 4, 5, 5).to(torch.bfloat16)
    b = torch.randn(4).to(torch.bfloat16)
    expected = bias_act_reference(x, b, act="lrelu")
    assert torch.equal(ops.bias_act(x, b, act="lrelu"), expected)
    f = setup_filter([1, 3, 3, 1])
    assert torch.equal(ops.upsample2d(x, f), upsample2d_reference(x, f))


def test_public_functions_match_the_reference_on_float32():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 6, 6, generator=generator)
    weight = torch.randn(5, 4, 3, 3, generator=generator)
    styles = torch.randn(2, 4, generator=generator)
    f = setup_filter([1, 3, 3, 1])
    kwargs = dict(up=2, padding=1, resample_filter=f, flip_weight=False)
    torch.testing.assert_close(
        ops.modulated_conv2d(x, weight, styles, **kwargs),
        modulated_conv2d_reference(x, weight, styles, **kwargs),
        rtol=1e-5,
        atol=1e-5,
    )
    torch.testing.assert_close(
        ops.conv2d_resample(x, weight, f, down=2, padding=1),
        conv2d_resample_reference(x, weight, f, down=2, padding=1),
        rtol=1e-5,
        atol=1e-5,
    )


def test_load_failure_is_cached_and_warned_once(monkeypatch):
    calls = []

    def failing_import(name):
        calls.append(name)
        raise ImportError("undefined symbol: _ZN3c10 (built against another torch)")

    monkeypatch.setattr(extension, "_loaded", False)
    monkeypatch.setattr(extension, "_module", None)
    monkeypatch.setattr(extension, "_failure", None)
    monkeypatch.setattr(importlib, "import_module", failing_import)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert extension.load() is None
        assert extension.load() is None
        assert "undefined symbol" in extension.failure()
    assert calls == ["draggan_fast._C"]
    assert len(caught) == 1 and "using the reference ops" in str(caught[0].message)
    assert extension.build_info() == {"available": False, "reason": extension.failure()}


def test_build_info_names_the_torch_it_was_built_against(compiled_ops):
    info = extension.build_info()
    assert info["available"] is True
    assert info["torch_version"] == torch.__version__
    assert isinstance(info["with_cuda"], bool)


@pytest.mark.parametrize("mode", ["grad", "no_grad", "inference_mode"])
@pytest.mark.parametrize("op", ["bias_act", "upfirdn2d"])
def test_self_check_passes_for_a_correct_kernel(compiled_ops, op, mode):
    """Also when the op's first use comes under no_grad or inference_mode (on the H200 a
    render's first use failed the check there and sent the process to the reference ops)."""
    context = {"grad": torch.enable_grad, "no_grad": torch.no_grad}.get(mode, torch.inference_mode)
    with context():
        assert _op_module(op).self_check(torch.device("cpu")) is None


def test_self_check_catches_a_wrong_kernel(compiled_ops, monkeypatch):
    def off_by_one_percent(x, *args, **kwargs):
        return upfirdn2d_reference(x, *args, **kwargs) * 1.01

    module = _op_module("upfirdn2d")
    monkeypatch.setattr(module, "upfirdn2d_compiled", off_by_one_percent)
    problem = module.self_check(torch.device("cpu"))
    assert problem is not None and "output differs" in problem


def test_self_check_covers_every_dtype_the_kernels_take(compiled_ops, monkeypatch):
    """A kernel wrong only in float64 (a dtype dispatch sends to the kernels) is caught."""

    def wrong_in_float64(x, *args, **kwargs):
        out = bias_act_reference(x, *args, **kwargs)
        return out * 1.001 if x.dtype == torch.float64 else out

    module = _op_module("bias_act")
    monkeypatch.setattr(module, "bias_act_compiled", wrong_in_float64)
    problem = module.self_check(torch.device("cpu"))
    assert problem is not None and "torch.float64" in problem


def _pretend_cuda_kernels(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(extension, "load", lambda: object())
    monkeypatch.setattr(extension, "has_kernel", lambda op, device_type: True)


@pytest.mark.parametrize("setting", ["compiled", "auto"])
def test_failed_cuda_self_check_falls_back_with_one_warning(fresh_dispatch, setting):
    """Asked for by name or chosen by auto (where it is not measured slower), a compiled CUDA op
    whose self-check fails runs the reference, with one warning and the problem as the reason."""
    fresh_dispatch.setenv("DRAGGAN_FAST_OPS", setting)
    _pretend_cuda_kernels(fresh_dispatch)
    module = _op_module("upfirdn2d")
    compiled = dispatch._ops["upfirdn2d"].implementations[0]
    if setting == "auto":  # not measured slower: auto would pick it
        compiled = dataclasses.replace(compiled, measured_slower=lambda device_type: None)
        entry = dispatch._Op(
            "generator", (compiled, *dispatch._ops["upfirdn2d"].implementations[1:])
        )
        fresh_dispatch.setitem(dispatch._ops, "upfirdn2d", entry)
    fresh_dispatch.setattr(module, "self_check", lambda device: "output differs by 0.5")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            implementation, reason = dispatch.choose("upfirdn2d", "cuda")
            assert implementation == "reference"
            assert reason.endswith("self-check failed: output differs by 0.5")
    assert len(caught) == 1
    assert "the compiled upfirdn2d failed its self-check on cuda" in str(caught[0].message)


def test_auto_on_cuda_runs_the_reference_ops_measured_faster(fresh_dispatch):
    _pretend_cuda_kernels(fresh_dispatch)
    for op in COMPILED_OPS:
        implementation, reason = dispatch.choose(op, "cuda")
        assert implementation == "reference"
        assert "measured slower than the reference here (" in reason
        assert 'benches/RESULTS.md, "H200: drag step, CUDA graph, compiled ops' in reason
        assert reason.endswith("; DRAGGAN_FAST_OPS=compiled)")


def test_fused_function_equals_modulated_conv2d_then_bias_act():
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(2, 4, 6, 6, generator=generator)
    weight = torch.randn(5, 4, 3, 3, generator=generator)
    styles = torch.randn(2, 4, generator=generator)
    bias = torch.randn(5, generator=generator)
    noise = torch.randn(12, 12, generator=generator)
    f = setup_filter([1, 3, 3, 1])
    conv = dict(noise=noise, up=2, padding=1, resample_filter=f, flip_weight=False)
    epilogue = dict(act="lrelu", gain=1.4, clamp=0.7)
    expected = bias_act_reference(
        modulated_conv2d_reference(x, weight, styles, **conv), bias, **epilogue
    )
    actual = ops.modulated_conv2d_bias_act(x, weight, styles, bias, **conv, **epilogue)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_modulated_conv2d_fake_kernel_comes_from_the_module_the_library_names(compiled_ops):
    """csrc/ext.cpp names each op's file as its Python module; torch (2.11, not 2.14) refuses a
    fake kernel registered from another module, which broke torch.compile of the generator on
    CUDA. The CUDA op's fake kernel runs on CPU fake tensors too."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        x, weight = torch.empty(1, 8, 16, 16), torch.empty(4, 8, 3, 3)
        out = torch.ops.draggan_fast.modulated_conv2d(
            x, weight, torch.empty(1, 8), None, None, None, 1, 1, True, True, "lrelu", 0.2,
            1.4, -1.0,
        )  # fmt: skip
    assert out.shape == (1, 4, 16, 16)


@pytest.mark.parametrize(
    ("op", "module"),
    [("bias_act", "bias_act"), ("bias_act_grad", "bias_act"), ("upfirdn2d", "upfirdn2d"),
     ("modulated_conv2d", "modulated_conv2d")],
)  # fmt: skip
def test_each_schema_names_the_op_file_that_registers_it(compiled_ops, op, module):
    assert torch._C._dispatch_pystub(f"draggan_fast::{op}", "")[0] == (
        f"draggan_fast.stylegan.ops.{module}"
    )
    assert extension.compiled_ops() == [
        "bias_act",
        "bias_act_grad",
        "modulated_conv2d",
        "upfirdn2d",
    ]
