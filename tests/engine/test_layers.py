"""Layers: PyTorch-compatible parameters, forward equal to torch.nn, explain equal to forward, catalogue schema."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.layers import (LAYER_TYPES, RNN, AvgPool2d, BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, Flatten,
                           LeakyReLU, Linear, MaxPool2d, ReLU, Sigmoid, Softmax, Tanh, Upsample, catalogue)
from engine.layers.base import Layer

RTOL, ATOL = 1e-4, 1e-5


def _torch_state(module):
    return {k: v.detach().numpy().astype(np.float32) for k, v in module.state_dict().items()}


# (our layer, the torch module of the same name and arguments, input shape)
PAIRS = [
    (lambda: Conv2d(3, 6, 3, stride=2, padding=1), lambda: torch.nn.Conv2d(3, 6, 3, stride=2, padding=1), (2, 3, 9, 7)),
    (lambda: Conv2d(4, 4, (3, 1), dilation=2, groups=2, bias=False),
     lambda: torch.nn.Conv2d(4, 4, (3, 1), dilation=2, groups=2, bias=False), (1, 4, 8, 5)),
    (lambda: ConvTranspose2d(4, 2, 4, stride=2, padding=1),
     lambda: torch.nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1), (2, 4, 5, 6)),
    (lambda: ConvTranspose2d(2, 4, 3, stride=3, output_padding=1, groups=2),
     lambda: torch.nn.ConvTranspose2d(2, 4, 3, stride=3, output_padding=1, groups=2), (1, 2, 3, 4)),
    (lambda: Linear(12, 5), lambda: torch.nn.Linear(12, 5), (3, 12)),
    (lambda: BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3).eval(), (2, 3, 4, 4)),
    (lambda: MaxPool2d(3, 2, padding=1, ceil_mode=True),
     lambda: torch.nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), (2, 3, 7, 8)),
    (lambda: AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False),
     lambda: torch.nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False), (1, 2, 8, 7)),
    (lambda: ReLU(), lambda: torch.nn.ReLU(), (2, 3, 4, 4)),
    (lambda: LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2), (2, 3, 4, 4)),
    (lambda: Sigmoid(), lambda: torch.nn.Sigmoid(), (2, 5)),
    (lambda: Tanh(), lambda: torch.nn.Tanh(), (2, 5)),
    (lambda: Softmax(1), lambda: torch.nn.Softmax(1), (3, 10)),
    (lambda: Flatten(), lambda: torch.nn.Flatten(), (2, 3, 4, 5)),
    (lambda: Upsample(scale_factor=2, mode="bilinear"), lambda: torch.nn.Upsample(scale_factor=2, mode="bilinear"), (1, 2, 3, 5)),
    (lambda: Dropout(0.3), lambda: torch.nn.Dropout(0.3).eval(), (2, 6)),
]


@pytest.mark.parametrize("make_ours, make_torch, shape", PAIRS, ids=[str(i) for i in range(len(PAIRS))])
def test_layer_matches_torch_module_with_its_state_dict(make_ours, make_torch, shape):
    torch.manual_seed(0)
    reference = make_torch()
    if isinstance(reference, torch.nn.BatchNorm2d):  # non-trivial running statistics
        reference.running_mean.uniform_(-1, 1)
        reference.running_var.uniform_(0.5, 2)
        reference.weight.data.uniform_(0.5, 1.5)
        reference.bias.data.uniform_(-1, 1)
    ours = make_ours()
    state = _torch_state(reference)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in state.items()}
    ours.load_state_dict(state)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    expected = reference(torch.from_numpy(x)).detach().numpy()
    got = ours(x)
    assert got.shape == expected.shape == tuple(ours.output_shape(shape))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


EXPLAINED = [
    (Conv2d(3, 4, 3, stride=2, padding=1, seed=3), (1, 3, 7, 6)),
    (Conv2d(4, 6, (2, 3), dilation=(2, 1), groups=2, seed=4), (2, 4, 6, 7)),
    (ConvTranspose2d(3, 2, 4, stride=2, padding=1, seed=5), (1, 3, 4, 5)),
    (ConvTranspose2d(2, 4, 3, stride=3, output_padding=2, groups=2, dilation=2, seed=6), (1, 2, 3, 3)),
    (Linear(10, 4, seed=7), (2, 10)),
    (ReLU(), (1, 2, 3, 3)),
    (Softmax(1), (2, 5)),
    (BatchNorm2d(2), (1, 2, 3, 3)),
    (AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False), (1, 2, 6, 6)),
    (AvgPool2d(2), (1, 1, 5, 4)),
]


@pytest.mark.parametrize("layer, shape", EXPLAINED, ids=[f"{l.kind}-{i}" for i, (l, _) in enumerate(EXPLAINED)])
def test_explain_reproduces_every_output_element(layer, shape):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    output = layer(x)
    for index in np.ndindex(*output.shape):
        explanation = layer.explain(x, index)
        assert explanation.output == pytest.approx(float(output[index]), rel=1e-4, abs=1e-5)
        if explanation.products is not None:
            np.testing.assert_allclose(explanation.products, explanation.window * explanation.weights)
            assert explanation.total == pytest.approx(explanation.sum + explanation.bias)
            assert explanation.total == pytest.approx(float(output[index]), rel=1e-4, abs=1e-5)
        if layer.kind == "AvgPool2d":
            assert explanation.sum / explanation.extra["divisor"] == pytest.approx(float(output[index]), rel=1e-5)


def test_max_pool_explain_names_the_winner_at_a_tie_and_in_padding():
    x = np.array([[[[1, 5, 5], [2, 0, 5], [-1, -2, -3]]]], dtype=np.float32)
    layer = MaxPool2d(2, stride=1, padding=1)
    output = layer(x)
    for index in np.ndindex(*output.shape):
        explanation = layer.explain(x, index)
        assert explanation.window.reshape(-1)[explanation.winner] == output[index]
        _, row, col = explanation.coordinates[explanation.winner]
        assert 0 <= row < 3 and 0 <= col < 3  # padding never wins
    # ties: the first maximum in scan order wins, as in PyTorch
    first = layer.explain(x, (0, 0, 1, 2))
    assert first.coordinates[first.winner] == (0, 0, 1)


@pytest.mark.parametrize("layer, padding_note", [
    (MaxPool2d(2, stride=1, padding=1), "cells outside the input (the padding) never win"),
    (AvgPool2d(2, stride=1, padding=1), "cells outside the input (the padding) add nothing to the sum; "
                                        "the divisor counts those of the padding (count_include_pad)"),
    (AvgPool2d(2, stride=1, padding=1, count_include_pad=False),
     "cells outside the input (the padding) add nothing to the sum; the divisor counts only the input's "
     "(count_include_pad is off)"),
])
def test_pool_explain_speaks_of_padding_only_for_a_window_that_reads_it(layer, padding_note):
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    assert layer.explain(x, (0, 0, 0, 0)).note == padding_note  # the corner window reads the padding
    assert layer.explain(x, (0, 0, 1, 1)).note == ""  # the window inside the input: nothing to say of padding


def test_avg_pool_explain_says_ceil_modes_last_window_counts_no_cell_beyond_the_padding():
    """3x3 windows, stride 2, padding 1 and ceil_mode on 32x32: the last window starts at row 31 and would end at
    33, past the padded input (rows -1 to 32); PyTorch divides by the 2 x 2 cells up to the padding's end."""
    layer = AvgPool2d(3, 2, padding=1, ceil_mode=True)
    x = np.random.default_rng(0).standard_normal((1, 1, 32, 32)).astype(np.float32)
    explanation = layer.explain(x, (0, 0, 16, 16))
    assert explanation.extra["divisor"] == 4
    assert explanation.total == pytest.approx(float(x[0, 0, 31, 31]) / 4, rel=1e-6)
    expected = torch.nn.AvgPool2d(3, 2, padding=1, ceil_mode=True)(torch.from_numpy(x))[0, 0, 16, 16].item()
    assert explanation.output == pytest.approx(expected, rel=1e-6)
    assert explanation.note == ("cells outside the input (the padding) add nothing to the sum; the divisor, 4, counts "
                                "those of the padding (count_include_pad) but not those beyond it, which only "
                                "ceil_mode's last window reaches")


