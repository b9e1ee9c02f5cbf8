"""One DragGAN drag step and the backends that run it.

`backend` holds the seam a `DragSession` talks to (DragState, DragConfig, FeatureReferences,
StepBackend, create_backend); `reference` is the official step in plain PyTorch; `fast` the
same step on the fused drag ops, replayed on CUDA as a graph by `cuda_graph`; `result` the
StepResult a step reports. Backends are imported on first use (see `backend.create_backend`),
so importing this package imports no kernel.
"""
