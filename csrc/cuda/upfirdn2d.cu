// CUDA kernel of upfirdn2d (float32, float16, bfloat16, float64): one thread per output sample,
// visiting only the taps that meet real (not zero-inserted, not padded) input samples, with the
// filter staged in shared memory and accumulation in float (double for float64).
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "launch.cuh"
#include "upfirdn2d.h"

namespace draggan_fast {
namespace {

constexpr int64_t kMaxTaps = 64 * 64;  // shared-memory filter limit

struct Upfirdn2dParams {
  int64_t planes, in_h, in_w, out_h, out_w, filter_h, filter_w;
  int upx, upy, downx, downy, padx0, pady0;
};

template <typename scalar_t>
__global__ void upfirdn2d_kernel(const scalar_t* __restrict__ x,
                                 const at::opmath_type<scalar_t>* __restrict__ taps,
                                 scalar_t* __restrict__ y, Upfirdn2dParams p) {
  using acc_t = at::opmath_type<scalar_t>;
  extern __shared__ unsigned char shared_bytes[];
  acc_t* shared_taps = reinterpret_cast<acc_t*>(shared_bytes);
  const int64_t num_taps = p.filter_h * p.filter_w;
  for (int64_t t = threadIdx.x; t < num_taps; t += blockDim.x) shared_taps[t] = taps[t];
  __syncthreads();

  const int64_t numel = p.planes * p.out_h * p.out_w;
  const int64_t up_h = p.in_h * p.upy, up_w = p.in_w * p.upx;
  for (int64_t index = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; index < numel;
       index += int64_t(blockDim.x) * gridDim.x) {
    const int64_t ox = index % p.out_w;
    const int64_t oy = (index / p.out_w) % p.out_h;
    const int64_t plane = index / (p.out_w * p.out_h);
    const scalar_t* in_plane = x + plane * p.in_h * p.in_w;
    acc_t sum = 0;
    for (int64_t i = 0; i < p.filter_h; ++i) {
      const int64_t pos_y = oy * p.downy + i - p.pady0;  // in the zero-inserted column
      if (pos_y < 0 || pos_y >= up_h || pos_y % p.upy != 0) continue;
      const scalar_t* in_row = in_plane + (pos_y / p.upy) * p.in_w;
      const acc_t* tap_row = shared_taps + i * p.filter_w;
      for (int64_t j = 0; j < p.filter_w; ++j) {
        const int64_t pos_x = ox * p.downx + j - p.padx0;  // in the zero-inserted row
        if (pos_x < 0 || pos_x >= up_w || pos_x % p.upx != 0) continue;
        sum += tap_row[j] * static_cast<acc_t>(in_row[pos_x / p.upx]);
      }
    }
    y[index] = static_cast<scalar_t>(sum);
  }
}

}  // namespace

at::Tensor upfirdn2d_cuda(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy,
                          int64_t downx, int64_t downy, int64_t padx0, int64_t padx1, int64_t pady0,
                          int64_t pady1, bool flip_filter, double gain) {
  const Upfirdn2dShape shape =
      check_upfirdn2d(x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1);
  TORCH_CHECK(x.is_cuda() && f.device() == x.device(),
              "upfirdn2d (CUDA): x and f must be on the same CUDA device");
  TORCH_CHECK(at::isFloatingType(x.scalar_type()),
              "upfirdn2d (CUDA): x must be floating point, got ", x.scalar_type());
  TORCH_CHECK(shape.filter_h * shape.filter_w <= kMaxTaps, "upfirdn2d (CUDA): filter of ",
              shape.filter_h, "x", shape.filter_w, " taps is larger than the supported ", kMaxTaps);
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor xc = x.contiguous();
  at::Tensor y = at::empty({x.size(0), x.size(1), shape.out_h, shape.out_w}, x.options());
  if (y.numel() == 0) return y;
  const Upfirdn2dParams params{shape.planes,
                               shape.in_h,
                               shape.in_w,
                               shape.out_h,
                               shape.out_w,
                               shape.filter_h,
                               shape.filter_w,
                               static_cast<int>(upx),
                               static_cast<int>(upy),
                               static_cast<int>(downx),
                               static_cast<int>(downy),
                               static_cast<int>(padx0),
                               static_cast<int>(pady0)};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "upfirdn2d_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    // Rounded to x's dtype like the reference's filter, then held in the accumulation type.
    const at::Tensor taps =
        upfirdn2d_taps(f, x, flip_filter, gain).to(c10::CppTypeToScalarType<acc_t>::value);
    const size_t shared = sizeof(acc_t) * shape.filter_h * shape.filter_w;
    upfirdn2d_kernel<scalar_t>
        <<<grid_size(y.numel()), kThreads, shared, at::cuda::getCurrentCUDAStream()>>>(
            xc.const_data_ptr<scalar_t>(), taps.const_data_ptr<acc_t>(), y.data_ptr<scalar_t>(),
            params);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return y;
}

TORCH_LIBRARY_IMPL(draggan_fast, CUDA, m) { m.impl("upfirdn2d", &upfirdn2d_cuda); }

}  // namespace draggan_fast
