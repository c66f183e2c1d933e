"""conv2d and conv_transpose2d against a naive loop written here and against PyTorch.

Every formulation inside engine/functional/conv.py (im2col GEMM in image blocks and
in row blocks, row-shift GEMMs in one or many row blocks, Winograd F(2x2, 3x3) in one
or many tile blocks, GEMM + col2im) is driven by cases chosen to reach it, and a spy
checks that it was reached.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.functional.conv as conv_module
from engine.backend import to_numpy
from engine.functional.conv import conv2d, conv_transpose2d

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL = 1e-4
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


# ----------------------------------------------------------------------------- references


def _as_pads(padding, kernel, dilation):
    """(top, bottom, left, right) for an int, a pair, or "valid"/"same" (odd pixel at the end, as torch)."""
    if padding == "valid":
        return 0, 0, 0, 0
    if padding == "same":
        th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
        return th // 2, th - th // 2, tw // 2, tw - tw // 2
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return ph, ph, pw, pw


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def naive_conv2d(x, w, b, stride, padding, dilation, groups):
    """The definition, in float64 loops (g = o // (O/G)):

    out[n, o, i, j] = b[o] + sum_{c,p,q} w[o, c, p, q] * x_pad[n, g*C/G + c, i*s + p*d, j*s + q*d]
    """
    x, w = x.astype(np.float64), w.astype(np.float64)
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    kh, kw = w.shape[2:]
    top, bottom, left, right = _as_pads(padding, (kh, kw), (dh, dw))
    x_pad = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    n, c, hp, wp = x_pad.shape
    o_total = w.shape[0]
    cg, og = c // groups, o_total // groups
    ho, wo = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o_total, ho, wo))
    for i_n in range(n):
        for o in range(o_total):
            g = o // og
            for i in range(ho):
                for j in range(wo):
                    total = 0.0 if b is None else float(b[o])
                    for ci in range(cg):
                        for p in range(kh):
                            for q in range(kw):
                                total += w[o, ci, p, q] * x_pad[i_n, g * cg + ci, i * sh + p * dh, j * sw + q * dw]
                    out[i_n, o, i, j] = total
    return out


def naive_conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation):
    """Scatter: out[n, g*O/G + o, i*s + p*d - pad, j*s + q*d - pad] += x[n, c, i, j] * w[c, o, p, q], plus b[o]."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = map(_pair, (stride, padding, output_padding, dilation))
    n, c, h, wd = x.shape
    kh, kw = w.shape[2:]
    og = w.shape[1]
    cg = c // groups
    ho = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    wo = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    out = np.zeros((n, og * groups, ho, wo))
    if b is not None:
        out += np.asarray(b, np.float64)[:, None, None]
    for i_n in range(n):
        for ci in range(c):
            g = ci // cg
            for i in range(h):
                for j in range(wd):
                    for o in range(og):
                        for p in range(kh):
                            for q in range(kw):
                                y, z = i * sh + p * dh - ph, j * sw + q * dw - pw
                                if 0 <= y < ho and 0 <= z < wo:
                                    out[i_n, g * og + o, y, z] += x[i_n, ci, i, j] * w[ci, o, p, q]
    return out


def torch_conv2d(x, w, b, stride, padding, dilation, groups):
    t = lambda a: None if a is None else torch.from_numpy(np.asarray(a, np.float64))
    return F.conv2d(t(x), t(w), t(b), stride, padding, dilation, groups).numpy()


def torch_conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation):
    t = lambda a: None if a is None else torch.from_numpy(np.asarray(a, np.float64))
    return F.conv_transpose2d(t(x), t(w), t(b), stride, padding, output_padding, groups, dilation).numpy()


def assert_matches(got, expected):
    """Shape and dtype first, then float32 closeness relative to the output's magnitude."""
    got = to_numpy(got)
    assert got.dtype == np.float32
    assert got.shape == expected.shape
    scale = float(np.abs(expected).max()) if expected.size else 1.0
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-5 * scale + 1e-6)


def _data(seed, x_shape, w_shape, bias_size):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = None if bias_size is None else rng.standard_normal(bias_size).astype(np.float32)
    return x, w, b


