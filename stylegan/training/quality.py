"""How good a face generator is, measured against the procedural data with the landmark detector.

Four figures, each computed the same way on `count` generated faces (seeds 0.., psi as given) and
on `count` procedural faces of a held-out dataset seed (the reference level):

- landmark Fréchet distance: the Fréchet distance between the distributions of the 17 detected
  landmarks (34 numbers per face, px) of generated and real faces: do generated faces have the
  data's layouts (eye spacing, mouth position, head pose...)? 0 = the same Gaussian statistics.
- feature Fréchet distance: the same on the detector's pooled context features (64 numbers per
  face): an FID-like overall figure in a feature space trained on these faces (trained with
  mild blur, so it looks past blur: sharpness measures that).
- landmark flip disagreement (px): detect on the image and on its mirror (mirrored back, left and
  right landmarks swapped); the mean distance between the two answers. A well-formed face gives
  one unambiguous answer; a smeared or malformed one lets the detector disagree with itself.
- sharpness: the mean squared Laplacian of the grey image (edges and detail); reported also as a
  ratio to the real faces' (1 = as sharp as the data; blur lowers it).

A real-against-real row (two disjoint sets of real faces) gives each Fréchet distance's floor at
this sample count. Everything is deterministic for given seeds.
"""

import numpy as np
import torch
import torch.nn.functional as F

from draggan_fast.stylegan.dataset import LANDMARK_NAMES, FaceDataset
from draggan_fast.stylegan.seeds import z_from_seed

# index of each landmark's mirror image (left <-> right); centre landmarks map to themselves
_MIRROR = [
    LANDMARK_NAMES.index(name.replace("left", "\0").replace("right", "left").replace("\0", "right"))
    for name in LANDMARK_NAMES
]
# [1, 1, 3, 3]: the 4-neighbour Laplacian
_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])[None, None]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of a [N, D] and b [M, D]."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = (np.atleast_2d(np.cov(x, rowvar=False)) for x in (a, b))  # [D, D]
    values, vectors = np.linalg.eigh(cov_a)
    sqrt_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    # tr sqrt(cov_a cov_b) = tr sqrt(sqrt_a cov_b sqrt_a), a symmetric PSD matrix
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a), 0, None)).sum()
    distance = ((mean_a - mean_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    return float(max(distance, 0.0))


@torch.no_grad()
def face_statistics(images: torch.Tensor, detector) -> dict:
    """Per-face measurements of images [N, 3, H, W] in [-1, 1]: landmarks [N, K*2], pooled
    detector features [N, C], flip disagreement [N] (px) and sharpness [N]."""
    detector.eval()
    features = detector.context_features(images)  # [N, 2w, S/4, S/4]
    landmarks = detector.landmarks_from_features(features, images.shape[2:])  # [N, K, 2]
    mirrored = detector(images.flip(3))[:, _MIRROR]  # [N, K, 2] in the mirror's pixels
    mirrored[..., 0] = images.shape[3] - 1 - mirrored[..., 0]
    flip = (landmarks - mirrored).norm(dim=2).mean(dim=1)  # [N]
    grey = images.mean(dim=1, keepdim=True)  # [N, 1, H, W]
    laplacian = F.conv2d(grey, _LAPLACIAN.to(grey), padding=0)  # [N, 1, H-2, W-2]
    return {
        "landmarks": landmarks.flatten(1),
        "features": features.mean(dim=(2, 3)),  # [N, 2w]
        "flip_px": flip,
        "sharpness": laplacian.square().mean(dim=(1, 2, 3)),
    }


def _batched(make_images, count, detector, batch_size):
    device = detector.log_temperature.device
    parts = [
        face_statistics(make_images(start, min(start + batch_size, count)).to(device), detector)
        for start in range(0, count, batch_size)
    ]
    return {key: torch.cat([part[key] for part in parts]).cpu().numpy() for key in parts[0]}


def real_faces(resolution, data_seed):
    """images(start, stop) -> [stop - start, 3, R, R] procedural faces of dataset `data_seed`."""
    dataset = FaceDataset(resolution, data_seed)
    return lambda start, stop: torch.stack([dataset[i][0] for i in range(start, stop)])


def generated_faces(generator, psi):
    """images(start, stop) -> the generator's faces of seeds start..stop-1 (z from each seed)."""

    def images(start, stop):
        z = torch.cat([z_from_seed(seed, generator.z_dim) for seed in range(start, stop)])
        z = z.to(next(generator.parameters()).device)  # [stop - start, z_dim]
        return generator(z, truncation_psi=psi, noise_mode="const").clamp(-1, 1)

    return images


def measure_quality(generator, detector, count=1000, psi=1.0, data_seed=2002, batch_size=100):
    """The figures of this module's docstring, as a dict of floats (`*_real`: the reference)."""
    if count < 50:
        raise ValueError(f"count must be >= 50 for Fréchet distances, got {count}")
    resolution = generator.img_resolution
    real = _batched(real_faces(resolution, data_seed), 2 * count, detector, batch_size)
    fake = _batched(generated_faces(generator, psi), count, detector, batch_size)
    first, second = ({k: v[s] for k, v in real.items()} for s in (slice(count), slice(count, None)))
    sharp_real = float(real["sharpness"].mean())
    return {
        "count": count, "psi": psi, "data_seed": data_seed,
        "landmark_fd": frechet_distance(fake["landmarks"], first["landmarks"]),
        "landmark_fd_real": frechet_distance(second["landmarks"], first["landmarks"]),
        "feature_fd": frechet_distance(fake["features"], first["features"]),
        "feature_fd_real": frechet_distance(second["features"], first["features"]),
        "flip_px": float(fake["flip_px"].mean()),
        "flip_px_real": float(real["flip_px"].mean()),
        "sharpness": float(fake["sharpness"].mean()),
        "sharpness_real": sharp_real,
        "sharpness_ratio": float(fake["sharpness"].mean()) / sharp_real,
    }  # fmt: skip


def format_quality_table(results: dict) -> str:
    """A markdown table of {label: measure_quality(...)} with the real faces' reference column."""
    first = next(iter(results.values()))
    rows = [
        ("landmark Fréchet distance (px²)", "landmark_fd", "landmark_fd_real", "{:.1f}"),
        ("feature Fréchet distance", "feature_fd", "feature_fd_real", "{:.4f}"),
        ("landmark flip disagreement (px)", "flip_px", "flip_px_real", "{:.3f}"),
        ("sharpness (mean squared Laplacian)", "sharpness", "sharpness_real", "{:.4f}"),
    ]
    header = ["measure", *results, "real faces"]
    lines = [
        f"{first['count']} generated faces (seeds 0-{first['count'] - 1}, psi {first['psi']:g}) "
        f"against {first['count']} procedural faces of dataset seed {first['data_seed']}; "
        f"the real column compares another {first['count']} real faces (the floor):",
        "",
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
    ]
    for name, key, real_key, number in rows:
        cells = [number.format(result[key]) for result in results.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {number.format(first[real_key])} |")
    ratios = [f"{result['sharpness_ratio']:.2f}" for result in results.values()]
    lines.append("| sharpness / real faces' | " + " | ".join(ratios) + " | 1.00 |")
    return "\n".join(lines)
