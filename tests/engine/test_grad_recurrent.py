"""Back-propagation through time for RNN (tanh, relu), LSTM and GRU: every gradient against torch autograd
(float32) and central finite differences (float64), the relu kink, a loss on the last step only, the layer
classes' forward_saved/backward, and bad inputs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from engine.backend import to_numpy  # noqa: E402
from engine.functional.recurrent import gru_sequence, lstm_sequence, rnn_sequence  # noqa: E402
from engine.grad.recurrent import (  # noqa: E402
    gru_sequence_backward,
    gru_sequence_train,
    lstm_sequence_backward,
    lstm_sequence_train,
    rnn_sequence_backward,
    rnn_sequence_train,
)
from engine.layers.recurrent import GRU, LSTM, RNN  # noqa: E402

KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
TORCH = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
# (N, T, F, H): batch > 1, a single step and a single sequence, one feature, hidden smaller than the input
SHAPES = [(2, 5, 3, 4), (1, 1, 4, 3), (3, 4, 1, 5), (4, 3, 7, 2)]


def _split_kind(kind):
    """'rnn_relu' -> ('rnn', {'nonlinearity': 'relu'}); 'lstm' -> ('lstm', {})."""
    base, _, nonlinearity = kind.partition("_")
    return base, ({"nonlinearity": nonlinearity} if nonlinearity else {})


def _problem(kind, shape, bias=True, with_state=True, final_grads=True, dtype=np.float32, seed=0):
    """Seeded inputs, weights and upstream gradients, as NumPy arrays (None where absent)."""
    base, _ = _split_kind(kind)
    batch, steps, features, hidden = shape
    rng = np.random.default_rng(seed)
    rows = GATES[base] * hidden

    def normal(*size, scale=1.0):
        return (scale * rng.standard_normal(size)).astype(dtype)

    weights = [normal(rows, features, scale=0.7), normal(rows, hidden, scale=0.7)]
    weights += [normal(rows, scale=0.5), normal(rows, scale=0.5)] if bias else [None, None]
    has_cell = base == "lstm"
    return {
        "x": normal(batch, steps, features),
        "h0": normal(batch, hidden) if with_state else None,
        "c0": normal(batch, hidden) if with_state and has_cell else None,
        "weights": weights,
        "grad_output": normal(batch, steps, hidden),
        "grad_h_n": normal(batch, hidden) if final_grads else None,
        "grad_c_n": normal(batch, hidden) if final_grads and has_cell else None,
    }


def _on(xp, value):
    return None if value is None else xp.asarray(value)


def _ours(kind, xp, p):
    """Our forward and backward: (output, {name: gradient or None}) as NumPy arrays."""
    base, options = _split_kind(kind)
    x, h0, c0, grad_output, grad_h_n, grad_c_n = (_on(xp, p[k]) for k in ("x", "h0", "c0", "grad_output",
                                                                           "grad_h_n", "grad_c_n"))
    weights = [_on(xp, w) for w in p["weights"]]
    if base == "lstm":
        output, _, saved = lstm_sequence_train(x, h0, c0, *weights)
        grads = lstm_sequence_backward(grad_output, saved, grad_h_n, grad_c_n)
        names = ("x", "h0", "c0") + PARAMETERS
    else:
        train, backward = {"rnn": (rnn_sequence_train, rnn_sequence_backward),
                           "gru": (gru_sequence_train, gru_sequence_backward)}[base]
        output, _, saved = train(x, h0, *weights, **options)
        grads = backward(grad_output, saved, grad_h_n)
        names = ("x", "h0") + PARAMETERS
    assert len(grads) == len(names)
    return to_numpy(output), {name: None if g is None else to_numpy(g) for name, g in zip(names, grads)}


def _torch(kind, p):
    """The same with torch autograd on a module holding the same weights, in the arrays' dtype."""
    base, options = _split_kind(kind)
    batch, steps, features = p["x"].shape
    hidden = p["weights"][1].shape[1]
    bias = p["weights"][2] is not None
    module = TORCH[base](features, hidden, bias=bias, batch_first=True, **options)
    module = module.double() if p["x"].dtype == np.float64 else module
    params = [getattr(module, f"{name}_l0") if bias or name.startswith("weight") else None for name in PARAMETERS]
    with torch.no_grad():
        for param, value in zip(params, p["weights"]):
            if param is not None:
                param.copy_(torch.from_numpy(value))

    def leaf(value, unsqueeze=False):
        if value is None:
            return None
        tensor = torch.from_numpy(value.copy())
        return (tensor[None] if unsqueeze else tensor).detach().requires_grad_(True)

    x, h0, c0 = leaf(p["x"]), leaf(p["h0"], True), leaf(p["c0"], True)
    if base == "lstm":
        state = None if h0 is None and c0 is None else (
            h0 if h0 is not None else torch.zeros(1, batch, hidden, dtype=x.dtype),
            c0 if c0 is not None else torch.zeros(1, batch, hidden, dtype=x.dtype))
        output, (h_n, c_n) = module(x, state)
    else:
        output, h_n = module(x, h0)
        c_n = None
    loss = (output * torch.from_numpy(p["grad_output"])).sum()
    if p["grad_h_n"] is not None:
        loss = loss + (h_n[0] * torch.from_numpy(p["grad_h_n"])).sum()
    if p["grad_c_n"] is not None:
        loss = loss + (c_n[0] * torch.from_numpy(p["grad_c_n"])).sum()
    loss.backward()

    def grad(tensor, squeeze=False):
        if tensor is None:
            return None
        return (tensor.grad[0] if squeeze else tensor.grad).numpy()

    grads = {"x": grad(x), "h0": grad(h0, True), **{n: grad(q) for n, q in zip(PARAMETERS, params)}}
    if base == "lstm":
        grads["c0"] = grad(c0, True)
    return output.detach().numpy(), grads


