"""Backward of pad, interpolate and dropout in training.

Flatten and Unflatten only reshape, so their backward is the reverse reshape (done in the layers).
"""

from __future__ import annotations

from numbers import Real

from engine.backend import array_module
from engine.functional.reshape import (_check_float_array, _linear_taps, _nearest_indices, check_interpolate_mode,
                                      interpolate_size, pad_sources, pad_widths)
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


def interpolation_matrix(xp, size_in: int, size_out: int, scale, mode: str, align_corners: bool, dtype):
    """The (size_out, size_in) matrix A of interpolation along one axis, so that interpolate(x) = A_h @ x @ A_w^T
    on every (H, W) plane. Row i holds the weights output i gives its input taps: one 1 for nearest, the two
    bilinear weights otherwise (see `_nearest_indices` and `_linear_taps` in engine/functional/reshape.py);
    scale is the scale factor the forward used, or None (from a size).
    """
    matrix = xp.zeros((size_out, size_in), dtype=dtype)
    rows = xp.arange(size_out)
    if mode == "nearest":
        matrix[rows, _nearest_indices(xp, size_in, size_out, scale)] = 1
        return matrix
    first, second, weight_first, weight_second = _linear_taps(xp, size_in, size_out, scale, align_corners, dtype)
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


def interpolate_backward(grad_output, input_shape, size=None, scale_factor=None, mode="nearest", align_corners=None,
                         recompute_scale_factor=None):
    """Gradient of y = interpolate(x, size, scale_factor, mode, align_corners, recompute_scale_factor) w.r.t. x.

    y = A_h x A_w^T on every plane (see `interpolation_matrix`), so dL/dx = A_h^T dL/dy A_w. Nearest
    upsampling by whole factors reads x[i // s], so there dL/dx[h, w] is the sum of dL/dy over the
    sH x sW block at (h*sH, w*sW), summed directly.
    """
    xp = array_module(grad_output)
    check_input(grad_output, "grad_output", 4)
    check_interpolate_mode(mode, align_corners)
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 4:
        raise ValueError(f"input_shape must be (N, C, H, W), got {tuple(input_shape)}")
    out, scales = interpolate_size(shape[2:], size, scale_factor, recompute_scale_factor)
    if tuple(grad_output.shape) != (*shape[:2], *out):
        raise ValueError(f"grad_output must have shape {(*shape[:2], *out)} for input_shape {shape}, size {size!r} "
                         f"and scale_factor {scale_factor!r}, got {tuple(grad_output.shape)}")
    whole = [scale is not None and scale.is_integer() and n * int(scale) == m
             for scale, n, m in zip(scales, shape[2:], out)]
    if mode == "nearest" and all(whole):
        return _sum_blocks(_sum_blocks(grad_output, xp, 2, int(scales[0])), xp, 3, int(scales[1]))
    rows, cols = (interpolation_matrix(xp, n, m, scale, mode, bool(align_corners), grad_output.dtype)
                  for n, m, scale in zip(shape[2:], out, scales))
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
