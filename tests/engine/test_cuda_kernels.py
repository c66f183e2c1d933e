"""The GPU path's own CUDA kernels (engine.functional.cuda_kernels) against the NumPy path.

The op tests in test_conv.py and test_pool.py run their CuPy halves through these kernels with 32-bit
index arithmetic (every array there is far below 2**31 values); here the 64-bit variant, which only
arrays of 8 GB and more would reach, is checked on the same small cases, and max pooling's one
kernel on windows holding NaN and -inf, with padding, dilation and ceil_mode.
"""

import numpy as np
import pytest

from engine.backend import to_numpy
from engine.functional import cuda_kernels
from engine.functional.conv import conv2d, conv_transpose2d
from engine.functional.pool import max_pool2d
from tests.conftest import GPU_SKIP_REASON


def test_index_arithmetic_is_32_bit_below_two_to_the_31_values():
    assert cuda_kernels._index_type(2**31 - 1) == "int"
    assert cuda_kernels._index_type(2**31) == "long long"


CONVS = [  # (x shape, weight shape, groups, stride, padding, dilation, with bias)
    ((2, 4, 9, 11), (6, 2, 3, 2), 2, (2, 1), (1, 0), (1, 2), True),
    ((1, 3, 12, 7), (5, 3, 4, 4), 1, (1, 3), (2, 1), (2, 1), False),
    ((3, 6, 5, 5), (6, 1, 1, 3), 6, 1, (0, 1), 1, True),
]

POOLS = [  # (kernel, stride, padding, dilation, ceil_mode)
    (2, None, 0, 1, False),
    ((3, 2), (2, 1), (1, 1), 1, True),
    (3, 2, 1, (2, 1), True),
    ((1, 4), (3, 3), (0, 2), 1, False),
]


def _gpu_inputs(cupy, seed, *shapes):
    rng = np.random.default_rng(seed)
    host = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]
    return host, [cupy.asarray(a) for a in host]


@pytest.mark.skipif(GPU_SKIP_REASON is not None, reason=GPU_SKIP_REASON or "")
@pytest.mark.parametrize("index_type", ["int", "long long"])
@pytest.mark.parametrize("case", range(len(CONVS)))
def test_conv_kernels_match_the_numpy_path_with_either_index_type(monkeypatch, index_type, case):
    import cupy

    monkeypatch.setattr(cuda_kernels, "_index_type", lambda elements: index_type)
    x_shape, w_shape, groups, stride, padding, dilation, with_bias = CONVS[case]
    transposed_w_shape = (x_shape[1], w_shape[0] // groups, *w_shape[2:])
    (x, w, wt, b), (gx, gw, gwt, gb) = _gpu_inputs(cupy, case, x_shape, w_shape, transposed_w_shape,
                                                   (w_shape[0],))
    b, gb = (b, gb) if with_bias else (None, None)
    settings = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    np.testing.assert_allclose(to_numpy(conv2d(gx, gw, gb, **settings)), conv2d(x, w, b, **settings),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_numpy(conv_transpose2d(gx, gwt, gb, **settings)),
                               conv_transpose2d(x, wt, b, **settings), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(GPU_SKIP_REASON is not None, reason=GPU_SKIP_REASON or "")
@pytest.mark.parametrize("index_type", ["int", "long long"])
@pytest.mark.parametrize("case", range(len(POOLS)))
def test_max_pool_kernel_matches_the_numpy_path_with_nan_and_inf(monkeypatch, index_type, case):
    import cupy

    monkeypatch.setattr(cuda_kernels, "_index_type", lambda elements: index_type)
    (x,), _ = _gpu_inputs(cupy, 10 + case, (2, 3, 11, 10))
    x[0, 0, 1, 1] = np.nan
    x[0, 1, :4, :4] = -np.inf  # a window of -inf alone stays -inf
    x[1, 2, 5, 3] = np.inf
    kernel, stride, padding, dilation, ceil_mode = POOLS[case]
    expected = max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)
    got = max_pool2d(cupy.asarray(x), kernel, stride, padding, dilation, ceil_mode)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(to_numpy(got), expected)  # a maximum is exact, NaN where NaN
