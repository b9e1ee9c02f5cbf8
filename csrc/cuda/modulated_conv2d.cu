// CUDA modulated_conv2d: StyleGAN2's modulated convolution as one op (up = 1 or 2), a cuDNN
// convolution between a fused prologue and a fused epilogue kernel:
//   prologue: per (sample, output channel), modulate the weights by the styles, reduce their
//             squared norm and demodulate, writing the per-sample weights in x's dtype;
//   conv:     one grouped cuDNN convolution over the batch (up = 2: transposed stride-2 conv and
//             the 4x4 FIR filter, as the reference);
//   epilogue: + noise, + bias, activation * gain, clamp, in place on the conv output.
// The gradient is attached in Python (stylegan/ops/modulated_conv2d.py).
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "activation.h"
#include "bias_act.h"
#include "launch.cuh"
#include "modulated_conv2d.h"

namespace draggan_fast {

// upfirdn2d.cu
at::Tensor upfirdn2d_cuda(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy,
                          int64_t downx, int64_t downy, int64_t padx0, int64_t padx1, int64_t pady0,
                          int64_t pady1, bool flip_filter, double gain);

namespace {

constexpr int kReduceThreads = 256;

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

// weights_out[n, o, :] = weight[o, :] * styles[n, :] * (demodulate ? rsqrt(sum_sq + 1e-8) : 1)
template <typename scalar_t>
__global__ void modulate_weights_kernel(const float* __restrict__ weight,
                                        const float* __restrict__ styles,
                                        scalar_t* __restrict__ weights_out, int64_t out_channels,
                                        int64_t in_channels, int64_t taps, bool demodulate) {
  const int64_t sample = blockIdx.x / out_channels, out_channel = blockIdx.x % out_channels;
  const int64_t fan_in = in_channels * taps;
  const float* w = weight + out_channel * fan_in;
  const float* s = styles + sample * in_channels;
  __shared__ float partial[kReduceThreads];
  float sum_sq = 0.f;
  for (int64_t e = threadIdx.x; e < fan_in; e += blockDim.x) {
    const float m = w[e] * s[e / taps];
    sum_sq += m * m;
  }
  partial[threadIdx.x] = sum_sq;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  const float dcoef = demodulate ? rsqrtf(partial[0] + 1e-8f) : 1.f;
  scalar_t* out = weights_out + blockIdx.x * fan_in;
  for (int64_t e = threadIdx.x; e < fan_in; e += blockDim.x) {
    out[e] = static_cast<scalar_t>(w[e] * s[e / taps] * dcoef);
  }
}

template <typename scalar_t, Activation A>
__global__ void epilogue_kernel(scalar_t* __restrict__ y, const scalar_t* __restrict__ noise,
                                const scalar_t* __restrict__ bias, Epilogue e) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < e.numel;
       i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t col = i % e.width, row = (i / e.width) % e.height;
    const int64_t channel = (i / (e.width * e.height)) % e.channels;
    const int64_t sample = i / (e.width * e.height * e.channels);
    y[i] = epilogue_value<scalar_t, A>(static_cast<float>(y[i]), sample, channel, row, col, noise,
                                       bias, e);
  }
}

// float16 with demodulation: the official pre-normalisation against overflow.
std::pair<at::Tensor, at::Tensor> prenormalize(const at::Tensor& weight, const at::Tensor& styles,
                                               bool half, bool demodulate) {
  if (!(half && demodulate)) return {weight.contiguous(), styles.contiguous()};
  const double fan_in = static_cast<double>(weight.size(1) * weight.size(2) * weight.size(3));
  const at::Tensor weight_max = weight.abs().amax({1, 2, 3}, /*keepdim=*/true);
  const at::Tensor styles_max = styles.abs().amax({1}, /*keepdim=*/true);
  return {(weight * (1.0 / std::sqrt(fan_in)) / weight_max).contiguous(),
          (styles / styles_max).contiguous()};
}

