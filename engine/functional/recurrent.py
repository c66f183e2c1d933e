"""Recurrent layers over a whole sequence: Elman RNN, LSTM and GRU (one layer, batch first).

Every op takes a sequence `x` of shape (N, T, F) (batch, time steps, features) and
weights in PyTorch's layout: `weight_ih` (G*H, F), `weight_hh` (G*H, H), biases (G*H,),
where H is the hidden size and G the number of gate blocks stacked in the rows
(RNN 1; LSTM 4 in the order i, f, g, o; GRU 3 in the order r, z, n).

Speed: the input half of every step, x_t W_ih^T + b, does not depend on the hidden
state, so it is computed for all T steps as one matrix product before the loop;
each step then does one (N, H) x (H, G*H) product. Arrays are kept time-major
inside the loop so each step reads and writes contiguous memory. On the GPU, while W_hh is
small, the whole loop is one CUDA kernel (engine.functional.cuda_recurrent) with the same
formulas: launching up to 15 small kernels per step cost far more than their arithmetic.
"""

from __future__ import annotations

from engine.backend import array_module
from engine.functional import cuda_recurrent
from engine.shapes import check_input

NONLINEARITIES = ("tanh", "relu")


# --- input checks ----------------------------------------------------------------

def _check_array_or_none(value, name: str) -> None:
    if value is not None and (not hasattr(value, "shape") or not hasattr(value, "dtype")):
        raise ValueError(f"{name} must be an array or None, got {type(value).__name__}")


def _check_same_module(xp, name: str, value) -> None:
    _check_array_or_none(value, name)
    if value is not None and array_module(value) is not xp:
        raise ValueError(
            f"{name} is a {array_module(value).__name__} array but x is a {xp.__name__} array; "
            "move both to the same backend"
        )


def _check_vector(value, name: str, length: int) -> None:
    if value is not None and tuple(value.shape) != (length,):
        raise ValueError(f"{name} must have shape ({length},), got {tuple(value.shape)}")


def _check_state(value, name: str, batch: int, hidden: int) -> None:
    if value is not None and tuple(value.shape) != (batch, hidden):
        raise ValueError(
            f"{name} must have shape (N, H) = ({batch}, {hidden}) for batch {batch} and hidden size {hidden}, "
            f"got {tuple(value.shape)}"
        )


def _check_arguments(x, weight_ih, weight_hh, bias_ih, bias_hh, gates: int, states: dict) -> tuple[int, int, int]:
    """Check every argument before any work; return (N, T, H).

    `gates` is the number of row blocks G in the weights; `states` maps the names of
    the initial states (h0, c0) to their values (None allowed).
    """
    check_input(x, "x", ndim=3)
    for name, weight in (("weight_ih", weight_ih), ("weight_hh", weight_hh)):
        if not hasattr(weight, "shape") or not hasattr(weight, "dtype"):
            raise ValueError(f"{name} must be an array, got {type(weight).__name__}")
    xp = array_module(x)
    for name, value in {"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih,
                        "bias_hh": bias_hh, **states}.items():
        _check_same_module(xp, name, value)
    batch, steps, features = (int(s) for s in x.shape)
    if batch < 1 or steps < 1:
        raise ValueError(f"x must have at least one sequence and one time step, got shape {tuple(x.shape)}")
    if weight_hh.ndim != 2 or weight_hh.shape[0] != gates * weight_hh.shape[1] or weight_hh.shape[1] < 1:
        raise ValueError(
            f"weight_hh must have shape ({gates}*H, H) for hidden size H, got {tuple(weight_hh.shape)}"
        )
    hidden = int(weight_hh.shape[1])
    if tuple(weight_ih.shape) != (gates * hidden, features):
        raise ValueError(
            f"weight_ih must have shape ({gates}*H, F) = ({gates * hidden}, {features}) for hidden size {hidden} "
            f"and x's feature size {features}, got {tuple(weight_ih.shape)}"
        )
    _check_vector(bias_ih, "bias_ih", gates * hidden)
    _check_vector(bias_hh, "bias_hh", gates * hidden)
    for name, value in states.items():
        _check_state(value, name, batch, hidden)
    return batch, steps, hidden


