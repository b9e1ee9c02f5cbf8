"""The training run's hyper-parameters, importable without torch (`train --help` shows them)."""

import dataclasses


@dataclasses.dataclass
class TrainConfig:
    resolution: int = 64
    z_dim: int = 128
    w_dim: int = 128
    mapping_layers: int = 4
    channel_base: int = 16384
    channel_max: int = 64
    batch_size: int = 32
    g_lr: float = 0.0025
    d_lr: float = 0.0025
    r1_gamma: float = 0.05
    r1_interval: int = 16
    ema_kimg: float = 10.0
    ema_rampup: float = 0.05
    style_mixing: float = 0.9
    mbstd_group: int = 4
    num_fp16_res: int = 0  # used on CUDA only
    g_frozen_kimg: float = 0.0  # G is not updated before this kimg (D warm-up after a restart)
    seed: int = 0
    data_seed: int = 0

    def validate(self):
        if self.resolution not in (16, 32, 64, 128, 256):
            raise ValueError(
                f"resolution must be one of 16, 32, 64, 128, 256, got {self.resolution}"
            )
        if self.batch_size < 1 or self.batch_size % min(self.mbstd_group, self.batch_size):
            raise ValueError(
                f"batch size {self.batch_size} must be a multiple of the mbstd group "
                f"{self.mbstd_group}"
            )
        if self.g_frozen_kimg < 0:
            raise ValueError(f"g_frozen_kimg must be >= 0, got {self.g_frozen_kimg}")
        for name in ("g_lr", "d_lr", "ema_kimg"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.r1_gamma < 0 or self.r1_interval < 1:
            raise ValueError("r1_gamma must be >= 0 and r1_interval >= 1")
        if not 0 <= self.style_mixing <= 1:
            raise ValueError(f"style_mixing must be in [0, 1], got {self.style_mixing}")
