"""torch.compile of the generator with the compiled ops inside: one graph (fullgraph=True),
the custom ops in it, and the same output (and gradient) as eager. A tiny generator keeps
compilation affordable on the CPU. (Inductor itself, eager vs compiled output, is covered by
tests/stylegan/test_generator_compile_and_cuda.py, whose generator now runs these ops.)"""

import pytest
import torch

from draggan_fast.stylegan import Generator


def _tiny_generator(resolution):
    torch.manual_seed(0)
    G = Generator(
        z_dim=16, c_dim=0, w_dim=16, img_resolution=resolution, img_channels=3,
        mapping_kwargs={"num_layers": 2}, channel_base=128, channel_max=16, num_fp16_res=0,
        conv_clamp=256,
    )  # fmt: skip
    with torch.no_grad():
        for name, parameter in G.named_parameters():
            if name.endswith("noise_strength"):
                parameter.fill_(0.3)  # exercise the noise inputs
    return G.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def tiny_generator():
    """16x16: three blocks, so both the 2x up-sampling conv and upsample2d of the image run."""
    return _tiny_generator(16)


@pytest.fixture(scope="module")
def smallest_generator():
    """8x8: the fewest blocks with an up-sampling conv, for the slower AOT trace."""
    return _tiny_generator(8)


def _recording_backend(seen_targets):
    def backend(graph_module, example_inputs):
        for node in graph_module.graph.nodes:
            if node.op == "call_function":
                seen_targets.add(str(node.target))
        return graph_module.forward

    return backend


def test_forward_is_one_graph_with_the_custom_ops(compiled_ops, tiny_generator):
    torch._dynamo.reset()
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(1))
    seen = set()
    compiled_G = torch.compile(tiny_generator, fullgraph=True, backend=_recording_backend(seen))
    with torch.no_grad():
        expected = tiny_generator(z, truncation_psi=0.7)
        actual = compiled_G(z, truncation_psi=0.7)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    assert any(target.startswith("draggan_fast.bias_act") for target in seen), seen
    assert any(target.startswith("draggan_fast.upfirdn2d") for target in seen), seen


def test_synthesis_gradient_through_aot_autograd(compiled_ops, smallest_generator):
    """The drag step's path: ws -> image with grad, traced with the fake kernels and autograd."""
    torch._dynamo.reset()
    ws = smallest_generator.mapping(torch.randn(1, 16, generator=torch.Generator().manual_seed(2)))

    def image_loss(ws):
        return smallest_generator.synthesis(ws).square().mean()

    compiled_loss = torch.compile(image_loss, fullgraph=True, backend="aot_eager")
    grads = []
    for run in (image_loss, compiled_loss):
        ws_leaf = ws.clone().requires_grad_(True)
        run(ws_leaf).backward()
        grads.append(ws_leaf.grad)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)
