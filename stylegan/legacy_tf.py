"""Legacy TensorFlow StyleGAN2 pickles (`stylegan2-car-config-f.pkl` style) -> official names.

Such a pickle is a tuple (G, D, Gs) of `dnnlib.tflib.network.Network`s; `safe_unpickle` keeps
each one's state (`version`, `static_kwargs`, `components`, `variables`, and the TF source in
`build_module_src`, never executed). We take Gs and convert it the way the official converter
(stylegan2-ada-pytorch `legacy.py`, `convert_tf_generator`) does: kwargs by TF name (note
channel_base = 2 * fmap_base), then each official parameter from its TF variable (dense weights
transposed, conv weights HWIO -> OIHW, up-conv weights also flipped, mod_bias + 1, the 4x4 const
and noise inputs unbatched, noise{k} -> block 2^((k + 5) // 2)).
"""

import re

import numpy as np
import torch

from draggan_fast.stylegan import ops
from draggan_fast.stylegan.errors import CheckpointError
from draggan_fast.stylegan.safe_unpickle import TFNetwork

_MIN_VERSION = 4
# TF static kwargs with no PyTorch counterpart that the official converter accepts and ignores.
_IGNORED_TF_KWARGS = {"truncation_psi", "truncation_cutoff", "style_mixing_prob", "structure"}


def is_tf_pickle(data) -> bool:
    """True for the legacy layout: a (G, D, Gs) tuple of TF networks."""
    return (
        isinstance(data, tuple) and len(data) == 3 and all(isinstance(n, TFNetwork) for n in data)
    )


def generator_kwargs(Gs: TFNetwork, variables: dict, source: str) -> dict:
    """Gs's static kwargs -> official PyTorch constructor kwargs (nested, ada style).

    `variables`: Gs's `tf_variables`, whose names tell a 'skip' from an 'orig' architecture.
    """
    version = Gs.state.get("version")
    if not isinstance(version, int) or version < _MIN_VERSION:
        raise CheckpointError(
            f"{source}: TensorFlow network version {version!r} is too old (need >= {_MIN_VERSION})"
        )
    tf_kwargs = Gs.state.get("static_kwargs") or {}
    known = set(_IGNORED_TF_KWARGS)

    def kwarg(tf_name, default=None, none=None):
        known.add(tf_name)
        value = tf_kwargs.get(tf_name, default)
        return value if value is not None else none

    kwargs = {
        "z_dim": kwarg("latent_size", 512),
        "c_dim": kwarg("label_size", 0),
        "w_dim": kwarg("dlatent_size", 512),
        "img_resolution": kwarg("resolution", 1024),
        "img_channels": kwarg("num_channels", 3),
        "mapping_kwargs": {
            "num_layers": kwarg("mapping_layers", 8),
            "embed_features": kwarg("label_fmaps"),
            "layer_features": kwarg("mapping_fmaps"),
            "activation": kwarg("mapping_nonlinearity", "lrelu"),
            "lr_multiplier": kwarg("mapping_lrmul", 0.01),
            "w_avg_beta": kwarg("w_avg_beta", 0.995, none=1),
        },
        "synthesis_kwargs": {
            "channel_base": kwarg("fmap_base", 16384) * 2,
            "channel_max": kwarg("fmap_max", 512),
            "num_fp16_res": kwarg("num_fp16_res", 0),
            "conv_clamp": kwarg("conv_clamp"),
            "architecture": kwarg("architecture", "skip"),
            "resample_filter": list(kwarg("resample_kernel", [1, 3, 3, 1])),
            "use_noise": kwarg("use_noise", True),
            "activation": kwarg("nonlinearity", "lrelu"),
        },
    }
    unknown = sorted(set(tf_kwargs) - known)
    if unknown:
        raise CheckpointError(f"{source}: unknown TensorFlow kwargs: {', '.join(unknown)}")
    if any(re.search(r"(^|/)ToRGB_lod\d+/", name) for name in variables):
        kwargs["synthesis_kwargs"]["architecture"] = "orig"  # per-LOD ToRGB: not 'skip'
    return kwargs