def _on(xp, *arrays):
    return [None if a is None else xp.asarray(a) for a in arrays]


@pytest.fixture
def spy(monkeypatch):
    """Count calls of the private formulations, to prove a case reaches the branch it is meant for."""
    calls = {"winograd": 0, "im2col": 0, "row_shift": 0}

    def wrap(name, key):
        original = getattr(conv_module, name)

        def counted(*args, **kwargs):
            calls[key] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(conv_module, name, counted)

    wrap("_winograd_conv3x3", "winograd")
    wrap("_im2col_conv", "im2col")
    wrap("_row_shift_conv", "row_shift")
    return calls


# ----------------------------------------------------------------------------- conv2d: general (im2col) path

# (x shape, weight shape, stride, padding, dilation, groups, bias)
CONV_CASES = [
    ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0, 1, 1, True),
    ((2, 3, 7, 6), (4, 3, 3, 3), 1, 1, 1, 1, True),
    ((2, 3, 9, 8), (5, 3, 3, 2), 2, 1, 1, 1, False),
    ((1, 2, 8, 11), (3, 2, 2, 4), (2, 3), (1, 2), 1, 1, True),
    ((1, 2, 9, 9), (2, 2, 3, 3), 1, (2, 0), (2, 1), 1, True),
    ((2, 4, 8, 7), (6, 2, 3, 3), 1, 1, 1, 2, True),
    ((1, 6, 7, 7), (6, 1, 3, 3), 2, 1, 1, 6, True),  # depthwise
    ((1, 3, 6, 6), (6, 1, 3, 3), 1, 1, 1, 3, False),  # depthwise, channel multiplier 2
    ((1, 4, 10, 7), (4, 2, 2, 2), (1, 2), 0, (3, 2), 2, True),
    ((1, 2, 6, 7), (3, 2, 4, 3), 1, "same", 1, 1, True),  # even kernel: the odd pixel goes at the end
    ((1, 2, 7, 7), (3, 2, 2, 2), 1, "same", 2, 1, False),
    ((1, 2, 5, 6), (3, 2, 3, 3), 1, "valid", 1, 1, True),
    ((2, 1, 28, 28), (8, 1, 5, 5), 1, 0, 1, 1, True),
    ((1, 3, 16, 16), (4, 3, 3, 3), 2, 1, 1, 1, True),
    ((1, 2, 3, 3), (2, 2, 3, 3), 1, 3, 1, 1, True),  # padding wider than the input
    ((1, 8, 6, 6), (8, 8, 3, 3), 1, 1, 1, 1, True),  # 3x3 but too few channels for Winograd
    ((1, 20, 6, 5), (4, 10, 3, 3), 1, 1, 1, 2, True),  # 3x3 with groups: GEMM path
    ((1, 20, 6, 5), (4, 20, 3, 3), 1, 1, 2, 1, True),  # 3x3 dilated: GEMM path
    ((1, 20, 9, 8), (4, 20, 3, 3), 2, 1, 1, 1, True),  # 3x3 strided: GEMM path
    ((1, 3, 8, 9), (32, 3, 3, 3), 1, 1, 1, 1, True),  # fewer taps than output channels
    ((2, 2, 5, 5), (4, 2, 1, 1), 1, 0, 1, 1, True),  # 1x1
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups, bias", CONV_CASES,
                         ids=[f"case{i}" for i in range(len(CONV_CASES))])
