"""The generator's layers with StyleGAN2's equalised learning rate.

Parameter and buffer names follow the official networks (`weight`, `bias`, `affine`,
`noise_const`, `noise_strength`, `resample_filter`) so official state dicts load unchanged.
"""

import math

import torch

from draggan_fast.stylegan import ops

DEMODULATION_EPS = 1e-8  # added to the sum of squares before the reciprocal square root


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

    def scaled_parameters(self, dtype=None):
        """(weight [out, in], bias [out] or None) with their gains applied, in dtype (default:
        the stored one): what the forward multiplies by, also for frozen copies."""
        w = self.weight.to(dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        return w, b

    def forward(self, x):  # [N, in] -> [N, out]
        w, b = self.scaled_parameters(x.dtype)
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

    # The helpers below are what the forward is made of; the frozen-weight feature blocks
    # (stylegan/frozen_synthesis.py) call them too, so a change here changes both.

    def noise(self, noise_mode, batch, size, device, offset=(0, 0)):
        """The noise added to an output window of size (h, w) whose top-left pixel is `offset`
        ([N, 1, h, w] for "random", [h, w] for "const"), or None."""
        if not self.use_noise or noise_mode not in ("const", "random"):
            return None
        height, width = size
        if noise_mode == "random":
            return torch.randn([batch, 1, height, width], device=device) * self.noise_strength
        top, left = offset
        return self.noise_const[top : top + height, left : left + width] * self.noise_strength

    def resample_arguments(self) -> dict:
        """Up-sampling and padding of the convolution, as ops.conv2d_resample names them."""
        return dict(up=self.up, padding=self.padding, flip_weight=(self.up == 1))

    def activation_arguments(self, gain=1) -> dict:
        """Bias-activation settings (act, gain, clamp) for an extra output gain."""
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return dict(act=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def weight_squares(self) -> torch.Tensor:
        """[C_out, C_in]: sum over the kernel taps of W^2, the weights' part of demodulation."""
        return self.weight.square().sum(dim=[2, 3])

    def forward(self, x, w, noise_mode="const", fused_modconv=True, gain=1):
        # x: [N, C_in, r / up, r / up], w: [N, w_dim] -> [N, C_out, r, r]
        styles = self.affine(w)  # [N, C_in]
        size = (x.shape[2] * self.up, x.shape[3] * self.up)  # (r, r), or (r, r / 2) for Human
        noise = self.noise(noise_mode, x.shape[0], size, x.device)
        # One op where compiled (CUDA), else modulated_conv2d then bias_act.
        return ops.modulated_conv2d_bias_act(
            x, self.weight, styles, self.bias, noise=noise, resample_filter=self.resample_filter,
            fused_modconv=fused_modconv, **self.resample_arguments(),
            **self.activation_arguments(gain),
        )  # fmt: skip


def demodulation_coefficients(styles, weight_squares, eps=DEMODULATION_EPS):
    """[N, C_out]: 1 / sqrt(sum_{i,k} (W[o, i, k] s[i])^2 + eps) from styles [N, C_in] and a
    layer's weight_squares() [C_out, C_in], as the modulated convolution demodulates."""
    return (styles.square() @ weight_squares.t() + eps).rsqrt()


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