@pytest.mark.parametrize("padding", [0, 1])
def test_avg_pool_explain_sums_a_nan_of_the_input_as_forward_does(padding):
    """Padding cells are NaN in the window; a NaN of the input is not padding and makes the sum NaN, as the output."""
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x[0, 0, 0, 0] = np.nan
    explanation = AvgPool2d(2, padding=padding).explain(x, (0, 0, 0, 0))
    assert np.isnan(explanation.output)
    assert np.isnan(explanation.sum) and np.isnan(explanation.total)
    clean = AvgPool2d(2, padding=padding).explain(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4), (0, 0, 0, 0))
    assert clean.sum == (10.0 if padding == 0 else 0.0)  # padding cells still add nothing


def test_conv_explain_marks_padding_coordinates():
    layer = Conv2d(1, 1, 3, padding=1)
    explanation = layer.explain(np.ones((1, 1, 4, 4), np.float32), (0, 0, 0, 0))
    rows = [row for _, row, _ in explanation.coordinates]
    assert -1 in rows and explanation.window[0, 0, 0] == 0.0


def test_transposed_conv_explains_a_cell_that_no_tap_reaches_as_its_bias():
    layer = ConvTranspose2d(1, 1, 2, stride=3)  # taps land on rows and columns 3i and 3i + 1
    explanation = layer.explain(np.ones((1, 1, 4, 4), np.float32), (0, 0, 2, 2))
    assert explanation.coordinates == [] and explanation.products.size == 0
    assert explanation.output == explanation.total == explanation.bias
    assert explanation.output == pytest.approx(float(layer.forward(np.ones((1, 1, 4, 4), np.float32))[0, 0, 2, 2]))


