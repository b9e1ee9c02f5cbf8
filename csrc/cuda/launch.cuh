// Launch geometry shared by the elementwise-style CUDA kernels (grid-stride loops).
#pragma once

#include <algorithm>
#include <cstdint>

namespace draggan_fast {

constexpr int kThreads = 256;

inline int grid_size(int64_t work_items) {
  const int64_t blocks = (work_items + kThreads - 1) / kThreads;
  return static_cast<int>(std::min<int64_t>(std::max<int64_t>(blocks, 1), 65535 * 8));
}

}  // namespace draggan_fast
