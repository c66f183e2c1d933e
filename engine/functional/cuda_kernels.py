"""CUDA kernels of the GPU path (CuPy has no cuDNN here, so the convolutions are ours).

Each kernel replaces a chain of generic CuPy operations (pad, strided view, copy, fill,
slice-add) by one launch; on a GPU the launches, not the arithmetic, cost most at the
sizes this tool shows. Each is a CuPy elementwise kernel, compiled on first use for the
dtype it meets. Nothing here imports CuPy
until a kernel is asked for, so the module loads on machines without it.

- `im2col`: cols[n, g, t, pixel] for conv2d as one GEMM, t = (c, p, q) over the group's
  taps plus a last row of ones for the bias (padding read as zeros, any stride/dilation):

      cols[n, g, (c, p, q), (i, j)] = x[n, g*C/G + c, i*sh + p*dh - top, j*sw + q*dw - left]

- `col2im`: the output of conv_transpose2d gathered from the GEMM products
  products[n, g, (o, p, q), (h, w)] = sum_c w[g*C/G + c, o, p, q] * x[n, g*C/G + c, h, w]:

      out[n, g*O/G + o, y, z] = b[o] + sum over taps (p, q) with y + top - p*dh = h*sh and
                                z + left - q*dw = w*sw, 0 <= h < H, 0 <= w < W, of products[...]

  Only products of real input pixels are summed, so an Inf weight never meets a padding zero.

- `augmented_weight`: [w | b] for that GEMM, w_aug[g, o, t] = w[g*O/G + o, t] for t < taps and
  b[g*O/G + o] (or 0) in the last column, in one launch instead of a concatenation.

- `max_pool`: max_pool2d's forward in one launch, padding and the ceil_mode overhang read as -inf:

      out[n, c, i, j] = max over real cells (y, z) = (i*sh + p*dh - top, j*sw + q*dw - left) of x[n, c, y, z]

  NaN if the window holds one (as xp.maximum gives), -inf for a window of padding alone.

Integer division is slow on a GPU, and splitting a flat index into coordinates is most of
these kernels' work: they divide in 32 bits when the array has fewer than 2**31 values
(memory offsets stay 64-bit), and im2col splits one index per input channel and output
pixel, then writes that pixel's kH*kW values with additions alone.
"""

from __future__ import annotations

from functools import cache

_IM2COL = r"""
// One thread per (image, group, channel of the group, output pixel): it writes that channel's
// kH*kW rows of its pixel's column, so the index arithmetic is paid once per kH*kW values.
const index_t pixels = (index_t)rows * out_w;
const index_t pixel = (index_t)i % pixels;
const index_t slot = (index_t)i / pixels;
const int c = (int)(slot % channels_per_group);
const long long image_group = (long long)(slot / channels_per_group);
const int group = (int)(image_group % groups);
const long long n = image_group / groups + n0;
const int y0 = (row0 + (int)(pixel / out_w)) * sh - top;
const int z0 = (int)(pixel % out_w) * sw - left;
const long long plane = (n * channels + group * channels_per_group + c) * (long long)height * width;
const long long block = image_group * (taps + 1) * (long long)pixels;
long long at = block + (long long)c * kh * kw * pixels + pixel;
for (int p = 0; p < kh; ++p) {
    const int y = y0 + p * dh;
    const bool row_inside = y >= 0 && y < height;
    for (int q = 0; q < kw; ++q, at += pixels) {
        const int z = z0 + q * dw;
        cols[at] = row_inside && z >= 0 && z < width ? x[plane + (long long)y * width + z] : (T)0;
    }
}
if (c == channels_per_group - 1) cols[block + (long long)taps * pixels + pixel] = (T)1;
"""

