// CUDA modulated_conv2d: StyleGAN2's modulated convolution as one op. Two algorithms share the
// prologue and the epilogue: `modulated_conv2d` (cuDNN convolution with fused prologue and
// epilogue kernels, up = 1 or 2) and `modulated_conv2d_implicit_gemm` (up = 1; the convolution
// and epilogue in one kernel, modulated_conv2d_implicit_gemm.cu):
//   prologue: per (sample, output channel), modulate the weights by the styles, reduce their
//             squared norm and demodulate, writing the per-sample weights in x's dtype;
//   conv:     one grouped cuDNN convolution over the batch (up = 2: transposed stride-2 conv and
//             the 4x4 FIR filter, as the reference);
//   epilogue: + noise, + bias, activation * gain, clamp, in place on the conv output.
// The gradient is attached in Python (stylegan/ops/modulated_conv2d_autograd.py).
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "activation.h"
#include "bias_act.h"
#include "launch.cuh"
#include "modulated_conv2d.cuh"

namespace draggan_fast {

// upfirdn2d.cu
at::Tensor upfirdn2d_cuda(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy,
                          int64_t downx, int64_t downy, int64_t padx0, int64_t padx1, int64_t pady0,
                          int64_t pady1, bool flip_filter, double gain);

namespace {

constexpr int kReduceThreads = 256;

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

void check_modulated_conv2d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& styles,
                            const std::optional<at::Tensor>& filter, int64_t up, int64_t padding,
                            bool flip_weight, Activation act) {
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

enum class Algorithm { kCudnn, kImplicitGemm };

at::Tensor modulated_conv2d_forward(const at::Tensor& x, const at::Tensor& weight,
                                    const at::Tensor& styles,
                                    const std::optional<at::Tensor>& noise,
                                    const std::optional<at::Tensor>& bias,
                                    const std::optional<at::Tensor>& resample_filter, int64_t up,
                                    int64_t padding, bool demodulate, bool flip_weight,
                                    c10::string_view act, double alpha, double gain, double clamp,
                                    Algorithm algorithm) {
  const Activation activation = parse_activation(std::string(act));
  check_modulated_conv2d(x, weight, styles, resample_filter, up, padding, flip_weight, activation);
  TORCH_CHECK(algorithm == Algorithm::kCudnn || up == 1,
              "modulated_conv2d_implicit_gemm: only up=1 (use modulated_conv2d for up=2)");
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

  if (algorithm == Algorithm::kImplicitGemm) {
    at::Tensor y = at::empty({batch, out_channels, out_h, out_w}, x.options());
    implicit_gemm_conv(x.contiguous(), weights, y, noise_view, bias_c, e, activation, padding);
    return y;
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

at::Tensor modulated_conv2d_cuda(const at::Tensor& x, const at::Tensor& weight,
                                 const at::Tensor& styles, const std::optional<at::Tensor>& noise,
                                 const std::optional<at::Tensor>& bias,
                                 const std::optional<at::Tensor>& resample_filter, int64_t up,
                                 int64_t padding, bool demodulate, bool flip_weight,
                                 c10::string_view act, double alpha, double gain, double clamp) {
  return modulated_conv2d_forward(x, weight, styles, noise, bias, resample_filter, up, padding,
                                  demodulate, flip_weight, act, alpha, gain, clamp,
                                  Algorithm::kCudnn);
}

at::Tensor modulated_conv2d_implicit_gemm_cuda(
    const at::Tensor& x, const at::Tensor& weight, const at::Tensor& styles,
    const std::optional<at::Tensor>& noise, const std::optional<at::Tensor>& bias,
    const std::optional<at::Tensor>& resample_filter, int64_t up, int64_t padding, bool demodulate,
    bool flip_weight, c10::string_view act, double alpha, double gain, double clamp) {
  return modulated_conv2d_forward(x, weight, styles, noise, bias, resample_filter, up, padding,
                                  demodulate, flip_weight, act, alpha, gain, clamp,
                                  Algorithm::kImplicitGemm);
}

}  // namespace

TORCH_LIBRARY_IMPL(draggan_fast, CUDA, m) {
  m.impl("modulated_conv2d", &modulated_conv2d_cuda);
  m.impl("modulated_conv2d_implicit_gemm", &modulated_conv2d_implicit_gemm_cuda);
}

}  // namespace draggan_fast