def test_a_recurrent_explanation_counts_its_window_in_words():
    assert "(1 value) followed by h[n, t-1, :] (3 values)" in RNN(1, 3).explain(
        np.ones((1, 2, 1), np.float32), (0, 1, 0)).note


def test_catalogue_describes_every_kind_with_valid_defaults():
    entries = catalogue()
    assert [e["kind"] for e in entries] == list(LAYER_TYPES)
    required = {"Conv2d", "MaxPool2d", "Linear", "ReLU", "RNN", "ConvTranspose2d"}
    assert required <= set(LAYER_TYPES)
    for entry, cls in zip(entries, LAYER_TYPES.values()):
        assert entry["summary"] and entry["formula"] and entry["shape_rule"]
        assert entry["explains"] == (cls.explain is not Layer.explain)
        for param in cls.params:
            assert param.validate(param.default, entry["kind"]) == param.default or param.optional
            if param.minimum is not None and param.type in ("int", "float", "pair"):
                with pytest.raises(ValueError, match=param.name):
                    param.validate(param.minimum - 1, entry["kind"])


def test_the_catalogue_says_which_kinds_cannot_explain_and_they_refuse():
    entries = {entry["kind"]: entry for entry in catalogue()}
    assert {kind for kind, entry in entries.items() if not entry["explains"]} == {"Flatten", "Upsample"}
    for layer in (Flatten(), Upsample(scale_factor=2)):
        with pytest.raises(NotImplementedError, match="does not explain"):
            layer.explain(np.ones((1, 1, 2, 2), np.float32), (0, 0))


def test_hyperparameters_rebuild_an_equal_layer():
    layer = Conv2d(2, 4, (3, 5), stride=(1, 2), padding=1, groups=2, bias=False)
    again = Conv2d(**layer.hyperparameters())
    assert again.hyperparameters() == layer.hyperparameters()
    assert again.hyperparameters()["bias"] is False and "bias" not in again.state_dict()


def test_load_state_dict_rejects_wrong_shapes_and_names():
    layer = Linear(4, 3)
    with pytest.raises(ValueError, match=r"weight has shape \(3, 5\), expected \(3, 4\)"):
        layer.load_state_dict({"weight": np.zeros((3, 5)), "bias": np.zeros(3)})
    with pytest.raises(ValueError, match="missing keys \\['bias'\\]"):
        layer.load_state_dict({"weight": np.zeros((3, 4))})


