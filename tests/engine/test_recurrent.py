"""RNN, LSTM and GRU: functional ops against a naive per-step loop and torch.nn, layers against torch's state_dict,
explain equal to forward, bad inputs, properties."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from engine.backend import to_numpy  # noqa: E402
from engine.functional.recurrent import gru_sequence, lstm_sequence, rnn_sequence  # noqa: E402
from engine.layers.recurrent import GRU, LSTM, RNN, STEP_COST  # noqa: E402

RTOL = 1e-4
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
TORCH = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
OURS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}

# (N, T, F, H): batch > 1, a single step, a single feature, hidden larger and smaller than the input
SHAPES = [(2, 5, 3, 4), (1, 1, 4, 3), (3, 6, 1, 5), (2, 3, 7, 2)]


# --- naive references: one sequence, one step at a time, float64 -----------------------------------

def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _split(value, parts):
    return np.split(value, parts)


def naive_rnn(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity):
    x, w_ih, w_hh = (np.asarray(a, np.float64) for a in (x, w_ih, w_hh))
    batch, steps, _ = x.shape
    hidden = w_hh.shape[1]
    b = np.zeros(hidden) if b_ih is None else np.asarray(b_ih, np.float64) + np.asarray(b_hh, np.float64)
    out = np.zeros((batch, steps, hidden))
    for n in range(batch):
        h = np.zeros(hidden) if h0 is None else np.asarray(h0[n], np.float64)
        for t in range(steps):
            a = w_ih @ x[n, t] + w_hh @ h + b
            h = np.tanh(a) if nonlinearity == "tanh" else np.where(a > 0, a, 0.0)
            out[n, t] = h
    return out


def naive_lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    x, w_ih, w_hh = (np.asarray(a, np.float64) for a in (x, w_ih, w_hh))
    batch, steps, _ = x.shape
    hidden = w_hh.shape[1]
    b = np.zeros(4 * hidden) if b_ih is None else np.asarray(b_ih, np.float64) + np.asarray(b_hh, np.float64)
    record = {k: np.zeros((batch, steps, hidden)) for k in ("hidden", "input", "forget", "cell", "output",
                                                            "cell_state")}
    for n in range(batch):
        h = np.zeros(hidden) if h0 is None else np.asarray(h0[n], np.float64)
        c = np.zeros(hidden) if c0 is None else np.asarray(c0[n], np.float64)
        for t in range(steps):
            a_i, a_f, a_g, a_o = _split(w_ih @ x[n, t] + w_hh @ h + b, 4)
            i, f, g, o = _sigmoid(a_i), _sigmoid(a_f), np.tanh(a_g), _sigmoid(a_o)
            c = f * c + i * g
            h = o * np.tanh(c)
            for key, value in zip(record, (h, i, f, g, o, c)):
                record[key][n, t] = value
    return record


def naive_gru(x, h0, w_ih, w_hh, b_ih, b_hh):
    x, w_ih, w_hh = (np.asarray(a, np.float64) for a in (x, w_ih, w_hh))
    batch, steps, _ = x.shape
    hidden = w_hh.shape[1]
    b_i = np.zeros(3 * hidden) if b_ih is None else np.asarray(b_ih, np.float64)
    b_h = np.zeros(3 * hidden) if b_hh is None else np.asarray(b_hh, np.float64)
    record = {k: np.zeros((batch, steps, hidden)) for k in ("hidden", "reset", "update", "new")}
    for n in range(batch):
        h = np.zeros(hidden) if h0 is None else np.asarray(h0[n], np.float64)
        for t in range(steps):
            i_r, i_z, i_n = _split(w_ih @ x[n, t] + b_i, 3)
            h_r, h_z, h_n = _split(w_hh @ h + b_h, 3)
            r, z = _sigmoid(i_r + h_r), _sigmoid(i_z + h_z)
            new = np.tanh(i_n + r * h_n)
            h = (1 - z) * new + z * h
            for key, value in zip(record, (h, r, z, new)):
                record[key][n, t] = value
    return record


# --- helpers -----------------------------------------------------------------------------------------

def _weights(kind, features, hidden, bias, seed=0):
    """Float32 weights in PyTorch's layout, uniform(-1, 1) so the gates leave their linear range."""
    rng = np.random.default_rng(seed)
    rows = GATES[kind] * hidden
    w_ih = rng.uniform(-1, 1, (rows, features)).astype(np.float32)
    w_hh = rng.uniform(-1, 1, (rows, hidden)).astype(np.float32)
    if not bias:
        return w_ih, w_hh, None, None
    return w_ih, w_hh, rng.uniform(-1, 1, rows).astype(np.float32), rng.uniform(-1, 1, rows).astype(np.float32)


