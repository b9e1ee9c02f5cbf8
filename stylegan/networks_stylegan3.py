"""StyleGAN3 generator (configs T and R) with the official numerics and names.

`Generator(z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs, **synthesis_kwargs)`
takes the constructor kwargs of an official pickle (NVlabs stylegan3 / DragGAN
`training/networks_stylegan3.py`; config T: `conv_kernel=3`, config R: `conv_kernel=1,
use_radial_filters=True`); its `state_dict()` keys equal the official `G_ema.state_dict()` keys
(`synthesis.input.freqs`, `synthesis.L0_36_512.weight`, ...).

The engine sees it through the same interface as the StyleGAN2 generator (networks.py):
`G.mapping(z, c, truncation_psi=...)`, `G.synthesis(ws, noise_mode=..., return_features=...)`,
`G.synthesis.blocks` and `G.synthesis.run_blocks(ws, start, stop, x=..., img=...)`. Here a
"block" is a layer: `blocks[i]` is layer L<i> and its output (margins included) is feature i,
as DragGAN's renderer sees `G(..., return_feature=True)`; the last block is ToRGB, whose output
times `output_scale` is the image. StyleGAN3 has no noise inputs: `noise_mode` is accepted and
ignored, as officially.
"""

from typing import ClassVar

import numpy as np
import torch

from draggan_fast.stylegan import networks
from draggan_fast.stylegan.networks_stylegan3_layers import SynthesisInput, SynthesisLayer

FAMILY = "stylegan3"


class SynthesisNetwork(torch.nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, img_channels, R, R]: input, layers L0 ... L<num_layers>.

    ws[:, 0] drives the input's transform, ws[:, i + 1] layer L<i>.
    """

    def __init__(
        self, w_dim, img_resolution, img_channels, channel_base=32768, channel_max=512,
        num_layers=14, num_critical=2, first_cutoff=2, first_stopband=2**2.1,
        last_stopband_rel=2**0.3, margin_size=10, output_scale=0.25, num_fp16_res=4,
        **layer_kwargs,
    ):  # fmt: skip
        super().__init__()
        self.w_dim = w_dim
        self.num_ws = num_layers + 2
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.num_layers = num_layers
        self.num_critical = num_critical
        self.margin_size = margin_size
        self.output_scale = output_scale

        # Cutoffs and minimum stopbands grow geometrically up to the last critically sampled ones.
        last_cutoff = img_resolution / 2
        last_stopband = last_cutoff * last_stopband_rel
        exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents  # f_c[i]
        stopbands = first_stopband * (last_stopband / first_stopband) ** exponents  # f_t[i]
        sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
        half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs  # f_h[i]
        sizes = sampling_rates + margin_size * 2
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = img_channels

        self.input = SynthesisInput(
            w_dim=w_dim, channels=int(channels[0]), size=int(sizes[0]),
            sampling_rate=sampling_rates[0], bandwidth=cutoffs[0],
        )  # fmt: skip
        self.layer_names = []
        for idx in range(num_layers + 1):
            prev = max(idx - 1, 0)
            layer = SynthesisLayer(
                w_dim=w_dim, is_torgb=(idx == num_layers),
                is_critically_sampled=(idx >= num_layers - num_critical),
                use_fp16=bool(sampling_rates[idx] * (2**num_fp16_res) > img_resolution),
                in_channels=int(channels[prev]), out_channels=int(channels[idx]),
                in_size=int(sizes[prev]), out_size=int(sizes[idx]),
                in_sampling_rate=int(sampling_rates[prev]),
                out_sampling_rate=int(sampling_rates[idx]),
                in_cutoff=cutoffs[prev], out_cutoff=cutoffs[idx],
                in_half_width=half_widths[prev], out_half_width=half_widths[idx],
                **layer_kwargs,
            )  # fmt: skip
            name = f"L{idx}_{layer.out_size}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    @property
    def blocks(self):
        """The layers L0 ... L<num_layers> (ToRGB last): block i's output is feature i."""
        return [getattr(self, name) for name in self.layer_names]

    def no_image(self, x):
        """The `img` that `run_blocks` returns before the last layer ran: StyleGAN3 builds no
        image along the way, so an empty [N, img_channels, 0, 0] tensor stands for it."""
        return x.new_zeros([x.shape[0], self.img_channels, 0, 0], dtype=torch.float32)

    def run_blocks(
        self, ws, start=0, stop=None, x=None, img=None, features=None, noise_mode="const",
        force_fp32=False, update_emas=False, fused_modconv=None,
    ):  # fmt: skip
        """Run layers [start, stop) on x, the output of layer start - 1 (the input layer runs
        first when start is 0). Appends each layer's output to `features` if given.

        Returns (x, img): img is the image [N, img_channels, R, R] once the last layer ran,
        else `no_image(x)`; the `img` argument is accepted for the StyleGAN2 signature and
        unused. `noise_mode` and `fused_modconv` have no effect on StyleGAN3.
        """
        blocks = self.blocks
        stop = len(blocks) if stop is None else stop
        ws = ws.to(torch.float32)
        if start == 0:
            x = self.input(ws[:, 0])  # [N, C0, size0, size0]
        for index in range(start, stop):
            x = blocks[index](x, ws[:, index + 1], force_fp32=force_fp32, update_emas=update_emas)
            if features is not None:
                features.append(x)
        if stop < len(blocks):
            return x, self.no_image(x)
        img = x * self.output_scale if self.output_scale != 1 else x
        return x, img.to(torch.float32)  # [N, img_channels, R, R]

    def forward(self, ws, noise_mode="const", return_features=False, **layer_kwargs):
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        features = [] if return_features else None
        _, img = self.run_blocks(ws, features=features, noise_mode=noise_mode, **layer_kwargs)
        return (img, features) if return_features else img

    def extra_repr(self):
        return (
            f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, "
            f"num_layers={self.num_layers}, num_critical={self.num_critical}, "
            f"margin_size={self.margin_size}"
        )


class Generator(networks.Generator):
    """z (+ c) -> mapping -> ws -> synthesis -> image [N, img_channels, R, R] in about [-1, 1]:
    StyleGAN2's generator with StyleGAN3's synthesis network and a 2-layer mapping by default."""

    family = FAMILY
    synthesis_network = SynthesisNetwork
    default_mapping_kwargs: ClassVar[dict] = {"num_layers": 2}

    @property
    def image_shape(self):
        """(height, width) of the images."""
        return self.img_resolution, self.img_resolution

    def unpad(self, img):
        """`img` as it is: StyleGAN3 images are never padded (the StyleGAN2 classes' API)."""
        return img

    def feature_shape(self, index):
        """(channels, height, width) of feature `index`, layer L<index>'s output with margins."""
        layer = self.synthesis.blocks[index]
        return layer.out_channels, layer.out_size, layer.out_size

    @property
    def feature_channels(self):
        """Channels of each layer's output, L0 first."""
        return [layer.out_channels for layer in self.synthesis.blocks]
