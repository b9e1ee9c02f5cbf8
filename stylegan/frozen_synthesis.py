"""The feature blocks of a frozen generator, as the fast step runs them on the CPU.

`FrozenFeatureSynthesis` computes G.synthesis.run_blocks(ws, 0, feature_block + 1) with the same
values and the same gradient with respect to the optimised style rows, doing less work because
the weights never change during a drag (see the class). It can also compute the feature block
only on regions around the handles (`regions`), which is all tracking and motion supervision
read when there is no mask and no image to render.

It serves the StyleGAN2 block structure: square generators and StyleGAN-Human's rectangles
(their blocks run on the H x H/2 rectangles and the feature map comes out zero-padded to a
square, as `run_blocks` pads it). StyleGAN3 has no such blocks: `applies` says so, and the fast
step runs the generator's own layers there.

It is made of the layers' own pieces (stylegan/layers.py: the affine's scaled parameters, the
noise window, the resampling and activation arguments, the demodulation), so a change to a
layer changes it too; tests/step/test_fast_backend.py checks it against the blocks themselves.
"""

import math

import torch

from draggan_fast.stylegan import ops
from draggan_fast.stylegan.layers import DEMODULATION_EPS, demodulation_coefficients

# Input pixels kept around a crop of the feature block: more than the up-sampling convolution
# and the 3x3 convolution reach, so the kept output pixels never see the crop's zero padding.
CROP_MARGIN = 4


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
        self.rows = dict(self._layer_rows())  # conv layer -> its row of ws
        for block in self.blocks:
            for layer in (getattr(block, "conv0", None), block.conv1):
                if layer is not None:
                    with torch.no_grad():
                        self.weight_squares[layer] = layer.weight_squares()
                        self.affines[layer] = layer.affine.scaled_parameters()

    @staticmethod
    def applies(synthesis, feature_block, device):
        """(bool, reason): StyleGAN2-structured blocks (square or StyleGAN-Human) on the CPU in
        float32, where the reference modulated convolution runs."""
        if not all(hasattr(block, "conv1") for block in synthesis.blocks[: feature_block + 1]):
            return False, "no StyleGAN2 blocks (StyleGAN3): the generator's own layers"
        if device.type != "cpu":
            return False, f"{device.type}: the generator's own modulated convolution"
        blocks = synthesis.blocks[: feature_block + 1]
        if any(block.compute_dtype(device) != torch.float32 for block in blocks):
            return False, "float16 blocks: the generator's own modulated convolution"
        padded = " (StyleGAN-Human: on the rectangles, then padded)" if synthesis.padding else ""
        return True, f"CPU float32: demodulation from precomputed weight squares{padded}"

    def _width(self, block):
        """Width of `block`'s output as the blocks compute it: H/2 for StyleGAN-Human."""
        return block.resolution if self.synthesis.square else block.resolution // 2

    def _styles(self, layer, w):  # w: [1, w_dim] -> [1, C_in], the layer's affine
        affine_weight, affine_bias = self.affines[layer]
        return torch.addmm(affine_bias.unsqueeze(0), w, affine_weight.t())

    def fix_rows(self, w0, trainable_rows):
        """Modulate and demodulate, once, the weights of layers whose style row is a fixed w0
        row (index >= trainable_rows), as the official fused formulation does per call; they
        then run as plain convolutions. Checks w0 each call (the CPU path: no device sync)."""
        for layer, index in self.rows.items():
            if index < trainable_rows:
                self.fixed_weights.pop(layer, None)
                continue
            row = w0[:, index].detach()  # [1, w_dim]
            cached = self.fixed_weights.get(layer)
            if cached is not None and torch.equal(cached[0], row):
                continue
            with torch.no_grad():
                weight = layer.weight * self._styles(layer, row).reshape(1, -1, 1, 1)
                dcoefs = (weight.square().sum(dim=[1, 2, 3]) + DEMODULATION_EPS).rsqrt()
                self.fixed_weights[layer] = (row.clone(), weight * dcoefs.reshape(-1, 1, 1, 1))

    def _layer_rows(self):
        """(conv layer, its row of ws), as SynthesisNetwork.split_ws counts rows."""
        index = 0
        for block in self.blocks:
            if block.in_channels != 0:
                yield block.conv0, index
            yield block.conv1, index + block.num_conv - 1
            index += block.num_conv

    def _layer(self, layer, x, w, noise_mode, offset=(0, 0)):
        # x: [1, C_in, r / up, r / up] -> [1, C_out, r, r]; offset: output (row, col) of a crop
        fixed = self.fixed_weights.get(layer)
        if fixed is not None:  # a fixed style row: a plain convolution
            x = ops.conv2d_resample(
                x, fixed[1], f=layer.resample_filter, **layer.resample_arguments()
            )
            noise = layer.noise(noise_mode, 1, x.shape[2:], x.device, offset)
            x = x if noise is None else x + noise
        else:  # unfused, demodulation from the weight squares
            styles = self._styles(layer, w)  # [1, C_in]
            x = ops.conv2d_resample(
                x * styles.reshape(1, -1, 1, 1), layer.weight, f=layer.resample_filter,
                **layer.resample_arguments(),
            )  # fmt: skip
            dcoefs = demodulation_coefficients(styles, self.weight_squares[layer])
            dcoefs = dcoefs.reshape(1, -1, 1, 1)  # [1, C_out, 1, 1]
            noise = layer.noise(noise_mode, 1, x.shape[2:], x.device, offset)
            x = x * dcoefs if noise is None else torch.addcmul(noise, x, dcoefs)
        return ops.bias_act(x, layer.bias, **layer.activation_arguments())

    def _block(self, block, x, ws, noise_mode, offset=(0, 0)):
        """One block's x: [1, C_in, r / 2, r / 2] (None for the first) -> [1, C_out, r, r]."""
        if block.in_channels == 0:
            x = block.const.unsqueeze(0)  # [1, C, 4, 4]
        else:
            x = self._layer(block.conv0, x, ws[:, self.rows[block.conv0]], noise_mode, offset)
        return self._layer(block.conv1, x, ws[:, self.rows[block.conv1]], noise_mode, offset)

    def features(self, ws, noise_mode, regions=None):
        """ws [1, num_ws, w_dim] -> (features [1, C, h, w] as `run_blocks` returns them (padded
        to a square for StyleGAN-Human), every block's output (unpadded)).

        Layers whose row is fixed (see `fix_rows`) take their premodulated weights; the others
        read their row of ws, with autograd. With `regions` (native (top, bottom, left, right)
        boxes of the blocks' (unpadded) map, see `handle_regions`), the feature block is
        computed only there, from crops of the previous block's output, and is zero elsewhere.
        """
        dense = self.blocks if regions is None else self.blocks[:-1]
        outputs = []
        x = None
        for block in dense:
            x = self._block(block, x, ws, noise_mode)
            outputs.append(x)
        if regions is not None:
            x = self._feature_block_on(regions, x, ws, noise_mode)
            outputs.append(x)
        return (self.synthesis.pad(x, 0.0) if self.synthesis.padding else x), outputs

    def _feature_block_on(self, regions, previous, ws, noise_mode):
        block = self.blocks[-1]
        features = previous.new_zeros(
            [1, block.conv1.out_channels, block.resolution, self._width(block)]
        )
        for top, bottom, left, right in regions:
            in_top = max(top // 2 - CROP_MARGIN, 0)
            in_left = max(left // 2 - CROP_MARGIN, 0)
            in_bottom = min(math.ceil(bottom / 2) + CROP_MARGIN, previous.shape[2])
            in_right = min(math.ceil(right / 2) + CROP_MARGIN, previous.shape[3])
            crop = previous[:, :, in_top:in_bottom, in_left:in_right]
            offset = (2 * in_top, 2 * in_left)  # the up-sampling block doubles coordinates
            values = self._block(block, crop, ws, noise_mode, offset)
            features[:, :, top:bottom, left:right] = values[
                :, :, top - offset[0] : bottom - offset[0], left - offset[1] : right - offset[1]
            ]
        return features

    def dense_outputs(self, ws, outputs, noise_mode):
        """`outputs` of a `regions` pass with the feature block completed everywhere (no grad)."""
        with torch.no_grad():
            last = self._block(self.blocks[-1], outputs[-2].detach(), ws.detach(), noise_mode)
        return [*outputs[:-1], last]

    def handle_regions(self, handles, extent):
        """(boxes of the feature block's unpadded map around `handles` (see `regions_around`),
        that map's area). handles: [K, 2] (row, col) pixels of the (padded) image, CPU."""
        block = self.blocks[-1]
        native_size = (block.resolution, self._width(block))
        size = self.synthesis.img_resolution
        image_size = (size, size if self.synthesis.square else size // 2)
        if self.synthesis.padding:  # padded image columns -> the rectangle's columns
            handles = handles - handles.new_tensor([0.0, (size - image_size[1]) // 2])
        regions = self.regions_around(handles, extent, native_size, image_size)
        # A handle deep in StyleGAN-Human's white margin reads only padding: no box there.
        regions = [(t, b, left, r) for t, b, left, r in regions if t < b and left < r]
        return regions, native_size[0] * native_size[1]

    @staticmethod
    def regions_around(handles, extent, native_size, image_size):
        """Native boxes (top, bottom, left, right) holding every stencil tap of image pixels
        within `extent` of each rounded handle (handles [K, 2] (row, col) on the CPU)."""
        (native_height, native_width), (height, width) = native_size, image_size
        regions = []
        for row, col in handles.round().tolist():
            top = math.floor((row - extent) * native_height / height) - 2
            bottom = math.floor((row + extent) * native_height / height) + 3
            left = math.floor((col - extent) * native_width / width) - 2
            right = math.floor((col + extent) * native_width / width) + 3
            regions.append(
                (max(top, 0), min(bottom, native_height), max(left, 0), min(right, native_width))
            )
        return regions

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