def test_conv2d_matches_naive_loop_and_torch(xp, spy, x_shape, w_shape, stride, padding, dilation, groups, bias):
    x, w, b = _data(len(x_shape) + sum(x_shape), x_shape, w_shape, w_shape[0] if bias else None)
    got = conv2d(*_on(xp, x, w, b), stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert_matches(got, naive_conv2d(x, w, b, stride, padding, dilation, groups))
    assert_matches(got, torch_conv2d(x, w, b, stride, padding, dilation, groups))
    assert spy["im2col"] == 1 and spy["winograd"] == 0


@pytest.mark.parametrize("stride", [(2, 1), 1])
def test_conv2d_im2col_in_row_blocks(xp, spy, monkeypatch, stride):
    """An image whose im2col matrix exceeds the budget is done in blocks of output rows."""
    monkeypatch.setattr(conv_module, "_cols_budget", lambda xp: 2000)
    x, w, b = _data(3, (2, 3, 13, 9), (4, 3, 3, 3), 4)
    got = conv2d(*_on(xp, x, w, b), stride=stride, padding=1)
    assert_matches(got, torch_conv2d(x, w, b, stride, 1, 1, 1))
    assert spy["im2col"] == 1


def test_conv2d_im2col_in_image_blocks(xp, monkeypatch):
    """Several small images share one im2col block; the batch is split when they do not all fit."""
    x, w, b = _data(4, (5, 2, 6, 6), (3, 2, 3, 3), 3)
    per_image = (2 * 9 + 1) * 6 * 6 * 4  # (taps + 1) * output pixels * 4 bytes
    monkeypatch.setattr(conv_module, "_cols_budget", lambda xp: 2 * per_image)  # blocks of 2, 2 and 1 images
    got = conv2d(*_on(xp, x, w, b), padding=1)
    assert_matches(got, torch_conv2d(x, w, b, 1, 1, 1, 1))


# ----------------------------------------------------------------------------- conv2d: row-shift path


@pytest.fixture
def row_shift_for_all(monkeypatch):
    """Let every stride-1 layer, however small, take the row-shift path (and none take Winograd)."""
    monkeypatch.setattr(conv_module, "_ROW_SHIFT_MIN_CHANNELS", 1)
    monkeypatch.setattr(conv_module, "_ROW_SHIFT_MIN_PIXELS", 1)
    monkeypatch.setattr(conv_module, "_WINOGRAD_MIN_CHANNEL_PRODUCT", 10**9)


STRIDE_ONE_CASES = [case for case in CONV_CASES if case[2] == 1]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups, bias", STRIDE_ONE_CASES,
                         ids=[f"case{i}" for i in range(len(STRIDE_ONE_CASES))])
def test_conv2d_row_shift_matches_naive_loop_and_torch(xp, spy, row_shift_for_all, x_shape, w_shape, stride,
                                                      padding, dilation, groups, bias):
    x, w, b = _data(len(x_shape) + sum(x_shape), x_shape, w_shape, w_shape[0] if bias else None)
    got = conv2d(*_on(xp, x, w, b), stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert_matches(got, naive_conv2d(x, w, b, stride, padding, dilation, groups))
    assert_matches(got, torch_conv2d(x, w, b, stride, padding, dilation, groups))
    if xp is np:  # CuPy takes the im2col path by design
        assert spy["row_shift"] == 1 and spy["im2col"] == 0


def test_conv2d_row_shift_in_one_row_blocks(xp, spy, row_shift_for_all, monkeypatch):
    """Blocks of one output row each: every run, including the last, reads past its row's end."""
    monkeypatch.setattr(conv_module, "_ROW_SHIFT_BLOCK_COLUMNS", 1)
    x, w, b = _data(11, (2, 5, 9, 7), (3, 5, 3, 4), 3)
    got = conv2d(*_on(xp, x, w, b), padding=(1, 2), dilation=(2, 1))
    assert_matches(got, torch_conv2d(x, w, b, 1, (1, 2), (2, 1), 1))
    if xp is np:
        assert spy["row_shift"] == 1


def test_conv2d_row_shift_keeps_nan_and_inf_where_they_belong(xp, row_shift_for_all):
    """Thrown-away columns read across rows; a non-finite input must reach only its own outputs."""
    x, w, b = _data(12, (1, 4, 8, 8), (3, 4, 3, 3), 3)
    x[0, 1, 2, 7] = np.nan  # last column: its row's wrap-around columns are the ones thrown away
    x[0, 2, 5, 0] = np.inf
    got = to_numpy(conv2d(*_on(xp, x, w, b), padding=1))
    want = torch_conv2d(x, w, b, 1, 1, 1, 1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))