# --- shared pieces -----------------------------------------------------------------

def _sigmoid(xp, a, out=None):
    """1 / (1 + exp(-a)), written as (1 + tanh(a/2)) / 2: the same value, no overflow for large |a|."""
    s = xp.multiply(a, 0.5, out=out)
    xp.tanh(s, out=s)
    s += 1.0
    s *= 0.5
    return s


def _cast(value, dtype):
    return None if value is None else value.astype(dtype, copy=False)


def _transposed(xp, weight_hh, dtype):
    """W_hh^T stored contiguous: the per-step product h W_hh^T is then a plain BLAS call (measured 3x faster
    at H=128, batch 1, than multiplying by the transposed view)."""
    return xp.ascontiguousarray(weight_hh.T.astype(dtype, copy=False))


def _initial_state(xp, value, batch: int, hidden: int, dtype):
    return xp.zeros((batch, hidden), dtype=dtype) if value is None else value.astype(dtype, copy=False)


def _input_projection(xp, x, weight_ih, bias):
    """x_t W_ih^T + bias for every step at once, time-major: shape (T, N, G*H)."""
    batch, steps, features = x.shape
    time_major = xp.ascontiguousarray(x.transpose(1, 0, 2)).reshape(steps * batch, features)
    projection = time_major @ weight_ih.T
    if bias is not None:
        projection += bias
    return projection.reshape(steps, batch, -1)


def _sum_biases(bias_ih, bias_hh):
    if bias_ih is None:
        return bias_hh
    if bias_hh is None:
        return bias_ih
    return bias_ih + bias_hh


def _split_blocks(value, blocks: int) -> list:
    """The `blocks` equal slices of the last axis (views)."""
    size = value.shape[-1] // blocks
    return [value[..., k * size:(k + 1) * size] for k in range(blocks)]


def _batch_first(time_major):
    """(T, N, H) -> (N, T, H), contiguous."""
    return array_module(time_major).ascontiguousarray(time_major.transpose(1, 0, 2))


# --- the loops over time ---------------------------------------------------------------
# Each loop fills time-major (T, N, ...) arrays with every step's values: the public ops below
# return some of them batch first, and engine.grad.recurrent keeps them all for the backward
# pass. What only the backward (or return_gates) needs is kept for every step only with
# keep=True: on the 2-core machines, fresh memory costs about as much as the arithmetic
# (page faults), so inference reuses one step's buffer. Arguments are already checked.

def _rnn_steps(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity):
    """Every hidden state h_t, time-major: (T, N, H)."""
    xp = array_module(x)
    batch, steps, _ = x.shape
    hidden = weight_hh.shape[1]
    dtype = x.dtype
    projection = _input_projection(xp, x, _cast(weight_ih, dtype), _cast(_sum_biases(bias_ih, bias_hh), dtype))

    outputs = xp.empty((steps, batch, hidden), dtype=dtype)
    h = _initial_state(xp, h0, batch, hidden, dtype)
    if cuda_recurrent.fits(xp, 1, hidden, dtype):
        cuda_recurrent.rnn_steps(projection, _cast(weight_hh, dtype), h, nonlinearity == "relu", outputs)
        return outputs
    weight_hh_t = _transposed(xp, weight_hh, dtype)
    pre_activation = xp.empty((batch, hidden), dtype=dtype)
    for t in range(steps):
        # In place, so a step allocates nothing: pre = h W_hh^T + projection[t]; h = act(pre).
        xp.dot(h, weight_hh_t, out=pre_activation)
        pre_activation += projection[t]
        if nonlinearity == "tanh":
            xp.tanh(pre_activation, out=outputs[t])
        else:
            xp.maximum(pre_activation, 0, out=outputs[t])
        h = outputs[t]
    return outputs


