"""StyleGAN2 generator (config-f, skip architecture) with the official numerics and names.

`Generator(z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs, **synthesis_kwargs)`
takes the constructor kwargs of an official pickle (after `loading` normalises them); its
`state_dict()` keys equal the official `G_ema.state_dict()` keys.

StyleGAN-Human generators (`square=False`) are the same network on rectangles: the const input,
noise buffers and every feature map are H x H/2. As DragGAN builds them (`padding=True`), the
engine sees squares: `synthesis` pads the image left and right with white (1.0) and each feature
map with zeros; `Generator.unpad` returns the generated rectangle.
"""

from typing import ClassVar

import numpy as np
import torch

from draggan_fast.stylegan import ops
from draggan_fast.stylegan.layers import FullyConnectedLayer, SynthesisLayer, ToRGBLayer


def normalize_2nd_moment(x, dim=1, eps=1e-8):
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class MappingNetwork(torch.nn.Module):
    """z [N, z_dim] (+ c [N, c_dim]) -> ws [N, num_ws, w_dim], with `w_avg` truncation."""

    def __init__(
        self, z_dim, c_dim, w_dim, num_ws, num_layers=8, embed_features=None,
        layer_features=None, activation="lrelu", lr_multiplier=0.01, w_avg_beta=0.998,
    ):  # fmt: skip
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(
                features[idx], features[idx + 1], activation=activation,
                lr_multiplier=lr_multiplier,
            )  # fmt: skip
            setattr(self, f"fc{idx}", layer)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        parts = []
        if self.z_dim > 0:
            parts.append(normalize_2nd_moment(z.to(torch.float32)))  # [N, z_dim]
        if self.c_dim > 0:
            if c is None:
                raise ValueError(f"this generator is conditional: pass c [N, {self.c_dim}]")
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)  # [N, w_dim] at the end
        if update_emas and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])  # [N, num_ws, w_dim]
        if truncation_psi != 1:
            if truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                head = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
                x = torch.cat([head, x[:, truncation_cutoff:]], dim=1)
        return x


class SynthesisBlock(torch.nn.Module):
    """One resolution: (const or 2x up-conv) + conv, and a ToRGB added to the up-sampled image."""

    def __init__(
        self, in_channels, out_channels, w_dim, resolution, img_channels, is_last,
        architecture="skip", resample_filter=(1, 3, 3, 1), conv_clamp=None, use_fp16=False,
        fp16_channels_last=False, fused_modconv_default=True, square=True, **layer_kwargs,
    ):  # fmt: skip
        super().__init__()
        if architecture != "skip":
            raise ValueError(f"architecture {architecture!r} is not supported (only 'skip')")
        self.in_channels = in_channels
        self.resolution = resolution
        self.is_last = is_last
        self.use_fp16 = use_fp16
        self.fused_modconv_default = fused_modconv_default
        self.register_buffer("resample_filter", ops.setup_filter(resample_filter))
        width = resolution if square else resolution // 2  # StyleGAN-Human: H x H/2
        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, width]))
        else:
            self.conv0 = SynthesisLayer(
                in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs,
            )  # fmt: skip
        self.conv1 = SynthesisLayer(
            out_channels, out_channels, w_dim=w_dim, resolution=resolution,
            conv_clamp=conv_clamp, **layer_kwargs,
        )  # fmt: skip
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
        for layer in (getattr(self, "conv0", None), self.conv1):
            if layer is not None and layer.use_noise and not square:
                layer.noise_const = torch.randn([resolution, width])
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def compute_dtype(self, device, force_fp32=False):
        """float16 for fp16 blocks on CUDA, float32 otherwise (as officially: fp32 on the CPU)."""
        use_fp16 = self.use_fp16 and not force_fp32 and device.type == "cuda"
        return torch.float16 if use_fp16 else torch.float32

    def forward(
        self, x, img, ws, noise_mode="const", force_fp32=False, fused_modconv=None
    ):  # x: [N, C_in, r/2, r/2] or None, img: [N, 3, r/2, r/2] or None, ws: [N, 2 or 3, w_dim]
        w_iter = iter(ws.unbind(dim=1))
        dtype = self.compute_dtype(ws.device, force_fp32)
        if fused_modconv is None:
            fused_modconv = self.fused_modconv_default
        if fused_modconv == "inference_only":
            fused_modconv = not self.training
        if self.in_channels == 0:
            x = self.const.to(dtype=dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
        else:
            x = x.to(dtype=dtype)
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
        x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
        if img is not None:
            img = ops.upsample2d(img, self.resample_filter)
        y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).to(torch.float32)
        img = img + y if img is not None else y
        return x, img  # [N, C_out, r, r], [N, img_channels, r, r]


