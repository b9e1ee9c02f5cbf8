"""The `fast` backend: the reference step (draggan_fast/step_reference.py) on the fused drag ops.

What it does differently, with the same results:
- the feature map is never upsampled to the image: tracking, motion supervision and the mask
  term read the native map through `draggan_fast.kernels` (Triton on CUDA, vectorised PyTorch on
  the CPU; `describe()` says which and why);
- no GPU-to-CPU synchronisation inside a step: handles, the stop decision and whether w is
  updated stay tensors on the device (the session reads them once, after the step);
- the generator's weights are frozen (requires_grad False), so only w gets a gradient; on the
  CPU the feature blocks run as `FrozenFeatureSynthesis` (unfused modulated convolutions with
  precomputed demodulation, no style gradients for the fixed w0 rows), elsewhere as the
  generator's own blocks with `fused_modconv=False`;
- the blocks after the feature block run without autograd, and only when an image is wanted.

`DRAGGAN_FAST_COMPILE=1` runs the differentiable part of a step through torch.compile.
Internal coordinates are (row, col) pixels.
"""

from __future__ import annotations

import os

import torch
from torch.profiler import record_function

from draggan_fast.kernels import (
    describe_dispatch,
    mask_loss,
    motion_loss,
    sample_upsampled,
    track_handles,
)
from draggan_fast.step_backend import (
    DragConfig,
    DragState,
    FeatureReferences,
    StepBackend,
    StepOutput,
    build_styles,
    image_to_uint8,
    register_backend,
)
from draggan_fast.stylegan import ops

COMPILE_ENV_VAR = "DRAGGAN_FAST_COMPILE"


class FrozenFeatureSynthesis:
    """Blocks [0, feature_block] of a generator whose weights are frozen, for the CPU.

    With frozen weights, a layer's demodulation sum_{i,k} (W[o, i, k] s[i])^2 equals
    sum_i s[i]^2 (sum_k W[o, i, k]^2): a [C_out, C_in] matrix-vector product on squares computed
    once, instead of building the [C_out, C_in, k, k] modulated weight and its gradient on every
    forward and backward (on the CPU that elementwise work costs as much as the convolutions).
    Those layers scale the activations around a shared convolution (the unfused formulation).
    Layers whose style row is a fixed w0 row (not optimised; the large, late ones) get their
    modulated weight once (`fix_rows`) and run as plain convolutions: no per-step modulation and
    no style gradients. ToRGB runs only when an image is wanted. Float32 only; `applies` says
    when it is used.
    """

    def __init__(self, synthesis, feature_block):
        self.synthesis = synthesis
        self.blocks = synthesis.blocks[: feature_block + 1]
        self.weight_squares = {}  # conv layer -> [C_out, C_in] sum over taps of W^2
        self.affines = {}  # conv layer -> (weight [C_in, w_dim], bias [C_in]) with their gains
        self.fixed_weights = {}  # conv layer -> (its w0 row, modulated weight), see fix_rows
        for block in self.blocks:
            for layer in (getattr(block, "conv0", None), block.conv1):
                if layer is not None:
                    self.weight_squares[layer] = layer.weight.detach().square().sum(dim=[2, 3])
                    affine = layer.affine
                    self.affines[layer] = (
                        affine.weight.detach() * affine.weight_gain,
                        affine.bias.detach() * affine.bias_gain
                        if affine.bias_gain != 1
                        else affine.bias.detach(),
                    )

    @staticmethod
    def applies(synthesis, feature_block, device):
        """(bool, reason): the CPU runs the reference modulated convolution in float32."""
        if device.type != "cpu":
            return False, f"{device.type}: the generator's own modulated convolution"
        blocks = synthesis.blocks[: feature_block + 1]
        if any(block.compute_dtype(device) != torch.float32 for block in blocks):
            return False, "float16 blocks: the generator's own modulated convolution"
        return True, "CPU float32: demodulation from precomputed weight squares"

    def _styles(self, layer, w):  # w: [1, w_dim] -> [1, C_in], the layer's affine
        affine_weight, affine_bias = self.affines[layer]
        return torch.addmm(affine_bias.unsqueeze(0), w, affine_weight.t())

    def fix_rows(self, w0, trainable_rows):
        """Modulate and demodulate, once, the weights of layers whose style row is a fixed w0
        row (index >= trainable_rows), as the official fused formulation does per call; they
        then run as plain convolutions. Checks w0 each call (the CPU path: no device sync)."""
        self.trainable_rows = trainable_rows
        for layer, index in self._layer_rows():
            if index < trainable_rows:
                self.fixed_weights.pop(layer, None)
                continue
            row = w0[:, index].detach()  # [1, w_dim]
            cached = self.fixed_weights.get(layer)
            if cached is not None and torch.equal(cached[0], row):
                continue
            with torch.no_grad():
                weight = layer.weight * self._styles(layer, row).reshape(1, -1, 1, 1)
                dcoefs = (weight.square().sum(dim=[1, 2, 3]) + 1e-8).rsqrt()  # [C_out]
                self.fixed_weights[layer] = (row.clone(), weight * dcoefs.reshape(-1, 1, 1, 1))

    def _layer_rows(self):
        """(conv layer, its row of ws), as SynthesisNetwork.split_ws counts rows."""
        index = 0
        for block in self.blocks:
            if block.in_channels != 0:
                yield block.conv0, index
            yield block.conv1, index + block.num_conv - 1
            index += block.num_conv

    @staticmethod
    def _noise(layer, shape, noise_mode):
        if layer.use_noise and noise_mode == "const":
            return layer.noise_const * layer.noise_strength
        if layer.use_noise and noise_mode == "random":
            return torch.randn([1, 1, *shape[2:]]) * layer.noise_strength
        return None

    def _layer(self, layer, x, w, noise_mode):  # x: [1, C_in, r / up, r / up] -> [1, C_out, r, r]
        fixed = self.fixed_weights.get(layer)
        if fixed is not None:  # a fixed style row: a plain convolution
            x = ops.conv2d_resample(
                x, fixed[1], f=layer.resample_filter, up=layer.up, padding=layer.padding,
                flip_weight=(layer.up == 1),
            )  # fmt: skip
            noise = self._noise(layer, x.shape, noise_mode)
            x = x if noise is None else x + noise
        else:  # unfused, demodulation from the weight squares
            styles = self._styles(layer, w)  # [1, C_in]
            x = ops.conv2d_resample(
                x * styles.reshape(1, -1, 1, 1), layer.weight, f=layer.resample_filter,
                up=layer.up, padding=layer.padding, flip_weight=(layer.up == 1),
            )  # fmt: skip
            dcoefs = (styles.square() @ self.weight_squares[layer].t() + 1e-8).rsqrt()
            dcoefs = dcoefs.reshape(1, -1, 1, 1)  # [1, C_out, 1, 1]
            noise = self._noise(layer, x.shape, noise_mode)
            x = x * dcoefs if noise is None else torch.addcmul(noise, x, dcoefs)
        return ops.bias_act(
            x, layer.bias, act=layer.activation, gain=layer.act_gain, clamp=layer.conv_clamp
        )

    def features(self, ws, noise_mode):
        """ws [1, num_ws, w_dim] -> (features [1, C, h, w], every block's output).

        Layers whose row is fixed (see `fix_rows`) take their premodulated weights; the others
        read their row of ws, with autograd.
        """
        rows = dict(self._layer_rows())
        outputs = []
        x = None
        for block in self.blocks:
            if block.in_channels == 0:
                x = block.const.unsqueeze(0)  # [1, C, 4, 4]
            else:
                x = self._layer(block.conv0, x, ws[:, rows[block.conv0]], noise_mode)
            x = self._layer(block.conv1, x, ws[:, rows[block.conv1]], noise_mode)
            outputs.append(x)
        return x, outputs

    @torch.no_grad()
    def image_so_far(self, ws, outputs):
        """The skip image after the feature block, from the blocks' outputs: [1, 3, h, w]."""
        img = None
        for block, block_ws, x in zip(self.blocks, self.synthesis.split_ws(ws), outputs):
            if img is not None:
                img = ops.upsample2d(img, block.resample_filter)
            y = block.torgb(x, block_ws[:, block.num_conv]).to(torch.float32)
            img = img + y if img is not None else y
        return img


