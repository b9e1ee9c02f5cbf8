"""What a viewer session holds in memory, counted for the server's /healthz report.

A walk from a session's worker over the objects of this package it holds (the DragSession, its
optimizer, the drag recording, the undo history of replaced images) adding up the tensors and
arrays it reaches, each storage once. Generators (torch modules) are shared by every session
and not counted. The walk reads objects another thread
may be changing: a walk that trips over a change is retried, and None says it never settled.
"""

import collections

import numpy as np
import torch

_MAX_OBJECTS = 200_000  # a walk visits at most this many objects
_RETRIES = 3


def held_bytes(*roots) -> int | None:
    """Bytes of tensor storage and array data reachable from `roots` (None: not measurable now,
    the objects kept changing under the walk)."""
    for _ in range(_RETRIES):
        try:
            return _walk(roots)
        except RuntimeError:  # a dict or deque changed size while it was read
            continue
    return None


def _walk(roots) -> int:
    total = 0
    seen_objects, seen_storages = set(), set()
    pending = collections.deque(roots)
    while pending and len(seen_objects) < _MAX_OBJECTS:
        thing = pending.pop()
        if thing is None or id(thing) in seen_objects:
            continue
        seen_objects.add(id(thing))
        if isinstance(thing, torch.Tensor):
            storage = thing.untyped_storage()
            key = (storage.data_ptr(), thing.device.type)
            if key not in seen_storages:
                seen_storages.add(key)
                total += storage.nbytes()
        elif isinstance(thing, np.ndarray):
            base = thing if thing.base is None else thing.base
            if isinstance(base, np.ndarray) and id(base) not in seen_storages:
                seen_storages.add(id(base))
                total += base.nbytes
        elif isinstance(thing, (bytes, bytearray)):
            total += len(thing)
        elif isinstance(thing, dict):
            pending.extend(list(thing.values()))
        elif isinstance(thing, (list, tuple, set, frozenset, collections.deque)):
            pending.extend(list(thing))
        elif isinstance(thing, torch.nn.Module):
            continue  # the generator: shared by all sessions
        elif isinstance(thing, torch.optim.Optimizer):
            pending.extend(list(thing.state.values()))
        elif type(thing).__module__.startswith("draggan_fast") and hasattr(thing, "__dict__"):
            pending.extend(list(vars(thing).values()))
    return total