at::Tensor modulated_conv2d_cuda(const at::Tensor& x, const at::Tensor& weight,
                                 const at::Tensor& styles, const std::optional<at::Tensor>& noise,
                                 const std::optional<at::Tensor>& bias,
                                 const std::optional<at::Tensor>& resample_filter, int64_t up,
                                 int64_t padding, bool demodulate, bool flip_weight,
                                 c10::string_view act, double alpha, double gain, double clamp) {
  const Activation activation = parse_activation(std::string(act));
  check_modulated_conv2d(x, weight, styles, resample_filter, up, padding, flip_weight, activation);
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t batch = x.size(0), in_channels = x.size(1), out_channels = weight.size(0);
  const int64_t kernel = weight.size(2);
  auto [weight_n, styles_n] =
      prenormalize(weight, styles, x.scalar_type() == at::kHalf, demodulate);

  // Prologue: per-sample modulated (and demodulated) weights [N * C_out, C_in, k, k].
  at::Tensor weights = at::empty({batch * out_channels, in_channels, kernel, kernel}, x.options());
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(x.scalar_type(), "modulate_weights", [&] {
    modulate_weights_kernel<scalar_t><<<batch * out_channels, kReduceThreads, 0, stream>>>(
        weight_n.const_data_ptr<float>(), styles_n.const_data_ptr<float>(),
        weights.data_ptr<scalar_t>(), out_channels, in_channels, kernel * kernel, demodulate);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  const int64_t out_h = up == 1 ? x.size(2) : 2 * x.size(2);
  const int64_t out_w = up == 1 ? x.size(3) : 2 * x.size(3);
  Epilogue e{batch * out_channels * out_h * out_w,
             out_channels,
             out_h,
             out_w,
             {0, 0, 0, 0},
             float(alpha),
             float(gain),
             clamp_limit<float>(clamp)};
  at::Tensor noise_view;
  if (noise.has_value()) {
    TORCH_CHECK(noise->device() == x.device(), "modulated_conv2d: noise must be on ", x.device());
    noise_view = noise->to(x.scalar_type()).expand({batch, out_channels, out_h, out_w});
    for (int d = 0; d < 4; ++d) e.noise_strides[d] = noise_view.stride(d);
  }
  at::Tensor bias_c;
  if (bias.has_value()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == out_channels,
                "modulated_conv2d: bias must be [C_out]");
    bias_c = bias->to(x.scalar_type()).contiguous();
  }

  // cuDNN: one grouped convolution for the whole batch, then the epilogue in place.
  const at::Tensor x_groups =
      x.contiguous().reshape({1, batch * in_channels, x.size(2), x.size(3)});
  at::Tensor y;
  if (up == 1) {
    y = at::conv2d(x_groups, weights, {}, 1, padding, 1, batch);
  } else {
    const at::Tensor weights_t = weights.reshape({batch, out_channels, in_channels, kernel, kernel})
                                     .transpose(1, 2)
                                     .reshape({batch * in_channels, out_channels, kernel, kernel});
    const at::Tensor y_full = at::conv_transpose2d(x_groups, weights_t, {}, 2, 0, 0, batch);
    // Padding of the reference's conv2d_resample for up=2, k=3, a 4x4 filter: 1 on each side.
    y = upfirdn2d_cuda(y_full, *resample_filter, 1, 1, 1, 1, 1, 1, 1, 1, false, 4.0);
  }
  y = y.reshape({batch, out_channels, out_h, out_w}).contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(x.scalar_type(), "modulated_conv2d_epilogue", [&] {
    dispatch_activation(activation, [&]<Activation A>() {
      epilogue_kernel<scalar_t, A><<<grid_size(y.numel()), kThreads, 0, stream>>>(
          y.data_ptr<scalar_t>(),
          noise_view.defined() ? noise_view.const_data_ptr<scalar_t>() : nullptr,
          bias_c.defined() ? bias_c.const_data_ptr<scalar_t>() : nullptr, e);
    });
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return y;
}

}  // namespace

TORCH_LIBRARY_IMPL(draggan_fast, CUDA, m) { m.impl("modulated_conv2d", &modulated_conv2d_cuda); }

}  // namespace draggan_fast
