"""StyleGAN3's layers: the Fourier-feature input, the modulated-conv + filtered-leaky-ReLU layer,
and the design of their low-pass filters (Karras et al. 2021, "Alias-Free Generative Adversarial
Networks"), with the numerics and parameter/buffer names of the official networks
(NVlabs stylegan3 `training/networks_stylegan3.py`) so official state dicts load unchanged.

Filters are designed here without scipy (a Kaiser-windowed sinc, as `scipy.signal.firwin`, and
the radial jinc filter of config R); loaded generators keep the filters stored in their files.
"""

import math

import numpy as np
import torch

from draggan_fast.stylegan.layers import FullyConnectedLayer
from draggan_fast.stylegan.ops.filtered_lrelu import filtered_lrelu


def _kaiser_beta(numtaps, width_rel):
    """Kaiser window beta for `numtaps` taps and a transition width relative to Nyquist."""
    attenuation = 2.285 * (numtaps - 1) * math.pi * width_rel + 7.95  # dB
    if attenuation > 50:
        return 0.1102 * (attenuation - 8.7)
    if attenuation > 21:
        return 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    return 0.0


def design_lowpass_filter(numtaps, cutoff, width, fs, radial=False):
    """A low-pass FIR filter (float32), or None for a single tap (identity).

    Separable: [numtaps], the Kaiser-windowed sinc with unit DC gain. Radial: [numtaps, numtaps],
    a jinc windowed by the outer product of the Kaiser window, normalised to sum 1.
    """
    if numtaps < 1:
        raise ValueError(f"a filter needs at least one tap, got {numtaps}")
    if numtaps == 1:
        return None
    nyquist = fs / 2
    beta = _kaiser_beta(numtaps, width / nyquist)
    window = np.kaiser(numtaps, beta)  # [numtaps], float64
    if not radial:
        m = np.arange(numtaps) - (numtaps - 1) / 2
        cutoff_rel = cutoff / nyquist
        taps = cutoff_rel * np.sinc(cutoff_rel * m) * window
        return torch.as_tensor(taps / taps.sum(), dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))  # [numtaps, numtaps]
    r_safe = np.where(r == 0, 1.0, r)
    bessel = torch.special.bessel_j1(torch.from_numpy(2 * cutoff * math.pi * r_safe)).numpy()
    taps = np.where(r == 0, cutoff, bessel / (math.pi * r_safe))  # jinc, its limit at r = 0
    taps = taps * np.outer(window, window)
    return torch.as_tensor(taps / taps.sum(), dtype=torch.float32)


def modulated_conv2d(x, weight, styles, demodulate=True, padding=0, input_gain=None):
    """StyleGAN3's modulated convolution: one grouped convolution with per-sample weights.

    x: [N, C_in, H, W]; weight: [C_out, C_in, k, k]; styles: [N, C_in]; input_gain: scalar or
    [C_in] tensor. With demodulation, weight and styles are first normalised to unit RMS (styles
    over the whole batch, as officially). -> [N, C_out, H + 2p - k + 1, W + 2p - k + 1].
    """
    batch_size = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    w = weight.unsqueeze(0) * styles.reshape(batch_size, 1, in_channels, 1, 1)  # [N, O, I, k, k]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
        w = w * dcoefs.reshape(batch_size, out_channels, 1, 1, 1)
    if input_gain is not None:
        gain = input_gain.expand(batch_size, in_channels)  # [N, I]
        w = w * gain.reshape(batch_size, 1, in_channels, 1, 1)
    x = x.reshape(1, batch_size * in_channels, *x.shape[2:])  # [1, N * I, H, W]
    w = w.reshape(batch_size * out_channels, in_channels, kh, kw).to(x.dtype)
    x = torch.nn.functional.conv2d(x, w, padding=padding, groups=batch_size)
    return x.reshape(batch_size, out_channels, *x.shape[2:])  # [N, O, H', W']


class SynthesisInput(torch.nn.Module):
    """w [N, w_dim] -> Fourier features [N, channels, size, size], rotated and translated by an
    affine of w, then by the user transform `transform` (the inverse of the wanted image
    transform, a 3 x 3 buffer; identity by default, as DragGAN's renderer sets it)."""

    def __init__(self, w_dim, channels, size, sampling_rate, bandwidth):
        super().__init__()
        self.w_dim = w_dim
        self.channels = channels
        self.size = int(size)
        self.sampling_rate = sampling_rate
        self.bandwidth = bandwidth
        freqs = torch.randn([channels, 2])  # random frequencies in a disc of radius bandwidth
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = torch.nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4)
        with torch.no_grad():  # the affine starts as the identity transform (1, 0, 0, 0)
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3, 3))
        self.register_buffer("freqs", freqs)  # [channels, 2] (x, y)
        self.register_buffer("phases", torch.rand([channels]) - 0.5)  # [channels]

    def forward(self, w):  # [N, w_dim] -> [N, channels, size, size]
        batch_size = w.shape[0]
        t = self.affine(w)  # [N, 4]: (cos, sin, tx, ty) before normalisation
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        eye = torch.eye(3, device=w.device).unsqueeze(0)
        rotation = eye.repeat([batch_size, 1, 1])  # [N, 3, 3], inverse rotation
        rotation[:, 0, 0] = t[:, 0]
        rotation[:, 0, 1] = -t[:, 1]
        rotation[:, 1, 0] = t[:, 1]
        rotation[:, 1, 1] = t[:, 0]
        translation = eye.repeat([batch_size, 1, 1])  # [N, 3, 3], inverse translation
        translation[:, 0, 2] = -t[:, 2]
        translation[:, 1, 2] = -t[:, 3]
        transforms = rotation @ translation @ self.transform.unsqueeze(0)  # [N, 3, 3]

        freqs = self.freqs.unsqueeze(0)  # [1, channels, 2]
        phases = self.phases.unsqueeze(0) + (freqs @ transforms[:, :2, 2:]).squeeze(2)  # [N, C]
        freqs = freqs @ transforms[:, :2, :2]  # [N, channels, 2]
        # Frequencies the user transform pushed out of band fade out.
        amplitudes = (
            1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)
        ).clamp(0, 1)  # [N, channels]

        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = 0.5 * self.size / self.sampling_rate
        theta[1, 1] = 0.5 * self.size / self.sampling_rate
        grids = torch.nn.functional.affine_grid(
            theta.unsqueeze(0), [1, 1, self.size, self.size], align_corners=False
        )  # [1, size, size, 2]
        x = (grids.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)
        x = x + phases.unsqueeze(1).unsqueeze(2)  # [N, size, size, channels]
        x = torch.sin(x * (np.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / np.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)  # [N, channels, size, size]

    def extra_repr(self):
        return (
            f"w_dim={self.w_dim}, channels={self.channels}, size={self.size}, "
            f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}"
        )


