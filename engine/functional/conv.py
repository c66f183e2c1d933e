"""2-D convolution and transposed convolution, with the semantics of torch.nn.functional.

Both ops run on NumPy and CuPy with one body. How the sum is computed depends on
the case, but every formulation gives the same numbers up to float32 rounding:

- im2col + GEMM (the general path, and the only one on CuPy, where one kernel of
  `cuda_kernels` builds the matrix): the input windows are copied into a matrix of
  shape (C/G * kH * kW + 1, output pixels) per group, whose last row is all ones, so
  one matrix product with [weight | bias] gives the output, bias included. The copy is
  made in blocks of images or output rows no larger than `_cols_budget` (1 MiB on NumPy,
  so it stays in the CPU cache and never grows with the image; 256 MiB on CuPy, where
  fewer and larger GEMMs pay).
- Row shifts on NumPy for stride-1 layers with 8 or more input channels per group and
  1,024 or more output pixels: the padded input is read as flat rows, so each kernel tap reads one
  contiguous run per channel; a block copies only the kW column shifts and makes the
  output with kH matrix products, computing a few thrown-away columns per row.
- Winograd F(2x2, 3x3) on NumPy for 3x3, stride-1, undilated, ungrouped layers with
  many channels (256 x 256 and up): 4x4 input tiles and the kernels are transformed so
  that a 2x2 output tile costs 16 multiplications per channel pair instead of 36; the
  products are 16 matrix products (O, C) @ (C, tiles) over blocks of tile rows.
- conv_transpose2d: each output phase (r, c) = out[:, :, r::s, c::s] is a plain
  correlation of the input with the few kernel taps that land on it (the sub-pixel
  view of a strided transposed conv). When all phases read the same window up to a
  shift (kernel a multiple of the stride), one small im2col and one GEMM with the
  phases' weights stacked give every phase. Otherwise one GEMM gives every (output
  channel, kernel tap, input pixel) product and each phase is the sum of a few plain
  slices of those products. Non-finite weights take the definition, tap by tap (one
  GEMM per tap added into a strided slice), so that no padding zero meets an Inf. On
  CuPy one GEMM gives every product and one kernel of `cuda_kernels` gathers each
  output pixel's taps (only real products, so Inf weights need no special path).

Temporaries live in a per-thread workspace reused across calls (see `_Workspace`).
Inputs are checked before any work; errors are ValueError with the numbers.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy

from engine.backend import array_module
from engine.functional import cuda_kernels
from engine.shapes import (
    check_channels,
    check_input,
    conv_output_size,
    conv_transpose_output_size,
    non_negative_pair,
    positive_pair,
)

# Largest im2col buffer built at once (bytes); bigger inputs are processed in blocks.
# On NumPy the block stays in the CPU cache; on a GPU each block costs kernel launches
# and a smaller GEMM, and the device has gigabytes, so a block is usually the whole batch.
_COLS_BUDGET_BYTES = 2**20
_GPU_COLS_BUDGET_BYTES = 256 * 2**20
# The row-shift path (stride 1) computes about this many output pixels per block. It takes
# layers with at least this many input channels per group and output pixels per image:
# measured against im2col, 0.75x-0.95x of its time from 8 channels on 64x64 images up to
# 512 channels, but 3.6x with 3 channels and 1.3x on a batch of 14x14 images.
_ROW_SHIFT_BLOCK_COLUMNS = 2048
_ROW_SHIFT_MIN_CHANNELS = 8
_ROW_SHIFT_MIN_PIXELS = 1024
# Largest temporary kept in the per-thread workspace between calls (bytes).
_WORKSPACE_MAX_BYTES = 32 * 2**20
# Winograd works in blocks of tile rows: at least this many tiles per block (for an
# efficient GEMM), and more while the transformed tiles stay under the byte budget.
_WINOGRAD_BLOCK_TILES = 256
_WINOGRAD_BLOCK_BYTES = 2 * 2**20
# Winograd pays off once the channel products (C * O per tile) outweigh its transforms:
# measured against the row-shift path, from 256 x 256 channels up (0.6x-0.9x of its time
# at 28x28 and 14x14, a tie at 56x56); 128-channel layers lost (1.2x).
_WINOGRAD_MIN_CHANNEL_PRODUCT = 256 * 256

# Winograd F(2x2, 3x3) matrices (Lavin & Gray, 2016): Y = A^T [(G g G^T) * (B^T d B)] A.
_WINOGRAD_G = numpy.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


class _Workspace(threading.local):
    """Scratch arrays kept per thread and reused by later calls.

    A fresh multi-megabyte temporary costs a page fault per 4 KiB page the first time
    it is written, which on a small VM costs as much as the arithmetic; reusing the
    memory avoids that. Only temporaries live here, never a returned array, and an
    array larger than `_WORKSPACE_MAX_BYTES` is allocated fresh each time instead, so a
    thread keeps at most a few such buffers (tens of MB for a VGG16 forward).
    """

    def __init__(self):
        self.flat = {}

    def take(self, xp, name: str, shape: tuple[int, ...], dtype):
        """An uninitialised array of `shape`, a view of the buffer `name` (grown when too small)."""
        count = math.prod(shape)
        dtype = numpy.dtype(dtype)
        if count * dtype.itemsize > _WORKSPACE_MAX_BYTES:
            return xp.empty(shape, dtype=dtype)
        key = (xp.__name__, name, dtype.str)
        flat = self.flat.get(key)
        if flat is None or flat.size < count:
            flat = self.flat[key] = xp.empty(count, dtype=dtype)
        return flat[:count].reshape(shape)


_workspace = _Workspace()


@dataclass(frozen=True)
class _ConvGeometry:
    """The sizes of one convolution, after checking: padding is (top, bottom, left, right)."""

    batch: int
    in_channels: int
    out_channels: int
    groups: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[int, int, int, int]
    out_size: tuple[int, int]


# ----------------------------------------------------------------------------- checks


def _check_operands(op: str, x, weight, bias, weight_out_axis: int, groups) -> tuple:
    """Check array kinds, ndim, dtype and groups; return (xp, groups)."""
    check_input(x, "input", 4)
    check_input(weight, "weight", 4)
    xp = array_module(x)
    if array_module(weight) is not xp:
        raise ValueError(f"{op}: input and weight must both be NumPy or both be CuPy arrays")
    if isinstance(groups, bool) or not isinstance(groups, (int, numpy.integer)) or groups < 1:
        raise ValueError(f"groups must be a positive integer, got {groups!r}")
    groups = int(groups)
    channels = x.shape[1]
    if channels % groups:
        raise ValueError(f"groups={groups} must divide the input channels {channels}")
    out_channels = weight.shape[weight_out_axis] * (groups if weight_out_axis == 1 else 1)
    if out_channels % groups:
        raise ValueError(f"groups={groups} must divide the output channels {out_channels}")
    if bias is not None:
        if array_module(bias) is not xp:
            raise ValueError(f"{op}: input and bias must both be NumPy or both be CuPy arrays")
        if getattr(bias, "ndim", None) != 1 or bias.shape[0] != out_channels:
            raise ValueError(
                f"bias must be 1-D with {out_channels} entries (one per output channel), "
                f"got shape {tuple(getattr(bias, 'shape', ()))}"
            )
    return xp, groups


def same_padding(kernel: int, dilation: int) -> tuple[int, int]:
    """PyTorch's padding="same": the total d*(k-1) split with the odd pixel at the end."""
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def _conv2d_geometry(x, weight, stride, padding, dilation, groups) -> _ConvGeometry:
    batch, channels, height, width = x.shape
    out_channels, in_per_group, kh, kw = weight.shape
    check_channels(channels, in_per_group * groups,
                   f"input of conv2d with weight {tuple(weight.shape)} and groups={groups}")
    if min(weight.shape) < 1:
        raise ValueError(f"weight must have no empty axis, got shape {tuple(weight.shape)}")
    stride = positive_pair(stride, "stride")
    dilation = positive_pair(dilation, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError(f"padding='same' needs stride 1, got stride {stride}")
            pads = same_padding(kh, dilation[0]) + same_padding(kw, dilation[1])
        else:
            raise ValueError(f"padding must be 'valid', 'same', an int or a pair of ints, got {padding!r}")
    else:
        ph, pw = non_negative_pair(padding, "padding")
        pads = (ph, ph, pw, pw)
    # conv_output_size takes one padding per side; pass the mean and add back the odd pixel.
    out_h = conv_output_size(height + (pads[1] - pads[0]), kh, stride[0], pads[0], dilation[0], axis="height")
    out_w = conv_output_size(width + (pads[3] - pads[2]), kw, stride[1], pads[2], dilation[1], axis="width")
    return _ConvGeometry(batch, channels, out_channels, groups, (kh, kw), stride, dilation, pads, (out_h, out_w))


# ----------------------------------------------------------------------------- conv2d


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation over an (N, C, H, W) input, as torch.nn.functional.conv2d.

    weight has shape (O, C/G, kH, kW) and bias (O,). With x_pad the zero-padded input,
    s the stride, d the dilation and g = o // (O/G) the group of output channel o:

        out[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] * x_pad[n, g*C/G + c, i*s + p*d, j*s + q*d]

    Output size: Ho = floor((H + 2*pad - d*(kH-1) - 1) / s) + 1 (same for W).
    stride, padding and dilation are ints or (height, width) pairs; padding may also be
    "valid" (no padding) or "same" (output as large as the input, stride 1 only).
    """
    xp, groups = _check_operands("conv2d", x, weight, bias, 0, groups)
    geometry = _conv2d_geometry(x, weight, stride, padding, dilation, groups)
    weight = weight.astype(x.dtype, copy=False)
    bias = None if bias is None else bias.astype(x.dtype, copy=False)
    if _winograd_applies(xp, x, weight, geometry):
        return _winograd_conv3x3(xp, x, weight, bias, geometry)
    if _row_shift_applies(xp, geometry):
        return _row_shift_conv(xp, x, weight, bias, geometry)
    return _im2col_conv(xp, x, weight, bias, geometry)


def _pad(xp, x, pads: tuple[int, int, int, int], scratch: str = "padded input"):
    """x zero-padded on the two spatial axes by (top, bottom, left, right), in the workspace.

    The result is contiguous and is x itself when there is no padding and x is contiguous.
    """
    top, bottom, left, right = pads
    if not any(pads):
        return xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    out = _workspace.take(xp, scratch, (n, c, h + top + bottom, w + left + right), x.dtype)
    out[:, :, :top] = 0
    out[:, :, top + h:] = 0
    out[:, :, top:top + h, :left] = 0
    out[:, :, top:top + h, left + w:] = 0
    out[:, :, top:top + h, left:left + w] = x
    return out


def _windows(xp, x_pad, geometry: _ConvGeometry):
    """A view (N, G, C/G, kH, kW, Ho, Wo) of x_pad: window[..., c, p, q, i, j] = x_pad[..., c, i*s + p*d, j*s + q*d]."""
    n, c, _, _ = x_pad.shape
    g = geometry.groups
    sn, sc, sh, sw = x_pad.strides
    (kh, kw), (ho, wo) = geometry.kernel, geometry.out_size
    (str_h, str_w), (dil_h, dil_w) = geometry.stride, geometry.dilation
    return xp.lib.stride_tricks.as_strided(
        x_pad,
        shape=(n, g, c // g, kh, kw, ho, wo),
        strides=(sn, sc * (c // g), sc, sh * dil_h, sw * dil_w, sh * str_h, sw * str_w),
    )


def _cols_budget(xp) -> int:
    """Bytes of im2col-like buffer built at once on this array module."""
    return _COLS_BUDGET_BYTES if xp is numpy else _GPU_COLS_BUDGET_BYTES


def _blocks(batch: int, rows: int, bytes_per_row: int, budget: int):
    """Split (images, output rows) into blocks whose buffers stay under `budget` bytes.

    Whole images are grouped while one image fits; otherwise each image is cut into
    blocks of output rows. Yields (n0, n1, r0, r1).
    """
    per_image = bytes_per_row * rows
    if per_image <= budget:
        step = max(1, budget // max(per_image, 1))
        for n0 in range(0, batch, step):
            yield n0, min(batch, n0 + step), 0, rows
        return
    step = max(1, budget // bytes_per_row)
    for n in range(batch):
        for r0 in range(0, rows, step):
            yield n, n + 1, r0, min(rows, r0 + step)


def _im2col_conv(xp, x, weight, bias, geometry: _ConvGeometry):
    """conv2d as one GEMM per block: out = [w | b] @ [windows ; 1] for each group."""
    g = geometry.groups
    out_per_group = geometry.out_channels // g
    (kh, kw), (ho, wo) = geometry.kernel, geometry.out_size
    taps = weight.shape[1] * kh * kw
    on_gpu = xp is not numpy
    # [w | b] per group: (G, O/G, C/G*kH*kW + 1); a zero bias column when there is no bias.
    if on_gpu:
        w_aug = cuda_kernels.augmented_weight(weight, bias, g)
        x = xp.ascontiguousarray(x)
    else:
        bias_column = xp.zeros((g, out_per_group, 1), x.dtype) if bias is None else bias.reshape(g, out_per_group, 1)
        w_aug = xp.concatenate((weight.reshape(g, out_per_group, taps), bias_column), axis=2)
        windows = _windows(xp, _pad(xp, x, geometry.padding), geometry)
    out = xp.empty((geometry.batch, geometry.out_channels, ho, wo), dtype=x.dtype)
    bytes_per_row = g * (taps + 1) * wo * x.itemsize
    for n0, n1, r0, r1 in _blocks(geometry.batch, ho, bytes_per_row, _cols_budget(xp)):
        n, rows = n1 - n0, r1 - r0
        cols = _workspace.take(xp, "im2col", (n, g, taps + 1, rows * wo), x.dtype)
        if on_gpu:  # one kernel: padding, windows and the row of ones
            cuda_kernels.im2col(x, cols, n0, r0, wo, geometry.kernel, geometry.stride, geometry.dilation,
                                geometry.padding[0], geometry.padding[2], g)
        else:
            cols[:, :, taps] = 1
            # Splitting axes of a slice is always a view, so the copy lands in `cols`.
            xp.copyto(cols[:, :, :taps].reshape(n, g, -1, kh, kw, rows, wo), windows[n0:n1, ..., r0:r1, :])
        xp.matmul(w_aug, cols, out=out[n0:n1, :, r0:r1].reshape(n, g, out_per_group, rows * wo))
    return out


# ----------------------------------------------------------------------------- row shifts


def _row_shift_applies(xp, geometry: _ConvGeometry) -> bool:
    """The row-shift path on NumPy: stride 1, and enough channels and pixels for its GEMMs."""
    return (
        xp is numpy
        and geometry.stride == (1, 1)
        and geometry.in_channels // geometry.groups >= _ROW_SHIFT_MIN_CHANNELS
        and math.prod(geometry.out_size) >= _ROW_SHIFT_MIN_PIXELS
    )


def _row_shift_conv(xp, x, weight, bias, geometry: _ConvGeometry):
    """Stride-1 conv2d as kH GEMMs per block over kW shifted copies of the input (no full im2col).

    With the padded input flattened row after row (Wp values a row), tap (p, q) of output
    (i, j) reads flat index (i + p*dh)*Wp + j + q*dw. Computing Wp outputs per row (the
    last Wp - Wo of them read across the row's end and are thrown away), a block of output
    rows r0 <= i < r1 reads one contiguous run per tap and channel. The block copies the kW
    column shifts into shifted[(q, c), k] = x_flat[c, r0*Wp + q*dw + k]; then kernel row p
    is one GEMM, w[:, :, p, :] (O, kW*C) @ shifted[:, p*dh*Wp + (0 .. (r1-r0)*Wp)], and
    the kH products add up. im2col copies kH*kW values per input value; this copies kW.
    """
    (kh, kw), (dh, dw) = geometry.kernel, geometry.dilation
    (ho, wo), g = geometry.out_size, geometry.groups
    batch, channels = x.shape[:2]
    in_per_group, out_per_group = channels // g, geometry.out_channels // g
    top, bottom, left, right = geometry.padding
    # One more row of zeros: the last block's runs read up to (kW-1)*dw values past the image.
    x_pad = _pad(xp, x, (top, bottom + 1, left, right))
    width = x_pad.shape[3]
    flat = x_pad.reshape(batch, g, in_per_group, -1)
    # w_rows[p]: (G, O/G, kW*C/G), its columns in the (q, c) order of shifted's rows.
    w_rows = weight.reshape(g, out_per_group, in_per_group, kh, kw).transpose(3, 0, 1, 4, 2)
    w_rows = xp.ascontiguousarray(w_rows).reshape(kh, g, out_per_group, kw * in_per_group)
    out = xp.empty((batch, geometry.out_channels, ho, wo), dtype=x.dtype)
    # Output rows per block: about _ROW_SHIFT_BLOCK_COLUMNS outputs, with the shifted copy
    # (its rows plus the kernel's extra (kH-1)*dh) within one workspace buffer.
    bytes_per_row = kw * channels * width * x.itemsize
    step = max(1, min(_ROW_SHIFT_BLOCK_COLUMNS // width, _WORKSPACE_MAX_BYTES // bytes_per_row - (kh - 1) * dh))
    for n in range(batch):
        for r0 in range(0, ho, step):
            rows = min(ho, r0 + step) - r0
            length = rows * width
            span = length + (kh - 1) * dh * width
            shifted = _workspace.take(xp, "row-shift input", (g, kw, in_per_group, span), x.dtype)
            for q in range(kw):
                start = r0 * width + q * dw
                shifted[:, q] = flat[n, :, :, start:start + span]
            shifted = shifted.reshape(g, kw * in_per_group, span)
            total = _workspace.take(xp, "row-shift sum", (g, out_per_group, length), x.dtype)
            part = _workspace.take(xp, "row-shift part", (g, out_per_group, length), x.dtype)
            xp.matmul(w_rows[0], shifted[:, :, :length], out=total)
            for p in range(1, kh):
                offset = p * dh * width
                xp.matmul(w_rows[p], shifted[:, :, offset:offset + length], out=part)
                total += part
            sums = total.reshape(geometry.out_channels, rows, width)[:, :, :wo]
            if bias is None:
                out[n, :, r0:r0 + rows] = sums
            else:
                xp.add(sums, bias[:, None, None], out=out[n, :, r0:r0 + rows])
    return out


# ----------------------------------------------------------------------------- Winograd


def _winograd_applies(xp, x, weight, geometry: _ConvGeometry) -> bool:
    """Winograd F(2x2, 3x3) on NumPy for 3x3, stride 1, dilation 1, one group, many channels.

    Its transforms add and subtract inputs, so an Inf would turn into NaN where the
    direct sum gives Inf: non-finite inputs or weights take the direct path.
    """
    return (
        xp is numpy
        and geometry.kernel == (3, 3)
        and geometry.stride == (1, 1)
        and geometry.dilation == (1, 1)
        and geometry.groups == 1
        and geometry.in_channels * geometry.out_channels >= _WINOGRAD_MIN_CHANNEL_PRODUCT
        and bool(numpy.isfinite(x.sum()) and numpy.isfinite(weight.sum()))
    )


def _winograd_kernels(xp, weight):
    """U = G g G^T for every (o, c): shape (16, O, C), the 4x4 index flattened first."""
    out_channels, in_channels = weight.shape[:2]
    g = xp.asarray(_WINOGRAD_G, dtype=weight.dtype)
    transform = xp.kron(g, g)  # (16, 9): U.flat = kron(G, G) @ g.flat
    u = _workspace.take(xp, "winograd kernels", (16, out_channels * in_channels), weight.dtype)
    xp.matmul(transform, weight.reshape(out_channels * in_channels, 9).T, out=u)
    return u.reshape(16, out_channels, in_channels)


def _phase_planes(xp, x, top: int, left: int, tiles_h: int, tiles_w: int):
    """The zero-padded input split by row and column parity, each (row, column) phase flattened.

    planes[n, c, rp, cp, a * (tiles_w + 1) + b] = x_pad[n, c, 2a + rp, 2b + cp], for
    a <= tiles_h and b <= tiles_w, plus one trailing zero. In this layout the 4x4 tile
    starting at (2a, 2b) reads the same flat index a*(tiles_w + 1) + b (or the next one,
    or the next row) of four planes, so every transform step below is a subtraction of
    two contiguous runs per channel. Index b = tiles_w (and row a = tiles_h) is padding
    whose results are computed and thrown away.
    """
    n, c, h, w = x.shape
    rows, cols = tiles_h + 1, tiles_w + 1
    planes = _workspace.take(xp, "winograd planes", (n, c, 2, 2, rows * cols + 1), x.dtype)
    planes[..., -1] = 0
    grid = planes[..., :rows * cols].reshape(n, c, 2, 2, rows, cols)
    for rp in range(2):
        y0 = (rp - top) % 2  # first input row that lands on padded rows of parity rp
        a0, na = (y0 + top) // 2, len(range(y0, h, 2))
        for cp in range(2):
            x0 = (cp - left) % 2
            b0, nw = (x0 + left) // 2, len(range(x0, w, 2))
            phase = grid[:, :, rp, cp]
            phase[:, :, a0:a0 + na, b0:b0 + nw] = x[:, :, y0::2, x0::2]
            # Zero the padding around the copied block (the workspace holds old values).
            phase[:, :, :a0] = 0
            phase[:, :, a0 + na:] = 0
            phase[:, :, a0:a0 + na, :b0] = 0
            phase[:, :, a0:a0 + na, b0 + nw:] = 0
    return planes


def _winograd_input_tiles(xp, planes, start: int, length: int, row: int, t, v) -> None:
    """V = B^T d B for the tiles at flat indices [start, start + length) of planes (C, 2, 2, F).

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]] is applied to the
    tile columns (2b .. 2b+3 are column phases 0, 1 at b and 0, 1 at b + 1), giving
    t (4, C, 2, length + row), then to the tile rows (row phases 0, 1 at a and a + 1,
    which is `row` flat indices further), giving v (4, 4, C, length).
    """
    span = length + row
    c0, c1 = planes[:, :, 0, start:start + span], planes[:, :, 1, start:start + span]
    c2, c3 = planes[:, :, 0, start + 1:start + 1 + span], planes[:, :, 1, start + 1:start + 1 + span]
    xp.subtract(c0, c2, out=t[0])
    xp.add(c1, c2, out=t[1])
    xp.subtract(c2, c1, out=t[2])
    xp.subtract(c1, c3, out=t[3])
    r0, r1 = t[:, :, 0, :length], t[:, :, 1, :length]
    r2, r3 = t[:, :, 0, row:row + length], t[:, :, 1, row:row + length]
    xp.subtract(r0, r2, out=v[0])
    xp.add(r1, r2, out=v[1])
    xp.subtract(r2, r1, out=v[2])
    xp.subtract(r1, r3, out=v[3])


def _winograd_output_tiles(xp, m, row: int, out, s, tmp) -> None:
    """Y = A^T m A for every tile: m (4, 4, O, nb * row) into out (O, 2*nb, 2*tw).

    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]] is applied to the tile rows (into s, shape
    (2, 4, O, nb * row)), then to the tile columns; the last step writes y[r, c] of
    tile (a, b) to out[:, 2a + r, 2b + c], dropping the padding column b = tw.
    """
    xp.add(m[0], m[1], out=s[0])
    s[0] += m[2]
    xp.subtract(m[1], m[2], out=s[1])
    s[1] -= m[3]
    channels, height, width = out.shape
    nb, tw = height // 2, width // 2
    y = out.reshape(channels, nb, 2, tw, 2).transpose(2, 4, 0, 1, 3)  # (r, c, O, a, b)

    def tiles(a):  # (2, O, nb * row) -> (2, O, nb, tw)
        return a.reshape(2, channels, nb, row)[..., :tw]

    xp.add(s[:, 0], s[:, 1], out=tmp)
    xp.add(tiles(tmp), tiles(s[:, 2]), out=y[:, 0])
    xp.subtract(s[:, 1], s[:, 2], out=tmp)
    xp.subtract(tiles(tmp), tiles(s[:, 3]), out=y[:, 1])


def _winograd_conv3x3(xp, x, weight, bias, geometry: _ConvGeometry):
    """3x3 stride-1 conv2d by Winograd F(2x2, 3x3), in blocks of tile rows.

    For a 4x4 input tile d and kernel g: Y (2x2) = A^T [U * V] A with U = G g G^T and
    V = B^T d B; summed over input channels, U * V becomes 16 matrix products
    M[k] = U[k] (O, C) @ V[k] (C, tiles). The bias is added to M[1, 1], which enters
    all four outputs of a tile with coefficient 1.
    """
    out_h, out_w = geometry.out_size
    tiles_h, tiles_w = (out_h + 1) // 2, (out_w + 1) // 2
    row = tiles_w + 1  # flat distance between tile rows in the phase planes
    planes = _phase_planes(xp, x, geometry.padding[0], geometry.padding[2], tiles_h, tiles_w)
    u = _winograd_kernels(xp, weight)
    channels, out_channels = geometry.in_channels, geometry.out_channels
    out = xp.empty((geometry.batch, out_channels, 2 * tiles_h, 2 * tiles_w), dtype=x.dtype)
    bytes_per_tile_row = 16 * max(channels, out_channels) * row * x.itemsize
    step = max(-(-_WINOGRAD_BLOCK_TILES // row), _WINOGRAD_BLOCK_BYTES // bytes_per_tile_row)
    step = min(tiles_h, step)
    for n in range(geometry.batch):
        for a0 in range(0, tiles_h, step):
            nb = min(tiles_h, a0 + step) - a0
            length = nb * row
            t = _workspace.take(xp, "winograd t", (4, channels, 2, length + row), x.dtype)
            v = _workspace.take(xp, "winograd v", (4, 4, channels, length), x.dtype)
            _winograd_input_tiles(xp, planes[n], a0 * row, length, row, t, v)
            m = _workspace.take(xp, "winograd m", (16, out_channels, length), x.dtype)
            xp.matmul(u, v.reshape(16, channels, length), out=m)
            m = m.reshape(4, 4, out_channels, length)
            if bias is not None:
                m[1, 1] += bias[:, None]
            s = _workspace.take(xp, "winograd s", (2, 4, out_channels, length), x.dtype)
            tmp = _workspace.take(xp, "winograd tmp", (2, out_channels, length), x.dtype)
            _winograd_output_tiles(xp, m, row, out[n, :, 2 * a0:2 * (a0 + nb)], s, tmp)
    if out_h % 2 or out_w % 2:
        out = xp.ascontiguousarray(out[:, :, :out_h, :out_w])
    return out


# ----------------------------------------------------------------------------- conv_transpose2d


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution (the adjoint of conv2d), as torch.nn.functional.conv_transpose2d.

    weight has shape (C, O/G, kH, kW) and bias (O,). Every input pixel scatters its
    kernel-weighted value into the output; with g = c // (C/G) the group of input channel c:

        out[n, g*O/G + o, i*s + p*d - pad, j*s + q*d - pad] += x[n, c, i, j] * w[c, o, p, q]

    plus b[o] everywhere. Output size: Ho = (H-1)*s - 2*pad + d*(kH-1) + output_padding + 1.
    output_padding (smaller than stride or dilation) only adds rows/columns at the end.
    """
    xp, groups = _check_operands("conv_transpose2d", x, weight, bias, 1, groups)
    batch, channels, height, width = x.shape
    check_channels(channels, weight.shape[0],
                   f"input of conv_transpose2d with weight {tuple(weight.shape)}")
    if min(weight.shape) < 1:
        raise ValueError(f"weight must have no empty axis, got shape {tuple(weight.shape)}")
    stride = positive_pair(stride, "stride")
    dilation = positive_pair(dilation, "dilation")
    padding = non_negative_pair(padding, "padding")
    output_padding = non_negative_pair(output_padding, "output_padding")
    kh, kw = weight.shape[2:]
    out_h = conv_transpose_output_size(height, kh, stride[0], padding[0], output_padding[0], dilation[0], "height")
    out_w = conv_transpose_output_size(width, kw, stride[1], padding[1], output_padding[1], dilation[1], "width")
    weight = weight.astype(x.dtype, copy=False)
    bias = None if bias is None else bias.astype(x.dtype, copy=False)
    out = xp.empty((batch, weight.shape[1] * groups, out_h, out_w), dtype=x.dtype)
    if xp is not numpy:  # one GEMM and one gathering kernel per block of images
        for n0, n1, products in _transpose_products(xp, xp.ascontiguousarray(x), weight, groups):
            cuda_kernels.col2im(products, bias, out[n0:n1], groups, (height, width), (kh, kw), stride, dilation,
                                padding[0], padding[1])
        return out
    if not bool(xp.isfinite(weight).all()):
        _scatter_taps(xp, x, weight, bias, groups, stride, padding, dilation, out)
        return out
    rows = _phase_taps(height, out_h, kh, stride[0], padding[0], dilation[0])
    cols = _phase_taps(width, out_w, kw, stride[1], padding[1], dilation[1])
    x_pad = _pad(xp, x, rows.pads + cols.pads)
    if _shares_taps(rows) and _shares_taps(cols):
        _all_phases(xp, x_pad, weight, bias, groups, rows, cols, stride, out)
        return out
    for n0, n1, products in _transpose_products(xp, x_pad, weight, groups):
        _gather_phases(xp, products, bias, rows, cols, stride, out[n0:n1])
    return out


