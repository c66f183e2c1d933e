"""Backward of conv2d and conv_transpose2d: each op's input gradient is the other op.

conv2d is a linear map of its input, and conv_transpose2d with the same weight and
hyper-parameters is its adjoint (its transpose). So, for y = conv2d(x, w):

    dL/dx = conv_transpose2d(dL/dy, w)      (output_padding picks the rows a stride skipped)

and for y = conv_transpose2d(x, w):

    dL/dx = conv2d(dL/dy, w)

Both weight gradients are one correlation. For conv2d, with x_pad the zero-padded input:

    dL/dw[o, c, p, q] = sum_{n, i, j} dL/dy[n, o, i, j] * x_pad[n, g*C/G + c, i*s + p*d, j*s + q*d]

computed as a GEMM over im2col windows: (O/G, N*Ho*Wo) @ (N*Ho*Wo, C/G*kH*kW) per group.
conv_transpose2d's weight gradient is that same function with the roles of x and dL/dy
swapped: dL/dw[c, o, p, q] = sum x[n, c, i, j] * dL/dy_pad[n, g*O/G + o, i*s + p*d, j*s + q*d],
which is conv2d's weight gradient for the input dL/dy and the output gradient x.

The bias gradient of both is dL/db[o] = sum_{n, i, j} dL/dy[n, o, i, j].
"""

from __future__ import annotations

import dataclasses

from engine.backend import array_module
from engine.functional.conv import (
    _blocks,
    _cols_budget,
    _check_operands,
    _conv2d_geometry,
    _pad,
    _windows,
    _workspace,
    conv2d,
    conv_transpose2d,
)
from engine.shapes import check_channels, check_input, conv_transpose_output_size, non_negative_pair, positive_pair


def _check_grad_output(xp, grad_output, expected_shape: tuple[int, ...], op: str) -> None:
    """Raise ValueError unless grad_output is a float array of xp with the forward output's shape."""
    check_input(grad_output, "grad_output", 4)
    if array_module(grad_output) is not xp:
        raise ValueError(f"{op} backward: grad_output and input must both be NumPy or both be CuPy arrays")
    if tuple(grad_output.shape) != tuple(expected_shape):
        raise ValueError(f"grad_output of {op} must have the output's shape {tuple(expected_shape)}, "
                         f"got {tuple(grad_output.shape)}")


def conv2d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1, need_input_grad=True):
    """Gradients of y = conv2d(x, weight, bias, stride, padding, dilation, groups).

    Returns (dL/dx or None, dL/dweight, dL/dbias), in grad_output's dtype:

        dL/dx       = conv_transpose2d(dL/dy, weight, stride, padding, output_padding, groups, dilation),
                      output_padding = the rows/columns of x past the last window (they get zero)
        dL/dw[o, c, p, q] = sum_{n,i,j} dL/dy[n, o, i, j] * x_pad[n, g*C/G + c, i*s + p*d, j*s + q*d]
        dL/db[o]    = sum_{n,i,j} dL/dy[n, o, i, j]

    need_input_grad=False skips dL/dx (the first layer of a network needs none) and returns None for it.
    The bias gradient is always returned; a layer without bias drops it.
    """
    xp, groups = _check_operands("conv2d_backward", x, weight, None, 0, groups)
    geometry = _conv2d_geometry(x, weight, stride, padding, dilation, groups)
    _check_grad_output(xp, grad_output, (geometry.batch, geometry.out_channels, *geometry.out_size), "conv2d")
    dtype = grad_output.dtype
    grad_weight = _conv2d_weight_grad(xp, x.astype(dtype, copy=False), grad_output, geometry)
    grad_bias = grad_output.sum(axis=(0, 2, 3))
    grad_x = _conv2d_input_grad(grad_output, weight, x.shape, geometry) if need_input_grad else None
    return grad_x, grad_weight, grad_bias


def _conv2d_input_grad(grad_output, weight, input_shape, geometry):
    """conv2d's dL/dx: the full conv_transpose2d scatter of dL/dy over the padded input, cut to x.

    Padded row y + top is input row y (column x + left likewise). The scatter reaches the padded
    rows 0 .. (Ho-1)*s + d*(kH-1): rows of x it does not reach (a stride that skips the last rows,
    or an input smaller than the stride) get zero; rows it reaches in the padding are dropped.
    """
    xp = array_module(grad_output)
    top, _, left, _ = geometry.padding
    height, width = input_shape[2:]
    full = conv_transpose2d(grad_output, weight, None, geometry.stride, 0, 0, geometry.groups, geometry.dilation)
    inside = full[:, :, top:top + height, left:left + width]
    if tuple(inside.shape[2:]) == (height, width):
        return xp.ascontiguousarray(inside)
    grad_x = xp.zeros((*full.shape[:2], height, width), dtype=full.dtype)
    grad_x[:, :, :inside.shape[2], :inside.shape[3]] = inside
    return grad_x


