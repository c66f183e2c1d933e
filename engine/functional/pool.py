"""Max and average pooling over NCHW maps, as `torch.nn.functional.max_pool2d` / `avg_pool2d`.

Both reduce shifted, strided views of the (padded) input with whole-array
operations. A maximum and a sum are separable, so the values are reduced over the
kernel's rows first and then over its columns: kH + kW operations, each reading
contiguous rows. (Perf-notes: this is several times faster than `reshape(...).max`
or `sliding_window_view(...).max`, which copy every window.) The argmax positions
need PyTorch's scan order, so they are found by visiting the kH*kW taps in turn.
On CuPy, max pooling without indices is one CUDA kernel (`cuda_kernels.max_pool`).
"""

from __future__ import annotations

import numpy

from engine.backend import array_module
from engine.functional import cuda_kernels
from engine.shapes import check_input, conv_output_size, flag, non_negative_pair, positive_pair


def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Check the hyper-parameters and return (kernel, stride, padding, dilation, output size), each a pair."""
    kernel = positive_pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else positive_pair(stride, "stride")
    padding = non_negative_pair(padding, "padding")
    dilation = positive_pair(dilation, "dilation")
    if not isinstance(ceil_mode, bool):
        raise ValueError(f"ceil_mode must be True or False, got {ceil_mode!r}")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"padding {padding} must be at most half of kernel_size {kernel}")
    out = tuple(
        conv_output_size(x.shape[2 + a], kernel[a], stride[a], padding[a], dilation[a], ceil_mode, axis=name)
        for a, name in enumerate(("height", "width"))
    )
    return kernel, stride, padding, dilation, out


def _pad(x, xp, padding, kernel, stride, dilation, out, value):
    """Pad H and W with `value`: `padding` before, and after as far as the last window reaches.

    With ceil_mode the last window may run past the padded edge; the extra cells hold
    `value` too, which neither a maximum (-inf) nor a sum (0) notices.
    """
    widths = [(0, 0), (0, 0)]
    for a in range(2):
        reach = (out[a] - 1) * stride[a] + (kernel[a] - 1) * dilation[a] + 1  # padded cells the windows read
        widths.append((padding[a], max(reach - padding[a] - x.shape[2 + a], 0)))
    if all(before == after == 0 for before, after in widths):
        return x
    return xp.pad(x, widths, mode="constant", constant_values=value)


def _shifted_views(x, axis, kernel, stride, dilation, out):
    """The kernel's `kernel` views of x along `axis` (2 or 3): view p holds x[..., p*dilation + i*stride, ...]."""
    views = []
    for p in range(kernel):
        start = p * dilation
        index = [slice(None)] * 4
        index[axis] = slice(start, start + (out - 1) * stride + 1, stride)
        views.append(x[tuple(index)])
    return views


def _reduce(views, xp, op):
    """op(views[0], views[1], ...) into a fresh buffer (op is xp.maximum or xp.add)."""
    if len(views) == 1:
        return views[0].copy()
    result = op(views[0], views[1])
    for view in views[2:]:
        op(result, view, out=result)
    return result


def _reduce_windows(x, xp, op, kernel, stride, dilation, out):
    """Reduce every window of the padded x with op: over the kernel's rows, then over its columns."""
    rows = _reduce(_shifted_views(x, 2, kernel[0], stride[0], dilation[0], out[0]), xp, op)
    return _reduce(_shifted_views(rows, 3, kernel[1], stride[1], dilation[1], out[1]), xp, op)


def _tap_coordinates(xp, kernel, stride, padding, dilation, out):
    """For each output position along one axis, the input coordinate of every kernel tap: shape (out, kernel)."""
    taps = xp.arange(kernel, dtype=xp.int64) * dilation
    return (xp.arange(out, dtype=xp.int64) * stride - padding)[:, None] + taps[None, :]


