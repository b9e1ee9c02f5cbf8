"""G_ema of a training run -> the package's generator file (`save_generator`'s safetensors)."""

from pathlib import Path

from draggan_fast.stylegan.networks import Generator
from draggan_fast.stylegan.training.checkpoint import load_network_state, read_checkpoint


def inference_copy(generator: Generator, num_fp16_res: int = 0) -> Generator:
    """A CPU float32 copy of `generator` with its float16 blocks switched off by default.

    `num_fp16_res` changes no parameter, only the compute dtype of the top blocks on CUDA.
    """
    kwargs = {**generator.init_kwargs, "num_fp16_res": num_fp16_res}
    copy = Generator(**kwargs)
    state = {k: v.detach().float().cpu() for k, v in generator.state_dict().items()}
    copy.load_state_dict(state, strict=True)
    return copy.eval().requires_grad_(False)


def export_generator(generator: Generator, path) -> Path:
    from draggan_fast.stylegan.loading import save_generator

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_generator(inference_copy(generator), path)
    return path


def export_checkpoint(checkpoint_path, path) -> Path:
    """Export the G_ema of a training checkpoint (.json or .safetensors of the pair)."""
    tensors, meta = read_checkpoint(checkpoint_path)
    generator = Generator(**meta["G_kwargs"])
    load_network_state(generator, tensors, "G_ema")
    return export_generator(generator, path)


__all__ = ["export_checkpoint", "export_generator", "inference_copy"]
