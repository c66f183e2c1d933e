"""Layers take torch.nn's constructor arguments, in torch's order, and behave as torch does with them.

Code written for PyTorch (`nn.MaxPool2d(3, 2, 1, 1, True, True)`, `nn.RNN(64, 128, batch_first=True)`,
`nn.Upsample(size=(7, 9))`, `nn.ReLU(inplace=True)`) builds the same layer here; the few values the engine
does not have are refused by name, and the arguments a spec has no field for are refused by the spec.
"""

import inspect
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.functional.pool import avg_pool2d
from engine.grad.pool import avg_pool2d_backward
from engine.layers import (GRU, LAYER_TYPES, LSTM, RNN, AvgPool2d, BatchNorm2d, Conv2d, ConvTranspose2d, Dropout,
                           LeakyReLU, MaxPool2d, ReLU, Unflatten, Upsample)
from engine.network import Sequential
from engine.spec import spec_from_network

RTOL, ATOL = 1e-4, 1e-5
# Arguments about where a torch module lives, not what it computes.
PLACEMENT = {"self", "device", "dtype"}
# torch.nn.RNN, LSTM and GRU take *args; their order, from torch.nn.RNNBase (RNN puts nonlinearity 4th).
RECURRENT_ORDER = {
    "RNN": ["input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first", "dropout",
            "bidirectional"],
    "LSTM": ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
             "proj_size"],
    "GRU": ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional"],
}


def _names(function, kind) -> list[str]:
    return [p.name for p in inspect.signature(function).parameters.values()
            if p.kind == kind and p.name not in PLACEMENT]


# Unflatten here is the spec's (channels, height, width), not torch's (dim, unflattened_size): not compared.
@pytest.mark.parametrize("kind", sorted(set(LAYER_TYPES) & set(dir(torch.nn)) - {"Unflatten"}))
def test_positional_and_keyword_arguments_are_torchs(kind):
    ours, theirs = LAYER_TYPES[kind].__init__, getattr(torch.nn, kind).__init__
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    expected = RECURRENT_ORDER.get(kind, _names(theirs, positional))
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in inspect.signature(theirs).parameters.values()) \
            and kind not in RECURRENT_ORDER:
        expected = []  # Sigmoid and Tanh take (and ignore) anything
    assert _names(ours, positional) == expected
    keyword_only = inspect.Parameter.KEYWORD_ONLY
    assert set(_names(theirs, keyword_only)) <= set(_names(ours, keyword_only))


def _compare(ours, reference, x, **load):
    """Load torch's state into ours and compare the outputs (tuples element by element)."""
    state = {k: v.detach().numpy().astype(np.float32) for k, v in reference.state_dict().items()}
    assert sorted(ours.state_dict()) == sorted(state)
    ours.load_state_dict(state)
    got, expected = ours(x), reference(torch.from_numpy(x))
    pairs = zip(got, expected) if isinstance(got, tuple) else [(got, expected)]
    for a, b in pairs:
        for a_part, b_part in zip(a, b) if isinstance(a, tuple) else [(a, b)]:  # LSTM's (h_n, c_n): both
            assert a_part.shape == tuple(b_part.shape)
            np.testing.assert_allclose(np.asarray(a_part), b_part.detach().numpy(), rtol=RTOL, atol=ATOL)
    return got


