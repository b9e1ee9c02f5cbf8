// Activation functions of bias_act, shared by the CPU and CUDA kernels so both compute the
// same formulas in the same order as the reference (bias_act_reference, stylegan/ops/bias_act.py).
#pragma once

#include <c10/util/Exception.h>

#include <cmath>
#include <limits>
#include <string>

#ifdef __CUDACC__
#define DF_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define DF_HOST_DEVICE inline
#endif

namespace draggan_fast {

enum class Activation : int { kLinear, kRelu, kLrelu, kTanh, kSigmoid };

inline Activation parse_activation(const std::string& name) {
  if (name == "linear") return Activation::kLinear;
  if (name == "relu") return Activation::kRelu;
  if (name == "lrelu") return Activation::kLrelu;
  if (name == "tanh") return Activation::kTanh;
  if (name == "sigmoid") return Activation::kSigmoid;
  TORCH_CHECK(false, "bias_act: unknown activation '", name,
              "'; expected linear, relu, lrelu, tanh or sigmoid");
}

// act(pre) for a pre-activation value `pre` (= x + b).
template <Activation A, typename T>
DF_HOST_DEVICE T activate(T pre, T alpha) {
  if constexpr (A == Activation::kLinear) return pre;
  if constexpr (A == Activation::kRelu) return pre > T(0) ? pre : T(0);
  if constexpr (A == Activation::kLrelu) return pre > T(0) ? pre : pre * alpha;
  if constexpr (A == Activation::kTanh) return std::tanh(pre);
  if constexpr (A == Activation::kSigmoid) return T(1) / (T(1) + std::exp(-pre));
}

// Whether the clamp to [-limit, limit] passes the gradient at `out` = act(pre) * gain: strictly
// inside only, as the official bias_act decides from its output (|yref| < clamp), so exactly at
// the edge gets none; with no clamp (limit = +inf) everywhere, overflowed values included.
template <typename T>
DF_HOST_DEVICE bool clamp_passes(T out, T limit) {
  return (out > -limit && out < limit) || limit == std::numeric_limits<T>::infinity();
}

// d act / d pre, multiplied into `grad`, given `pre` and `activated` = act(pre) (before gain).
template <Activation A, typename T>
DF_HOST_DEVICE T activation_backward(T grad, T pre, T activated, T alpha) {
  if constexpr (A == Activation::kLinear) return grad;
  if constexpr (A == Activation::kRelu) return activated > T(0) ? grad : T(0);
  if constexpr (A == Activation::kLrelu) return pre > T(0) ? grad : grad * alpha;
  if constexpr (A == Activation::kTanh) return grad * (T(1) - activated * activated);
  if constexpr (A == Activation::kSigmoid) return grad * ((T(1) - activated) * activated);
}

// Calls body.template operator()<A>() with the activation as a compile-time constant.
template <typename Body>
void dispatch_activation(Activation act, const Body& body) {
  switch (act) {
    case Activation::kLinear:
      return body.template operator()<Activation::kLinear>();
    case Activation::kRelu:
      return body.template operator()<Activation::kRelu>();
    case Activation::kLrelu:
      return body.template operator()<Activation::kLrelu>();
    case Activation::kTanh:
      return body.template operator()<Activation::kTanh>();
    case Activation::kSigmoid:
      return body.template operator()<Activation::kSigmoid>();
  }
}

}  // namespace draggan_fast
