"""The generator's layers with StyleGAN2's equalised learning rate.

Parameter and buffer names follow the official networks (`weight`, `bias`, `affine`,
`noise_const`, `noise_strength`, `resample_filter`) so official state dicts load unchanged.
"""

import math

import torch

from draggan_fast.stylegan import ops


class FullyConnectedLayer(torch.nn.Module):
    """y = act(x @ (W * lr_mul / sqrt(in)).T + b * lr_mul); weights stored at 1/lr_mul scale."""

    def __init__(
        self, in_features, out_features, bias=True, activation="linear", lr_multiplier=1.0,
        bias_init=0.0,
    ):  # fmt: skip
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = (
            torch.nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        )
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):  # [N, in] -> [N, out]
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return ops.bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}"


class SynthesisLayer(torch.nn.Module):
    """Modulated 3x3 conv (optionally 2x up-sampling), noise, bias, leaky ReLU, clamp."""

    def __init__(
        self, in_channels, out_channels, w_dim, resolution, kernel_size=3, up=1, use_noise=True,
        activation="lrelu", resample_filter=(1, 3, 3, 1), conv_clamp=None,
    ):  # fmt: skip
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", ops.setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = ops.activation_defaults(activation)[1]
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        )
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x, w, noise_mode="const", fused_modconv=True, gain=1):
        # x: [N, C_in, r / up, r / up], w: [N, w_dim] -> [N, C_out, r, r]
        styles = self.affine(w)  # [N, C_in]
        noise = None
        if self.use_noise and noise_mode == "random":
            shape = [x.shape[0], 1, self.resolution, self.resolution]
            noise = torch.randn(shape, device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        # One op where compiled (CUDA), else modulated_conv2d then bias_act.
        return ops.modulated_conv2d_bias_act(
            x, self.weight, styles, self.bias, noise=noise, up=self.up, padding=self.padding,
            resample_filter=self.resample_filter, flip_weight=(self.up == 1),
            fused_modconv=fused_modconv, act=self.activation, gain=act_gain, clamp=act_clamp,
        )  # fmt: skip


class ToRGBLayer(torch.nn.Module):
    """Modulated 1x1 conv to RGB without demodulation, plus bias and clamp."""

    def __init__(self, in_channels, out_channels, w_dim, kernel_size=1, conv_clamp=None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        )
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x, w, fused_modconv=True):  # [N, C, r, r] -> [N, img_channels, r, r]
        styles = self.affine(w) * self.weight_gain
        x = ops.modulated_conv2d(
            x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv
        )
        return ops.bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)
