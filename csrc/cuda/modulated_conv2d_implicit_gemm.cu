// The implicit-GEMM algorithm of the CUDA modulated_conv2d (up = 1): one kernel per call that
// gathers the input patches on the fly (no im2col buffer), multiplies them by the per-sample
// modulated weights in shared-memory tiles with float accumulation, and applies the bias_act
// epilogue before its single write. The alternative to the cuDNN algorithm; which one the face
// uses is decided by benches/bench_ops.py (see stylegan/ops/dispatch.py).
#include <ATen/cuda/CUDAContext.h>

#include "modulated_conv2d.cuh"

namespace draggan_fast {
namespace {

constexpr int kTileChannels = 64;   // output channels per block (GEMM rows)
constexpr int kTilePixels = 64;     // output pixels per block (GEMM columns)
constexpr int kTileReduce = 16;     // reduction (C_in * k * k) step
constexpr int kBlockThreads = 256;  // 16 x 16 threads, each owning a 4 x 4 block of outputs
constexpr int kPerThread = 4;

struct ConvShape {
  int64_t in_channels, out_channels, height, width, kernel, padding;
};

template <typename scalar_t, Activation A>
__global__ void __launch_bounds__(kBlockThreads)
    implicit_gemm_kernel(const scalar_t* __restrict__ x, const scalar_t* __restrict__ weights,
                         scalar_t* __restrict__ y, const scalar_t* __restrict__ noise,
                         const scalar_t* __restrict__ bias, ConvShape s, Epilogue e) {
  __shared__ float tile_weights[kTileReduce][kTileChannels];
  __shared__ float tile_patches[kTileReduce][kTilePixels];
  const int64_t sample = blockIdx.z;
  const int64_t channel0 = int64_t(blockIdx.y) * kTileChannels;
  const int64_t pixel0 = int64_t(blockIdx.x) * kTilePixels;
  const int thread_col = threadIdx.x % 16, thread_row = threadIdx.x / 16;
  const int64_t taps = s.kernel * s.kernel, reduce = s.in_channels * taps;
  const int64_t pixels = s.height * s.width;
  const scalar_t* sample_weights = weights + sample * s.out_channels * reduce;  // [C_out, K]
  const scalar_t* sample_x = x + sample * s.in_channels * pixels;               // [C_in, H*W]

  float acc[kPerThread][kPerThread] = {};
  for (int64_t k0 = 0; k0 < reduce; k0 += kTileReduce) {
    for (int idx = threadIdx.x; idx < kTileChannels * kTileReduce; idx += kBlockThreads) {
      const int64_t channel = channel0 + idx / kTileReduce, k = k0 + idx % kTileReduce;
      tile_weights[idx % kTileReduce][idx / kTileReduce] =
          (channel < s.out_channels && k < reduce)
              ? static_cast<float>(sample_weights[channel * reduce + k])
              : 0.f;
    }
    for (int idx = threadIdx.x; idx < kTileReduce * kTilePixels; idx += kBlockThreads) {
      const int64_t k = k0 + idx / kTilePixels, pixel = pixel0 + idx % kTilePixels;
      float value = 0.f;
      if (k < reduce && pixel < pixels) {
        const int64_t in_channel = k / taps, tap = k % taps;
        const int64_t in_row = pixel / s.width + tap / s.kernel - s.padding;
        const int64_t in_col = pixel % s.width + tap % s.kernel - s.padding;
        if (in_row >= 0 && in_row < s.height && in_col >= 0 && in_col < s.width) {
          value = static_cast<float>(sample_x[(in_channel * s.height + in_row) * s.width + in_col]);
        }
      }
      tile_patches[idx / kTilePixels][idx % kTilePixels] = value;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileReduce; ++kk) {
      float w[kPerThread], p[kPerThread];
#pragma unroll
      for (int i = 0; i < kPerThread; ++i) {
        w[i] = tile_weights[kk][thread_row * kPerThread + i];
        p[i] = tile_patches[kk][thread_col * kPerThread + i];
      }
#pragma unroll
      for (int i = 0; i < kPerThread; ++i) {
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) acc[i][j] = fmaf(w[i], p[j], acc[i][j]);
      }
    }
    __syncthreads();
  }
  for (int i = 0; i < kPerThread; ++i) {
    const int64_t channel = channel0 + thread_row * kPerThread + i;
    if (channel >= s.out_channels) continue;
    for (int j = 0; j < kPerThread; ++j) {
      const int64_t pixel = pixel0 + thread_col * kPerThread + j;
      if (pixel >= pixels) continue;
      y[(sample * s.out_channels + channel) * pixels + pixel] = epilogue_value<scalar_t, A>(
          acc[i][j], sample, channel, pixel / s.width, pixel % s.width, noise, bias, e);
    }
  }
}

}  // namespace

void implicit_gemm_conv(const at::Tensor& x, const at::Tensor& weights, at::Tensor& y,
                        const at::Tensor& noise, const at::Tensor& bias, const Epilogue& epilogue,
                        Activation act, int64_t padding) {
  const ConvShape shape{x.size(1), y.size(1), x.size(2), x.size(3), weights.size(2), padding};
  const int64_t pixels = shape.height * shape.width;
  const dim3 grid((pixels + kTilePixels - 1) / kTilePixels,
                  (shape.out_channels + kTileChannels - 1) / kTileChannels, x.size(0));
  TORCH_CHECK(grid.y <= 65535 && grid.z <= 65535, "modulated_conv2d (implicit GEMM): too large");
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(x.scalar_type(), "modulated_conv2d_implicit_gemm", [&] {
    dispatch_activation(act, [&]<Activation A>() {
      implicit_gemm_kernel<scalar_t, A><<<grid, kBlockThreads, 0, stream>>>(
          x.const_data_ptr<scalar_t>(), weights.const_data_ptr<scalar_t>(), y.data_ptr<scalar_t>(),
          noise.defined() ? noise.const_data_ptr<scalar_t>() : nullptr,
          bias.defined() ? bias.const_data_ptr<scalar_t>() : nullptr, shape, epilogue);
    });
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace draggan_fast