class SynthesisLayer(torch.nn.Module):
    """Modulated conv (k x k, or 1 x 1 for ToRGB) then the filtered leaky ReLU that resamples
    from the input's sampling rate to the output's through a `lrelu_upsampling`-times finer grid.
    [N, C_in, in_size, in_size] -> [N, C_out, out_size, out_size] (sizes include margins)."""

    def __init__(
        self, w_dim, is_torgb, is_critically_sampled, use_fp16, in_channels, out_channels,
        in_size, out_size, in_sampling_rate, out_sampling_rate, in_cutoff, out_cutoff,
        in_half_width, out_half_width, conv_kernel=3, filter_size=6, lrelu_upsampling=2,
        use_radial_filters=False, conv_clamp=256, magnitude_ema_beta=0.999,
    ):  # fmt: skip
        super().__init__()
        self.w_dim = w_dim
        self.is_torgb = is_torgb
        self.is_critically_sampled = is_critically_sampled
        self.use_fp16 = use_fp16
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.in_size = int(in_size)
        self.out_size = int(out_size)
        self.in_sampling_rate = in_sampling_rate
        self.out_sampling_rate = out_sampling_rate
        tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (
            1 if is_torgb else lrelu_upsampling
        )
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        self.magnitude_ema_beta = magnitude_ema_beta
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(
            torch.randn([out_channels, in_channels, self.conv_kernel, self.conv_kernel])
        )
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        self.up_factor = round(tmp_sampling_rate / in_sampling_rate)
        self.down_factor = round(tmp_sampling_rate / out_sampling_rate)
        if (
            in_sampling_rate * self.up_factor != tmp_sampling_rate
            or out_sampling_rate * self.down_factor != tmp_sampling_rate
        ):
            raise ValueError("sampling rates must divide the layer's internal sampling rate")
        up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        self.down_radial = use_radial_filters and not is_critically_sampled
        up_filter = design_lowpass_filter(up_taps, in_cutoff, in_half_width * 2, tmp_sampling_rate)
        down_filter = design_lowpass_filter(
            down_taps, out_cutoff, out_half_width * 2, tmp_sampling_rate, radial=self.down_radial
        )
        self.register_buffer("up_filter", up_filter)  # [taps] or None
        self.register_buffer("down_filter", down_filter)  # [taps], [taps, taps] or None

        # Padding of the up-sampled image, placing samples symmetrically (paper, Appendix C.3).
        pad_total = (self.out_size - 1) * self.down_factor + 1  # size before down-sampling
        pad_total -= (self.in_size + self.conv_kernel - 1) * self.up_factor  # after up-sampling
        pad_total += up_taps + down_taps - 2  # what the two filters consume
        pad_lo = (pad_total + self.up_factor) // 2
        pad_hi = pad_total - pad_lo
        self.padding = [pad_lo, pad_hi, pad_lo, pad_hi]  # x0, x1, y0, y1

    def compute_dtype(self, device, force_fp32=False):
        """float16 for fp16 layers on CUDA, float32 otherwise (as officially)."""
        use_fp16 = self.use_fp16 and not force_fp32 and device.type == "cuda"
        return torch.float16 if use_fp16 else torch.float32

    def forward(self, x, w, force_fp32=False, update_emas=False):
        # x: [N, C_in, in_size, in_size], w: [N, w_dim] -> [N, C_out, out_size, out_size]
        if update_emas:
            magnitude = x.detach().to(torch.float32).square().mean()
            self.magnitude_ema.copy_(magnitude.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        input_gain = self.magnitude_ema.rsqrt()
        styles = self.affine(w)  # [N, C_in]
        if self.is_torgb:
            styles = styles * (1 / np.sqrt(self.in_channels * self.conv_kernel**2))
        dtype = self.compute_dtype(x.device, force_fp32)
        x = modulated_conv2d(
            x.to(dtype), self.weight, styles, demodulate=not self.is_torgb,
            padding=self.conv_kernel - 1, input_gain=input_gain,
        )  # fmt: skip
        return filtered_lrelu(
            x, fu=self.up_filter, fd=self.down_filter, b=self.bias.to(x.dtype),
            up=self.up_factor, down=self.down_factor, padding=self.padding,
            gain=1 if self.is_torgb else np.sqrt(2), slope=1 if self.is_torgb else 0.2,
            clamp=self.conv_clamp,
        )  # fmt: skip

    def extra_repr(self):
        return (
            f"is_torgb={self.is_torgb}, in_channels={self.in_channels}, "
            f"out_channels={self.out_channels}, in_size={self.in_size}, out_size={self.out_size}, "
            f"up={self.up_factor}, down={self.down_factor}"
        )
