"""draggan_fast::track_handles (vectorised PyTorch and Triton) against track_handles_reference,
the definition (`track`) on the float32 upsampled map."""

import pytest
import torch

from draggan_fast.kernels import (
    sample_upsampled,
    track_handles,
    track_handles_reference,
    tracking_torch,
    tracking_triton,
)
from tests.conftest import requires_cuda
from tests.kernels.drag_cases import (
    CPU_SHAPES,
    TRITON_SHAPES,
    random_features,
    random_points,
)


def _radius(image):
    return max(3, round(12 * image / 512))


def _drifted_case(channels, native, image, count, seed, device="cpu"):
    """References taken at the handles of a map, then the map drifts a little: a real search."""
    start = random_features(channels, native, seed, device=device)
    handles = random_points(count, image, seed, fractional=True).to(device)
    references = sample_upsampled(start, handles, (image, image))
    moved = start + 0.5 * random_features(channels, native, seed + 1, device=device)
    return moved, references, handles


@pytest.mark.parametrize("metric", ["l2", "l1"])
@pytest.mark.parametrize("channels, native, image, count", CPU_SHAPES)
def test_torch_implementation_matches_reference(channels, native, image, count, metric):
    features, references, handles = _drifted_case(channels, native, image, count, seed=native)
    radius = _radius(image)
    expected = track_handles_reference(
        features, references, handles, (image, image), radius, metric
    )
    found = track_handles(features, references, handles, (image, image), radius, metric)
    assert found.dtype == torch.float32 and found.shape == (count, 2)
    assert torch.equal(found, expected)


def test_torch_implementation_works_in_chunks(monkeypatch):
    monkeypatch.setattr(tracking_torch, "_CHUNK_ELEMENTS", 1)  # one handle per chunk
    features, references, handles = _drifted_case(4, 32, 128, 5, seed=2)
    expected = track_handles_reference(features, references, handles, (128, 128), 6)
    assert torch.equal(track_handles(features, references, handles, (128, 128), 6), expected)


def _assert_same_or_rounding_tie(features, references, found, expected, image, metric):
    """Equal handles, or (under the interpreter, which rounds fma twice) a pixel whose distance
    ties the reference's choice to float32 rounding, such as the constant border band of U."""
    features, references, found, expected = (
        value.cpu() for value in (features, references, found, expected)
    )
    upsampled = torch.nn.functional.interpolate(features, [image, image], mode="bilinear")[0]
    order = 2 if metric == "l2" else 1
    for (row, col), (exp_row, exp_col), reference in zip(found.long(), expected.long(), references):
        if (row, col) == (exp_row, exp_col):
            continue
        mine = torch.linalg.vector_norm(upsampled[:, row, col] - reference, order)
        best = torch.linalg.vector_norm(upsampled[:, exp_row, exp_col] - reference, order)
        assert abs(mine - best) <= 1e-6 * best, ((row, col), (exp_row, exp_col))


@pytest.mark.parametrize("metric", ["l2", "l1"])
@pytest.mark.parametrize("channels, native, image, count", TRITON_SHAPES)
def test_triton_kernel_matches_reference(on_triton, channels, native, image, count, metric):
    features, references, handles = _drifted_case(
        channels, native, image, count, seed=native + 1, device=on_triton
    )
    radius = _radius(image)
    expected = track_handles_reference(
        features, references, handles, (image, image), radius, metric
    )
    found = track_handles(features, references, handles, (image, image), radius, metric)
    _assert_same_or_rounding_tie(features, references, found, expected, image, metric)
    assert (found == expected).all(dim=1).float().mean() > 0.9


def test_triton_kernel_window_larger_than_a_block(on_triton):
    features, references, handles = _drifted_case(3, 32, 128, 3, seed=7, device=on_triton)
    expected = track_handles_reference(features, references, handles, (128, 128), 20)
    assert torch.equal(track_handles(features, references, handles, (128, 128), 20), expected)


