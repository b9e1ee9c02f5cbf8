"""The configuration of the Ray Serve application (one place, plain data, checked once)."""

from dataclasses import asdict, dataclass, fields


@dataclass
class ServeConfig:
    checkpoint_dir: str  # shared by every replica: sessions are restored from here
    replicas: int = 2
    checkpoint_every: int = 10  # steps of a running drag between two automatic checkpoints
    lease_s: float = 3.0  # a replica silent this long has lost its sessions to the others
    model: str | None = None  # generator file; None: the bundled model
    backend: str = "reference"
    device: str = "cpu"  # each replica's; "cuda" reserves one GPU per replica
    cpus_per_replica: float = 1.0
    max_sessions: int = 16  # per replica; a new session beyond it is refused (503)
    max_steps: int = 1000  # the largest drag a start may ask for

    def __post_init__(self):
        if not str(self.checkpoint_dir):
            raise ValueError("checkpoint_dir must name a directory every replica can reach")
        for name in ("replicas", "checkpoint_every", "max_sessions", "max_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("lease_s", "cpus_per_replica"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")

    @classmethod
    def from_dict(cls, values: dict) -> "ServeConfig":
        """From `serve run` arguments (strings allowed): unknown keys are an error."""
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}; known: {sorted(known)}")
        converted = {}
        for name, value in values.items():
            kind = known[name]
            if isinstance(value, str) and kind in (int, float):
                try:
                    value = kind(value)
                except ValueError:
                    raise ValueError(f"{name} must be a number, got {value!r}") from None
            converted[name] = value
        return cls(**converted)

    def to_dict(self) -> dict:
        return asdict(self)