def _input(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("args, kwargs, padding", [
    ((3, 4, 3, 1, "same"), {}, [1, 1]),
    ((3, 4, (3, 5)), {"padding": "same", "dilation": (1, 2)}, [1, 4]),
    ((3, 4, 3), {"padding": "valid", "padding_mode": "zeros"}, [0, 0]),
])
def test_conv2d_padding_words(args, kwargs, padding):
    ours = Conv2d(*args, **kwargs)
    got = _compare(ours, torch.nn.Conv2d(*args, **kwargs), _input(2, 3, 9, 8))
    assert got.shape == tuple(ours.output_shape((2, 3, 9, 8)))
    assert ours.hyperparameters()["padding"] == padding  # the spec holds the numbers


def test_conv_refuses_what_it_cannot_pad():
    with pytest.raises(ValueError, match=r"padding='same' with kernel_size \(4, 4\) .* pads \(1, 1\) before and "
                                         r"\(2, 2\) after"):
        Conv2d(1, 1, 4, padding="same")
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding must be 'valid', 'same'"):
        Conv2d(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match="padding_mode must be one of zeros, reflect, replicate, circular, got 'edge'"):
        Conv2d(1, 1, 3, padding_mode="edge")
    with pytest.raises(ValueError, match=r"padding_mode must be one of .*, got \['zeros'\]"):
        Conv2d(1, 1, 3, padding_mode=["zeros"])  # not hashable: was a TypeError
    with pytest.raises(ValueError, match="padding_mode must be 'zeros'.*got 'reflect'"):
        ConvTranspose2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="reflect padding must be less than the input's size on its axis: 3 and 3 "
                                         "on an axis of 3"):
        Conv2d(1, 1, 7, padding=3, padding_mode="reflect").output_shape((1, 1, 3, 8))
    with pytest.raises(ValueError, match="circular padding must be at most the input's size"):
        Conv2d(1, 1, 5, padding=(1, 3), padding_mode="circular").output_shape((1, 1, 4, 2))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("args, kwargs, shape", [
    ((3, 4, 3), {"padding": 1}, (2, 3, 6, 7)),
    ((2, 4, (3, 5)), {"stride": (2, 1), "padding": (2, 3), "dilation": (1, 2), "groups": 2}, (1, 2, 7, 9)),
    ((1, 2, 3), {"padding": "same", "bias": False}, (1, 1, 4, 5)),
])
def test_conv2d_padding_modes_forward_backward_and_explain(mode, args, kwargs, shape):
    torch.manual_seed(0)
    reference = torch.nn.Conv2d(*args, **kwargs, padding_mode=mode)
    layer = Conv2d(*args, **kwargs, padding_mode=mode)
    x = _input(*shape)
    got = _compare(layer, reference, x)
    assert got.shape == tuple(layer.output_shape(shape))
    x_torch = torch.from_numpy(x).requires_grad_()
    expected = reference(x_torch)
    grad_output = _input(*expected.shape, seed=4)
    expected.backward(torch.from_numpy(grad_output))
    output, saved = layer.forward_saved(x)
    grad_x, grads = layer.backward(grad_output, saved)
    np.testing.assert_allclose(grad_x, x_torch.grad.numpy(), rtol=RTOL, atol=1e-4)
    np.testing.assert_allclose(grads["weight"], reference.weight.grad.numpy(), rtol=RTOL, atol=1e-4)
    _, weight_only = layer.backward(grad_output, saved, need_input_grad=False)  # a first layer's backward
    np.testing.assert_allclose(weight_only["weight"], grads["weight"])
    # Every output cell's explanation reads the padded values the forward pass read.
    for index in np.ndindex(*got.shape):
        explanation = layer.explain(x, index)
        assert explanation.output == pytest.approx(float(got[index]), rel=1e-4, abs=1e-5)
    corner = layer.explain(x, (0, 0, 0, 0))
    if layer.padding != (0, 0):
        assert "coordinates outside the input read" in corner.note and mode in corner.note
    assert layer.hyperparameters()["padding_mode"] == mode


def test_max_pool_returns_indices_in_torchs_position():
    args = (3, 2, 1, 1, True, True)  # kernel, stride, padding, dilation, return_indices, ceil_mode
    x = _input(2, 3, 8, 7)
    output, indices = MaxPool2d(*args)(x)
    expected, expected_indices = torch.nn.MaxPool2d(*args)(torch.from_numpy(x))
    np.testing.assert_array_equal(output, expected.numpy())
    np.testing.assert_array_equal(indices, expected_indices.numpy())
    with pytest.raises(ValueError, match="return_indices=True gives a pair"):
        MaxPool2d(2, return_indices=True).forward_saved(x)


