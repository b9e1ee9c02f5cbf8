// CUDA kernels of bias_act and bias_act_grad (float32, float16, bfloat16, float64): one
// grid-stride elementwise pass, computing in float (double for float64) and rounding once.
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "activation.h"
#include "bias_act.h"
#include "launch.cuh"

namespace draggan_fast {
namespace {

template <typename scalar_t, Activation A>
__global__ void bias_act_forward_kernel(const scalar_t* __restrict__ x,
                                        const scalar_t* __restrict__ bias, scalar_t* __restrict__ y,
                                        int64_t numel, int64_t channels, int64_t inner,
                                        at::opmath_type<scalar_t> alpha,
                                        at::opmath_type<scalar_t> gain,
                                        at::opmath_type<scalar_t> limit) {
  using acc_t = at::opmath_type<scalar_t>;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < numel;
       i += int64_t(blockDim.x) * gridDim.x) {
    acc_t pre = static_cast<acc_t>(x[i]);
    if (bias != nullptr) pre += static_cast<acc_t>(bias[(i / inner) % channels]);
    const acc_t out = activate<A>(pre, alpha) * gain;
    y[i] = static_cast<scalar_t>(out < -limit ? -limit : (out > limit ? limit : out));
  }
}

template <typename scalar_t, Activation A>
__global__ void bias_act_backward_kernel(
    const scalar_t* __restrict__ grad_y, const scalar_t* __restrict__ x,
    const scalar_t* __restrict__ bias, scalar_t* __restrict__ grad_x, int64_t numel,
    int64_t channels, int64_t inner, at::opmath_type<scalar_t> alpha,
    at::opmath_type<scalar_t> gain, at::opmath_type<scalar_t> limit) {
  using acc_t = at::opmath_type<scalar_t>;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < numel;
       i += int64_t(blockDim.x) * gridDim.x) {
    acc_t pre = static_cast<acc_t>(x[i]);
    if (bias != nullptr) pre += static_cast<acc_t>(bias[(i / inner) % channels]);
    const acc_t activated = activate<A>(pre, alpha);
    const acc_t out = activated * gain;
    const acc_t grad = clamp_passes(out, limit) ? static_cast<acc_t>(grad_y[i]) : acc_t(0);
    grad_x[i] = static_cast<scalar_t>(activation_backward<A>(grad * gain, pre, activated, alpha));
  }
}

void check_cuda_inputs(const at::Tensor& x, const std::optional<at::Tensor>& b) {
  TORCH_CHECK(x.is_cuda(), "bias_act (CUDA): x must be a CUDA tensor");
  TORCH_CHECK(at::isFloatingType(x.scalar_type()),
              "bias_act (CUDA): x must be floating point, got ", x.scalar_type());
  TORCH_CHECK(!b.has_value() || b->device() == x.device(), "bias_act (CUDA): b must be on ",
              x.device());
}

at::Tensor bias_act_cuda(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                         c10::string_view act, double alpha, double gain, double clamp) {
  const BiasActShape shape = check_bias_act(x, b, dim);
  check_cuda_inputs(x, b);
  const Activation activation = parse_activation(std::string(act));
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor xc = x.contiguous();
  const at::Tensor bc = b.has_value() ? b->contiguous() : at::Tensor();
  at::Tensor y = at::empty(x.sizes(), x.options());
  if (y.numel() == 0) return y;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* bias = bc.defined() ? bc.const_data_ptr<scalar_t>() : nullptr;
    dispatch_activation(activation, [&]<Activation A>() {
      bias_act_forward_kernel<scalar_t, A>
          <<<grid_size(y.numel()), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
              xc.const_data_ptr<scalar_t>(), bias, y.data_ptr<scalar_t>(), y.numel(),
              shape.channels, shape.inner, acc_t(alpha), acc_t(gain), clamp_limit<acc_t>(clamp));
    });
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return y;
}

at::Tensor bias_act_grad_cuda(const at::Tensor& grad_y, const at::Tensor& x,
                              const std::optional<at::Tensor>& b, int64_t dim, c10::string_view act,
                              double alpha, double gain, double clamp) {
  const BiasActShape shape = check_bias_act(x, b, dim);
  check_cuda_inputs(x, b);
  TORCH_CHECK(grad_y.sizes() == x.sizes() && grad_y.scalar_type() == x.scalar_type() &&
                  grad_y.device() == x.device(),
              "bias_act_grad: grad_y must match x in shape, dtype and device");
  const Activation activation = parse_activation(std::string(act));
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor gc = grad_y.contiguous();
  const at::Tensor xc = x.contiguous();
  const at::Tensor bc = b.has_value() ? b->contiguous() : at::Tensor();
  at::Tensor grad_x = at::empty(x.sizes(), x.options());
  if (grad_x.numel() == 0) return grad_x;
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act_grad_cuda", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        const scalar_t* bias = bc.defined() ? bc.const_data_ptr<scalar_t>() : nullptr;
        dispatch_activation(activation, [&]<Activation A>() {
          bias_act_backward_kernel<scalar_t, A>
              <<<grid_size(x.numel()), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
                  gc.const_data_ptr<scalar_t>(), xc.const_data_ptr<scalar_t>(), bias,
                  grad_x.data_ptr<scalar_t>(), x.numel(), shape.channels, shape.inner, acc_t(alpha),
                  acc_t(gain), clamp_limit<acc_t>(clamp));
        });
      });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad_x;
}

}  // namespace

TORCH_LIBRARY_IMPL(draggan_fast, CUDA, m) {
  m.impl("bias_act", &bias_act_cuda);
  m.impl("bias_act_grad", &bias_act_grad_cuda);
}

}  // namespace draggan_fast