def _lstm_steps(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, keep: bool) -> dict:
    """Every step's values, time-major: "gates" (T, N, 4H), the activated blocks i, f, g, o, and
    "hidden" h_t (T, N, H); with keep=True also "cell_state" c_t and "tanh_cell" tanh(c_t) (T, N, H)
    (else only the last step's, shape (1, N, H))."""
    xp = array_module(x)
    batch, steps, _ = x.shape
    hidden = weight_hh.shape[1]
    dtype = x.dtype
    # The input half of every a_t; step t adds the hidden half and writes its activated gates there.
    gates = _input_projection(xp, x, _cast(weight_ih, dtype), _cast(_sum_biases(bias_ih, bias_hh), dtype))
    kept = steps if keep else 1
    record = {"gates": gates, "hidden": xp.empty((steps, batch, hidden), dtype=dtype),
              "cell_state": xp.empty((kept, batch, hidden), dtype=dtype),
              "tanh_cell": xp.empty((kept, batch, hidden), dtype=dtype)}
    h = _initial_state(xp, h0, batch, hidden, dtype)
    c = _initial_state(xp, c0, batch, hidden, dtype)
    if cuda_recurrent.fits(xp, 4, hidden, dtype):
        cuda_recurrent.lstm_steps(gates, _cast(weight_hh, dtype), h, c, keep,
                                  record["hidden"], record["cell_state"], record["tanh_cell"])
        return record
    weight_hh_t = _transposed(xp, weight_hh, dtype)
    from_hidden = xp.empty((batch, 4 * hidden), dtype=dtype)
    for t in range(steps):
        slot = t if keep else 0
        a = xp.dot(h, weight_hh_t, out=from_hidden)
        a += gates[t]
        # One sigmoid call over all four contiguous blocks (measured faster than three calls on the
        # i, f, o column blocks, which are strided); the g block is then overwritten with tanh.
        activated = _sigmoid(xp, a, out=gates[t])
        xp.tanh(a[:, 2 * hidden:3 * hidden], out=activated[:, 2 * hidden:3 * hidden])
        i, f, g, o = _split_blocks(activated, 4)
        c = xp.multiply(f, c, out=record["cell_state"][slot])
        c += i * g
        tanh_cell = xp.tanh(c, out=record["tanh_cell"][slot])
        h = xp.multiply(tanh_cell, o, out=record["hidden"][t])
    return record


def _gru_steps(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, keep: bool) -> dict:
    """Every step's values, time-major: "hidden" h_t (T, N, H) and "gates" (T, N, 3H); with keep=True
    "gates" holds the activated blocks r, z, n and "from_hidden" (T, N, 3H) is kept for every step:
    h_{t-1} W_hh^T + b_hh (its n block sits inside r * (...)). Without, "gates" is left holding the
    input half of the pre-activations (the activated blocks on the GPU's one-kernel loop) and
    "from_hidden" has the last step's only, shape (1, N, 3H)."""
    xp = array_module(x)
    batch, steps, _ = x.shape
    hidden = weight_hh.shape[1]
    dtype = x.dtype
    bias_hh = _cast(bias_hh, dtype)
    # b_hn sits inside r * (...), so only b_ih joins the precomputed input half.
    gates = _input_projection(xp, x, _cast(weight_ih, dtype), _cast(bias_ih, dtype))
    record = {"gates": gates, "hidden": xp.empty((steps, batch, hidden), dtype=dtype),
              "from_hidden": xp.empty((steps if keep else 1, batch, 3 * hidden), dtype=dtype)}
    h = _initial_state(xp, h0, batch, hidden, dtype)
    if cuda_recurrent.fits(xp, 3, hidden, dtype):
        cuda_recurrent.gru_steps(gates, _cast(weight_hh, dtype), bias_hh, h, keep,
                                 record["hidden"], record["from_hidden"])
        return record
    weight_hh_t = _transposed(xp, weight_hh, dtype)
    for t in range(steps):
        from_input = gates[t]
        from_hidden = xp.dot(h, weight_hh_t, out=record["from_hidden"][t if keep else 0])
        if bias_hh is not None:
            from_hidden += bias_hh
        # r and z are neighbours in the rows: one sigmoid call for both, on contiguous memory (measured
        # faster than in place in the strided column block of `gates`, even with the copy back).
        reset_update = _sigmoid(xp, from_input[:, :2 * hidden] + from_hidden[:, :2 * hidden])
        r, z = reset_update[:, :hidden], reset_update[:, hidden:]
        n = r * from_hidden[:, 2 * hidden:]
        n += from_input[:, 2 * hidden:]
        xp.tanh(n, out=n)
        # (1 - z) * n + z * h, with one multiplication fewer.
        h = xp.add(n, z * (h - n), out=record["hidden"][t])
        if keep:
            from_input[:, :2 * hidden] = reset_update
            from_input[:, 2 * hidden:] = n
    return record


