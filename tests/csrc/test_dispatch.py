"""Extension loading (once, failure cached and warned once), dispatch reasons, opt-out, and the
faces' fallback to the reference for inputs the kernels do not take."""

import importlib
import warnings

import pytest
import torch

from draggan_fast.stylegan import ops
from draggan_fast.stylegan.ops import dispatch, extension, reference


def _row(device, op):
    return next(row for row in ops.describe_dispatch(device) if row["op"] == op)


def test_describe_dispatch_lists_every_op_with_a_reason():
    rows = ops.describe_dispatch("cpu")
    assert [row["op"] for row in rows] == [*dispatch.OPS, "upsample2d", "conv2d_resample"]
    for row in rows:
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
    assert "DRAGGAN_FAST_OPS=reference" in _row("cpu", "bias_act")["reason"]


def test_a_list_compiles_only_the_named_ops(compiled_ops, fresh_dispatch):
    fresh_dispatch.setenv("DRAGGAN_FAST_OPS", "bias_act")
    assert _row("cpu", "bias_act")["implementation"] == "compiled"
    row = _row("cpu", "upfirdn2d")
    assert row["implementation"] == "reference"
    assert "opted out (DRAGGAN_FAST_OPS=bias_act)" in row["reason"]


def test_measured_slower_ops_run_the_reference_unless_compiled_is_asked(
    compiled_ops, fresh_dispatch
):
    fresh_dispatch.setitem(dispatch.MEASURED_SLOWER, ("upfirdn2d", "cpu"), "2.3 vs 0.9 ms")
    row = _row("cpu", "upfirdn2d")
    assert row["implementation"] == "reference"
    assert "measured slower than the reference here (2.3 vs 0.9 ms" in row["reason"]
    assert _row("cpu", "bias_act")["implementation"] == "compiled"
    fresh_dispatch.setenv("DRAGGAN_FAST_OPS", "compiled")
    dispatch.reset()
    assert _row("cpu", "upfirdn2d")["implementation"] == "compiled"


def test_bad_opt_out_value_is_named(fresh_dispatch):
    fresh_dispatch.setenv("DRAGGAN_FAST_OPS", "fastest")
    with pytest.raises(ValueError, match="DRAGGAN_FAST_OPS must be 'auto', 'reference', 'comp"):
        ops.describe_dispatch("cpu")


def test_cuda_without_a_gpu_is_reference():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert _row("cuda", "bias_act") == {
        "op": "bias_act",
        "implementation": "reference",
        "reason": "CUDA is not available",
    }


def test_faces_fall_back_for_dtypes_the_cpu_kernels_do_not_take():
    x = torch.randn(2, 4, 5, 5).to(torch.bfloat16)
    b = torch.randn(4).to(torch.bfloat16)
    expected = reference.bias_act(x, b, act="lrelu")
    assert torch.equal(ops.bias_act(x, b, act="lrelu"), expected)
    f = reference.setup_filter([1, 3, 3, 1])
    assert torch.equal(ops.upsample2d(x, f), reference.upsample2d(x, f))


