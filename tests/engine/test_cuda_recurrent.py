"""The GPU's one-kernel recurrent loop (engine.functional.cuda_recurrent) against the generic loop.

The op tests in test_recurrent.py already run on CuPy, and there (small hidden sizes) they go through
the one kernel; here every record the backward pass reads is compared between the two loops, also
when a warp takes several rows of W_hh (and a thread several hidden units), and in float64.
"""

import types

import numpy as np
import pytest

from engine.backend import to_numpy
from engine.functional import cuda_recurrent
from engine.functional.recurrent import _gru_steps, _lstm_steps, _rnn_steps
from tests.conftest import GPU_SKIP_REASON

CUPY = types.SimpleNamespace(__name__="cupy")


def test_the_kernel_is_chosen_only_for_cupy_float_arrays_and_a_small_w_hh():
    assert cuda_recurrent.fits(CUPY, 4, 128, np.float32)
    assert not cuda_recurrent.fits(np, 4, 128, np.float32)
    assert not cuda_recurrent.fits(CUPY, 4, 128, np.float16)
    largest = int((cuda_recurrent.FUSED_MAX_BLOCK_BYTES / 4) ** 0.5)  # H x H float32 values
    for gates in (1, 3, 4):
        assert cuda_recurrent.fits(CUPY, gates, largest, np.float32)
        assert not cuda_recurrent.fits(CUPY, gates, largest + 1, np.float32)
        assert not cuda_recurrent.fits(CUPY, gates, largest, np.float64)


def _arguments(cupy, gates, batch, steps, features, hidden, dtype, seed):
    """x, h0 (a strided view), c0, w_ih, w_hh, b_ih, b_hh on the GPU."""
    rng = np.random.default_rng(seed)
    rows = gates * hidden
    x = rng.standard_normal((batch, steps, features))
    states = rng.standard_normal((2 * batch, hidden))
    bound = hidden ** -0.5  # torch's initialisation: the states stay in range over the steps
    weights = [rng.uniform(-bound, bound, shape) for shape in ((rows, features), (rows, hidden), (rows,), (rows,))]
    on_gpu = [cupy.asarray(a.astype(dtype)) for a in (x, states, *weights)]
    return [on_gpu[0], on_gpu[1][::2], on_gpu[1][1::2], *on_gpu[2:]]


def _both_loops(monkeypatch, run):
    """(record of the one-kernel loop, record of the generic loop) of run(), the kernel with 2 warps: each
    warp takes several rows of W_hh and each thread several hidden units."""
    monkeypatch.setattr(cuda_recurrent, "MAX_WARPS", 2)
    monkeypatch.setattr(cuda_recurrent, "FUSED_MAX_BLOCK_BYTES", 1 << 40)
    fused = run()
    monkeypatch.setattr(cuda_recurrent, "FUSED_MAX_BLOCK_BYTES", 0)
    return fused, run()


def _same(fused: dict, generic: dict, names, dtype):
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for name in names:
        got, expected = to_numpy(fused[name]), to_numpy(generic[name])
        assert got.shape == expected.shape and got.dtype == expected.dtype == dtype, name
        np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance, err_msg=name)


@pytest.mark.skipif(GPU_SKIP_REASON is not None, reason=str(GPU_SKIP_REASON))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("keep", [True, False])
@pytest.mark.parametrize("hidden", [5, 70])
def test_one_kernel_loop_gives_the_generic_loops_records(monkeypatch, dtype, keep, hidden):
    import cupy

    batch, steps, features = 3, 9, 4
    for nonlinearity in ("tanh", "relu"):
        x, h0, _, w_ih, w_hh, b_ih, b_hh = _arguments(cupy, 1, batch, steps, features, hidden, dtype, seed=0)
        fused, generic = _both_loops(
            monkeypatch, lambda: {"hidden": _rnn_steps(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity)})
        _same(fused, generic, ["hidden"], dtype)

    x, h0, c0, *weights = _arguments(cupy, 4, batch, steps, features, hidden, dtype, seed=1)
    fused, generic = _both_loops(monkeypatch, lambda: _lstm_steps(x, h0, c0, *weights, keep=keep))
    _same(fused, generic, ["hidden", "cell_state", "tanh_cell"] + (["gates"] if keep else []), dtype)

    x, h0, _, w_ih, w_hh, b_ih, b_hh = _arguments(cupy, 3, batch, steps, features, hidden, dtype, seed=2)
    for bias_hh in (b_hh, None):
        fused, generic = _both_loops(monkeypatch, lambda: _gru_steps(x, h0, w_ih, w_hh, b_ih, bias_hh, keep=keep))
        _same(fused, generic, ["hidden", "from_hidden"] + (["gates"] if keep else []), dtype)
