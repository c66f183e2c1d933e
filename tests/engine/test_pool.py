"""max_pool2d and avg_pool2d against naive loops and PyTorch, values and argmax indices."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backend import to_numpy
from engine.functional.pool import avg_pool2d, max_pool2d


# ----------------------------------------------------------------------------- references

def pool_output_size(size, kernel, stride, padding, dilation, ceil_mode):
    """PyTorch's pooling_output_shape, written out again for the naive loops."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def naive_max_pool(x, kernel, stride, padding, dilation, ceil_mode):
    """Scan each window row by row from -inf, moving on `value > best or isnan(value)` (PyTorch's CPU loop)."""
    n, c, h, w = x.shape
    ho = pool_output_size(h, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    wo = pool_output_size(w, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    values = np.empty((n, c, ho, wo), x.dtype)
    indices = np.empty((n, c, ho, wo), np.int64)
    for b in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    rows = [i * stride[0] - padding[0] + p * dilation[0] for p in range(kernel[0])]
                    cols = [j * stride[1] - padding[1] + q * dilation[1] for q in range(kernel[1])]
                    rows = [r for r in rows if 0 <= r < h]
                    cols = [s for s in cols if 0 <= s < w]
                    best, where = -math.inf, rows[0] * w + cols[0]
                    for r in rows:
                        for s in cols:
                            value = x[b, ch, r, s]
                            if value > best or math.isnan(value):
                                best, where = value, r * w + s
                    values[b, ch, i, j], indices[b, ch, i, j] = best, where
    return values, indices


def naive_avg_pool(x, kernel, stride, padding, ceil_mode, count_include_pad):
    """Sum each window's real cells in float64 and divide by PyTorch's count."""
    n, c, h, w = x.shape
    ho = pool_output_size(h, kernel[0], stride[0], padding[0], 1, ceil_mode)
    wo = pool_output_size(w, kernel[1], stride[1], padding[1], 1, ceil_mode)
    out = np.empty((n, c, ho, wo), np.float64)
    for i in range(ho):
        for j in range(wo):
            r0, s0 = i * stride[0] - padding[0], j * stride[1] - padding[1]
            r1, s1 = min(r0 + kernel[0], h + padding[0]), min(s0 + kernel[1], w + padding[1])
            count = (r1 - r0) * (s1 - s0)
            r0, s0, r1, s1 = max(r0, 0), max(s0, 0), min(r1, h), min(s1, w)
            if not count_include_pad:
                count = (r1 - r0) * (s1 - s0)
            out[:, :, i, j] = x[:, :, r0:r1, s0:s1].astype(np.float64).sum(axis=(2, 3)) / count
    return out


def torch_max_pool(x, *args):
    values, indices = F.max_pool2d(torch.from_numpy(x), *args, return_indices=True)
    return values.numpy(), indices.numpy()


def torch_avg_pool(x, *args):
    return F.avg_pool2d(torch.from_numpy(x), *args).numpy()


def as_pair(v):
    return (v, v) if isinstance(v, int) else v


# ----------------------------------------------------------------------------- seeded cases

# (input shape, kernel_size, stride, padding, dilation, ceil_mode)
MAX_CASES = [
    ((1, 1, 4, 4), 2, None, 0, 1, False),
    ((2, 3, 7, 9), 2, 2, 0, 1, True),
    ((2, 3, 7, 9), 3, 2, 1, 1, False),
    ((2, 3, 7, 9), 3, 2, 1, 1, True),
    ((1, 2, 8, 5), (3, 2), (2, 1), (1, 1), 1, False),
    ((3, 2, 9, 10), (2, 3), (3, 2), (1, 0), (2, 1), True),
    ((1, 2, 11, 11), 3, 1, 1, 2, False),
    ((2, 1, 6, 13), (1, 4), (1, 3), (0, 2), (1, 2), True),
    ((1, 4, 5, 5), 5, 1, 2, 1, False),
    ((1, 1, 1, 1), 1, 1, 0, 1, False),
    ((2, 2, 10, 3), (4, 1), (3, 1), (2, 0), 1, True),
]

# (input shape, kernel_size, stride, padding, ceil_mode, count_include_pad)
AVG_CASES = [
    ((1, 1, 4, 4), 2, None, 0, False, True),
    ((2, 3, 7, 9), 2, 2, 0, True, True),
    ((2, 3, 7, 9), 3, 2, 1, False, False),
    ((2, 3, 7, 9), 3, 2, 1, True, True),
    ((2, 3, 7, 9), 3, 2, 1, True, False),
    ((1, 2, 8, 5), (3, 2), (2, 1), (1, 1), False, True),
    ((3, 2, 9, 10), (2, 3), (3, 2), (1, 0), True, False),
    ((2, 1, 6, 13), (1, 4), (1, 3), (0, 2), True, True),
    ((1, 4, 5, 5), 5, 1, 2, False, False),
    ((2, 2, 10, 3), (4, 1), (3, 1), (2, 0), True, True),
]


@pytest.mark.parametrize("case", MAX_CASES, ids=str)
def test_max_pool_matches_naive_loop_and_torch(xp, case):
    shape, kernel, stride, padding, dilation, ceil_mode = case
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    args = (kernel, stride, padding, dilation, ceil_mode)
    values, indices = max_pool2d(xp.asarray(x), *args, return_indices=True)
    plain = max_pool2d(xp.asarray(x), *args)
    pair_stride = as_pair(stride) if stride is not None else as_pair(kernel)
    naive_values, naive_indices = naive_max_pool(x, as_pair(kernel), pair_stride, as_pair(padding),
                                                 as_pair(dilation), ceil_mode)
    torch_values, torch_indices = torch_max_pool(x, *args)
    for result in (values, plain):
        assert result.shape == naive_values.shape == torch_values.shape
        assert result.dtype == np.float32
        np.testing.assert_array_equal(to_numpy(result), naive_values)
        np.testing.assert_array_equal(to_numpy(result), torch_values)
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(to_numpy(indices), naive_indices)
    np.testing.assert_array_equal(to_numpy(indices), torch_indices)


@pytest.mark.parametrize("case", AVG_CASES, ids=str)
def test_avg_pool_matches_naive_loop_and_torch(xp, case):
    shape, kernel, stride, padding, ceil_mode, count_include_pad = case
    rng = np.random.default_rng(sum(shape) + 1)
    x = rng.standard_normal(shape).astype(np.float32)
    args = (kernel, stride, padding, ceil_mode, count_include_pad)
    result = avg_pool2d(xp.asarray(x), *args)
    pair_stride = as_pair(stride) if stride is not None else as_pair(kernel)
    naive = naive_avg_pool(x, as_pair(kernel), pair_stride, as_pair(padding), ceil_mode, count_include_pad)
    reference = torch_avg_pool(x, *args)
    assert result.shape == naive.shape == reference.shape
    assert result.dtype == np.float32
    np.testing.assert_allclose(to_numpy(result), naive, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(to_numpy(result), reference, rtol=1e-4, atol=1e-6)


def test_float64_input_stays_float64(xp):
    x = xp.asarray(np.random.default_rng(0).standard_normal((1, 2, 6, 6)))
    assert max_pool2d(x, 2).dtype == np.float64
    assert avg_pool2d(x, 3, 2, 1).dtype == np.float64


# ----------------------------------------------------------------------------- argmax: ties, NaN, -inf

def test_indices_equal_torch_on_random_geometries_with_ties_and_nan(xp):
    """Many random geometries; inputs rounded to a few levels so windows hold ties, plus some NaN."""
    rng = np.random.default_rng(7)
    for _ in range(60):
        kernel = tuple(int(v) for v in rng.integers(1, 4, 2))
        stride = tuple(int(v) for v in rng.integers(1, 4, 2))
        dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        ceil_mode = bool(rng.integers(2))
        # at least as large as the dilated kernel minus the padding, so the output is never empty
        h, w = (max(int(rng.integers(1, 10)), d * (k - 1) + 1 - 2 * p) for k, d, p in zip(kernel, dilation, padding))
        x = np.round(rng.standard_normal((2, 2, h, w)) * 1.5).astype(np.float32)
        x[rng.random(x.shape) < 0.05] = np.nan
        args = (kernel, stride, padding, dilation, ceil_mode)
        torch_values, torch_indices = torch_max_pool(x, *args)
        values, indices = max_pool2d(xp.asarray(x), *args, return_indices=True)
        np.testing.assert_array_equal(to_numpy(values), torch_values)
        np.testing.assert_array_equal(to_numpy(indices), torch_indices)


def test_ties_keep_the_first_maximum_in_scan_order(xp):
    x = np.array([[[[1, 5, 5], [5, 2, 5], [0, 5, 1]]]], np.float32)
    values, indices = max_pool2d(xp.asarray(x), 3, return_indices=True)
    assert float(values[0, 0, 0, 0]) == 5
    assert int(indices[0, 0, 0, 0]) == 1  # row 0, column 1: the first 5 met row by row


def test_nan_propagates_and_the_last_nan_in_scan_order_wins(xp):
    x = np.array([[[[1, np.nan, 3, 2], [np.nan, 4, 0, np.nan]]]], np.float32)
    values, indices = max_pool2d(xp.asarray(x), 2, return_indices=True)
    assert np.isnan(to_numpy(values)).all()
    np.testing.assert_array_equal(to_numpy(indices)[0, 0, 0], [4, 7])  # PyTorch: (1, 0) and (1, 3)
    torch_values, torch_indices = torch_max_pool(x, 2)
    np.testing.assert_array_equal(to_numpy(indices), torch_indices)
    avg = avg_pool2d(xp.asarray(x), 2)
    assert np.isnan(to_numpy(avg)).all()


def test_all_minus_inf_window_points_at_its_first_real_cell(xp):
    """Padding is -inf too, but never wins: PyTorch reports the first unpadded cell of the window."""
    x = np.full((1, 1, 3, 3), -np.inf, np.float32)
    x[0, 0, 2, 2] = 1.0
    args = (3, 2, 1, 1, False)
    values, indices = max_pool2d(xp.asarray(x), *args, return_indices=True)
    torch_values, torch_indices = torch_max_pool(x, *args)
    np.testing.assert_array_equal(to_numpy(values), torch_values)
    np.testing.assert_array_equal(to_numpy(indices), torch_indices)
    assert int(indices[0, 0, 0, 0]) == 0


def test_infinities_flow_through(xp):
    x = np.array([[[[np.inf, 1, -np.inf, -np.inf], [2, 3, -np.inf, -np.inf]]]], np.float32)
    np.testing.assert_array_equal(to_numpy(max_pool2d(xp.asarray(x), 2)), [[[[np.inf, -np.inf]]]])
    with np.errstate(invalid="ignore"):
        avg = to_numpy(avg_pool2d(xp.asarray(x), 2))
    np.testing.assert_array_equal(avg, torch_avg_pool(x, 2))


# ----------------------------------------------------------------------------- ceil_mode edge cases

def test_ceil_mode_last_window_running_past_the_padded_edge_is_clipped(xp):
    """5 wide, kernel 2, stride 2, padding 1, ceil_mode: torch divides the last window by its clipped size."""
    x = np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5)
    for count_include_pad in (True, False):
        args = (2, 2, 1, True, count_include_pad)
        result = to_numpy(avg_pool2d(xp.asarray(x), *args))
        np.testing.assert_allclose(result, torch_avg_pool(x, *args), rtol=1e-6)
        np.testing.assert_allclose(result, naive_avg_pool(x, (2, 2), (2, 2), (1, 1), True, count_include_pad),
                                   rtol=1e-6)


def test_ceil_mode_window_longer_than_the_input(xp):
    x = np.arange(3, dtype=np.float32).reshape(1, 1, 1, 3)
    values, indices = max_pool2d(xp.asarray(x), 2, 2, 0, 1, True, return_indices=True)
    torch_values, torch_indices = torch_max_pool(x, 2, 2, 0, 1, True)
    np.testing.assert_array_equal(to_numpy(values), torch_values)
    np.testing.assert_array_equal(to_numpy(indices), torch_indices)


# ----------------------------------------------------------------------------- properties

geometry = st.tuples(
    st.integers(1, 3), st.integers(1, 3),  # kernel
    st.integers(1, 3), st.integers(1, 3),  # stride
    st.integers(0, 4), st.integers(0, 4),  # extra height, width beyond the kernel
    st.booleans(),  # ceil_mode
    st.integers(0, 2**31 - 1),  # seed
)


@settings(max_examples=40, deadline=None)
@given(geometry)
def test_max_pool_is_at_least_the_mean_of_the_same_windows(params):
    kh, kw, sh, sw, eh, ew, ceil_mode, seed = params
    x = np.random.default_rng(seed).standard_normal((1, 2, kh + eh, kw + ew)).astype(np.float32)
    maximum = max_pool2d(x, (kh, kw), (sh, sw), 0, 1, ceil_mode)
    mean = avg_pool2d(x, (kh, kw), (sh, sw), 0, ceil_mode, count_include_pad=False)
    assert maximum.shape == mean.shape
    assert np.all(maximum >= mean - 1e-6)


@settings(max_examples=40, deadline=None)
@given(geometry, st.integers(1, 2), st.integers(1, 2))
def test_max_pool_values_are_the_input_at_the_indices(params, dh, dw):
    kh, kw, sh, sw, eh, ew, ceil_mode, seed = params
    x = np.random.default_rng(seed).standard_normal((2, 2, kh * dh + eh, kw * dw + ew)).astype(np.float32)
    padding = (kh // 2, kw // 2)
    values, indices = max_pool2d(x, (kh, kw), (sh, sw), padding, (dh, dw), ceil_mode, return_indices=True)
    picked = np.take_along_axis(x.reshape(2, 2, -1), indices.reshape(2, 2, -1), axis=2).reshape(values.shape)
    np.testing.assert_array_equal(picked, values)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_pooling_a_constant_map_gives_the_constant(kernel, seed):
    value = np.float32(np.random.default_rng(seed).uniform(-5, 5))
    x = np.full((1, 1, 7, 6), value, np.float32)
    assert np.all(max_pool2d(x, kernel, 1, kernel // 2) == value)
    np.testing.assert_allclose(avg_pool2d(x, kernel, 1, kernel // 2, count_include_pad=False), value, rtol=1e-6)


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("call, words", [
    (lambda x: max_pool2d(x, 2, padding=2), "padding"),
    (lambda x: avg_pool2d(x, 3, padding=2), "padding"),
    (lambda x: max_pool2d(x, 2, stride=0), "stride"),
    (lambda x: avg_pool2d(x, 2, stride=(1, -1)), "stride"),
    (lambda x: max_pool2d(x, 0), "kernel_size"),
    (lambda x: max_pool2d(x, (2, 2, 2)), "kernel_size"),
    (lambda x: max_pool2d(x, 2, dilation=0), "dilation"),
    (lambda x: max_pool2d(x, 2, padding=-1), "padding"),
    (lambda x: max_pool2d(x, 6), "output height would be empty"),
    (lambda x: avg_pool2d(x, (1, 9)), "output width would be empty"),
    (lambda x: max_pool2d(x[0], 2), "4-D"),
    (lambda x: avg_pool2d(x.astype(np.int32), 2), "floating-point"),
    (lambda x: max_pool2d(x, 2, ceil_mode="no"), "ceil_mode must be True or False, got 'no'"),
    (lambda x: avg_pool2d(x, 2, ceil_mode=1), "ceil_mode must be True or False, got 1"),
    (lambda x: avg_pool2d(x, 2, stride=10**20), "stride must be at most 2,147,483,647"),  # was an OverflowError
])
def test_bad_input_names_the_argument(xp, call, words):
    x = xp.zeros((1, 1, 5, 5), np.float32)
    with pytest.raises(ValueError, match=words):
        call(x)


def test_the_layers_output_sizes_are_torchs_with_ceil_mode_and_padding():
    """The catalogue's shape rule: ⌈…⌉ + 1 with ceil_mode, less one when the last window would start in the
    right-hand padding (H 5, kernel 2, stride 2, padding 1: ⌈5 / 2⌉ + 1 = 4, less one: 3, as torch)."""
    from engine.layers import AvgPool2d, MaxPool2d

    assert MaxPool2d(2, 2, 1, ceil_mode=True).output_shape((1, 1, 5, 5)) == (1, 1, 3, 3)
    assert "right-hand padding" in MaxPool2d.shape_rule and "right-hand padding" in AvgPool2d.shape_rule
    for size in range(1, 8):
        for kernel in range(1, 5):
            for stride in range(1, 4):
                for padding in range(kernel // 2 + 1):
                    x = torch.zeros(1, 1, size, size)
                    for ours, theirs in ((MaxPool2d, torch.nn.MaxPool2d), (AvgPool2d, torch.nn.AvgPool2d)):
                        try:
                            expected = tuple(theirs(kernel, stride, padding, ceil_mode=True)(x).shape)
                        except RuntimeError:  # an empty output
                            with pytest.raises(ValueError, match="would be empty"):
                                ours(kernel, stride, padding, ceil_mode=True).output_shape((1, 1, size, size))
                            continue
                        assert ours(kernel, stride, padding, ceil_mode=True).output_shape((1, 1, size, size)) \
                            == expected, (ours.kind, size, kernel, stride, padding)
