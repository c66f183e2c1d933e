"""relu, leaky_relu, sigmoid, tanh, softmax and log_softmax against naive loops and PyTorch."""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.backend import to_numpy
from engine.functional.activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh

# Kinks and extremes: zero of both signs, ties, values where exp overflows float32, infinities, NaN.
SPECIAL = np.array([0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, 0.5, 0.5, 20.0, -20.0, 88.0, -88.0, 89.0, -104.0,
                    1e4, -1e4, 3e38, -3e38, np.inf, -np.inf, np.nan], np.float32)


def sample(seed, shape=(3, 4, 5), scale=4.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def naive_elementwise(function, x):
    """Apply a scalar Python function to every element (in float64), then round to float32."""
    return np.array([function(float(v)) for v in x.ravel()], np.float64).reshape(x.shape).astype(np.float32)


def naive_sigmoid(v):
    if math.isnan(v):
        return math.nan
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def naive_softmax(x, dim, log=False):
    """Loop over every 1-D slice along dim; float64 maths."""
    moved = np.moveaxis(x.astype(np.float64), dim, -1)
    out = np.empty_like(moved)
    for index in np.ndindex(moved.shape[:-1]):
        row = moved[index]
        top = max(row)
        exps = [math.exp(v - top) for v in row]
        total = sum(exps)
        out[index] = [(v - top) - math.log(total) if log else e / total for v, e in zip(row, exps)]
    return np.moveaxis(out, -1, dim).astype(np.float32)


def assert_close(actual, expected, atol=1e-6):
    actual = to_numpy(actual)
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=atol, equal_nan=True)


ELEMENTWISE = [
    (relu, F.relu, lambda v: max(v, 0.0) if not math.isnan(v) else math.nan),
    (leaky_relu, F.leaky_relu, lambda v: v if v > 0 else 0.01 * v),
    (sigmoid, torch.sigmoid, naive_sigmoid),
    (tanh, torch.tanh, math.tanh),
]


@pytest.mark.parametrize("op, reference, scalar", ELEMENTWISE, ids=lambda v: getattr(v, "__name__", ""))
def test_elementwise_ops_match_naive_and_torch(xp, op, reference, scalar):
    for x in (sample(1), SPECIAL):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no overflow or invalid-value warnings, even at +-inf and NaN
            result = op(xp.asarray(x))
        assert_close(result, naive_elementwise(scalar, x), atol=1e-30)
        assert_close(result, reference(torch.from_numpy(x)).numpy(), atol=1e-30)


@pytest.mark.parametrize("slope", [0.0, 1.5, -1.5])
def test_leaky_relu_with_any_slope_matches_torch_without_warnings(xp, slope):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inf * 0 and 3e38 * 1.5 in the branch that where() drops
        result = leaky_relu(xp.asarray(SPECIAL), slope)
    assert_close(result, F.leaky_relu(torch.from_numpy(SPECIAL), slope).numpy(), atol=1e-30)


def test_softmax_takes_numpy_integer_dims_and_empty_inputs(xp):
    x = xp.asarray(sample(2))
    np.testing.assert_array_equal(to_numpy(softmax(x, np.int64(1))), to_numpy(softmax(x, 1)))
    for op in (softmax, log_softmax):
        for dim in (0, 1):
            empty = op(xp.zeros((2, 0), np.float32), dim)
            assert empty.shape == tuple(torch.softmax(torch.zeros(2, 0), dim).shape) == (2, 0)


def test_relu_results_are_fresh_writable_arrays_of_any_shape(xp):
    """relu reads a cached array of zeros on NumPy: writing a result must not touch it, and shapes and dtypes vary."""
    for shape, dtype in (((3, 5), np.float32), ((2, 1, 4, 4), np.float64), ((0, 7), np.float32),
                         ((70_000,), np.float32)):
        x = xp.asarray(np.random.default_rng(0).standard_normal(shape).astype(dtype))
        result = relu(x)
        assert result.shape == shape and result.dtype == dtype
        np.testing.assert_array_equal(to_numpy(result), np.maximum(to_numpy(x), 0))
        result[...] = 5  # writable, and not the zeros relu compared against
    np.testing.assert_array_equal(to_numpy(relu(-xp.ones((70_001,), np.float32))), 0)
    transposed = xp.asarray(np.arange(-6, 6, dtype=np.float32).reshape(3, 4)).T
    np.testing.assert_array_equal(to_numpy(relu(transposed)), np.maximum(to_numpy(transposed), 0))


def test_elementwise_results_at_the_kinks(xp):
    x = xp.asarray(np.array([0.0, -0.0, -np.inf, np.inf, np.nan, -2.0, 3.0], np.float32))
    np.testing.assert_array_equal(to_numpy(relu(x)), [0, 0, 0, np.inf, np.nan, 0, 3])
    np.testing.assert_array_equal(to_numpy(leaky_relu(x, 0.1)), np.array([0, 0, -np.inf, np.inf, np.nan, -0.2, 3],
                                                                          np.float32))
    np.testing.assert_array_equal(to_numpy(sigmoid(x))[:5], [0.5, 0.5, 0, 1, np.nan])
    np.testing.assert_array_equal(to_numpy(tanh(x))[:5], [0, 0, -1, 1, np.nan])


