"""Legacy TensorFlow StyleGAN2 pickles, built by the tests from one of our generators.

The inverse of the official TF -> PyTorch conversion (stylegan2-ada-pytorch `legacy.py`), written
out TF-name first so that it checks the loader's mapping rather than repeating it. Networks pickle
as `dnnlib.tflib.network.Network` (NEWOBJ + BUILD with the state dict), like the originals.
"""

import numpy as np

from tests.stylegan.pickle_official import dumps


class Network:
    """Stand-in of `dnnlib.tflib.network.Network`: pickles its state dict by name."""

    def __init__(self, state):
        self.state = state

    def __getstate__(self):
        return self.state

    def __setstate__(self, state):
        self.state = state


Network.__module__ = "dnnlib.tflib.network"
_TF_MODULES = {"dnnlib.tflib": {}, "dnnlib.tflib.network": {"Network": Network}}


def _network(name, static_kwargs, variables, components=None, version=4):
    return Network(
        {
            "version": version,
            "name": name,
            "static_kwargs": static_kwargs,
            "components": components or {},
            "build_module_src": "raise RuntimeError('TF build source was executed')\n",
            "build_func_name": f"{name}_stylegan2",
            "variables": list(variables.items()),
        }
    )


def _np(tensor):
    return tensor.detach().cpu().numpy()


def _conv_to_tf(weight, flip=False):
    """OIHW -> HWIO (and the up-conv's spatial flip)."""
    kernel = _np(weight.permute(2, 3, 1, 0))
    return np.ascontiguousarray(kernel[::-1, ::-1] if flip else kernel)


def _layer_to_tf(layer, flip=False):
    variables = {
        "weight": _conv_to_tf(layer.weight, flip),
        "bias": _np(layer.bias),
        "mod_weight": _np(layer.affine.weight).T.copy(),
        "mod_bias": _np(layer.affine.bias) - 1,
    }
    if hasattr(layer, "noise_strength"):
        variables["noise_strength"] = _np(layer.noise_strength)
    return variables


def _synthesis_variables(G):
    variables = {}
    noise_index = 0
    for block in G.synthesis.blocks:
        res = block.resolution
        layers = [("Conv", block.conv1)] if res == 4 else [("Conv0_up", block.conv0)]
        if res > 4:
            layers.append(("Conv1", block.conv1))
        if res == 4:
            variables["4x4/Const/const"] = _np(block.const)[None]
        for tf_layer, layer in layers:
            for name, value in _layer_to_tf(layer, flip=(tf_layer == "Conv0_up")).items():
                variables[f"{res}x{res}/{tf_layer}/{name}"] = value
            variables[f"noise{noise_index}"] = _np(layer.noise_const)[None, None]
            noise_index += 1
        for name, value in _layer_to_tf(block.torgb).items():
            variables[f"{res}x{res}/ToRGB/{name}"] = value
    return variables


def tf_static_kwargs(G):
    kwargs = G.init_kwargs
    return {
        "latent_size": G.z_dim,
        "label_size": G.c_dim,
        "dlatent_size": G.w_dim,
        "resolution": G.img_resolution,
        "num_channels": G.img_channels,
        "fmap_base": kwargs["channel_base"] // 2,
        "fmap_max": kwargs["channel_max"],
        "mapping_layers": kwargs["mapping_kwargs"]["num_layers"],
        "truncation_psi": 0.5,  # known to the official converter, without effect
    }


def tf_networks(G, static_kwargs=None, extra_synthesis_variables=None, version=4):
    """(G, D, Gs) TF network stand-ins holding generator G's weights under TF names."""
    static_kwargs = tf_static_kwargs(G) if static_kwargs is None else static_kwargs
    mapping_variables = {}
    for index in range(G.mapping.num_layers):
        layer = getattr(G.mapping, f"fc{index}")
        mapping_variables[f"Dense{index}/weight"] = _np(layer.weight).T.copy()
        mapping_variables[f"Dense{index}/bias"] = _np(layer.bias)
    if G.c_dim > 0:
        mapping_variables["LabelEmbed/weight"] = _np(G.mapping.embed.weight).T.copy()
        mapping_variables["LabelEmbed/bias"] = _np(G.mapping.embed.bias)
    synthesis_variables = {**_synthesis_variables(G), **(extra_synthesis_variables or {})}
    components = {
        "mapping": _network("G_mapping", static_kwargs, mapping_variables),
        "synthesis": _network("G_synthesis", static_kwargs, synthesis_variables),
    }
    Gs = _network(
        "G_main", static_kwargs, {"dlatent_avg": _np(G.mapping.w_avg)}, components, version
    )
    D = _network("D", {}, {})
    return Gs, D, Gs


def tf_pickle(G, protocol=2, **network_kwargs) -> bytes:
    """The bytes of a legacy TF pickle of generator G (protocol 2 like the TF-era originals)."""
    return dumps(tf_networks(G, **network_kwargs), protocol=protocol, extra_modules=_TF_MODULES)
