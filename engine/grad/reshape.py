"""Backward of pad, interpolate (integer scale factors, as Upsample uses) and dropout in training.

Flatten and Unflatten only reshape, so their backward is the reverse reshape (done in the layers).
"""

from __future__ import annotations

from numbers import Real

from engine.backend import array_module
from engine.functional.reshape import _check_float_array, _linear_taps, pad_sources, pad_widths
from engine.shapes import check_input


def pad_backward(grad_output, input_shape, pad, mode="constant"):
    """Gradient of y = pad(x, pad, mode) with respect to x.

        dL/dx[s] = sum over the padded cells i that read s of dL/dy[i]

    constant padding reads nothing from x, so its gradient is the interior of dL/dy. The other modes
    add each border cell's gradient to the input cell it copied, one padded axis at a time.
    """
    xp = array_module(grad_output)
    _check_float_array(grad_output, "grad_output")
    shape = tuple(int(s) for s in input_shape)
    widths = pad_widths(shape, pad, mode)
    first = len(shape) - len(widths)
    expected = shape[:first] + tuple(n + b + a for n, (b, a) in zip(shape[first:], widths))
    if tuple(grad_output.shape) != expected:
        raise ValueError(f"grad_output must have the padded shape {expected}, got {tuple(grad_output.shape)}")
    grad = grad_output
    for k, (before, after) in enumerate(widths):
        axis, size = first + k, shape[first + k]
        inside = [slice(None)] * grad.ndim
        inside[axis] = slice(before, before + size)
        folded = grad[tuple(inside)].copy()
        if mode != "constant":
            sources = pad_sources(size, before, after, mode)
            for cell in [*range(before), *range(before + size, before + size + after)]:
                into, read = [slice(None)] * grad.ndim, [slice(None)] * grad.ndim
                into[axis], read[axis] = int(sources[cell]), cell
                folded[tuple(into)] += grad[tuple(read)]
        grad = folded
    return grad


def _integer_scales(scale_factor) -> tuple[int, int]:
    """(scale_h, scale_w) as positive ints, from an int or a pair of ints (floats with integer values too)."""
    scales = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
    if (len(scales) != 2 or any(isinstance(s, bool) or not isinstance(s, Real) for s in scales)
            or any(not float(s).is_integer() or s < 1 for s in scales)):
        raise ValueError(f"scale_factor must be a positive integer or a pair of them, got {scale_factor!r}")
    return int(scales[0]), int(scales[1])


def interpolation_matrix(xp, size_in: int, scale: int, align_corners: bool, dtype):
    """The (size_in * scale, size_in) matrix A of bilinear interpolation along one axis.

    Row i holds the two weights interpolate gives output i (see `_linear_taps` in
    engine/functional/reshape.py), so that bilinear interpolate(x) = A_h @ x @ A_w^T on
    every (H, W) plane.
    """
    size_out = size_in * scale
    first, second, weight_first, weight_second = _linear_taps(xp, size_in, size_out, float(scale), align_corners,
                                                               dtype)
    matrix = xp.zeros((size_out, size_in), dtype=dtype)
    rows = xp.arange(size_out)
    matrix[rows, first] += weight_first
    matrix[rows, second] += weight_second  # a separate statement, so first == second adds up
    return matrix


def _sum_blocks(values, xp, axis: int, scale: int):
    """Sum every `scale` consecutive entries along `axis` (the adjoint of repeating each entry `scale` times)."""
    index = [slice(None)] * 4
    index[axis] = slice(0, None, scale)
    total = values[tuple(index)].copy()
    for offset in range(1, scale):
        index[axis] = slice(offset, None, scale)
        total += values[tuple(index)]
    return total


def interpolate_backward(grad_output, input_shape, scale_factor, mode="nearest", align_corners=None):
    """Gradient of y = interpolate(x, scale_factor=s, mode=mode, align_corners=...) for integer s.

    nearest:  y[i, j] = x[i // sH, j // sW], so dL/dx[h, w] = sum of dL/dy over the sH x sW block
              starting at (h*sH, w*sW).
    bilinear: y = A_h x A_w^T per plane (see `interpolation_matrix`), so dL/dx = A_h^T dL/dy A_w.
    """
    xp = array_module(grad_output)
    check_input(grad_output, "grad_output", 4)
    scales = _integer_scales(scale_factor)
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 4:
        raise ValueError(f"input_shape must be (N, C, H, W), got {tuple(input_shape)}")
    expected = (*shape[:2], shape[2] * scales[0], shape[3] * scales[1])
    if tuple(grad_output.shape) != expected:
        raise ValueError(f"grad_output must have shape {expected} for input_shape {shape} and scale_factor "
                         f"{scale_factor!r}, got {tuple(grad_output.shape)}")
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError(f"align_corners can only be set with mode 'bilinear', got {align_corners!r}")
        return _sum_blocks(_sum_blocks(grad_output, xp, 2, scales[0]), xp, 3, scales[1])
    if mode != "bilinear":
        raise ValueError(f"mode must be one of nearest, bilinear, got {mode!r}")
    rows = interpolation_matrix(xp, shape[2], scales[0], bool(align_corners), grad_output.dtype)
    cols = interpolation_matrix(xp, shape[3], scales[1], bool(align_corners), grad_output.dtype)
    return xp.matmul(rows.T, xp.matmul(grad_output, cols))


def _check_p(p) -> float:
    if isinstance(p, bool) or not isinstance(p, Real) or not 0 <= p <= 1:
        raise ValueError(f"dropout probability p must be between 0 and 1, got {p!r}")
    return float(p)


def dropout_train(x, p, rng=None):
    """Inverted dropout in training: returns (y, mask) with mask 0 or 1 (x's dtype) and

        y = x * mask / (1 - p),   mask ~ Bernoulli(1 - p) per element   (p = 1: y = x * 0)

    rng is a seed (int) or a Generator of x's array module; the mask is drawn as
    engine.functional.reshape.dropout draws it, so the same seed gives the same y.
    """
    xp = array_module(x)
    _check_float_array(x)
    p = _check_p(p)
    if p == 1:
        return x * x.dtype.type(0), xp.zeros(x.shape, dtype=x.dtype)
    if p == 0:
        return x, xp.ones(x.shape, dtype=x.dtype)
    generator = rng if isinstance(rng, xp.random.Generator) else xp.random.default_rng(rng)
    mask = (generator.random(x.shape, dtype=xp.float32) >= p).astype(x.dtype)
    return x * (mask * (x.dtype.type(1) / x.dtype.type(1 - p))), mask


def dropout_backward(grad_output, mask, p):
    """dL/dx = dL/dy * mask / (1 - p) (zeros for p = 1), with mask from dropout_train."""
    _check_float_array(grad_output, "grad_output")
    p = _check_p(p)
    if tuple(mask.shape) != tuple(grad_output.shape):
        raise ValueError(f"mask has shape {tuple(mask.shape)} but grad_output has {tuple(grad_output.shape)}")
    if p == 1:
        return grad_output * grad_output.dtype.type(0)
    dtype = grad_output.dtype
    return grad_output * (mask.astype(dtype, copy=False) * (dtype.type(1) / dtype.type(1 - p)))
