"""Training the project's own StyleGAN2: losses, loop, checkpoints, reports and runs.

The names below load their modules (and torch) on first use, so that reading `config` alone
stays light.
"""

import importlib

_HOMES = {
    "TrainConfig": "config",
    "Trainer": "loop",
    "build_networks": "loop",
    "RunOptions": "run",
    "train": "run",
}
__all__ = sorted(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
