"""Element-wise activations and softmax, as in `torch.nn.functional`.

NaN flows through every op as in PyTorch, and no op makes NumPy warn for large,
infinite or NaN inputs.
"""

from __future__ import annotations

import warnings
from numbers import Real

import numpy

from engine.backend import array_module
from engine.shapes import axis, flag


def _check_array(x, name: str = "input") -> None:
    """Raise ValueError unless x is a floating-point array."""
    if not hasattr(x, "dtype") or not hasattr(x, "ndim"):
        raise ValueError(f"{name} must be an array, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise ValueError(f"{name} must be a floating-point array (float32), got dtype {x.dtype}")


# Read-only zeros per dtype, grown to the largest array seen (see `_zeros_like`).
_ZEROS: dict[numpy.dtype, numpy.ndarray] = {}


def _zeros_like(x):
    """A read-only array of zeros with x's shape and dtype: a view of a cached buffer.

    On NumPy `maximum(x, scalar)` takes a slow broadcasting loop, 2x-4x slower on this
    project's machines than `maximum(x, zeros)`, which takes the SIMD loop. The buffer
    comes from `numpy.zeros` and is never written, so the OS usually backs a large one
    with its shared zero page: it costs address space rather than memory.
    """
    zeros = _ZEROS.get(x.dtype)
    if zeros is None or zeros.size < x.size:
        zeros = numpy.zeros(max(x.size, 2**16), dtype=x.dtype)
        zeros.flags.writeable = False
        _ZEROS[x.dtype] = zeros
    return zeros[:x.size].reshape(x.shape)


def relu(x, inplace=False):
    """relu(x) = max(x, 0), element-wise; NaN stays NaN. `inplace` is PyTorch's, taken for its signature:
    the result is always a new array, x is never written."""
    xp = array_module(x)
    _check_array(x)
    flag(inplace, "inplace")
    if xp is numpy:
        return numpy.maximum(x, _zeros_like(x))
    return xp.maximum(x, x.dtype.type(0))


def leaky_relu(x, negative_slope=0.01, inplace=False):
    """leaky_relu(x) = x if x > 0 else negative_slope * x, element-wise (`inplace` as in `relu`)."""
    xp = array_module(x)
    _check_array(x)
    flag(inplace, "inplace")
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, Real):
        raise ValueError(f"negative_slope must be a number, got {negative_slope!r}")
    with numpy.errstate(over="ignore", invalid="ignore"):  # e.g. inf * 0 in the branch where() drops
        scaled = x * x.dtype.type(negative_slope)
    return xp.where(x > 0, x, scaled)


def sigmoid(x):
    """sigmoid(x) = 1 / (1 + exp(-x)), element-wise.

    Computed from e = exp(-|x|), which never overflows: 1 / (1 + e) for x >= 0 and
    e / (1 + e) for x < 0 (the same value, rearranged).
    """
    xp = array_module(x)
    _check_array(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def tanh(x):
    """tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x)), element-wise."""
    xp = array_module(x)
    _check_array(x)
    return xp.tanh(x)


def _shifted_exp(x, xp, dim):
    """(x - max, exp(x - max), sum of exp, finite) along dim, the sum kept as a size-1 axis.

    A slice whose maximum is not finite (it holds NaN or +inf, or is all -inf) is NaN
    in PyTorch; `finite` marks the others. Such slices are replaced by zeros and
    divided by 1 here, so that no overflow or invalid arithmetic makes NumPy warn,
    and the caller sets them to NaN.
    """
    top = xp.max(x, axis=dim, keepdims=True)
    finite = xp.isfinite(top)
    shifted = xp.where(finite, x - xp.where(finite, top, 0), 0)
    exp = xp.exp(shifted)
    total = xp.where(finite, xp.sum(exp, axis=dim, keepdims=True), 1)
    return shifted, exp, total, finite


def softmax_dim(dim, ndim: int) -> int:
    """`dim` as a non-negative axis; None is PyTorch's implicit choice: 0 for 0-, 1- and 3-D inputs, else 1."""
    if dim is None:
        warnings.warn("Implicit dimension choice for softmax has been deprecated in PyTorch; pass dim",
                      UserWarning, stacklevel=3)
        return 0 if ndim in (0, 1, 3) else 1
    return axis(dim, ndim, "dim")


def softmax(x, dim=None):
    """softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m) along `dim`, m = max_j x_j (for stability).

    A slice containing NaN or +inf, or made only of -inf, gives NaN (as in PyTorch). dim=None
    takes PyTorch's implicit axis (see `softmax_dim`); name the axis instead where you can.
    """
    xp = array_module(x)
    _check_array(x)
    dim = softmax_dim(dim, x.ndim)
    if x.size == 0:  # nothing to normalise (the max of an empty axis has no value)
        return x.copy()
    _, exp, total, finite = _shifted_exp(x, xp, dim)
    return xp.where(finite, exp / total, xp.nan).astype(x.dtype, copy=False)


def log_softmax(x, dim=None):
    """log_softmax(x)_i = (x_i - m) - log(sum_j exp(x_j - m)) along `dim`, m = max_j x_j.

    A slice containing NaN or +inf, or made only of -inf, gives NaN (as in PyTorch); dim=None as in `softmax`.
    """
    xp = array_module(x)
    _check_array(x)
    dim = softmax_dim(dim, x.ndim)
    if x.size == 0:
        return x.copy()
    shifted, _, total, finite = _shifted_exp(x, xp, dim)
    return xp.where(finite, shifted - xp.log(total), xp.nan).astype(x.dtype, copy=False)
