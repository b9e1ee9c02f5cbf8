"""Projection: the latent whose image is closest to a photo, found by Adam from the average w.

Follows the semantics of the official StyleGAN2-ADA projector (`projector.py`), rewritten: start
at the mapping network's `w_avg`, Adam with a learning rate ramped up over the first 5% of steps
and down (cosine) over the last 25%, Gaussian noise added to w early on (scaled by w's spread,
fading out over the first 75% of steps) to escape poor local optima; that noise comes from a
fixed seed, so an inversion is repeatable. Differences: the loss is a
pixel MSE plus a weighted perceptual distance (`perceptual.py`) instead of VGG LPIPS alone, W+
(one vector per style input) is the default, and the noise buffers stay FIXED at G's
`noise_const` (noise_mode "const", as DragSession renders) rather than optimised and
regularised, so the latent alone explains the photo and the drag sees the same noise.
"""

from __future__ import annotations

import math

import torch

from draggan_fast.inversion.progress import report

W_STD_SAMPLES = 10_000


@torch.no_grad()
def w_statistics(G, device) -> tuple[torch.Tensor, float]:
    """(w_avg [w_dim], w_std): the mapping's tracked average and the RMS distance of
    W_STD_SAMPLES mapped z (fixed seed) from it, as the official projector estimates it."""
    w_avg = G.mapping.w_avg.detach().to(device=device, dtype=torch.float32)
    generator = torch.Generator().manual_seed(0)
    z = torch.randn([W_STD_SAMPLES, G.z_dim], generator=generator).to(device)
    c = torch.zeros([W_STD_SAMPLES, G.c_dim], device=device)
    w = G.mapping(z, c)[:, 0].float()  # [S, w_dim]
    w_std = float((w - w_avg).square().sum(dim=1).mean().sqrt())
    return w_avg, w_std


def learning_rate(t: float, lr: float, rampup: float = 0.05, rampdown: float = 0.25) -> float:
    """lr at progress t in [0, 1]: linear ramp-up over `rampup`, cosine ramp-down over the
    last `rampdown` of the run."""
    down = min(1.0, (1.0 - t) / rampdown)
    down = 0.5 - 0.5 * math.cos(down * math.pi)
    return lr * down * min(1.0, t / rampup)


def reconstruction_loss(image, target, perceptual, perceptual_weight, pixel_loss):
    """pixel loss (MSE or L1 over [-1, 1] values) + perceptual_weight * perceptual(image)."""
    if pixel_loss == "mse":
        loss = (image - target).square().mean()
    else:
        loss = (image - target).abs().mean()
    if perceptual is not None and perceptual_weight > 0:
        loss = loss + perceptual_weight * perceptual(image)
    return loss


def project(
    G, target, *, latent_space="w+", steps=300, lr=0.1, initial_noise=0.05, noise_ramp=0.75,
    perceptual=None, perceptual_weight=0.1, pixel_loss="mse", progress=None,
):  # fmt: skip
    """target [1, 3, H, W] in [-1, 1] on G's device -> ws [1, num_ws, w_dim] (detached).

    latent_space "w+": every style input has its own vector; "w": one vector for all of them.
    """
    device = target.device
    w_avg, w_std = w_statistics(G, device)
    count = G.num_ws if latent_space == "w+" else 1
    w = w_avg.reshape(1, 1, -1).repeat(1, count, 1).requires_grad_(True)  # [1, count, w_dim]
    optimizer = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999))
    noise_source = torch.Generator(device=device).manual_seed(0)
    if perceptual is not None:
        perceptual.set_target(target)
    for step in range(steps):
        t = step / steps
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(t, lr) if steps > 1 else lr
        noise_scale = w_std * initial_noise * max(0.0, 1.0 - t / noise_ramp) ** 2
        w_noise = torch.randn(w.shape, generator=noise_source, device=device)
        w_noisy = w + w_noise * noise_scale
        ws = w_noisy.expand(1, G.num_ws, -1)  # [1, num_ws, w_dim]
        image = G.synthesis(ws, noise_mode="const")  # [1, 3, H, W]
        loss = reconstruction_loss(image, target, perceptual, perceptual_weight, pixel_loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        report(progress, "projection", step + 1, steps, loss.item(), image)
    return w.detach().expand(1, G.num_ws, -1).clone()
