"""upsample2d and conv2d_resample (compositions over upfirdn2d): their references against
independent formulations of the official semantics, and the public functions against them."""

import math

import pytest
import torch
import torch.nn.functional as F

from draggan_fast.stylegan.ops.conv2d_resample import (
    conv2d_resample_reference,
    upsample2d_reference,
)
from draggan_fast.stylegan.ops.upfirdn2d import setup_filter, upfirdn2d_reference


def test_setup_filter_and_upsample2d_preserve_constants():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and math.isclose(float(f.sum()), 1.0, rel_tol=1e-6)
    x = torch.full([1, 2, 4, 4], 3.0)
    up = upsample2d_reference(x, f)
    assert up.shape == (1, 2, 8, 8)
    torch.testing.assert_close(up[:, :, 2:-2, 2:-2], torch.full([1, 2, 4, 4], 3.0))


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