def tf_variables(net: TFNetwork, source: str, prefix="") -> dict:
    """All variables of `net` and its components: 'synthesis/8x8/Conv0_up/weight' -> array."""
    variables = {}
    for entry in net.state.get("variables") or []:
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
            raise CheckpointError(f"{source}: TensorFlow variable list holds a malformed entry")
        name, value = entry
        variables[prefix + str(name)] = value
    for name, component in (net.state.get("components") or {}).items():
        if not isinstance(component, TFNetwork):
            raise CheckpointError(f"{source}: TensorFlow component {name!r} is not a network")
        variables.update(tf_variables(component, source, f"{prefix}{name}/"))
    return variables


def _noise_index(resolution: str, conv: int) -> int:
    """TF numbers noise inputs 0, 1, 2, ... over (b4.conv1, b8.conv0, b8.conv1, b16.conv0, ...)."""
    return int(np.log2(int(resolution))) * 2 - 5 + conv


def _rules(var, resample_filter):
    """(official-name regex, value from the match groups) in the official converter's order."""
    synth = "synthesis/{0}x{0}/{1}/{2}"
    layer = {"conv0": "Conv0_up", "conv1": "Conv1", "torgb": "ToRGB"}

    def dense(tf_name):
        return var(tf_name).T

    def tf_layer(resolution, name):
        """The TF layer of official layer `name` (conv0, conv1, torgb) in a block."""
        return layer[name] if not (resolution == "4" and name == "conv1") else "Conv"

    return [
        (r"mapping\.w_avg", lambda: var("dlatent_avg")),
        (r"mapping\.embed\.weight", lambda: dense("mapping/LabelEmbed/weight")),
        (r"mapping\.embed\.bias", lambda: var("mapping/LabelEmbed/bias")),
        (r"mapping\.fc(\d+)\.weight", lambda i: dense(f"mapping/Dense{i}/weight")),
        (r"mapping\.fc(\d+)\.bias", lambda i: var(f"mapping/Dense{i}/bias")),
        (r"synthesis\.b4\.const", lambda: var("synthesis/4x4/Const/const")[0]),
        (
            r"synthesis\.b(\d+)\.conv0\.weight",
            lambda r: var(synth.format(r, "Conv0_up", "weight"))[::-1, ::-1].transpose(3, 2, 0, 1),
        ),
        (
            r"synthesis\.b(\d+)\.(conv1|torgb)\.weight",
            lambda r, name: var(synth.format(r, tf_layer(r, name), "weight")).transpose(3, 2, 0, 1),
        ),
        (
            r"synthesis\.b(\d+)\.conv(\d)\.noise_const",
            lambda r, c: var(f"synthesis/noise{_noise_index(r, int(c))}")[0, 0],
        ),
        (
            r"synthesis\.b(\d+)\.(conv0|conv1|torgb)\.(bias|noise_strength)",
            lambda r, name, kind: var(synth.format(r, tf_layer(r, name), kind)),
        ),
        (
            r"synthesis\.b(\d+)\.(conv0|conv1|torgb)\.affine\.weight",
            lambda r, name: var(synth.format(r, tf_layer(r, name), "mod_weight")).T,
        ),
        (
            r"synthesis\.b(\d+)\.(conv0|conv1|torgb)\.affine\.bias",
            lambda r, name: var(synth.format(r, tf_layer(r, name), "mod_bias")) + 1,
        ),
        (r".*\.resample_filter", lambda: resample_filter),
    ]


def convert_variables(variables: dict, param_names, kwargs: dict, source: str) -> dict:
    """The official-named state for `param_names` from Gs's TF variables (`tf_variables`).

    Raises CheckpointError naming the TF variables the config needs but the pickle lacks.
    """
    missing = []

    def var(tf_name):
        if tf_name not in variables:
            missing.append(tf_name)
            return np.zeros([1, 1, 1, 1], dtype=np.float32)
        return np.asarray(variables[tf_name])

    resample_filter = ops.setup_filter(kwargs["synthesis_kwargs"]["resample_filter"]).numpy()
    rules = _rules(var, resample_filter)
    state = {}
    for name in param_names:
        for pattern, value_fn in rules:
            match = re.fullmatch(pattern, name)
            if match:
                value = np.array(value_fn(*match.groups()), dtype=np.float32, order="C")
                state[name] = torch.from_numpy(value)
                break
        else:
            raise CheckpointError(f"{source}: no TensorFlow variable maps to {name}")
    if missing:
        raise CheckpointError(f"{source}: TensorFlow variables missing: {', '.join(missing)}")
    return state
