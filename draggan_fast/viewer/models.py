"""The generators a viewer may serve: only files named at start (--model, --models-dir).

Clients choose a model by name from the list the server announces; a path from a client is
never opened. Each generator loads once, on first use, and is shared read-only by the sessions.
"""

import threading
from pathlib import Path

MODEL_SUFFIXES = (".safetensors", ".pkl", ".pt", ".pth")


class ModelRegistry:
    """name -> model file, plus a cache of the loaded generators on one device."""

    def __init__(self, paths=(), models_dir=None, device="cpu", generators=None):
        """paths: model files; models_dir: a folder whose model files are offered too;
        generators: {name: already loaded Generator} (for embedding and tests)."""
        self.device = device
        self._files = {}
        self._loaded = dict(generators or {})
        self._lock = threading.Lock()
        for path in paths:
            self._add_file(Path(path))
        if models_dir is not None:
            folder = Path(models_dir)
            if not folder.is_dir():
                raise FileNotFoundError(f"models folder {folder} does not exist")
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix.lower() in MODEL_SUFFIXES:
                    self._add_file(path)
        if not self.names:
            raise ValueError("no model to serve: give --model PATH or a --models-dir with models")

    def _add_file(self, path: Path):
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} does not exist")
        name = path.name
        if name in self._files or name in self._loaded:
            raise ValueError(f"two models are named {name!r}; rename one")
        self._files[name] = path

    @property
    def names(self) -> list[str]:
        return [*self._loaded, *(n for n in self._files if n not in self._loaded)]

    @property
    def default_name(self) -> str:
        return self.names[0]

    def get(self, name: str):
        """The generator called `name`, loaded on first use (ValueError for an unknown name)."""
        with self._lock:
            if name in self._loaded:
                return self._loaded[name]
            if name not in self._files:
                raise ValueError(f"unknown model {name!r}; this server offers {self.names}")
            from draggan_fast import load_generator

            self._loaded[name] = load_generator(self._files[name], device=self.device)
            return self._loaded[name]