def _scatter_taps(xp, x, weight, bias, groups: int, stride, padding, dilation, out) -> None:
    """The definition, tap by tap: each kernel tap (p, q) adds w[:, :, p, q]-weighted input pixels at i*s + p*d - pad.

    One GEMM per tap, (O/G, C/G) @ (C/G, H*W) per group, added into a strided slice of
    an uncropped output; only real input pixels are multiplied. The faster paths also
    multiply padding zeros, which is harmless for finite weights but gives NaN
    (0 * Inf) where PyTorch gives a number, so non-finite weights come here.
    """
    batch, channels, height, width = x.shape
    out_per_group, kh, kw = weight.shape[1:]
    (sh, sw), (dh, dw), (ph, pw) = stride, dilation, padding
    out_h, out_w = out.shape[2:]
    full = xp.zeros((batch, groups, out_per_group, max(out_h + ph, (height - 1) * sh + (kh - 1) * dh + 1),
                     max(out_w + pw, (width - 1) * sw + (kw - 1) * dw + 1)), dtype=x.dtype)
    x_groups = x.reshape(batch, groups, channels // groups, height * width)
    w_groups = weight.reshape(groups, channels // groups, out_per_group, kh, kw)
    # Inf * 0 and Inf - Inf are NaN, as in PyTorch, without a warning
    with numpy.errstate(invalid="ignore"):
        for p in range(kh):
            for q in range(kw):
                taps = xp.matmul(w_groups[:, :, :, p, q].transpose(0, 2, 1), x_groups)
                target = full[..., p * dh:p * dh + (height - 1) * sh + 1:sh, q * dw:q * dw + (width - 1) * sw + 1:sw]
                target += taps.reshape(batch, groups, out_per_group, height, width)
    cropped = full.reshape(batch, -1, *full.shape[3:])[:, :, ph:ph + out_h, pw:pw + out_w]
    if bias is None:
        out[...] = cropped
    else:
        xp.add(cropped, bias[:, None, None], out=out)


@dataclass(frozen=True)
class _PhaseTaps:
    """Which kernel taps reach each output phase along one axis of a transposed convolution.

    Output index y = i*s + p*d - pad falls in phase r = y mod s. For phase r the taps
    are the p with (p*d - pad - r) divisible by s, and y = Y*s + r with Y = i + shift_p.
    The input is padded by `pads` = (before, after) so that every tap's plane covers
    the whole phase grid: tap p adds plane rows [start_p, start_p + count_r).
    """

    pads: tuple[int, int]
    phases: tuple[tuple[int, int, tuple[tuple[int, int], ...]], ...]  # (r, count_r, ((p, start_p), ...))


def _phase_taps(size_in: int, size_out: int, kernel: int, stride: int, padding: int, dilation: int) -> _PhaseTaps:
    """Group the taps of one axis by the output phase they reach, and the input padding that needs."""
    shifts = {}  # r -> [(p, shift_p)]
    for p in range(kernel):
        offset = p * dilation - padding
        shifts.setdefault(offset % stride, []).append((p, offset // stride))
    counts = {r: len(range(r, size_out, stride)) for r in range(stride)}
    used = [(counts[r], shift) for r, taps in shifts.items() for _, shift in taps if counts[r]]
    before = max([0] + [shift for _, shift in used])
    after = max([0] + [count - shift - size_in for count, shift in used])
    phases = tuple(
        (r, counts[r], tuple((p, before - shift) for p, shift in shifts.get(r, [])))
        for r in range(stride) if counts[r]
    )
    return _PhaseTaps((before, after), phases)


def _transpose_products(xp, x_pad, weight, groups: int):
    """Yield (n0, n1, products) with products[n, o, p, q, i, j] = sum_c w[c, o, p, q] * x_pad[n, c, i, j].

    One GEMM per group and block of images: (O/G*kH*kW, C/G) @ (C/G, H*W).
    """
    batch, channels, height, width = x_pad.shape
    in_per_group, (out_per_group, kh, kw) = channels // groups, weight.shape[1:]
    # (G, O/G*kH*kW, C/G): row (o, p, q) holds w[c, o, p, q] over the group's input channels c.
    w_t = weight.reshape(groups, in_per_group, out_per_group * kh * kw).transpose(0, 2, 1)
    x_groups = x_pad.reshape(batch, groups, in_per_group, height * width)
    bytes_per_image = groups * out_per_group * kh * kw * height * width * x_pad.itemsize
    for n0, n1, _, _ in _blocks(batch, 1, bytes_per_image, _cols_budget(xp)):
        products = _workspace.take(xp, "transposed products", (n1 - n0, groups, w_t.shape[1], height * width),
                                   x_pad.dtype)
        xp.matmul(w_t, x_groups[n0:n1], out=products)
        yield n0, n1, products.reshape(n1 - n0, groups * out_per_group, kh, kw, height, width)


def _gather_phases(xp, products, bias, rows: _PhaseTaps, cols: _PhaseTaps, stride, out) -> None:
    """out[:, :, r::s, c::s] = bias + the sum of the taps of phase (r, c), each a plain slice of `products`.

    The slices are taken on flattened (H, W) planes, one long run per channel covering
    whole rows (the columns past the phase's width are summed too, then dropped).
    """
    n, channels = out.shape[:2]
    height, width = products.shape[-2:]
    flat = products.reshape(n, channels, -1, height * width)
    kw = products.shape[3]
    for r, count_r, taps_r in rows.phases:
        for c, count_c, taps_c in cols.phases:
            target = out[:, :, r::stride[0], c::stride[1]]
            length = (count_r - 1) * width + count_c
            planes = [flat[:, :, p * kw + q, i * width + j:i * width + j + length]
                      for p, i in taps_r for q, j in taps_c]
            if not planes:
                target[...] = 0 if bias is None else bias[:, None, None]
                continue
            total = _workspace.take(xp, "phase sum", (n, channels, count_r * width), out.dtype)
            run = total[..., :length]
            if bias is None:
                xp.copyto(run, planes[0])
            else:
                xp.add(planes[0], bias[:, None], out=run)
            for plane in planes[1:]:
                run += plane
            target[...] = total.reshape(n, channels, count_r, width)[..., :count_c]


def _shares_taps(taps: _PhaseTaps) -> bool:
    """Whether every phase has taps at the same offsets up to a shift (k a multiple of s, say).

    Then `_all_phases` applies. Otherwise a phase would need zero weights on pixels it
    does not read, and 0 * Inf there would give NaN where the direct sum gives Inf.
    """
    relative = {tuple(i - phase_taps[0][1] for _, i in phase_taps) for _, _, phase_taps in taps.phases}
    return len(relative) == 1 and all(phase_taps for _, _, phase_taps in taps.phases)


def _common_taps(taps: _PhaseTaps) -> tuple[list[int], list[int], list[dict[int, int]]]:
    """Per phase, the plane offset of its first tap; the tap offsets relative to it; the taps by offset.

    When every phase reads the same window of the input, only shifted (see `_shares_taps`),
    offsets taken relative to each phase's first tap let one im2col serve all phases.
    """
    bases = [min(i for _, i in phase_taps) for _, _, phase_taps in taps.phases]
    by_offset = [{i - base: p for p, i in phase_taps} for base, (_, _, phase_taps) in zip(bases, taps.phases)]
    relative = sorted(set().union(*by_offset))
    return bases, relative, by_offset


def _phase_weights(xp, weight, bias, groups: int, rows, cols):
    """[W_phase | b] stacked: (G, phases*O/G, C/G*taps + 1), taps on the common relative offsets of rows x cols.

    The last column is the bias (zero when there is none), to multiply a row of ones.
    """
    channels, out_per_group = weight.shape[:2]
    (_, rel_r, by_r), (_, rel_c, by_c) = rows, cols
    stacked = xp.zeros((len(by_r), len(by_c), channels, out_per_group, len(rel_r), len(rel_c)), dtype=weight.dtype)
    for a, taps_r in enumerate(by_r):
        for b, taps_c in enumerate(by_c):
            for u, i in enumerate(rel_r):
                for v, j in enumerate(rel_c):
                    stacked[a, b, :, :, u, v] = weight[:, :, taps_r[i], taps_c[j]]
    in_per_group, phases, taps = channels // groups, len(by_r) * len(by_c), len(rel_r) * len(rel_c)
    stacked = stacked.reshape(phases, groups, in_per_group, out_per_group, taps).transpose(1, 0, 3, 2, 4)
    augmented = xp.zeros((groups, phases, out_per_group, in_per_group * taps + 1), dtype=weight.dtype)
    augmented[..., :-1] = stacked.reshape(groups, phases, out_per_group, in_per_group * taps)
    if bias is not None:
        augmented[..., -1] = bias.reshape(groups, 1, out_per_group)
    return augmented.reshape(groups, phases * out_per_group, in_per_group * taps + 1)


def _all_phases(xp, x_pad, weight, bias, groups: int, rows: _PhaseTaps, cols: _PhaseTaps, stride, out) -> None:
    """Every output phase (r, c), from one im2col and one GEMM per block (when `_shares_taps`).

    Phase (r, c) is a plain correlation: out[n, g*O/G + o, Y*s + r, X*s + c] =
    b[o] + sum_{c', (p, i), (q, j)} w[c', o, p, q] * x_pad[n, c', Y + i, X + j] over the
    group's input channels c' and the phase's taps (p, i), (q, j). On flattened (H, W)
    planes tap (i, j) reads the run starting at i*W + j; writing i = base_r + u and
    j = base_c + v, the im2col cols[(c', u, v), k] = x_flat[c', k + u*W + v] is common
    to all phases, and phase (r, c) reads the products from column base_r*W + base_c on.
    So one GEMM [W_phase | b] stacked (phases*O/G, C/G*taps + 1) @ [cols ; 1] per group
    gives all phases, bias included; the columns past a phase's width are computed too,
    then dropped.
    """
    batch, channels, height, width = x_pad.shape
    in_per_group, out_per_group = channels // groups, weight.shape[1]
    common_r, common_c = _common_taps(rows), _common_taps(cols)
    w_stacked = _phase_weights(xp, weight, bias, groups, common_r, common_c)
    offsets = [u * width + v for u in common_r[1] for v in common_c[1]]
    shifts = [br * width + bc for br in common_r[0] for bc in common_c[0]]
    planes = x_pad.reshape(batch, groups, in_per_group, height * width)
    grouped_out = out.reshape(batch, groups, out_per_group, *out.shape[2:])
    count_rows = max(count for _, count, _ in rows.phases)
    bytes_per_row = groups * (in_per_group * len(offsets) + 1) * width * x_pad.itemsize
    # A larger block than conv2d's: the GEMM's columns are shared by all phases, and
    # longer rows measured faster on the 64->32 @56 k4 s2 layer (two threads).
    for n0, n1, y0, y1 in _blocks(batch, count_rows, bytes_per_row, 4 * _cols_budget(xp)):
        n, span = n1 - n0, max(shifts) + (y1 - y0) * width
        im2col = _workspace.take(xp, "phase im2col", (n, groups, in_per_group * len(offsets) + 1, span),
                                 x_pad.dtype)
        im2col[:, :, -1] = 1
        taps = im2col[:, :, :-1].reshape(n, groups, in_per_group, len(offsets), span)
        for t, offset in enumerate(offsets):
            start = y0 * width + offset
            valid = max(0, min(span, height * width - start))
            xp.copyto(taps[:, :, :, t, :valid], planes[n0:n1, :, :, start:start + valid])
            taps[:, :, :, t, valid:] = 0
        products = _workspace.take(xp, "phase products", (n, groups, len(shifts), out_per_group, span), x_pad.dtype)
        xp.matmul(w_stacked, im2col, out=products.reshape(n, groups, len(shifts) * out_per_group, span))
        phase = 0
        for r, count_r, _ in rows.phases:
            for c, count_c, _ in cols.phases:
                r1 = min(y1, count_r)
                if r1 > y0:
                    shift = shifts[phase]
                    run = products[:, :, phase, :, shift:shift + (r1 - y0) * width]
                    sums = run.reshape(n, groups, out_per_group, r1 - y0, width)[..., :count_c]
                    grouped_out[n0:n1, :, :, y0 * stride[0] + r:r1 * stride[0]:stride[0], c::stride[1]] = sums
                phase += 1