def test_conv2d_row_shift_takes_wide_layers_by_default(xp, spy):
    """With the default thresholds, a 32x32 layer with 16 channels takes the row-shift path and agrees with im2col."""
    x, w, b = _data(13, (1, 16, 32, 32), (16, 16, 3, 3), 16)
    got = to_numpy(conv2d(*_on(xp, x, w, b), padding=1))
    assert_matches(got, torch_conv2d(x, w, b, 1, 1, 1, 1))
    if xp is np:
        assert spy["row_shift"] == 1 and spy["im2col"] == 0 and spy["winograd"] == 0


# ----------------------------------------------------------------------------- conv2d: Winograd path


@pytest.fixture
def winograd_from_16(monkeypatch):
    """Let small 3x3 layers (C * O >= 16) take Winograd, so that small cases reach it."""
    monkeypatch.setattr(conv_module, "_WINOGRAD_MIN_CHANNEL_PRODUCT", 16)


WINOGRAD_CASES = [
    ((1, 16, 8, 8), 8, 1, True),
    ((2, 16, 7, 9), 5, 1, True),  # odd output sizes, batch 2
    ((1, 24, 6, 5), 3, 0, False),
    ((1, 16, 5, 6), 4, (0, 2), True),  # asymmetric padding
    ((1, 16, 4, 4), 4, "same", True),
    ((1, 16, 1, 1), 2, 1, True),  # a single output pixel
    ((1, 64, 14, 14), 32, 1, True),
]


@pytest.mark.parametrize("x_shape, out_channels, padding, bias", WINOGRAD_CASES,
                         ids=[f"case{i}" for i in range(len(WINOGRAD_CASES))])
def test_conv2d_winograd_matches_naive_loop_and_torch(xp, spy, winograd_from_16, x_shape, out_channels, padding, bias):
    x, w, b = _data(sum(x_shape), x_shape, (out_channels, x_shape[1], 3, 3), out_channels if bias else None)
    got = conv2d(*_on(xp, x, w, b), padding=padding)
    assert_matches(got, torch_conv2d(x, w, b, 1, padding, 1, 1))
    if x.size <= 2000:
        assert_matches(got, naive_conv2d(x, w, b, 1, padding, 1, 1))
    if xp is np:  # CuPy takes the GEMM path by design
        assert spy["winograd"] == 1 and spy["im2col"] == 0


def test_conv2d_winograd_in_many_tile_blocks(xp, spy, winograd_from_16, monkeypatch):
    """Blocks of one tile row each, with a last block shorter than the others."""
    monkeypatch.setattr(conv_module, "_WINOGRAD_BLOCK_BYTES", 1)
    monkeypatch.setattr(conv_module, "_WINOGRAD_BLOCK_TILES", 1)
    x, w, b = _data(7, (2, 16, 11, 10), (6, 16, 3, 3), 6)
    got = conv2d(*_on(xp, x, w, b), padding=1)
    assert_matches(got, torch_conv2d(x, w, b, 1, 1, 1, 1))
    if xp is np:
        assert spy["winograd"] == 1


def test_conv2d_winograd_and_gemm_agree_on_a_vgg_layer(xp, monkeypatch):
    x, w, b = _data(8, (1, 256, 14, 14), (64, 256, 3, 3), 64)
    x, w, b = _on(xp, x, w, b)
    fast = to_numpy(conv2d(x, w, b, padding=1))
    monkeypatch.setattr(conv_module, "_WINOGRAD_MIN_CHANNEL_PRODUCT", 10**9)
    direct = to_numpy(conv2d(x, w, b, padding=1))
    np.testing.assert_allclose(fast, direct, rtol=RTOL, atol=1e-5 * float(np.abs(direct).max()))


# ----------------------------------------------------------------------------- conv_transpose2d

