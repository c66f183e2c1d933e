"""Lamina's engine: layer maths on NumPy (CPU) or CuPy (GPU), with no web code."""

from engine.backend import array_module, get_backend, set_backend, to_numpy

__all__ = ["array_module", "get_backend", "set_backend", "to_numpy"]
__version__ = "0.1.0"
