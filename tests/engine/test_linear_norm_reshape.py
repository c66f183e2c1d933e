"""linear, batch_norm, flatten, dropout, pad and interpolate against naive loops and PyTorch."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backend import to_numpy
from engine.functional.linear import linear
from engine.functional.norm import batch_norm
from engine.functional.reshape import dropout, flatten, interpolate, pad
from engine.grad.reshape import pad_backward


def normal(seed, shape, scale=1.0, shift=0.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale + shift).astype(np.float32)


def assert_close(actual, expected, atol):
    actual = to_numpy(actual)
    assert actual.shape == expected.shape
    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=atol, equal_nan=True)


# ----------------------------------------------------------------------------- linear

def naive_linear(x, weight, bias):
    rows = x.reshape(-1, x.shape[-1]).astype(np.float64)
    out = np.zeros((rows.shape[0], weight.shape[0]))
    for r in range(rows.shape[0]):
        for o in range(weight.shape[0]):
            out[r, o] = sum(rows[r, i] * float(weight[o, i]) for i in range(weight.shape[1]))
            out[r, o] += 0.0 if bias is None else float(bias[o])
    return out.reshape(x.shape[:-1] + (weight.shape[0],))


@pytest.mark.parametrize("x_shape", [(7,), (1, 7), (5, 7), (2, 3, 7)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_naive_and_torch(xp, x_shape, with_bias):
    x, weight = normal(1, x_shape), normal(2, (4, 7))
    bias = normal(3, (4,)) if with_bias else None
    result = linear(xp.asarray(x), xp.asarray(weight), None if bias is None else xp.asarray(bias))
    torch_bias = None if bias is None else torch.from_numpy(bias)
    reference = F.linear(torch.from_numpy(x), torch.from_numpy(weight), torch_bias)
    assert_close(result, naive_linear(x, weight, bias), atol=1e-5)
    assert_close(result, reference.numpy(), atol=1e-5)


@pytest.mark.parametrize("batch", [1, 3])
def test_linear_large_layer_matches_torch_with_either_weight_order(xp, batch):
    """A Fortran-ordered weight (weight.T contiguous, the faster layout) gives the same result."""
    x, weight, bias = normal(4, (batch, 512)), normal(5, (64, 512), 0.05), normal(6, (64,))
    reference = F.linear(*(torch.from_numpy(a) for a in (x, weight, bias))).numpy()
    for stored in (weight, np.asfortranarray(weight)):
        assert_close(linear(xp.asarray(x), xp.asarray(stored), xp.asarray(bias)), reference, atol=1e-5)


def test_linear_lets_nan_and_inf_through(xp):
    x = np.array([[1.0, np.nan], [np.inf, 1.0]], np.float32)
    weight = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    with np.errstate(invalid="ignore"):  # inf * 0 inside the product, NaN as in PyTorch
        result = to_numpy(linear(xp.asarray(x), xp.asarray(weight)))
    reference = F.linear(torch.from_numpy(x), torch.from_numpy(weight)).numpy()
    np.testing.assert_array_equal(np.isnan(result), np.isnan(reference))
    assert result[1, 0] == np.inf  # inf * 1 + 1 * 0; result[1, 1] is inf * 0 + 1 * 1, NaN in PyTorch too


@pytest.mark.parametrize("call, words", [
    (lambda x, w, b: linear(x[:, :2], w, b), "input has 2 features"),
    (lambda x, w, b: linear(x, w[0], b), "weight must be 2-D"),
    (lambda x, w, b: linear(x, w, b[:2]), "bias must have shape"),
    (lambda x, w, b: linear(x, w.astype(np.float64), b), "weight has dtype float64"),
    (lambda x, w, b: linear(x.astype(np.int32), w, b), "input must be a floating-point"),
    (lambda x, w, b: linear(x, [[1.0]], b), "weight must be an array"),
    (lambda x, w, b: linear(x[0, 0], w, b), "at least 1 dimension"),
])
def test_linear_bad_input(xp, call, words):
    x, weight, bias = xp.zeros((2, 3), np.float32), xp.zeros((4, 3), np.float32), xp.zeros(4, np.float32)
    with pytest.raises(ValueError, match=words):
        call(x, weight, bias)


# ----------------------------------------------------------------------------- batch_norm

def naive_batch_norm(x, mean, var, weight, bias, eps):
    out = np.empty(x.shape, np.float64)
    for index in np.ndindex(x.shape):
        c = index[1]
        gamma = 1.0 if weight is None else float(weight[c])
        beta = 0.0 if bias is None else float(bias[c])
        out[index] = (float(x[index]) - float(mean[c])) / math.sqrt(float(var[c]) + eps) * gamma + beta
    return out


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 6), (2, 3, 4, 5)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_batch_norm_matches_naive_and_torch(xp, shape, affine, eps):
    x = normal(7, shape, 3.0, 1.0)
    mean, var = normal(8, (3,)), np.abs(normal(9, (3,))) + 0.1
    weight, bias = (normal(10, (3,)), normal(11, (3,))) if affine else (None, None)
    on = (lambda a: None if a is None else xp.asarray(a))
    result = batch_norm(xp.asarray(x), on(mean), on(var), on(weight), on(bias), eps=eps)
    torch_on = (lambda a: None if a is None else torch.from_numpy(a))
    reference = F.batch_norm(torch.from_numpy(x), torch_on(mean), torch_on(var), torch_on(weight), torch_on(bias),
                             training=False, eps=eps).numpy()
    assert_close(result, naive_batch_norm(x, mean, var, weight, bias, eps), atol=1e-5)
    assert_close(result, reference, atol=1e-5)


def test_batch_norm_lets_nan_and_inf_through(xp):
    x = np.array([[np.nan, np.inf], [-np.inf, 2.0]], np.float32)
    ones, zeros = np.ones(2, np.float32), np.zeros(2, np.float32)
    result = to_numpy(batch_norm(xp.asarray(x), xp.asarray(zeros), xp.asarray(ones), eps=0.0))
    np.testing.assert_array_equal(result, x)


@pytest.mark.parametrize("call, words", [
    (lambda x, s: batch_norm(x[0, 0, 0], s, s), r"input must be \(N, C\)"),
    (lambda x, s: batch_norm(x, s[:2], s), r"running_mean must have shape \(3,\)"),
    (lambda x, s: batch_norm(x, s, s[:2]), r"running_var must have shape \(3,\)"),
    (lambda x, s: batch_norm(x, s, s, weight=s[:1]), "weight must have shape"),
    (lambda x, s: batch_norm(x, s, s, bias=s[:1]), "bias must have shape"),
    (lambda x, s: batch_norm(x, None, s), "running_mean"),
    (lambda x, s: batch_norm(x, s, s, eps=-1.0), "eps must be a number >= 0"),
    (lambda x, s: batch_norm(x.astype(np.int32), s, s), "floating-point"),
])
def test_batch_norm_bad_input(xp, call, words):
    x, stats = xp.zeros((2, 3, 4, 4), np.float32), xp.ones(3, np.float32)
    with pytest.raises(ValueError, match=words):
        call(x, stats)


# ----------------------------------------------------------------------------- flatten

@pytest.mark.parametrize("start_dim, end_dim", [(1, -1), (0, -1), (0, 1), (1, 2), (2, 3), (-2, -1), (3, 3)])
def test_flatten_matches_torch(xp, start_dim, end_dim):
    x = normal(12, (2, 3, 4, 5))
    result = flatten(xp.asarray(x), start_dim, end_dim)
    reference = torch.flatten(torch.from_numpy(x), start_dim, end_dim).numpy()
    assert result.shape == reference.shape
    np.testing.assert_array_equal(to_numpy(result), reference)


def test_flatten_orders_values_row_major(xp):
    x = normal(13, (2, 3, 4, 5))
    result = to_numpy(flatten(xp.asarray(x)))
    for n, c, h, w in np.ndindex(x.shape):
        assert result[n, c * 20 + h * 5 + w] == x[n, c, h, w]
    assert np.shares_memory(flatten(x), x)  # a view, as in PyTorch


@pytest.mark.parametrize("call, words", [
    (lambda x: flatten(x, 4), "start_dim 4 is out of range"),
    (lambda x: flatten(x, 1, -5), "end_dim -5 is out of range"),
    (lambda x: flatten(x, 3, 1), "start_dim 3 comes after end_dim 1"),
    (lambda x: flatten(x, 1.0), "start_dim must be an int"),
])
def test_flatten_bad_input(xp, call, words):
    with pytest.raises(ValueError, match=words):
        call(xp.zeros((2, 3, 4, 5), np.float32))


# ----------------------------------------------------------------------------- dropout

def test_dropout_is_the_identity_at_inference(xp):
    x = xp.asarray(normal(14, (2, 3, 4, 4)))
    assert dropout(x) is x
    assert dropout(x, 0.9, training=False) is x
    assert dropout(x, 0.0, training=True) is x
    torch_x = torch.from_numpy(to_numpy(x))
    np.testing.assert_array_equal(to_numpy(dropout(x, 0.5)), F.dropout(torch_x, 0.5, training=False).numpy())


def test_dropout_in_training_zeroes_a_share_p_and_scales_the_rest(xp):
    x = xp.asarray(np.abs(normal(15, (4, 8, 32, 32))) + 0.5)
    p = 0.3
    result = to_numpy(dropout(x, p, training=True, rng=1))
    kept = result != 0
    assert result.dtype == np.float32
    assert abs(1 - kept.mean() - p) < 0.01  # 32768 draws: the standard error is 0.0025
    np.testing.assert_allclose(result[kept], to_numpy(x)[kept] / (1 - p), rtol=1e-6)


def test_dropout_is_reproducible_with_a_seed(xp):
    x = xp.asarray(normal(16, (3, 50)))
    first = to_numpy(dropout(x, 0.5, training=True, rng=42))
    np.testing.assert_array_equal(first, to_numpy(dropout(x, 0.5, training=True, rng=42)))
    assert not np.array_equal(first, to_numpy(dropout(x, 0.5, training=True, rng=43)))
    generator = xp.random.default_rng(42)
    np.testing.assert_array_equal(first, to_numpy(dropout(x, 0.5, training=True, rng=generator)))


def test_dropout_with_p_one_gives_zeros_and_nan_stays_nan(xp):
    x = xp.asarray(np.array([1.0, -2.0, np.nan], np.float32))
    result = to_numpy(dropout(x, 1.0, training=True))
    reference = F.dropout(torch.from_numpy(to_numpy(x)), 1.0, training=True).numpy()
    np.testing.assert_array_equal(result, reference)  # 0 * NaN is NaN, in PyTorch too


@pytest.mark.parametrize("call, words", [
    (lambda x: dropout(x, 1.5, training=True), "p must be between 0 and 1"),
    (lambda x: dropout(x, -0.1), "p must be between 0 and 1"),
    (lambda x: dropout(x, 0.5, training="yes"), "training must be True or False"),
    (lambda x: dropout(x.astype(np.int32), 0.5), "floating-point"),
    (lambda x: dropout(x, 0.5, training=True, rng="a"), "rng must be None, an int seed or a"),
])
def test_dropout_bad_input(xp, call, words):
    with pytest.raises(ValueError, match=words):
        call(xp.zeros((2, 3), np.float32))


# ----------------------------------------------------------------------------- interpolate

def naive_nearest(x, out_h, out_w, scales):
    """y[i, j] = x[min(floor(i * r), H - 1), ...] with r = 1/scale (given) or H/H_out, in float32."""
    h, w = x.shape[2:]
    ratio_h = np.float32(1.0 / scales[0]) if scales else np.float32(h) / np.float32(out_h)
    ratio_w = np.float32(1.0 / scales[1]) if scales else np.float32(w) / np.float32(out_w)
    out = np.empty(x.shape[:2] + (out_h, out_w), x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            r = min(int(math.floor(np.float32(i) * ratio_h)), h - 1)
            c = min(int(math.floor(np.float32(j) * ratio_w)), w - 1)
            out[:, :, i, j] = x[:, :, r, c]
    return out


def naive_bilinear(x, out_h, out_w, align_corners, scales):
    """Blend the four neighbours of each source point, in float64."""
    h, w = x.shape[2:]

    def source(i, size_in, size_out, scale):
        if size_in == size_out:
            return float(i)
        if align_corners:
            return i * (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
        ratio = 1.0 / scale if scale else size_in / size_out
        return max((i + 0.5) * ratio - 0.5, 0.0)

    out = np.empty(x.shape[:2] + (out_h, out_w))
    for i in range(out_h):
        sr = source(i, h, out_h, scales and scales[0])
        r0 = min(int(sr), h - 1)
        r1, wr = min(r0 + 1, h - 1), min(sr - r0, 1.0)
        for j in range(out_w):
            sc = source(j, w, out_w, scales and scales[1])
            c0 = min(int(sc), w - 1)
            c1, wc = min(c0 + 1, w - 1), min(sc - c0, 1.0)
            top = x[:, :, r0, c0] * (1 - wc) + x[:, :, r0, c1] * wc
            bottom = x[:, :, r1, c0] * (1 - wc) + x[:, :, r1, c1] * wc
            out[:, :, i, j] = top * (1 - wr) + bottom * wr
    return out


def scale_pair(scale_factor):
    if scale_factor is None or isinstance(scale_factor, tuple):
        return scale_factor
    return (scale_factor, scale_factor)


# (input shape, size, scale_factor)
RESIZES = [
    ((1, 1, 4, 4), (8, 8), None),
    ((2, 3, 5, 7), (3, 11), None),
    ((2, 3, 5, 7), (5, 7), None),
    ((1, 2, 6, 4), (1, 1), None),
    ((1, 2, 9, 4), (14, 20), None),
    ((2, 2, 14, 14), (20, 10), None),  # ratio 0.7 rounds below 0.7 in float32: floor(10 * r) is 6
    ((1, 3, 4, 5), None, 2),
    ((1, 3, 4, 5), None, (3, 2)),
    ((2, 1, 7, 6), None, 1.7),
    ((2, 1, 7, 6), None, (0.5, 2.5)),
    ((1, 2, 10, 9), None, 0.35),
]


@pytest.mark.parametrize("case", RESIZES, ids=str)
def test_nearest_matches_naive_and_torch(xp, case):
    shape, size, scale_factor = case
    x = normal(sum(shape), shape)
    result = interpolate(xp.asarray(x), size=size, scale_factor=scale_factor, mode="nearest")
    reference = F.interpolate(torch.from_numpy(x), size=size, scale_factor=scale_factor, mode="nearest").numpy()
    scales = scale_pair(scale_factor)
    naive = naive_nearest(x, *reference.shape[2:], scales)
    assert result.shape == reference.shape and result.dtype == np.float32
    np.testing.assert_array_equal(to_numpy(result), naive)
    np.testing.assert_array_equal(to_numpy(result), reference)


@pytest.mark.parametrize("case", RESIZES, ids=str)
@pytest.mark.parametrize("align_corners", [None, False, True])
def test_bilinear_matches_naive_and_torch(xp, case, align_corners):
    shape, size, scale_factor = case
    x = normal(sum(shape) + 1, shape)
    kwargs = dict(size=size, scale_factor=scale_factor, mode="bilinear", align_corners=align_corners)
    result = interpolate(xp.asarray(x), **kwargs)
    reference = F.interpolate(torch.from_numpy(x), **kwargs).numpy()
    scales = scale_pair(scale_factor)
    naive = naive_bilinear(x, *reference.shape[2:], bool(align_corners), scales)
    assert_close(result, naive, atol=1e-5)
    assert_close(result, reference, atol=1e-6)


def test_bilinear_large_output_matches_torch_closely(xp):
    """Outputs over 128 rows + columns take PyTorch's other CPU kernel; the taps are rounded the same way."""
    x = normal(17, (1, 2, 77, 90))
    for size, align_corners in (((200, 150), False), ((120, 301), True), ((50, 333), False)):
        kwargs = dict(size=size, mode="bilinear", align_corners=align_corners)
        reference = F.interpolate(torch.from_numpy(x), **kwargs).numpy()
        assert_close(interpolate(xp.asarray(x), **kwargs), reference, atol=1e-6)