class SynthesisNetwork(torch.nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, img_channels, R, R], blocks b4, b8, ..., bR."""

    def __init__(
        self, w_dim, img_resolution, img_channels, channel_base=32768, channel_max=512,
        num_fp16_res=4, square=True, padding=False, **block_kwargs,
    ):  # fmt: skip
        super().__init__()
        log2 = int(np.log2(img_resolution))
        if img_resolution < 4 or 2**log2 != img_resolution:
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.square = square  # False: StyleGAN-Human, images and features H x H/2
        self.padding = padding and not square  # pad them to squares (DragGAN's convention)
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                channels[res // 2] if res > 4 else 0, channels[res], w_dim=w_dim, resolution=res,
                img_channels=img_channels, is_last=(res == img_resolution),
                use_fp16=(res >= fp16_resolution), square=square, **block_kwargs,
            )  # fmt: skip
            self.num_ws += block.num_conv
            if block.is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    @property
    def blocks(self):
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def split_ws(self, ws):
        """ws [N, num_ws, w_dim] -> one [N, num_conv + num_torgb, w_dim] slice per block."""
        slices, w_idx = [], 0
        for block in self.blocks:
            slices.append(ws.narrow(1, w_idx, block.num_conv + block.num_torgb))
            w_idx += block.num_conv
        return slices

    def run_blocks(self, ws, start=0, stop=None, x=None, img=None, features=None, **block_kwargs):
        """Run blocks [start, stop) on (x, img), the outputs of block start - 1.

        Appends each block's output x to `features` if given; returns (x, img). With `padding`
        (StyleGAN-Human) x comes out zero-padded to a square, as the renderer sees features (and
        goes in either way), and the finished image padded with white; a partial img stays
        the H x H/2 rectangle.
        """
        blocks = self.blocks
        stop = len(blocks) if stop is None else stop
        block_ws = self.split_ws(ws)
        if x is not None and self.padding:
            x = self.unpad(x)
        for index in range(start, stop):
            x, img = blocks[index](x, img, block_ws[index], **block_kwargs)
            if features is not None:
                features.append(self.pad(x, 0.0))
        if self.padding:
            x = self.pad(x, 0.0)
            if stop == len(blocks):
                img = self.pad(img, 1.0)
        return x, img

    def pad(self, x, value):
        """[N, C, r, r/2] -> [N, C, r, r]: `value` on the left and right (no-op on squares)."""
        pad = (x.shape[2] - x.shape[3]) // 2
        return torch.nn.functional.pad(x, (pad, pad), "constant", value) if pad > 0 else x

    def unpad(self, x):
        """The H x H/2 rectangle in the middle of a padded [N, C, r, r] map (others as they are)."""
        if self.square or x.shape[3] != x.shape[2]:
            return x
        width = x.shape[3] // 2
        return x[:, :, :, width // 2 : width // 2 + width]

    def forward(self, ws, noise_mode="const", return_features=False, **block_kwargs):
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        features = [] if return_features else None
        _, img = self.run_blocks(ws, features=features, noise_mode=noise_mode, **block_kwargs)
        return (img, features) if return_features else img


class Generator(torch.nn.Module):
    """z (+ c) -> mapping -> ws -> synthesis -> image [N, img_channels, R, R] in about [-1, 1]."""

    synthesis_network = SynthesisNetwork  # the family's synthesis class (StyleGAN3 sets its own)
    default_mapping_kwargs: ClassVar[
        dict
    ] = {}  # the family's mapping defaults (StyleGAN3: 2 layers)

    def __init__(
        self, z_dim, c_dim, w_dim, img_resolution, img_channels=3, mapping_kwargs=None,
        **synthesis_kwargs,
    ):  # fmt: skip
        super().__init__()
        mapping_kwargs = {**self.default_mapping_kwargs, **(mapping_kwargs or {})}
        self.init_kwargs = {
            "z_dim": z_dim, "c_dim": c_dim, "w_dim": w_dim, "img_resolution": img_resolution,
            "img_channels": img_channels, "mapping_kwargs": mapping_kwargs, **synthesis_kwargs,
        }  # fmt: skip
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.synthesis = self.synthesis_network(
            w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
            **synthesis_kwargs,
        )  # fmt: skip
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs
        )

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, **synthesis_kwargs)

    @property
    def family(self):
        """ "stylegan2", or "stylegan_human" for the rectangular StyleGAN-Human generators."""
        return "stylegan2" if self.synthesis.square else "stylegan_human"

    @property
    def image_shape(self):
        """(height, width) of the generated images: (R, R/2) for StyleGAN-Human, else (R, R).
        The engine works on R x R squares (`synthesis` pads rectangles); `unpad` undoes it."""
        square = self.synthesis.square
        return self.img_resolution, self.img_resolution if square else self.img_resolution // 2

    def unpad(self, img):
        """The generated rectangle [N, C, R, R/2] of a padded StyleGAN-Human image or feature
        map [N, C, r, r]; other generators' maps are returned as they are."""
        return self.synthesis.unpad(img)

    def feature_shape(self, index):
        """(channels, height, width) of feature `index` (block `index`'s output) as `synthesis`
        returns it: (C, r, r), StyleGAN-Human too once padded."""
        block = self.synthesis.blocks[index]
        width = block.resolution if self.synthesis.square or self.synthesis.padding else None
        return block.conv1.out_channels, block.resolution, width or block.resolution // 2

    @property
    def feature_channels(self):
        """Channels of each block's output, b4 first."""
        return [block.conv1.out_channels for block in self.synthesis.blocks]

    def extra_repr(self):
        return (
            f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, "
            f"num_ws={self.num_ws}, img_resolution={self.img_resolution}"
        )
