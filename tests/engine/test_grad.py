"""Backward functions other than convolution: pools, linear, activations, losses, batch norm, reshapes.

Each against torch autograd (float32) and central finite differences (float64), with cases at
the kinks: ReLU/LeakyReLU exactly at 0, max-pool ties, ceil_mode windows over the edge, average
pooling with and without the padding counted.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backend import to_numpy
from engine.functional.activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from engine.functional.linear import linear
from engine.functional.norm import batch_norm
from engine.functional.pool import avg_pool2d, max_pool2d
from engine.functional.reshape import _nearest_indices, dropout, interpolate
from engine.grad.activation import (leaky_relu_backward, log_softmax_backward, relu_backward, sigmoid_backward,
                                    softmax_backward, tanh_backward)
from engine.grad.linear import linear_backward
from engine.grad.loss import cross_entropy, mse_loss
from engine.grad.norm import batch_norm_backward, batch_norm_eval_backward, batch_norm_train
from engine.grad.pool import avg_pool2d_backward, max_pool2d_backward
from engine.grad.reshape import dropout_backward, dropout_train, interpolate_backward, interpolation_matrix
from tests.engine.gradcheck import assert_close, assert_matches_finite_differences, seeded, torch_backward

torch = pytest.importorskip("torch")
F = torch.nn.functional

# ----------------------------------------------------------------------------- pooling

# (kernel, stride, padding, dilation, ceil_mode)
MAX_CASES = [(2, None, 0, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 2, False), ((2, 3), (1, 2), (1, 0), 1, True),
             (3, 3, 1, 1, True), (2, 1, 0, 1, False)]


def _overlapping_flags():
    """Each case with overlapping=True, and with False too where its windows are disjoint."""
    for kernel, stride, padding, dilation, ceil_mode in MAX_CASES:
        steps = zip(np.broadcast_to(kernel, 2), np.broadcast_to(stride or kernel, 2), np.broadcast_to(dilation, 2))
        disjoint = all(d * (k - 1) < s for k, s, d in steps)
        for overlapping in (True, False) if disjoint else (True,):
            yield kernel, stride, padding, dilation, ceil_mode, overlapping


@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode, overlapping", list(_overlapping_flags()))
def test_max_pool2d_backward_matches_torch(xp, kernel, stride, padding, dilation, ceil_mode, overlapping):
    x = seeded((2, 3, 9, 10), 0)
    params = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    _, grad_output, (expected,) = torch_backward(lambda a: F.max_pool2d(a, **params), [x])
    _, indices = max_pool2d(xp.asarray(x), **params, return_indices=True)
    assert_close(max_pool2d_backward(xp.asarray(grad_output), indices, x.shape, overlapping), expected)


def test_max_pool2d_backward_of_a_window_wholly_in_the_padding(xp):
    """A dilated window can read only padding: its output is -inf, and its gradient goes nowhere."""
    x = np.arange(16, dtype=np.float32).reshape(2, 1, 1, 8)
    params = dict(kernel_size=(2, 1), stride=(3, 4), padding=(1, 0), dilation=(2, 1))
    output, indices = max_pool2d(xp.asarray(x), **params, return_indices=True)
    assert np.isneginf(to_numpy(output)).all()
    grad_output = xp.ones(output.shape, np.float32)
    for overlapping in (True, False):
        np.testing.assert_array_equal(to_numpy(max_pool2d_backward(grad_output, indices, x.shape, overlapping)), 0)


def test_max_pool2d_backward_ties_go_to_the_first_maximum(xp):
    """Constant windows (a ReLU's zeros) and repeated maxima: PyTorch gives the first in scan order all of it."""
    x = np.zeros((1, 2, 6, 6), np.float32)
    x[0, 1] = np.tile([1.0, 3.0, 3.0], (6, 2))
    for params in (dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=3, stride=2,
                                                                                        ceil_mode=True)):
        _, grad_output, (expected,) = torch_backward(lambda a: F.max_pool2d(a, **params), [x])
        _, indices = max_pool2d(xp.asarray(x), **params, return_indices=True)
        assert_close(max_pool2d_backward(xp.asarray(grad_output), indices, x.shape), expected)