def _inputs(shape, with_state, seed=1):
    batch, steps, features, hidden = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, steps, features)).astype(np.float32)
    state = rng.standard_normal((2, batch, hidden)).astype(np.float32) if with_state else [None, None]
    return x, state[0], state[1]


def _on(xp, *arrays):
    return [None if a is None else xp.asarray(a) for a in arrays]


def _close(got, expected, name="output"):
    got = to_numpy(got)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, f"{name}: shape {got.shape} != {expected.shape}"
    assert got.dtype == np.float32, f"{name}: dtype {got.dtype}"
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-5 * max(1.0, float(np.abs(expected).max())),
                               err_msg=name)


def _torch_module(kind, features, hidden, bias, weights, **kwargs):
    module = TORCH[kind](features, hidden, bias=bias, batch_first=True, **kwargs)
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    module.load_state_dict({k: torch.from_numpy(v) for k, v in zip(names, weights) if v is not None})
    return module


# --- functional ops against the naive loop -----------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_rnn_sequence_matches_naive_loop(xp, shape, nonlinearity, bias, with_state):
    x, h0, _ = _inputs(shape, with_state)
    weights = _weights("rnn", shape[2], shape[3], bias)
    output, h_n = rnn_sequence(*_on(xp, x, h0, *weights), nonlinearity=nonlinearity)
    expected = naive_rnn(x, h0, *weights, nonlinearity)
    assert type(output) is type(xp.asarray(x))
    _close(output, expected)
    _close(h_n, expected[:, -1], "h_n")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_lstm_sequence_matches_naive_loop_with_gates(xp, shape, bias, with_state):
    x, h0, c0 = _inputs(shape, with_state)
    weights = _weights("lstm", shape[2], shape[3], bias)
    output, (h_n, c_n), gates = lstm_sequence(*_on(xp, x, h0, c0, *weights), return_gates=True)
    expected = naive_lstm(x, h0, c0, *weights)
    _close(output, expected["hidden"])
    _close(h_n, expected["hidden"][:, -1], "h_n")
    _close(c_n, expected["cell_state"][:, -1], "c_n")
    assert set(gates) == {"input", "forget", "cell", "output", "cell_state"}
    for name, value in gates.items():
        _close(value, expected[name], name)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_gru_sequence_matches_naive_loop_with_gates(xp, shape, bias, with_state):
    x, h0, _ = _inputs(shape, with_state)
    weights = _weights("gru", shape[2], shape[3], bias)
    output, h_n, gates = gru_sequence(*_on(xp, x, h0, *weights), return_gates=True)
    expected = naive_gru(x, h0, *weights)
    _close(output, expected["hidden"])
    _close(h_n, expected["hidden"][:, -1], "h_n")
    assert set(gates) == {"reset", "update", "new"}
    for name, value in gates.items():
        _close(value, expected[name], name)


def test_without_gates_the_ops_return_torchs_structure(xp):
    x, h0, c0 = _inputs((2, 3, 2, 4), True)
    assert len(rnn_sequence(*_on(xp, x, h0, *_weights("rnn", 2, 4, True)))) == 2
    output, (h_n, c_n) = lstm_sequence(*_on(xp, x, h0, c0, *_weights("lstm", 2, 4, True)))
    assert output.shape == (2, 3, 4) and h_n.shape == c_n.shape == (2, 4)
    output, h_n = gru_sequence(*_on(xp, x, h0, *_weights("gru", 2, 4, True)))
    assert output.shape == (2, 3, 4) and h_n.shape == (2, 4)


