"""Seeded parameter initialisation, as PyTorch's default: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))."""

from __future__ import annotations

import math

import numpy as np

from engine.backend import get_backend


def uniform(shape: tuple[int, ...], fan_in: int, rng: np.random.Generator):
    """A float32 array on the active backend, uniform in +-1/sqrt(fan_in) (PyTorch's default bound)."""
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    values = rng.uniform(-bound, bound, size=shape).astype(np.float32)
    return get_backend().xp.asarray(values)


def constant(shape: tuple[int, ...], value: float):
    """A float32 array on the active backend filled with `value`."""
    return get_backend().xp.full(shape, value, dtype=np.float32)