def test_max_pool2d_backward_matches_finite_differences(xp):
    x = xp.asarray(seeded((2, 2, 5, 6), 1, np.float64))
    params = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    y, indices = max_pool2d(x, **params, return_indices=True)
    grad_output = xp.asarray(seeded(y.shape, 2, np.float64))
    grad_x = max_pool2d_backward(grad_output, indices, x.shape)
    assert_matches_finite_differences(lambda a: max_pool2d(a, **params), [x], [grad_x], grad_output)


# (kernel, stride, padding, ceil_mode, count_include_pad)
AVG_CASES = [(2, None, 0, False, True), (3, 2, 1, True, True), (3, 2, 1, True, False), (3, 1, 1, False, False),
             ((2, 3), (3, 2), (1, 1), True, True), ((2, 3), (3, 2), (1, 1), True, False), (4, 3, 2, True, False)]


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode, count_include_pad", AVG_CASES)
def test_avg_pool2d_backward_matches_torch(xp, kernel, stride, padding, ceil_mode, count_include_pad):
    x = seeded((2, 3, 9, 10), 0)
    params = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                  count_include_pad=count_include_pad)
    _, grad_output, (expected,) = torch_backward(lambda a: F.avg_pool2d(a, **params), [x])
    assert_close(avg_pool2d_backward(xp.asarray(grad_output), x.shape, **params), expected)


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_backward_matches_finite_differences(xp, count_include_pad):
    x = xp.asarray(seeded((1, 2, 5, 7), 1, np.float64))
    params = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=count_include_pad)
    grad_output = xp.asarray(seeded(avg_pool2d(x, **params).shape, 2, np.float64))
    grad_x = avg_pool2d_backward(grad_output, x.shape, **params)
    assert_matches_finite_differences(lambda a: avg_pool2d(a, **params), [x], [grad_x], grad_output)