def test_layers_check_their_input_channels():
    with pytest.raises(ValueError, match="in_channels"):
        Conv2d(3, 4, 3).output_shape((1, 2, 8, 8))
    with pytest.raises(ValueError, match="in_features"):
        Linear(8, 2).output_shape((1, 9))
    with pytest.raises(ValueError, match="groups=3 must divide"):
        Conv2d(4, 6, 3, groups=3)


@pytest.mark.parametrize("build, words", [
    (lambda: Conv2d(2, 2, 3, groups=0), "groups must be a positive integer, got 0"),
    (lambda: ConvTranspose2d(2, 2, 3, groups=0), "groups must be a positive integer, got 0"),
    (lambda: Conv2d(0, 2, 3), "in_channels must be a positive integer, got 0"),
    (lambda: Linear(3.0, 2), "in_features must be a positive integer, got 3.0"),
    (lambda: Dropout(2), "p must be a number between 0 and 1, got 2"),
    (lambda: Upsample(scale_factor=0), "scale_factor must be a positive number or a pair of them, got 0"),
    (lambda: Upsample(scale_factor=2, mode="cubic"), "mode must be one of nearest, bilinear, got 'cubic'"),
    (lambda: Upsample(scale_factor=0.1).output_shape((1, 1, 5, 5)), r"output size \(0, 0\) would be empty"),
    (lambda: Softmax("a"), "dim must be an int"),
    (lambda: LeakyReLU("a"), "negative_slope must be a number"),
    (lambda: Flatten(1, 3).output_shape((1, 2, 3)), "end_dim 3 is out of range for an input with 3 dimensions"),
    (lambda: Flatten(3).output_shape((1, 5)), "start_dim 3 is out of range for an input with 2 dimensions"),
])
def test_bad_hyperparameters_raise_value_error_naming_them(build, words):
    with pytest.raises(ValueError, match=words):
        build()


def test_upsample_by_a_fraction_has_the_shape_its_output_has():
    layer, torch_layer = Upsample(scale_factor=1.5), torch.nn.Upsample(scale_factor=1.5)
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 7)).astype(np.float32)
    assert layer.output_shape(x.shape) == layer(x).shape == tuple(torch_layer(torch.from_numpy(x)).shape)


@pytest.mark.parametrize("layer, shape", [(Conv2d(1, 1, 3), (1, 1, 5, 5)), (Linear(4, 2), (2, 4)),
                                          (MaxPool2d(2), (1, 1, 4, 4)), (ReLU(), (1, 3)), (Softmax(1), (1, 3))])
@pytest.mark.parametrize("index", [(0, 0, 7, 7), (0, 5), (0,), (0, 0, -1, 0), (0, 0.5)])
def test_explain_rejects_an_index_outside_the_output(layer, shape, index):
    with pytest.raises(ValueError, match=r"output index .* is not inside the output of shape"):
        layer.explain(np.ones(shape, np.float32), index)


def test_max_pool_explain_of_a_window_wholly_in_the_padding():
    """A dilated window can miss the input entirely; PyTorch gives -inf there, and nothing wins."""
    layer = MaxPool2d((1, 2), 1, (0, 1), (1, 2))
    x = np.arange(1, 4, dtype=np.float32).reshape(1, 1, 3, 1)
    expected = torch.nn.MaxPool2d((1, 2), 1, (0, 1), (1, 2))(torch.from_numpy(x)).numpy()
    explanation = layer.explain(x, (0, 0, 0, 0))
    assert explanation.output == expected[0, 0, 0, 0] == -np.inf
    assert explanation.winner is None and np.isnan(explanation.window).all()


@pytest.mark.parametrize("kind", sorted(LAYER_TYPES))
def test_parameter_count_from_hyperparameters_equals_the_built_layer(kind):
    cls = LAYER_TYPES[kind]
    values = {p.name: p.default for p in cls.params}
    values.update({k: 6 for k in ("in_channels", "out_channels", "in_features", "input_size", "num_features")
                   if k in values})
    if "groups" in values:
        values["groups"] = 2
    if "kernel_size" in values:
        values["kernel_size"] = (3, 2)
    layer = cls(**values)
    assert cls.parameter_count(layer.hyperparameters()) == sum(int(v.size) for v in layer.state_dict().values())
