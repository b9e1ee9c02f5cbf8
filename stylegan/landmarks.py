"""A small CNN that finds the procedural faces' named landmarks in an image.

Images [N, 3, H, W] in [-1, 1] (renders or generator outputs) are resized to the detector's input
size; a fully convolutional net makes one heatmap per landmark at 1/4 of that size, and a
soft-argmax turns each heatmap into (x, y) pixels of the input image (pixel centres at integers,
as the dataset's landmarks). Weights are one safetensors file with the config and landmark names
in its header; loading reads tensors and JSON only.
"""

import json

import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as F

from draggan_fast.stylegan.dataset import LANDMARK_NAMES
from draggan_fast.stylegan.errors import CheckpointError

FORMAT_NAME = "draggan-fast/landmark-detector"
FORMAT_VERSION = "1"
NUM_LANDMARKS = len(LANDMARK_NAMES)


def _conv(in_channels, out_channels, stride=1, dilation=1):
    return torch.nn.Sequential(
        torch.nn.Conv2d(
            in_channels,
            out_channels,
            3,
            stride=stride,
            padding=dilation,
            dilation=dilation,
            bias=False,
        ),
        torch.nn.BatchNorm2d(out_channels),
        torch.nn.ReLU(inplace=True),
    )


class LandmarkDetector(torch.nn.Module):
    """img [N, 3, H, W] in [-1, 1] -> landmarks [N, K, 2] as (x, y) pixels of that image."""

    def __init__(self, input_size=64, width=32, num_landmarks=NUM_LANDMARKS):
        super().__init__()
        if input_size % 4 or input_size < 16:
            raise ValueError(f"input_size must be a multiple of 4 >= 16, got {input_size}")
        self.config = {"input_size": input_size, "width": width, "num_landmarks": num_landmarks}
        self.input_size = input_size
        self.num_landmarks = num_landmarks
        self.features = torch.nn.Sequential(
            _conv(3, width // 2, stride=2),  # [N, w/2, S/2, S/2]
            _conv(width // 2, width),
            _conv(width, width, stride=2),  # [N, w, S/4, S/4]
        )
        self.context = torch.nn.Sequential(
            _conv(width + 2, 2 * width),  # + 2 coordinate channels
            _conv(2 * width, 2 * width, dilation=2),
            _conv(2 * width, 2 * width, dilation=4),
            _conv(2 * width, 2 * width, dilation=8),
        )
        self.heatmaps = torch.nn.Conv2d(2 * width, num_landmarks, 1)
        self.log_temperature = torch.nn.Parameter(torch.zeros([]))

    def _coordinate_channels(self, x):  # [N, C, h, w] -> [N, 2, h, w] in [-1, 1]
        batch, _, height, width = x.shape
        ys = torch.linspace(-1, 1, height, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1, 1, width, device=x.device, dtype=x.dtype)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack([grid_x, grid_y]).expand(batch, 2, height, width)

    def context_features(self, img):
        """img [N, 3, H, W] in [-1, 1] -> the features the heatmaps read [N, 2w, S/4, S/4]."""
        if img.ndim != 4 or img.shape[1] != 3:
            raise ValueError(f"img must be [N, 3, H, W], got {list(img.shape)}")
        size = self.input_size
        x = img if tuple(img.shape[2:]) == (size, size) else F.interpolate(
            img, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )  # fmt: skip
        x = self.features(x)  # [N, w, S/4, S/4]
        return self.context(torch.cat([x, self._coordinate_channels(x)], dim=1))

    def forward(self, img):
        return self.landmarks_from_features(self.context_features(img), img.shape[2:])

    def landmarks_from_features(self, features, image_size):
        """`context_features` of images of `image_size` (H, W) -> landmarks [N, K, 2] (x, y)
        in those images' pixels."""
        height, width = image_size
        size = self.input_size
        logits = self.heatmaps(features) * self.log_temperature.exp()
        batch, count, map_h, map_w = logits.shape
        weights = logits.flatten(2).softmax(dim=2).reshape(batch, count, map_h, map_w)
        # heatmap cell centres in input-image pixels (cell i covers pixels [4i, 4i + 4))
        cell_y = (torch.arange(map_h, device=logits.device, dtype=weights.dtype) + 0.5) * 4 - 0.5
        cell_x = (torch.arange(map_w, device=logits.device, dtype=weights.dtype) + 0.5) * 4 - 0.5
        x_net = (weights.sum(dim=2) * cell_x).sum(dim=2)  # [N, K]
        y_net = (weights.sum(dim=3) * cell_y).sum(dim=2)  # [N, K]
        # back to the caller's pixels: centre-aligned scaling, as the bilinear resize
        x_img = (x_net + 0.5) * (width / size) - 0.5
        y_img = (y_net + 0.5) * (height / size) - 0.5
        return torch.stack([x_img, y_img], dim=2)  # [N, K, 2]

    @torch.no_grad()
    def detect(self, img):
        """Landmarks [N, K, 2] (x, y) of images [N, 3, H, W] in [-1, 1], in eval mode."""
        was_training = self.training
        self.eval()
        try:
            return self(img.float())
        finally:
            self.train(was_training)

    def detect_image(self, image_uint8) -> np.ndarray:
        """Landmarks [K, 2] (x, y) of one uint8 [H, W, 3] image (as `DragSession.image()` and
        `render_face` give), in eval mode."""
        pixels = torch.tensor(image_uint8).permute(2, 0, 1)[None].float()  # [1, 3, H, W]
        pixels = pixels / 127.5 - 1
        return self.detect(pixels.to(self.log_temperature.device))[0].cpu().numpy()


def save_detector(detector: LandmarkDetector, path, extra: dict | None = None):
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(detector.config),
        "landmark_names": json.dumps(list(LANDMARK_NAMES)),
        "info": json.dumps(extra or {}),
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in detector.state_dict().items()}
    safetensors.torch.save_file(tensors, str(path), metadata=metadata)


def load_detector(path, device="cpu") -> LandmarkDetector:
    """A detector from `save_detector`'s file, in eval mode."""
    try:
        with safetensors.safe_open(str(path), framework="pt") as file:
            metadata = file.metadata() or {}
            tensors = {key: file.get_tensor(key) for key in file.keys()}
    except (OSError, safetensors.SafetensorError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
    if metadata.get("format") != FORMAT_NAME or metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: not a {FORMAT_NAME} v{FORMAT_VERSION} file")
    if json.loads(metadata.get("landmark_names", "[]")) != list(LANDMARK_NAMES):
        raise CheckpointError(f"{path}: its landmarks differ from this version's LANDMARK_NAMES")
    config = json.loads(metadata["config"])
    detector = LandmarkDetector(**config)
    try:
        detector.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not match the config ({exc})") from exc
    return detector.to(device).eval()


def detector_info(path) -> dict:
    """The `extra` dict saved with a detector (training and held-out error figures)."""
    with safetensors.safe_open(str(path), framework="pt") as file:
        return json.loads((file.metadata() or {}).get("info", "{}"))