def _max_with_indices(padded, xp, kernel, stride, padding, dilation, out, width):
    """Max pooling that also finds each window's argmax, flat in its channel's H*W, as PyTorch does.

    PyTorch starts each window at -inf with the index of its first real (unpadded)
    cell, scans row by row, and moves to a cell when `value > best or isnan(value)`:
    ties keep the first maximum, and a NaN wins (the last NaN in scan order). The
    scan here records the winning tap's number p*kW + q, and turns it into an input
    position at the end.
    """
    rows = _tap_coordinates(xp, kernel[0], stride[0], padding[0], dilation[0], out[0])
    cols = _tap_coordinates(xp, kernel[1], stride[1], padding[1], dilation[1], out[1])
    first_real_tap = xp.argmax(rows >= 0, axis=1)[:, None] * kernel[1] + xp.argmax(cols >= 0, axis=1)[None, :]
    n, c = padded.shape[:2]
    best = xp.full((n, c, out[0], out[1]), -xp.inf, dtype=padded.dtype)
    winner = xp.broadcast_to(first_real_tap.astype(xp.int32), best.shape).copy()
    row_views = _shifted_views(padded, 2, kernel[0], stride[0], dilation[0], out[0])
    for p, row_view in enumerate(row_views):
        for q, value in enumerate(_shifted_views(row_view, 3, kernel[1], stride[1], dilation[1], out[1])):
            wins = (value > best) | xp.isnan(value)  # padding cells hold -inf and never win
            xp.maximum(best, value, out=best)  # the same values as taking `value` where it wins
            # winner = where(wins, tap, winner), branch-free: where() on a random mask is several times slower
            winner += (p * kernel[1] + q - winner) * wins
    corner = rows[:, :1] * width + cols[:, 0]  # flat position of each window's top-left tap
    taps_down = xp.arange(kernel[0], dtype=xp.int64) * dilation[0]
    taps_across = xp.arange(kernel[1], dtype=xp.int64) * dilation[1]
    tap_offset = (taps_down[:, None] * width + taps_across[None, :]).ravel()  # tap p*kW + q, from the corner
    return best, corner + xp.take(tap_offset, winner)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling of an (N, C, H, W) array, as `torch.nn.functional.max_pool2d`.

        out[n, c, i, j] = max over p < kH, q < kW of xpad[n, c, i*sH + p*dH, j*sW + q*dW]

    xpad is x padded with -inf (`padding` cells on each side, at most half the kernel).
    H_out = floor((H + 2*pH - dH*(kH - 1) - 1) / sH) + 1, rounded up instead with
    ceil_mode as long as the last window starts inside the input or its left padding.
    stride defaults to kernel_size. A window holding a NaN gives NaN.

    With return_indices, also returns int64 argmax positions, flat within each
    channel's unpadded H*W (row * W + col), exactly as PyTorch reports them.
    """
    xp = array_module(x)
    check_input(x, "input", 4)
    kernel, stride, padding, dilation, out = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    if xp is not numpy and not return_indices:  # one kernel launch instead of kH + kW operations
        return cuda_kernels.max_pool(x, kernel, stride, padding, dilation, out)
    padded = _pad(x, xp, padding, kernel, stride, dilation, out, -xp.inf)
    if return_indices:
        return _max_with_indices(padded, xp, kernel, stride, padding, dilation, out, x.shape[3])
    return _reduce_windows(padded, xp, xp.maximum, kernel, stride, dilation, out)


def _divisor_along(xp, size, kernel, stride, padding, out, count_include_pad):
    """PyTorch's per-axis count for each window: clipped to the padded input, or to the input alone."""
    start = xp.arange(out, dtype=xp.int64) * stride - padding
    end = xp.minimum(start + kernel, size + padding)
    if not count_include_pad:
        start, end = xp.maximum(start, 0), xp.minimum(end, size)
    return end - start


def window_divisors(xp, size, kernel, stride, padding, out, count_include_pad, divisor_override, dtype):
    """The (H_out, W_out) array each window's sum is divided by (see `avg_pool2d`)."""
    if divisor_override is not None:
        return xp.full(out, divisor_override, dtype=dtype)
    counts = [_divisor_along(xp, size[a], kernel[a], stride[a], padding[a], out[a], count_include_pad)
              for a in range(2)]
    return (counts[0][:, None] * counts[1][None, :]).astype(dtype)


def check_divisor_override(divisor_override):
    """None, or a positive int (ValueError otherwise)."""
    if divisor_override is not None and (isinstance(divisor_override, bool)
                                         or not isinstance(divisor_override, (int, numpy.integer))
                                         or divisor_override < 1):
        raise ValueError(f"divisor_override must be None or a positive integer, got {divisor_override!r}")


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling of an (N, C, H, W) array, as `torch.nn.functional.avg_pool2d`.

        out[n, c, i, j] = (1 / count[i, j]) * sum over p < kH, q < kW of xpad[n, c, i*sH + p, j*sW + q]

    xpad is x padded with zeros. count is divisor_override when given; otherwise the
    window's area clipped to the padded input (count_include_pad=True), or the number
    of real input cells it covers (False); a ceil_mode window running past the padded
    edge is clipped either way. Output size as in `max_pool2d` with dilation 1. stride
    defaults to kernel_size.
    """
    xp = array_module(x)
    check_input(x, "input", 4)
    check_divisor_override(divisor_override)
    flag(count_include_pad, "count_include_pad")
    kernel, stride, padding, dilation, out = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    padded = _pad(x, xp, padding, kernel, stride, dilation, out, 0)
    total = _reduce_windows(padded, xp, xp.add, kernel, stride, dilation, out)
    total /= window_divisors(xp, x.shape[2:], kernel, stride, padding, out, count_include_pad, divisor_override,
                             x.dtype)
    return total
