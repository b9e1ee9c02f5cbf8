"""Pivotal tuning (PTI, Roich et al. 2021): fine-tune a copy of the synthesis network so that
the projected pivot latent reproduces the photo almost exactly, the latent staying fixed.

Semantics follow PTI's generator-tuning stage, rewritten: Adam on every synthesis parameter
(weights, biases, affine maps, noise strengths; the noise buffers stay fixed) with the same
pixel + perceptual loss as the projection. PTI's optional locality regulariser is not used.
"""

from __future__ import annotations

import copy

import torch

from draggan_fast.inversion.progress import report
from draggan_fast.inversion.projection import reconstruction_loss


def tune(
    G, ws, target, *, steps=300, lr=1e-3, perceptual=None, perceptual_weight=0.1,
    pixel_loss="mse", progress=None,
):  # fmt: skip
    """A deep copy of G with its synthesis tuned so G.synthesis(ws) ~ target; G is untouched.

    ws [1, num_ws, w_dim] (fixed pivot), target [1, 3, H, W] in [-1, 1], both on G's device.
    The copy is returned in eval mode with requires_grad off, like a loaded generator.
    """
    tuned = copy.deepcopy(G).eval()
    tuned.requires_grad_(False)
    parameters = [p for p in tuned.synthesis.parameters() if p.is_floating_point()]
    for parameter in parameters:
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(parameters, lr=lr)
    if perceptual is not None:
        perceptual.set_target(target)
    ws = ws.detach()
    for step in range(steps):
        image = tuned.synthesis(ws, noise_mode="const")  # [1, 3, H, W]
        loss = reconstruction_loss(image, target, perceptual, perceptual_weight, pixel_loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        report(progress, "tuning", step + 1, steps, loss.item(), image)
    return tuned.requires_grad_(False)