def _conv2d_weight_grad(xp, x, grad_output, geometry):
    """dL/dw of conv2d for input x and output gradient grad_output, by one GEMM per group and block.

    The windows of x over the output positions of grad_output (which may be fewer than the
    geometry's, see conv_transpose2d_backward) are copied into cols (G, C/G*kH*kW, n*Ho*Wo)
    for a block of n images, grad_output's block into (G, O/G, n*Ho*Wo), and
    dw_g += grad_g @ cols_g^T: a GEMM whose inner dimension runs over images and positions.
    """
    g = geometry.groups
    batch, out_channels, ho, wo = grad_output.shape
    geometry = dataclasses.replace(geometry, out_size=(ho, wo))
    out_per_group = out_channels // g
    (kh, kw) = geometry.kernel
    taps = geometry.in_channels // g * kh * kw
    windows = _windows(xp, _pad(xp, x, geometry.padding, "weight-grad padded input"), geometry)
    grouped = grad_output.reshape(batch, g, out_per_group, ho, wo)
    grad_weight = xp.zeros((g, out_per_group, taps), dtype=grad_output.dtype)
    bytes_per_row = g * (taps + out_per_group) * wo * grad_output.itemsize
    for n0, n1, r0, r1 in _blocks(batch, ho, bytes_per_row, _cols_budget(xp)):
        n, rows = n1 - n0, r1 - r0
        cols = _workspace.take(xp, "weight-grad cols", (g, taps, n * rows * wo), grad_output.dtype)
        xp.copyto(cols.reshape(g, -1, kh, kw, n, rows, wo),
                  windows[n0:n1, ..., r0:r1, :].transpose(1, 2, 3, 4, 0, 5, 6))
        grads = _workspace.take(xp, "weight-grad outputs", (g, out_per_group, n * rows * wo), grad_output.dtype)
        xp.copyto(grads.reshape(g, out_per_group, n, rows, wo), grouped[n0:n1, :, :, r0:r1].transpose(1, 2, 0, 3, 4))
        grad_weight += xp.matmul(grads, cols.transpose(0, 2, 1))
    return grad_weight.reshape(out_channels, geometry.in_channels // g, kh, kw)


def conv_transpose2d_backward(grad_output, x, weight, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                              need_input_grad=True):
    """Gradients of y = conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation).

    Returns (dL/dx or None, dL/dweight, dL/dbias), in grad_output's dtype:

        dL/dx    = conv2d(dL/dy, weight, stride, padding, dilation, groups)   (cropped to x's size)
        dL/dw    = conv2d's weight gradient with input dL/dy and output gradient x:
                   dL/dw[c, o, p, q] = sum_{n,i,j} x[n, c, i, j] * dL/dy_pad[n, g*O/G + o, i*s + p*d, j*s + q*d]
        dL/db[o] = sum_{n,i,j} dL/dy[n, o, i, j]

    The output_padding rows and columns receive no input value, so only the bias sees them.
    """
    xp, groups = _check_operands("conv_transpose2d_backward", x, weight, None, 1, groups)
    check_channels(x.shape[1], weight.shape[0], f"input of conv_transpose2d with weight {tuple(weight.shape)}")
    stride, dilation = positive_pair(stride, "stride"), positive_pair(dilation, "dilation")
    padding, output_padding = non_negative_pair(padding, "padding"), non_negative_pair(output_padding, "output_padding")
    out_size = tuple(conv_transpose_output_size(x.shape[2 + a], weight.shape[2 + a], stride[a], padding[a],
                                                output_padding[a], dilation[a]) for a in range(2))
    _check_grad_output(xp, grad_output, (x.shape[0], weight.shape[1] * groups, *out_size), "conv_transpose2d")
    # conv2d geometry with the roles swapped: input dL/dy (O channels), weight (C, O/G, kH, kW) read as
    # conv2d's (out, in/groups, kH, kW), output gradient x (C channels).
    geometry = _conv2d_geometry(grad_output, weight, stride, padding, dilation, groups)
    grad_weight = _conv2d_weight_grad(xp, grad_output, x.astype(grad_output.dtype, copy=False), geometry)
    grad_bias = grad_output.sum(axis=(0, 2, 3))
    grad_x = None
    if need_input_grad:
        grad_x = conv2d(grad_output, weight, None, stride, padding, dilation, groups)
        if tuple(grad_x.shape[2:]) != tuple(x.shape[2:]):  # output_padding >= stride (allowed when dilation > stride)
            grad_x = xp.ascontiguousarray(grad_x[:, :, :x.shape[2], :x.shape[3]])
    return grad_x, grad_weight, grad_bias