def test_nearest_follows_torchs_general_formula_where_its_small_kernel_takes_a_shortcut(xp):
    """scale_factor 1.05 keeps 10 columns. PyTorch copies them for small outputs but uses
    floor(j / 1.05) for large ones; this op always uses the formula."""
    columns = np.arange(10, dtype=np.float32)
    tall = np.broadcast_to(columns, (1, 1, 200, 10)).copy()
    result = to_numpy(interpolate(xp.asarray(tall), scale_factor=1.05))
    reference = F.interpolate(torch.from_numpy(tall), scale_factor=1.05).numpy()  # the general kernel
    np.testing.assert_array_equal(result, reference)
    np.testing.assert_array_equal(result[0, 0, 0], [0, 0, 1, 2, 3, 4, 5, 6, 7, 8])


@pytest.mark.parametrize("align_corners", [False, True])
def test_bilinear_nan_and_inf_match_torch(xp, align_corners):
    """0 * inf is NaN in PyTorch's blend, also on an axis whose size does not change."""
    x = normal(18, (1, 2, 6, 5))
    x[0, 0, 0, 0], x[0, 0, 3, 2], x[0, 1, 2, 4], x[0, 1, 5, 1] = np.inf, -np.inf, np.nan, np.inf
    for size in ((6, 9), (11, 5), (4, 3)):
        kwargs = dict(size=size, mode="bilinear", align_corners=align_corners)
        with np.errstate(invalid="ignore"):
            result = to_numpy(interpolate(xp.asarray(x), **kwargs))
        reference = F.interpolate(torch.from_numpy(x), **kwargs).numpy()
        np.testing.assert_array_equal(np.isnan(result), np.isnan(reference))
        np.testing.assert_allclose(result, reference, rtol=1e-5, atol=1e-6, equal_nan=True)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_nearest_with_a_whole_scale_factor_repeats_values(h, w, sh, sw, seed):
    x = normal(seed, (1, 2, h, w))
    expected = np.repeat(np.repeat(x, sh, axis=2), sw, axis=3)
    np.testing.assert_array_equal(interpolate(x, scale_factor=(sh, sw)), expected)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 13), st.integers(1, 13), st.booleans(),
       st.floats(-1e3, 1e3, width=32, allow_subnormal=False))  # subnormals flush in the blend
