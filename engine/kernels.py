"""Named 2-D kernels a student recognises: identity, Sobel, Gaussian blur, sharpen, Laplacian, emboss, Gabor."""

from __future__ import annotations

import numpy as np

PRESETS = ("identity", "sobel_x", "sobel_y", "gaussian", "sharpen", "laplacian", "emboss", "random")


def _centered(small: np.ndarray, size: int) -> np.ndarray:
    """Place a 3x3 kernel in the middle of a size x size grid of zeros (size odd and >= 3)."""
    out = np.zeros((size, size), np.float32)
    start = (size - 3) // 2
    out[start:start + 3, start:start + 3] = small
    return out


def gaussian(size: int, sigma: float | None = None) -> np.ndarray:
    """exp(-(x² + y²) / 2σ²), normalised to sum 1; σ defaults to size / 6, at least 0.85: at 3x3 that is
    the textbook blur [1 2 1]ᵀ[1 2 1] / 16 (σ = 0.5 kept 62% of the weight in the centre)."""
    sigma = sigma or max(size / 6.0, 0.85)
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma * sigma))
    return (g / g.sum()).astype(np.float32)


def gabor(size: int, angle_degrees: float, wavelength: float | None = None, sigma: float | None = None) -> np.ndarray:
    """exp(-(x'² + y'²) / 2σ²) · cos(2π x' / λ) with x' along the angle; zero mean so flat areas give 0."""
    wavelength = wavelength or size / 1.5
    sigma = sigma or size / 4.0
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    y, x = np.meshgrid(r, r, indexing="ij")
    theta = np.deg2rad(angle_degrees)
    along = x * np.cos(theta) + y * np.sin(theta)
    g = np.exp(-(x * x + y * y) / (2 * sigma * sigma)) * np.cos(2 * np.pi * along / wavelength)
    g -= g.mean()
    return (g / np.abs(g).sum()).astype(np.float32)


def preset(name: str, size: int = 3, seed: int = 0) -> np.ndarray:
    """A size x size float32 kernel by name (see PRESETS); 3x3 designs are centred in larger odd grids."""
    if name not in PRESETS:
        raise ValueError(f"unknown kernel preset {name!r}; presets are {', '.join(PRESETS)}")
    if name == "random":
        return np.random.default_rng(seed).uniform(-1, 1, (size, size)).astype(np.float32)
    if name == "gaussian":
        return gaussian(size)
    if size < 3 or size % 2 == 0:
        raise ValueError(f"preset {name!r} needs an odd size of at least 3, got {size}")
    small = {
        "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
        "sobel_x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
        "sobel_y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
        "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
        "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
        "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
    }[name]
    return _centered(np.asarray(small, np.float32), size)
