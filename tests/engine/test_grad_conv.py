"""conv2d_backward and conv_transpose2d_backward: against torch autograd, finite differences, and each other.

The identities the backward is built on are tested on their own: conv2d's input gradient is a
conv_transpose2d of dL/dy, conv_transpose2d's is a conv2d of dL/dy, and conv_transpose2d's weight
gradient is conv2d's weight gradient with the input and the output gradient swapped (in PyTorch too).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backend import to_numpy
from engine.functional.conv import conv2d, conv_transpose2d
from engine.grad.conv import conv2d_backward, conv_transpose2d_backward
from tests.engine.gradcheck import assert_close, assert_matches_finite_differences, seeded, torch_backward

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

# (N, C, H, W, O, kernel, stride, padding, dilation, groups)
CONV2D_CASES = [
    (2, 3, 9, 7, 4, 3, 1, 1, 1, 1),
    (3, 4, 10, 13, 6, (3, 2), (2, 1), (1, 0), 1, 2),
    (2, 4, 11, 8, 4, 3, 2, 0, 2, 4),  # depthwise, dilated, strided
    (1, 2, 9, 12, 3, (2, 4), 3, (1, 2), (2, 1), 1),  # rows/columns left over after the last window
    (2, 3, 6, 7, 5, 1, 2, 0, 1, 1),  # 1x1 kernel, stride 2
    (2, 2, 7, 8, 4, (3, 4), 1, "same", (1, 2), 2),  # odd total padding: one more at the bottom/right
    (2, 3, 7, 6, 2, 3, 1, "valid", 1, 1),
    (1, 16, 64, 64, 16, 3, 1, 1, 1, 1),  # the weight gradient in blocks of output rows
    (2, 2, 1, 1, 3, 3, 3, 2, 1, 1),  # an input smaller than the stride, in wide padding
    (1, 2, 2, 5, 2, (3, 1), (4, 3), (2, 0), 1, 1),  # rows the stride never reaches, and padding rows it does
]

# (N, C, H, W, O, kernel, stride, padding, output_padding, groups, dilation)
TRANSPOSE_CASES = [
    (2, 4, 5, 6, 6, 3, 1, 1, 0, 1, 1),
    (2, 4, 5, 4, 6, 3, 2, 1, 1, 2, 1),  # kernel not a multiple of the stride
    (3, 3, 7, 7, 2, 4, 2, 1, 0, 1, 1),  # the autoencoder decoder's geometry
    (2, 2, 4, 5, 4, (3, 2), (2, 3), (0, 1), (1, 2), 2, 1),
    (2, 3, 4, 5, 3, 3, 1, 0, 1, 1, 2),  # output_padding >= stride, allowed since dilation > stride
    (1, 4, 3, 6, 4, 2, 3, 0, 2, 4, (2, 1)),  # depthwise with gaps between the stamps
]


def _conv2d_arrays(case, dtype=np.float32, seed=0):
    n, c, h, w, o, kernel, stride, padding, dilation, groups = case
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = seeded((n, c, h, w), seed, dtype)
    weight = seeded((o, c // groups, kh, kw), seed + 1, dtype)
    bias = seeded((o,), seed + 2, dtype)
    return x, weight, bias, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


def _transpose_arrays(case, dtype=np.float32, seed=0):
    n, c, h, w, o, kernel, stride, padding, output_padding, groups, dilation = case
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = seeded((n, c, h, w), seed, dtype)
    weight = seeded((c, o // groups, kh, kw), seed + 1, dtype)
    bias = seeded((o,), seed + 2, dtype)
    return x, weight, bias, dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                                 dilation=dilation)


# ----------------------------------------------------------------------------- against torch autograd


@pytest.mark.parametrize("case", CONV2D_CASES)
def test_conv2d_backward_matches_torch(xp, case):
    x, weight, bias, params = _conv2d_arrays(case)
    _, grad_output, (tx, tw, tb) = torch_backward(lambda a, b, c: F.conv2d(a, b, c, **params), [x, weight, bias])
    grad_x, grad_w, grad_b = conv2d_backward(xp.asarray(grad_output), xp.asarray(x), xp.asarray(weight), **params)
    assert_close(grad_x, tx)
    assert_close(grad_w, tw)
    assert_close(grad_b, tb)


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose2d_backward_matches_torch(xp, case):
    x, weight, bias, params = _transpose_arrays(case)
    _, grad_output, (tx, tw, tb) = torch_backward(lambda a, b, c: F.conv_transpose2d(a, b, c, **params),
                                                  [x, weight, bias])
    grad_x, grad_w, grad_b = conv_transpose2d_backward(xp.asarray(grad_output), xp.asarray(x), xp.asarray(weight),
                                                       **params)
    assert_close(grad_x, tx)
    assert_close(grad_w, tw)
    assert_close(grad_b, tb)


def test_need_input_grad_false_skips_the_input_gradient(xp):
    x, weight, _, params = _conv2d_arrays(CONV2D_CASES[1])
    grad_output = xp.asarray(seeded(conv2d(x, weight, **params).shape, 5))
    full = conv2d_backward(grad_output, xp.asarray(x), xp.asarray(weight), **params)
    skipped = conv2d_backward(grad_output, xp.asarray(x), xp.asarray(weight), **params, need_input_grad=False)
    assert skipped[0] is None
    np.testing.assert_array_equal(to_numpy(skipped[1]), to_numpy(full[1]))
    x, weight, _, params = _transpose_arrays(TRANSPOSE_CASES[1])
    grad_output = xp.asarray(seeded(conv_transpose2d(x, weight, **params).shape, 5))
    assert conv_transpose2d_backward(grad_output, xp.asarray(x), xp.asarray(weight), **params,
                                     need_input_grad=False)[0] is None


def test_nan_and_inf_flow_through(xp):
    x, weight, _, params = _conv2d_arrays(CONV2D_CASES[0])
    x[0, 0, 2, 3], x[1, 1, 0, 0] = np.nan, np.inf
    grad_output = seeded(conv2d(x, weight, **params).shape, 3)
    grad_x, grad_w, _ = conv2d_backward(xp.asarray(grad_output), xp.asarray(x), xp.asarray(weight), **params)
    assert np.isfinite(to_numpy(grad_x)).all()  # dL/dx does not read x
    assert np.isnan(to_numpy(grad_w)).any()


# ----------------------------------------------------------------------------- finite differences, float64


@pytest.mark.parametrize("case", [
    (2, 2, 5, 6, 2, 3, 1, 1, 1, 1),
    (1, 4, 7, 6, 2, (2, 3), (2, 1), (1, 0), (1, 2), 2),
    (1, 2, 5, 5, 2, 2, 1, "same", 1, 1),
])
def test_conv2d_backward_matches_finite_differences(xp, case):
    x, weight, _, params = (a if isinstance(a, dict) else xp.asarray(a) for a in _conv2d_arrays(case, np.float64))
    grad_output = xp.asarray(seeded(conv2d(x, weight, **params).shape, 7, np.float64))
    grad_x, grad_w, _ = conv2d_backward(grad_output, x, weight, **params)
    assert_matches_finite_differences(lambda a, b: conv2d(a, b, **params), [x, weight], [grad_x, grad_w], grad_output)


@pytest.mark.parametrize("case", [
    (1, 2, 3, 4, 2, 3, 2, 1, 1, 1, 1),
    (2, 2, 3, 3, 4, (2, 3), (1, 2), (0, 1), (0, 1), 2, 1),
    (1, 2, 3, 3, 2, 2, 1, 0, 1, 1, 2),
])
def test_conv_transpose2d_backward_matches_finite_differences(xp, case):
    x, weight, _, params = (a if isinstance(a, dict) else xp.asarray(a) for a in _transpose_arrays(case, np.float64))
    grad_output = xp.asarray(seeded(conv_transpose2d(x, weight, **params).shape, 7, np.float64))
    grad_x, grad_w, grad_b = conv_transpose2d_backward(grad_output, x, weight, **params)
    assert_matches_finite_differences(lambda a, b: conv_transpose2d(a, b, **params), [x, weight], [grad_x, grad_w],
                                      grad_output)
    np.testing.assert_allclose(to_numpy(grad_b), to_numpy(grad_output).sum(axis=(0, 2, 3)), rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(stride=st.integers(1, 3), padding=st.integers(0, 2), dilation=st.integers(1, 2), kernel=st.integers(1, 3),
       groups=st.sampled_from([1, 2]), size=st.tuples(st.integers(5, 9), st.integers(5, 9)), seed=st.integers(0, 99))
def test_conv2d_backward_is_the_adjoint(stride, padding, dilation, kernel, groups, size, seed):
    """<conv2d(x, w), g> = <x, dL/dx> = <w, dL/dw>: the map is linear in x and in w (no bias)."""
    x = seeded((2, 2, *size), seed, np.float64)
    weight = seeded((4, 2 // groups, kernel, kernel), seed + 1, np.float64)
    params = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    y = conv2d(x, weight, **params)
    grad_output = seeded(y.shape, seed + 2, np.float64)
    grad_x, grad_w, _ = conv2d_backward(grad_output, x, weight, **params)
    total = float((y * grad_output).sum())
    assert float((x * grad_x).sum()) == pytest.approx(total, rel=1e-10, abs=1e-10)
    assert float((weight * grad_w).sum()) == pytest.approx(total, rel=1e-10, abs=1e-10)


# ----------------------------------------------------------------------------- the identities


@pytest.mark.parametrize("case", CONV2D_CASES[:5])
def test_conv2d_input_gradient_is_a_transposed_convolution(xp, case):
    """conv2d's dL/dx = conv_transpose2d(dL/dy, w) with output_padding for the rows past the last window;
    torch's autograd gives the same as torch's own conv_transpose2d."""
    x, weight, _, params = _conv2d_arrays(case)
    _, grad_output, (torch_grad_x, _) = torch_backward(lambda a, b: F.conv2d(a, b, **params), [x, weight])
    stride, padding, dilation = (np.broadcast_to(params[k], 2) for k in ("stride", "padding", "dilation"))
    kernel, out_size = weight.shape[2:], grad_output.shape[2:]
    output_padding = tuple(int(x.shape[2 + a] - ((out_size[a] - 1) * stride[a] - 2 * padding[a]
                                                  + dilation[a] * (kernel[a] - 1) + 1)) for a in range(2))
    transposed_args = dict(stride=tuple(stride), padding=tuple(padding), output_padding=output_padding,
                           groups=params["groups"], dilation=tuple(dilation))
    torch_transposed = F.conv_transpose2d(torch.tensor(grad_output), torch.tensor(weight), **transposed_args).numpy()
    assert_close(torch_transposed, torch_grad_x)
    ours = conv_transpose2d(xp.asarray(grad_output), xp.asarray(weight), **transposed_args)
    grad_x = conv2d_backward(xp.asarray(grad_output), xp.asarray(x), xp.asarray(weight), **params)[0]
    np.testing.assert_array_equal(to_numpy(grad_x), to_numpy(ours))


@pytest.mark.parametrize("case", TRANSPOSE_CASES[:4])
def test_transposed_convolution_input_gradient_is_a_convolution(xp, case):
    x, weight, _, params = _transpose_arrays(case)
    _, grad_output, (torch_grad_x, _) = torch_backward(lambda a, b: F.conv_transpose2d(a, b, **params), [x, weight])
    conv_args = {k: params[k] for k in ("stride", "padding", "dilation", "groups")}
    assert_close(F.conv2d(torch.tensor(grad_output), torch.tensor(weight), **conv_args).numpy(), torch_grad_x)
    grad_x = conv_transpose2d_backward(xp.asarray(grad_output), xp.asarray(x), xp.asarray(weight), **params)[0]
    ours = conv2d(xp.asarray(grad_output), xp.asarray(weight), **conv_args)
    np.testing.assert_array_equal(to_numpy(grad_x), to_numpy(ours))


@pytest.mark.parametrize("case", TRANSPOSE_CASES[:4])
def test_transposed_weight_gradient_is_conv2d_weight_gradient_with_roles_swapped(xp, case):
    """dL/dw of y = conv_transpose2d(x, w) equals dL/dw of z = conv2d(dL/dy, w) back-propagating x,
    in PyTorch's autograd and in ours."""
    x, weight, _, params = _transpose_arrays(case)
    _, grad_output, (_, torch_transposed) = torch_backward(lambda a, b: F.conv_transpose2d(a, b, **params),
                                                           [x, weight])
    conv_args = {k: params[k] for k in ("stride", "padding", "dilation", "groups")}
    _, _, (_, torch_swapped) = torch_backward(lambda a, b: F.conv2d(a, b, **conv_args), [grad_output, weight], x)
    assert_close(torch_swapped, torch_transposed)
    ours = conv_transpose2d_backward(xp.asarray(grad_output), xp.asarray(x), xp.asarray(weight), **params)[1]
    swapped = conv2d_backward(xp.asarray(x), xp.asarray(grad_output), xp.asarray(weight), **conv_args)[1]
    np.testing.assert_array_equal(to_numpy(ours), to_numpy(swapped))
    assert_close(ours, torch_transposed)