# (x shape, weight shape, stride, padding, output_padding, groups, dilation, bias)
TRANSPOSE_CASES = [
    ((1, 1, 3, 3), (1, 1, 3, 3), 1, 0, 0, 1, 1, True),
    ((2, 3, 4, 5), (3, 2, 3, 3), 2, 1, 1, 1, 1, True),
    ((1, 4, 5, 4), (4, 2, 4, 4), 2, 1, 0, 1, 1, False),  # the upsampling layer of the benchmark, small
    ((1, 2, 3, 4), (2, 3, 2, 3), (3, 2), (1, 0), (2, 1), 1, 1, True),
    ((2, 4, 3, 3), (4, 1, 3, 3), 1, 1, 0, 2, 1, True),  # groups
    ((1, 2, 4, 3), (2, 2, 3, 2), 2, 0, (1, 0), 1, (2, 1), True),  # dilation
    ((1, 2, 2, 2), (2, 1, 3, 3), 3, 2, 2, 1, 1, True),  # padding crops taps at both ends
    ((1, 3, 3, 3), (3, 1, 3, 3), 1, 0, 0, 3, 2, False),  # depthwise, dilated
    # kernel a multiple of the stride: one im2col and one GEMM for all phases
    ((2, 4, 3, 5), (4, 3, 2, 2), 2, 0, 1, 2, 1, True),  # phases of unequal sizes, groups
    ((2, 2, 5, 4), (2, 3, 4, 6), (2, 3), (1, 2), 0, 1, 1, True),  # non-square kernel and stride
    ((1, 2, 4, 4), (2, 2, 4, 4), 2, 0, 0, 1, (1, 2), False),  # dilation 1 on rows, 2 on columns
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, output_padding, groups, dilation, bias",
                         TRANSPOSE_CASES, ids=[f"case{i}" for i in range(len(TRANSPOSE_CASES))])
def test_conv_transpose2d_matches_naive_loop_and_torch(xp, x_shape, w_shape, stride, padding, output_padding,
                                                      groups, dilation, bias):
    x, w, b = _data(sum(w_shape), x_shape, w_shape, w_shape[1] * groups if bias else None)
    args = (stride, padding, output_padding, groups, dilation)
    got = conv_transpose2d(*_on(xp, x, w, b), *args)
    assert_matches(got, naive_conv_transpose2d(x, w, b, *args))
    assert_matches(got, torch_conv_transpose2d(x, w, b, *args))


def test_conv_transpose2d_in_image_blocks(xp, monkeypatch):
    monkeypatch.setattr(conv_module, "_cols_budget", lambda xp: 1)
    x, w, b = _data(9, (3, 4, 5, 5), (4, 3, 4, 4), 3)
    got = conv_transpose2d(*_on(xp, x, w, b), stride=2, padding=1)
    assert_matches(got, torch_conv_transpose2d(x, w, b, 2, 1, 0, 1, 1))


def test_conv_transpose2d_benchmark_layer(xp):
    x, w, b = _data(10, (1, 64, 14, 14), (64, 32, 4, 4), 32)
    got = conv_transpose2d(*_on(xp, x, w, b), stride=2, padding=1)
    assert_matches(got, torch_conv_transpose2d(x, w, b, 2, 1, 0, 1, 1))


# ----------------------------------------------------------------------------- properties


@settings(max_examples=25, deadline=None)
@given(channels=st.integers(1, 20), size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
       kernel=st.sampled_from([1, 3, 5]), depthwise=st.booleans(), seed=st.integers(0, 2**16))
