"""Output shapes of the compiled ops (for fake kernels) and upfirdn2d's gradient padding."""


def upfirdn2d_output_size(size, up, down, pad0, pad1, taps):
    """Samples left after zero-insertion, padding, a `taps`-long filter and decimation (0 when
    the padding crops everything; `upfirdn2d_output_shape` rejects that)."""
    full = size * up + pad0 + pad1 - taps + 1
    return 0 if full <= 0 else (full + down - 1) // down


def upfirdn2d_output_shape(x_shape, f_shape, up, down, padding):
    """[N, C, H', W'] of upfirdn2d; up/down are (x, y), padding (x0, x1, y0, y1), f [fh, fw].

    Raises RuntimeError, as the compiled kernel's check (csrc/upfirdn2d.h) does, when the
    padding leaves no output row or column, so fake and real kernels fail alike.
    """
    batch_size, num_channels, in_h, in_w = x_shape
    filter_h, filter_w = f_shape
    upx, upy = up
    downx, downy = down
    padx0, padx1, pady0, pady1 = padding
    out_h = upfirdn2d_output_size(in_h, upy, downy, pady0, pady1, filter_h)
    out_w = upfirdn2d_output_size(in_w, upx, downx, padx0, padx1, filter_w)
    if out_h <= 0 or out_w <= 0:
        raise RuntimeError(
            f"upfirdn2d: the padding crops everything: output would be {out_h}x{out_w} "
            f"for input {in_h}x{in_w}"
        )
    return [batch_size, num_channels, out_h, out_w]


def upfirdn2d_backward_padding(in_size, out_size, f_shape, up, down, pad0):
    """(x0, x1, y0, y1) padding of the upfirdn2d that maps grad_y back onto x's grid.

    in_size/out_size are (H, W) of x and grad_y; pad0 the forward's leading (x0, y0) padding.
    """
    in_h, in_w = in_size
    out_h, out_w = out_size
    filter_h, filter_w = f_shape
    upx, upy = up
    downx, downy = down
    padx0, pady0 = pad0
    return (
        filter_w - padx0 - 1,
        in_w * upx - out_w * downx + padx0 - upx + 1,
        filter_h - pady0 - 1,
        in_h * upy - out_h * downy + pady0 - upy + 1,
    )


def modulated_conv2d_output_shape(x_shape, weight_shape, up, padding):
    """[N, C_out, H', W'] of a stride-1 (up = 1) or 2x up-sampling (up = 2) modulated conv."""
    batch_size, _, in_h, in_w = x_shape
    out_channels, _, kernel_h, kernel_w = weight_shape
    out_h = in_h * up + 2 * padding - kernel_h + 1 if up == 1 else in_h * up
    out_w = in_w * up + 2 * padding - kernel_w + 1 if up == 1 else in_w * up
    return [batch_size, out_channels, out_h, out_w]
