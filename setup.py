"""Build script: packages plus the optional compiled extension `draggan_fast._C`.

`kernels/` and `stylegan/` install as `draggan_fast.kernels` and `draggan_fast.stylegan` (a
top-level `kernels` would shadow the PyPI package of that name).

Environment switches, read at build time only (nothing is ever compiled in a user's process):
  DRAGGAN_FAST_NO_EXT=1     install with no compiled part at all (the reference ops are used)
  DRAGGAN_FAST_CUDA=0|1     force the CUDA part off or on (default: on when a toolkit is found)
  TORCH_CUDA_ARCH_LIST      CUDA archs (default: the local GPU's arch, else 8.0 and 9.0)
"""

import glob
import os

from setuptools import find_packages, setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def _packages():
    packages = ["draggan_fast", *(f"draggan_fast.{p}" for p in find_packages("draggan_fast"))]
    package_dir = {"draggan_fast": "draggan_fast"}
    for folder in ("stylegan", "kernels"):
        name = f"draggan_fast.{folder}"
        packages.append(name)
        packages += [f"{name}.{p}" for p in find_packages(folder)]
        package_dir[name] = folder
    return packages, package_dir


def _cuda_home():
    """The toolkit root whose include/ holds cuda_runtime.h (not the prefix of an nvcc wrapper)."""
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    for path in candidates:
        if path and os.path.exists(os.path.join(path, "include", "cuda_runtime.h")):
            return path
    return None


def _extensions():
    if os.environ.get("DRAGGAN_FAST_NO_EXT", "0") == "1":
        return [], {}
    cpu_sources = sorted(glob.glob(os.path.join("csrc", "*.cpp")))
    if not cpu_sources:
        return [], {}
    cuda_home = _cuda_home()
    if cuda_home:
        os.environ["CUDA_HOME"] = cuda_home
    from torch.utils import cpp_extension  # build-time only

    force = os.environ.get("DRAGGAN_FAST_CUDA")
    with_cuda = cuda_home is not None if force is None else force == "1"
    if with_cuda and cuda_home is None:
        raise RuntimeError("DRAGGAN_FAST_CUDA=1 but no CUDA toolkit (include/cuda_runtime.h) found")
    cxx_flags = ["-O3", "-std=c++17"]
    define_macros = [("TORCH_EXTENSION_NAME", "_C")]
    sources = list(cpu_sources)
    include_dirs = [os.path.join(ROOT, "csrc")]
    if with_cuda:
        if not os.environ.get("TORCH_CUDA_ARCH_LIST"):
            os.environ["TORCH_CUDA_ARCH_LIST"] = _default_arch_list()
        sources += sorted(glob.glob(os.path.join("csrc", "cuda", "*.cu")))
        sources += sorted(glob.glob(os.path.join("csrc", "cuda", "*.cpp")))
        define_macros.append(("DRAGGAN_FAST_WITH_CUDA", "1"))
        include_dirs += _extra_cuda_includes()
        ext = cpp_extension.CUDAExtension(
            "draggan_fast._C",
            sources,
            include_dirs=include_dirs,
            define_macros=define_macros,
            extra_compile_args={"cxx": cxx_flags, "nvcc": ["-O3", "--use_fast_math", "-std=c++17"]},
        )
    else:
        ext = cpp_extension.CppExtension(
            "draggan_fast._C",
            sources,
            include_dirs=include_dirs,
            define_macros=define_macros,
            extra_compile_args={"cxx": cxx_flags},
        )
    cmdclass = {"build_ext": cpp_extension.BuildExtension.with_options(use_ninja=True)}
    return [ext], cmdclass


def _default_arch_list():
    try:
        import torch

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability()
            return f"{major}.{minor}"
    except Exception:
        pass
    return "8.0;9.0"


def _extra_cuda_includes():
    """Headers such as cusparse.h that pip's nvidia wheels ship outside the toolkit root."""
    try:
        import nvidia

        return sorted(
            {os.path.join(p, "cu13", "include") for p in nvidia.__path__}
            | {os.path.join(p, "cu12", "include") for p in nvidia.__path__}
        )
    except ImportError:
        return []


packages, package_dir = _packages()
ext_modules, cmdclass = _extensions()
setup(
    packages=packages,
    package_dir=package_dir,
    package_data={"draggan_fast": ["viewer/static/*", "assets/*"]},
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
