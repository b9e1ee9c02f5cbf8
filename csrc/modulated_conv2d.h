// Argument checks of modulated_conv2d (the CUDA kernel; the op has no CPU kernel).
//
// Semantics (as the reference, fused formulation): per sample n, y[n] = clamp(act(conv(x[n], w[n])
// + noise + bias) * gain) with w[n] = weight * styles[n] over C_in, demodulated by
// rsqrt(sum of squares + 1e-8); conv is a same-padded convolution (up = 1) or a transposed
// stride-2 convolution followed by the 4x4 FIR filter (up = 2).
#pragma once

#include <ATen/ATen.h>

#include "activation.h"

namespace draggan_fast {

inline void check_modulated_conv2d(const at::Tensor& x, const at::Tensor& weight,
                                   const at::Tensor& styles,
                                   const std::optional<at::Tensor>& filter, int64_t up,
                                   int64_t padding, bool flip_weight, Activation act) {
  TORCH_CHECK(x.is_cuda() && x.dim() == 4,
              "modulated_conv2d (CUDA): x must be a CUDA [N, C, H, W]");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kHalf,
              "modulated_conv2d (CUDA): x must be float32 or float16, got ", x.scalar_type());
  TORCH_CHECK(weight.dim() == 4 && weight.size(1) == x.size(1) && weight.size(2) == weight.size(3),
              "modulated_conv2d: weight must be [C_out, C_in, k, k] with C_in = ", x.size(1),
              ", got ", weight.sizes());
  TORCH_CHECK(weight.scalar_type() == at::kFloat && styles.scalar_type() == at::kFloat,
              "modulated_conv2d: weight and styles must be float32");
  TORCH_CHECK(styles.dim() == 2 && styles.size(0) == x.size(0) && styles.size(1) == x.size(1),
              "modulated_conv2d: styles must be [N, C_in], got ", styles.sizes());
  TORCH_CHECK(weight.device() == x.device() && styles.device() == x.device(),
              "modulated_conv2d: all tensors must be on ", x.device());
  const int64_t kernel = weight.size(2);
  TORCH_CHECK(kernel % 2 == 1, "modulated_conv2d: the kernel size must be odd, got ", kernel);
  TORCH_CHECK(padding == kernel / 2, "modulated_conv2d: padding must be kernel // 2 = ", kernel / 2,
              ", got ", padding);
  TORCH_CHECK(up == 1 || (up == 2 && kernel == 3),
              "modulated_conv2d: up must be 1, or 2 with a 3x3 kernel; got up=", up, " k=", kernel);
  TORCH_CHECK(flip_weight == (up == 1),
              "modulated_conv2d: flip_weight must be True for up=1 and False for up=2");
  TORCH_CHECK(up == 1 || (filter.has_value() && filter->dim() == 2 && filter->size(0) == 4 &&
                          filter->size(1) == 4),
              "modulated_conv2d: up=2 needs a 4x4 resample_filter");
  TORCH_CHECK(act == Activation::kLinear || act == Activation::kRelu || act == Activation::kLrelu,
              "modulated_conv2d: the fused activation must be linear, relu or lrelu");
}

}  // namespace draggan_fast