def forward_and_losses(
    synthesis, frozen, w, w0, references, handles, targets, movable_mask, config
):  # fmt: skip
    """The differentiable part of a step, all on the device (no host sync).

    frozen: a FrozenFeatureSynthesis or None (then the generator's own blocks run); w: the
    optimised latent; references: FeatureReferences or None (then taken from this pass);
    handles, targets: [K, 2] float32 (row, col); movable_mask: [H, W] or None.
    Returns (tracked handles [K, 2], motion, mask, total, done, update, handle_features [K, C],
    feature_map [1, C, h, w], ws, features, image_state) where `update` is False when the
    reference step would leave w alone (done, or no loss term at all) and image_state is what
    `render_rest` needs.
    """
    size = (synthesis.img_resolution, synthesis.img_resolution)
    with record_function("draggan/forward_features"):
        ws = build_styles(w, w0, config)  # [1, num_ws, w_dim]
        if frozen is not None:
            features, image_state = frozen.features(ws, config.noise_mode)
        else:
            features, image_state = synthesis.run_blocks(
                ws, 0, config.feature_block + 1, noise_mode=config.noise_mode,
                fused_modconv=False,
            )  # fmt: skip
    if references is None:
        handle_features = sample_upsampled(features.detach(), handles, size)  # [K, C]
        feature_map = features.detach()
    else:
        handle_features, feature_map = references.handle_features, references.feature_map
    with record_function("draggan/tracking"):
        tracked = track_handles(
            features, handle_features, handles, size, config.tracking_radius, config.tracking
        )
    with record_function("draggan/motion"):
        terms = motion_loss(features, tracked, targets, size, config.motion_radius)  # [K]
        loss_motion = terms.sum()
        distances = torch.linalg.vector_norm(targets - tracked, dim=1)  # [K]
        done = (distances <= config.stop_distance).all()
        has_term = (distances > 1).any()
    loss_mask = torch.zeros((), device=features.device)
    if movable_mask is not None:
        with record_function("draggan/mask"):
            loss_mask = config.lambda_mask * mask_loss(features, feature_map, movable_mask)
        has_term = torch.ones_like(has_term)
    total = loss_motion + loss_mask
    update = has_term & ~done
    return (
        tracked, loss_motion, loss_mask, total, done, update, handle_features, feature_map, ws,
        features, image_state,
    )  # fmt: skip


