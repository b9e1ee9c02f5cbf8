"""Training and held-out evaluation of the landmark detector on rendered faces.

`python -m draggan_fast.stylegan.landmarks_train --out detector.safetensors` trains on faces of
dataset seed TRAIN_SEED (a fresh face for every sample), with mild blur and noise so that it also
reads generator outputs, and reports the mean landmark error in pixels on HELD_OUT_COUNT faces of
dataset seed HELD_OUT_SEED, which it never trains on.
"""

import argparse
import math
import time

import torch
import torch.nn.functional as F

from draggan_fast.stylegan.dataset.pool import FaceBatches
from draggan_fast.stylegan.landmarks import LandmarkDetector, save_detector

TRAIN_SEED = 1001
HELD_OUT_SEED = 2002
HELD_OUT_COUNT = 512


def degrade(images, generator):
    """Random Gaussian blur (sigma 0..1 px) and pixel noise (0..0.06), per image.

    `generator` is a CPU torch.Generator; the images may live on any device.
    """
    batch, device = images.shape[0], images.device
    sigma = (torch.rand(batch, generator=generator) * 1.0 + 1e-3).to(device)  # [B]
    taps = torch.arange(-2, 3, dtype=images.dtype, device=device)  # [5]
    kernel = torch.exp(-(taps[None] ** 2) / (2 * sigma[:, None] ** 2))
    kernel = kernel / kernel.sum(dim=1, keepdim=True)  # [B, 5]
    channels = images.shape[1]
    x = images.reshape(1, batch * channels, *images.shape[2:])
    rows = kernel.repeat_interleave(channels, 0)[:, None, None, :]  # [B*C, 1, 1, 5]
    x = F.conv2d(F.pad(x, [2, 2, 0, 0], mode="replicate"), rows, groups=batch * channels)
    x = F.conv2d(F.pad(x, [0, 0, 2, 2], mode="replicate"), rows.transpose(2, 3),
                 groups=batch * channels)  # fmt: skip
    x = x.reshape(images.shape)
    scale = torch.rand(batch, 1, 1, 1, generator=generator) * 0.06
    noise = (torch.randn(images.shape, generator=generator) * scale).to(device)
    return (x + noise).clamp(-1, 1)


@torch.no_grad()
def held_out_error(detector, resolution=64, count=HELD_OUT_COUNT, batch=64):
    """(mean, 95th percentile, per-landmark mean) of |detected - true| in pixels."""
    faces = FaceBatches(resolution, HELD_OUT_SEED, next(detector.parameters()).device)
    errors = []
    for start in range(0, count, batch):
        images, landmarks = faces.batch(start, min(batch, count - start))
        found = detector.detect(images)
        errors.append((found - landmarks).norm(dim=2).cpu())  # [B, K]
    errors = torch.cat(errors)
    return float(errors.mean()), float(errors.flatten().quantile(0.95)), errors.mean(0).tolist()


def train_detector(
    steps=2000, batch=32, lr=2e-3, resolution=64, width=32, seed=0, device="cpu", pool=0,
    log=print,
):  # fmt: skip
    """Train on faces of dataset TRAIN_SEED: fresh renders, or (pool N > 0) faces 0..N-1
    rendered once in parallel and kept on the device."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    detector = LandmarkDetector(input_size=resolution, width=width).to(device)
    optimizer = torch.optim.Adam(detector.parameters(), lr=lr)
    faces = FaceBatches(resolution, TRAIN_SEED, device, pool_size=pool)
    started = time.monotonic()
    for step in range(steps):
        for group in optimizer.param_groups:  # cosine decay to 2% of lr
            group["lr"] = lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        images, landmarks = faces.batch(step * batch, batch)
        predicted = detector(degrade(images, generator))
        loss = (predicted - landmarks).abs().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == steps - 1:
            elapsed = time.monotonic() - started
            log(f"step {step}/{steps} L1 {float(loss.detach()):.3f} px, {elapsed:.0f} s")
    return detector.cpu().eval(), time.monotonic() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="where to write the detector")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, ...")
    parser.add_argument("--pool", type=int, default=0, help="pre-rendered faces (0: fresh)")
    args = parser.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    detector, seconds = train_detector(
        args.steps, args.batch, args.lr, width=args.width, device=args.device, pool=args.pool
    )
    mean, p95, per_landmark = held_out_error(detector)
    info = {
        "train_steps": args.steps, "train_batch": args.batch, "train_seconds": round(seconds),
        "train_device": args.device, "train_pool": args.pool,
        "train_dataset_seed": TRAIN_SEED, "held_out_seed": HELD_OUT_SEED,
        "held_out_count": HELD_OUT_COUNT, "held_out_mean_px": mean, "held_out_p95_px": p95,
        "held_out_per_landmark_px": per_landmark,
    }  # fmt: skip
    save_detector(detector, args.out, info)
    print(f"held-out error: mean {mean:.3f} px, 95th percentile {p95:.3f} px -> {args.out}")


if __name__ == "__main__":
    main()
