"""What an inversion reports after each optimisation step, and the PSNR it measures with."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """img [1, 3, H, W] in about [-1, 1] -> uint8 [H, W, 3] (as DragSession renders)."""
    pixels = (img.detach()[0].float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return pixels.permute(1, 2, 0).cpu().numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (peak 255); inf when they are equal."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


@dataclass
class InversionProgress:
    """One step of one stage: `stage` "projection" or "tuning", `step` 1..`total`, the step's
    `loss` (pixel + weighted perceptual); `image` renders the step's reconstruction (uint8
    [H, W, 3]) on demand, so a callback that never looks at it costs nothing."""

    stage: str
    step: int
    total: int
    loss: float
    _pixels: torch.Tensor = field(repr=False)

    @property
    def image(self) -> np.ndarray:
        return to_uint8(self._pixels)


def report(progress, stage, step, total, loss, pixels):
    """Call the user's `progress` callback (if any) with an InversionProgress."""
    if progress is not None:
        progress(InversionProgress(stage, step, total, float(loss), pixels.detach()))
