// What nvcc compiled the CUDA kernels with, for `draggan-fast info`.
#include <string>

#define DF_STRINGIFY_VALUE(...) #__VA_ARGS__
#define DF_STRINGIFY(...) DF_STRINGIFY_VALUE(__VA_ARGS__)

namespace draggan_fast {

std::string nvcc_version() {
  return std::to_string(__CUDACC_VER_MAJOR__) + "." + std::to_string(__CUDACC_VER_MINOR__);
}

// The SM archs nvcc generated code for (e.g. "800,900"), from nvcc's __CUDA_ARCH_LIST__.
std::string compiled_cuda_archs() {
#ifdef __CUDA_ARCH_LIST__
  return DF_STRINGIFY(__CUDA_ARCH_LIST__);
#else
  return "unknown";
#endif
}

}  // namespace draggan_fast
