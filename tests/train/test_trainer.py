"""The trainer: tiny steps run, resume exactly, and export a loadable generator."""

import dataclasses
import json

import pytest
import torch

from draggan_fast.cli import main
from draggan_fast.stylegan.discriminator import Discriminator, MinibatchStdLayer
from draggan_fast.stylegan.training import TrainConfig, Trainer
from draggan_fast.stylegan.training.checkpoint import read_checkpoint
from draggan_fast.stylegan.training.export import export_checkpoint

TINY = TrainConfig(
    resolution=16, z_dim=8, w_dim=8, mapping_layers=2, channel_base=128, channel_max=8,
    batch_size=4, r1_interval=2, ema_kimg=0.01, seed=3,
)  # fmt: skip


def _tiny():
    return Trainer(dataclasses.replace(TINY))


def _all_state(trainer):
    state = {}
    for name in ("G", "D", "G_ema"):
        for key, value in getattr(trainer, name).state_dict().items():
            state[f"{name}/{key}"] = value
    for name in ("G_opt", "D_opt"):
        for index, param_state in getattr(trainer, name).state_dict()["state"].items():
            for key, value in param_state.items():
                state[f"{name}/{index}/{key}"] = torch.as_tensor(value)
    return state


def test_steps_change_weights_and_report_finite_losses():
    trainer = _tiny()
    before = {k: v.clone() for k, v in _all_state(trainer).items()}
    for iteration in range(2):
        stats = trainer.step()
        assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())
        # the lazy R1 step runs on iterations 0, r1_interval, 2 * r1_interval, ...
        assert ("r1" in stats) == (iteration % TINY.r1_interval == 0), (iteration, stats)
    after = _all_state(trainer)
    assert trainer.nimg == 2 * TINY.batch_size
    for name in ("G/synthesis.b16.conv1.weight", "D/b16.conv0.weight", "G_ema/mapping.fc0.weight"):
        assert not torch.equal(before[name], after[name]), name


def test_resume_continues_exactly(tmp_path):
    straight = _tiny()
    for _ in range(3):
        straight.step()

    interrupted = _tiny()
    for _ in range(2):
        interrupted.step()
    interrupted.save(tmp_path / "checkpoint")
    resumed = Trainer.resume(tmp_path / "checkpoint.json")
    assert (resumed.iteration, resumed.nimg) == (2, 2 * TINY.batch_size)
    resumed.step()

    expected, actual = _all_state(straight), _all_state(resumed)
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key


def test_resume_refuses_an_architecture_change(tmp_path):
    trainer = _tiny()
    trainer.save(tmp_path / "checkpoint")
    with pytest.raises(ValueError, match="channel_max"):
        Trainer.resume(tmp_path / "checkpoint.json", overrides={"channel_max": 16})
    resumed = Trainer.resume(tmp_path / "checkpoint.json", overrides={"g_lr": 0.001})
    assert resumed.G_opt.param_groups[0]["lr"] == pytest.approx(0.001)


