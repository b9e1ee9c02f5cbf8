"""Validation and conversion of what users hand to a `DragSession`: points, masks, latents and
hyperparameters, and the drag settings a user leaves unset (the model's recommended ones, else
the official DragGAN defaults). Every function raises a `ValueError` that names the problem."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch

from draggan_fast.kernels.tracking import METRICS as TRACKING_DISTANCES
from draggan_fast.step.backend import DragConfig
from draggan_fast.stylegan.seeds import z_from_seed

LATENT_SPACES = ("w", "w+")
NOISE_MODES = ("const", "random", "none")
# The official DragGAN GUI's settings (tuned for 512 px models): what a model that recommends
# none (an official checkpoint) gets. r1, r2 are in 512-px units.
OFFICIAL_DRAG_SETTINGS = {"lr": 1e-3, "lambda_mask": 20.0, "r1": 3.0, "r2": 12.0}
# Where a session's setting came from: its caller, the model's metadata, the official defaults.
GIVEN, MODEL, OFFICIAL = "given", "model", "official"
# What `DragSession.configure` may change between steps; the other settings are fixed.
CONFIGURABLE = ("lr", "r1", "r2", "lambda_mask", "tracking", "stop_distance", "noise_mode")


def recommended_settings(G) -> dict[str, tuple[float, str]]:
    """{name: (value, MODEL or OFFICIAL)} for each of OFFICIAL_DRAG_SETTINGS: the generator's
    own recommendation (`G.drag_settings`, read from its model file) where it has one."""
    from_model = getattr(G, "drag_settings", None) or {}
    return {
        name: (from_model[name], MODEL) if name in from_model else (official, OFFICIAL)
        for name, official in OFFICIAL_DRAG_SETTINGS.items()
    }


def resolve_settings(G, **given) -> tuple[dict, dict[str, str]]:
    """The drag settings in `given` (lr, lambda_mask, r1, r2; None = unset) with every unset one
    taken from `recommended_settings(G)`: -> (values, {name: GIVEN, MODEL or OFFICIAL})."""
    values, sources = {}, {}
    for name, (recommended, source) in recommended_settings(G).items():
        value = given.get(name)
        values[name], sources[name] = (recommended, source) if value is None else (value, GIVEN)
    return values, sources


def describe_settings(values: dict, sources: dict) -> str:
    """ "lr 0.005 (model), lambda_mask 1 (model), r1 3 (official), r2 12 (given)"."""
    return ", ".join(f"{name} {values[name]:g} ({sources[name]})" for name in sources)


def check_choice(name: str, value, choices) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value.lower()


def check_number(name: str, value, minimum=None, exclusive=False) -> float:
    """A finite real number, optionally >= minimum (> minimum when exclusive)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        relation = ">" if exclusive else ">="
        raise ValueError(f"{name} must be {relation} {minimum}, got {value!r}")
    return float(value)