def test_pool_backward_bad_input_names_the_argument(xp):
    grad_output = xp.zeros((1, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="indices"):
        max_pool2d_backward(grad_output, xp.zeros((1, 2, 3, 4), np.int64), (1, 2, 6, 6))
    with pytest.raises(ValueError, match="input_shape"):
        max_pool2d_backward(grad_output, xp.zeros((1, 2, 3, 3), np.int64), (1, 3, 6, 6))
    with pytest.raises(ValueError, match="grad_output"):
        avg_pool2d_backward(grad_output, (1, 2, 8, 8), 2)
    with pytest.raises(ValueError, match="padding"):
        avg_pool2d_backward(grad_output, (1, 2, 6, 6), 2, padding=2)


# ----------------------------------------------------------------------------- linear


@pytest.mark.parametrize("shape", [(5, 7), (3, 4, 7)])
def test_linear_backward_matches_torch(xp, shape):
    x, weight, bias = seeded(shape, 0), seeded((6, 7), 1), seeded((6,), 2)
    _, grad_output, (tx, tw, tb) = torch_backward(F.linear, [x, weight, bias])
    grad_x, grad_w, grad_b = linear_backward(xp.asarray(grad_output), xp.asarray(x),
                                             xp.asfortranarray(xp.asarray(weight)))
    assert_close(grad_x, tx)
    assert_close(grad_w, tw)
    assert_close(grad_b, tb)
    assert grad_w.flags.c_contiguous


def test_linear_backward_matches_finite_differences(xp):
    x, weight, bias = (xp.asarray(seeded(s, i, np.float64)) for i, s in enumerate([(2, 3, 4), (5, 4), (5,)]))
    grad_output = xp.asarray(seeded((2, 3, 5), 9, np.float64))
    grads = linear_backward(grad_output, x, weight)
    assert_matches_finite_differences(linear, [x, weight, bias], grads, grad_output)
    assert linear_backward(grad_output, x, weight, need_input_grad=False)[0] is None
    with pytest.raises(ValueError, match="grad_output"):
        linear_backward(grad_output[:, :2], x, weight)


# ----------------------------------------------------------------------------- activations

KINKS = np.array([[-2.0, -0.0, 0.0, 1e-30, -1e-30, 3.0]], np.float32)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh"])
def test_elementwise_backward_matches_torch_including_the_kinks(xp, name):
    x = np.concatenate([seeded((3, 6), 0, scale=3), KINKS])
    slope = 0.2
    forward = {"relu": relu, "leaky_relu": lambda a: leaky_relu(a, slope), "sigmoid": sigmoid, "tanh": tanh}[name]
    torch_op = {"relu": F.relu, "leaky_relu": lambda a: F.leaky_relu(a, slope), "sigmoid": torch.sigmoid,
                "tanh": torch.tanh}[name]
    _, grad_output, (expected,) = torch_backward(torch_op, [x])
    grad_output, x_dev = xp.asarray(grad_output), xp.asarray(x)
    ours = {"relu": lambda: relu_backward(grad_output, x_dev),
            "leaky_relu": lambda: leaky_relu_backward(grad_output, x_dev, slope),
            "sigmoid": lambda: sigmoid_backward(grad_output, forward(x_dev)),
            "tanh": lambda: tanh_backward(grad_output, forward(x_dev))}[name]()
    assert_close(ours, expected)
    if name == "relu":
        assert (to_numpy(ours)[-1, 1:3] == 0).all()  # the slope at exactly 0 is 0, as in PyTorch


def test_relu_backward_cuts_inf_and_nan_gradients_like_torch(xp):
    x = np.array([[-1.0, 0.0, np.nan, 2.0, -3.0]], np.float32)
    grad_output = np.array([[np.inf, np.nan, 5.0, np.inf, -np.inf]], np.float32)
    _, _, (expected,) = torch_backward(F.relu, [x], grad_output)
    np.testing.assert_array_equal(to_numpy(relu_backward(xp.asarray(grad_output), xp.asarray(x))), expected)
    _, _, (expected,) = torch_backward(lambda a: F.leaky_relu(a, 0.5), [x], grad_output)
    np.testing.assert_array_equal(to_numpy(leaky_relu_backward(xp.asarray(grad_output), xp.asarray(x), 0.5)),
                                  expected)


@pytest.mark.parametrize("dim", [1, -1, 0])
def test_softmax_and_log_softmax_backward_match_torch(xp, dim):
    x = seeded((3, 4, 5), 0, scale=4)
    for forward, backward, torch_op in ((softmax, softmax_backward, F.softmax),
                                        (log_softmax, log_softmax_backward, F.log_softmax)):
        _, grad_output, (expected,) = torch_backward(lambda a: torch_op(a, dim=dim), [x])
        y = forward(xp.asarray(x), dim)
        assert_close(backward(xp.asarray(grad_output), y, dim), expected)


def test_activation_backward_matches_finite_differences(xp):
    x = xp.asarray(seeded((3, 5), 0, np.float64, scale=2))
    grad_output = xp.asarray(seeded((3, 5), 1, np.float64))
    cases = [(relu, relu_backward(grad_output, x)),
             (lambda a: leaky_relu(a, 0.1), leaky_relu_backward(grad_output, x, 0.1)),
             (sigmoid, sigmoid_backward(grad_output, sigmoid(x))), (tanh, tanh_backward(grad_output, tanh(x))),
             (lambda a: softmax(a, 1), softmax_backward(grad_output, softmax(x, 1), 1)),
             (lambda a: log_softmax(a, 0), log_softmax_backward(grad_output, log_softmax(x, 0), 0))]
    for forward, grad in cases:
        assert_matches_finite_differences(forward, [x], [grad], grad_output)


def test_activation_backward_bad_input_names_the_argument(xp):
    with pytest.raises(ValueError, match="grad_output"):
        relu_backward(xp.zeros((2, 3), np.float32), xp.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="dim"):
        softmax_backward(xp.zeros((2, 3), np.float32), xp.zeros((2, 3), np.float32), 2)
    with pytest.raises(ValueError, match="negative_slope"):
        leaky_relu_backward(xp.zeros(3, np.float32), xp.zeros(3, np.float32), "0.1")


# ----------------------------------------------------------------------------- losses


def test_cross_entropy_matches_torch(xp):
    logits, target = seeded((8, 10), 0, scale=3), np.random.default_rng(1).integers(0, 10, 8)
    tensor = torch.tensor(logits, requires_grad=True)
    expected = F.cross_entropy(tensor, torch.tensor(target))
    expected.backward()
    loss, grad = cross_entropy(xp.asarray(logits), xp.asarray(target))
    assert isinstance(loss, float) and loss == pytest.approx(expected.item(), rel=1e-6)
    assert_close(grad, tensor.grad.numpy())


def test_cross_entropy_is_stable_for_huge_logits_and_matches_finite_differences(xp):
    logits = np.array([[1e4, -1e4, 0.0], [3e4, 3e4, -5.0]], np.float32)
    loss, grad = cross_entropy(xp.asarray(logits), xp.asarray(np.array([1, 0])))
    tensor = torch.tensor(logits, requires_grad=True)
    expected = F.cross_entropy(tensor, torch.tensor([1, 0]))
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-6) and np.isfinite(to_numpy(grad)).all()
    assert_close(grad, tensor.grad.numpy())
    logits = xp.asarray(seeded((4, 5), 2, np.float64))
    target = xp.asarray(np.array([0, 4, 2, 2]))
    _, grad = cross_entropy(logits, target)
    assert_matches_finite_differences(lambda a: np.asarray(cross_entropy(a, target)[0]), [logits], [grad],
                                      np.ones(()))


