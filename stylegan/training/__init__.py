"""Training the project's own StyleGAN2: losses, loop, checkpoints, reports and runs."""

from draggan_fast.stylegan.training.loop import TrainConfig, Trainer, build_networks
from draggan_fast.stylegan.training.run import RunOptions, train

__all__ = ["RunOptions", "TrainConfig", "Trainer", "build_networks", "train"]