def check_int(name: str, value, minimum: int, maximum: int) -> int:
    """An int in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be in [{minimum}, {maximum}], got {value}")
    return int(value)


def check_flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def rc_to_xy(points_rc: torch.Tensor) -> np.ndarray:
    """[K, 2] (row, col) tensor -> float32 [K, 2] (x, y) array."""
    return points_rc.detach().cpu().float().numpy()[:, ::-1].copy()


def point_xy(name: str, point, size: tuple[int, int]) -> tuple[float, float]:
    """(x, y) pixel inside an image of size (height, width): 0 <= x <= W - 1, 0 <= y <= H - 1."""
    if isinstance(point, torch.Tensor):
        point = point.detach().cpu()
    try:
        x, y = (float(value) for value in np.asarray(point, dtype=np.float64).reshape(-1))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (x, y) of numbers, got {point!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"{name} must be finite, got ({x}, {y})")
    height, width = size
    if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
        raise ValueError(
            f"{name} ({x:g}, {y:g}) is outside the {width}x{height} image "
            f"(x must be in [0, {width - 1}], y in [0, {height - 1}])"
        )
    return x, y


def point_rc(name: str, point, size: tuple[int, int], device) -> torch.Tensor:
    """(x, y) pixel inside an image of size (H, W) -> float32 [1, 2] (row, col) on device."""
    x, y = point_xy(name, point, size)
    return torch.tensor([[y, x]], dtype=torch.float32, device=device)


def check_point_index(index, count: int) -> int:
    """The index of one of `count` points."""
    if count == 0:
        raise ValueError(f"no point {index!r}: the session has no points")
    return check_int("point index", index, 0, count - 1)


def movable_mask_tensor(mask, size: tuple[int, int], device) -> torch.Tensor:
    """Mask -> float32 [H, W] on device, 1 where the image may change.

    bool: as is. Integers: 0/1, or 0..255 with >= 128 movable (8-bit images). Floats: weights in
    [0, 1]. A PIL image is converted to 8-bit grey first (white = movable).
    """
    if hasattr(mask, "convert") and hasattr(mask, "size"):  # a PIL image
        mask = np.asarray(mask.convert("L"))
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    array = np.asarray(mask)
    if array.ndim != 2 or tuple(array.shape) != tuple(size):
        raise ValueError(f"mask must be [H, W] = {list(size)}, got shape {list(array.shape)}")
    if array.dtype == np.bool_:
        movable = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > 255:
            raise ValueError("an integer mask must hold 0/1 or 0..255 values")
        movable = (array > 0) if array.max() <= 1 else (array >= 128)
        movable = movable.astype(np.float32)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise ValueError("a float mask must hold finite values in [0, 1]")
        movable = array.astype(np.float32)
    else:
        raise ValueError(f"mask must be bool, integer or float, got dtype {array.dtype}")
    return torch.from_numpy(np.ascontiguousarray(movable)).to(device)  # [H, W]


def start_latent(w, num_ws: int, w_dim: int, device) -> torch.Tensor:
    """w as [w_dim], [num_ws, w_dim] or [1, num_ws, w_dim] -> float32 [1, num_ws, w_dim]."""
    if isinstance(w, torch.Tensor):
        tensor = w.detach().to(device=device, dtype=torch.float32)
    else:
        try:
            tensor = torch.as_tensor(np.asarray(w, dtype=np.float32), device=device)
        except (TypeError, ValueError):
            raise ValueError(f"w must be an array of numbers, got {type(w).__name__}") from None
    shape = list(tensor.shape)
    if shape == [w_dim]:
        tensor = tensor.reshape(1, 1, w_dim).repeat(1, num_ws, 1)
    elif shape == [num_ws, w_dim]:
        tensor = tensor.unsqueeze(0)
    elif shape != [1, num_ws, w_dim]:
        raise ValueError(
            f"w must be [{w_dim}], [{num_ws}, {w_dim}] or [1, {num_ws}, {w_dim}], got {shape}"
        )
    if not torch.isfinite(tensor).all():
        raise ValueError("w must be finite")
    return tensor.clone()


def seed_latent(G, seed, truncation_psi, truncation_cutoff, device) -> torch.Tensor:
    """The start latent of `seed` on G, as the official tools map it: [1, num_ws, w_dim]."""
    z = z_from_seed(seed, G.z_dim).to(device)
    label = torch.zeros([1, G.c_dim], device=device)
    with torch.no_grad():
        return G.mapping(
            z, label, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff
        )


def default_feature_block(img_resolution: int, num_blocks: int) -> int:
    """Block 5 (128x128 for 256..1024 px, as officially) when it exists, else the block at half
    the image resolution (blocks are 4, 8, ..., so block i has resolution 2 ** (i + 2))."""
    if num_blocks > 5:
        return 5
    return max(int(math.log2(img_resolution)) - 3, 0)


def drag_settings(
    G,
    *,
    seed,
    truncation_psi,
    truncation_cutoff,
    latent_space,
    n_optimized_layers,
    lr,
    r1,
    r2,
    lambda_mask,
    feature_block,
    tracking,
    stop_distance,
    noise_mode,
    backend,
) -> tuple[dict, DragConfig]:
    """Check a session's settings against generator G.

    Returns (hyperparameters as given, resolved: what a saved session records) and the
    DragConfig in pixels of G's image (radii scaled by H / 512 and rounded, as officially).
    """  # fmt: skip
    height = G.img_resolution
    num_blocks = len(G.synthesis.blocks)
    if feature_block is None:
        feature_block = default_feature_block(height, num_blocks)
    if truncation_cutoff is not None:
        truncation_cutoff = check_int("truncation_cutoff", truncation_cutoff, 0, G.num_ws)
    if stop_distance is None:
        stop_distance = max(2 * height / 512, 2)
    if not isinstance(backend, str):
        raise ValueError(f"backend must be a name, got {backend!r}")
    hyperparameters = {
        "seed": check_int("seed", seed, 0, 2**32 - 1),
        "truncation_psi": check_number("truncation_psi", truncation_psi),
        "truncation_cutoff": truncation_cutoff,
        "latent_space": check_choice("latent_space", latent_space, LATENT_SPACES),
        "n_optimized_layers": check_int("n_optimized_layers", n_optimized_layers, 1, G.num_ws),
        "lr": check_number("lr", lr, 0, exclusive=True),
        "r1": check_number("r1", r1, 0, exclusive=True),
        "r2": check_number("r2", r2, 0),
        "lambda_mask": check_number("lambda_mask", lambda_mask, 0),
        "feature_block": check_int("feature_block", feature_block, 0, num_blocks - 1),
        "tracking": check_choice("tracking", tracking, TRACKING_DISTANCES),
        "stop_distance": check_number("stop_distance", stop_distance, 0),
        "noise_mode": check_choice("noise_mode", noise_mode, NOISE_MODES),
        "backend": backend,
    }
    config = DragConfig(
        latent_space=hyperparameters["latent_space"],
        n_optimized_layers=hyperparameters["n_optimized_layers"],
        feature_block=hyperparameters["feature_block"],
        # At least 1 px: below 256 px the official rounding gives an empty disk (a NaN loss).
        motion_radius=max(round(hyperparameters["r1"] * height / 512), 1),
        tracking_radius=round(hyperparameters["r2"] * height / 512),
        lambda_mask=hyperparameters["lambda_mask"],
        tracking=hyperparameters["tracking"],
        stop_distance=hyperparameters["stop_distance"],
        noise_mode=hyperparameters["noise_mode"],
    )
    return hyperparameters, config


def session_settings(G, *, lr, r1, r2, lambda_mask, compile, cuda_graph, **settings):
    """A new DragSession's settings on G (`settings`: `drag_settings`' other keywords), lr, r1,
    r2 and lambda_mask resolved by `resolve_settings`: -> (hyperparameters, with compile and
    cuda_graph as asked; their DragConfig; where lr, r1, r2 and lambda_mask came from)."""
    values, sources = resolve_settings(G, lr=lr, r1=r1, r2=r2, lambda_mask=lambda_mask)
    hyperparameters, config = drag_settings(G, **settings, **values)
    hyperparameters["compile"] = check_flag("compile", compile)
    if cuda_graph is not None:
        check_flag("cuda_graph", cuda_graph)
    hyperparameters["cuda_graph"] = cuda_graph  # as asked (None: the backend's default)
    return hyperparameters, config, sources


def reconfigure(G, hyperparameters: dict, changes: dict) -> tuple[dict, DragConfig]:
    """A session's `hyperparameters` (as `drag_settings` returned them, with compile and
    cuda_graph) with `changes` to CONFIGURABLE settings applied, checked against G: -> (the new
    hyperparameters, their DragConfig). A change to any other setting raises ValueError."""
    fixed = sorted(set(changes) - set(CONFIGURABLE))
    if fixed:
        raise ValueError(
            f"configure() cannot change {', '.join(fixed)}; it takes "
            f"{', '.join(CONFIGURABLE)} (start a new DragSession for the rest)"
        )
    settings = {**hyperparameters, **changes}
    fixed_flags = {name: settings.pop(name) for name in ("compile", "cuda_graph")}
    hyperparameters, config = drag_settings(G, **settings)
    hyperparameters.update(fixed_flags)
    return hyperparameters, config
