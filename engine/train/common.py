"""What the training recipes share: a built-in's untrained network, its parameter count, digit shifts."""

from __future__ import annotations

import numpy as np

from engine.models import BUILTIN_MODELS
from engine.network import Sequential
from engine.spec import network_from_spec


def untrained(name: str, seed: int) -> Sequential:
    """The built-in network `name` with seeded initial weights (PyTorch's default initialisation)."""
    return network_from_spec(BUILTIN_MODELS[name].spec(), seed=seed)


def parameter_count(network: Sequential) -> int:
    return sum(int(value.size) for value in network.parameters().values())


MAX_SHIFT = 2


def random_shifts(images: np.ndarray, rng: np.random.Generator, max_shift: int = MAX_SHIFT) -> np.ndarray:
    """Each (1, H, W) image moved by its own random whole-pixel offset in [-max_shift, max_shift], zeros shifted in."""
    n, _, height, width = images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    rows = dy[:, None] + np.arange(height)  # (n, H): the padded rows each output row reads
    cols = dx[:, None] + np.arange(width)
    return padded[np.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]][:, None]