# --- functional ops against torch.nn -------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_ops_match_torch_modules(xp, kind, shape, bias, with_state):
    batch, steps, features, hidden = shape
    x, h0, c0 = _inputs(shape, with_state, seed=3)
    weights = _weights(kind, features, hidden, bias, seed=4)
    extra = {"nonlinearity": "relu"} if kind == "rnn" and bias else {}
    module = _torch_module(kind, features, hidden, bias, weights, **extra)
    torch_state = None
    if with_state:  # torch wants (layers, N, H)
        h0_t = torch.from_numpy(h0[None])
        torch_state = (h0_t, torch.from_numpy(c0[None])) if kind == "lstm" else h0_t
    with torch.no_grad():
        expected, expected_state = module(torch.from_numpy(x), torch_state)
    x_, h0_, c0_, *weights_ = _on(xp, x, h0, c0, *weights)
    if kind == "rnn":
        output, h_n = rnn_sequence(x_, h0_, *weights_, **extra)
    elif kind == "lstm":
        output, (h_n, c_n) = lstm_sequence(x_, h0_, c0_, *weights_)
        _close(c_n, expected_state[1][0].numpy(), "c_n")
        expected_state = expected_state[0]
    else:
        output, h_n = gru_sequence(x_, h0_, *weights_)
    _close(output, expected.numpy())
    _close(h_n, expected_state[0].numpy(), "h_n")


def test_nan_and_inf_flow_through_like_torch(xp):
    x, _, _ = _inputs((2, 5, 3, 4), False)
    x[0, 2, 1] = np.nan
    x[1, 1, 0] = np.inf
    for kind, op in (("rnn", rnn_sequence), ("lstm", lstm_sequence), ("gru", gru_sequence)):
        weights = _weights(kind, 3, 4, True)
        with torch.no_grad():
            expected = _torch_module(kind, 3, 4, True, weights)(torch.from_numpy(x))[0].numpy()
        args = _on(xp, x, None, None, *weights) if kind == "lstm" else _on(xp, x, None, *weights)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            output = to_numpy(op(*args)[0])
        np.testing.assert_array_equal(np.isnan(output), np.isnan(expected))
        assert np.isnan(output[0, 2:]).all() and np.isfinite(output[0, :2]).all()
        np.testing.assert_allclose(output, expected, rtol=RTOL, atol=1e-5, equal_nan=True)


# --- exact cases -----------------------------------------------------------------------------------------

