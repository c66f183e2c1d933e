"""CUDA kernels of the GPU path (CuPy has no cuDNN here, so the convolutions are ours).

Each kernel replaces a chain of generic CuPy operations (pad, strided view, copy, fill,
slice-add) by one launch; on a GPU the launches, not the arithmetic, cost most at the
sizes this tool shows. Each is an elementwise kernel over its output, compiled by CuPy
on first use for the dtype it meets (float32 and float64). Nothing here imports CuPy
until a kernel is asked for, so the module loads on machines without it.

- `im2col`: cols[n, g, t, pixel] for conv2d as one GEMM, t = (c, p, q) over the group's
  taps plus a last row of ones for the bias (padding read as zeros, any stride/dilation):

      cols[n, g, (c, p, q), (i, j)] = x[n, g*C/G + c, i*sh + p*dh - top, j*sw + q*dw - left]

- `col2im`: the output of conv_transpose2d gathered from the GEMM products
  products[n, g, (o, p, q), (h, w)] = sum_c w[g*C/G + c, o, p, q] * x[n, g*C/G + c, h, w]:

      out[n, g*O/G + o, y, z] = b[o] + sum over taps (p, q) with y + top - p*dh = h*sh and
                                z + left - q*dw = w*sw, 0 <= h < H, 0 <= w < W, of products[...]

  Only products of real input pixels are summed, so an Inf weight never meets a padding zero.
"""

from __future__ import annotations

from functools import cache

_IM2COL = r"""
const long long pixels = (long long)rows * out_w;
const long long pixel = i % pixels;
const long long rest = i / pixels;
const int t = (int)(rest % (taps + 1));
const long long image_group = rest / (taps + 1);
const int group = (int)(image_group % groups);
const long long n = image_group / groups + n0;
if (t == taps) {
    cols = (T)1;
} else {
    const int c = group * channels_per_group + t / (kh * kw);
    const int p = (t / kw) % kh;
    const int q = t % kw;
    const int y = (row0 + (int)(pixel / out_w)) * sh + p * dh - top;
    const int z = (int)(pixel % out_w) * sw + q * dw - left;
    if (y >= 0 && y < height && z >= 0 && z < width) {
        cols = x[((n * channels + c) * height + y) * width + z];
    } else {
        cols = (T)0;
    }
}
"""

_COL2IM = r"""
const long long plane = (long long)out_h * out_w;
const int z = (int)(i % out_w);
const int y = (int)((i / out_w) % out_h);
const long long image_channel = i / plane;
const int channel = (int)(image_channel % out_channels);
const long long n = image_channel / out_channels;
const int group = channel / out_per_group;
const int o = channel % out_per_group;
const long long taps_base = ((n * groups + group) * out_per_group + o) * kh * kw;
T total = has_bias ? bias[channel] : (T)0;
for (int p = 0; p < kh; ++p) {
    const int ry = y + top - p * dh;
    if (ry < 0 || ry % sh != 0 || ry / sh >= height) continue;
    for (int q = 0; q < kw; ++q) {
        const int rz = z + left - q * dw;
        if (rz < 0 || rz % sw != 0 || rz / sw >= width) continue;
        total += products[((taps_base + p * kw + q) * height + ry / sh) * width + rz / sw];
    }
}
out = total;
"""


@cache
def _im2col_kernel():
    import cupy

    return cupy.ElementwiseKernel(
        "raw T x, int32 n0, int32 row0, int32 rows, int32 out_w, int32 taps, int32 groups, int32 channels, "
        "int32 channels_per_group, int32 height, int32 width, int32 kh, int32 kw, int32 sh, int32 sw, "
        "int32 dh, int32 dw, int32 top, int32 left",
        "T cols", _IM2COL, "lamina_im2col")


@cache
def _col2im_kernel():
    import cupy

    return cupy.ElementwiseKernel(
        "raw T products, raw T bias, int32 has_bias, int32 groups, int32 out_channels, int32 out_per_group, "
        "int32 out_h, int32 out_w, int32 height, int32 width, int32 kh, int32 kw, int32 sh, int32 sw, "
        "int32 dh, int32 dw, int32 top, int32 left",
        "T out", _COL2IM, "lamina_col2im")


def im2col(x, cols, n0: int, row0: int, out_w: int, kernel, stride, dilation, top: int, left: int,
           groups: int) -> None:
    """Fill cols (N', G, C/G*kH*kW + 1, rows*Wo) for images n0.. and output rows row0.. of x (N, C, H, W)."""
    _, channels, height, width = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    taps, rows = cols.shape[2] - 1, cols.shape[3] // out_w
    _im2col_kernel()(x, n0, row0, rows, out_w, taps, groups, channels, channels // groups, height, width,
                     kh, kw, sh, sw, dh, dw, top, left, cols)


def col2im(products, bias, out, groups: int, in_size, kernel, stride, dilation, top: int, left: int) -> None:
    """Fill out (N', O, Ho, Wo) from products (N', G, O/G*kH*kW, H*W) of the same images; bias (O,) or None."""
    import cupy

    _, out_channels, out_h, out_w = out.shape
    (height, width), (kh, kw), (sh, sw), (dh, dw) = in_size, kernel, stride, dilation
    has_bias = bias is not None
    bias = cupy.ascontiguousarray(bias) if has_bias else cupy.zeros(1, dtype=out.dtype)
    _col2im_kernel()(products, bias, int(has_bias), groups, out_channels, out_channels // groups, out_h, out_w,
                     height, width, kh, kw, sh, sw, dh, dw, top, left, out)