def test_mse_loss_matches_torch_and_finite_differences(xp):
    prediction, target = seeded((4, 1, 3, 5), 0), seeded((4, 1, 3, 5), 1)
    tensor = torch.tensor(prediction, requires_grad=True)
    expected = F.mse_loss(tensor, torch.tensor(target))
    expected.backward()
    loss, grad = mse_loss(xp.asarray(prediction), xp.asarray(target))
    assert loss == pytest.approx(expected.item(), rel=1e-6)
    assert_close(grad, tensor.grad.numpy())
    prediction64, target64 = xp.asarray(prediction.astype(np.float64)), xp.asarray(target.astype(np.float64))
    _, grad = mse_loss(prediction64, target64)
    assert_matches_finite_differences(lambda a: np.asarray(mse_loss(a, target64)[0]), [prediction64], [grad],
                                      np.ones(()))


def test_loss_bad_input_names_the_argument(xp):
    logits = xp.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="target"):
        cross_entropy(logits, xp.asarray(np.array([0, 4, 1])))
    with pytest.raises(ValueError, match="target"):
        cross_entropy(logits, xp.zeros(3, np.float32))
    with pytest.raises(ValueError, match="logits"):
        cross_entropy(xp.zeros(3, np.float32), xp.asarray(np.array([0, 1, 1])))
    with pytest.raises(ValueError, match="target"):
        mse_loss(logits, xp.zeros((4, 3), np.float32))


# ----------------------------------------------------------------------------- batch norm


