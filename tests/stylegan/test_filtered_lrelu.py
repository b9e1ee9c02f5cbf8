"""The filtered leaky ReLU op against a naive definition (explicit zero insertion, 2D
convolutions), its gradients, output sizes, argument errors and its dispatch entry."""

import pytest
import torch
import torch.nn.functional as F

from draggan_fast import dispatch
from draggan_fast.stylegan.ops.filtered_lrelu import (
    filtered_lrelu,
    filtered_lrelu_reference,
    output_size,
)


def _as_2d(f, gain, dtype):
    """[taps] (separable) or [fh, fw] -> [fh, fw] times gain, None -> [[gain]]."""
    if f is None:
        return torch.full([1, 1], float(gain), dtype=dtype)
    f = f.to(dtype)
    return f.outer(f) * gain if f.ndim == 1 else f * gain


def _naive(x, fu, fd, b, up, down, padding, gain, slope, clamp):
    """Each step of the op's docstring written out, with 2D convolutions (flipped filters)."""
    px0, px1, py0, py1 = padding
    n, c, h, w = x.shape
    x = x + b.reshape(1, -1, 1, 1)
    upsampled = x.new_zeros([n, c, h * up, w * up])
    upsampled[:, :, ::up, ::up] = x
    x = F.pad(upsampled, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]
    kernel = _as_2d(fu, up**2, x.dtype).flip([0, 1])
    x = F.conv2d(x, kernel[None, None].repeat(c, 1, 1, 1), groups=c)
    x = torch.where(x >= 0, x, x * slope) * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    kernel = _as_2d(fd, 1, x.dtype).flip([0, 1])
    x = F.conv2d(x, kernel[None, None].repeat(c, 1, 1, 1), groups=c)
    return x[:, :, ::down, ::down]


CASES = [  # (up, down, padding, fu taps, fd taps or (fh, fw), radial fd, clamp)
    (2, 2, [5, 4, 5, 4], 12, 12, 256.0),
    (1, 2, [3, 2, 4, 1], 1, 8, None),
    (2, 1, [1, 6, 2, 3], 6, 1, 0.5),
    (4, 2, [7, 7, -1, 3], 8, (5, 7), None),
    (1, 1, [0, 0, 0, 0], 1, 1, 0.3),
]


@pytest.mark.parametrize("case", CASES)
def test_reference_equals_the_naive_definition(case):
    up, down, padding, fu_taps, fd_taps, clamp = case
    g = torch.Generator().manual_seed(len(str(case)))
    x = torch.randn(2, 3, 9, 7, generator=g, dtype=torch.float64)  # odd, non-square
    b = torch.randn(3, generator=g, dtype=torch.float64)
    fu = torch.rand(fu_taps, generator=g) if fu_taps > 1 else None  # asymmetric: catches flips
    if isinstance(fd_taps, tuple):
        fd = torch.rand(*fd_taps, generator=g)
    else:
        fd = torch.rand(fd_taps, generator=g) if fd_taps > 1 else None
    common = dict(up=up, down=down, padding=padding, gain=1.7, slope=0.2, clamp=clamp)
    actual = filtered_lrelu_reference(x, fu, fd, b, **common)
    expected = _naive(x, fu, fd, b, up, down, padding, 1.7, 0.2, clamp)
    assert actual.shape == expected.shape
    assert tuple(actual.shape[2:]) == output_size((9, 7), fu, fd, up, down, padding)
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-12)
    assert torch.equal(filtered_lrelu(x, fu, fd, b, **common), actual)  # the dispatched face


@pytest.mark.parametrize("dtype", [torch.float32])
def test_float32_close_to_float64(dtype):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 4, 12, 12, generator=g)
    fu, fd = torch.rand(12, generator=g), torch.rand(12, 12, generator=g)
    b = torch.randn(4, generator=g)
    common = dict(fu=fu, fd=fd, up=2, down=2, padding=[5, 4, 5, 4], clamp=256)
    out = filtered_lrelu(x.to(dtype), b=b.to(dtype), **common)
    ref = filtered_lrelu(x.double(), b=b.double(), **common)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)


def test_gradients_match_finite_differences():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 2, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True)
    fu, fd = torch.rand(4, generator=g), torch.rand(3, 3, generator=g)
    assert torch.autograd.gradcheck(
        lambda x, b: filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[2, 1, 1, 2]), (x, b)
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": torch.zeros(3, 4, 4)}, r"x must be \[N, C, H, W\]"),
        ({"b": torch.zeros(2)}, r"b must be \[3\]"),
        ({"up": 0}, "up and down must be ints >= 1"),
        ({"down": 1.5}, "up and down must be ints >= 1"),
        ({"slope": -1}, "slope >= 0"),
        ({"padding": [1, 2, 3]}, "padding must have 1, 2 or 4 items"),
        ({"fu": torch.ones(2, 2, 2)}, "filters must be 1D or 2D"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    arguments = {"x": torch.zeros(1, 3, 4, 4), **kwargs}
    with pytest.raises(ValueError, match=message):
        filtered_lrelu(**arguments)


def test_dispatch_states_the_reference(monkeypatch):
    rows = {row["op"]: row for row in dispatch.describe("cpu", family="generator")}
    assert rows["filtered_lrelu"]["implementation"] == "reference"
    monkeypatch.setenv(dispatch.ENV_VAR, "filtered_lrelu=compiled")
    with pytest.raises(ValueError, match="filtered_lrelu has no 'compiled' implementation"):
        filtered_lrelu(torch.zeros(1, 1, 2, 2))