def test_faces_match_the_reference_on_float32():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 6, 6, generator=generator)
    weight = torch.randn(5, 4, 3, 3, generator=generator)
    styles = torch.randn(2, 4, generator=generator)
    f = reference.setup_filter([1, 3, 3, 1])
    kwargs = dict(up=2, padding=1, resample_filter=f, flip_weight=False)
    torch.testing.assert_close(
        ops.modulated_conv2d(x, weight, styles, **kwargs),
        reference.modulated_conv2d(x, weight, styles, **kwargs),
        rtol=1e-5,
        atol=1e-5,
    )
    torch.testing.assert_close(
        ops.conv2d_resample(x, weight, f, down=2, padding=1),
        reference.conv2d_resample(x, weight, f, down=2, padding=1),
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
    from draggan_fast.stylegan.ops.selfcheck import self_check

    context = {"grad": torch.enable_grad, "no_grad": torch.no_grad}.get(mode, torch.inference_mode)
    with context():
        assert self_check(op, torch.device("cpu")) is None


def test_self_check_catches_a_wrong_kernel(compiled_ops, monkeypatch):
    from draggan_fast.stylegan.ops import compiled
    from draggan_fast.stylegan.ops.selfcheck import self_check

    def off_by_one_percent(x, *args, **kwargs):
        return reference.upfirdn2d(x, *args, **kwargs) * 1.01

    monkeypatch.setattr(compiled, "upfirdn2d", off_by_one_percent)
    problem = self_check("upfirdn2d", torch.device("cpu"))
    assert problem is not None and "output differs" in problem


def test_self_check_covers_every_dtype_the_kernels_take(compiled_ops, monkeypatch):
    """A kernel wrong only in float64 (a dtype dispatch sends to the kernels) is caught."""
    from draggan_fast.stylegan.ops import compiled
    from draggan_fast.stylegan.ops.selfcheck import self_check

    def wrong_in_float64(x, *args, **kwargs):
        out = reference.bias_act(x, *args, **kwargs)
        return out * 1.001 if x.dtype == torch.float64 else out

    monkeypatch.setattr(compiled, "bias_act", wrong_in_float64)
    problem = self_check("bias_act", torch.device("cpu"))
    assert problem is not None and "torch.float64" in problem


def test_failed_cuda_self_check_falls_back_with_one_warning(fresh_dispatch):
    from draggan_fast.stylegan.ops import selfcheck

    fresh_dispatch.setenv("DRAGGAN_FAST_OPS", "compiled")  # `auto` skips them on CUDA
    fresh_dispatch.setattr(torch.cuda, "is_available", lambda: True)
    fresh_dispatch.setattr(extension, "load", lambda: object())
    fresh_dispatch.setattr(dispatch, "has_kernel", lambda op, device_type: True)
    fresh_dispatch.setattr(selfcheck, "self_check", lambda op, device: "output differs by 0.5")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            assert dispatch.choice("upfirdn2d", "cuda") == (
                "reference",
                "CUDA self-check failed: output differs by 0.5",
            )
    assert len(caught) == 1
    assert "compiled CUDA op upfirdn2d failed its self-check" in str(caught[0].message)


def test_auto_on_cuda_runs_the_reference_ops_measured_faster(fresh_dispatch):
    fresh_dispatch.setattr(torch.cuda, "is_available", lambda: True)
    fresh_dispatch.setattr(extension, "load", lambda: object())
    fresh_dispatch.setattr(dispatch, "has_kernel", lambda op, device_type: True)
    for op in dispatch.OPS:
        implementation, reason = dispatch.choice(op, "cuda")
        assert implementation == "reference"
        assert "measured slower than the reference here (H200" in reason
        assert reason.endswith("; DRAGGAN_FAST_OPS=compiled)")


def test_fused_face_equals_modulated_conv2d_then_bias_act():
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(2, 4, 6, 6, generator=generator)
    weight = torch.randn(5, 4, 3, 3, generator=generator)
    styles = torch.randn(2, 4, generator=generator)
    bias = torch.randn(5, generator=generator)
    noise = torch.randn(12, 12, generator=generator)
    f = reference.setup_filter([1, 3, 3, 1])
    conv = dict(noise=noise, up=2, padding=1, resample_filter=f, flip_weight=False)
    epilogue = dict(act="lrelu", gain=1.4, clamp=0.7)
    expected = reference.bias_act(
        reference.modulated_conv2d(x, weight, styles, **conv), bias, **epilogue
    )
    actual = ops.modulated_conv2d_bias_act(x, weight, styles, bias, **conv, **epilogue)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_modulated_conv2d_algorithm_is_configurable(fresh_dispatch):
    fresh_dispatch.delenv("DRAGGAN_FAST_MODCONV", raising=False)
    assert dispatch.modulated_conv2d_algorithm() == dispatch.MODULATED_CONV_DEFAULT
    fresh_dispatch.setenv("DRAGGAN_FAST_MODCONV", "implicit_gemm")
    # Read once: the algorithm dispatch reported keeps running until reset().
    assert dispatch.modulated_conv2d_algorithm() == dispatch.MODULATED_CONV_DEFAULT
    dispatch.reset()
    assert dispatch.modulated_conv2d_algorithm() == "implicit_gemm"
    fresh_dispatch.setenv("DRAGGAN_FAST_MODCONV", "winograd")
    dispatch.reset()
    with pytest.raises(ValueError, match="DRAGGAN_FAST_MODCONV must be one of"):
        dispatch.modulated_conv2d_algorithm()


@pytest.mark.parametrize("op", ["modulated_conv2d", "modulated_conv2d_implicit_gemm"])
def test_modulated_conv2d_fake_kernels_come_from_the_module_the_library_names(compiled_ops, op):
    """csrc/ext.cpp names registration.py as the ops' Python module; torch (2.11, not 2.14)
    refuses a fake kernel registered from another module, which broke torch.compile of the
    generator on CUDA. The CUDA ops' fake kernels run on CPU fake tensors too."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        x, weight = torch.empty(1, 8, 16, 16), torch.empty(4, 8, 3, 3)
        out = getattr(torch.ops.draggan_fast, op)(
            x, weight, torch.empty(1, 8), None, None, None, 1, 1, True, True, "lrelu", 0.2,
            1.4, -1.0,
        )  # fmt: skip
    assert out.shape == (1, 4, 16, 16)
