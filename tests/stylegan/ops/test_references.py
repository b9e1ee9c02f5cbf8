"""Properties of the reference ops that the official semantics imply (they are the oracle for
every kernel, so they are checked against independent formulations here)."""

import math

import pytest
import torch
import torch.nn.functional as F

from draggan_fast.stylegan.ops.bias_act import activation_defaults, bias_act_reference
from draggan_fast.stylegan.ops.conv2d_resample import (
    conv2d_resample_reference,
    upsample2d_reference,
)
from draggan_fast.stylegan.ops.modulated_conv2d import modulated_conv2d_reference
from draggan_fast.stylegan.ops.upfirdn2d import setup_filter, upfirdn2d_reference


def _naive_upfirdn2d(x, f, up, down, pad, gain):
    """Direct loops over the definition: zero-insert, pad, true convolution, subsample."""
    n, c, h, w = x.shape
    up_h, up_w = h * up, w * up
    z = torch.zeros(n, c, up_h, up_w, dtype=x.dtype)
    z[:, :, ::up, ::up] = x
    px0, px1, py0, py1 = pad
    padded = torch.zeros(n, c, up_h + py0 + py1, up_w + px0 + px1, dtype=x.dtype)
    padded[:, :, py0 : py0 + up_h, px0 : px0 + up_w] = z
    f = f * gain
    fh, fw = f.shape
    out_h, out_w = padded.shape[2] - fh + 1, padded.shape[3] - fw + 1
    out = torch.zeros(n, c, out_h, out_w, dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            patch = padded[:, :, i : i + fh, j : j + fw]
            out[:, :, i, j] = (patch * f.flip([0, 1])).sum(dim=(2, 3))
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize(
    "up, down, pad",
    [(1, 1, (1, 2, 0, 1)), (2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)), (2, 2, (1, 2, 2, 1))],
)
def test_upfirdn2d_matches_its_definition(up, down, pad):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    f = torch.rand(4, 3, dtype=torch.float64)  # asymmetric, non-square: catches flips and axes
    expected = _naive_upfirdn2d(x, f, up, down, pad, gain=up * up)
    actual = upfirdn2d_reference(x, f, up=up, down=down, padding=pad, gain=up * up)
    torch.testing.assert_close(actual, expected)


def test_upfirdn2d_negative_padding_crops():
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    one = torch.ones(1, 1)
    out = upfirdn2d_reference(x, one, padding=(-1, -2, -2, 0))
    torch.testing.assert_close(out, x[:, :, 2:, 1:4])


def test_setup_filter_and_upsample2d_preserve_constants():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and math.isclose(float(f.sum()), 1.0, rel_tol=1e-6)
    x = torch.full([1, 2, 4, 4], 3.0)
    up = upsample2d_reference(x, f)
    assert up.shape == (1, 2, 8, 8)
    torch.testing.assert_close(up[:, :, 2:-2, 2:-2], torch.full([1, 2, 4, 4], 3.0))


@pytest.mark.parametrize("act", ["linear", "relu", "lrelu", "tanh", "sigmoid"])
def test_bias_act_definition(act):
    torch.manual_seed(1)
    x, b = torch.randn(2, 4, 3, 3), torch.randn(4)
    y = x + b.reshape(1, -1, 1, 1)
    funcs = {
        "linear": lambda v: v,
        "relu": F.relu,
        "lrelu": lambda v: F.leaky_relu(v, 0.2),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
    }
    _, gain = activation_defaults(act)
    expected = (funcs[act](y) * gain).clamp(-0.5, 0.5)
    torch.testing.assert_close(bias_act_reference(x, b, act=act, clamp=0.5), expected)


def test_bias_act_rejects_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation"):
        bias_act_reference(torch.zeros(1, 1), act="swish")


@pytest.mark.parametrize("up", [1, 2])
def test_conv2d_resample_fast_paths_equal_generic_formulation(up):
    torch.manual_seed(2)
    x, w = (
        torch.randn(2, 4, 6, 6, dtype=torch.float64),
        torch.randn(5, 4, 3, 3, dtype=torch.float64),
    )
    f = setup_filter([1, 3, 3, 1]).double()
    out = conv2d_resample_reference(x, w, f=f, up=up, padding=1, flip_weight=(up == 1))
    if up == 1:
        expected = F.conv2d(x, w, padding=1)
    else:
        # Generic: zero-insert and FIR-filter with the full support (pad 3 / 2 for a 4-tap filter
        # and a 3x3 kernel), then a valid true convolution (flipped weights), as in the paper.
        x = upfirdn2d_reference(x, f, up=2, padding=[3, 2, 3, 2], gain=4)
        expected = F.conv2d(x, w.flip([2, 3]))
    assert out.shape == (2, 5, 6 * up, 6 * up)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv2d_fused_equals_non_fused(up, demodulate):
    torch.manual_seed(3)
    x, weight = torch.randn(3, 4, 8, 8), torch.randn(6, 4, 3, 3)
    styles, noise = torch.randn(3, 4), torch.randn(1, 1, 8 * up, 8 * up)
    f = setup_filter([1, 3, 3, 1])
    common = dict(up=up, padding=1, resample_filter=f, demodulate=demodulate, flip_weight=up == 1)
    fused = modulated_conv2d_reference(x, weight, styles, noise, fused_modconv=True, **common)
    split = modulated_conv2d_reference(x, weight, styles, noise, fused_modconv=False, **common)
    torch.testing.assert_close(fused, split, atol=1e-4, rtol=1e-4)


def test_modulated_conv2d_demodulation_normalises_output_channels():
    torch.manual_seed(4)
    x, weight, styles = torch.randn(1, 4, 6, 6), torch.randn(2, 4, 1, 1), torch.randn(1, 4)
    out = modulated_conv2d_reference(x, weight, styles)
    w = weight[None] * styles[:, None, :, None, None]
    w = w / w.square().sum(dim=[2, 3, 4], keepdim=True).add(1e-8).sqrt()
    torch.testing.assert_close(out, F.conv2d(x, w[0]))