@torch.no_grad()
def render_rest(synthesis, frozen, ws, features, image_state, config):
    """uint8 [H, W, 3] image of this pass: the blocks after the feature block, no autograd."""
    ws = ws.detach()
    if frozen is not None:
        img = frozen.image_so_far(ws, [output.detach() for output in image_state])
    else:
        img = image_state.detach()
    _, img = synthesis.run_blocks(
        ws, config.feature_block + 1, None, x=features.detach(), img=img,
        noise_mode=config.noise_mode,
    )  # fmt: skip
    return image_to_uint8(img)


def _snapshot(optimizer, w):
    """Copies of the optimizer state of w (absent entries count as zeros, as Adam starts)."""
    state = optimizer.state.get(w, {})
    return {name: value.clone() for name, value in state.items() if torch.is_tensor(value)}


def _keep_unless(update, optimizer, w, w_before, state_before):
    """Undo the optimizer step where `update` is False, without reading it on the host."""
    with torch.no_grad():
        w.copy_(torch.where(update, w, w_before))
        for name, value in optimizer.state[w].items():
            if torch.is_tensor(value):
                before = state_before.get(name, torch.zeros_like(value))
                value.copy_(torch.where(update.to(value.device), value, before))


@register_backend
class FastBackend(StepBackend):
    """Fused drag ops, no host sync inside a step, frozen generator weights."""

    name = "fast"

    def __init__(self, config: DragConfig):
        super().__init__(config)
        self._device = None
        self._frozen = None  # (synthesis, FrozenFeatureSynthesis or None, reason)
        self._losses = forward_and_losses
        if os.environ.get(COMPILE_ENV_VAR, "0") == "1":
            self._losses = torch.compile(forward_and_losses)

    def describe(self) -> str:
        device = self._device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
        ops = "; ".join(
            f"{row['op'].split('::')[1]}: {row['implementation']} ({row['reason']})"
            for row in describe_dispatch(device)
        )
        compiled = ", torch.compile" if self._losses is not forward_and_losses else ""
        blocks = f"; feature blocks: {self._frozen[2]}" if self._frozen else ""
        return f"fast on {device}{compiled}: {ops}{blocks}"

    def make_optimizer(self, w: torch.Tensor, lr: float) -> torch.optim.Optimizer:
        """Adam as officially; on CUDA `capturable`, so its step count stays on the device."""
        return torch.optim.Adam([w], lr=lr, capturable=w.is_cuda)

    def _frozen_blocks(self, synthesis, device):
        """The CPU's frozen-weight blocks for this generator, made once (None elsewhere)."""
        if self._frozen is None or self._frozen[0] is not synthesis or self._device != device:
            applies, reason = FrozenFeatureSynthesis.applies(
                synthesis, self.config.feature_block, device
            )
            frozen = (
                FrozenFeatureSynthesis(synthesis, self.config.feature_block) if applies else None
            )
            self._frozen = (synthesis, frozen, reason)
        return self._frozen[1]

    def step(self, state: DragState, render: bool) -> StepOutput:
        synthesis = state.generator.synthesis
        state.generator.requires_grad_(False)  # frozen: only w gets a gradient
        frozen = self._frozen_blocks(synthesis, state.w.device)
        if frozen is not None:
            frozen.fix_rows(state.w0, self.config.n_optimized_layers)
        self._device = state.w.device
        w_before = state.w.detach().clone()
        optimizer_before = _snapshot(state.optimizer, state.w)

        outputs = self._losses(
            synthesis, frozen, state.w, state.w0, state.references, state.handles, state.targets,
            state.movable_mask, self.config,
        )  # fmt: skip
        tracked, loss_motion, loss_mask, total, done, update = outputs[:6]
        handle_features, feature_map, ws, features, image_state = outputs[6:]
        with record_function("draggan/backward"):
            state.optimizer.zero_grad()
            if total.requires_grad:  # False only when nothing depends on w (no optimised layer)
                torch.autograd.backward(total, inputs=[state.w])
        with record_function("draggan/optimizer"):
            state.optimizer.step()
            _keep_unless(update, state.optimizer, state.w, w_before, optimizer_before)

        image = None
        if render:
            with record_function("draggan/synthesis_rest"):
                image = render_rest(synthesis, frozen, ws, features, image_state, self.config)
        return StepOutput(
            handles=tracked,
            references=FeatureReferences(handle_features, feature_map),
            done=done,
            losses={
                "motion": loss_motion.detach(),
                "mask": loss_mask.detach(),
                "total": total.detach(),
            },
            image=image,
        )
