"""Backward of the fully connected map y = x W^T + b."""

from __future__ import annotations

from engine.backend import array_module
from engine.functional.linear import _check_linear


def linear_backward(grad_output, x, weight, need_input_grad=True):
    """Gradients of y = linear(x, weight, bias) for x of shape (N, F) or (N, T, F) (the map acts on the last axis).

    With the leading axes flattened into rows (x2 of shape (R, F), dL/dy2 of shape (R, O)):

        dL/dx = dL/dy W                 (same shape as x; None when need_input_grad is False)
        dL/dW = (dL/dy2)^T x2           (O, F), C-contiguous whatever W's memory order
        dL/db = sum over rows of dL/dy2 (O,)

    Returns (dL/dx, dL/dW, dL/db) in grad_output's dtype.
    """
    xp = array_module(grad_output)
    if not hasattr(grad_output, "dtype") or grad_output.dtype.kind != "f":
        raise ValueError(f"grad_output must be a floating-point array, got {getattr(grad_output, 'dtype', None)}")
    _check_linear(x, weight, None)
    dtype = grad_output.dtype
    x, weight = x.astype(dtype, copy=False), weight.astype(dtype, copy=False)
    expected = (*x.shape[:-1], weight.shape[0])
    if tuple(grad_output.shape) != expected:
        raise ValueError(f"grad_output must have the output's shape {expected}, got {tuple(grad_output.shape)}")
    rows_grad = grad_output.reshape(-1, weight.shape[0])
    rows_x = x.reshape(-1, weight.shape[1])
    grad_weight = xp.matmul(rows_grad.T, rows_x)
    grad_bias = rows_grad.sum(axis=0)
    grad_x = xp.matmul(grad_output, weight) if need_input_grad else None
    return grad_x, grad_weight, grad_bias
