"""The compiled upfirdn2d (CPU) against the reference: up/down/padding combos, filters,
awkward sizes, gradients, opcheck and errors."""

import pytest
import torch

from draggan_fast.stylegan.ops.upfirdn2d import (
    setup_filter,
    upfirdn2d_compiled,
    upfirdn2d_reference,
)

FIR = setup_filter([1, 3, 3, 1])  # [4, 4], as the generator's
# (up, down, padding): generator cases (2x up with its padding, the up-conv's filter pass, 2x
# down), crops (negative padding), asymmetric and per-axis factors.
RESAMPLINGS = [
    (1, 1, 0),
    (2, 1, [2, 1, 2, 1]),
    (1, 1, [1, 1, 1, 1]),
    (1, 2, [1, 1, 1, 1]),
    (1, 2, 0),
    (2, 2, [1, 2, 0, 3]),
    (3, 1, [2, 2, 1, 1]),
    (1, 3, [0, 2, 1, 0]),
    ([2, 1], [1, 2], [2, 1, 0, 1]),
    (1, 1, [-1, 2, 0, -1]),
    (2, 1, [-2, 0, 1, -1]),
]
FILTERS = {
    "fir4x4": FIR,
    "box1x1": None,
    "asym3x5": torch.arange(15, dtype=torch.float32).reshape(3, 5) / 50 + 0.1,
    "separable8": setup_filter([1, 2, 3, 4, 4, 3, 2, 1]),  # 1D: two passes
}
SIZES = [(7, 9), (1, 1), (2, 5), (16, 16)]


