// Shared by the two CUDA modulated_conv2d algorithms (modulated_conv2d.cu: cuDNN with fused
// prologue/epilogue kernels; modulated_conv2d_implicit_gemm.cu: one implicit-GEMM kernel).
#pragma once

#include <ATen/ATen.h>

#include "activation.h"

namespace draggan_fast {

// The bias_act epilogue of a [N, C, H, W] output: + noise, + bias, activation * gain, clamp.
struct Epilogue {
  int64_t numel, channels, height, width;
  int64_t noise_strides[4];  // element strides of the noise broadcast to [N, C, H, W]
  float alpha, gain, limit;
};

template <typename scalar_t, Activation A>
__device__ __forceinline__ scalar_t epilogue_value(float pre, int64_t sample, int64_t channel,
                                                   int64_t row, int64_t col,
                                                   const scalar_t* __restrict__ noise,
                                                   const scalar_t* __restrict__ bias,
                                                   const Epilogue& e) {
  if (noise != nullptr) {
    pre += static_cast<float>(noise[sample * e.noise_strides[0] + channel * e.noise_strides[1] +
                                    row * e.noise_strides[2] + col * e.noise_strides[3]]);
  }
  if (bias != nullptr) pre += static_cast<float>(bias[channel]);
  const float out = activate<A>(pre, e.alpha) * e.gain;
  return static_cast<scalar_t>(out < -e.limit ? -e.limit : (out > e.limit ? e.limit : out));
}

// y[n] = epilogue(conv(x[n], weights[n])) for a stride-1 same-padded convolution, as one
// implicit GEMM per sample: [C_out, C_in * k * k] x [C_in * k * k, H * W].
// x: [N, C_in, H, W], weights: [N * C_out, C_in, k, k] (x's dtype), y: [N, C_out, H, W].
void implicit_gemm_conv(const at::Tensor& x, const at::Tensor& weights, at::Tensor& y,
                        const at::Tensor& noise, const at::Tensor& bias, const Epilogue& epilogue,
                        Activation act, int64_t padding);

}  // namespace draggan_fast