@pytest.mark.parametrize("shape, affine", [((4, 3, 5, 6), True), ((6, 4), True), ((3, 2, 4, 4), False)])
def test_batch_norm_train_and_backward_match_torch(xp, shape, affine):
    x, weight, bias = seeded(shape, 0, scale=2) + 1, seeded(shape[1:2], 1), seeded(shape[1:2], 2)
    if affine:
        output, grad_output, (tx, tw, tb) = torch_backward(
            lambda a, w, b: F.batch_norm(a, None, None, w, b, training=True, eps=1e-3), [x, weight, bias])
        y, saved = batch_norm_train(xp.asarray(x), xp.asarray(weight), xp.asarray(bias), eps=1e-3)
    else:
        output, grad_output, (tx,) = torch_backward(lambda a: F.batch_norm(a, None, None, training=True, eps=1e-3),
                                                    [x])
        y, saved = batch_norm_train(xp.asarray(x), None, None, eps=1e-3)
    assert_close(y, output)
    grad_x, grad_w, grad_b = batch_norm_backward(xp.asarray(grad_output), saved)
    assert_close(grad_x, tx)
    if affine:
        assert_close(grad_w, tw)
        assert_close(grad_b, tb)
    else:
        assert grad_w is None and grad_b is None
    axes = (0,) + tuple(range(2, len(shape)))
    np.testing.assert_allclose(to_numpy(saved.unbiased_var), x.var(axis=axes, ddof=1), rtol=1e-5)


def test_batch_norm_backward_matches_finite_differences(xp):
    x, weight, bias = (xp.asarray(seeded(s, i, np.float64)) for i, s in enumerate([(3, 2, 2, 3), (2,), (2,)]))
    grad_output = xp.asarray(seeded(x.shape, 5, np.float64))
    _, saved = batch_norm_train(x, weight, bias)
    grads = batch_norm_backward(grad_output, saved)
    assert_matches_finite_differences(lambda a, w, b: batch_norm_train(a, w, b)[0], [x, weight, bias], grads,
                                      grad_output, rtol=1e-5, atol=1e-6)


def test_batch_norm_eval_backward_matches_torch(xp):
    x, weight, bias = seeded((3, 4, 5, 5), 0), seeded((4,), 1), seeded((4,), 2)
    mean, var = seeded((4,), 3), np.abs(seeded((4,), 4)) + 0.5
    _, grad_output, (tx, tw, tb) = torch_backward(
        lambda a, w, b: F.batch_norm(a, torch.tensor(mean), torch.tensor(var), w, b, training=False), [x, weight, bias])
    grads = batch_norm_eval_backward(xp.asarray(grad_output), xp.asarray(x), xp.asarray(mean), xp.asarray(var),
                                     xp.asarray(weight), xp.asarray(bias))
    for ours, expected in zip(grads, (tx, tw, tb)):
        assert_close(ours, expected)
    arrays = [xp.asarray(a.astype(np.float64)) for a in (x[:1, :, :2, :3], weight, bias)]
    stats = [xp.asarray(a.astype(np.float64)) for a in (mean, var)]
    grad_output = xp.asarray(seeded((1, 4, 2, 3), 6, np.float64))
    grads = batch_norm_eval_backward(grad_output, arrays[0], *stats, arrays[1], arrays[2])
    assert_matches_finite_differences(lambda a, w, b: batch_norm(a, *stats, w, b), arrays, grads, grad_output)


def test_batch_norm_train_bad_input_names_the_argument(xp):
    with pytest.raises(ValueError, match="more than 1 value"):
        batch_norm_train(xp.zeros((1, 3), np.float32), None, None)
    with pytest.raises(ValueError, match="weight"):
        batch_norm_train(xp.zeros((2, 3), np.float32), xp.ones(4, np.float32), None)
    with pytest.raises(ValueError, match="eps"):
        batch_norm_train(xp.zeros((2, 3), np.float32), None, None, eps=-1)


# ----------------------------------------------------------------------------- interpolate and dropout


@pytest.mark.parametrize("mode, align_corners", [("nearest", None), ("bilinear", False), ("bilinear", True)])
@pytest.mark.parametrize("resize", [dict(scale_factor=2), dict(scale_factor=3), dict(scale_factor=(1, 4)),
                                    dict(scale_factor=2.5), dict(scale_factor=(0.5, 1.75)), dict(size=(7, 3)),
                                    dict(size=(13, 12)), dict(scale_factor=1.7, recompute_scale_factor=True)])
