"""StyleGAN2's residual discriminator (config-f `resnet`), with the official layout and names.

Blocks b{R} .. b8 each run FromRGB (first block only), conv0 (3x3), conv1 (3x3, 2x down) and a
1x1 down-sampling skip, summed with gain sqrt(1/2); the epilogue b4 appends the minibatch standard
deviation, then conv, fc and out. `state_dict()` keys equal the official `D.state_dict()` keys
(for c_dim == 0). Blocks at the top `num_fp16_res` resolutions compute in float16 on CUDA.
"""

import math

import numpy as np
import torch

from draggan_fast.stylegan import ops
from draggan_fast.stylegan.layers import FullyConnectedLayer


class Conv2dLayer(torch.nn.Module):
    """Equalised-lr convolution with optional FIR 2x down-sampling, bias, activation, clamp."""

    def __init__(
        self, in_channels, out_channels, kernel_size, bias=True, activation="linear", down=1,
        resample_filter=(1, 3, 3, 1), conv_clamp=None,
    ):  # fmt: skip
        super().__init__()
        self.activation = activation
        self.down = down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", ops.setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.act_gain = ops.activation_defaults(activation)[1]
        self.weight = torch.nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        )
        self.bias = torch.nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x, gain=1):  # [N, C_in, H, W] -> [N, C_out, H / down, W / down]
        weight = (self.weight * self.weight_gain).to(x.dtype)
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        x = ops.conv2d_resample(
            x, weight, f=self.resample_filter, down=self.down, padding=self.padding
        )
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return ops.bias_act(
            x, bias, act=self.activation, gain=self.act_gain * gain, clamp=act_clamp
        )


class DiscriminatorBlock(torch.nn.Module):
    """One resolution of the residual discriminator: [N, C_tmp, R, R] -> [N, C_out, R/2, R/2]."""

    def __init__(
        self, in_channels, tmp_channels, out_channels, resolution, img_channels, use_fp16=False,
        conv_clamp=None,
    ):  # fmt: skip
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.use_fp16 = use_fp16
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(
                img_channels, tmp_channels, kernel_size=1, activation="lrelu",
                conv_clamp=conv_clamp,
            )  # fmt: skip
        self.conv0 = Conv2dLayer(
            tmp_channels, tmp_channels, kernel_size=3, activation="lrelu", conv_clamp=conv_clamp
        )
        self.conv1 = Conv2dLayer(
            tmp_channels, out_channels, kernel_size=3, activation="lrelu", down=2,
            conv_clamp=conv_clamp,
        )  # fmt: skip
        self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2)

    def forward(self, x, img):  # x: [N, C_in, R, R] or None, img: [N, img_channels, R, R]
        on_cuda = img.device.type == "cuda"
        dtype = torch.float16 if self.use_fp16 and on_cuda else torch.float32
        if self.in_channels == 0:
            x = self.fromrgb(img.to(dtype))
        else:
            x = x.to(dtype)
        skip = self.skip(x, gain=np.sqrt(0.5))
        x = self.conv0(x)
        x = self.conv1(x, gain=np.sqrt(0.5))
        return skip + x  # [N, C_out, R / 2, R / 2]


class MinibatchStdLayer(torch.nn.Module):
    """Appends the standard deviation across groups of `group_size` samples as extra channels."""

    def __init__(self, group_size=4, num_channels=1):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x):  # [N, C, H, W] -> [N, C + num_channels, H, W]
        batch, channels, height, width = x.shape
        group = min(self.group_size, batch)
        if batch % group != 0:
            raise ValueError(f"batch size {batch} must be a multiple of the mbstd group {group}")
        extra = self.num_channels
        y = x.reshape(group, -1, extra, channels // extra, height, width)  # [G, n, F, c, H, W]
        y = (y - y.mean(dim=0)).square().mean(dim=0)  # [n, F, c, H, W]
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # [n, F]
        y = y.reshape(-1, extra, 1, 1).repeat(group, 1, height, width)  # [N, F, H, W]
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(torch.nn.Module):
    """b4: minibatch std, 3x3 conv, fc, out -> logits [N, 1] (always float32)."""

    def __init__(self, in_channels, resolution=4, mbstd_group_size=4, conv_clamp=None):
        super().__init__()
        self.mbstd = MinibatchStdLayer(group_size=mbstd_group_size, num_channels=1)
        self.conv = Conv2dLayer(
            in_channels + 1, in_channels, kernel_size=3, activation="lrelu", conv_clamp=conv_clamp
        )
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1)

    def forward(self, x):  # [N, C, 4, 4] -> [N, 1]
        x = self.conv(self.mbstd(x.to(torch.float32)))
        return self.out(self.fc(x.flatten(1)))


class Discriminator(torch.nn.Module):
    """img [N, img_channels, R, R] in about [-1, 1] -> realness logits [N, 1]."""

    def __init__(
        self, img_resolution, img_channels=3, channel_base=32768, channel_max=512,
        num_fp16_res=0, conv_clamp=None, mbstd_group_size=4,
    ):  # fmt: skip
        super().__init__()
        log2 = int(np.log2(img_resolution))
        if img_resolution < 8 or 2**log2 != img_resolution:
            raise ValueError(f"img_resolution must be a power of two >= 8, got {img_resolution}")
        self.init_kwargs = {
            "img_resolution": img_resolution, "img_channels": img_channels,
            "channel_base": channel_base, "channel_max": channel_max,
            "num_fp16_res": num_fp16_res, "conv_clamp": conv_clamp,
            "mbstd_group_size": mbstd_group_size,
        }  # fmt: skip
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        channels = {
            res: min(channel_base // res, channel_max) for res in [*self.block_resolutions, 4]
        }
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                channels[res] if res < img_resolution else 0, channels[res], channels[res // 2],
                resolution=res, img_channels=img_channels, use_fp16=(res >= fp16_resolution),
                conv_clamp=conv_clamp,
            )  # fmt: skip
            setattr(self, f"b{res}", block)
        self.b4 = DiscriminatorEpilogue(
            channels[4], mbstd_group_size=mbstd_group_size, conv_clamp=conv_clamp
        )

    def forward(self, img):  # [N, img_channels, R, R] -> [N, 1]
        expected = (self.img_channels, self.img_resolution, self.img_resolution)
        if img.ndim != 4 or tuple(img.shape[1:]) != expected:
            raise ValueError(
                f"img must be [N, {', '.join(map(str, expected))}], got {list(img.shape)}"
            )
        x = None
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x, img)
        return self.b4(x)