def test_leaky_relu_slopes_match_torch(xp):
    x = sample(2)
    for slope in (0.0, 0.2, 1.0, -0.5, 3):
        assert_close(leaky_relu(xp.asarray(x), slope), F.leaky_relu(torch.from_numpy(x), slope).numpy())


def test_sigmoid_is_exact_in_the_tails(xp):
    """exp(-|x|) never overflows: sigmoid(-87) is the tiny positive exp(-87), not 0, a warning or NaN."""
    x = xp.asarray(np.array([-87.0, -60.0, 60.0, 100.0], np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = to_numpy(sigmoid(x))
    np.testing.assert_allclose(result[:2], [math.exp(-87), math.exp(-60)], rtol=1e-5)
    np.testing.assert_array_equal(result[2:], [1, 1])


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_matches_naive_and_torch(xp, dim, log):
    x = sample(3)
    op, reference = (log_softmax, torch.log_softmax) if log else (softmax, torch.softmax)
    result = op(xp.asarray(x), dim)
    assert_close(result, naive_softmax(x, dim, log))
    assert_close(result, reference(torch.from_numpy(x), dim).numpy())


@pytest.mark.parametrize("log", [False, True])
def test_softmax_special_rows_match_torch(xp, log):
    """Ties, huge values, -inf entries, all -inf, +inf and NaN rows; PyTorch gives NaN for the last three."""
    rows = np.array([
        [1.0, 1.0, 1.0, 1.0],
        [1e38, -1e38, 0.0, 1e38],
        [-np.inf, 2.0, -np.inf, 1.0],
        [-np.inf, -np.inf, -np.inf, -np.inf],
        [np.inf, 1.0, 2.0, 3.0],
        [np.nan, 1.0, 2.0, 3.0],
        [1e4, -1e4, 0.0, 1e-4],
    ], np.float32)
    op, reference = (log_softmax, torch.log_softmax) if log else (softmax, torch.softmax)
    for dim in (0, 1):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = op(xp.asarray(rows), dim)
        expected = reference(torch.from_numpy(rows), dim).numpy()
        assert_close(result, expected)
        np.testing.assert_array_equal(np.isnan(to_numpy(result)), np.isnan(expected))
    np.testing.assert_array_equal(to_numpy(softmax(xp.asarray(rows), 1))[0], [0.25] * 4)


def test_softmax_of_float64_stays_float64(xp):
    x = xp.asarray(sample(4).astype(np.float64))
    assert softmax(x, 1).dtype == np.float64
    assert log_softmax(x, 1).dtype == np.float64
    assert sigmoid(x).dtype == np.float64


# ----------------------------------------------------------------------------- properties

finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)
matrices = arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 6)), elements=finite)


@settings(max_examples=60, deadline=None)
@given(matrices)
def test_softmax_rows_are_probabilities(x):
    probabilities = softmax(x, 1)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(np.exp(log_softmax(x, 1)), probabilities, rtol=1e-4, atol=1e-30)


@settings(max_examples=60, deadline=None)
@given(matrices, st.floats(-100, 100, width=32))
def test_softmax_ignores_a_shift(x, shift):
    np.testing.assert_allclose(softmax(x + np.float32(shift), 1), softmax(x, 1), rtol=1e-3, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.integers(1, 20), elements=st.floats(width=32)))
def test_relu_is_idempotent_and_non_negative(x):
    once = relu(x)
    np.testing.assert_array_equal(relu(once), once)
    assert np.all(once[~np.isnan(once)] >= 0)
    np.testing.assert_array_equal(np.isnan(once), np.isnan(x))


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.integers(1, 20), elements=st.floats(-50, 50, width=32)))
def test_sigmoid_and_tanh_symmetries(x):
    np.testing.assert_allclose(sigmoid(-x), 1 - sigmoid(x), atol=1e-6)
    np.testing.assert_array_equal(tanh(-x), -tanh(x))
    np.testing.assert_allclose(tanh(x), 2 * sigmoid(2 * x) - 1, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, st.integers(1, 20), elements=finite))
def test_leaky_relu_with_slope_one_is_the_identity(x):
    np.testing.assert_array_equal(leaky_relu(x, 1.0), x)
    np.testing.assert_array_equal(leaky_relu(x, 0.0), relu(x))


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("call, words", [
    (lambda x: relu(x.astype(np.int32)), "floating-point"),
    (lambda x: sigmoid([1.0, 2.0]), "array"),
    (lambda x: leaky_relu(x, "0.1"), "negative_slope"),
    (lambda x: softmax(x, 2), "dim 2 is out of range"),
    (lambda x: log_softmax(x, -3), "dim -3 is out of range"),
    (lambda x: softmax(x.astype(np.int64), 0), "floating-point"),
    (lambda x: softmax(x, 1.0), "dim must be an int"),
])
def test_bad_input_names_the_argument(xp, call, words):
    x = xp.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=words):
        call(x)
