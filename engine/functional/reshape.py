"""Ops that move values without weights: flatten, dropout, pad and interpolate (nearest, bilinear)."""

from __future__ import annotations

import math
from numbers import Real

import numpy

from engine.backend import array_module
from engine.shapes import axis, check_input, positive_pair


def _check_float_array(x, name: str = "input") -> None:
    """Raise ValueError unless x is a floating-point array."""
    if not hasattr(x, "dtype") or not hasattr(x, "ndim"):
        raise ValueError(f"{name} must be an array, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise ValueError(f"{name} must be a floating-point array (float32), got dtype {x.dtype}")


def flatten(x, start_dim=1, end_dim=-1):
    """Merge the axes start_dim..end_dim (inclusive) into one, as `torch.flatten` / `nn.Flatten`.

        (N, C, H, W) with start_dim=1, end_dim=-1  ->  (N, C*H*W),  y[n, c*H*W + h*W + w] = x[n, c, h, w]

    Returns a view when the memory layout allows, like PyTorch.
    """
    _check_float_array(x)
    start, end = axis(start_dim, x.ndim, "start_dim"), axis(end_dim, x.ndim, "end_dim")
    if start > end:
        raise ValueError(f"start_dim {start_dim} comes after end_dim {end_dim} for a {x.ndim}-D input")
    shape = tuple(x.shape)
    return x.reshape(shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])


