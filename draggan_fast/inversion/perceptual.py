"""Perceptual losses that need nothing downloaded: distances between deep features.

Every loss here is an LPIPS-style distance: each feature map is normalised to unit length over
its channels at every pixel, and the loss is the mean over layers of the spatial mean of the
squared distance between the two normalised maps (LPIPS without its learned per-channel
weights, which would need a download). Feature extractors, best first when several are at hand:
- VGG16 (`draggan_fast.inversion.vgg`) from a local state-dict file the user names;
- the StyleGAN discriminator the user passes (its block outputs, b{R} .. b8);
- the bundled landmark detector's convolutional trunk (trained on the bundled model's domain,
  the procedural faces): the default, so inversion works offline with the package alone.
The target's features are computed once (`set_target`); calls take the reconstruction only.
"""

from __future__ import annotations

import torch


def normalised_distance(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Mean over N, H, W of |a/|a| - b/|b||^2, norms over channels; a, b [N, C, H, W] -> []."""
    a = a / (a.square().sum(dim=1, keepdim=True) + eps).sqrt()
    b = b / (b.square().sum(dim=1, keepdim=True) + eps).sqrt()
    return (a - b).square().sum(dim=1).mean()


class FeatureLoss(torch.nn.Module):
    """LPIPS-style distance on the feature maps of `extractor` (img [N, 3, H, W] in [-1, 1] ->
    list of [N, C, h, w]); `name` says which extractor it is (in metrics and messages)."""

    def __init__(self, extractor: torch.nn.Module, name: str):
        super().__init__()
        self.extractor = extractor.eval().requires_grad_(False)
        self.name = name
        self._target = None

    @torch.no_grad()
    def set_target(self, target: torch.Tensor):
        """Remember the features of target [1, 3, H, W] in [-1, 1]."""
        self._target = [feature.detach() for feature in self.extractor(target)]

    def forward(self, image: torch.Tensor) -> torch.Tensor:  # [N, 3, H, W] -> []
        if self._target is None:
            raise RuntimeError("FeatureLoss: call set_target first")
        features = self.extractor(image)
        distances = [normalised_distance(f, t) for f, t in zip(features, self._target)]
        return torch.stack(distances).mean()


class DetectorFeatures(torch.nn.Module):
    """The outputs of the landmark detector's three trunk convolutions (1/2, 1/2, 1/4 size)."""

    def __init__(self, detector):
        super().__init__()
        self.detector = detector
        self.size = detector.input_size

    def forward(self, img):  # [N, 3, H, W] in [-1, 1] -> 3 maps
        if img.shape[-2:] != (self.size, self.size):
            img = torch.nn.functional.interpolate(
                img, size=(self.size, self.size), mode="bilinear", align_corners=False,
                antialias=True,
            )  # fmt: skip
        features = []
        x = img
        for layer in self.detector.features:
            x = layer(x)
            features.append(x)
        return features


class DiscriminatorFeatures(torch.nn.Module):
    """The output of every residual block of a StyleGAN2 discriminator (b{R} .. b8)."""

    def __init__(self, D):
        super().__init__()
        self.D = D

    def forward(self, img):  # [N, 3, R, R] in [-1, 1] -> one map per block
        if img.shape[-1] != self.D.img_resolution or img.shape[-2] != self.D.img_resolution:
            size = (self.D.img_resolution, self.D.img_resolution)
            img = torch.nn.functional.interpolate(img, size=size, mode="bilinear",
                                                  align_corners=False, antialias=True)  # fmt: skip
        features, x = [], None
        for res in self.D.block_resolutions:
            x = getattr(self.D, f"b{res}")(x, img)  # [N, C, res / 2, res / 2]
            features.append(x.float())
        return features


def make_perceptual_loss(perceptual_weights=None, discriminator=None, device="cpu"):
    """The perceptual loss to use: VGG16 from `perceptual_weights` (a local file), else the
    `discriminator`'s features, else the bundled landmark detector's. Returns a FeatureLoss."""
    if perceptual_weights is not None:
        from draggan_fast.inversion.vgg import load_vgg16_features

        return FeatureLoss(load_vgg16_features(perceptual_weights), "vgg16").to(device)
    if discriminator is not None:
        if not hasattr(discriminator, "block_resolutions"):
            raise ValueError("discriminator must be a draggan_fast StyleGAN2 Discriminator")
        return FeatureLoss(DiscriminatorFeatures(discriminator), "discriminator").to(device)
    from draggan_fast.assets_registry import default_detector_path
    from draggan_fast.stylegan.landmarks import load_detector

    detector = load_detector(default_detector_path())
    return FeatureLoss(DetectorFeatures(detector), "landmark-detector").to(device)
