"""What a training run shows: a kimg progress bar, a JSON-lines log and sample grids."""

import json
import sys
import time

import numpy as np
import torch
from PIL import Image

from draggan_fast.stylegan.seeds import z_from_seed


class ProgressBar:
    """`[#####.....] 12.345/200.000 kimg | 68.1 kimg/h | ...`, at most once per `interval_s`.

    On a terminal the line redraws in place; in a log file each update is its own line.
    """

    def __init__(self, total_kimg, start_kimg=0.0, interval_s=2.0, stream=None, width=24):
        self.total_kimg = total_kimg
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.width = width
        self.start_time = time.monotonic()
        self.start_kimg = start_kimg
        self.last_print = -float("inf")
        self.in_place = hasattr(self.stream, "isatty") and self.stream.isatty()

    def kimg_per_hour(self, kimg):
        elapsed = time.monotonic() - self.start_time
        return (kimg - self.start_kimg) / elapsed * 3600 if elapsed > 0 else 0.0

    def update(self, kimg, stats=None, force=False):
        now = time.monotonic()
        if not force and now - self.last_print < self.interval_s:
            return
        self.last_print = now
        fraction = min(max(kimg / self.total_kimg, 0.0), 1.0) if self.total_kimg > 0 else 1.0
        filled = round(fraction * self.width)
        rate = self.kimg_per_hour(kimg)
        parts = [
            f"[{'#' * filled}{'.' * (self.width - filled)}]",
            f"{kimg:.3f}/{self.total_kimg:g} kimg",
            f"{rate:.1f} kimg/h",
        ]
        if rate > 0 and kimg < self.total_kimg:
            parts.append(f"eta {(self.total_kimg - kimg) / rate * 60:.0f} min")
        parts += [f"{name} {value:.3f}" for name, value in (stats or {}).items()]
        line = " | ".join(parts)
        self.stream.write(("\r" + line) if self.in_place else (line + "\n"))
        self.stream.flush()

    def close(self):
        if self.in_place:
            self.stream.write("\n")
            self.stream.flush()


def append_log(path, record):
    with open(path, "a") as log:
        log.write(json.dumps(record) + "\n")


def image_grid(images, columns):
    """[N, C, H, W] float in about [-1, 1] -> uint8 [rows * H, columns * W, C] (blank-padded)."""
    images = (images.detach().float().cpu() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    count, channels, height, width = images.shape
    rows = -(-count // columns)
    grid = torch.zeros([rows * columns, channels, height, width], dtype=torch.uint8)
    grid[:count] = images
    grid = grid.reshape(rows, columns, channels, height, width).permute(0, 3, 1, 4, 2)
    return grid.reshape(rows * height, columns * width, channels).numpy()


def save_grid(path, images, columns=8):
    array = image_grid(images, columns)
    mode = "L" if array.shape[2] == 1 else "RGB"
    Image.fromarray(array[:, :, 0] if mode == "L" else array, mode).save(path)


def sample_latents(z_dim, count, device):
    """z [count, z_dim] of seeds 0 .. count-1 (the same faces in every grid of every run)."""
    return torch.cat([z_from_seed(seed, z_dim) for seed in range(count)]).to(device)


@torch.no_grad()
def save_sample_grid(path, generator, latents, batch_size=16, truncation_psi=1.0):
    """Render `latents` with const noise and write them as one PNG grid."""
    images = [
        generator(chunk, truncation_psi=truncation_psi, noise_mode="const")
        for chunk in latents.split(batch_size)
    ]
    save_grid(path, torch.cat(images), columns=int(np.ceil(np.sqrt(len(latents)))))
