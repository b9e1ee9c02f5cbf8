"""draggan-fast: a fast, safe, headless engine for DragGAN on StyleGAN2 generators.

Public API: `load_generator`, `z_from_seed`, `DragSession`, `StepResult`, `CheckpointError`,
`step_together`, `SessionBatch` (several sessions stepped in one batch),
`default_model_path` (the bundled generator, the CLI's default --model),
`invert`, `Inversion` (a photo projected into a generator, ready to drag).
Everything else is internal and may move. Names resolve lazily, so `import draggan_fast` is cheap.
"""

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "load_generator": "draggan_fast.stylegan.loading",
    "CheckpointError": "draggan_fast.stylegan.errors",
    "z_from_seed": "draggan_fast.stylegan.seeds",
    "DragSession": "draggan_fast.session.drag_session",
    "step_together": "draggan_fast.session.batch",
    "SessionBatch": "draggan_fast.session.batch",
    "StepResult": "draggan_fast.step.result",
    "default_model_path": "draggan_fast.assets_registry",
    "invert": "draggan_fast.inversion",
    "Inversion": "draggan_fast.inversion",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'draggan_fast' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted(__all__)
