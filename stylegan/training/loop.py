"""The StyleGAN2 training loop: G and D with Adam, lazy R1, EMA generator, resumable.

One iteration = a G step (non-saturating loss), a D step (logistic loss) and, every
`r1_interval` iterations, a lazy R1 step on D. Randomness is a function of (seed, iteration):
each iteration reseeds torch's generators, and the real batch is the next B faces of the
procedural dataset (face index = images shown so far), so a resumed run continues exactly where
the checkpoint left it.
On CUDA the top `num_fp16_res` resolutions of G and D compute in float16 (with conv_clamp 256),
as in the official StyleGAN2-ADA training.
"""

import copy
import dataclasses

import torch

from draggan_fast.stylegan.dataset.pool import FaceBatches
from draggan_fast.stylegan.discriminator import Discriminator
from draggan_fast.stylegan.networks import Generator
from draggan_fast.stylegan.training import losses
from draggan_fast.stylegan.training.checkpoint import (
    load_network_state,
    load_optimizer_state,
    read_checkpoint,
    save_checkpoint,
)
from draggan_fast.stylegan.training.config import TrainConfig


def generator_kwargs(config: TrainConfig) -> dict:
    """The constructor kwargs of the run's G (as its `init_kwargs`), float16 blocks aside."""
    return {
        "z_dim": config.z_dim, "c_dim": 0, "w_dim": config.w_dim,
        "img_resolution": config.resolution, "img_channels": 3,
        "mapping_kwargs": {"num_layers": config.mapping_layers},
        "channel_base": config.channel_base, "channel_max": config.channel_max,
        "conv_clamp": 256,
    }  # fmt: skip


def build_networks(config: TrainConfig, device):
    """(G, D, G_ema) on `device`, freshly initialised from the config's seed."""
    torch.manual_seed(config.seed)
    num_fp16_res = config.num_fp16_res if torch.device(device).type == "cuda" else 0
    G = Generator(**generator_kwargs(config), num_fp16_res=num_fp16_res)
    D = Discriminator(
        img_resolution=config.resolution, img_channels=3, channel_base=config.channel_base,
        channel_max=config.channel_max, num_fp16_res=num_fp16_res, conv_clamp=256,
        mbstd_group_size=config.mbstd_group,
    )  # fmt: skip
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    return G.to(device), D.to(device), G_ema.to(device)


RESUMABLE_OVERRIDES = {
    "batch_size", "g_lr", "d_lr", "r1_gamma", "r1_interval", "ema_kimg", "ema_rampup",
    "style_mixing", "num_fp16_res", "g_frozen_kimg",
}  # fmt: skip


def _adam(module, lr, reg_interval):
    """Adam with the lazy-regularisation correction of lr and betas (official StyleGAN2)."""
    ratio = reg_interval / (reg_interval + 1) if reg_interval else 1.0
    return torch.optim.Adam(module.parameters(), lr=lr * ratio, betas=(0.0, 0.99**ratio), eps=1e-8)


