"""Checkpoints in the official persistence-pickle layout, built by the tests without official code.

The official `torch_utils.persistence` decorator pickles each network as
`_reconstruct_persistent_obj(meta)`, meta = dict(type='class', version=6, module_src=<source>,
class_name=..., state=<the module's __dict__>). `PersistentRecord` pickles the same way. The
module names the official pickles refer to (`torch_utils.persistence`, `dnnlib.util`) exist in
sys.modules only while `dumps` runs, so a loader that imported them would fail.
"""

import collections
import contextlib
import pickle
import sys
import types

import numpy as np
import torch

from draggan_fast.stylegan import Generator

PERSISTENCE_VERSION = 6
SMALL_KWARGS = dict(
    z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
    mapping_kwargs={"num_layers": 2}, channel_base=256, channel_max=16, num_fp16_res=1,
    conv_clamp=256,
)  # fmt: skip


def small_generator(seed=0, **overrides):
    """A 16 px generator with every parameter and buffer random (biases, noise strengths and
    w_avg too, which start at constants), so a mapping that mixes tensors up shows."""
    torch.manual_seed(seed)
    G = Generator(**{**SMALL_KWARGS, **overrides}).eval().requires_grad_(False)
    for name, tensor in G.state_dict().items():
        if not name.endswith("resample_filter"):
            tensor.add_(torch.randn_like(tensor) * 0.1)
    return G


def _reconstruct_persistent_obj(meta):
    raise AssertionError("stand-in of the official hook: only its name is pickled")


class EasyDict(dict):
    """Stand-in of `dnnlib.util.EasyDict` (pickled by name: NEWOBJ + SETITEMS)."""


_FAKE_MODULES = {
    "torch_utils": {},
    "torch_utils.persistence": {"_reconstruct_persistent_obj": _reconstruct_persistent_obj},
    "dnnlib": {},
    "dnnlib.util": {"EasyDict": EasyDict},
}
_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
EasyDict.__module__ = "dnnlib.util"


@contextlib.contextmanager
def official_module_names(extra=None):
    """Temporarily register stand-in modules so pickle can name official globals."""
    specs = {**_FAKE_MODULES, **(extra or {})}
    added = [name for name in specs if name not in sys.modules]
    for name in added:
        module = types.ModuleType(name)
        module.__dict__.update(specs[name])
        sys.modules[name] = module
    try:
        yield
    finally:
        for name in added:
            del sys.modules[name]


def dumps(obj, protocol=pickle.DEFAULT_PROTOCOL, extra_modules=None) -> bytes:
    with official_module_names(extra_modules):
        return pickle.dumps(obj, protocol=protocol)


def marker_source(marker_path) -> str:
    """Module source that leaves a marker file and raises if anyone ever executes it."""
    return (
        "import pathlib\n"
        f"pathlib.Path({str(marker_path)!r}).write_text('module_src was executed')\n"
        "raise RuntimeError('module_src was executed')\n"
    )


class PersistentRecord:
    """Pickles like an official persistent-class instance."""

    def __init__(self, class_name, state, module_src="", version=PERSISTENCE_VERSION):
        self.class_name = class_name
        self.state = state
        self.module_src = module_src
        self.version = version

    def __reduce__(self):
        meta = dict(
            type="class", version=self.version, module_src=self.module_src,
            class_name=self.class_name, state=self.state,
        )  # fmt: skip
        return _reconstruct_persistent_obj, (meta,)


def module_record(module: torch.nn.Module, module_src: str, init_args=(), init_kwargs=None):
    """A PersistentRecord of `module` whose state mirrors an official module's __dict__."""
    state = {key: value for key, value in vars(module).items() if key != "init_kwargs"}
    state["_parameters"] = collections.OrderedDict(
        (name, torch.nn.Parameter(value.detach().clone()))
        for name, value in module._parameters.items()
    )
    state["_buffers"] = collections.OrderedDict(
        (name, None if value is None else value.detach().clone())  # None: official too
        for name, value in module._buffers.items()
    )
    state["_modules"] = collections.OrderedDict(
        (name, module_record(child, module_src)) for name, child in module._modules.items()
    )
    if "weight_gain" in state:  # official layers compute these with numpy: np.float64 scalars
        state["weight_gain"] = np.float64(state["weight_gain"])
    state["_init_args"] = tuple(init_args)
    state["_init_kwargs"] = EasyDict(init_kwargs or {})
    return PersistentRecord(type(module).__name__, state, module_src)


def nested_kwargs(flat_kwargs: dict) -> dict:
    """Our flat Generator kwargs -> stylegan2-ada-pytorch's `synthesis_kwargs={...}` style."""
    top = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
    synthesis = {k: v for k, v in flat_kwargs.items() if k not in (*top, "mapping_kwargs")}
    return {
        **{k: flat_kwargs[k] for k in top},
        "mapping_kwargs": EasyDict(flat_kwargs.get("mapping_kwargs", {})),
        "synthesis_kwargs": EasyDict(synthesis),
    }


class _TinyDiscriminator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 1)
        self.register_buffer("resample_filter", torch.ones(4, 4) / 16)
        self.in_size = np.array([16, 16])  # array attributes occur in official modules


def official_checkpoint(G, init_kwargs, module_src="", init_args=(), extra=None) -> dict:
    """The dict an official training snapshot holds: G, D, G_ema, augment_pipe, kwargs."""
    G_record = module_record(G, module_src, init_args, init_kwargs)
    D_record = module_record(_TinyDiscriminator(), module_src)
    D_record.class_name = "Discriminator"
    checkpoint = {
        "G": G_record,
        "D": D_record,
        "G_ema": G_record,
        "augment_pipe": None,
        "training_set_kwargs": EasyDict(path="data.zip", resolution=G.img_resolution, xflip=True),
        "progress": {"cur_nimg": torch.tensor(25000), "pl_mean": torch.zeros([])},
    }
    checkpoint.update(extra or {})
    return checkpoint
