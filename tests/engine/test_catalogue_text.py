"""What the catalogue and the pages teach: each formula and rule checked against PyTorch where it can be, and
the same equation written with the same symbols wherever the product shows it (catalogue, Sequence page, the
Layer lab's breakdown)."""

import itertools
import math
import re
from pathlib import Path

import numpy as np
import pytest

from engine.layers import GRU, LSTM, RNN, AvgPool2d, Conv2d, ConvTranspose2d, Linear, MaxPool2d, Softmax, Upsample

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]


def _read(path: str) -> str:
    return (ROOT / path).read_text()


# --- pooling: ceil_mode and the average's count ------------------------------------------------------------

def _ceil_mode_size_as_written(size, kernel, stride, padding, dilation=1) -> int:
    """The shape rule's words: ⌈…⌉ + 1, less one when that last window would start beyond the input's last cell."""
    count = math.ceil((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1
    last_start = (count - 1) * stride - padding  # in the input's coordinates
    return count - 1 if last_start > size - 1 else count


def test_the_ceil_mode_rule_as_written_gives_torchs_sizes_also_without_padding():
    dropped_without_padding = []
    for size, kernel, stride, padding, dilation in itertools.product(range(1, 12), range(1, 5), range(1, 5),
                                                                      range(3), (1, 2)):
        if 2 * padding > kernel or size + 2 * padding < dilation * (kernel - 1) + 1:
            continue
        x = torch.zeros(1, 1, size, 1)
        theirs = torch.nn.functional.max_pool2d(x, (kernel, 1), (stride, 1), (padding, 0), (dilation, 1),
                                                ceil_mode=True).shape[2]
        assert _ceil_mode_size_as_written(size, kernel, stride, padding, dilation) == theirs
        ceiled = math.ceil((size - dilation * (kernel - 1) - 1) / stride) + 1
        if padding == 0 and theirs < ceiled:
            dropped_without_padding.append((size, kernel, stride))
    # a window is dropped where there is no padding at all: "starts in the right-hand padding" alone was wrong
    assert (11, 1, 3) in dropped_without_padding
    for layer in (MaxPool2d, AvgPool2d):
        assert "beyond the input's last cell" in layer.shape_rule
        ceil_help = next(p.help for p in layer.params if p.name == "ceil_mode")
        assert "kept if it starts before the end of the input" in ceil_help


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_the_average_pools_count_is_the_one_its_formula_defines(count_include_pad):
    """count = the window's cells inside the padded input (inside the input alone without count_include_pad):
    an average of ones times that count is how many of the window's cells are input cells."""
    assert "count = the window's cells inside the padded input" in AvgPool2d.formula
    size, kernel, stride, padding = 7, 3, 2, 1
    averages = torch.nn.functional.avg_pool2d(torch.ones(1, 1, size, 1), (kernel, 1), (stride, 1), (padding, 0),
                                              ceil_mode=True, count_include_pad=count_include_pad)[0, 0, :, 0]
    for i, average in enumerate(averages.tolist()):
        start = i * stride - padding
        window = range(start, start + kernel)
        inputs = sum(0 <= r < size for r in window)
        count = inputs if not count_include_pad else sum(-padding <= r < size + padding for r in window)
        assert average * count == pytest.approx(inputs)


# --- convolutions, dense, softmax, upsampling: the formulas' conditions ----------------------------------

def test_the_transposed_convolutions_formula_as_written_is_torchs_with_groups_and_dilation():
    """For every input cell and tap, out[n,o, i·s + p·d − pad, j·s + q·d − pad] += x[n,c,i,j] · w[c,o,p,q]
    (o within c's group), then + b[o]."""
    assert "for every input cell" in ConvTranspose2d.formula and "groups" in ConvTranspose2d.formula
    rng = np.random.default_rng(0)
    channels, outputs, groups, (kh, kw), (sh, sw), (ph, pw), (dh, dw) = 4, 6, 2, (3, 2), (2, 3), (1, 1), (2, 1)
    x = rng.standard_normal((1, channels, 4, 5)).astype(np.float32)
    w = rng.standard_normal((channels, outputs // groups, kh, kw)).astype(np.float32)
    b = rng.standard_normal(outputs).astype(np.float32)
    theirs = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), (sh, sw),
                                                  (ph, pw), (1, 0), groups, (dh, dw)).numpy()
    out = np.zeros_like(theirs)
    for c, i, j, p, q in itertools.product(range(channels), range(4), range(5), range(kh), range(kw)):
        row, col = i * sh + p * dh - ph, j * sw + q * dw - pw
        if 0 <= row < out.shape[2] and 0 <= col < out.shape[3]:
            group = c // (channels // groups)
            for o_in_group in range(outputs // groups):
                out[0, group * outputs // groups + o_in_group, row, col] += x[0, c, i, j] * w[c, o_in_group, p, q]
    np.testing.assert_allclose(out + b[:, None, None], theirs, atol=1e-5)


def test_each_formula_says_what_its_sums_run_over():
    assert "groups" in Conv2d.formula  # with groups, c is only the channels of o's group
    assert "dim" in Softmax.formula  # the sum runs along one axis, not over every value
    assert "bilinear" in Upsample.formula  # the layer's other mode
    assert 3 in Linear.input_ndim and "(N, T, in_features) → (N, T, out_features)" in Linear.shape_rule


# --- recurrent cells: torch's equations, with torch's names, the same on every page ----------------------

GATE_LETTERS = {RNN: None, LSTM: "ifgo", GRU: "rzn"}


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_the_recurrent_formulas_name_each_gates_weights_and_biases_as_torch_does(cls):
    letters = GATE_LETTERS[cls]
    names = ["W_ih", "b_ih", "W_hh", "b_hh"] if letters is None else [
        f"{kind}_{side}{gate}" for gate in letters for kind, side in (("W", "i"), ("b", "i"), ("W", "h"), ("b", "h"))]
    missing = [name for name in names if name not in cls.formula]
    assert not missing, f"{cls.kind}'s formula does not name {missing}: {cls.formula}"
    if cls is GRU:  # the reset gate scales the hidden part with its bias, as torch's n_t
        assert "r * (W_hn h_(t−1) + b_hn)" in cls.formula


def test_the_gated_formulas_as_written_are_torchs_cells():
    """i, f, g, o and r, z, n computed as the formulas say, from torch's own parameters, give torch's states."""
    torch.manual_seed(0)
    x, h, c = torch.randn(3, 5), torch.randn(3, 4), torch.randn(3, 4)
    sigmoid = torch.sigmoid
    lstm = torch.nn.LSTMCell(5, 4)
    blocks = lambda weight: weight.detach().chunk(4)  # noqa: E731  (torch's row blocks, in the gates' order)
    pre = [x @ wi.T + bi + h @ wh.T + bh for wi, bi, wh, bh in
           zip(blocks(lstm.weight_ih), blocks(lstm.bias_ih), blocks(lstm.weight_hh), blocks(lstm.bias_hh))]
    i, f, g, o = sigmoid(pre[0]), sigmoid(pre[1]), torch.tanh(pre[2]), sigmoid(pre[3])
    c_t = f * c + i * g
    h_theirs, c_theirs = lstm(x, (h, c))
    torch.testing.assert_close(c_t, c_theirs.detach())
    torch.testing.assert_close(o * torch.tanh(c_t), h_theirs.detach())

    gru = torch.nn.GRUCell(5, 4)
    (w_ir, w_iz, w_in), (b_ir, b_iz, b_in) = gru.weight_ih.detach().chunk(3), gru.bias_ih.detach().chunk(3)
    (w_hr, w_hz, w_hn), (b_hr, b_hz, b_hn) = gru.weight_hh.detach().chunk(3), gru.bias_hh.detach().chunk(3)
    r = sigmoid(x @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
    z = sigmoid(x @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
    n = torch.tanh(x @ w_in.T + b_in + r * (h @ w_hn.T + b_hn))
    torch.testing.assert_close((1 - z) * n + z * h, gru(x, h).detach())


def _plain(equation: str) -> str:
    """An equation with its subscripts' markup and spaces dropped: h_(t−1), h_{t−1} and h<sub>t−1</sub> alike."""
    equation = re.sub(r"_\(([^)]*)\)", r"\1", equation)
    return re.sub(r"<sub>|</sub>|[_{}\s]", "", equation)


def test_the_sequence_page_writes_the_rnn_equation_as_the_catalogue_does():
    equation = _plain(RNN.formula.split("   ")[0])  # h_t = tanh(W_ih x_t + b_ih + W_hh h_(t−1) + b_hh)
    assert equation == "ht=tanh(Wihxt+bih+Whhht−1+bhh)"
    assert equation in _plain(_read("templates/sequence.html"))  # the "How a recurrent layer reads" card
    assert equation in _plain(_read("static/js/sequence-render.js"))  # "A plain RNN has no gates: …"


def test_the_labs_breakdown_names_the_gates_as_the_sequence_page_does():
    lab = dict((name, f"{label} {letter}") for name, label, letter in
               re.findall(r'(\w+): \["([^"]+)", "(\w)"\]', _read("static/js/lab-explain.js")))
    sequence = dict(re.findall(r'(\w+): \{ label: "([^"]+)"', _read("static/js/sequence-render.js")))
    gates = ["input", "forget", "cell", "output", "reset", "update", "new"]
    assert {name: lab.get(name) for name in gates} == {name: sequence[name] for name in gates}
    for name in gates:  # each line of the breakdown starts with the gate's engine name (the lab's tests read it)
        assert lab[name].split(" ")[0] == name


def test_the_labs_batch_norm_breakdown_writes_two_equations_not_one_chain():
    """"(x − mean) ÷ √(var + eps) = x̂ · γ + β = y" claimed that the normalised value equals the output."""
    source = _read("static/js/lab-explain.js")
    body = source[source.index("function normalised("):source.index("// -- activations")]
    assert body.count('element("p"') == 2
    assert '"normalised x̂ = (x "' in body and '"output y = x̂ · scale γ "' in body


def test_the_labs_average_breakdown_divides_by_the_formulas_count():
    """"÷ 9 values" under a window of 4 values and 5 padding cells: the divisor is the formula's count."""
    source = _read("static/js/lab-explain.js")
    body = source[source.index("function averaged("):source.index("// -- softmax")]
    assert "` ÷ count ${message.extra.divisor} = `" in body and "values" not in body
    assert "(1 / count)" in AvgPool2d.formula
