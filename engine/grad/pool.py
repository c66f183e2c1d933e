"""Backward of max_pool2d and avg_pool2d.

Max pooling passes each output's gradient to the one input cell that won its window
(the argmax positions the forward pass returns); a cell that wins several overlapping
windows collects the sum. Average pooling spreads each output's gradient evenly over
its window: every cell gets dL/dy / count from each window that covers it.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.backend import array_module
from engine.functional.pool import _pool_geometry, check_divisor_override, window_divisors
from engine.shapes import check_input


def _check_input_shape(input_shape, grad_output) -> tuple[int, int, int, int]:
    """input_shape as a 4-tuple (N, C, H, W) that agrees with grad_output's N and C, or ValueError."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"input_shape must be (N, C, H, W) with positive sizes, got {tuple(input_shape)}")
    if shape[:2] != tuple(grad_output.shape[:2]):
        raise ValueError(f"grad_output has (N, C) = {tuple(grad_output.shape[:2])} but input_shape {shape} "
                         f"has {shape[:2]}")
    return shape


def max_pool2d_backward(grad_output, indices, input_shape, overlapping=True):
    """Gradient of y = max_pool2d(x, ...) with respect to x, from the argmax positions.

        dL/dx[n, c, h, w] = sum over outputs (i, j) with indices[n, c, i, j] = h*W + w of dL/dy[n, c, i, j]

    `indices` are those max_pool2d(..., return_indices=True) returns: flat positions in
    each channel's H*W. With positions flattened across (n, c), the sum is one bincount,
    which adds up overlapping windows that share a winner (faster than a scatter-add).
    overlapping=False promises that windows do not overlap (dilation*(kernel - 1) < stride
    on both axes, as in the usual 2x2 stride-2 pool), so no cell wins twice and a plain
    scatter, about 10x faster than the bincount, gives the same result.
    """
    xp = array_module(grad_output)
    check_input(grad_output, "grad_output", 4)
    if not hasattr(indices, "shape") or tuple(indices.shape) != tuple(grad_output.shape):
        raise ValueError(f"indices must have grad_output's shape {tuple(grad_output.shape)}, "
                         f"got {tuple(getattr(indices, 'shape', ()))}")
    if indices.dtype.kind not in "iu":
        raise ValueError(f"indices must be an integer array, got dtype {indices.dtype}")
    n, c, h, w = _check_input_shape(input_shape, grad_output)
    planes = n * c
    plane_start = (xp.arange(planes, dtype=xp.int64) * (h * w)).reshape(n, c, 1, 1)
    positions, values = (indices + plane_start).ravel(), grad_output.ravel()
    inside = ((indices >= 0) & (indices < h * w)).ravel()
    if not bool(inside.all()):  # a dilated window wholly in the padding has no winner (its output is -inf)
        positions, values = positions[inside], values[inside]
    if not overlapping:
        grad_x = xp.zeros(planes * h * w, dtype=grad_output.dtype)
        grad_x[positions] = values
        return grad_x.reshape(n, c, h, w)
    sums = xp.bincount(positions, weights=values, minlength=planes * h * w)
    return sums.astype(grad_output.dtype, copy=False).reshape(n, c, h, w)


@dataclass(frozen=True)
class _Shape:
    """Stands for the input in `_pool_geometry`, which reads only its shape."""

    shape: tuple[int, ...]


def _spread(values, xp, axis: int, kernel: int, stride: int, size: int):
    """The adjoint of taking `kernel` strided windows along `axis`: out[i*stride + p] += values[i] for p < kernel."""
    shape = list(values.shape)
    shape[axis] = size
    out = xp.zeros(shape, dtype=values.dtype)
    count = values.shape[axis]
    for p in range(kernel):
        index = [slice(None)] * 4
        index[axis] = slice(p, p + (count - 1) * stride + 1, stride)
        out[tuple(index)] += values
    return out


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """Gradient of y = avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override).

        dL/dx[n, c, h, w] = sum over windows (i, j) covering (h, w) of dL/dy[n, c, i, j] / count[i, j]

    count is the forward's divisor (see avg_pool2d). The division is done once per output;
    the spreading is separable, over the kernel's columns and then its rows (kH + kW strided
    adds into the padded input), and the padding is cropped at the end.
    """
    xp = array_module(grad_output)
    check_input(grad_output, "grad_output", 4)
    shape = _check_input_shape(input_shape, grad_output)
    check_divisor_override(divisor_override)
    kernel, stride, padding, _, out = _pool_geometry(_Shape(shape), kernel_size, stride, padding, 1, ceil_mode)
    if tuple(grad_output.shape[2:]) != out:
        raise ValueError(f"grad_output must have the pooled size {out} for input_shape {shape}, "
                         f"got {tuple(grad_output.shape[2:])}")
    scaled = grad_output / window_divisors(xp, shape[2:], kernel, stride, padding, out, count_include_pad,
                                           divisor_override, grad_output.dtype)
    # The padded extent the windows reach (ceil_mode windows may run past the padded input).
    reach = [max((out[a] - 1) * stride[a] + kernel[a], shape[2 + a] + padding[a]) for a in range(2)]
    columns = _spread(scaled, xp, 3, kernel[1], stride[1], reach[1])
    padded = _spread(columns, xp, 2, kernel[0], stride[0], reach[0])
    return xp.ascontiguousarray(padded[:, :, padding[0]:padding[0] + shape[2], padding[1]:padding[1] + shape[3]])