def test_bilinear_keeps_a_constant_and_its_corners(h, w, out_h, out_w, align_corners, value):
    x = np.full((1, 1, h, w), value, np.float32)
    np.testing.assert_allclose(interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=align_corners),
                               value, rtol=1e-6)
    ramp = normal(h * 7 + w, (1, 1, h, w))
    y = interpolate(ramp, size=(out_h, out_w), mode="bilinear", align_corners=True)
    if out_h > 1 and out_w > 1:
        for (i, j), (r, c) in zip(((0, 0), (0, -1), (-1, 0), (-1, -1)), ((0, 0), (0, -1), (-1, 0), (-1, -1))):
            np.testing.assert_allclose(y[0, 0, i, j], ramp[0, 0, r, c], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call, words", [
    (lambda x: interpolate(x), "exactly one of size or scale_factor"),
    (lambda x: interpolate(x, size=4, scale_factor=2), "exactly one of size or scale_factor"),
    (lambda x: interpolate(x, size=(0, 4)), r"size must be >= 1, got \(0, 4\)"),
    (lambda x: interpolate(x, size=(2, 3, 4)), "size must be an int or a pair of ints"),
    (lambda x: interpolate(x, scale_factor=-1.0), "scale_factor must be a positive number"),
    (lambda x: interpolate(x, scale_factor=float("nan")), "scale_factor must be a positive number"),
    (lambda x: interpolate(x, scale_factor=0.1), r"output size \(0, 0\) would be empty"),
    (lambda x: interpolate(x, size=4, mode="bicubic"), "mode must be one of nearest, bilinear"),
    (lambda x: interpolate(x, size=4, align_corners=True), "align_corners can only be set with mode 'bilinear'"),
    (lambda x: interpolate(x, size=4, mode="bilinear", align_corners=1), "align_corners must be True, False"),
    (lambda x: interpolate(x[0], size=4), "4-D"),
])
def test_interpolate_bad_input(xp, call, words):
    with pytest.raises(ValueError, match=words):
        call(xp.zeros((1, 2, 3, 3), np.float32))


