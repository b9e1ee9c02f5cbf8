// Compile a hot loop twice, for AVX+FMA and for the baseline x86-64 ISA, and pick at run time.
// No -march flag is needed at build time, so one binary runs on any x86-64 CPU and still uses
// 8-wide float vectors where the CPU has them. The loop body is a lambda marked DF_ALWAYS_INLINE:
// it is inlined into (and so compiled with the ISA of) each of the two callers below.
#pragma once

#define DF_ALWAYS_INLINE __attribute__((always_inline))

namespace draggan_fast::cpu {

#if defined(__x86_64__) && defined(__GNUC__)

inline bool has_avx_fma() {
  static const bool supported = __builtin_cpu_supports("avx") && __builtin_cpu_supports("fma");
  return supported;
}

template <typename Body>
__attribute__((target("avx,fma"))) void run_avx_fma(const Body& body) {
  body();
}

template <typename Body>
void run_baseline(const Body& body) {
  body();
}

template <typename Body>
void run_best_isa(const Body& body) {
  if (has_avx_fma()) {
    run_avx_fma(body);
  } else {
    run_baseline(body);
  }
}

#else

template <typename Body>
void run_best_isa(const Body& body) {
  body();
}

#endif

}  // namespace draggan_fast::cpu
