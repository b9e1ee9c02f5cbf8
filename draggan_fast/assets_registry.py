"""The files bundled in the package: the default generator and its landmark detector.

`default_model_path()` is the project's own StyleGAN2, trained on the procedural cartoon faces
(docs/default-model.md); `default_detector_path()` finds those faces' named landmarks.
Both ship inside the package (draggan_fast/assets/), so a fresh install needs no network.
"""

from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_MODEL = "default_model.safetensors"
DEFAULT_DETECTOR = "landmark_detector.safetensors"


def _asset(name: str) -> Path:
    path = ASSETS / name
    if not path.is_file():
        raise FileNotFoundError(
            f"bundled asset {path} is missing: the package was installed without its assets "
            "(reinstall it, or pass a model path explicitly)"
        )
    return path


def default_model_path() -> Path:
    """Path of the bundled default generator (draggan-fast safetensors format)."""
    return _asset(DEFAULT_MODEL)


def default_detector_path() -> Path:
    """Path of the bundled landmark detector for the default model's faces."""
    return _asset(DEFAULT_DETECTOR)