# ----------------------------------------------------------------------------- bad input


def test_bad_grad_output_shape_names_it(xp):
    x, weight, _, params = _conv2d_arrays(CONV2D_CASES[0])
    with pytest.raises(ValueError, match="grad_output"):
        conv2d_backward(xp.zeros((2, 4, 3, 3), np.float32), xp.asarray(x), xp.asarray(weight), **params)
    x, weight, _, params = _transpose_arrays(TRANSPOSE_CASES[0])
    with pytest.raises(ValueError, match="grad_output"):
        conv_transpose2d_backward(xp.zeros((2, 6, 5, 5), np.float32), xp.asarray(x), xp.asarray(weight), **params)
    with pytest.raises(ValueError, match="grad_output"):
        conv_transpose2d_backward(xp.zeros((2, 6, 5, 6), np.int32), xp.asarray(x), xp.asarray(weight), **params)


def test_bad_hyperparameters_name_the_argument(xp):
    x, weight = xp.zeros((1, 4, 6, 6), np.float32), xp.zeros((2, 2, 3, 3), np.float32)
    grad_output = xp.zeros((1, 2, 4, 4), np.float32)
    with pytest.raises(ValueError, match="groups"):
        conv2d_backward(grad_output, x, weight, groups=3)
    with pytest.raises(ValueError, match="stride"):
        conv2d_backward(grad_output, x, weight, stride=0, groups=2)
    with pytest.raises(ValueError, match="channels"):
        conv2d_backward(grad_output, x, weight)
    with pytest.raises(ValueError, match="input"):
        conv2d_backward(grad_output, x[0], weight, groups=2)
    with pytest.raises(ValueError, match="channels"):
        conv_transpose2d_backward(xp.zeros((1, 2, 8, 8), np.float32), xp.zeros((1, 3, 6, 6), np.float32),
                                  xp.zeros((4, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose2d_backward(xp.zeros((1, 2, 8, 8), np.float32), xp.zeros((1, 4, 6, 6), np.float32),
                                  xp.zeros((4, 2, 3, 3), np.float32), output_padding=2)
