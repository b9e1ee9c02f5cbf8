// Shape checks shared by the CPU and CUDA bias_act kernels: x is viewed as [outer, C, inner]
// with the C bias channels at `dim`.
#pragma once

#include <ATen/ATen.h>

#include <limits>

namespace draggan_fast {

struct BiasActShape {
  int64_t outer;     // product of the sizes before dim
  int64_t channels;  // x.size(dim)
  int64_t inner;     // product of the sizes after dim
};

inline BiasActShape check_bias_act(const at::Tensor& x, const std::optional<at::Tensor>& b,
                                   int64_t dim) {
  TORCH_CHECK(x.dim() >= 1, "bias_act: x must have at least one dimension");
  TORCH_CHECK(dim >= -x.dim() && dim < x.dim(), "bias_act: dim ", dim, " is out of range for x of ",
              x.dim(), " dimensions");
  const int64_t axis = dim < 0 ? dim + x.dim() : dim;
  BiasActShape shape{1, x.size(axis), 1};
  for (int64_t i = 0; i < axis; ++i) shape.outer *= x.size(i);
  for (int64_t i = axis + 1; i < x.dim(); ++i) shape.inner *= x.size(i);
  if (b.has_value()) {
    TORCH_CHECK(b->dim() == 1 && b->size(0) == shape.channels, "bias_act: b must be [",
                shape.channels, "] (x.shape[dim]), got ", b->sizes());
    TORCH_CHECK(b->scalar_type() == x.scalar_type(), "bias_act: b has dtype ", b->scalar_type(),
                " but x has ", x.scalar_type());
    TORCH_CHECK(b->device() == x.device(), "bias_act: b is on ", b->device(), " but x is on ",
                x.device());
  }
  return shape;
}

// A negative clamp means no clamping; +inf clamps nothing and keeps the loops branch-free.
template <typename T>
T clamp_limit(double clamp) {
  return clamp < 0 ? std::numeric_limits<T>::infinity() : static_cast<T>(clamp);
}

}  // namespace draggan_fast
