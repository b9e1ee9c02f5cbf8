"""invert(): projection and pivotal tuning on a tiny generator, shapes, progress, errors."""

import numpy as np
import pytest
import torch

import draggan_fast
from draggan_fast import DragSession, Inversion, invert
from draggan_fast.inversion.progress import psnr, to_uint8
from draggan_fast.stylegan.discriminator import Discriminator

FAST = {"perceptual_weight": 0.0}  # pixel loss only, where the perceptual part is not the point


def average_image(G):
    with torch.no_grad():
        ws = G.mapping.w_avg.reshape(1, 1, -1).repeat(1, G.num_ws, 1)
        return to_uint8(G.synthesis(ws, noise_mode="const"))


def test_public_names_resolve_to_the_function_and_class():
    assert draggan_fast.invert is invert and callable(invert)
    assert draggan_fast.Inversion is Inversion
    import importlib

    importlib.import_module("draggan_fast.inversion.inversion")  # no name clash with invert
    assert draggan_fast.invert is invert


def test_projection_improves_psnr_and_keeps_G(tiny_G, made_photo):
    start = psnr(average_image(tiny_G), made_photo)
    result = invert(tiny_G, made_photo, steps=60, pivotal_tuning=False, **FAST)
    assert result.generator is tiny_G and not result.tuned
    assert result.metrics["psnr_projection"] > start + 3, (start, result.metrics)
    assert result.metrics["psnr_tuned"] is None and result.metrics["seconds_tuning"] == 0.0
    np.testing.assert_array_equal(result.photo, made_photo)
    with torch.no_grad():
        expected = to_uint8(tiny_G.synthesis(torch.from_numpy(result.w)[None]))
    np.testing.assert_array_equal(result.image, expected)
    assert result.metrics["psnr_projection"] == pytest.approx(psnr(result.image, made_photo))


def test_tuning_improves_further_and_leaves_G_untouched(tiny_G, made_photo):
    before = {name: value.clone() for name, value in tiny_G.state_dict().items()}
    result = invert(tiny_G, made_photo, steps=30, tuning_steps=40, **FAST)
    metrics = result.metrics
    assert result.tuned and result.generator is not tiny_G
    assert metrics["psnr_tuned"] > metrics["psnr_projection"] + 1, metrics
    assert metrics["seconds_projection"] > 0 and metrics["seconds_tuning"] > 0
    for name, value in tiny_G.state_dict().items():
        torch.testing.assert_close(value, before[name], rtol=0, atol=0, msg=name)
    assert not any(p.requires_grad for p in tiny_G.parameters())
    tuned = result.generator
    assert not any(p.requires_grad for p in tuned.parameters()) and not tuned.training
    changed = [name for name, value in tuned.state_dict().items()
               if not torch.equal(value, before[name])]  # fmt: skip
    assert changed and all(name.startswith("synthesis.") for name in changed)
    assert not any("noise_const" in name for name in changed)  # noise buffers stay fixed
    # a drag session on the tuned copy starts from exactly the reconstruction
    session = DragSession(result.generator, w=result.w)
    np.testing.assert_array_equal(session.image(), result.image)


@pytest.mark.parametrize("latent_space", ["w", "w+"])
def test_latent_shapes(tiny_G, made_photo, latent_space):
    result = invert(tiny_G, made_photo, latent_space=latent_space, steps=3,
                    pivotal_tuning=False, **FAST)  # fmt: skip
    assert result.w.shape == (tiny_G.num_ws, tiny_G.w_dim) and result.w.dtype == np.float32
    rows_equal = all(np.array_equal(row, result.w[0]) for row in result.w)
    assert rows_equal == (latent_space == "w")
    assert result.metrics["latent_space"] == latent_space


def test_progress_reports_every_step_and_can_abort(tiny_G, made_photo):
    seen = []
    invert(tiny_G, made_photo, steps=3, tuning_steps=2, progress=seen.append, **FAST)
    assert [(p.stage, p.step, p.total) for p in seen] == [
        ("projection", 1, 3), ("projection", 2, 3), ("projection", 3, 3),
        ("tuning", 1, 2), ("tuning", 2, 2),
    ]  # fmt: skip
    assert seen[-1].image.shape == (32, 32, 3) and np.isfinite(seen[-1].loss)

    def stop(progress):
        raise KeyboardInterrupt

    before = {name: value.clone() for name, value in tiny_G.state_dict().items()}
    with pytest.raises(KeyboardInterrupt):
        invert(tiny_G, made_photo, steps=3, progress=stop)
    assert all(torch.equal(v, before[k]) for k, v in tiny_G.state_dict().items())


def test_default_and_discriminator_perceptual_losses(tiny_G, made_photo):
    result = invert(tiny_G, made_photo, steps=2, tuning_steps=1)
    assert result.metrics["perceptual"] == "landmark-detector"
    D = Discriminator(32, channel_base=512, channel_max=16).eval().requires_grad_(False)
    result = invert(tiny_G, made_photo, steps=2, tuning_steps=1, discriminator=D)
    assert result.metrics["perceptual"] == "discriminator"
    assert np.isfinite(result.metrics["psnr_tuned"])
    assert not any(p.requires_grad for p in D.parameters())


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"latent_space": "z"}, "latent_space must be 'w' or 'w\\+', got 'z'"),
        ({"steps": -1}, "steps must be an integer >= 0"),
        ({"tuning_steps": 2.5}, "tuning_steps must be an integer >= 0"),
        ({"pivotal_tuning": 1}, "pivotal_tuning must be True or False"),
        ({"pixel_loss": "l3"}, "pixel_loss must be 'mse' or 'l1'"),
        ({"lr": float("nan")}, "lr must be a finite number >= 0"),
        ({"discriminator": object()}, "discriminator must be a draggan_fast"),
    ],
)
def test_bad_settings(tiny_G, made_photo, settings, message):
    with pytest.raises(ValueError, match=message):
        invert(tiny_G, made_photo, **{"steps": 1, "tuning_steps": 1, **settings})


def test_bad_image_fails_before_any_work(tiny_G):
    with pytest.raises(ValueError, match="image array must be uint8"):
        invert(tiny_G, np.zeros([8, 8, 3], np.float64))


def test_inversion_is_repeatable(tiny_G, made_photo):
    first = invert(tiny_G, made_photo, steps=5, tuning_steps=2, **FAST)
    second = invert(tiny_G, made_photo, steps=5, tuning_steps=2, **FAST)
    np.testing.assert_array_equal(first.w, second.w)
    np.testing.assert_array_equal(first.image, second.image)
