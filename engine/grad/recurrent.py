"""Back-propagation through time for the recurrent ops RNN, LSTM and GRU (one layer, batch first).

`<op>_train` runs the forward op of `engine.functional.recurrent` (the same loop, so the same
numbers) and also returns `saved`: every step's hidden state and gate values, time-major.
`<op>_backward(grad_output, saved, grad_h_n=None[, grad_c_n=None])` walks the steps backwards.

Notation: G*H gate rows (RNN 1, LSTM 4, GRU 3), `a_t` the pre-activations of step t (N, G*H),
`dh_t` = dL/dh_t in total: grad_output[:, t] plus what step t+1 sends back through W_hh
(plus grad_h_n at the last step).

Speed: each step does only elementwise work and one (N, G*H) x (G*H, H) product. The per-step
factors that do not depend on the gradient (gate derivatives such as i * (1 - i)) are computed
for all steps at once before the loop, and the per-step pre-activation gradients da_t are
stacked into a (T*N, G*H) array, so that after the loop one matrix product each gives

    dW_ih = da^T [x_0; ...; x_{T-1}]       dx    = da W_ih
    dW_hh = da^T [h_{-1}; ...; h_{T-2}]    db_ih = db_hh = sum of da over (t, n)

(dW_hh as the product of the rows of steps 1..T-1 with h_0..h_{T-2}, plus step 0's with h0, so
no shifted copy of the hidden states is made; GRU: the hidden-side gradient differs from the
input side in the n block, see gru_sequence_backward). Full-size temporaries are kept few
(in-place updates): on the 2-core machines a fresh page of memory costs about as much as a
pass over it.
"""

from __future__ import annotations

from engine.backend import array_module
from engine.functional.recurrent import (
    _batch_first,
    _check_arguments,
    _check_nonlinearity,
    _gru_steps,
    _lstm_steps,
    _rnn_steps,
    _split_blocks,
)
from engine.shapes import check_input


# --- forward passes that keep what the backward needs ------------------------------------

def _saved(x, states: dict, weights: tuple, record: dict, **extra) -> dict:
    """What every backward reads: the input, the initial states, the weights used and the per-step record."""
    return {"x": x, "states": states, "weights": weights, "record": record, **extra}


