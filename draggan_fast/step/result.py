"""`StepResult`: what one drag step reports, copied from the device only when first read.

A step of the fast backend leaves its results on the device. Copying them to the host makes the
host wait for the device to finish the step (a synchronisation), so a deferred StepResult keeps
them as tensors: the small fields (handles, targets, distances, losses, done) come over in one
copy the first time any of them is read, the image in a second copy the first time it is read,
and both are cached. A loop of steps that reads nothing never waits for the device.
`copy_to_host` is the only function here that copies.

Public points are (x, y) pixels; the device tensors are (row, col).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.profiler import record_function

LOSS_NAMES = ("motion", "mask", "total")


def copy_to_host(tensor: torch.Tensor) -> np.ndarray:
    """Device tensor -> numpy array: the one device-to-host copy of step results."""
    return tensor.detach().cpu().numpy()


def pack_small_fields(handles_rc, targets_rc, done, losses) -> torch.Tensor:
    """One float32 vector on the handles' device (no host sync): handles [K, 2] (row, col),
    targets [K, 2] (row, col), done (bool scalar), then the LOSS_NAMES scalars."""
    device = handles_rc.device
    return torch.cat([
        handles_rc.detach().reshape(-1).float(),
        targets_rc.detach().reshape(-1).to(device, torch.float32),
        done.reshape(1).to(device, torch.float32),
        *(losses[name].detach().reshape(1).to(device, torch.float32) for name in LOSS_NAMES),
    ])  # fmt: skip


class StepResult:
    """One drag step. Points are (x, y) pixels.

    handles: float32 [K, 2], found by this step's tracking, where its motion supervision acted;
    targets: float32 [K, 2]; distances: float32 [K], |target - handle| in pixels;
    losses: dict of floats "motion", "mask", "total" of this step's forward pass;
    done: bool, every handle within stop_distance (this step did not update w);
    step: int, steps run by the session so far, this one included;
    image: uint8 [H, W, 3] of this step's forward pass when asked, else None.

    The session makes it from tensors still on the device: handles_rc, targets_rc [K, 2]
    (row, col), done (bool scalar), losses (dict of LOSS_NAMES scalars) and image (uint8
    [H, W, 3] or None), packed now on the device (so later steps cannot change them) and read on
    first access. `materialized` says whether the small fields were copied.
    """

    def __init__(self, handles_rc, targets_rc, done, losses, step, image):
        self.step = step
        self._packed = pack_small_fields(handles_rc, targets_rc, done, losses)
        self._count = len(handles_rc)
        self._small = None  # (handles, targets, distances, losses, done) once read
        self._image_tensor = image  # uint8 [H, W, 3] on the device until read
        self._image = None

    @property
    def materialized(self) -> bool:
        """Whether the small fields were copied to the host."""
        return self._small is not None

    def _read_small(self):
        if self._small is None:
            packed = copy_to_host(self._packed)
            count = self._count
            handles = packed[: 2 * count].reshape(count, 2)[:, ::-1].copy()  # (x, y)
            targets = packed[2 * count : 4 * count].reshape(count, 2)[:, ::-1].copy()
            distances = np.linalg.norm(targets - handles, axis=1).astype(np.float32)
            losses = {
                name: float(value) for name, value in zip(LOSS_NAMES, packed[4 * count + 1 :])
            }
            self._small = (handles, targets, distances, losses, bool(packed[4 * count]))
            self._packed = None
        return self._small

    @property
    def handles(self) -> np.ndarray:
        return self._read_small()[0]

    @property
    def targets(self) -> np.ndarray:
        return self._read_small()[1]

    @property
    def distances(self) -> np.ndarray:
        return self._read_small()[2]

    @property
    def losses(self) -> dict:
        return self._read_small()[3]

    @property
    def done(self) -> bool:
        return self._read_small()[4]

    @property
    def image(self) -> np.ndarray | None:
        if self._image_tensor is not None:
            with record_function("draggan/image_transfer"):
                self._image = copy_to_host(self._image_tensor)
            self._image_tensor = None
        return self._image

    def materialize(self) -> StepResult:
        """Copy everything to the host now (what an eager backend's step does); returns self."""
        self._read_small()
        _ = self.image
        return self

    def __repr__(self) -> str:
        handles, targets, distances, losses, done = self._read_small()
        image = None if self.image is None else f"uint8 {list(self.image.shape)}"
        return (
            f"StepResult(step={self.step}, handles={handles.tolist()}, "
            f"targets={targets.tolist()}, distances={distances.tolist()}, losses={losses}, "
            f"done={done}, image={image})"
        )