def test_identity_kernel_returns_the_input(channels, size, kernel, depthwise, seed):
    x = np.random.default_rng(seed).standard_normal((2, channels) + size).astype(np.float32)
    if depthwise:
        w = np.zeros((channels, 1, kernel, kernel), np.float32)
        w[:, 0, kernel // 2, kernel // 2] = 1
    else:
        w = np.zeros((channels, channels, kernel, kernel), np.float32)
        w[np.arange(channels), np.arange(channels), kernel // 2, kernel // 2] = 1
    got = conv2d(x, w, padding=kernel // 2, groups=channels if depthwise else 1)
    assert got.shape == x.shape
    np.testing.assert_allclose(got, x, rtol=1e-6, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_conv_transpose2d_is_the_adjoint_of_conv2d(data):
    """<conv2d(x, w), y> == <x, conv_transpose2d(y, w)> for every stride, padding, dilation and groups."""
    groups = data.draw(st.integers(1, 3), "groups")
    c_in = groups * data.draw(st.integers(1, 3), "in per group")
    c_out = groups * data.draw(st.integers(1, 3), "out per group")
    kernel = data.draw(st.tuples(st.integers(1, 4), st.integers(1, 4)), "kernel")
    stride = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 3)), "stride")
    dilation = data.draw(st.tuples(st.integers(1, 2), st.integers(1, 2)), "dilation")
    padding = data.draw(st.tuples(st.integers(0, 2), st.integers(0, 2)), "padding")
    span = [d * (k - 1) + 1 - 2 * p for d, k, p in zip(dilation, kernel, padding)]
    height = data.draw(st.integers(max(1, span[0]), max(1, span[0]) + 6), "height")
    width = data.draw(st.integers(max(1, span[1]), max(1, span[1]) + 6), "width")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), "seed"))
    x = rng.standard_normal((2, c_in, height, width)).astype(np.float32)
    w = rng.standard_normal((c_out, c_in // groups) + kernel).astype(np.float32)
    forward = conv2d(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    y = rng.standard_normal(forward.shape).astype(np.float32)
    # output_padding restores the rows and columns that the forward floor division dropped.
    output_padding = tuple(
        size - ((o - 1) * s - 2 * p + d * (k - 1) + 1)
        for size, o, s, p, d, k in zip((height, width), forward.shape[2:], stride, padding, dilation, kernel)
    )
    backward = conv_transpose2d(y, w, stride=stride, padding=padding, output_padding=output_padding,
                                groups=groups, dilation=dilation)
    assert backward.shape == x.shape
    lhs = float(np.dot(forward.ravel().astype(np.float64), y.ravel()))
    rhs = float(np.dot(x.ravel().astype(np.float64), backward.ravel()))
    scale = float(np.abs(forward).sum() * np.abs(y).max()) + 1e-6
    assert abs(lhs - rhs) <= 1e-5 * scale


@settings(max_examples=15, deadline=None)
@given(height=st.integers(1, 12), width=st.integers(1, 12), padding=st.integers(0, 2),
       batch=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_winograd_equals_torch_for_any_size(height, width, padding, batch, seed):
    if height + 2 * padding < 3 or width + 2 * padding < 3:
        return
    x, w, b = _data(seed, (batch, 16, height, width), (5, 16, 3, 3), 5)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conv_module, "_WINOGRAD_MIN_CHANNEL_PRODUCT", 16)
        got = conv2d(x, w, b, padding=padding)
    assert_matches(got, torch_conv2d(x, w, b, 1, padding, 1, 1))


# ----------------------------------------------------------------------------- non-finite values

@pytest.mark.parametrize("channels", [3, 16], ids=["gemm", "winograd-shape"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_conv2d_lets_nan_and_inf_flow_like_torch(xp, spy, winograd_from_16, channels, bad):
    """Winograd's transforms would turn Inf into NaN, so non-finite input takes the direct path."""
    x, w, b = _data(11, (1, channels, 8, 8), (4, channels, 3, 3), 4)
    x[0, 1, 3, 4] = bad
    x[0, 2, 0, 7] = bad
    got = to_numpy(conv2d(*_on(xp, x, w, b), padding=1))
    expected = torch_conv2d(x, w, b, 1, 1, 1, 1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected))
    finite = np.isfinite(expected)
    assert 0 < finite.sum() < finite.size
    np.testing.assert_allclose(got[finite], expected[finite], rtol=RTOL, atol=1e-4)
    assert spy["winograd"] == 0


def test_conv2d_nan_weight_poisons_only_its_output_channel(xp, winograd_from_16):
    x, w, b = _data(12, (1, 16, 6, 6), (3, 16, 3, 3), 3)
    w[1, 5, 0, 0] = np.nan
    got = to_numpy(conv2d(*_on(xp, x, w, b), padding=1))
    assert np.isnan(got[0, 1]).all()
    assert np.isfinite(got[0, [0, 2]]).all()


def test_conv_transpose2d_lets_nan_flow_like_torch(xp):
    x, w, b = _data(13, (1, 2, 4, 4), (2, 3, 4, 4), 3)
    x[0, 1, 2, 1] = np.nan
    got = to_numpy(conv_transpose2d(*_on(xp, x, w, b), stride=2, padding=1))
    expected = torch_conv_transpose2d(x, w, b, 2, 1, 0, 1, 1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    assert np.isfinite(got).any()


@pytest.mark.parametrize("kernel", [3, 4])
def test_conv_transpose2d_inf_reaches_only_its_taps_like_torch(xp, kernel):
    """k3 s2 has phases with fewer taps than others: no zero weight may meet the Inf (0 * Inf = NaN)."""
    x, w, b = _data(14, (1, 2, 5, 5), (2, 2, kernel, kernel), 2)
    x[0, 0, 2, 3] = np.inf
    w = np.abs(w) + 0.1  # positive weights: the Inf stays +Inf, never Inf - Inf
    got = to_numpy(conv_transpose2d(*_on(xp, x, w, b), stride=2, padding=1))
    expected = torch_conv_transpose2d(x, w, b, 2, 1, 0, 1, 1)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    assert not np.isnan(got).any()
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
@pytest.mark.parametrize("geometry", [
    dict(stride=2, padding=1, output_padding=0, groups=1, dilation=1),  # k4 s2: all phases share one im2col
    dict(stride=(3, 2), padding=(1, 0), output_padding=(1, 0), groups=2, dilation=(1, 2)),  # scattered phases
])
def test_conv_transpose2d_non_finite_weight_meets_only_real_pixels(xp, bad, geometry):
    """An Inf or NaN weight reaches only the outputs its tap writes; padding zeros never meet it (0 * Inf = NaN)."""
    x, w, b = _data(16, (2, 4, 4, 5), (4, 3, 4, 4), 3 * geometry["groups"])
    w[1, 2, 0, 0] = bad
    w[2, 0, 3, 2] = bad
    args = (geometry["stride"], geometry["padding"], geometry["output_padding"], geometry["groups"],
            geometry["dilation"])
    got = to_numpy(conv_transpose2d(*_on(xp, x, w, b), *args))
    expected = naive_conv_transpose2d(x, w, b, *args)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    assert np.isfinite(expected).any() and not np.isfinite(expected).all()
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(np.isnan(torch_conv_transpose2d(x, w, b, *args)), np.isnan(expected))


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_conv_transpose2d_inf_weight_on_a_zero_input_gives_nan_without_a_warning(xp):
    """Inf * 0 inside a tap's GEMM is NaN, as in PyTorch, and NumPy must not warn about it (it did)."""
    x = np.ones((1, 2, 3, 3), np.float32)
    x[0, 0, 1, 1] = 0
    w = np.ones((2, 1, 3, 3), np.float32)
    w[0, 0, 1, 1] = np.inf
    got = to_numpy(conv_transpose2d(*_on(xp, x, w), None, stride=2))
    expected = torch_conv_transpose2d(x, w, None, 2, 0, 0, 1, 1)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    assert np.isnan(got[0, 0, 3, 3])  # the Inf tap on the zero pixel


def test_reused_scratch_memory_never_leaks_into_a_later_result(xp, winograd_from_16):
    """The per-thread workspace is left full of NaN by one call; the next, smaller calls must not see it."""
    poisoned = xp.full((2, 32, 20, 20), np.nan, dtype=xp.float32)
    conv2d(poisoned, xp.ones((4, 32, 3, 3), dtype=xp.float32), padding=2)
    conv_transpose2d(poisoned, xp.ones((32, 2, 4, 4), dtype=xp.float32), stride=2, padding=1)
    for padding in (1, (2, 0)):
        x, w, b = _data(15, (1, 16, 7, 6), (3, 16, 3, 3), 3)
        assert_matches(conv2d(*_on(xp, x, w, b), padding=padding), torch_conv2d(x, w, b, 1, padding, 1, 1))
        x, w, b = _data(16, (1, 3, 7, 6), (3, 3, 3, 3), 3)
        assert_matches(conv2d(*_on(xp, x, w, b), padding=padding), torch_conv2d(x, w, b, 1, padding, 1, 1))
    x, w, b = _data(17, (1, 4, 5, 5), (4, 3, 4, 4), 3)
    assert_matches(conv_transpose2d(*_on(xp, x, w, b), stride=2, padding=1),
                   torch_conv_transpose2d(x, w, b, 2, 1, 0, 1, 1))


# ----------------------------------------------------------------------------- dtypes and bad input


def test_float64_input_gives_float64(xp):
    x, w, b = _data(14, (1, 2, 5, 5), (3, 2, 3, 3), 3)
    x, w, b = _on(xp, x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
    assert conv2d(x, w, b).dtype == np.float64
    assert conv_transpose2d(x, xp.ones((2, 1, 2, 2)), None, stride=2).dtype == np.float64


def _conv_call(x_shape=(1, 4, 6, 6), w_shape=(2, 4, 3, 3), dtype=np.float32, **kwargs):
    def call(xp):
        return conv2d(xp.zeros(x_shape, dtype=dtype), xp.zeros(w_shape, dtype=np.float32), **kwargs)
    return call


def _transpose_call(x_shape=(1, 4, 6, 6), w_shape=(4, 2, 3, 3), **kwargs):
    def call(xp):
        return conv_transpose2d(xp.zeros(x_shape, dtype=np.float32), xp.zeros(w_shape, dtype=np.float32), **kwargs)
    return call


BAD_INPUTS = [
    (_conv_call(x_shape=(4, 6, 6)), r"input must be 4-D"),
    (_conv_call(w_shape=(2, 4, 3)), r"weight must be 4-D"),
    (_conv_call(dtype=np.int32), r"input must be a floating-point array"),
    (_conv_call(w_shape=(2, 3, 3, 3)), r"input of conv2d .*expected 3 channels, got 4"),
    (_conv_call(w_shape=(2, 2, 3, 3), groups=3), r"groups=3 must divide the input channels 4"),
    (_conv_call(w_shape=(3, 2, 3, 3), groups=2), r"groups=2 must divide the output channels 3"),
    (_conv_call(groups=0), r"groups must be a positive integer"),
    (_conv_call(stride=0), r"stride must be >= 1"),
    (_conv_call(stride=(1, -2)), r"stride must be >= 1"),
    (_conv_call(dilation=0), r"dilation must be >= 1"),
    (_conv_call(padding=-1), r"padding must be >= 0"),
    (_conv_call(padding="full"), r"padding must be 'valid', 'same'"),
    (_conv_call(padding="same", stride=2), r"padding='same' needs stride 1"),
    (_conv_call(padding=(1, 2, 3)), r"padding must be an int or a pair"),
    (_conv_call(stride=(1, 10**20)), r"stride must be at most 2,147,483,647, got \(1, 1000"),  # was an OverflowError
    (_conv_call(w_shape=(2, 4, 7, 3)),
     r"output height would be empty: the dilated kernel 7 is larger than the padded input 6 "
     r"\(kernel_size 7, dilation 1, input 6, padding 0, stride 1\)"),
    (_conv_call(w_shape=(2, 4, 3, 3), dilation=(1, 3)), r"output width would be empty"),
    (_conv_call(w_shape=(2, 4, 0, 3)), r"weight must have no empty axis"),
    (lambda xp: conv2d(xp.zeros((1, 4, 6, 6), np.float32), xp.zeros((2, 4, 3, 3), np.float32),
                       xp.zeros(3, np.float32)), r"bias must be 1-D with 2 entries"),
    (_transpose_call(w_shape=(3, 2, 3, 3)), r"input of conv_transpose2d .*expected 3 channels, got 4"),
    (_transpose_call(stride=2, output_padding=2), r"output_padding 2 must be smaller than stride 2"),
    (_transpose_call(padding=5), r"output height would be empty"),
    (_transpose_call(stride=0), r"stride must be >= 1"),
    (_transpose_call(groups=3), r"groups=3 must divide the input channels 4"),
    (lambda xp: conv_transpose2d(xp.zeros((1, 4, 6, 6), np.float32), xp.zeros((4, 2, 3, 3), np.float32),
                                 xp.zeros(2, np.float32), groups=2), r"bias must be 1-D with 4 entries"),
]


@pytest.mark.parametrize("call, message", BAD_INPUTS, ids=[f"bad{i}" for i in range(len(BAD_INPUTS))])
def test_bad_input_raises_value_error_naming_the_argument(xp, call, message):
    with pytest.raises(ValueError, match=message):
        call(xp)