def rnn_sequence_train(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """`rnn_sequence` plus what `rnn_sequence_backward` needs: returns (output, h_n, saved)."""
    _check_nonlinearity(nonlinearity)
    _check_arguments(x, weight_ih, weight_hh, bias_ih, bias_hh, 1, {"h0": h0})
    hidden = _rnn_steps(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity)
    saved = _saved(x, {"h0": h0}, (weight_ih, weight_hh, bias_ih, bias_hh), {"hidden": hidden},
                   nonlinearity=nonlinearity)
    return _batch_first(hidden), hidden[-1].copy(), saved


def lstm_sequence_train(x, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """`lstm_sequence` plus what `lstm_sequence_backward` needs: returns (output, (h_n, c_n), saved)."""
    _check_arguments(x, weight_ih, weight_hh, bias_ih, bias_hh, 4, {"h0": h0, "c0": c0})
    record = _lstm_steps(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, keep=True)
    saved = _saved(x, {"h0": h0, "c0": c0}, (weight_ih, weight_hh, bias_ih, bias_hh), record)
    hidden = record["hidden"]
    return _batch_first(hidden), (hidden[-1].copy(), record["cell_state"][-1].copy()), saved


def gru_sequence_train(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """`gru_sequence` plus what `gru_sequence_backward` needs: returns (output, h_n, saved)."""
    _check_arguments(x, weight_ih, weight_hh, bias_ih, bias_hh, 3, {"h0": h0})
    record = _gru_steps(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, keep=True)
    saved = _saved(x, {"h0": h0}, (weight_ih, weight_hh, bias_ih, bias_hh), record)
    hidden = record["hidden"]
    return _batch_first(hidden), hidden[-1].copy(), saved


# --- shared pieces of the backward passes --------------------------------------------------

def _check_gradients(grad_output, saved, **state_grads):
    """Check grad_output (N, T, H) and the final-state gradients (N, H) against the forward's shapes."""
    check_input(grad_output, "grad_output", ndim=3)
    xp = array_module(saved["x"])
    steps, batch, hidden = saved["record"]["hidden"].shape
    expected = {"grad_output": (batch, steps, hidden), **{name: (batch, hidden) for name in state_grads}}
    for name, value in {"grad_output": grad_output, **state_grads}.items():
        if value is None:
            continue
        if array_module(value) is not xp:
            raise ValueError(f"{name} is a {array_module(value).__name__} array but the forward pass ran on "
                             f"{xp.__name__}; move it to the same backend")
        if tuple(value.shape) != expected[name]:
            raise ValueError(f"{name} must have the shape {expected[name]} of the forward's "
                             f"{'output' if name == 'grad_output' else 'final state'}, got {tuple(value.shape)}")
    return xp, grad_output.dtype


def _time_major(xp, value, dtype):
    """(N, T, ...) -> (T, N, ...), contiguous, in dtype."""
    return xp.ascontiguousarray(value.transpose(1, 0, 2)).astype(dtype, copy=False)


def _cast_all(dtype, *values):
    return [None if v is None else v.astype(dtype, copy=False) for v in values]


def _state_grad(xp, value, like):
    """A final-state gradient as a new array the loop may update in place; zeros when None."""
    return xp.zeros_like(like) if value is None else value.astype(like.dtype, copy=True)


def _sigmoid_slope(xp, value):
    """value (1 - value): the sigmoid's derivative, from its value (a new array)."""
    slope = xp.subtract(1, value)
    slope *= value
    return slope


def _tanh_slope(xp, value):
    """1 - value^2: tanh's derivative, from its value (a new array)."""
    slope = xp.multiply(value, value)
    return xp.subtract(1, slope, out=slope)


def _multiply_by_previous(values, start, sequence):
    """values[t] *= sequence[t-1] for every step, in place; sequence[-1] is start (zeros when None)."""
    values[1:] *= sequence[:-1]
    if start is None:
        values[0] = 0
    else:
        values[0] *= start
    return values


def _add_previous(values, start, sequence):
    """values[t] += sequence[t-1] for every step, in place; sequence[-1] is start (zeros when None)."""
    values[1:] += sequence[:-1]
    if start is not None:
        values[0] += start
    return values


def _flat(pre):
    """(T, N, R) -> (T*N, R) (a view, also of a column slice)."""
    return pre.reshape(pre.shape[0] * pre.shape[1], pre.shape[2])


def _input_side_grads(xp, saved, dtype, pre):
    """(grad_x, grad_weight_ih, grad_bias_ih) from pre (T, N, G*H) = dL/d(x_t W_ih^T + b_ih), one product each."""
    weight_ih, bias_ih = saved["weights"][0], saved["weights"][2]
    steps, batch, _ = pre.shape
    flat = _flat(pre)
    x_flat = _flat(_time_major(xp, saved["x"], dtype))
    grad_x = (flat @ weight_ih.astype(dtype, copy=False)).reshape(steps, batch, -1)
    return _batch_first(grad_x), flat.T @ x_flat, _sum_or_none(flat, bias_ih)


def _hidden_weight_grad(pre, start, hidden):
    """sum over t of pre_t^T h_{t-1} with h_{-1} = start (zeros when None): pre (T, N, R), hidden (T, N, H)."""
    grad = _flat(pre[1:]).T @ _flat(hidden[:-1])
    if start is not None:
        grad += pre[0].T @ start
    return grad


def _sum_or_none(flat, bias):
    """The bias gradient: the sum over (t, n) of its pre-activation gradient; None when there is no bias."""
    return None if bias is None else flat.sum(axis=0)


def _for_given(start, grad):
    """The gradient of an initial state, or None where the state was None (zeros)."""
    return None if start is None else grad


# --- the backward passes ---------------------------------------------------------------------

def rnn_sequence_backward(grad_output, saved, grad_h_n=None):
    """Gradients of `rnn_sequence` through time, from (output, h_n, saved) = `rnn_sequence_train(...)`.

    grad_output: (N, T, H) dL/dh_t for every step (zeros except the last step for a loss on h_n alone);
    grad_h_n: (N, H) dL/dh_n, or None for zeros. For t = T-1 down to 0, with h_t = act(a_t):

        dh_t  = grad_output[:, t] + da_{t+1} W_hh        (grad_h_n instead of the product at t = T-1)
        da_t  = dh_t * act'(a_t),   act' = 1 - h_t^2 (tanh) or [h_t > 0] (relu; 0 at a_t = 0, like torch)
        dh0   = da_0 W_hh

    Returns (grad_x, grad_h0, grad_weight_ih, grad_weight_hh, grad_bias_ih, grad_bias_hh); grad_h0 is
    None when h0 was None, a bias gradient None when that bias is None.
    """
    xp, dtype = _check_gradients(grad_output, saved, grad_h_n=grad_h_n)
    hidden, h0, weight_hh = _cast_all(dtype, saved["record"]["hidden"], saved["states"]["h0"], saved["weights"][1])
    if saved["nonlinearity"] == "tanh":
        slope = _tanh_slope(xp, hidden)
    else:
        slope = (hidden > 0).astype(dtype)
    grad_steps = _time_major(xp, grad_output, dtype)

    pre = xp.empty_like(hidden)  # da_t for every step
    carry = _state_grad(xp, grad_h_n, hidden[0])
    for t in range(hidden.shape[0] - 1, -1, -1):
        carry += grad_steps[t]
        xp.multiply(carry, slope[t], out=pre[t])
        carry = pre[t] @ weight_hh
    grad_x, grad_weight_ih, grad_bias_ih = _input_side_grads(xp, saved, dtype, pre)
    return (grad_x, _for_given(h0, carry), grad_weight_ih, _hidden_weight_grad(pre, h0, hidden),
            grad_bias_ih, _sum_or_none(_flat(pre), saved["weights"][3]))


def lstm_sequence_backward(grad_output, saved, grad_h_n=None, grad_c_n=None):
    """Gradients of `lstm_sequence` through time, from (output, (h_n, c_n), saved) = `lstm_sequence_train(...)`.

    grad_output: (N, T, H) dL/dh_t for every step; grad_h_n, grad_c_n: (N, H) dL/dh_n and dL/dc_n, or
    None for zeros. For t = T-1 down to 0 (forward: c_t = f c_{t-1} + i g, h_t = o tanh(c_t)):

        dh_t  = grad_output[:, t] + da_{t+1} W_hh                (grad_h_n at t = T-1)
        dc_t  = dc_{t+1} f_{t+1} + dh_t o_t (1 - tanh(c_t)^2)     (grad_c_n at t = T-1)
        da_i  = dc_t g_t i_t (1 - i_t)         da_f = dc_t c_{t-1} f_t (1 - f_t)
        da_g  = dc_t i_t (1 - g_t^2)           da_o = dh_t tanh(c_t) o_t (1 - o_t)
        dh0   = da_0 W_hh,   dc0 = dc_0 f_0

    The factors after dc_t and dh_t are computed for all steps before the loop.
    Returns (grad_x, grad_h0, grad_c0, grad_weight_ih, grad_weight_hh, grad_bias_ih, grad_bias_hh);
    a state's gradient is None when that state was None, a bias gradient None when that bias is None.
    """
    xp, dtype = _check_gradients(grad_output, saved, grad_h_n=grad_h_n, grad_c_n=grad_c_n)
    record, states = saved["record"], saved["states"]
    hidden, cell, tanh_cell, gates, h0, c0, weight_hh = _cast_all(
        dtype, record["hidden"], record["cell_state"], record["tanh_cell"], record["gates"],
        states["h0"], states["c0"], saved["weights"][1])
    i, f, g, o = _split_blocks(gates, 4)
    steps, batch, size = hidden.shape

    cell_from_hidden = _tanh_slope(xp, tanh_cell)  # dc_t gets dh_t times this
    cell_from_hidden *= o
    output_factor = _sigmoid_slope(xp, o)  # da_o = dh_t times this
    output_factor *= tanh_cell
    input_factor = _sigmoid_slope(xp, i)  # da_i = dc_t times this, and so on
    input_factor *= g
    forget_factor = _multiply_by_previous(_sigmoid_slope(xp, f), c0, cell)
    cell_factor = _tanh_slope(xp, g)
    cell_factor *= i
    grad_steps = _time_major(xp, grad_output, dtype)

    pre = xp.empty((steps, batch, 4 * size), dtype=dtype)  # da_t for every step
    carry = _state_grad(xp, grad_h_n, hidden[0])
    cell_carry = _state_grad(xp, grad_c_n, hidden[0])
    for t in range(steps - 1, -1, -1):
        carry += grad_steps[t]
        cell_carry += carry * cell_from_hidden[t]
        da_i, da_f, da_g, da_o = _split_blocks(pre[t], 4)
        xp.multiply(cell_carry, input_factor[t], out=da_i)
        xp.multiply(cell_carry, forget_factor[t], out=da_f)
        xp.multiply(cell_carry, cell_factor[t], out=da_g)
        xp.multiply(carry, output_factor[t], out=da_o)
        carry = pre[t] @ weight_hh
        cell_carry *= f[t]
    grad_x, grad_weight_ih, grad_bias_ih = _input_side_grads(xp, saved, dtype, pre)
    return (grad_x, _for_given(h0, carry), _for_given(c0, cell_carry), grad_weight_ih,
            _hidden_weight_grad(pre, h0, hidden), grad_bias_ih, _sum_or_none(_flat(pre), saved["weights"][3]))


def gru_sequence_backward(grad_output, saved, grad_h_n=None):
    """Gradients of `gru_sequence` through time, from (output, h_n, saved) = `gru_sequence_train(...)`.

    grad_output: (N, T, H) dL/dh_t for every step; grad_h_n: (N, H) dL/dh_n or None for zeros.
    With hn_t = h_{t-1} W_hn^T + b_hn (forward: n = tanh(a_n + r hn), h_t = (1 - z) n + z h_{t-1}),
    for t = T-1 down to 0:

        dh_t  = grad_output[:, t] + dh_{t+1} z_{t+1} + dA_{t+1} W_hh      (grad_h_n at t = T-1)
        da_n  = dh_t (1 - z_t) (1 - n_t^2)
        da_z  = dh_t (h_{t-1} - n_t) z_t (1 - z_t)
        da_r  = da_n hn_t r_t (1 - r_t)
        dhn   = da_n r_t

    The input-side pre-activation gradient is (da_r, da_z, da_n) and the hidden-side one
    dA_t = (da_r, da_z, dhn): they differ in the n block, where r_t sits between them, so the
    hidden side's products are split into the r, z rows and the n rows of W_hh.
    dh0 = dh_0 z_0 + dA_0 W_hh.
    Returns (grad_x, grad_h0, grad_weight_ih, grad_weight_hh, grad_bias_ih, grad_bias_hh); grad_h0 is
    None when h0 was None, a bias gradient None when that bias is None.
    """
    xp, dtype = _check_gradients(grad_output, saved, grad_h_n=grad_h_n)
    record = saved["record"]
    hidden, gates, from_hidden, h0, weight_hh = _cast_all(
        dtype, record["hidden"], record["gates"], record["from_hidden"], saved["states"]["h0"], saved["weights"][1])
    r, z, new = _split_blocks(gates, 3)
    hidden_new = _split_blocks(from_hidden, 3)[2]
    steps, batch, size = hidden.shape

    update_factor = _add_previous(xp.negative(new), h0, hidden)  # h_{t-1} - n_t, then times z_t (1 - z_t):
    update_factor *= _sigmoid_slope(xp, z)                      # da_z = dh_t times this
    new_factor = _tanh_slope(xp, new)  # da_n = dh_t times this
    new_factor *= 1 - z
    reset_factor = _sigmoid_slope(xp, r)  # da_r = da_n times this
    reset_factor *= hidden_new
    grad_steps = _time_major(xp, grad_output, dtype)

    pre = xp.empty((steps, batch, 3 * size), dtype=dtype)  # (da_r, da_z, da_n) for every step
    pre_new_hidden = xp.empty_like(hidden)  # dhn for every step
    weight_reset_update, weight_new = weight_hh[:2 * size], weight_hh[2 * size:]
    carry = _state_grad(xp, grad_h_n, hidden[0])
    for t in range(steps - 1, -1, -1):
        carry += grad_steps[t]
        da_r, da_z, da_n = _split_blocks(pre[t], 3)
        xp.multiply(carry, update_factor[t], out=da_z)
        xp.multiply(carry, new_factor[t], out=da_n)
        xp.multiply(da_n, reset_factor[t], out=da_r)
        xp.multiply(da_n, r[t], out=pre_new_hidden[t])
        direct = carry * z[t]
        carry = pre[t, :, :2 * size] @ weight_reset_update
        carry += pre_new_hidden[t] @ weight_new
        carry += direct
    grad_x, grad_weight_ih, grad_bias_ih = _input_side_grads(xp, saved, dtype, pre)
    pre_reset_update = pre[:, :, :2 * size]
    grad_weight_hh = xp.concatenate([_hidden_weight_grad(pre_reset_update, h0, hidden),
                                     _hidden_weight_grad(pre_new_hidden, h0, hidden)])
    grad_bias_hh = None
    if saved["weights"][3] is not None:
        grad_bias_hh = xp.concatenate([_flat(pre_reset_update).sum(axis=0), _flat(pre_new_hidden).sum(axis=0)])
    return grad_x, _for_given(h0, carry), grad_weight_ih, grad_weight_hh, grad_bias_ih, grad_bias_hh
