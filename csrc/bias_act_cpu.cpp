// CPU kernels of bias_act and bias_act_grad: one pass over x, parallel over rows of the
// [outer, C, inner] view, vectorised by the compiler (AVX+FMA where the CPU has them).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "activation.h"
#include "bias_act.h"
#include "cpu_isa.h"

namespace draggan_fast {
namespace {

constexpr int64_t kGrainElements = 16384;  // elements per parallel task

// The bias of one row: the same value for every element (a channel's row of `inner` elements,
// 0 without bias) or one value per element ([C] rows when inner == 1).
template <typename T>
struct RowBias {
  T value;
  DF_ALWAYS_INLINE T operator()(int64_t) const { return value; }
};

template <typename T>
struct ElementBias {
  const T* values;
  DF_ALWAYS_INLINE T operator()(int64_t i) const { return values[i]; }
};

// Calls row(offset, count, bias) for each contiguous row of x, in parallel; `bias` is a RowBias
// or an ElementBias, so the row loop vectorises either way.
template <typename T, typename RowBody>
void for_each_row(const BiasActShape& shape, const T* bias, const RowBody& row) {
  if (shape.inner == 1 && bias != nullptr) {
    // [outer, C]: the bias varies along the contiguous axis.
    const int64_t grain =
        std::max<int64_t>(1, kGrainElements / std::max<int64_t>(shape.channels, 1));
    at::parallel_for(0, shape.outer, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        row(r * shape.channels, shape.channels, ElementBias<T>{bias});
      }
    });
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kGrainElements / shape.inner);
  at::parallel_for(0, shape.outer * shape.channels, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      row(r * shape.inner, shape.inner,
          RowBias<T>{bias == nullptr ? T(0) : bias[r % shape.channels]});
    }
  });
}

// One row of bias_act; always inlined, with every value a by-value argument, so the compiler
// vectorises it for the ISA of the caller (see cpu_isa.h).
template <typename T, Activation A, typename Bias>
DF_ALWAYS_INLINE inline void forward_row(const T* __restrict xs, T* __restrict ys, int64_t count,
                                         Bias bias_at, T alpha, T gain, T limit) {
  for (int64_t i = 0; i < count; ++i) {
    const T pre = xs[i] + bias_at(i);
    const T out = activate<A>(pre, alpha) * gain;
    ys[i] = std::min(std::max(out, -limit), limit);
  }
}

template <typename T, Activation A, typename Bias>
DF_ALWAYS_INLINE inline void backward_row(const T* __restrict gys, const T* __restrict xs,
                                          T* __restrict gxs, int64_t count, Bias bias_at, T alpha,
                                          T gain, T limit) {
  for (int64_t i = 0; i < count; ++i) {
    const T pre = xs[i] + bias_at(i);
    const T activated = activate<A>(pre, alpha);
    const T out = activated * gain;
    // The reference's autograd order: clamp mask, then gain, then the activation.
    const T grad = clamp_passes(out, limit) ? gys[i] : T(0);
    gxs[i] = activation_backward<A>(grad * gain, pre, activated, alpha);
  }
}

template <typename T, Activation A>
void forward_rows(const T* x, const T* bias, T* y, const BiasActShape& shape, T alpha, T gain,
                  T limit) {
  for_each_row<T>(shape, bias, [&](int64_t offset, int64_t count, auto bias_at) {
    cpu::run_best_isa([&]() DF_ALWAYS_INLINE {
      forward_row<T, A>(x + offset, y + offset, count, bias_at, alpha, gain, limit);
    });
  });
}

template <typename T, Activation A>
void backward_rows(const T* grad_y, const T* x, const T* bias, T* grad_x, const BiasActShape& shape,
                   T alpha, T gain, T limit) {
  for_each_row<T>(shape, bias, [&](int64_t offset, int64_t count, auto bias_at) {
    cpu::run_best_isa([&]() DF_ALWAYS_INLINE {
      backward_row<T, A>(grad_y + offset, x + offset, grad_x + offset, count, bias_at, alpha, gain,
                         limit);
    });
  });
}

void check_cpu_inputs(const at::Tensor& x, const std::optional<at::Tensor>& b) {
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "bias_act (CPU): x must be float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(!b.has_value() || b->device().is_cpu(), "bias_act (CPU): b must be on the CPU");
}

at::Tensor bias_act_cpu(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                        c10::string_view act, double alpha, double gain, double clamp) {
  const BiasActShape shape = check_bias_act(x, b, dim);
  check_cpu_inputs(x, b);
  const Activation activation = parse_activation(std::string(act));
  const at::Tensor xc = x.contiguous();
  const at::Tensor bc = b.has_value() ? b->contiguous() : at::Tensor();
  at::Tensor y = at::empty(x.sizes(), x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bias_act_cpu", [&] {
    const scalar_t* bias = bc.defined() ? bc.const_data_ptr<scalar_t>() : nullptr;
    dispatch_activation(activation, [&]<Activation A>() {
      forward_rows<scalar_t, A>(xc.const_data_ptr<scalar_t>(), bias, y.data_ptr<scalar_t>(), shape,
                                scalar_t(alpha), scalar_t(gain), clamp_limit<scalar_t>(clamp));
    });
  });
  return y;
}

at::Tensor bias_act_grad_cpu(const at::Tensor& grad_y, const at::Tensor& x,
                             const std::optional<at::Tensor>& b, int64_t dim, c10::string_view act,
                             double alpha, double gain, double clamp) {
  const BiasActShape shape = check_bias_act(x, b, dim);
  check_cpu_inputs(x, b);
  TORCH_CHECK(grad_y.sizes() == x.sizes() && grad_y.scalar_type() == x.scalar_type(),
              "bias_act_grad: grad_y must match x in shape and dtype");
  const Activation activation = parse_activation(std::string(act));
  const at::Tensor gc = grad_y.contiguous();
  const at::Tensor xc = x.contiguous();
  const at::Tensor bc = b.has_value() ? b->contiguous() : at::Tensor();
  at::Tensor grad_x = at::empty(x.sizes(), x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bias_act_grad_cpu", [&] {
    const scalar_t* bias = bc.defined() ? bc.const_data_ptr<scalar_t>() : nullptr;
    dispatch_activation(activation, [&]<Activation A>() {
      backward_rows<scalar_t, A>(gc.const_data_ptr<scalar_t>(), xc.const_data_ptr<scalar_t>(), bias,
                                 grad_x.data_ptr<scalar_t>(), shape, scalar_t(alpha),
                                 scalar_t(gain), clamp_limit<scalar_t>(clamp));
    });
  });
  return grad_x;
}

}  // namespace

TORCH_LIBRARY_IMPL(draggan_fast, CPU, m) {
  m.impl("bias_act", &bias_act_cpu);
  m.impl("bias_act_grad", &bias_act_grad_cpu);
}

}  // namespace draggan_fast
