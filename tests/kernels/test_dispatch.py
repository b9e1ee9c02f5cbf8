"""Which drag-op implementation runs where, and the opt-out switch."""

import pytest
import torch

from draggan_fast.kernels import describe_dispatch, dispatch, motion_loss


def test_cpu_runs_vectorised_pytorch(monkeypatch):
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
    rows = describe_dispatch("cpu")
    assert [row["op"] for row in rows] == [
        "draggan_fast::motion_loss",
        "draggan_fast::mask_loss",
        "draggan_fast::track_handles",
    ]
    assert all(row["implementation"] == "pytorch" for row in rows)
    assert all("cpu" in row["reason"] for row in rows)


def test_cuda_runs_triton_unless_opted_out(monkeypatch):
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
    assert {row["implementation"] for row in describe_dispatch("cuda")} == {"triton"}
    monkeypatch.setenv(dispatch.ENV_VAR, "pytorch")
    rows = describe_dispatch(torch.device("cuda"))
    assert {row["implementation"] for row in rows} == {"pytorch"}
    assert dispatch.ENV_VAR in rows[0]["reason"]


def test_forcing_triton_on_the_cpu_is_an_error(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "triton")
    with pytest.raises(ValueError, match="Triton kernels need a CUDA device, not cpu"):
        describe_dispatch("cpu")
    handles = torch.tensor([[3.0, 4.0]])
    with pytest.raises(ValueError, match="DRAGGAN_FAST_DRAG_OPS=triton"):  # a step, CLI: one line
        motion_loss(torch.zeros(1, 2, 8, 8), handles, handles + 4, (32, 32), 2)


def test_unknown_choice_is_named(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "fastest")
    with pytest.raises(ValueError, match="DRAGGAN_FAST_DRAG_OPS='fastest'"):
        describe_dispatch("cpu")


def test_each_call_records_what_ran(monkeypatch):
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
    handles = torch.tensor([[3.0, 4.0]])
    motion_loss(torch.zeros(1, 2, 8, 8), handles, handles + 4, (32, 32), 2)
    assert dispatch.last_used["motion_loss"][0] == "pytorch"