# --- the ops -----------------------------------------------------------------------

def _check_nonlinearity(nonlinearity) -> None:
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {list(NONLINEARITIES)}, got {nonlinearity!r}")


def rnn_sequence(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """Elman RNN over a sequence (like torch.nn.RNN with batch_first=True, one layer).

    For t = 0 .. T-1, with h_{-1} = h0 (zeros when None):

        h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh),   act = tanh or relu

    x: (N, T, F); h0: (N, H) or None; weight_ih: (H, F); weight_hh: (H, H); biases: (H,) or None.
    Returns (output, h_n): output (N, T, H) holds every h_t, h_n (N, H) is the last one.
    """
    _check_nonlinearity(nonlinearity)
    _check_arguments(x, weight_ih, weight_hh, bias_ih, bias_hh, 1, {"h0": h0})
    outputs = _rnn_steps(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity)
    return _batch_first(outputs), outputs[-1].copy()


def lstm_sequence(x, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, return_gates=False):
    """LSTM over a sequence (like torch.nn.LSTM with batch_first=True, one layer).

    The weight rows hold four blocks in PyTorch's order i, f, g, o. For each step,
    with a_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh split into (a_i, a_f, a_g, a_o):

        i_t = sigmoid(a_i)   input gate        f_t = sigmoid(a_f)   forget gate
        g_t = tanh(a_g)      cell candidate    o_t = sigmoid(a_o)   output gate
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)

    x: (N, T, F); h0, c0: (N, H) or None (zeros); weight_ih: (4H, F); weight_hh: (4H, H);
    biases: (4H,) or None. Returns (output, (h_n, c_n)) with output (N, T, H); with
    return_gates=True also a dict of (N, T, H) arrays: "input", "forget", "cell" (g_t),
    "output" (o_t) and "cell_state" (c_t).
    """
    _check_arguments(x, weight_ih, weight_hh, bias_ih, bias_hh, 4, {"h0": h0, "c0": c0})
    record = _lstm_steps(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, keep=return_gates)
    hidden, cell_state = record["hidden"], record["cell_state"]
    result = (_batch_first(hidden), (hidden[-1].copy(), cell_state[-1].copy()))
    if not return_gates:
        return result
    i, f, g, o = _split_blocks(record["gates"], 4)
    gates = {"input": i, "forget": f, "cell": g, "output": o, "cell_state": cell_state}
    return result + ({name: _batch_first(value) for name, value in gates.items()},)


def gru_sequence(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, return_gates=False):
    """GRU over a sequence (like torch.nn.GRU with batch_first=True, one layer).

    The weight rows hold three blocks in PyTorch's order r, z, n. For each step:

        r_t = sigmoid(x_t W_ir^T + b_ir + h_{t-1} W_hr^T + b_hr)          reset gate
        z_t = sigmoid(x_t W_iz^T + b_iz + h_{t-1} W_hz^T + b_hz)          update gate
        n_t = tanh(x_t W_in^T + b_in + r_t * (h_{t-1} W_hn^T + b_hn))     new (candidate) state
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    x: (N, T, F); h0: (N, H) or None (zeros); weight_ih: (3H, F); weight_hh: (3H, H);
    biases: (3H,) or None. Returns (output, h_n) with output (N, T, H); with
    return_gates=True also a dict of (N, T, H) arrays "reset", "update", "new".
    """
    _check_arguments(x, weight_ih, weight_hh, bias_ih, bias_hh, 3, {"h0": h0})
    record = _gru_steps(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, keep=return_gates)
    hidden = record["hidden"]
    result = (_batch_first(hidden), hidden[-1].copy())
    if not return_gates:
        return result
    r, z, n = _split_blocks(record["gates"], 3)
    gates = {"reset": r, "update": z, "new": n}
    return result + ({name: _batch_first(value) for name, value in gates.items()},)
