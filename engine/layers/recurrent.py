"""Recurrent layers RNN, LSTM and GRU: one layer, batch first, with PyTorch's parameter names.

The maths lives in `engine.functional.recurrent`; these classes hold the weights,
describe themselves for the catalogue, record the per-step values a student wants
to see (`trace`) and explain one hidden unit at one time step (`explain`).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import ClassVar

import numpy as np

from engine.backend import to_numpy
from engine.functional.recurrent import gru_sequence, lstm_sequence, rnn_sequence
from engine.grad.recurrent import (
    gru_sequence_backward,
    gru_sequence_train,
    lstm_sequence_backward,
    lstm_sequence_train,
    rnn_sequence_backward,
    rnn_sequence_train,
)
from engine.layers.base import Explanation, Layer, Param
from engine.layers.init import uniform
from engine.shapes import check_input

# What one time step's loop iteration costs, in multiply-adds of the same time (about 25 us here).
STEP_COST = 1_000_000

INPUT_SIZE = Param("input_size", "int", 1, "features per time step (F)", 1, 4096)
HIDDEN_SIZE = Param("hidden_size", "int", 16, "size of the hidden state (H)", 1, 4096)
NONLINEARITY = Param("nonlinearity", "choice", "tanh", "activation of the new hidden state",
                     choices=("tanh", "relu"))
BIAS = Param("bias", "bool", True, "add the biases b_ih and b_hh")


def _values(count: int) -> str:
    return f"{count} value" if count == 1 else f"{count} values"


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_torch_options(kind: str, num_layers, batch_first, dropout, bidirectional, proj_size=0) -> None:
    """The arguments of torch.nn.RNN/LSTM/GRU that this engine takes only at one value, or ValueError.

    The layers here are single-layer, one direction and batch first (inputs (N, T, F)): batch_first
    defaults to True, where torch's default is False, so torch code that leaves it out and feeds
    (T, N, F) must transpose its input. Dropout
    between layers does nothing with one layer, in PyTorch too, so any p in [0, 1] is accepted.
    """
    if not _is_int(num_layers) or num_layers != 1:
        raise ValueError(f"{kind}: num_layers must be 1 (one layer; stack two {kind} layers for more), "
                         f"got {num_layers!r}")
    if batch_first is not True:
        raise ValueError(f"{kind}: batch_first must be True (inputs are (N, T, F), batch first), got {batch_first!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, Real) or not 0 <= dropout <= 1:
        raise ValueError(f"{kind}: dropout must be a number between 0 and 1, got {dropout!r}")
    if bidirectional is not False:
        raise ValueError(f"{kind}: bidirectional must be False (one direction only), got {bidirectional!r}")
    if not _is_int(proj_size) or proj_size != 0:
        raise ValueError(f"{kind}: proj_size must be 0 (no projection), got {proj_size!r}")


def _sigmoid(a: float) -> float:
    """1 / (1 + exp(-a)) for one number, without overflow for large |a|."""
    return 0.5 * (1.0 + math.tanh(0.5 * a))


def _initial(value, name: str, kind: str):
    """An initial state as the functional ops take it, (N, H): from torch's (1, N, H), or (N, H) as it is."""
    if value is not None and getattr(value, "ndim", None) == 3:
        if value.shape[0] != 1:
            raise ValueError(f"{kind}: {name} must have shape (1, N, H) (one layer) or (N, H), "
                             f"got {tuple(value.shape)}")
        return value[0]
    return value


def _split_state(state) -> tuple:
    """LSTM's state argument: None, or a pair (h0, c0) of which either may be None; each (1, N, H) or (N, H)."""
    if state is None:
        return None, None
    if not isinstance(state, (tuple, list)) or len(state) != 2:
        raise ValueError(f"LSTM: state must be a pair (h0, c0) or None, got {type(state).__name__}")
    return _initial(state[0], "h0", "LSTM"), _initial(state[1], "c0", "LSTM")


