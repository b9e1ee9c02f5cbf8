"""`DragSession`: an interactive drag on one generator (`drag_session`), the validation of what
users pass it (`inputs`), its state dict (`state`) and its files (`saved_session`, `file_format`:
JSON + npz, no pickle)."""

from draggan_fast.session.drag_session import DragSession
from draggan_fast.step.result import StepResult

__all__ = ["DragSession", "StepResult"]
