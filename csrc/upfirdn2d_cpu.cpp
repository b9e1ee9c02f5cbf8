// CPU kernel of upfirdn2d: a direct polyphase loop that touches only the input samples a tap
// meets (no zero-inserted or padded copy), parallel over output rows of all planes. The common
// case of the generator (up = down = 1 horizontally) runs as contiguous multiply-adds over a
// row, vectorised for AVX+FMA where the CPU has them.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "cpu_isa.h"
#include "upfirdn2d.h"

namespace draggan_fast {
namespace {

// Rounds towards +infinity for any sign of the numerator (denominator > 0).
inline int64_t ceil_div(int64_t num, int64_t den) {
  return num >= 0 ? (num + den - 1) / den : -((-num) / den);
}

struct Resampling {
  int64_t upx, upy, downx, downy, padx0, pady0;
};

// out[ox] += sum_j taps[j] * in[ox + j - pad0]: the dense (up = down = 1) row, always inlined
// with by-value arguments so that it vectorises for the caller's ISA (see cpu_isa.h).
template <typename T>
DF_ALWAYS_INLINE inline void correlate_row(T* __restrict out, const T* __restrict in,
                                           const T* __restrict taps, int64_t num_taps, int64_t in_w,
                                           int64_t out_w, int64_t pad0) {
  for (int64_t j = 0; j < num_taps; ++j) {
    const int64_t shift = j - pad0;  // in index = ox + shift
    const int64_t begin = std::max<int64_t>(0, -shift);
    const int64_t end = std::min<int64_t>(out_w, in_w - shift);
    const T tap = taps[j];
    for (int64_t ox = begin; ox < end; ++ox) out[ox] += tap * in[ox + shift];
  }
}

// out_row[ox] += sum_j taps[j] * x_up[ox * downx + j - padx0] for one input row, where x_up is
// the row with upx - 1 zeros inserted after each sample.
template <typename T>
void accumulate_row(T* __restrict out_row, const T* __restrict in_row, const T* taps,
                    const Upfirdn2dShape& shape, const Resampling& rs) {
  const int64_t in_w = shape.in_w, out_w = shape.out_w;
  if (rs.upx == 1 && rs.downx == 1) {
    cpu::run_best_isa([&]() DF_ALWAYS_INLINE {
      correlate_row(out_row, in_row, taps, shape.filter_w, in_w, out_w, rs.padx0);
    });
    return;
  }
  if (rs.upx == 1) {
    // Decimation only: out_row[ox] += tap * in_row[ox * downx + shift], strided loads.
    for (int64_t j = 0; j < shape.filter_w; ++j) {
      const int64_t shift = j - rs.padx0;
      const int64_t begin = std::max<int64_t>(0, ceil_div(-shift, rs.downx));
      const int64_t end = std::min<int64_t>(out_w, ceil_div(in_w - shift, rs.downx));
      const T tap = taps[j];
      for (int64_t ox = begin; ox < end; ++ox) out_row[ox] += tap * in_row[ox * rs.downx + shift];
    }
    return;
  }
  if (rs.downx == 1) {
    // Up-sampling only: each tap meets every upx-th output, out_row[pos - shift] for the
    // positions pos = in_index * upx of real (not inserted) samples.
    for (int64_t j = 0; j < shape.filter_w; ++j) {
      const int64_t shift = j - rs.padx0;
      const int64_t first = std::max<int64_t>(0, ceil_div(shift, rs.upx));  // in_row index
      const int64_t last = std::min<int64_t>(in_w, ceil_div(out_w + shift, rs.upx));
      const T tap = taps[j];
      for (int64_t in_x = first; in_x < last; ++in_x)
        out_row[in_x * rs.upx - shift] += tap * in_row[in_x];
    }
    return;
  }
  const int64_t up_w = in_w * rs.upx;
  for (int64_t j = 0; j < shape.filter_w; ++j) {
    const T tap = taps[j];
    for (int64_t ox = 0; ox < out_w; ++ox) {
      const int64_t pos = ox * rs.downx + j - rs.padx0;  // in the zero-inserted row
      if (pos >= 0 && pos < up_w && pos % rs.upx == 0) out_row[ox] += tap * in_row[pos / rs.upx];
    }
  }
}

template <typename T>
void upfirdn2d_planes(const T* x, const T* taps, T* y, const Upfirdn2dShape& shape,
                      const Resampling& rs) {
  const int64_t rows = shape.planes * shape.out_h;
  const int64_t work_per_row = std::max<int64_t>(1, shape.out_w * shape.filter_h * shape.filter_w);
  const int64_t grain = std::max<int64_t>(1, 262144 / work_per_row);
  const int64_t up_h = shape.in_h * rs.upy;
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t plane = row / shape.out_h, oy = row % shape.out_h;
      T* out_row = y + row * shape.out_w;
      std::fill(out_row, out_row + shape.out_w, T(0));
      const T* in_plane = x + plane * shape.in_h * shape.in_w;
      for (int64_t i = 0; i < shape.filter_h; ++i) {
        const int64_t pos = oy * rs.downy + i - rs.pady0;  // in the zero-inserted column
        if (pos < 0 || pos >= up_h || pos % rs.upy != 0) continue;
        const T* in_row = in_plane + (pos / rs.upy) * shape.in_w;
        accumulate_row(out_row, in_row, taps + i * shape.filter_w, shape, rs);
      }
    }
  });
}

at::Tensor upfirdn2d_cpu(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy,
                         int64_t downx, int64_t downy, int64_t padx0, int64_t padx1, int64_t pady0,
                         int64_t pady1, bool flip_filter, double gain) {
  const Upfirdn2dShape shape =
      check_upfirdn2d(x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1);
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "upfirdn2d (CPU): x must be float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(f.device().is_cpu(), "upfirdn2d (CPU): f must be on the CPU");
  const at::Tensor xc = x.contiguous();
  const at::Tensor taps = upfirdn2d_taps(f, x, flip_filter, gain);
  at::Tensor y = at::empty({x.size(0), x.size(1), shape.out_h, shape.out_w}, x.options());
  const Resampling rs{upx, upy, downx, downy, padx0, pady0};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "upfirdn2d_cpu", [&] {
    upfirdn2d_planes<scalar_t>(xc.const_data_ptr<scalar_t>(), taps.const_data_ptr<scalar_t>(),
                               y.data_ptr<scalar_t>(), shape, rs);
  });
  return y;
}

}  // namespace

TORCH_LIBRARY_IMPL(draggan_fast, CPU, m) { m.impl("upfirdn2d", &upfirdn2d_cpu); }

}  // namespace draggan_fast