_COL2IM = r"""
const index_t pixel = (index_t)i % ((index_t)out_h * out_w);
const index_t image_channel = (index_t)i / ((index_t)out_h * out_w);
const int z = (int)(pixel % out_w);
const int y = (int)(pixel / out_w);
const int channel = (int)(image_channel % out_channels);
const long long n = (long long)(image_channel / out_channels);
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


_AUGMENTED_WEIGHT = r"""
const int t = (int)(i % (taps + 1));
const long long row = i / (taps + 1);
w_aug = t < taps ? weight[row * taps + t] : (has_bias ? bias[row] : (T)0);
"""


_MAX_POOL = r"""
const index_t pixel = (index_t)i % ((index_t)out_h * out_w);
const long long plane = (long long)((index_t)i / ((index_t)out_h * out_w));
const int y0 = (int)(pixel / out_w) * sh - top;
const int z0 = (int)(pixel % out_w) * sw - left;
T best = (T)__longlong_as_double(0xfff0000000000000ULL);  // -inf
for (int p = 0; p < kh; ++p) {
    const int y = y0 + p * dh;
    if (y < 0 || y >= height) continue;
    for (int q = 0; q < kw; ++q) {
        const int z = z0 + q * dw;
        if (z < 0 || z >= width) continue;
        const T value = x[(plane * height + y) * width + z];
        if (value > best || isnan(value)) best = value;
        if (isnan(best)) break;
    }
    if (isnan(best)) break;
}
out = best;
"""


def _index_type(elements: int) -> str:
    """The C type that splits a flat index of an array of `elements` values: 32-bit when it fits."""
    return "int" if elements < 2**31 else "long long"


# each kernel: its parameters, its output and its body, as cupy.ElementwiseKernel takes them
_SHAPE_PARAMS = "int32 kh, int32 kw, int32 sh, int32 sw, int32 dh, int32 dw, int32 top, int32 left"
_KERNELS = {
    "im2col": ("raw T x, int32 n0, int32 row0, int32 rows, int32 out_w, int32 taps, int32 groups, int32 channels, "
               "int32 channels_per_group, int32 height, int32 width, " + _SHAPE_PARAMS, "raw T cols", _IM2COL),
    "col2im": ("raw T products, raw T bias, int32 has_bias, int32 groups, int32 out_channels, int32 out_per_group, "
               "int32 out_h, int32 out_w, int32 height, int32 width, " + _SHAPE_PARAMS, "T out", _COL2IM),
    "max_pool": ("raw T x, int32 out_h, int32 out_w, int32 height, int32 width, " + _SHAPE_PARAMS, "T out",
                 _MAX_POOL),
    "augmented_weight": ("raw T weight, raw T bias, int32 taps, int32 has_bias", "T w_aug", _AUGMENTED_WEIGHT),
}


@cache
def _kernel(name: str, index_type: str = "int"):
    """The kernel `name`, its flat index split with `index_type` (_index_type), compiled by CuPy on first use."""
    import cupy

    params, output, body = _KERNELS[name]
    return cupy.ElementwiseKernel(params, output, body, f"lamina_{name}_{index_type.replace(' ', '_')}",
                                  preamble=f"typedef {index_type} index_t;")


def im2col(x, cols, n0: int, row0: int, out_w: int, kernel, stride, dilation, top: int, left: int,
           groups: int) -> None:
    """Fill cols (N', G, C/G*kH*kW + 1, rows*Wo) for images n0.. and output rows row0.. of x (N, C, H, W)."""
    _, channels, height, width = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    taps, rows = cols.shape[2] - 1, cols.shape[3] // out_w
    threads = cols.shape[0] * channels * rows * out_w  # one per (image, channel, output pixel)
    _kernel("im2col", _index_type(cols.size))(x, n0, row0, rows, out_w, taps, groups, channels, channels // groups,
                                              height, width, kh, kw, sh, sw, dh, dw, top, left, cols, size=threads)


def col2im(products, bias, out, groups: int, in_size, kernel, stride, dilation, top: int, left: int) -> None:
    """Fill out (N', O, Ho, Wo) from products (N', G, O/G*kH*kW, H*W) of the same images; bias (O,) or None."""
    import cupy

    _, out_channels, out_h, out_w = out.shape
    (height, width), (kh, kw), (sh, sw), (dh, dw) = in_size, kernel, stride, dilation
    has_bias = bias is not None
    bias = cupy.ascontiguousarray(bias) if has_bias else products  # never read without a bias
    _kernel("col2im", _index_type(out.size))(products, bias, int(has_bias), groups, out_channels,
                                             out_channels // groups, out_h, out_w, height, width, kh, kw, sh, sw,
                                             dh, dw, top, left, out)


def augmented_weight(weight, bias, groups: int):
    """[w | b] of shape (G, O/G, C/G*kH*kW + 1) from weight (O, C/G, kH, kW) and bias (O,) or None (zeros)."""
    import cupy

    out_channels = weight.shape[0]
    taps = weight.size // out_channels
    weight = cupy.ascontiguousarray(weight)
    has_bias = bias is not None
    bias = cupy.ascontiguousarray(bias) if has_bias else weight  # never read without a bias
    w_aug = cupy.empty((groups, out_channels // groups, taps + 1), dtype=weight.dtype)
    _kernel("augmented_weight")(weight, bias, taps, int(has_bias), w_aug)
    return w_aug


def max_pool(x, kernel, stride, padding, dilation, out_size):
    """max_pool2d of x (N, C, H, W) into a new (N, C, Ho, Wo) array; padding (top, left)."""
    import cupy

    n, channels, height, width = x.shape
    out = cupy.empty((n, channels, *out_size), dtype=x.dtype)
    (kh, kw), (sh, sw), (dh, dw), (top, left) = kernel, stride, dilation, padding
    _kernel("max_pool", _index_type(out.size))(cupy.ascontiguousarray(x), *out_size, height, width, kh, kw, sh,
                                               sw, dh, dw, top, left, out)
    return out