def _optimize(optimizer, module, loss):
    """One update of `module` from `loss`, with non-finite gradients replaced (as officially)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    for param in module.parameters():
        if param.grad is not None:
            torch.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
    optimizer.step()


class Trainer:
    """Holds G, D, G_ema, the optimisers and the counters; `step()` runs one iteration."""

    def __init__(self, config: TrainConfig, device="cpu", data_pool=0, data_processes=None):
        config.validate()
        self.config = config
        self.device = torch.device(device)
        self.G, self.D, self.G_ema = build_networks(config, self.device)
        self.G_opt = _adam(self.G, config.g_lr, 0)
        self.D_opt = _adam(self.D, config.d_lr, config.r1_interval)
        # real faces: rendered on the fly, or (data_pool N > 0) from a pool rendered now
        self.faces = FaceBatches(
            config.resolution, config.data_seed, self.device, data_pool, data_processes
        )
        self.dataset = self.faces.dataset
        self.data_pool = data_pool
        # One grouped conv per layer is faster on the CPU; on CUDA a shared conv with scaled
        # activations is (the official training's choice too).
        self.fused_modconv = self.device.type != "cuda"
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.iteration = 0
        self.nimg = 0  # images shown to D so far (= index of the next real face)
        self.train_seconds = 0.0
        # {"generator": file, "kimg": its training} when G started as an earlier run's export
        self.started_from = None

    def _real_batch(self):
        """Faces nimg, nimg + 1, ... as [B, 3, R, R] in [-1, 1] on the device."""
        return self.faces.batch(self.nimg, self.config.batch_size)[0]

    def _generate(self, z, update_emas):
        """G(z) with style mixing: past a random cutoff the ws come from a second z."""
        ws = self.G.mapping(z, update_emas=update_emas)  # [N, num_ws, w_dim]
        if self.config.style_mixing > 0 and torch.rand([]).item() < self.config.style_mixing:
            cutoff = int(torch.randint(1, ws.shape[1], []).item())
            mixed = self.G.mapping(torch.randn_like(z), update_emas=False)
            ws = torch.cat([ws[:, :cutoff], mixed[:, cutoff:]], dim=1)
        return self.G.synthesis(ws, noise_mode="random", fused_modconv=self.fused_modconv)

    def _latents(self):
        return torch.randn([self.config.batch_size, self.config.z_dim], device=self.device)

    def step(self):
        """One iteration; returns a dict of float losses."""
        config = self.config
        torch.manual_seed(config.seed * 1_000_003 + self.iteration + 1)
        reals = self._real_batch()
        stats = {}

        if self.nimg >= config.g_frozen_kimg * 1000:
            self.G.requires_grad_(True)
            self.D.requires_grad_(False)
            loss_G = losses.generator_loss(self.D(self._generate(self._latents(), False)))
            _optimize(self.G_opt, self.G, loss_G)
            stats["loss_G"] = loss_G.detach()

        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        with torch.no_grad():
            fakes = self._generate(self._latents(), True)
        loss_D = losses.discriminator_loss(self.D(reals), self.D(fakes))
        _optimize(self.D_opt, self.D, loss_D)
        stats["loss_D"] = loss_D.detach()

        if config.r1_gamma > 0 and self.iteration % config.r1_interval == 0:
            loss_r1, penalty = losses.lazy_r1_loss(
                self.D, reals, config.r1_gamma, config.r1_interval
            )
            _optimize(self.D_opt, self.D, loss_r1)
            stats["r1"] = penalty.detach()
        self.D.requires_grad_(False)

        self.iteration += 1
        self.nimg += config.batch_size
        self._update_ema()
        return {name: float(value) for name, value in stats.items()}

    @torch.no_grad()
    def _update_ema(self):
        config = self.config
        ema_nimg = config.ema_kimg * 1000
        if config.ema_rampup:
            ema_nimg = min(ema_nimg, self.nimg * config.ema_rampup)
        beta = 0.5 ** (config.batch_size / max(ema_nimg, 1e-8))
        torch._foreach_lerp_(list(self.G_ema.parameters()), list(self.G.parameters()), 1 - beta)
        for ema_buffer, buffer in zip(self.G_ema.buffers(), self.G.buffers()):
            ema_buffer.copy_(buffer)

    def save(self, path_stem):
        meta = {
            "config": dataclasses.asdict(self.config),
            "G_kwargs": self.G.init_kwargs,
            "D_kwargs": self.D.init_kwargs,
            "iteration": self.iteration,
            "nimg": self.nimg,
            "kimg": self.nimg / 1000,
            "train_seconds": self.train_seconds,
            "started_from": self.started_from,
            "device": _device_name(self.device),
            "data_pool": self.data_pool,
        }
        networks = {"G": self.G, "D": self.D, "G_ema": self.G_ema}
        save_checkpoint(path_stem, networks, {"G_opt": self.G_opt, "D_opt": self.D_opt}, meta)

    @classmethod
    def resume(cls, path, device="cpu", data_pool=0, data_processes=None, overrides=None):
        """A trainer in the exact state of the checkpoint at `path`.

        `overrides` (config field -> value) may change the hyper-parameters in
        RESUMABLE_OVERRIDES (none changes a tensor's shape); any other field must equal the
        checkpoint's.
        """
        tensors, meta = read_checkpoint(path)
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        config = TrainConfig(**{k: v for k, v in meta["config"].items() if k in fields})
        for name, value in (overrides or {}).items():
            if name in RESUMABLE_OVERRIDES:
                setattr(config, name, value)
            elif getattr(config, name) != value:
                raise ValueError(
                    f"{name}={value} differs from the checkpoint's {getattr(config, name)}: "
                    "only these can change when resuming: " + ", ".join(sorted(RESUMABLE_OVERRIDES))
                )
        trainer = cls(config, device, data_pool, data_processes)
        for name, module in (("G", trainer.G), ("D", trainer.D), ("G_ema", trainer.G_ema)):
            load_network_state(module, tensors, name)
        for optimizer, name in ((trainer.G_opt, "G_opt"), (trainer.D_opt, "D_opt")):
            current = [(group["lr"], group["betas"]) for group in optimizer.param_groups]
            load_optimizer_state(optimizer, tensors, meta, name)
            for group, (lr, betas) in zip(optimizer.param_groups, current):
                group["lr"], group["betas"] = lr, betas  # this run's (maybe overridden) values
        trainer.iteration = int(meta["iteration"])
        trainer.nimg = int(meta["nimg"])
        trainer.train_seconds = float(meta.get("train_seconds", 0.0))
        trainer.started_from = meta.get("started_from")
        return trainer

    @classmethod
    def from_generator(cls, generator, config, device="cpu", data_pool=0, data_processes=None,
                       start_kimg=0.0, source=None):  # fmt: skip
        """A trainer whose G and G_ema start as `generator` (e.g. an exported G_ema whose full
        training checkpoint is gone) and whose D and optimisers start fresh.

        `config`'s architecture must be the generator's (`generator_kwargs`), else ValueError.
        `start_kimg` continues the counters (and the face index) where the generator's training
        stopped; a `config.g_frozen_kimg` past `start_kimg` warms the new D up before G moves.
        `source` (the generator's file name) is recorded with it in checkpoints (`started_from`).
        """
        if type(generator) is not Generator or generator.init_kwargs.get("c_dim", 0) != 0:
            raise ValueError("training starts only from an unconditional StyleGAN2 generator")
        ours = generator_kwargs(config)
        theirs = {k: v for k, v in generator.init_kwargs.items() if k != "num_fp16_res"}
        differing = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        if differing:  # checked before the networks are built and the data pool rendered
            raise ValueError(f"the generator differs from this run's G in {', '.join(differing)}")
        trainer = cls(config, device, data_pool, data_processes)
        state = {k: v.detach().float() for k, v in generator.state_dict().items()}
        for module in (trainer.G, trainer.G_ema):
            module.load_state_dict(state, strict=True)
        trainer.nimg = round(start_kimg * 1000)
        trainer.started_from = {"generator": source, "kimg": start_kimg}
        return trainer


def architecture_of(generator) -> dict:
    """The TrainConfig architecture fields that a generator's constructor kwargs pin down."""
    kwargs = generator.init_kwargs
    return {
        "resolution": kwargs["img_resolution"], "z_dim": kwargs["z_dim"],
        "w_dim": kwargs["w_dim"], "mapping_layers": kwargs["mapping_kwargs"].get("num_layers"),
        "channel_base": kwargs.get("channel_base"), "channel_max": kwargs.get("channel_max"),
    }  # fmt: skip


def _device_name(device):
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({torch.get_num_threads()} threads)"
