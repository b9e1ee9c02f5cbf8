"""The one dispatch mechanism (draggan_fast/dispatch.py), on made-up ops."""

import ast
from pathlib import Path

import pytest

from draggan_fast import dispatch
from draggan_fast.dispatch import Implementation


@pytest.fixture
def toy_ops(monkeypatch):
    """Two made-up ops: one with triton (CUDA only) and torch, one with compiled (slower on
    CUDA); both registered only for the test."""
    monkeypatch.setattr(dispatch, "_ops", {})
    monkeypatch.setattr(dispatch, "_decisions", {})
    monkeypatch.setattr(dispatch, "_self_checks", {})
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
    cuda_only = lambda device_type: None if device_type == "cuda" else "needs CUDA"  # noqa: E731
    dispatch.register("toy_drag", "drag", [
        Implementation("triton", "Triton kernel", unavailable=cuda_only),
        Implementation("torch", "vectorised PyTorch"),
        Implementation("reference", "plain PyTorch"),
    ])  # fmt: skip
    dispatch.register("toy_gen", "generator", [
        Implementation("compiled", "C++ kernel",
                       measured_slower=lambda d: "RESULTS.md, toy" if d == "cuda" else None),
        Implementation("reference", "plain PyTorch"),
    ])  # fmt: skip


def test_auto_takes_the_first_that_runs_and_says_what_it_skipped(toy_ops):
    assert dispatch.choose("toy_drag", "cpu") == (
        "torch",
        "vectorised PyTorch; not triton: needs CUDA",
    )
    assert dispatch.choose("toy_drag", "cuda") == ("triton", "Triton kernel")
    assert dispatch.choose("toy_gen", "cpu") == ("compiled", "C++ kernel")
    implementation, reason = dispatch.choose("toy_gen", "cuda:0")
    assert implementation == "reference" and "RESULTS.md, toy" in reason


def test_one_variable_picks_by_name_or_per_op(toy_ops, monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "reference")
    assert [dispatch.choose(op, "cpu")[0] for op in ("toy_drag", "toy_gen")] == ["reference"] * 2
    monkeypatch.setenv(dispatch.ENV_VAR, "compiled")  # measured slower: still runs when asked
    assert dispatch.choose("toy_gen", "cuda")[0] == "compiled"
    assert dispatch.choose("toy_drag", "cpu")[0] == "torch"  # no compiled: auto
    monkeypatch.setenv(dispatch.ENV_VAR, "reference, toy_drag=torch")
    assert dispatch.choose("toy_drag", "cpu")[0] == "torch"
    assert dispatch.choose("toy_gen", "cpu")[0] == "reference"
    assert dispatch.runs("toy_gen", "cpu", "reference")


@pytest.mark.parametrize(
    ("value", "message"),
    [("fastest", "'fastest' is not"), ("nope=torch", "'nope=torch' is not"),
     ("toy_gen=triton", "toy_gen has no 'triton'"),
     ("toy_drag=triton", "cannot run on cpu: needs CUDA")],
)  # fmt: skip
def test_bad_requests_are_named(toy_ops, monkeypatch, value, message):
    monkeypatch.setenv(dispatch.ENV_VAR, value)
    with pytest.raises(ValueError, match=message):
        for op in ("toy_drag", "toy_gen"):
            dispatch.choose(op, "cpu")


def test_a_bare_name_that_cannot_run_leaves_the_op_on_auto(toy_ops, monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "triton")
    implementation, reason = dispatch.choose("toy_drag", "cpu")
    assert implementation == "torch"
    assert "asks for triton, which cannot run here: needs CUDA" in reason
    assert dispatch.choose("toy_drag", "cuda") == (
        "triton",
        "DRAGGAN_FAST_OPS asks for it: Triton kernel",
    )


def test_describe_lists_every_op_and_family(toy_ops):
    rows = dispatch.describe("cpu")
    assert [(r["op"], r["family"], r["implementation"]) for r in rows] == [
        ("toy_drag", "drag", "torch"), ("toy_gen", "generator", "compiled")
    ]  # fmt: skip
    assert [r["op"] for r in dispatch.describe("cpu", family="drag")] == ["toy_drag"]


def test_registration_needs_a_reference(toy_ops):
    with pytest.raises(ValueError, match="include 'reference'"):
        dispatch.register("bad", "drag", [Implementation("torch", "x")])


def _register_checked_op(problem, checks):
    def self_check(device_type):
        checks.append(device_type)
        return problem if device_type == "cuda" else None

    dispatch.register("toy_checked", "generator", [
        Implementation("compiled", "C++ kernel", self_check=self_check),
        Implementation("reference", "plain PyTorch"),
    ])  # fmt: skip


def test_a_passing_self_check_runs_once_per_device_type(toy_ops):
    checks = []
    _register_checked_op(None, checks)
    for _ in range(2):
        assert dispatch.choose("toy_checked", "cuda") == ("compiled", "C++ kernel")
        assert dispatch.choose("toy_checked", "cpu")[0] == "compiled"
    dispatch.forget()  # decisions and self-checks are made again
    dispatch.choose("toy_checked", "cuda")
    assert checks == ["cuda", "cpu", "cuda"]


@pytest.mark.parametrize("value", ["auto", "compiled", "toy_checked=compiled"])
def test_a_failed_self_check_falls_back_with_one_warning(toy_ops, monkeypatch, value):
    """By auto or asked for by name: the next implementation (the reference) runs, the reason
    names the problem, and one warning is given however often the op is called."""
    checks = []
    _register_checked_op("output differs by 0.5", checks)
    monkeypatch.setenv(dispatch.ENV_VAR, value)
    with pytest.warns(RuntimeWarning, match="the compiled toy_checked failed its self-check on "
                      "cuda \\(output differs by 0.5\\)") as caught:  # fmt: skip
        for _ in range(3):
            implementation, reason = dispatch.choose("toy_checked", "cuda")
            assert implementation == "reference"
            assert reason.startswith("plain PyTorch")
            assert reason.endswith("self-check failed: output differs by 0.5")
    assert len(caught) == 1 and checks == ["cuda"]
    assert dispatch.choose("toy_checked", "cpu")[0] == "compiled"


def test_measured_slower_is_not_self_checked(toy_ops):
    """auto skips an implementation measured slower before running its self-check."""
    checks = []
    dispatch.register("toy_slow", "generator", [
        Implementation("compiled", "C++ kernel", measured_slower=lambda d: "RESULTS.md, toy",
                       self_check=lambda d: checks.append(d)),
        Implementation("reference", "plain PyTorch"),
    ])  # fmt: skip
    assert dispatch.choose("toy_slow", "cuda")[0] == "reference"
    assert checks == []


def test_dispatch_is_a_leaf_the_op_layers_may_import():
    """kernels/ and stylegan/ops/ import it: it imports nothing of draggan_fast (no cycle, no
    upward import through it)."""
    tree = ast.parse(Path(dispatch.__file__).read_text())
    modules = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names]  # fmt: skip
    modules += [node.module or "." for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert modules and not [name for name in modules if name.startswith(("draggan_fast", "."))]
