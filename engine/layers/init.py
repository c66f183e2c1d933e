"""Seeded parameter initialisation, as PyTorch's default: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))."""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager

import numpy as np

from engine.backend import get_backend

_state = threading.local()


@contextmanager
def placeholder_weights():
    """Within this block (in this thread), `uniform` gives read-only zeros that cost neither time nor memory.

    For checking a whole spec's shapes before building it for real: a spec refused at its last
    layer must not first draw millions of random weights for the layers before it.
    """
    before = getattr(_state, "placeholder", False)
    _state.placeholder = True
    try:
        yield
    finally:
        _state.placeholder = before


def is_placeholder(array) -> bool:
    """Whether `array` came from `uniform` inside `placeholder_weights` (one value seen through zero strides)."""
    return array.size > 1 and not any(array.strides)


def uniform(shape: tuple[int, ...], fan_in: int, rng: np.random.Generator):
    """A float32 array on the active backend, uniform in +-1/sqrt(fan_in) (PyTorch's default bound)."""
    if getattr(_state, "placeholder", False):
        return np.broadcast_to(np.float32(0), shape)  # one value seen through zero strides
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    values = rng.uniform(-bound, bound, size=shape).astype(np.float32)
    return get_backend().xp.asarray(values)


def constant(shape: tuple[int, ...], value: float):
    """A float32 array on the active backend filled with `value`."""
    return get_backend().xp.full(shape, value, dtype=np.float32)