def dropout(x, p=0.5, training=False, rng=None):
    """Inverted dropout, as `torch.nn.functional.dropout` (note: training defaults to False here).

    At inference (training=False), or with p = 0, returns x itself. In training:

        y = x * mask / (1 - p),   mask[i] ~ Bernoulli(1 - p) drawn independently

    so E[y] = x. `rng` is a seed (int) or a Generator of x's array module; the same
    seed gives the same mask. p = 1 gives x * 0.
    """
    xp = array_module(x)
    _check_float_array(x)
    if isinstance(p, bool) or not isinstance(p, Real) or not 0 <= p <= 1:
        raise ValueError(f"dropout probability p must be between 0 and 1, got {p!r}")
    if not isinstance(training, bool):
        raise ValueError(f"training must be True or False, got {training!r}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * x.dtype.type(0)
    if rng is not None and not isinstance(rng, xp.random.Generator) and (
            isinstance(rng, bool) or not isinstance(rng, (int, numpy.integer))):
        raise ValueError(f"rng must be None, an int seed or a {xp.__name__}.random.Generator, got {rng!r}")
    generator = rng if isinstance(rng, xp.random.Generator) else xp.random.default_rng(rng)
    keep = generator.random(x.shape, dtype=xp.float32) >= p
    noise = keep.astype(x.dtype) * (x.dtype.type(1) / x.dtype.type(1 - p))
    return x * noise


PAD_MODES = ("constant", "reflect", "replicate", "circular")
# numpy.pad's names for the same rules, used on an arange to find where each padded cell reads.
_NUMPY_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad_widths(x_shape, pad, mode: str) -> list[tuple[int, int]]:
    """pad (left, right[, top, bottom]) as (before, after) per padded axis, first axis first, checked.

    ValueError names what is wrong: a width that is not a non-negative int, an unknown mode, an input
    without a leading axis to keep, or a width the mode cannot fill (reflect needs it below the axis's
    size, circular at most the size, replicate a non-empty axis).
    """
    if mode not in PAD_MODES:
        raise ValueError(f"mode must be one of {', '.join(PAD_MODES)}, got {mode!r}")
    if (not isinstance(pad, (tuple, list)) or len(pad) not in (2, 4)
            or any(isinstance(p, bool) or not isinstance(p, (int, numpy.integer)) or p < 0 for p in pad)):
        raise ValueError(f"pad must be (left, right) or (left, right, top, bottom) of non-negative ints, got {pad!r}")
    axes = len(pad) // 2
    if len(x_shape) <= axes:
        raise ValueError(f"pad {tuple(pad)} pads the last {axes} axes of an input with more axes, "
                         f"got shape {tuple(x_shape)}")
    widths = [(int(pad[2 * k]), int(pad[2 * k + 1])) for k in range(axes)][::-1]
    for size, (before, after) in zip(x_shape[-axes:], widths):
        if mode == "reflect" and max(before, after) >= size:
            raise ValueError(f"reflect padding must be less than the input's size on its axis: {before} and "
                             f"{after} on an axis of {size}")
        if mode == "circular" and max(before, after) > size:
            raise ValueError(f"circular padding must be at most the input's size on its axis: {before} and "
                             f"{after} on an axis of {size}")
        if mode == "replicate" and size == 0 and before + after:
            raise ValueError("replicate padding needs a non-empty axis to copy from")
    return widths


def pad_sources(size: int, before: int, after: int, mode: str):
    """For each cell of a padded axis, the input index it copies (a host int array), for mode != constant."""
    return numpy.pad(numpy.arange(size), (before, after), mode=_NUMPY_PAD_MODES[mode])


def pad(x, pad, mode="constant", value=0.0):
    """Pad the last one or two axes, as `torch.nn.functional.pad` with a pad of length 2 or 4.

    pad = (left, right) pads the last axis, (left, right, top, bottom) the last two; with s the
    input index a padded cell reads (i the padded index, n the axis's size, i' = i - before):

        constant:  the cell is `value`            reflect:   s = |i'| mirrored at 0 and n - 1, edge not repeated
        replicate: s = clamp(i', 0, n - 1)        circular:  s = i' mod n
    """
    xp = array_module(x)
    _check_float_array(x)
    widths = pad_widths(tuple(x.shape), pad, mode)
    first = x.ndim - len(widths)
    if mode == "constant":
        full = [(0, 0)] * first + widths
        return xp.pad(x, full, mode="constant", constant_values=x.dtype.type(value))
    out = x
    for k, (before, after) in enumerate(widths):
        sources = xp.asarray(pad_sources(x.shape[first + k], before, after, mode))
        out = xp.take(out, sources, axis=first + k)
    return out


_MODES = ("nearest", "bilinear")


def check_resize(size=None, scale_factor=None, recompute_scale_factor=None) -> tuple[float, float] | None:
    """Check interpolate's size and scale arguments on their own (no input needed); return the scales, if any."""
    if (size is None) == (scale_factor is None):
        raise ValueError("exactly one of size or scale_factor must be given, got "
                         f"size={size!r} and scale_factor={scale_factor!r}")
    if recompute_scale_factor not in (None, False, True):
        raise ValueError(f"recompute_scale_factor must be True, False or None, got {recompute_scale_factor!r}")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size")
        positive_pair(size, "size")
        return None
    scales = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
    if (len(scales) != 2 or any(isinstance(s, bool) or not isinstance(s, Real) for s in scales)
            or not all(0 < s < math.inf for s in scales)):
        raise ValueError(f"scale_factor must be a positive number or a pair of them, got {scale_factor!r}")
    return float(scales[0]), float(scales[1])


def interpolate_size(input_size, size=None, scale_factor=None, recompute_scale_factor=None):
    """((H_out, W_out), (scale_h, scale_w)) of an interpolation of an (H, W) input, checked.

    From `size`, or floor(H * scale_factor) with the scales kept for the coordinate mapping (None for
    a size, or with recompute_scale_factor=True: then the mapping uses H / H_out, as from a size).
    """
    scales = check_resize(size, scale_factor, recompute_scale_factor)
    if scales is None:
        return positive_pair(size, "size"), (None, None)
    products = [float(n) * s for n, s in zip(input_size, scales)]
    if not all(math.isfinite(p) for p in products):
        raise ValueError(f"output size would be unbounded: input {tuple(input_size)} times scale_factor "
                         f"{scale_factor!r}")
    out = tuple(math.floor(p) for p in products)
    if min(out) < 1:
        raise ValueError(f"output size {out} would be empty: input {tuple(input_size)} times "
                         f"scale_factor {scale_factor!r}")
    return out, (None, None) if recompute_scale_factor else scales


def check_align_corners(align_corners) -> None:
    """align_corners is True, False or None."""
    if align_corners is not None and not isinstance(align_corners, bool):
        raise ValueError(f"align_corners must be True, False or None, got {align_corners!r}")


def check_interpolate_mode(mode, align_corners) -> None:
    """mode nearest or bilinear; align_corners True, False or None, and None with nearest (as PyTorch)."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
    check_align_corners(align_corners)
    if mode == "nearest" and align_corners is not None:
        raise ValueError(f"align_corners can only be set with mode 'bilinear', got align_corners={align_corners!r} "
                         "with mode 'nearest'")


def _source_scale(xp, size_in, size_out, scale):
    """PyTorch's float32 ratio from output to input coordinates: 1/scale_factor if given, else in/out."""
    if scale is not None:
        return xp.float32(1.0 / scale)
    return xp.float32(size_in) / xp.float32(size_out)


def _nearest_indices(xp, size_in, size_out, scale):
    """src[i] = min(floor(i * ratio), size_in - 1), computed in float32 as PyTorch does."""
    ratio = _source_scale(xp, size_in, size_out, scale)
    source = xp.floor(xp.arange(size_out, dtype=xp.float32) * ratio).astype(xp.int64)
    return xp.minimum(source, size_in - 1)


def _linear_taps(xp, size_in, size_out, scale, align_corners, dtype):
    """Two input taps and their weights for each output position along one axis, as PyTorch computes them.

    align_corners=True:  src = i * (in - 1) / (out - 1)
    align_corners=False: src = max((i + 0.5) * ratio - 0.5, 0), ratio = 1/scale_factor or in/out
    i0 = min(floor(src), in - 1), i1 = i0 + 1 (or i0 itself at the last row), w1 = src - i0, w0 = 1 - w1.
    An axis whose size does not change copies: i1 = i0, w1 = 0.
    """
    positions = xp.arange(size_out, dtype=xp.int64)
    if size_in == size_out:
        return positions, positions, xp.ones(size_out, dtype), xp.zeros(size_out, dtype)
    index = positions.astype(xp.float32)
    if align_corners:
        ratio = xp.float32(size_in - 1) / xp.float32(size_out - 1) if size_out > 1 else xp.float32(0)
        source = index * ratio
    else:
        ratio = _source_scale(xp, size_in, size_out, scale)
        # One rounding after the multiply-add, as PyTorch's compiled kernel (a fused multiply-add) does.
        centre = (index + xp.float32(0.5)).astype(xp.float64) * float(ratio) - 0.5
        source = xp.maximum(centre.astype(xp.float32), xp.float32(0))
    first = xp.minimum(xp.floor(source).astype(xp.int64), size_in - 1)
    second = first + (first < size_in - 1)
    weight_second = xp.clip(source - first.astype(xp.float32), 0, 1).astype(dtype)
    return first, second, 1 - weight_second, weight_second


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False):
    """Resize the H and W of an (N, C, H, W) array, as `torch.nn.functional.interpolate`.

    Give either size (H_out, W_out) or scale_factor (then H_out = floor(H * scale_factor));
    recompute_scale_factor=True maps coordinates as if that output size had been given.
    antialias (PyTorch's, for downsampling) is not available here: only False.
    nearest:  y[i, j] = x[floor(i * rh), floor(j * rw)], rh = 1/scale_factor or H/H_out
              (in float32, clamped to the last row/column).
    bilinear: y[i, j] = sum over the two rows r and two columns c around the source
              point of wr * wc * x[r, c] (see `_linear_taps` for the source point with
              align_corners True or False; None means False).

    PyTorch's CPU kernel for small outputs (H_out + W_out <= 128) takes a shortcut in
    nearest mode when H_out equals H or 2*H for a non-integer scale_factor; this op
    follows the general formula above, as PyTorch's kernel for larger outputs does.
    """
    xp = array_module(x)
    check_input(x, "input", 4)
    check_interpolate_mode(mode, align_corners)
    if antialias is not False:
        raise ValueError(f"antialias must be False (no antialiased resampling here), got {antialias!r}")
    height, width = x.shape[2:]
    out, scales = interpolate_size((height, width), size, scale_factor, recompute_scale_factor)
    if mode == "nearest":
        rows = _nearest_indices(xp, height, out[0], scales[0])
        cols = _nearest_indices(xp, width, out[1], scales[1])
        return x[:, :, rows[:, None], cols[None, :]]
    r0, r1, wr0, wr1 = _linear_taps(xp, height, out[0], scales[0], bool(align_corners), x.dtype)
    c0, c1, wc0, wc1 = _linear_taps(xp, width, out[1], scales[1], bool(align_corners), x.dtype)
    # Blend along W first, then along H (PyTorch's nesting, so its rounding and NaN are matched).
    blended_cols = x[:, :, :, c0] * wc0 + x[:, :, :, c1] * wc1
    return blended_cols[:, :, r0, :] * wr0[:, None] + blended_cols[:, :, r1, :] * wr1[:, None]