@pytest.mark.parametrize("use_triton", [False, True])
def test_ties_go_to_the_first_pixel_of_the_clipped_window(request, use_triton):
    device = request.getfixturevalue("on_triton") if use_triton else "cpu"
    features = torch.ones(1, 3, 16, 16, device=device)  # all equally far: the first one wins
    references = torch.zeros(4, 3, device=device)
    handles = torch.tensor([[0.0, 0.0], [63.0, 63.0], [30.0, 2.0], [20.4, 40.6]], device=device)
    found = track_handles(features, references, handles, (64, 64), 5)
    expected = torch.tensor([[0.0, 0.0], [58.0, 58.0], [25.0, 0.0], [15.0, 36.0]], device=device)
    assert torch.equal(found, expected)
    assert torch.equal(
        track_handles_reference(features, references, handles, (64, 64), 5), expected
    )


def test_a_handle_finds_its_own_feature():
    features = random_features(8, 32, seed=3)
    handles = torch.tensor([[17.0, 90.0], [0.0, 127.0]])
    references = sample_upsampled(features, torch.tensor([[20.0, 86.0], [2.0, 125.0]]), (128, 128))
    found = track_handles(features, references, handles, (128, 128), 6)
    assert found.tolist() == [[20.0, 86.0], [2.0, 125.0]]


def test_opcheck():
    features, references, handles = _drifted_case(4, 16, 64, 5, seed=1)
    for metric in ("l2", "l1"):
        torch.library.opcheck(
            torch.ops.draggan_fast.track_handles.default,
            (features, references, handles, 64, 64, 3, metric),
        )


def test_compiles_fullgraph():
    features, references, handles = _drifted_case(4, 16, 64, 5, seed=1)

    def track(values):
        return track_handles(values, references, handles, (64, 64), 3)

    compiled = torch.compile(track, fullgraph=True, backend="aot_eager")
    assert torch.equal(compiled(features), track(features))


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"feature_refs": torch.zeros(3, 4)}, r"feature_refs must be \[3, 3\]"),
        ({"feature_refs": torch.zeros(3, 3, 1)}, r"feature_refs must be \[3, 3\]"),
        ({"feature_refs": [[0.0] * 3] * 3}, "feature_refs must be a torch.Tensor"),
        ({"feature_refs": torch.zeros(3, 3, device="meta")}, "feature_refs must be on cpu"),
        ({"metric": "cosine"}, "metric"),
        ({"handles": torch.zeros(3, 2).long()}, "float32"),
        ({"radius": -1}, "radius"),
        ({"radius": None}, "radius must be a non-negative integer"),
    ],
)
def test_bad_input_is_named(bad, message):
    arguments = {
        "features": torch.zeros(1, 3, 8, 8),
        "feature_refs": torch.zeros(3, 3),
        "handles": torch.zeros(3, 2),
        "image_size": (64, 64),
        "radius": 2,
    }
    arguments.update(bad)
    with pytest.raises((ValueError, TypeError), match=message):
        track_handles(**arguments)


@requires_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_on_cuda(dtype):
    features, references, handles = _drifted_case(32, 64, 256, 5, seed=5)
    features = features.to(device="cuda", dtype=dtype)
    expected = track_handles_reference(
        features.float(), references.cuda(), handles.cuda(), (256, 256), 6
    )
    found = track_handles(features, references.cuda(), handles.cuda(), (256, 256), 6)
    assert (found - expected).abs().max().item() <= 1  # half rounding may pick a neighbour


def test_triton_kernel_with_the_gpu_block_sizes(on_triton, monkeypatch):
    """Several window and channel blocks per handle, as on a GPU (larger blocks interpreted)."""
    monkeypatch.setattr(tracking_triton, "_BLOCK_P", 128)
    monkeypatch.setattr(tracking_triton, "_BLOCK_C", 32)
    features, references, handles = _drifted_case(40, 16, 64, 2, seed=12, device=on_triton)
    expected = track_handles_reference(features, references, handles, (64, 64), 8)  # 289 px
    found = track_handles(features, references, handles, (64, 64), 8)
    _assert_same_or_rounding_tie(features, references, found, expected, 64, "l2")