def _close(got, expected, name, dtype=np.float32, rtol=1e-4):
    """Shape and dtype first, then values: rtol with an atol of rtol / 10 of the largest magnitude."""
    assert got.shape == expected.shape, f"{name}: shape {got.shape} != {expected.shape}"
    assert got.dtype == dtype, f"{name}: dtype {got.dtype}"
    scale = float(np.abs(expected).max()) if expected.size else 1.0
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol / 10 * max(scale, 1e-3), err_msg=name)


# --- against torch autograd, float32 ------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bias, with_state, final_grads", [(True, True, True), (False, False, False),
                                                           (True, False, True), (False, True, False)])
def test_backward_matches_torch_autograd(xp, kind, shape, bias, with_state, final_grads):
    p = _problem(kind, shape, bias, with_state, final_grads, seed=sum(shape))
    output, grads = _ours(kind, xp, p)
    expected_output, expected = _torch(kind, p)
    _close(output, expected_output, "output")
    assert set(grads) == set(expected)
    for name, value in grads.items():
        if expected[name] is None:
            assert value is None, f"{name}: the argument was None, so its gradient must be None"
        else:
            _close(value, expected[name], name)


@pytest.mark.parametrize("kind", KINDS)
def test_loss_on_the_last_step_only(xp, kind):
    """grad_output zero except t = T-1 equals torch's loss on out[:, -1], and equals passing it as grad_h_n."""
    p = _problem(kind, (3, 5, 3, 4), final_grads=False, seed=7)
    last = p["grad_output"][:, -1].copy()
    p["grad_output"][:, :-1] = 0
    _, grads = _ours(kind, xp, p)
    _, expected = _torch(kind, p)
    for name, value in grads.items():
        _close(value, expected[name], name)
    as_final = dict(p, grad_output=np.zeros_like(p["grad_output"]), grad_h_n=last)
    _, grads_final = _ours(kind, xp, as_final)
    for name, value in grads.items():
        np.testing.assert_allclose(grads_final[name], value, rtol=1e-6, atol=1e-7, err_msg=name)


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(KINDS), batch=st.integers(1, 3), steps=st.integers(1, 6),
       features=st.integers(1, 4), hidden=st.integers(1, 5), bias=st.booleans(), with_state=st.booleans(),
       seed=st.integers(0, 2**16))
def test_backward_matches_torch_in_float64_for_any_shape(kind, batch, steps, features, hidden, bias, with_state,
                                                         seed):
    p = _problem(kind, (batch, steps, features, hidden), bias, with_state, True, np.float64, seed)
    output, grads = _ours(kind, np, p)
    expected_output, expected = _torch(kind, p)
    _close(output, expected_output, "output", np.float64, rtol=1e-10)
    for name, value in grads.items():
        if expected[name] is None:
            assert value is None
        else:
            _close(value, expected[name], name, np.float64, rtol=1e-10)


# --- against central finite differences, float64 -------------------------------------------------------

def _loss(kind, p):
    """sum(grad_output * output) + sum(grad_h_n * h_n) [+ sum(grad_c_n * c_n)], with the public forward ops."""
    base, options = _split_kind(kind)
    if base == "lstm":
        output, (h_n, c_n) = lstm_sequence(p["x"], p["h0"], p["c0"], *p["weights"])
        extra = float(np.sum(p["grad_c_n"] * c_n))
    else:
        op = rnn_sequence if base == "rnn" else gru_sequence
        output, h_n = op(p["x"], p["h0"], *p["weights"], **options)
        extra = 0.0
    return float(np.sum(p["grad_output"] * output)) + float(np.sum(p["grad_h_n"] * h_n)) + extra


