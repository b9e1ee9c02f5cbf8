// The draggan_fast operator library: every schema lives here, implementations register per
// device in their own files (<op>_cpu.cpp, cuda/<op>.cu: TORCH_LIBRARY_IMPL), fake kernels and
// autograd are attached from the op's Python file (stylegan/ops/<op>.py), which each schema names
// with set_python_module: torch checks that a fake kernel comes from the module its op names.
//
// Ops (x: [N, C, H, W] unless said otherwise):
//   bias_act(x, b, dim, act, alpha, gain, clamp) -> act(x + b) * gain, clamped to [-clamp, clamp]
//   bias_act_grad(grad_y, x, b, ...)              -> d(loss)/d(x + b) of bias_act
//   upfirdn2d(x, f, up, down, pad, flip, gain)     -> zero-insert up, pad, FIR filter, decimate
//   modulated_conv2d(x, weight, styles, noise, bias, ...) -> StyleGAN2 modulated conv (CUDA)
#include <torch/extension.h>

#include "build_info.h"

TORCH_LIBRARY(draggan_fast, m) {
  m.set_python_module("draggan_fast.stylegan.ops.bias_act");
  m.def(
      "bias_act(Tensor x, Tensor? b, int dim, str act, float alpha, float gain, float clamp)"
      " -> Tensor");
  m.def(
      "bias_act_grad(Tensor grad_y, Tensor x, Tensor? b, int dim, str act, float alpha,"
      " float gain, float clamp) -> Tensor");
  m.set_python_module("draggan_fast.stylegan.ops.upfirdn2d");
  m.def(
      "upfirdn2d(Tensor x, Tensor f, int upx, int upy, int downx, int downy, int padx0,"
      " int padx1, int pady0, int pady1, bool flip_filter, float gain) -> Tensor");
  // up: 1 or 2; padding: symmetric conv padding; demodulate: divide by the modulated weight norm;
  // noise: broadcastable to the output or None; bias/act/gain/clamp: the fused bias_act epilogue.
  m.set_python_module("draggan_fast.stylegan.ops.modulated_conv2d");
  m.def(
      "modulated_conv2d(Tensor x, Tensor weight, Tensor styles, Tensor? noise, Tensor? bias,"
      " Tensor? resample_filter, int up, int padding, bool demodulate, bool flip_weight,"
      " str act, float alpha, float gain, float clamp) -> Tensor");
}

#ifdef DRAGGAN_FAST_WITH_CUDA
namespace draggan_fast {
std::string nvcc_version();         // cuda/cuda_info.cu
std::string compiled_cuda_archs();  // cuda/cuda_info.cu
}  // namespace draggan_fast
#endif

namespace {

// What this binary was built with: torch/CUDA versions, CUDA archs, devices with kernels.
py::dict build_info() {
  py::dict info;
  info["torch_version"] = DRAGGAN_FAST_BUILD_TORCH_VERSION;
  info["cuda_version"] = DRAGGAN_FAST_BUILD_CUDA_VERSION;
  info["cuda_archs"] = DRAGGAN_FAST_BUILD_CUDA_ARCHS;
  info["compiler"] = DRAGGAN_FAST_BUILD_COMPILER;
#ifdef DRAGGAN_FAST_WITH_CUDA
  info["with_cuda"] = true;
  info["nvcc_version"] = draggan_fast::nvcc_version();
  info["nvcc_archs"] = draggan_fast::compiled_cuda_archs();
#else
  info["with_cuda"] = false;
#endif
  return info;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "draggan_fast compiled generator ops (registered as torch.ops.draggan_fast.*)";
  m.def("build_info", &build_info, "Versions, archs and devices this extension was built for");
}
