"""VGG16's convolutional trunk for an LPIPS-style loss, from a local state-dict file read as data.

The file is the user's (nothing is downloaded): a safetensors file, or a `torch.save`d state dict
read with `torch.load(weights_only=True)`, which refuses any pickled object that is not plain
tensors and containers, so a file carrying code is rejected, never run. Keys are torchvision's
`vgg16().state_dict()` names (`features.0.weight` .. `features.28.bias`); `classifier.*` keys are
ignored. Features are taken after relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3, as in LPIPS,
on inputs shifted and scaled with LPIPS's constants.
"""

from __future__ import annotations

import os
import pickle

import torch

# conv output channels of VGG16's 13 convolutions; "M" = 2x2 max-pool
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
# indices (in torchvision's `features` Sequential) of the ReLUs LPIPS reads
LPIPS_TAPS = (3, 8, 15, 22, 29)
# LPIPS's input normalisation for images in [-1, 1]
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)


class VGG16Features(torch.nn.Module):
    """img [N, 3, H, W] in [-1, 1] -> 5 feature maps (64, 128, 256, 512, 512 channels)."""

    def __init__(self):
        super().__init__()
        layers, channels = [], 3
        for item in VGG16_LAYOUT:
            if item == "M":
                layers.append(torch.nn.MaxPool2d(2, 2))
            else:
                layers += [torch.nn.Conv2d(channels, item, 3, padding=1), torch.nn.ReLU()]
                channels = item
        self.features = torch.nn.Sequential(*layers)  # indices match torchvision's vgg16
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).reshape(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).reshape(1, 3, 1, 1))

    def forward(self, img):
        x = (img - self.shift) / self.scale
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in LPIPS_TAPS:
                taps.append(x)
            if index == LPIPS_TAPS[-1]:
                break
        return taps


def _read_state(path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from draggan_fast.stylegan.native_format import looks_like_safetensors

    with open(path, "rb") as file:
        head = file.read(16)
    if looks_like_safetensors(head):
        try:
            return load_file(os.fspath(path))
        except (SafetensorError, OSError) as exc:
            raise ValueError(f"{path}: corrupt safetensors file ({exc})") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe pickle"
        raise ValueError(
            f"{path}: refused: not a plain state dict of tensors ({first_line})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a VGG16 state dict file ({exc})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict (a dict of tensors), got "
                         f"{type(state).__name__}")  # fmt: skip
    return state


def load_vgg16_features(path) -> VGG16Features:
    """VGG16Features with the weights of the state-dict file at `path` (see the module docstring);
    a one-line ValueError when the file is missing, unsafe, or not VGG16's."""
    if not os.path.isfile(path):
        raise ValueError(f"perceptual_weights {os.fspath(path)}: no such file")
    state = _read_state(path)
    model = VGG16Features()
    expected = {key: value for key, value in model.state_dict().items()
                if key.startswith("features.")}  # fmt: skip
    found = {key: value for key, value in state.items() if key.startswith("features.")}
    missing = sorted(set(expected) - set(found))
    if missing:
        raise ValueError(f"{path}: not a VGG16 state dict (missing {', '.join(missing[:3])}"
                         f"{', ...' if len(missing) > 3 else ''})")  # fmt: skip
    for key, value in expected.items():
        tensor = found[key]
        if not isinstance(tensor, torch.Tensor) or tensor.shape != value.shape:
            shape = list(getattr(tensor, "shape", []))
            raise ValueError(f"{path}: {key} must be {list(value.shape)}, got {shape}")
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{path}: {key} has non-finite values")
    model.load_state_dict({key: found[key].float() for key in expected}, strict=False)
    return model.eval().requires_grad_(False)