def _arrays(p):
    """Every differentiable array of a problem by the backward's names."""
    named = {"x": p["x"], "h0": p["h0"], "c0": p["c0"], **dict(zip(PARAMETERS, p["weights"]))}
    return {name: value for name, value in named.items() if value is not None}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("steps", [3, 5])
def test_backward_matches_central_finite_differences(kind, steps):
    p = _problem(kind, (2, steps, 3, 4), dtype=np.float64, seed=steps)
    if kind == "rnn_relu":  # keep every pre-activation away from the kink, where no derivative exists
        output = rnn_sequence(p["x"], p["h0"], *p["weights"], nonlinearity="relu")[0]
        assert np.all((output == 0) | (output > 1e-3))
    _, grads = _ours(kind, np, p)
    eps = 1e-6
    for name, array in _arrays(p).items():
        numeric = np.zeros_like(array)
        for index in np.ndindex(*array.shape):
            original = array[index]
            array[index] = original + eps
            plus = _loss(kind, p)
            array[index] = original - eps
            minus = _loss(kind, p)
            array[index] = original
            numeric[index] = (plus - minus) / (2 * eps)
        assert grads[name].dtype == np.float64
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-7, err_msg=name)


# --- exact cases ---------------------------------------------------------------------------------------------

def test_relu_kink_has_zero_gradient_like_torch(xp):
    """Units whose pre-activation is exactly 0 at every step (zero weight rows, b_ih = -b_hh) pass no gradient."""
    p = _problem("rnn_relu", (2, 4, 3, 4), seed=3)
    weight_ih, weight_hh, bias_ih, bias_hh = p["weights"]
    weight_ih[:2] = 0
    weight_hh[:2] = 0
    bias_ih[:2] = 0.75
    bias_hh[:2] = -0.75
    output, grads = _ours("rnn_relu", xp, p)
    assert np.all(output[:, :, :2] == 0)
    assert np.all(grads["bias_ih"][:2] == 0) and np.all(grads["weight_hh"][:2] == 0)
    _, expected = _torch("rnn_relu", p)
    for name, value in grads.items():
        _close(value, expected[name], name)


def test_zero_upstream_gradient_gives_zero_gradients(xp):
    for kind in KINDS:
        p = _problem(kind, (2, 3, 3, 4), seed=1)
        p["grad_output"][:] = 0
        p["grad_h_n"][:] = 0
        if p["grad_c_n"] is not None:
            p["grad_c_n"][:] = 0
        _, grads = _ours(kind, xp, p)
        assert all(not np.any(value) for value in grads.values()), kind


def test_nan_in_the_upstream_gradient_flows_through(xp):
    for kind in KINDS:
        p = _problem(kind, (2, 3, 3, 4), seed=2)
        p["grad_output"][0, 1, 0] = np.nan
        _, grads = _ours(kind, xp, p)
        assert np.isnan(grads["x"][0, 1]).any() and np.isfinite(grads["x"][1]).all(), kind
        assert np.isnan(grads["weight_ih"]).any(), kind


def test_backward_leaves_saved_and_upstream_gradients_unchanged_and_can_repeat(xp):
    p = _problem("lstm", (2, 4, 3, 4), seed=4)
    x, h0, c0, grad_output, grad_h_n, grad_c_n = (xp.asarray(p[k]) for k in ("x", "h0", "c0", "grad_output",
                                                                           "grad_h_n", "grad_c_n"))
    _, _, saved = lstm_sequence_train(x, h0, c0, *(xp.asarray(w) for w in p["weights"]))
    copies = [to_numpy(a).copy() for a in (grad_output, grad_h_n, grad_c_n, *saved["record"].values())]
    first = lstm_sequence_backward(grad_output, saved, grad_h_n, grad_c_n)
    second = lstm_sequence_backward(grad_output, saved, grad_h_n, grad_c_n)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    for before, after in zip(copies, (grad_output, grad_h_n, grad_c_n, *saved["record"].values())):
        np.testing.assert_array_equal(before, to_numpy(after))


def test_train_output_is_the_forward_output_bit_for_bit(xp):
    for kind, train, op in (("rnn_relu", rnn_sequence_train, rnn_sequence), ("gru", gru_sequence_train, gru_sequence),
                            ("lstm", lstm_sequence_train, lstm_sequence)):
        base, options = _split_kind(kind)
        p = _problem(kind, (3, 4, 2, 5), seed=5)
        states = [p["h0"], p["c0"]] if base == "lstm" else [p["h0"]]
        args = [_on(xp, value) for value in (p["x"], *states, *p["weights"])]
        *got, _ = train(*args, **options)
        expected = op(*args, **options)
        for got_array, expected_array in zip(_flatten(got), _flatten(expected)):
            np.testing.assert_array_equal(to_numpy(got_array), to_numpy(expected_array))


