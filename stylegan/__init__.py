"""StyleGAN2 generator, reference ops and checkpoint loading (as draggan_fast.stylegan).

`Generator`, `MappingNetwork` and `SynthesisNetwork` load `networks` (and torch) on first use, so
that light submodules (e.g. `training.config`) import without it.
"""

import importlib

__all__ = ["Generator", "MappingNetwork", "SynthesisNetwork"]


def __getattr__(name):
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.networks"), name)
