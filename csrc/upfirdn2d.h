// Argument checks and output shape of upfirdn2d, shared by the CPU and CUDA kernels.
//
// Semantics (as the reference): zero-insert `up` - 1 samples after each input sample, pad (or
// crop, for negative padding) by pad*0/pad*1, correlate with the filter flipped (a true
// convolution) unless flip_filter, scaled by gain, then keep every `down`-th sample.
#pragma once

#include <ATen/ATen.h>

namespace draggan_fast {

struct Upfirdn2dShape {
  int64_t planes;  // N * C
  int64_t in_h, in_w;
  int64_t out_h, out_w;
  int64_t filter_h, filter_w;
};

inline int64_t upfirdn2d_out_size(int64_t in, int64_t up, int64_t down, int64_t pad0, int64_t pad1,
                                  int64_t taps) {
  const int64_t full = in * up + pad0 + pad1 - taps + 1;  // before decimation
  return full <= 0 ? 0 : (full + down - 1) / down;
}

inline Upfirdn2dShape check_upfirdn2d(const at::Tensor& x, const at::Tensor& f, int64_t upx,
                                      int64_t upy, int64_t downx, int64_t downy, int64_t padx0,
                                      int64_t padx1, int64_t pady0, int64_t pady1) {
  TORCH_CHECK(x.dim() == 4, "upfirdn2d: x must be [N, C, H, W], got ", x.sizes());
  TORCH_CHECK(f.dim() == 2, "upfirdn2d: f must be a 2D filter [fh, fw], got ", f.sizes());
  TORCH_CHECK(f.size(0) >= 1 && f.size(1) >= 1, "upfirdn2d: f must not be empty");
  TORCH_CHECK(f.scalar_type() == at::kFloat, "upfirdn2d: f must be float32, got ", f.scalar_type());
  TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1,
              "upfirdn2d: up and down factors must be >= 1, got up=(", upx, ", ", upy, ") down=(",
              downx, ", ", downy, ")");
  Upfirdn2dShape shape;
  shape.planes = x.size(0) * x.size(1);
  shape.in_h = x.size(2);
  shape.in_w = x.size(3);
  shape.filter_h = f.size(0);
  shape.filter_w = f.size(1);
  shape.out_h = upfirdn2d_out_size(shape.in_h, upy, downy, pady0, pady1, shape.filter_h);
  shape.out_w = upfirdn2d_out_size(shape.in_w, upx, downx, padx0, padx1, shape.filter_w);
  TORCH_CHECK(shape.out_h > 0 && shape.out_w > 0,
              "upfirdn2d: the padding crops everything: output would be ", shape.out_h, "x",
              shape.out_w, " for input ", shape.in_h, "x", shape.in_w);
  return shape;
}

// The correlation kernel actually applied: f * gain in f's dtype, cast to x's dtype, flipped
// unless flip_filter (the reference convolves with f).
inline at::Tensor upfirdn2d_taps(const at::Tensor& f, const at::Tensor& x, bool flip_filter,
                                 double gain) {
  at::Tensor taps = (f * gain).to(x.scalar_type());
  if (!flip_filter) taps = taps.flip({0, 1});
  return taps.contiguous();
}

}  // namespace draggan_fast