def _flatten(values):
    """(output, h_n) or (output, (h_n, c_n)) as a flat list of arrays."""
    flat = []
    for value in values:
        flat.extend(value if isinstance(value, tuple) else [value])
    return flat


# --- the layer classes ------------------------------------------------------------------------------------------

LAYER_CASES = [("rnn", {"nonlinearity": "tanh"}), ("rnn", {"nonlinearity": "relu", "bias": False}),
               ("lstm", {}), ("lstm", {"bias": False}), ("gru", {}), ("gru", {"bias": False})]
OURS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


@pytest.mark.parametrize("kind, options", LAYER_CASES)
def test_layer_forward_saved_and_backward_match_torch(kind, options):
    torch.manual_seed(1)
    reference = TORCH[kind](3, 5, batch_first=True, **options)
    layer = OURS[kind](3, 5, **options)
    layer.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    grad_output = rng.standard_normal((4, 6, 5)).astype(np.float32)
    attributes = dict(vars(layer))

    output, saved = layer.forward_saved(x)
    grad_x, grads = layer.backward(grad_output, saved)

    tx = torch.from_numpy(x).requires_grad_(True)
    expected_output = reference(tx)[0]
    expected_output.backward(torch.from_numpy(grad_output))
    _close(output, expected_output.detach().numpy(), "output")
    _close(grad_x, tx.grad.numpy(), "grad_x")
    assert set(grads) == set(layer.parameters())
    for name, value in grads.items():
        assert value.shape == layer.parameters()[name].shape
        _close(value, getattr(reference, name).grad.numpy(), name)
    assert vars(layer).keys() == attributes.keys()  # nothing stored on the layer
    assert all(vars(layer)[k] is v for k, v in attributes.items())


@pytest.mark.parametrize("kind, options", LAYER_CASES)
def test_layer_forward_saved_equals_forward(kind, options):
    layer = OURS[kind](3, 4, seed=2, **options)
    x = np.random.default_rng(3).standard_normal((2, 5, 3)).astype(np.float32)
    expected = layer(x)[0]
    for training in (False, True):
        output, _ = layer.forward_saved(x, training=training)
        assert output.dtype == np.float32
        np.testing.assert_array_equal(output, expected)


def test_layer_backward_uses_the_weights_of_its_forward():
    """saved holds the weights the forward used: loading new weights between forward and backward changes nothing."""
    layer = LSTM(2, 3, seed=1)
    x = np.random.default_rng(4).standard_normal((2, 4, 2)).astype(np.float32)
    grad_output = np.ones((2, 4, 3), np.float32)
    _, saved = layer.forward_saved(x)
    expected = layer.backward(grad_output, saved)
    layer.load_state_dict(LSTM(2, 3, seed=9).state_dict())
    grad_x, grads = layer.backward(grad_output, saved)
    np.testing.assert_array_equal(grad_x, expected[0])
    for name, value in grads.items():
        np.testing.assert_array_equal(value, expected[1][name])


# --- bad inputs -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda a: {**a, "grad_output": a["grad_output"][:, :-1]}, r"grad_output must have the shape \(2, 4, 3\)"),
    (lambda a: {**a, "grad_output": a["grad_output"][0]}, "grad_output must be 3-D"),
    (lambda a: {**a, "grad_output": a["grad_output"].astype(np.int32)}, "grad_output must be a floating-point"),
    (lambda a: {**a, "grad_h_n": a["grad_h_n"][:1]}, r"grad_h_n must have the shape \(2, 3\)"),
    (lambda a: {**a, "grad_c_n": a["grad_c_n"][None]}, r"grad_c_n must have the shape \(2, 3\)"),
])
def test_backward_rejects_bad_gradients(xp, change, message):
    p = _problem("lstm", (2, 4, 3, 3), seed=8)
    _, _, saved = lstm_sequence_train(*(_on(xp, p[k]) for k in ("x", "h0", "c0")), *(_on(xp, w) for w in p["weights"]))
    args = change({k: xp.asarray(p[k]) for k in ("grad_output", "grad_h_n", "grad_c_n")})
    with pytest.raises(ValueError, match=message):
        lstm_sequence_backward(args["grad_output"], saved, args["grad_h_n"], args["grad_c_n"])


def test_train_rejects_bad_arguments_like_the_forward_ops():
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="nonlinearity"):
        rnn_sequence_train(x, None, np.zeros((5, 4), np.float32), np.zeros((5, 5), np.float32), nonlinearity="gelu")
    with pytest.raises(ValueError, match="weight_ih"):
        gru_sequence_train(x, None, np.zeros((15, 3), np.float32), np.zeros((15, 5), np.float32))
    with pytest.raises(ValueError, match="c0"):
        lstm_sequence_train(x, None, np.zeros((1, 5), np.float32), np.zeros((20, 4), np.float32),
                            np.zeros((20, 5), np.float32))