def test_interpolate_backward_matches_torch(xp, mode, align_corners, resize):
    """Whole factors (block sums for nearest) and any other size or factor (the interpolation matrices)."""
    x = seeded((2, 3, 5, 4), 0)
    params = dict(**resize, mode=mode, align_corners=align_corners)
    _, grad_output, (expected,) = torch_backward(lambda a: F.interpolate(a, **params), [x])
    assert_close(interpolate_backward(xp.asarray(grad_output), x.shape, **params), expected)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("scale", [1, 2, 3, 5])
def test_interpolation_matrices_reproduce_the_forward(xp, align_corners, scale):
    x = xp.asarray(seeded((2, 2, 6, 5), 1))
    rows = interpolation_matrix(xp, 6, 6 * scale, float(scale), "bilinear", align_corners, np.float32)
    cols = interpolation_matrix(xp, 5, 5 * scale, float(scale), "bilinear", align_corners, np.float32)
    expected = interpolate(x, scale_factor=scale, mode="bilinear", align_corners=align_corners)
    assert_close(rows @ x @ cols.T, to_numpy(expected), rtol=1e-6, atol_scale=1e-6)


def test_nearest_upsampling_repeats_blocks_for_every_integer_scale(xp):
    """The block sum in interpolate_backward relies on nearest reading x[i // s] for integer s."""
    for scale in range(1, 9):
        for size in (1, 7, 28, 64):
            indices = to_numpy(_nearest_indices(xp, size, size * scale, float(scale)))
            np.testing.assert_array_equal(indices, np.arange(size * scale) // scale)


def test_interpolate_backward_matches_finite_differences(xp):
    x = xp.asarray(seeded((1, 2, 3, 4), 0, np.float64))
    for params in (dict(scale_factor=2, mode="nearest", align_corners=None),
                   dict(scale_factor=(3, 2), mode="bilinear", align_corners=False),
                   dict(scale_factor=2, mode="bilinear", align_corners=True)):
        grad_output = xp.asarray(seeded(interpolate(x, **params).shape, 1, np.float64))
        grad_x = interpolate_backward(grad_output, x.shape, **params)
        assert_matches_finite_differences(lambda a: interpolate(a, **params), [x], [grad_x], grad_output)
    with pytest.raises(ValueError, match="scale_factor"):
        interpolate_backward(grad_output, x.shape, scale_factor=0, mode="nearest")


@settings(max_examples=20, deadline=None)
@given(p=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]), seed=st.integers(0, 2**32 - 1))
def test_dropout_train_is_the_functional_dropout_and_its_backward_the_mask(p, seed):
    x = seeded((4, 3, 5), 0)
    y, mask = dropout_train(x, p, seed)
    np.testing.assert_array_equal(y, dropout(x, p, training=True, rng=seed))
    assert set(np.unique(mask)) <= {0.0, 1.0} and mask.dtype == np.float32
    grad_output = seeded(x.shape, 1)
    grad_x = dropout_backward(grad_output, mask, p)
    expected = np.zeros_like(x) if p == 1 else grad_output * mask / np.float32(1 - p)
    np.testing.assert_allclose(grad_x, expected, rtol=1e-6)
    # The backward is the forward's own Jacobian: torch autograd through y = x * mask / (1 - p).
    if p < 1:
        _, _, (torch_grad,) = torch_backward(lambda a: a * torch.tensor(mask) / (1 - p), [x], grad_output)
        assert_close(grad_x, torch_grad)


def test_dropout_keeps_about_one_minus_p(xp):
    y, mask = dropout_train(xp.ones((100, 100), np.float32), 0.3, 7)
    assert 0.67 < float(mask.mean()) < 0.73
    assert float(to_numpy(y).max()) == pytest.approx(1 / 0.7)
