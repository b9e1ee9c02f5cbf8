"""Generator ops used by the networks, one file per op (bias_act.py, upfirdn2d.py,
conv2d_resample.py, modulated_conv2d.py, filtered_lrelu.py): each public function runs the
compiled op (`draggan_fast._C`, csrc/) where `draggan_fast.dispatch` chose it for the device and
the kernel takes the inputs, else the plain-PyTorch reference beside it (`<op>_reference`).
`describe_dispatch(device)` says which and why; `DRAGGAN_FAST_OPS=reference` opts out of every
compiled op (the grammar: draggan_fast/dispatch.py).

The package's names are the ops' functions, so `ops.bias_act` is the function, not the module of
that name: import a file's other names from it (`from draggan_fast.stylegan.ops.bias_act import
bias_act_reference`), or reach the module with importlib.import_module.
"""

import torch

from draggan_fast import dispatch
from draggan_fast.stylegan.ops.bias_act import activation_defaults, bias_act
from draggan_fast.stylegan.ops.conv2d_resample import conv2d_resample, upsample2d
from draggan_fast.stylegan.ops.filtered_lrelu import filtered_lrelu
from draggan_fast.stylegan.ops.modulated_conv2d import (
    modulated_conv2d,
    modulated_conv2d_bias_act,
)
from draggan_fast.stylegan.ops.upfirdn2d import setup_filter, upfirdn2d

FAMILY = "generator"


def describe_dispatch(device: torch.device | str) -> list[dict]:
    """[{op, family, implementation, reason}] for each generator op on `device`.

    The compositions (upsample2d, conv2d_resample) run through upfirdn2d's choice; where
    modulated_conv2d runs its reference, that resamples through upfirdn2d's choice too.
    """
    rows = dispatch.describe(device, family=FAMILY)
    resample = dispatch.choose("upfirdn2d", device)[0]
    for row in rows:
        if row["op"] == "modulated_conv2d" and row["implementation"] == "reference":
            row["reason"] += f"; its resampling uses the {resample} upfirdn2d"
    for op in ("upsample2d", "conv2d_resample"):
        rows.append(
            {
                "op": op,
                "family": FAMILY,
                "implementation": resample,
                "reason": f"runs through the {resample} upfirdn2d",
            }
        )
    return rows


__all__ = [
    "activation_defaults",
    "bias_act",
    "conv2d_resample",
    "describe_dispatch",
    "filtered_lrelu",
    "modulated_conv2d",
    "modulated_conv2d_bias_act",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
]