def test_rnn_relu_kink_and_zero_weights_are_exact(xp):
    # zero weights: every step is act(b_ih + b_hh) exactly, whatever the input
    x = xp.asarray(np.random.default_rng(0).standard_normal((1, 3, 2)).astype(np.float32))
    w_ih, w_hh = xp.zeros((3, 2), xp.float32), xp.zeros((3, 3), xp.float32)
    b_ih, b_hh = xp.asarray([0.5, -0.25, -1.0], xp.float32), xp.asarray([0.25, 0.25, 0.0], xp.float32)
    output, _ = rnn_sequence(x, None, w_ih, w_hh, b_ih, b_hh, nonlinearity="relu")
    np.testing.assert_array_equal(to_numpy(output), np.tile([0.75, 0.0, 0.0], (1, 3, 1)).astype(np.float32))
    output, _ = rnn_sequence(x, None, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh")
    np.testing.assert_allclose(to_numpy(output)[0, :, 0], np.tanh(np.float32(0.75)), rtol=1e-6)
    assert (to_numpy(output)[0, :, 1] == 0).all()


def test_lstm_and_gru_hand_computed_single_unit(xp):
    # one feature, one hidden unit, zero weights, chosen biases: the gates are constants
    x = xp.ones((1, 2, 1), xp.float32)
    bias = xp.asarray([0.0, math.log(3.0), 0.5, 0.0], xp.float32)  # i = 0.5, f = 0.75, g = tanh(0.5), o = 0.5
    zeros_ih, zeros_hh = xp.zeros((4, 1), xp.float32), xp.zeros((4, 1), xp.float32)
    c0 = xp.asarray([[2.0]], xp.float32)
    output, (h_n, c_n), gates = lstm_sequence(x, None, c0, zeros_ih, zeros_hh, bias, None, return_gates=True)
    c1 = 0.75 * 2.0 + 0.5 * math.tanh(0.5)
    c2 = 0.75 * c1 + 0.5 * math.tanh(0.5)
    np.testing.assert_allclose(to_numpy(gates["forget"]).ravel(), [0.75, 0.75], rtol=1e-6)
    np.testing.assert_allclose(to_numpy(gates["cell_state"]).ravel(), [c1, c2], rtol=1e-6)
    np.testing.assert_allclose(to_numpy(output).ravel(), [0.5 * math.tanh(c1), 0.5 * math.tanh(c2)], rtol=1e-6)
    # GRU with z = 0.25 (sigmoid(-log 3)), n = tanh(0.5), h0 = 1: h1 = 0.75 n + 0.25
    bias = xp.asarray([0.0, -math.log(3.0), 0.5], xp.float32)
    h0 = xp.ones((1, 1), xp.float32)
    output, h_n = gru_sequence(x[:, :1], h0, xp.zeros((3, 1), xp.float32), xp.zeros((3, 1), xp.float32), bias)
    np.testing.assert_allclose(to_numpy(h_n).ravel(), [0.75 * math.tanh(0.5) + 0.25], rtol=1e-6)


def test_non_contiguous_input_and_float64_weights_give_float32(xp):
    x, h0, _ = _inputs((4, 3, 5, 2), True)
    weights = _weights("rnn", 5, 2, True)
    strided = xp.asarray(x)[::2]  # a non-contiguous view
    output, h_n = rnn_sequence(strided, xp.asarray(h0[::2]), *_on(xp, *(w.astype(np.float64) for w in weights)))
    _close(output, naive_rnn(x[::2], h0[::2], *weights, "tanh"))
    assert h_n.dtype == xp.float32


# --- bad inputs --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda a: {**a, "x": a["x"][0]}, "x must be 3-D"),
    (lambda a: {**a, "x": a["x"].astype(np.int32)}, "x must be a floating-point"),
    (lambda a: {**a, "x": a["x"][:, :0]}, r"x must have at least one .* time step"),
    (lambda a: {**a, "x": a["x"][:0]}, "x must have at least one sequence"),
    (lambda a: {**a, "weight_ih": a["weight_ih"][:, :2]}, r"weight_ih must have shape .* \(12, 3\)"),
    (lambda a: {**a, "weight_hh": a["weight_hh"][:, :2]}, r"weight_hh must have shape \(4\*H, H\)"),
    (lambda a: {**a, "weight_hh": a["weight_hh"][0]}, "weight_hh must have shape"),
    (lambda a: {**a, "bias_ih": a["bias_ih"][:5]}, r"bias_ih must have shape \(12,\), got \(5,\)"),
    (lambda a: {**a, "bias_hh": a["bias_hh"][None]}, r"bias_hh must have shape \(12,\)"),
    (lambda a: {**a, "h0": a["h0"][:1]}, r"h0 must have shape \(N, H\) = \(2, 3\).*got \(1, 3\)"),
    (lambda a: {**a, "c0": a["c0"][None]}, r"c0 must have shape \(N, H\) = \(2, 3\)"),
    (lambda a: {**a, "h0": [[0.0] * 3] * 2}, "h0 must be an array or None, got list"),
    (lambda a: {**a, "c0": 0.0}, "c0 must be an array or None, got float"),
    (lambda a: {**a, "bias_ih": [0.0] * 12}, "bias_ih must be an array or None, got list"),
])
def test_lstm_sequence_rejects_bad_arguments(xp, change, message):
    x, h0, c0 = _inputs((2, 4, 3, 3), True)
    w_ih, w_hh, b_ih, b_hh = _weights("lstm", 3, 3, True)
    arguments = dict(zip(("x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                         _on(xp, x, h0, c0, w_ih, w_hh, b_ih, b_hh)))
    with pytest.raises(ValueError, match=message):
        lstm_sequence(**change(arguments))


def test_rnn_and_gru_reject_bad_arguments(xp):
    x, h0, _ = _inputs((2, 4, 3, 3), True)
    x, h0, *rnn_weights = _on(xp, x, h0, *_weights("rnn", 3, 3, True))
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        rnn_sequence(x, h0, *rnn_weights, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"weight_hh must have shape \(1\*H, H\) .* got \(9, 3\)"):
        rnn_sequence(x, h0, *_on(xp, *_weights("gru", 3, 3, True)))  # GRU weights in an RNN
    w_ih, w_hh, b_ih, b_hh = rnn_weights
    with pytest.raises(ValueError, match=r"weight_ih must have shape \(1\*H, F\) = \(3, 3\)"):
        rnn_sequence(x, h0, w_ih[:2], w_hh, b_ih, b_hh)
    with pytest.raises(ValueError, match=r"h0 must have shape \(N, H\) = \(2, 3\)"):
        gru_sequence(x, h0[:, :2], *_on(xp, *_weights("gru", 3, 3, True)))
    with pytest.raises(ValueError, match="x's feature size 2"):
        gru_sequence(x[:, :, :2], None, *_on(xp, *_weights("gru", 3, 3, True)))
    with pytest.raises(ValueError, match="weight_hh must be an array, got NoneType"):
        rnn_sequence(x, h0, w_ih, None)


# --- properties --------------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(["rnn", "lstm", "gru"]), batch=st.integers(1, 3), steps=st.integers(2, 6),
       features=st.integers(1, 4), hidden=st.integers(1, 5), split=st.integers(1, 5), seed=st.integers(0, 1000))
def test_last_output_is_the_final_state_and_a_split_sequence_continues(kind, batch, steps, features, hidden,
                                                                      split, seed):
    split = min(split, steps - 1)
    x, h0, c0 = _inputs((batch, steps, features, hidden), True, seed=seed)
    weights = _weights(kind, features, hidden, bool(seed % 2), seed=seed)
    if kind == "lstm":
        run = lambda seq, state: lstm_sequence(seq, state[0], state[1], *weights)  # noqa: E731
        state0 = (h0, c0)
    else:
        op = rnn_sequence if kind == "rnn" else gru_sequence
        run = lambda seq, state: op(seq, state, *weights)  # noqa: E731
        state0 = h0
    output, final = run(x, state0)
    last_h = final[0] if kind == "lstm" else final
    np.testing.assert_array_equal(output[:, -1], last_h)
    # running the first `split` steps, then the rest from the state reached, gives the same outputs
    first, middle = run(x[:, :split], state0)
    second, final_again = run(x[:, split:], middle)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), output, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(final_again[0] if kind == "lstm" else final_again, last_h, rtol=1e-5, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(hidden=st.integers(1, 6), scale=st.floats(0.1, 50.0), seed=st.integers(0, 1000))
def test_gates_stay_in_their_ranges(hidden, scale, seed):
    x, _, _ = _inputs((2, 4, 3, hidden), False, seed=seed)
    weights = [w * np.float32(scale) for w in _weights("lstm", 3, hidden, True, seed=seed)]
    _, _, gates = lstm_sequence(x, None, None, *weights, return_gates=True)
    for name in ("input", "forget", "output"):
        assert ((gates[name] >= 0) & (gates[name] <= 1)).all()
    assert (np.abs(gates["cell"]) <= 1).all()
    weights = [w * np.float32(scale) for w in _weights("gru", 3, hidden, True, seed=seed)]
    output, _, gates = gru_sequence(x, None, *weights, return_gates=True)
    assert all(((gates[n] >= 0) & (gates[n] <= 1)).all() for n in ("reset", "update"))
    assert (np.abs(output) <= 1).all()


# --- layers ------------------------------------------------------------------------------------------------

LAYER_CASES = [
    ("rnn", {"nonlinearity": "tanh", "bias": True}),
    ("rnn", {"nonlinearity": "relu", "bias": False}),
    ("lstm", {"bias": True}),
    ("lstm", {"bias": False}),
    ("gru", {"bias": True}),
    ("gru", {"bias": False}),
]


@pytest.mark.parametrize("kind, options", LAYER_CASES)
def test_layer_loads_torch_state_dict_and_matches_torch(kind, options):
    torch.manual_seed(0)
    reference = TORCH[kind](3, 5, batch_first=True, **options)
    ours = OURS[kind](3, 5, **options)
    state = {k: v.detach().numpy() for k, v in reference.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {k: v.shape for k, v in state.items()}
    ours.load_state_dict(state)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    h0, c0 = rng.standard_normal((2, 1, 2, 5)).astype(np.float32)
    torch_state = (torch.from_numpy(h0), torch.from_numpy(c0)) if kind == "lstm" else torch.from_numpy(h0)
    our_state = (h0, c0) if kind == "lstm" else h0  # torch's shapes: (1, N, H)
    with torch.no_grad():
        expected, expected_state = reference(torch.from_numpy(x), torch_state)
    output, state_n = ours(x, our_state)
    assert output.shape == tuple(ours.output_shape(x.shape))
    _close(output, expected.numpy())
    if kind == "lstm":
        _close(state_n[0], expected_state[0].numpy(), "h_n")
        _close(state_n[1], expected_state[1].numpy(), "c_n")
    else:
        _close(state_n, expected_state.numpy(), "h_n")


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_layer_parameters_are_seeded_float32_within_torchs_bound(kind):
    layer = OURS[kind](4, 9, seed=3)
    for name, value in layer.state_dict().items():
        assert value.dtype == np.float32
        assert np.abs(to_numpy(value)).max() <= 1 / 3  # 1/sqrt(9)
        np.testing.assert_array_equal(to_numpy(value), to_numpy(OURS[kind](4, 9, seed=3).state_dict()[name]))
    assert not np.array_equal(to_numpy(layer.weight_hh_l0), to_numpy(OURS[kind](4, 9, seed=4).weight_hh_l0))
    assert set(OURS[kind](4, 9, bias=False).state_dict()) == {"weight_ih_l0", "weight_hh_l0"}


@pytest.mark.parametrize("kind, options", LAYER_CASES)
@pytest.mark.parametrize("with_state", [False, True])
def test_explain_reproduces_every_output_element(kind, options, with_state):
    layer = OURS[kind](3, 4, seed=2, **options)
    x, h0, c0 = _inputs((2, 4, 3, 4), with_state, seed=6)
    state = (h0, c0) if kind == "lstm" and with_state else h0
    output, _ = layer(x, state)
    trace = layer.trace(x, state)
    for index in np.ndindex(*output.shape):
        e = layer.explain(x, index, state)
        assert e.kind == layer.kind and e.output_index == index
        assert e.output == pytest.approx(float(output[index]), rel=1e-4, abs=1e-6)
        n, t, j = index
        previous = (h0[n] if with_state else np.zeros(4)) if t == 0 else output[n, t - 1]
        np.testing.assert_array_equal(e.window, np.concatenate([x[n, t], previous]).astype(np.float32))
        assert e.coordinates[0] == (n, t, 0) and e.coordinates[3] == (n, t - 1, 0) and len(e.coordinates) == 7
        np.testing.assert_allclose(e.products, e.window * e.weights)
        if kind == "rnn":
            assert e.total == pytest.approx(e.sum + e.bias)
            assert e.extra["activation"] == options.get("nonlinearity", "tanh")  # the lab names it
            np.testing.assert_array_equal(e.weights, np.concatenate([layer.weight_ih_l0[j], layer.weight_hh_l0[j]]))
            continue
        assert e.weights.shape == (GATES[kind], 7)
        for g, name in enumerate(e.extra["gate_names"]):
            part = e.extra["gates"][name]
            assert part["value"] == pytest.approx(float(trace[name][index]), rel=1e-4, abs=1e-6)
            assert part["row"] == g * 4 + j
            np.testing.assert_array_equal(e.weights[g], np.concatenate([layer.weight_ih_l0[g * 4 + j],
                                                                        layer.weight_hh_l0[g * 4 + j]]))
        if kind == "lstm":
            assert e.extra["c"] == pytest.approx(float(trace["cell_state"][index]), rel=1e-4, abs=1e-6)
            c_prev = (c0[n, j] if with_state else 0.0) if t == 0 else trace["cell_state"][n, t - 1, j]
            assert e.extra["c_prev"] == pytest.approx(float(c_prev), rel=1e-6)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_trace_has_every_per_step_record(kind):
    layer = OURS[kind](2, 3)
    x = np.random.default_rng(0).standard_normal((2, 5, 2)).astype(np.float32)
    trace = layer.trace(x)
    expected_keys = {"rnn": {"hidden"}, "lstm": {"hidden", "input", "forget", "cell", "output", "cell_state"},
                     "gru": {"hidden", "reset", "update", "new"}}[kind]
    assert set(trace) == expected_keys
    assert all(value.shape == (2, 5, 3) and value.dtype == np.float32 for value in trace.values())
    np.testing.assert_array_equal(trace["hidden"], layer(x)[0])


def test_layer_describes_itself_for_the_catalogue():
    for cls, names in ((RNN, ["input_size", "hidden_size", "nonlinearity", "bias"]),
                       (LSTM, ["input_size", "hidden_size", "bias"]), (GRU, ["input_size", "hidden_size", "bias"])):
        entry = cls.describe()
        assert entry["kind"] == cls.__name__ and entry["summary"] and entry["formula"]
        assert entry["shape_rule"] == "(N, T, F) → (N, T, H)" and entry["input_ndim"] == [3]
        assert [p["name"] for p in entry["params"]] == names
        for param in cls.params:
            assert param.validate(param.default, cls.kind) == param.default
        layer = cls(5, 7, bias=False)
        again = cls(**layer.hyperparameters())
        assert again.hyperparameters() == layer.hyperparameters()
        assert layer.output_shape((2, 9, 5)) == (2, 9, 7)
    assert RNN(5, 7, nonlinearity="relu").hyperparameters() == {"input_size": 5, "hidden_size": 7, "nonlinearity": "relu",
                                                   "bias": True}
    assert RNN(5, 7).flops((2, 9, 5)) == 2 * 9 * 7 * 12
    assert LSTM(5, 7).flops((2, 9, 5)) == 4 * 2 * 9 * 7 * 12
    assert GRU(5, 7).flops((1, 1, 5)) == 3 * 7 * 12
    # the work limit also counts each step's loop iteration (STEP_COST, whatever the batch)
    assert LSTM(5, 7).work((2, 9, 5)) == 4 * 2 * 9 * 7 * 12 + 9 * STEP_COST
    assert LSTM(5, 7).explain_reads((2, 9, 5)) == 5 + 7


def test_layer_rejects_bad_hyperparameters_and_inputs():
    with pytest.raises(ValueError, match="hidden_size"):
        RNN(3, 0)
    with pytest.raises(ValueError, match="input_size"):
        LSTM(5000, 4)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="bias"):
        GRU(3, 4, bias="yes")
    layer = LSTM(3, 4)
    with pytest.raises(ValueError, match="input has 2 features per time step, but input_size is 3"):
        layer(np.zeros((1, 5, 2), np.float32))
    with pytest.raises(ValueError, match="input_size is 3"):
        layer.output_shape((1, 5, 2))
    with pytest.raises(ValueError, match="3-D"):
        layer.output_shape((5, 3))
    with pytest.raises(ValueError, match="x must be 3-D"):
        layer(np.zeros((5, 3), np.float32))
    with pytest.raises(ValueError, match="state must be a pair"):
        layer(np.zeros((1, 5, 3), np.float32), np.zeros((1, 4), np.float32))
    with pytest.raises(ValueError, match=r"output index \(0, 5, 0\) is not inside the output of shape \(1, 5, 4\)"):
        layer.explain(np.zeros((1, 5, 3), np.float32), (0, 5, 0))
    with pytest.raises(ValueError, match="is not inside the output"):
        layer.explain(np.zeros((1, 5, 3), np.float32), (0, True, 0))  # a bool is not an index
    with pytest.raises(ValueError, match="index"):
        RNN(3, 4).explain(np.zeros((1, 5, 3), np.float32), (0, 1))
