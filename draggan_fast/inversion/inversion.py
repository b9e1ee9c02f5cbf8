"""`invert(G, photo)`: a real photo -> a latent and (pivotally tuned) generator to drag it with."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from draggan_fast.inversion.perceptual import make_perceptual_loss
from draggan_fast.inversion.preprocess import generator_size, load_photo
from draggan_fast.inversion.progress import psnr, to_uint8
from draggan_fast.inversion.projection import project
from draggan_fast.inversion.tuning import tune
from draggan_fast.session.generator_files import mark_tuned

LATENT_SPACES = ("w", "w+")
PIXEL_LOSSES = ("mse", "l1")


@dataclass
class Inversion:
    """The result of `invert`.

    w: float32 [num_ws, w_dim] (rows all equal for latent_space "w"): the start latent for
       `DragSession(inversion.generator, w=inversion.w)`.
    generator: the pivotally tuned deep copy of G when tuning ran, else G itself (moved to
       `device` as a copy when that differs from G's); G is never modified.
    image: uint8 [H, W, 3], the reconstruction generator.synthesis(w) (noise_mode "const").
    photo: uint8 [H, W, 3], the preprocessed photo it reconstructs.
    metrics: psnr_projection and psnr_tuned (dB against `photo`; psnr_tuned None without
       tuning), seconds_projection and seconds_tuning (0.0 without tuning), perceptual (the
       feature extractor used), latent_space, steps, tuning_steps.
    tuned: whether `generator` is a tuned copy, then marked so (`generator_files.mark_tuned`)
       that `DragSession.save` writes its weights beside the session.
    """

    w: np.ndarray
    generator: torch.nn.Module
    image: np.ndarray
    photo: np.ndarray
    metrics: dict = field(default_factory=dict)
    tuned: bool = False


def _check_settings(latent_space, steps, tuning_steps, pivotal_tuning, perceptual_weight,
                    pixel_loss, lr, tuning_lr):  # fmt: skip
    if latent_space not in LATENT_SPACES:
        raise ValueError(f"latent_space must be 'w' or 'w+', got {latent_space!r}")
    if pixel_loss not in PIXEL_LOSSES:
        raise ValueError(f"pixel_loss must be 'mse' or 'l1', got {pixel_loss!r}")
    for name, value in (("steps", steps), ("tuning_steps", tuning_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    if not isinstance(pivotal_tuning, bool):
        raise ValueError(f"pivotal_tuning must be True or False, got {pivotal_tuning!r}")
    for name, value in (("perceptual_weight", perceptual_weight), ("lr", lr),
                        ("tuning_lr", tuning_lr)):  # fmt: skip
        if not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def invert(
    G, image, *, latent_space="w+", steps=280, pivotal_tuning=True, tuning_steps=250,
    device=None, progress=None, perceptual_weights=None, discriminator=None,
    perceptual_weight=0.1, pixel_loss="mse", lr=0.3, tuning_lr=3e-3,
) -> Inversion:  # fmt: skip
    """Invert a photo into generator G: W+ (or W) projection, then pivotal tuning.

    image: a path, a PIL image or a uint8 array [H, W, 3]; EXIF-oriented, alpha flattened onto
    white, greyscale expanded, centre-cropped and resized to G's resolution
    (`draggan_fast.inversion.preprocess`, which also states the pixel limit). Bad images raise a
    one-line ValueError before any optimisation.

    Loss: pixel MSE (or L1, `pixel_loss`) + `perceptual_weight` x an LPIPS-style feature
    distance. The DEFAULT perceptual loss uses the bundled landmark detector's convolutional
    trunk (trained on the bundled model's procedural faces; no download); `discriminator=` (a
    draggan_fast StyleGAN2 Discriminator, e.g. from the same training run) uses its block
    features instead, and `perceptual_weights=` (a local VGG16 state-dict file, safetensors or
    torch.save, read as data only) uses VGG16 LPIPS features; VGG wins when both are given.
    Noise buffers are FIXED: G's `noise_const` (noise_mode "const", as DragSession renders),
    neither optimised nor regularised; only the latent (projection) and then the synthesis
    weights (tuning) change.

    steps: projection Adam steps from w_avg (lr `lr`, ramped as the official projector).
    pivotal_tuning / tuning_steps: fine-tune a deep copy's synthesis network for tuning_steps
    Adam steps (lr `tuning_lr`) with w fixed; 0 steps or pivotal_tuning=False skips it.
    Defaults (280 projection steps at lr 0.3, 250 tuning steps at lr 3e-3, perceptual weight
    0.1) were tuned on procedural faces of dataset seed 7777 with the bundled 64 px model (the
    step counts so that both stages take under 15 s per face on a 2-core CPU: benches/RESULTS.md,
    "Inversion"); the
    official projector's lr 0.1 and PTI's 3e-4 are tuned for 1024 px models and converge too
    slowly here.
    device: where to run (default: G's device). progress: called after every step with an
    `InversionProgress` (stage, step, total, loss, image); raising from it aborts the inversion.
    """
    _check_settings(latent_space, steps, tuning_steps, pivotal_tuning, perceptual_weight,
                    pixel_loss, lr, tuning_lr)  # fmt: skip
    photo = load_photo(image, generator_size(G))  # uint8 [H, W, 3]
    source_device = G.mapping.w_avg.device
    device = torch.device(device) if device is not None else source_device
    if device != source_device:
        G = copy.deepcopy(G).to(device)
    target = torch.from_numpy(photo).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1
    perceptual = None
    if perceptual_weight > 0:
        perceptual = make_perceptual_loss(perceptual_weights, discriminator, device)
    settings = {"perceptual": perceptual, "perceptual_weight": perceptual_weight,
                "pixel_loss": pixel_loss, "progress": progress}  # fmt: skip

    started = time.perf_counter()
    with torch.enable_grad():
        ws = project(G, target, latent_space=latent_space, steps=steps, lr=lr, **settings)
    seconds_projection = time.perf_counter() - started
    with torch.no_grad():
        projected = to_uint8(G.synthesis(ws, noise_mode="const"))
    metrics = {
        "psnr_projection": psnr(projected, photo), "psnr_tuned": None,
        "seconds_projection": seconds_projection, "seconds_tuning": 0.0,
        "perceptual": perceptual.name if perceptual is not None else None,
        "latent_space": latent_space, "steps": steps,
        "tuning_steps": tuning_steps if pivotal_tuning else 0,
    }  # fmt: skip
    generator, reconstruction, tuned = G, projected, False
    if pivotal_tuning and tuning_steps > 0:
        started = time.perf_counter()
        with torch.enable_grad():
            generator = tune(G, ws, target, steps=tuning_steps, lr=tuning_lr, **settings)
        mark_tuned(generator)  # sessions on it save its weights (session/generator_files.py)
        metrics["seconds_tuning"] = time.perf_counter() - started
        with torch.no_grad():
            reconstruction = to_uint8(generator.synthesis(ws, noise_mode="const"))
        metrics["psnr_tuned"] = psnr(reconstruction, photo)
        tuned = True
    w = ws[0].float().cpu().numpy()  # [num_ws, w_dim]
    return Inversion(w=w, generator=generator, image=reconstruction, photo=photo,
                     metrics=metrics, tuned=tuned)  # fmt: skip
