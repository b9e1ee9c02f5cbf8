"""Compile every Triton kernel variant of the drag ops for a Hopper GPU (sm_90), without one.

Run in a process without TRITON_INTERPRET (test_triton_compile.py does): the interpreter accepts
code that the GPU compiler rejects, so this is the CI check of the CUDA path's code generation.
Prints one line per compiled variant.
"""

import inspect
import os

FLOAT_POINTERS = ("*fp32", "*fp16", "*bf16")


def _compile(kernel, types, constants, target):
    import triton
    from triton.compiler import ASTSource

    names = list(inspect.signature(kernel.fn).parameters)
    signature = {name: "constexpr" if name in constants else types[name] for name in names}
    positions = {(names.index(name),): value for name, value in constants.items()}
    compiled = triton.compile(
        ASTSource(fn=kernel, signature=signature, constexprs=positions), target=target
    )
    assert "cubin" in compiled.asm
    print(kernel.fn.__name__, types.get("features_ptr"), constants, "ok")


def main():
    assert os.environ.get("TRITON_INTERPRET") != "1", "compile in a process without the interpreter"
    from triton.backends.compiler import GPUTarget

    from draggan_fast.kernels import mask_triton, motion_triton, tracking_triton

    target = GPUTarget("cuda", 90, 32)
    shapes = dict.fromkeys(
        ["channels", "native_height", "native_width", "image_height", "image_width"], "i32"
    )
    scales = {"scale_y": "fp32", "scale_x": "fp32"}
    for features in FLOAT_POINTERS:
        motion = {
            "features_ptr": features, "rows_ptr": "*i32", "cols_ptr": "*i32",
            "sample_rows_ptr": "*fp32", "sample_cols_ptr": "*fp32", "pixel_weight_ptr": "*fp32",
            "grad_sums_ptr": "*fp32", "partial_ptr": "*fp32", "grad_ptr": "*fp32",
            "num_pixels": "i32", "num_blocks": "i32", **shapes, **scales,
        }  # fmt: skip
        mask = {
            "features_ptr": features, "reference_ptr": features, "movable_ptr": "*fp32",
            "partial_ptr": "*fp32", "grad_ptr": "*fp32", "grad_sum_ptr": "*fp32",
            **shapes, **scales,
        }  # fmt: skip
        tracking = {
            "features_ptr": features, "refs_ptr": "*fp32", "centers_ptr": "*i32",
            "found_ptr": "*fp32", "radius": "i32", "window_pixels": "i32", **shapes, **scales,
        }  # fmt: skip
        for backward in (False, True):
            blocks = {"BLOCK_C": motion_triton._BLOCK_C, "BLOCK_P": motion_triton._BLOCK_P}
            _compile(motion_triton._motion_kernel, motion, {"BACKWARD": backward, **blocks}, target)
            blocks = {"BLOCK_C": mask_triton._BLOCK_C, "BLOCK_P": mask_triton._BLOCK_P}
            _compile(mask_triton._mask_kernel, mask, {"BACKWARD": backward, **blocks}, target)
        for use_l1 in (False, True):
            blocks = {"BLOCK_C": tracking_triton._BLOCK_C, "BLOCK_P": tracking_triton._BLOCK_P}
            _compile(
                tracking_triton._tracking_kernel, tracking, {"USE_L1": use_l1, **blocks}, target
            )


if __name__ == "__main__":
    main()
