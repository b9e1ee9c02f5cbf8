"""Which drag-op implementation runs where (draggan_fast.dispatch, drag family), and the opt-out
switch DRAGGAN_FAST_OPS."""

import pytest
import torch

from draggan_fast import dispatch
from draggan_fast.kernels import (
    describe_dispatch,
    mask_loss,
    motion_loss,
    motion_torch,
    track_handles,
)


@pytest.fixture(autouse=True)
def no_setting(monkeypatch):
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)


def test_cpu_runs_vectorised_pytorch():
    rows = describe_dispatch("cpu")
    assert [row["op"] for row in rows] == [
        "draggan_fast::motion_loss",
        "draggan_fast::mask_loss",
        "draggan_fast::track_handles",
    ]
    assert all(row["implementation"] == "torch" for row in rows)
    assert all("cpu" in row["reason"] for row in rows)
    assert {row["op"] for row in dispatch.describe("cpu", family="drag")} == {
        "motion_loss", "mask_loss", "track_handles"
    }  # fmt: skip


def test_cuda_runs_triton_unless_opted_out(monkeypatch):
    assert {row["implementation"] for row in describe_dispatch("cuda")} == {"triton"}
    monkeypatch.setenv(dispatch.ENV_VAR, "torch")
    rows = describe_dispatch(torch.device("cuda"))
    assert {row["implementation"] for row in rows} == {"torch"}
    assert dispatch.ENV_VAR in rows[0]["reason"]
    monkeypatch.setenv(dispatch.ENV_VAR, "triton,mask_loss=reference")
    assert [row["implementation"] for row in describe_dispatch("cuda")] == [
        "triton", "reference", "triton"
    ]  # fmt: skip


def test_triton_by_name_on_the_cpu_falls_back_for_all_and_is_an_error_for_one(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "triton")
    for row in describe_dispatch("cpu"):
        assert row["implementation"] == "torch"
        assert "asks for triton, which cannot run here" in row["reason"]
        assert "Triton kernels need a CUDA device, not cpu" in row["reason"]
    monkeypatch.setenv(dispatch.ENV_VAR, "motion_loss=triton")
    with pytest.raises(ValueError, match="Triton kernels need a CUDA device, not cpu"):
        describe_dispatch("cpu")
    handles = torch.tensor([[3.0, 4.0]])
    with pytest.raises(ValueError, match="DRAGGAN_FAST_OPS asks for motion_loss=triton"):
        motion_loss(torch.zeros(1, 2, 8, 8), handles, handles + 4, (32, 32), 2)  # one line


def test_unknown_choice_is_named(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "fastest")
    with pytest.raises(ValueError, match="DRAGGAN_FAST_OPS='fastest'"):
        describe_dispatch("cpu")
    monkeypatch.setenv(dispatch.ENV_VAR, "motion_loss=compiled")
    with pytest.raises(ValueError, match="motion_loss has no 'compiled' implementation"):
        describe_dispatch("cpu")


def test_each_call_runs_what_dispatch_chose(monkeypatch):
    calls = []
    motion_sums = motion_torch.motion_sums
    monkeypatch.setattr(
        motion_torch, "motion_sums", lambda *args: calls.append("torch") or motion_sums(*args)
    )
    features = torch.randn(1, 2, 8, 8, requires_grad=True)
    handles = torch.tensor([[3.0, 4.0]])
    terms = motion_loss(features, handles, handles + 4, (32, 32), 2)
    assert calls == ["torch"] and terms.grad_fn is not None
    monkeypatch.setenv(dispatch.ENV_VAR, "motion_loss=reference")  # the plain definition
    reference = motion_loss(features, handles, handles + 4, (32, 32), 2)
    torch.testing.assert_close(reference, terms, rtol=1e-5, atol=1e-6)
    assert calls == ["torch"] and reference.grad_fn.name() == "StackBackward0"


def test_the_reference_runs_every_op_when_asked(monkeypatch):
    """DRAGGAN_FAST_OPS=reference: the public functions give the references' answers."""
    features = torch.randn(1, 3, 16, 16, requires_grad=True)
    start = torch.randn(1, 3, 16, 16)
    handles = torch.tensor([[10.0, 20.0], [40.0, 5.0]])
    movable = torch.zeros(64, 64)
    movable[:32] = 1
    refs = torch.randn(2, 3)
    fast = (
        motion_loss(features, handles, handles + 5, (64, 64), 2),
        mask_loss(features, start, movable),
        track_handles(features, refs, handles, (64, 64), 3),
    )
    monkeypatch.setenv(dispatch.ENV_VAR, "reference")
    assert {row["implementation"] for row in describe_dispatch("cpu")} == {"reference"}
    reference = (
        motion_loss(features, handles, handles + 5, (64, 64), 2),
        mask_loss(features, start, movable),
        track_handles(features, refs, handles, (64, 64), 3),
    )
    torch.testing.assert_close(reference[0], fast[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(reference[1], fast[1], rtol=1e-5, atol=1e-7)
    assert torch.equal(reference[2], fast[2])
    (grad,) = torch.autograd.grad(reference[0].sum() + reference[1], features)
    assert grad.abs().sum() > 0