def test_checkpoint_errors_are_clear(tmp_path):
    from draggan_fast.stylegan.errors import CheckpointError

    with pytest.raises(CheckpointError, match="needs both"):
        Trainer.resume(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text(json.dumps({"format": "something else"}))
    (tmp_path / "bad.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a"):
        Trainer.resume(tmp_path / "bad.json")


def test_discriminator_has_the_official_layout():
    D = Discriminator(img_resolution=16, channel_base=128, channel_max=8)
    keys = set(D.state_dict())
    for key in (
        "b16.fromrgb.weight", "b16.conv0.weight", "b16.conv1.weight", "b16.conv1.bias",
        "b16.skip.weight", "b8.conv0.weight", "b4.conv.weight", "b4.fc.weight", "b4.out.weight",
        "b16.conv1.resample_filter",
    ):  # fmt: skip
        assert key in keys, key
    assert "b16.skip.bias" not in keys and "b8.fromrgb.weight" not in keys
    assert D(torch.randn(4, 3, 16, 16)).shape == (4, 1)
    with pytest.raises(ValueError, match="img must be"):
        D(torch.randn(4, 3, 8, 8))


def test_minibatch_std_matches_its_definition():
    x = torch.randn(8, 6, 4, 4)
    out = MinibatchStdLayer(group_size=4)(x)
    groups = x.reshape(4, 2, 6, 4, 4)  # sample n of group g is x[g * 2 + n]
    std = (groups.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=[1, 2, 3])  # [2]
    assert out.shape == (8, 7, 4, 4)
    torch.testing.assert_close(out[:, 6, 0, 0], std.repeat(4))
    with pytest.raises(ValueError, match="multiple"):
        MinibatchStdLayer(group_size=4)(torch.randn(6, 6, 4, 4))


def test_cli_trains_resumes_and_exports(tmp_path, capsys):
    outdir = tmp_path / "run"
    flags = ["--resolution", "16", "--z-dim", "8", "--w-dim", "8", "--map-layers", "2",
             "--channel-base", "128", "--channel-max", "8", "--batch", "4"]  # fmt: skip
    assert main(["train", "--outdir", str(outdir), "--kimg", "0.008", *flags]) == 0
    meta = json.loads((outdir / "checkpoint.json").read_text())
    assert meta["nimg"] == 8 and meta["config"]["channel_max"] == 8
    export = tmp_path / "g.safetensors"
    assert main(["train", "--outdir", str(outdir), "--kimg", "0.016", "--export", str(export)]) == 0
    assert json.loads((outdir / "checkpoint.json").read_text())["nimg"] == 16
    for name in ("reals.png", "samples-000000.png", "samples-latest.png", "log.jsonl"):
        assert (outdir / name).is_file(), name

    from draggan_fast.stylegan.loading import load_generator

    G = load_generator(export)
    again = load_generator(export_checkpoint(outdir / "checkpoint.json", tmp_path / "h.st"))
    z = torch.randn(2, 8)
    torch.testing.assert_close(G(z), again(z), rtol=0, atol=0)
    assert main(["train", "--outdir", str(outdir), "--channel-max", "16"]) == 2
    assert "channel_max" in capsys.readouterr().err


def test_a_run_starts_from_an_exported_generator_with_a_d_warm_up(tmp_path, capsys):
    """--init-generator: G and G_ema start as the file's weights, D afresh; G stays put until
    --g-frozen-kimg while D trains; counters continue from --init-kimg; a later invocation
    resumes the run's own checkpoint, not the generator."""
    from draggan_fast.stylegan.loading import load_generator, save_generator

    source = tmp_path / "source.safetensors"
    save_generator(_tiny().G_ema, source)
    outdir = tmp_path / "run"
    flags = ["--outdir", str(outdir), "--init-generator", str(source), "--init-kimg", "1",
             "--g-frozen-kimg", "1.008", "--batch", "4", "--r1-interval", "2"]  # fmt: skip
    assert main(["train", *flags, "--kimg", "1.008"]) == 0  # two D-only iterations
    tensors, meta = read_checkpoint(outdir / "checkpoint.json")
    assert meta["nimg"] == 1008 and meta["config"]["channel_max"] == TINY.channel_max
    assert meta["started_from"] == {"generator": "source.safetensors", "kimg": 1.0}
    original = load_generator(source).state_dict()
    for key, value in original.items():
        if key == "mapping.w_avg":  # a running mean of mapped w, tracked by every G forward
            continue
        torch.testing.assert_close(tensors[f"G/{key}"], value, rtol=0, atol=0, msg=key)
        torch.testing.assert_close(tensors[f"G_ema/{key}"], value, rtol=0, atol=0, msg=key)
    fresh_d = Trainer(dataclasses.replace(TINY)).D.state_dict()
    assert not torch.equal(tensors["D/b16.conv0.weight"], fresh_d["b16.conv0.weight"])
    assert main(["train", *flags, "--kimg", "1.016"]) == 0  # resumes; G now moves
    tensors, meta = read_checkpoint(outdir / "checkpoint.json")
    assert meta["nimg"] == 1016 and meta["started_from"]["kimg"] == 1.0  # kept on resume
    key = "synthesis.b16.conv1.weight"
    assert not torch.equal(tensors[f"G/{key}"], original[key])
    assert "resumed from" in capsys.readouterr().out


def test_a_generator_of_another_architecture_is_refused(tmp_path, capsys):
    from draggan_fast.stylegan.loading import save_generator

    source = tmp_path / "source.safetensors"
    save_generator(_tiny().G_ema, source)
    flags = ["--outdir", str(tmp_path / "run"), "--init-generator", str(source)]
    assert main(["train", *flags, "--channel-max", "16"]) == 2
    assert "channel_max 16 differs" in capsys.readouterr().err
    assert main(["train", *flags[:2], "--init-generator", str(tmp_path / "nope.st")]) == 2
    assert "no such file" in capsys.readouterr().err
    other = Trainer(dataclasses.replace(TINY, channel_base=256)).G
    with pytest.raises(ValueError, match="channel_base"):
        Trainer.from_generator(other, dataclasses.replace(TINY))


def test_cli_refuses_bad_input(tmp_path, capsys):
    assert main(["train", "--outdir", str(tmp_path), "--resolution", "48"]) == 2
    assert "resolution" in capsys.readouterr().err
    assert main(["train", "--outdir", str(tmp_path), "--resume", str(tmp_path / "x.json")]) == 2


def test_pooled_data_gives_the_same_batches_as_on_the_fly_rendering():
    on_the_fly = _tiny()
    pooled = Trainer(dataclasses.replace(TINY), data_pool=64, data_processes=1)
    for _ in range(2):
        torch.testing.assert_close(pooled._real_batch(), on_the_fly._real_batch())
        pooled.nimg += TINY.batch_size
        on_the_fly.nimg += TINY.batch_size


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fp16_steps_from_a_pool_resume_exactly(tmp_path):
    config = dataclasses.replace(TINY, num_fp16_res=2)
    straight = Trainer(config, device="cuda", data_pool=32, data_processes=1)
    assert straight.G.synthesis.b16.compute_dtype(torch.device("cuda")) == torch.float16
    for _ in range(3):
        stats = straight.step()
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())
    interrupted = Trainer(dataclasses.replace(config), device="cuda", data_pool=32)
    for _ in range(2):
        interrupted.step()
    interrupted.save(tmp_path / "checkpoint")
    resumed = Trainer.resume(tmp_path / "checkpoint.json", device="cuda", data_pool=32)
    resumed.step()
    # cudnn.benchmark may pick different (equally valid) algorithms per process: close, not equal
    resumed_state = _all_state(resumed)
    for key, value in _all_state(straight).items():
        torch.testing.assert_close(resumed_state[key], value, rtol=1e-3, atol=1e-3, msg=key)