def _x(size, dtype=torch.float32, channels=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn([2, channels, *size], generator=generator, dtype=dtype)


def _valid(size, f, up, down, padding):
    """Whether these arguments leave a non-empty output (heavy crops of tiny inputs do not)."""
    try:
        return upfirdn2d_reference(torch.zeros([1, 1, *size]), f, up, down, padding).numel() > 0
    except RuntimeError:
        return False


FORWARD_CASES = [
    pytest.param(up, down, padding, name, size, id=f"up{up}-down{down}-pad{padding}-{name}-{size}")
    for up, down, padding in RESAMPLINGS
    for name in sorted(FILTERS)
    for size in SIZES
    if _valid(size, FILTERS[name], up, down, padding)
]


@pytest.mark.parametrize(("up", "down", "padding", "filter_name", "size"), FORWARD_CASES)
def test_forward_matches_reference(compiled_ops, up, down, padding, filter_name, size):
    x = _x(size)
    f = FILTERS[filter_name]
    for flip_filter in (False, True):
        expected = upfirdn2d_reference(x, f, up, down, padding, flip_filter=flip_filter, gain=3.0)
        actual = upfirdn2d_compiled(x, f, up, down, padding, flip_filter=flip_filter, gain=3.0)
        assert actual.shape == expected.shape
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_generator_sized_planes(compiled_ops):
    """Many channels and rows: exercises the parallel split and the vectorised row loop."""
    x = _x((33, 33), channels=64)
    for up, down, padding in [(1, 1, [1, 1, 1, 1]), (2, 1, [2, 1, 2, 1]), (1, 2, [1, 1, 1, 1])]:
        expected = upfirdn2d_reference(x, FIR, up, down, padding, gain=4)
        torch.testing.assert_close(upfirdn2d_compiled(x, FIR, up, down, padding, gain=4), expected)


def test_non_contiguous_input(compiled_ops):
    x = _x((6, 8)).transpose(2, 3)
    expected = upfirdn2d_reference(x, FIR, up=2, padding=[2, 1, 2, 1])
    torch.testing.assert_close(upfirdn2d_compiled(x, FIR, up=2, padding=[2, 1, 2, 1]), expected)


GRADIENT_CASES = [
    pytest.param(up, down, padding, name, id=f"up{up}-down{down}-pad{padding}-{name}")
    for up, down, padding in RESAMPLINGS[:6] + RESAMPLINGS[-2:]
    for name in ("fir4x4", "asym3x5", "separable8")
    if _valid((5, 6), FILTERS[name], up, down, padding)
]


@pytest.mark.parametrize(("up", "down", "padding", "filter_name"), GRADIENT_CASES)
def test_gradcheck_double(compiled_ops, up, down, padding, filter_name):
    x = _x((5, 6), dtype=torch.float64, channels=2).requires_grad_(True)
    f = FILTERS[filter_name]

    def run(x):
        return upfirdn2d_compiled(x, f, up, down, padding, gain=2.0)

    assert torch.autograd.gradcheck(run, (x,))
    assert torch.autograd.gradgradcheck(run, (x,))


def test_float32_gradient_matches_reference(compiled_ops):
    x = _x((9, 9), channels=8)
    grads = []
    for impl in (upfirdn2d_compiled, upfirdn2d_reference):
        xs = x.clone().requires_grad_(True)
        out = impl(xs, FIR, up=2, padding=[2, 1, 2, 1], gain=4)
        out.backward(torch.ones_like(out) * torch.linspace(-1, 1, out.shape[-1]))
        grads.append(xs.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "params",
    [(1, 1, 1, 1, 1, 1, 1, 1, False, 4.0), (2, 2, 1, 1, 2, 1, 2, 1, True, 1.0),
     (1, 1, 2, 2, 0, -1, 1, 0, False, 1.0)],
)  # fmt: skip
def test_opcheck(compiled_ops, params):
    x = _x((7, 6)).requires_grad_(True)
    torch.library.opcheck(torch.ops.draggan_fast.upfirdn2d.default, (x, FIR, *params))


def test_bad_input_is_named(compiled_ops):
    x = _x((5, 5))
    op = torch.ops.draggan_fast.upfirdn2d
    with pytest.raises(RuntimeError, match=r"x must be \[N, C, H, W\]"):
        op(x[0], FIR, 1, 1, 1, 1, 0, 0, 0, 0, False, 1.0)
    with pytest.raises(RuntimeError, match="f must be a 2D filter"):
        op(x, FIR[0], 1, 1, 1, 1, 0, 0, 0, 0, False, 1.0)
    with pytest.raises(RuntimeError, match="factors must be >= 1"):
        op(x, FIR, 0, 1, 1, 1, 0, 0, 0, 0, False, 1.0)
    with pytest.raises(RuntimeError, match="crops everything"):
        op(x, FIR, 1, 1, 1, 1, -3, -3, 0, 0, False, 1.0)


@pytest.mark.parametrize(
    "padding", [(-3, -3, 0, 0), (0, 0, -2, -3), (-4, 0, 0, -4)], ids=["x", "y", "both"]
)
def test_fake_kernel_rejects_a_full_crop_like_the_kernel(compiled_ops, padding):
    """The fake kernel (what torch.compile traces) raises the kernel's error, not a 0-size
    tensor: 5x5 with a 4-tap filter leaves 2 samples per axis, so these pads leave none."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    op = torch.ops.draggan_fast.upfirdn2d
    args = (1, 1, 1, 1, *padding, False, 1.0)
    with pytest.raises(RuntimeError, match="crops everything") as real:
        op(_x((5, 5)), FIR, *args)
    with FakeTensorMode() as mode:
        fake_x, fake_f = mode.from_tensor(_x((5, 5))), mode.from_tensor(FIR)
        with pytest.raises(RuntimeError, match="crops everything") as fake:
            op(fake_x, fake_f, *args)
    assert str(fake.value).splitlines()[0] == str(real.value).splitlines()[0]


def test_fake_kernel_keeps_a_one_sample_output(compiled_ops):
    """The edge of the check: a crop that leaves one row and column is still valid."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    args = (1, 1, 1, 1, -1, 0, 0, -1, False, 1.0)
    real = torch.ops.draggan_fast.upfirdn2d(_x((5, 5)), FIR, *args)
    with FakeTensorMode() as mode:
        fake = torch.ops.draggan_fast.upfirdn2d(
            mode.from_tensor(_x((5, 5))), mode.from_tensor(FIR), *args
        )
    assert real.shape == fake.shape == (2, 3, 1, 1)


# --- the reference against independent formulations of the official semantics ---


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