@pytest.mark.parametrize("args, shape", [
    ((3, 2, 1, True, False, 5), (2, 3, 8, 7)),  # kernel, stride, padding, ceil_mode, count_include_pad, divisor
    ((2, None, 0, False, True, 1), (1, 2, 6, 6)),
    (((3, 2), (1, 2), (1, 0), False, True, 7), (1, 1, 5, 6)),
])
def test_avg_pool_divisor_override_forward_backward_and_explain(args, shape):
    x = _input(*shape)
    layer, reference = AvgPool2d(*args), torch.nn.AvgPool2d(*args)
    x_torch = torch.from_numpy(x).requires_grad_()
    expected = reference(x_torch)
    np.testing.assert_allclose(layer(x), expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(avg_pool2d(x, *args), expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    grad_output = _input(*expected.shape, seed=1)
    expected.backward(torch.from_numpy(grad_output))
    output, saved = layer.forward_saved(x)
    grad_x, _ = layer.backward(grad_output, saved)
    np.testing.assert_allclose(grad_x, x_torch.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(avg_pool2d_backward(grad_output, shape, *args), x_torch.grad.numpy(),
                               rtol=RTOL, atol=ATOL)
    explanation = layer.explain(x, (0, 0, 1, 1))
    assert explanation.extra["divisor"] == args[5]
    assert explanation.output == pytest.approx(float(output[0, 0, 1, 1]), rel=1e-5)
    assert explanation.total == pytest.approx(explanation.output, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_avg_pool_refuses_a_bad_divisor(bad):
    with pytest.raises(ValueError, match="divisor_override must be None or a positive integer"):
        AvgPool2d(2, divisor_override=bad)
    with pytest.raises(ValueError, match="divisor_override must be None or a positive integer"):
        avg_pool2d(_input(1, 1, 4, 4), 2, divisor_override=bad)


def test_batch_norm_without_running_statistics_uses_the_batchs():
    x = _input(4, 3, 5, 6) * 3 + 1
    reference = torch.nn.BatchNorm2d(3, 1e-3, 0.1, True, False).eval()  # eval still uses the batch here
    with torch.no_grad():
        reference.weight.uniform_(0.5, 1.5)
        reference.bias.uniform_(-1, 1)
    layer = BatchNorm2d(3, 1e-3, 0.1, True, False)
    got = _compare(layer, reference, x)
    explanation = layer.explain(x, (1, 2, 3, 4))
    assert explanation.output == pytest.approx(float(got[1, 2, 3, 4]), rel=1e-4, abs=1e-5)
    assert explanation.extra["mean"] == pytest.approx(float(x[:, 2].astype(np.float64).mean()), rel=1e-6)
    # Training changes no statistics (there are none) and its backward is the batch-statistics one.
    x_torch = torch.from_numpy(x).requires_grad_()
    expected = reference.train()(x_torch)
    grad_output = _input(*x.shape, seed=2)
    expected.backward(torch.from_numpy(grad_output))
    output, saved = layer.forward_saved(x, training=False)
    grad_x, grads = layer.backward(grad_output, saved)
    np.testing.assert_allclose(output, expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(grad_x, x_torch.grad.numpy(), rtol=RTOL, atol=1e-4)
    np.testing.assert_allclose(grads["weight"], reference.weight.grad.numpy(), rtol=RTOL, atol=1e-4)


def test_batch_norm_without_a_shift():
    try:
        reference = torch.nn.BatchNorm2d(2, bias=False).eval()
    except TypeError:  # the argument is newer than torch 2.11 (the GPU machines' build); 2.13 has it
        pytest.skip(f"torch {torch.__version__}'s BatchNorm2d has no bias argument, so no reference")
    with torch.no_grad():
        reference.running_mean.uniform_(-1, 1)
        reference.weight.uniform_(0.5, 1.5)
    layer = BatchNorm2d(2, bias=False)
    _compare(layer, reference, _input(2, 2, 3, 3))
    x = _input(3, 2, 3, 3)
    x_torch = torch.from_numpy(x).requires_grad_()
    reference.train()(x_torch).sum().backward()
    output, saved = layer.forward_saved(x)
    _, grads = layer.backward(np.ones_like(output), saved)
    assert sorted(grads) == ["weight"]
    np.testing.assert_allclose(grads["weight"], reference.weight.grad.numpy(), rtol=RTOL, atol=1e-4)


@pytest.mark.parametrize("args, kwargs", [
    ((5,), {}),  # a positional argument is the size, as in torch
    (((7, 9),), {"mode": "bilinear", "align_corners": True}),
    ((), {"size": (6, 10), "mode": "bilinear"}),
    ((None, 2.5), {}),
    ((None, 1.7, "bilinear", False, True), {}),  # recompute_scale_factor: the scale from the output size
])
def test_upsample_to_a_size_or_by_a_factor(args, kwargs):
    x = _input(1, 2, 3, 5)
    layer = Upsample(*args, **kwargs)
    got = _compare(layer, torch.nn.Upsample(*args, **kwargs), x)
    assert got.shape == tuple(layer.output_shape(x.shape))


@pytest.mark.parametrize("kwargs", [
    {"size": (6, 15), "mode": "bilinear"}, {"size": (7, 9)}, {"size": 2, "mode": "bilinear", "align_corners": True},
    {"scale_factor": 1.5}, {"scale_factor": (2, 0.75), "mode": "bilinear"},
    {"scale_factor": 2.5, "mode": "bilinear", "recompute_scale_factor": True},
])
def test_upsample_backward_for_any_size_or_factor(kwargs):
    x = _input(1, 2, 3, 5)
    layer = Upsample(**kwargs)
    x_torch = torch.from_numpy(x).requires_grad_()
    expected = torch.nn.Upsample(**kwargs)(x_torch)
    grad_output = _input(*expected.shape, seed=3)
    expected.backward(torch.from_numpy(grad_output))
    output, saved = layer.forward_saved(x)
    np.testing.assert_allclose(output, expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(layer.backward(grad_output, saved)[0], x_torch.grad.numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one of size or scale_factor must be given"),
    ({"size": 4, "scale_factor": 2}, "exactly one of size or scale_factor must be given"),
    ({"size": 0}, "size must be >= 1"),
    ({"scale_factor": 2, "mode": "bilinear", "align_corners": "yes"}, "align_corners must be True, False or None"),
    ({"scale_factor": 2, "align_corners": "yes"}, "align_corners must be True, False or None"),
    ({"size": 6, "recompute_scale_factor": True}, "recompute_scale_factor is not meaningful with an explicit size"),
])
def test_upsample_refusals(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Upsample(**kwargs)


@pytest.mark.filterwarnings("ignore:dropout option adds dropout")
@pytest.mark.parametrize("kind, args", [
    ("RNN", (4, 6, 1, "relu", True, True)),
    ("RNN", (4, 6, 1, "tanh", False, True, 0.3, False)),
    ("LSTM", (4, 6, 1, True, True, 0.0, False, 0)),
    ("GRU", (4, 6, 1, True, True)),
])
def test_recurrent_layers_take_torchs_positional_arguments(kind, args):
    torch.manual_seed(0)
    reference = getattr(torch.nn, kind)(*args)
    layer = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}[kind](*args)
    _compare(layer, reference, _input(2, 5, 4))


@pytest.mark.parametrize("make, message", [
    (lambda: RNN(4, 6, 2), "num_layers must be 1"),
    (lambda: LSTM(4, 6, batch_first=False), r"batch_first must be True \(inputs are \(N, T, F\)"),
    (lambda: GRU(4, 6, bidirectional=True), "bidirectional must be False"),
    (lambda: LSTM(4, 6, proj_size=3), "proj_size must be 0"),
    (lambda: RNN(4, 6, dropout=1.5), "dropout must be a number between 0 and 1"),
    (lambda: ReLU(inplace="yes"), "inplace must be True or False"),
    (lambda: BatchNorm2d(3, track_running_stats=1), "track_running_stats must be True or False"),
    (lambda: MaxPool2d(2, return_indices=1), "return_indices must be True or False"),
])
def test_values_the_engine_does_not_have_are_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("layer", [ReLU(True), LeakyReLU(0.1, True), Dropout(0.2, True)])
def test_inplace_gives_the_same_values_and_keeps_the_input(layer):
    x = _input(2, 3, 4)
    kept = x.copy()
    reference = type(layer).__name__
    expected = getattr(torch.nn, reference)(*([0.1] if reference == "LeakyReLU" else [0.2] if reference == "Dropout"
                                              else []), inplace=True).eval()(torch.from_numpy(x.copy()))
    np.testing.assert_allclose(layer(x), expected.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(x, kept)


@pytest.mark.parametrize("layer, setting", [
    (Upsample(size=(4, 4)), "size=(4, 4)"),
    (MaxPool2d(2, return_indices=True), "return_indices=True"),
    (AvgPool2d(2, divisor_override=3), "divisor_override=3"),
    (BatchNorm2d(2, track_running_stats=False), "track_running_stats=False"),
    (BatchNorm2d(2, bias=False), "bias=False"),
])
def test_settings_a_spec_cannot_hold_are_refused_when_writing_one(layer, setting):
    assert setting in repr(layer)
    with pytest.raises(ValueError, match=re.escape(f"{layer.kind} with {setting} has no spec form: a spec sets only")):
        layer.hyperparameters()
    network = Sequential([("layer", layer)], name="torch-only")
    with pytest.raises(ValueError, match="has no spec form"):
        spec_from_network(network)


def test_upsample_checks_its_sizes_against_the_input_it_gets():
    """A factor is judged by the input it meets (PyTorch builds Upsample(scale_factor=1e-7) too)."""
    assert Upsample(scale_factor=1e-7).output_shape((1, 1, 10**8, 10**8)) == (1, 1, 10, 10)
    with pytest.raises(ValueError, match=r"output size \(0, 0\) would be empty"):
        Upsample(scale_factor=1e-7).output_shape((1, 1, 5, 5))
    with pytest.raises(ValueError, match="output size would be unbounded"):
        Upsample(scale_factor=1e308).output_shape((1, 1, 5, 5))


def test_a_spec_with_align_corners_ticked_in_nearest_mode_still_loads():
    """The catalogue shows the box for every mode: links and specs saved with it ticked keep working."""
    from engine.spec import network_from_spec

    network = network_from_spec({"input_shape": [1, 4, 4], "layers": [
        {"kind": "Upsample", "params": {"scale_factor": 2, "mode": "nearest", "align_corners": True}}]})
    x = _input(1, 1, 4, 4)
    np.testing.assert_array_equal(network.forward(x), x.repeat(2, axis=2).repeat(2, axis=3))


def test_interpolate_refuses_align_corners_with_nearest_as_torch_does():
    """The function is torch's; the layer ignores the box with nearest (the test above), and says so."""
    from engine.functional.reshape import interpolate

    x = _input(1, 1, 4, 4)
    for align_corners in (True, False):
        with pytest.raises(ValueError, match="align_corners"):
            torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=2, align_corners=align_corners)
        with pytest.raises(ValueError, match=r"align_corners can only be set with mode 'bilinear', got "
                                             rf"align_corners={align_corners} with mode 'nearest'"):
            interpolate(x, scale_factor=2, mode="nearest", align_corners=align_corners)
    help_text = next(p.help for p in Upsample.params if p.name == "align_corners")
    assert "ignored with nearest" in help_text


def test_conv_transpose_output_padding_below_stride_or_dilation_as_torch():
    """output_padding must be less than stride or dilation: 1 with stride 1 and dilation 2 is allowed."""
    x = _input(1, 2, 4, 5)
    layer = ConvTranspose2d(2, 3, 3, stride=1, output_padding=1, dilation=2)
    torch.manual_seed(0)
    got = _compare(layer, torch.nn.ConvTranspose2d(2, 3, 3, stride=1, output_padding=1, dilation=2), x)
    assert got.shape == tuple(layer.output_shape(x.shape)) == (1, 3, 9, 10)
    with pytest.raises(ValueError, match="output_padding 2 must be smaller than stride 1 or dilation 2"):
        ConvTranspose2d(2, 3, 3, output_padding=2, dilation=2).output_shape(x.shape)
    help_text = next(p.help for p in ConvTranspose2d.params if p.name == "output_padding")
    assert "less than stride or dilation" in help_text


@pytest.mark.parametrize("args, message", [
    ((1, (16, 7, 7)), r"height is \(16, 7, 7\); torch's Unflatten\(1, \(16, 7, 7\)\) is Unflatten\(16, 7, 7\) here"),
    ((-1, [4, 4]), r"channels is -1$"),
    ((0, 4, 4), r"channels is 0$"),
    ((2, 3.0, 4), r"height is 3.0$"),
    ((2, 3, True), r"width is True$"),
    ((2, 3, "4"), r"width is '4'$"),
])
def test_unflatten_refuses_torchs_arguments_by_name(args, message):
    with pytest.raises(ValueError, match=r"^Unflatten takes channels, height, width, each a positive int \(unlike "
                                         r"torch.nn.Unflatten\(dim, unflattened_size\)\): " + message):
        Unflatten(*args)


def test_unflatten_takes_any_ints():
    layer = Unflatten(np.int64(16), 7, 7)
    assert (layer.channels, layer.height, layer.width) == (16, 7, 7) and type(layer.channels) is int
    assert layer(_input(2, 784)).shape == (2, 16, 7, 7)


def test_settings_with_a_spec_form_round_trip():
    assert Conv2d(3, 4, 5, padding="same").hyperparameters()["padding"] == [2, 2]
    assert Upsample(scale_factor=3).hyperparameters() == {"scale_factor": 3, "mode": "nearest", "align_corners": False}


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_states_have_torchs_shapes_and_carry_over(kind):
    """`output, h = layer(x, h)` twice, as torch code feeds a sequence in chunks, with h (1, N, H)."""
    torch.manual_seed(0)
    reference = getattr(torch.nn, kind)(3, 5, batch_first=True)
    layer = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}[kind](3, 5)
    layer.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    h0 = _input(1, 2, 5, seed=5)
    state, torch_state = (h0, torch.from_numpy(h0))
    if kind == "LSTM":
        c0 = _input(1, 2, 5, seed=6)
        state, torch_state = (h0, c0), (torch.from_numpy(h0), torch.from_numpy(c0))
    for chunk in (_input(2, 4, 3, seed=7), _input(2, 2, 3, seed=8)):
        output, state = layer(chunk, state)
        expected, torch_state = reference(torch.from_numpy(chunk), torch_state)
        np.testing.assert_allclose(output, expected.detach().numpy(), rtol=RTOL, atol=ATOL)
        for ours, theirs in zip(state if kind == "LSTM" else [state], torch_state if kind == "LSTM" else [torch_state]):
            assert ours.shape == (1, 2, 5)
            np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=RTOL, atol=ATOL)
    # (N, H) states are taken too; any other leading axis is refused by name
    squeezed = layer(chunk, (h0[0], c0[0]) if kind == "LSTM" else h0[0])[0]
    with_axis = layer(chunk, (h0, c0) if kind == "LSTM" else h0)[0]
    np.testing.assert_array_equal(squeezed, with_axis)
    with pytest.raises(ValueError, match=r"h0 must have shape \(1, N, H\) \(one layer\) or \(N, H\), got \(2, 2, 5\)"):
        layer(chunk, (np.concatenate([h0, h0]), c0) if kind == "LSTM" else np.concatenate([h0, h0]))


def test_batch_norm_momentum_none_is_the_cumulative_average():
    layer, reference = BatchNorm2d(2, momentum=None), torch.nn.BatchNorm2d(2, momentum=None)
    for k in range(3):
        x = _input(4, 2, 3, 3, seed=k) * (k + 1) + k
        layer.forward_saved(x, training=True)
        reference(torch.from_numpy(x))
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(layer, name), getattr(reference, name).numpy(), rtol=1e-5)
    assert float(layer.num_batches_tracked) == 3


@pytest.mark.parametrize("args, message", [
    ((2.5,), "num_features must be a positive integer"), ((0,), "num_features must be a positive integer"),
    ((2, -1e-5), "eps must be a finite number >= 0"), ((2, 1e-5, "0.1"), "momentum must be a finite number or None"),
])
def test_batch_norm_checks_its_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        BatchNorm2d(*args)


@pytest.mark.filterwarnings("ignore:Implicit dimension choice for softmax")
@pytest.mark.parametrize("shape", [(5,), (2, 5), (3, 3, 4), (2, 3, 4, 5)])
def test_softmax_without_a_dim_takes_torchs_implicit_axis(shape):
    from engine.functional import log_softmax, softmax
    from engine.layers import Softmax

    x = _input(*shape)
    expected = torch.nn.Softmax()(torch.from_numpy(x)).numpy()
    if len(shape) >= 2:
        np.testing.assert_allclose(Softmax()(x), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(softmax(x), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(log_softmax(x), np.log(expected), rtol=RTOL, atol=1e-5)


@pytest.mark.parametrize("layer, field", [
    (LeakyReLU(-0.2), "negative_slope"), (Upsample(scale_factor=1.5), "scale_factor"),
    (Upsample(scale_factor=(2, 3)), "scale_factor"), (BatchNorm2d(2, momentum=None), "momentum"),
])
def test_values_outside_the_specs_ranges_are_refused_when_writing_one(layer, field):
    with pytest.raises(ValueError, match=f"{layer.kind} with {field}=.* has no spec form"):
        spec_from_network(Sequential([("layer", layer)]))


def test_torch_spellings_the_spec_can_hold_are_written_as_the_spec_writes_them():
    from engine.layers import Softmax

    assert Upsample(scale_factor=2.0).hyperparameters()["scale_factor"] == 2
    assert Upsample(scale_factor=(3.0, 3)).hyperparameters()["scale_factor"] == 3
    with pytest.raises(ValueError, match=r"Softmax with dim=None has no spec form"):
        Softmax().hyperparameters()


def test_functional_flags_are_checked():
    from engine.functional import leaky_relu, relu

    x = _input(2, 3)
    np.testing.assert_array_equal(relu(x, inplace=True), np.maximum(x, 0))
    np.testing.assert_array_equal(leaky_relu(x, 0.1, True), torch.nn.functional.leaky_relu(torch.from_numpy(x), 0.1))
    with pytest.raises(ValueError, match="inplace must be True or False"):
        relu(x, inplace=1)
    with pytest.raises(ValueError, match="count_include_pad must be True or False, got 0"):
        avg_pool2d(_input(1, 1, 4, 4), 2, count_include_pad=0)