# ----------------------------------------------------------------------------- pad

def naive_pad(x, left, right, top, bottom, mode):
    """Each padded cell by its rule, one at a time (constant: zero)."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, h + top + bottom, w + left + right), np.float32)

    def source(i, size):
        if mode == "reflect":
            i = -i if i < 0 else i
            return 2 * (size - 1) - i if i >= size else i
        if mode == "replicate":
            return min(max(i, 0), size - 1)
        return i % size  # circular

    for r in range(out.shape[2]):
        for col in range(out.shape[3]):
            i, j = r - top, col - left
            if 0 <= i < h and 0 <= j < w:
                out[:, :, r, col] = x[:, :, i, j]
            elif mode != "constant":
                out[:, :, r, col] = x[:, :, source(i, h), source(j, w)]
    return out


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape, widths", [((2, 3, 5, 6), (1, 2, 3, 0)), ((1, 1, 4, 4), (3, 3, 3, 3)),
                                           ((1, 2, 2, 7), (0, 0, 1, 1)), ((2, 1, 3, 1), (0, 0, 2, 1)),
                                           ((1, 2, 2, 3), (3, 0, 0, 0))])  # reflect refuses the last
def test_pad_matches_the_rules_and_torch(xp, mode, shape, widths):

    x = normal(11, shape)
    try:
        expected = F.pad(torch.from_numpy(x), widths, mode=mode).numpy()
    except (RuntimeError, NotImplementedError, ValueError):  # torch refuses: so must we, naming the rule
        with pytest.raises(ValueError, match=f"{mode} padding must be"):
            pad(xp.asarray(x), widths, mode)
        return
    np.testing.assert_array_equal(to_numpy(pad(xp.asarray(x), widths, mode)), expected)
    np.testing.assert_array_equal(expected, naive_pad(x, *widths, mode))
    x_torch = torch.from_numpy(x).requires_grad_()
    grad_output = normal(12, expected.shape)
    F.pad(x_torch, widths, mode=mode).backward(torch.from_numpy(grad_output))
    assert_close(pad_backward(xp.asarray(grad_output), shape, widths, mode), x_torch.grad.numpy(), atol=1e-5)


@pytest.mark.parametrize("widths, mode, message", [
    ((1, 1, 1), "constant", r"pad must be \(left, right\) or \(left, right, top, bottom\) of non-negative ints"),
    ((1, -1), "constant", "non-negative ints"),
    ((1, 1), "mirror", "mode must be one of constant, reflect, replicate, circular, got 'mirror'"),
    ((0, 4, 0, 0), "reflect", "reflect padding must be less than the input's size on its axis: 0 and 4 on an axis of 4"),
    ((5, 0), "circular", "circular padding must be at most the input's size on its axis: 5 and 0 on an axis of 4"),
])
def test_pad_refuses_what_it_cannot_do(widths, mode, message):

    with pytest.raises(ValueError, match=message):
        pad(np.zeros((1, 1, 3, 4), np.float32), widths, mode)