def _previous(record, start, n: int, t: int) -> np.ndarray:
    """The (H,) value of sequence n at step t-1 in an (N, T, H) record; at t = 0 the start state or zeros."""
    if t > 0:
        return to_numpy(record[n, t - 1])
    if start is None:
        return np.zeros(record.shape[2], dtype=np.float32)
    return to_numpy(start[n])


class _Recurrent(Layer):
    """What RNN, LSTM and GRU share: hyper-parameters, parameters, shapes and the explanation's inputs."""

    input_ndim: ClassVar[tuple[int, ...]] = (3,)
    shape_rule: ClassVar[str] = "(N, T, F) → (N, T, H)"
    gate_names: ClassVar[tuple[str, ...]]  # the row blocks of the weights, in PyTorch's order

    def __init__(self, input_size: int, hidden_size: int, bias: bool, seed: int) -> None:
        super().__init__()
        self.input_size = INPUT_SIZE.validate(input_size, self.kind)
        self.hidden_size = HIDDEN_SIZE.validate(hidden_size, self.kind)
        self.bias = BIAS.validate(bias, self.kind)
        self._init_parameters(seed)

    def _init_parameters(self, seed: int) -> None:
        """Like PyTorch: every weight and bias uniform in (-1/sqrt(H), 1/sqrt(H))."""
        rows = len(self.gate_names) * self.hidden_size
        shapes = {"weight_ih_l0": (rows, self.input_size), "weight_hh_l0": (rows, self.hidden_size)}
        if self.bias:
            shapes.update(bias_ih_l0=(rows,), bias_hh_l0=(rows,))
        rng = np.random.default_rng(seed)
        for name, shape in shapes.items():
            self._register(name, uniform(shape, self.hidden_size, rng))

    def _weights(self) -> tuple:
        """(weight_ih, weight_hh, bias_ih, bias_hh), the biases None when bias=False."""
        p = self._parameters
        return p["weight_ih_l0"], p["weight_hh_l0"], p.get("bias_ih_l0"), p.get("bias_hh_l0")

    def __call__(self, x, state=None):
        return self.forward(x, state)

    # --- gradients: the output sequence only, from a zero initial state, as Sequential uses the layer ---
    def forward_saved(self, x, training: bool = True):
        """(output (N, T, H), saved): `forward(x)[0]` and every step's values for `backward`.

        Training and inference compute the same thing here; `saved` holds the weights used, so
        nothing is stored on the layer.
        """
        self._check(x)
        output, _, saved = self._train(x)
        return output, saved

    def backward(self, grad_output, saved, need_input_grad=True):
        """(dL/dx, {"weight_ih_l0", "weight_hh_l0"[, "bias_ih_l0", "bias_hh_l0"]: gradient}), through time."""
        grads = self._backward(grad_output, saved)
        names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
        return grads[0], {name: grad for name, grad in zip(names, grads[-4:]) if grad is not None}

    def _train(self, x):
        """The engine.grad `<op>_train` call from a zero initial state: (output, final state, saved)."""
        raise NotImplementedError

    def _backward(self, grad_output, saved) -> tuple:
        """The engine.grad `<op>_backward` call: (grad_x, state grads..., 4 weight and bias grads)."""
        raise NotImplementedError

    @classmethod
    def parameter_count(cls, hyperparameters):
        """G*H*(F + H) weights, plus 2*G*H biases."""
        rows = len(cls.gate_names) * hyperparameters["hidden_size"]
        biases = 2 * rows if hyperparameters["bias"] else 0
        return rows * (hyperparameters["input_size"] + hyperparameters["hidden_size"]) + biases

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 3:
            raise ValueError(f"{self.kind}: input must be 3-D (N, T, F), got shape {tuple(input_shape)}")
        batch, steps, features = input_shape
        if features != self.input_size:
            raise ValueError(
                f"{self.kind}: input has {features} features per time step, but input_size is {self.input_size}"
            )
        return (batch, steps, self.hidden_size)

    def flops(self, input_shape: tuple[int, ...]) -> int:
        """Multiply-adds of the two matrix products per step: N * T * G*H * (F + H)."""
        batch, steps, hidden = self.output_shape(input_shape)
        return batch * steps * len(self.gate_names) * hidden * (self.input_size + hidden)

    def work(self, input_shape: tuple[int, ...]) -> int:
        """flops + T * STEP_COST: the steps run one after another in a Python loop (7-29 us a step here,
        whatever the sizes), so a long sequence of tiny cells is work too."""
        return self.flops(input_shape) + input_shape[1] * STEP_COST

    def explain_reads(self, input_shape: tuple[int, ...]) -> int:
        """x_t and h_(t-1): F + H values."""
        return self.input_size + self.hidden_size

    def _check(self, x) -> tuple[int, int, int]:
        """Check x (ndim, dtype, feature size) and return the output shape."""
        check_input(x, "x", ndim=3)
        return self.output_shape(tuple(x.shape))

    def _check_index(self, x, index) -> tuple[int, int, int]:
        """x checked, and index (n, t, j) inside the output."""
        self._check(x)
        return self._output_index(x, index)

    def _gate_rows(self, window: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows of [W_ih | W_hh] that meet the window for hidden unit j, one per gate, and their products."""
        weight_ih, weight_hh, _, _ = self._weights()
        hidden = self.hidden_size
        rows = [g * hidden + j for g in range(len(self.gate_names))]
        weights = np.concatenate([to_numpy(weight_ih[rows]), to_numpy(weight_hh[rows])], axis=1)
        return weights, weights * window

    def _gate_parts(self, products: np.ndarray, j: int) -> dict[str, dict]:
        """Per gate: the input half x_t . W_i, the hidden half h_{t-1} . W_h and both biases."""
        _, _, bias_ih, bias_hh = self._weights()
        features, hidden = self.input_size, self.hidden_size
        parts = {}
        for g, name in enumerate(self.gate_names):
            row = g * hidden + j
            parts[name] = {
                "row": row,
                "input_sum": float(products[g, :features].sum(dtype=np.float64)),
                "hidden_sum": float(products[g, features:].sum(dtype=np.float64)),
                "bias_ih": float(bias_ih[row]) if bias_ih is not None else 0.0,
                "bias_hh": float(bias_hh[row]) if bias_hh is not None else 0.0,
            }
        return parts

    def _window(self, x, h_prev, n: int, t: int) -> tuple[np.ndarray, list[tuple[int, ...]]]:
        """x_t followed by h_{t-1} of sequence n, and where each value comes from."""
        window = np.concatenate([to_numpy(x[n, t]), to_numpy(h_prev)]).astype(np.float32)
        coordinates = [(n, t, f) for f in range(self.input_size)] + [(n, t - 1, k) for k in range(self.hidden_size)]
        return window, coordinates

    def _window_parts(self) -> dict[str, list[int]]:
        """Where x_t and h_(t-1) sit in the window: [start, stop) of each."""
        return {"x": [0, self.input_size], "h_prev": [self.input_size, self.input_size + self.hidden_size]}

    def _window_note(self) -> str:
        return (f"window = x[n, t, :] ({_values(self.input_size)}) followed by "
                f"h[n, t-1, :] ({_values(self.hidden_size)}); "
                "h at step -1 is the initial state h0 (zeros when not given)")


class RNN(_Recurrent):
    """Elman RNN, one layer, always batch first: input (N, T, F), output (N, T, H).

    `RNN(input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=True,
    dropout=0.0, bidirectional=False, *, seed=0)` takes torch.nn.RNN's arguments in its order
    (num_layers, batch_first and bidirectional only at these values) and has the parameters of
    `torch.nn.RNN(..., batch_first=True)` under the same names and shapes (weight_ih_l0 (H, F),
    weight_hh_l0 (H, H), bias_ih_l0, bias_hh_l0 (H,)), so its state_dict loads as is.
    """

    kind = "RNN"
    summary = (
        "A recurrent layer reads a sequence one time step at a time and keeps a hidden state: H numbers that "
        "carry what it has seen so far. At each step the new hidden state mixes the current input with the "
        "previous hidden state through two weight matrices and a tanh (or ReLU). The same weights are used at "
        "every step, so the layer reads sequences of any length."
    )
    formula = ("h_t = tanh(W_ih x_t + b_ih + W_hh h_(t−1) + b_hh)   (or ReLU instead of tanh);  "
               "h_(−1) = h0, zeros unless given")
    params = (INPUT_SIZE, HIDDEN_SIZE, NONLINEARITY, BIAS)
    gate_names = ("hidden",)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = True, dropout: float = 0.0, bidirectional: bool = False, *,
                 seed: int = 0) -> None:
        _check_torch_options("RNN", num_layers, batch_first, dropout, bidirectional)
        self.nonlinearity = NONLINEARITY.validate(nonlinearity, "RNN")
        super().__init__(input_size, hidden_size, bias, seed)

    def forward(self, x, h0=None):
        """Returns (output (N, T, H), h_n (1, N, H)), like torch.nn.RNN; h0 is (1, N, H) or (N, H)."""
        self._check(x)
        output, h_n = rnn_sequence(x, _initial(h0, "h0", self.kind), *self._weights(), nonlinearity=self.nonlinearity)
        return output, h_n[None]

    def _train(self, x):
        return rnn_sequence_train(x, None, *self._weights(), nonlinearity=self.nonlinearity)

    def _backward(self, grad_output, saved) -> tuple:
        return rnn_sequence_backward(grad_output, saved)

    def trace(self, x, h0=None) -> dict:
        """Per time step: "hidden" (N, T, H)."""
        output, _ = self.forward(x, h0)
        return {"hidden": output}

    def explain(self, x, index: tuple[int, int, int], h0=None) -> Explanation:
        """Hidden unit j of sequence n at step t: act(x_t . W_ih[j] + h_(t-1) . W_hh[j] + b_ih[j] + b_hh[j])."""
        n, t, j = self._check_index(x, index)
        h0 = _initial(h0, "h0", self.kind)
        output, _ = self.forward(x, h0)  # the whole batch, so h_(t-1) is bit for bit forward's
        h_prev = _previous(output, h0, n, t)
        window, coordinates = self._window(x, h_prev, n, t)
        weights, products = self._gate_rows(window, j)
        _, _, bias_ih, bias_hh = self._weights()
        total_sum = float(products.sum(dtype=np.float64))
        bias = float(bias_ih[j]) + float(bias_hh[j]) if self.bias else 0.0
        total = total_sum + bias
        value = math.tanh(total) if self.nonlinearity == "tanh" else max(total, 0.0)
        return Explanation(
            kind=self.kind, output_index=(n, t, j), window=window, coordinates=coordinates, output=value,
            weights=weights[0], products=products[0], sum=total_sum, bias=bias, total=total,
            note=f"{self._window_note()}; weights = row {j} of W_ih then row {j} of W_hh; "
                 f"output = {self.nonlinearity}(total)",
            extra={"window_parts": self._window_parts(), "activation": self.nonlinearity},
        )


class LSTM(_Recurrent):
    """Long short-term memory, one layer, always batch first: input (N, T, F), output (N, T, H).

    `LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=True, dropout=0.0,
    bidirectional=False, proj_size=0, *, seed=0)` takes torch.nn.LSTM's arguments in its order
    (num_layers, batch_first, bidirectional and proj_size only at these values) and has the
    parameters of `torch.nn.LSTM(..., batch_first=True)` under the same names and shapes (gate
    blocks i, f, g, o stacked in the rows: weight_ih_l0 (4H, F), weight_hh_l0 (4H, H),
    bias_ih_l0, bias_hh_l0 (4H,)), so its state_dict loads as is.
    """

    kind = "LSTM"
    summary = (
        "An LSTM is a recurrent layer with a second, protected memory: the cell state c_t. At each step three "
        "gates between 0 and 1 decide how much of the old memory to keep (forget gate), how much of a new "
        "candidate to write (input gate) and how much of the memory to show as the hidden state (output gate). "
        "Because the memory is updated by addition, information survives many more steps than in a plain RNN."
    )
    formula = (
        "i = σ(W_ii x_t + b_ii + W_hi h_(t−1) + b_hi), and so f (W_if, b_if, W_hf, b_hf) and o (W_io, b_io, W_ho, "
        "b_ho);  "
        "g = tanh(W_ig x_t + b_ig + W_hg h_(t−1) + b_hg);  c_t = f * c_(t−1) + i * g;  h_t = o * tanh(c_t)   "
        "(σ: sigmoid; * multiplies unit by unit)"
    )
    params = (INPUT_SIZE, HIDDEN_SIZE, BIAS)
    gate_names = ("input", "forget", "cell", "output")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = True, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0, *,
                 seed: int = 0) -> None:
        _check_torch_options("LSTM", num_layers, batch_first, dropout, bidirectional, proj_size)
        super().__init__(input_size, hidden_size, bias, seed)

    def forward(self, x, state=None):
        """Returns (output (N, T, H), (h_n, c_n)), like torch.nn.LSTM: h_n and c_n (1, N, H); state is
        (h0, c0), each (1, N, H) or (N, H), or None."""
        self._check(x)
        h0, c0 = _split_state(state)
        output, (h_n, c_n) = lstm_sequence(x, h0, c0, *self._weights())
        return output, (h_n[None], c_n[None])

    def _train(self, x):
        return lstm_sequence_train(x, None, None, *self._weights())

    def _backward(self, grad_output, saved) -> tuple:
        return lstm_sequence_backward(grad_output, saved)

    def _run(self, x, state):
        self._check(x)
        h0, c0 = _split_state(state)
        return lstm_sequence(x, h0, c0, *self._weights(), return_gates=True)

    def trace(self, x, state=None) -> dict:
        """Per time step, each (N, T, H): "hidden", the gates "input", "forget", "cell", "output", and "cell_state"."""
        output, _, gates = self._run(x, state)
        return {"hidden": output, **gates}

    def explain(self, x, index: tuple[int, int, int], state=None) -> Explanation:
        """Hidden unit j of sequence n at step t: its four gate pre-activations and the cell update.

        `weights` and `products` have one row per gate (i, f, g, o) over the window
        [x_t, h_(t-1)]; `extra["gates"]` holds each gate's sums, biases, total and value.
        """
        n, t, j = self._check_index(x, index)
        h0, c0 = _split_state(state)
        output, _, recorded = self._run(x, (h0, c0))  # the whole batch, so the states are bit for bit forward's
        h_prev = _previous(output, h0, n, t)
        c_prev = float(_previous(recorded["cell_state"], c0, n, t)[j])
        window, coordinates = self._window(x, h_prev, n, t)
        weights, products = self._gate_rows(window, j)
        gates = self._gate_parts(products, j)
        for name, part in gates.items():
            part["total"] = part["input_sum"] + part["hidden_sum"] + part["bias_ih"] + part["bias_hh"]
            part["value"] = math.tanh(part["total"]) if name == "cell" else _sigmoid(part["total"])
        i, f, g, o = (gates[name]["value"] for name in self.gate_names)
        c = f * c_prev + i * g
        h = o * math.tanh(c)
        return Explanation(
            kind=self.kind, output_index=(n, t, j), window=window,
            coordinates=coordinates, output=h, weights=weights, products=products,
            note=f"{self._window_note()}; one row of weights per gate (input, forget, cell, output); "
                 "c_t = f * c_(t-1) + i * g; h_t = o * tanh(c_t)",
            extra={"gate_names": list(self.gate_names), "gates": gates, "c_prev": c_prev, "c": c,
                   "tanh_c": math.tanh(c),
                   "window_parts": self._window_parts()},
        )


class GRU(_Recurrent):
    """Gated recurrent unit, one layer, always batch first: input (N, T, F), output (N, T, H).

    `GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=True, dropout=0.0,
    bidirectional=False, *, seed=0)` takes torch.nn.GRU's arguments in its order (num_layers,
    batch_first and bidirectional only at these values) and has the parameters of
    `torch.nn.GRU(..., batch_first=True)` under the same names and shapes (gate
    blocks r, z, n stacked in the rows: weight_ih_l0 (3H, F), weight_hh_l0 (3H, H),
    bias_ih_l0, bias_hh_l0 (3H,)), so its state_dict loads as is.
    """

    kind = "GRU"
    summary = (
        "A GRU is a lighter gated recurrent layer with no separate memory cell. The reset gate decides how much "
        "of the previous hidden state to use when proposing a new state, and the update gate blends that "
        "proposal with the old state: near 1 it keeps the old state, near 0 it takes the new one. It often "
        "works as well as an LSTM with fewer weights."
    )
    formula = (
        "r = σ(W_ir x_t + b_ir + W_hr h_(t−1) + b_hr), and so z (W_iz, b_iz, W_hz, b_hz);  "
        "n = tanh(W_in x_t + b_in + r * (W_hn h_(t−1) + b_hn));  h_t = (1 − z) * n + z * h_(t−1)   "
        "(σ: sigmoid; * multiplies unit by unit)"
    )
    params = (INPUT_SIZE, HIDDEN_SIZE, BIAS)
    gate_names = ("reset", "update", "new")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = True, dropout: float = 0.0, bidirectional: bool = False, *,
                 seed: int = 0) -> None:
        _check_torch_options("GRU", num_layers, batch_first, dropout, bidirectional)
        super().__init__(input_size, hidden_size, bias, seed)

    def forward(self, x, h0=None):
        """Returns (output (N, T, H), h_n (1, N, H)), like torch.nn.GRU; h0 is (1, N, H) or (N, H)."""
        self._check(x)
        output, h_n = gru_sequence(x, _initial(h0, "h0", self.kind), *self._weights())
        return output, h_n[None]

    def _train(self, x):
        return gru_sequence_train(x, None, *self._weights())

    def _backward(self, grad_output, saved) -> tuple:
        return gru_sequence_backward(grad_output, saved)

    def trace(self, x, h0=None) -> dict:
        """Per time step, each (N, T, H): "hidden" and the gates "reset", "update", "new"."""
        self._check(x)
        output, _, gates = gru_sequence(x, _initial(h0, "h0", self.kind), *self._weights(), return_gates=True)
        return {"hidden": output, **gates}

    def explain(self, x, index: tuple[int, int, int], h0=None) -> Explanation:
        """Hidden unit j of sequence n at step t: its three gate pre-activations and the blend.

        `weights` and `products` have one row per gate (r, z, n) over the window
        [x_t, h_(t-1)]; `extra["gates"]` holds each gate's sums, biases, total and value.
        """
        n, t, j = self._check_index(x, index)
        h0 = _initial(h0, "h0", self.kind)
        output, _ = self.forward(x, h0)  # the whole batch, so h_(t-1) is bit for bit forward's
        h_prev = _previous(output, h0, n, t)
        window, coordinates = self._window(x, h_prev, n, t)
        weights, products = self._gate_rows(window, j)
        gates = self._gate_parts(products, j)
        for name in ("reset", "update"):
            part = gates[name]
            part["total"] = part["input_sum"] + part["bias_ih"] + part["hidden_sum"] + part["bias_hh"]
            part["value"] = _sigmoid(part["total"])
        r, z = gates["reset"]["value"], gates["update"]["value"]
        new = gates["new"]
        new["total"] = new["input_sum"] + new["bias_ih"] + r * (new["hidden_sum"] + new["bias_hh"])
        new["value"] = math.tanh(new["total"])
        h_prev_j = float(h_prev[j])
        h = (1.0 - z) * new["value"] + z * h_prev_j
        return Explanation(
            kind=self.kind, output_index=(n, t, j), window=window,
            coordinates=coordinates, output=h, weights=weights, products=products,
            note=f"{self._window_note()}; one row of weights per gate (reset, update, new); "
                 "n = tanh(W_in x_t + b_in + r * (W_hn h_(t-1) + b_hn)); h_t = (1 - z) * n + z * h_(t-1)",
            extra={"gate_names": list(self.gate_names), "gates": gates, "h_prev": h_prev_j,
                   "window_parts": self._window_parts()},
        )

