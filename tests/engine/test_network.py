"""Sequential.run streams one record per layer; specs round-trip; bad specs name the layer and field."""

import numpy as np
import pytest

from engine.layers import LAYER_TYPES, Conv2d, Linear, ReLU
from engine.network import Sequential
from engine.spec import network_from_spec, spec_from_network
from engine.stats import summarize

SPEC = {
    "name": "small",
    "input_shape": [1, 12, 12],
    "layers": [
        {"kind": "Conv2d", "name": "conv1", "params": {"out_channels": 4, "kernel_size": 3, "padding": 1}},
        {"kind": "ReLU", "name": "relu1"},
        {"kind": "MaxPool2d", "name": "pool1", "params": {"kernel_size": 2}},
        {"kind": "BatchNorm2d", "name": "bn"},
        {"kind": "ConvTranspose2d", "name": "deconv", "params": {"out_channels": 2, "kernel_size": 2, "stride": 2}},
        {"kind": "Flatten", "name": "flat"},
        {"kind": "Linear", "name": "fc", "params": {"out_features": 10}},
        {"kind": "Softmax", "name": "probs"},
    ],
}


def test_run_yields_one_record_per_layer_with_shapes_and_stats():
    network = network_from_spec(SPEC)
    x = np.random.default_rng(0).standard_normal((2, 1, 12, 12)).astype(np.float32)
    records = list(network.run(x))
    assert [r.name for r in records] == [layer["name"] for layer in SPEC["layers"]]
    assert [r.output_shape for r in records] == network.output_shapes(x.shape)
    assert records[0].input_shape == (2, 1, 12, 12)
    assert records[-1].output_shape == (2, 10)
    np.testing.assert_allclose(records[-1].output.sum(axis=1), 1.0, rtol=1e-5)
    relu = records[1]
    assert relu.stats["min"] >= 0 and 0 < relu.stats["zero_fraction"] < 1
    assert all(r.seconds >= 0 for r in records)
    for previous, record in zip(records, records[1:]):
        assert record.input_shape == previous.output_shape


def test_run_is_lazy_so_a_consumer_can_stop_between_layers():
    calls = []

    class Counting(ReLU):
        def forward(self, x):
            calls.append(1)
            return super().forward(x)

    network = Sequential([(f"r{i}", Counting()) for i in range(5)])
    stream = network.run(np.ones((1, 1, 2, 2), np.float32))
    next(stream)
    next(stream)
    stream.close()
    assert len(calls) == 2


def test_spec_round_trips_and_weights_follow_the_names():
    network = network_from_spec(SPEC, seed=3)
    again = network_from_spec(spec_from_network(network), seed=99)
    assert spec_from_network(again) == spec_from_network(network)
    again.load_state_dict(network.state_dict())
    x = np.random.default_rng(1).standard_normal((1, 1, 12, 12)).astype(np.float32)
    np.testing.assert_array_equal(again(x), network(x))
    assert "conv1.weight" in network.state_dict() and "bn.running_var" in network.state_dict()


def test_spec_infers_channel_counts_from_the_previous_layer():
    network = network_from_spec(SPEC)
    assert network["conv1"].in_channels == 1
    assert network["deconv"].in_channels == 4
    assert network["fc"].in_features == 2 * 12 * 12


@pytest.mark.parametrize("change, message", [
    (lambda s: s["layers"].append({"kind": "Conv3d"}), r"layer 8 \(Conv3d\): unknown kind 'Conv3d'"),
    (lambda s: s["layers"][0]["params"].update(kernel_size=15), r"layer 0 'conv1' \(Conv2d\).*kernel"),
    (lambda s: s["layers"][0]["params"].update(in_channels=3), r"layer 0 'conv1'.*in_channels.*3.*got 1"),
    (lambda s: s["layers"][0]["params"].update(stride=0), r"layer 0 'conv1' \(Conv2d\): field 'stride' must be >= 1"),
    (lambda s: s["layers"][0]["params"].update(strides=2), r"layer 0 'conv1'.*unknown field.*strides"),
    (lambda s: s["layers"][6]["params"].update(in_features=7), r"layer 6 'fc' \(Linear\).*in_features"),
    (lambda s: s["layers"][1].update(params={"inplace": True}), r"layer 1 'relu1'.*inplace"),
    (lambda s: s["layers"][2]["params"].update(kernel_size="big"), r"layer 2 'pool1'.*'kernel_size'"),
    (lambda s: s.update(input_shape=[0, 4]), r"input_shape"),
    (lambda s: s["layers"][5].update(kind="Linear"),
     r"(?m)layer 5 'flat' \(Linear\): expects a 2 or 3-D input.*4-D \(1, 2, 12, 12\) it is given; put a Flatten before it$"),
    (lambda s: s["layers"].insert(7, {"kind": "Conv2d", "params": {"out_channels": 2, "kernel_size": 1}}),
     r"(?m)layer 7 \(Conv2d\): expects a 4-D input, not the 2-D \(1, 10\) it is given; put an Unflatten before it$"),
    (lambda s: s["layers"].insert(5, {"kind": "RNN", "params": {"hidden_size": 4}}),
     r"(?m)layer 5 \(RNN\): expects a 3-D input, not the 4-D \(1, 2, 12, 12\) it is given$"),  # no Flatten: 2-D
    (lambda s: s["layers"][0]["params"].update(groups=3, out_channels=6, in_channels=1),
     r"(?m)layer 0 'conv1'.*groups=3 must divide in_channels=1 and out_channels=6; groups that do: 1$"),
    (lambda s: s["layers"].insert(1, {"kind": "ReLU", "name": "conv1"}), r"unique.*conv1"),
])
def test_bad_specs_name_the_layer_and_field(change, message):
    import copy

    spec = copy.deepcopy(SPEC)
    change(spec)
    with pytest.raises(ValueError, match=message):
        network_from_spec(spec)


def test_a_layers_long_name_or_kind_is_quoted_short_in_errors():
    spec = {"input_shape": [1, 8, 8], "layers": [{"kind": "K" * 5000, "name": "n" * 5000}]}
    with pytest.raises(ValueError) as caught:
        network_from_spec(spec)
    assert len(str(caught.value)) < 1000 and "5,000 characters" in str(caught.value)


def test_a_spec_with_several_layers_at_fault_names_each_and_says_what_was_not_checked():
    spec = {"input_shape": [1, 12, 12], "layers": [
        {"kind": "Conv2d", "params": {"kernel_size": 3}},  # 10x10
        {"kind": "MaxPool2d", "params": {"padding": 2}},  # a pool's padding past half its kernel, whatever its input
        {"kind": "Conv2d", "params": {"kernel_size": 31}},  # its input is not known: not judged
        {"kind": "Conv3d"},
        {"kind": "ReLU", "params": {"inplace": True}},
        {"kind": "MaxPool2d", "params": {"kernel_size": 3, "padding": 2}},
        {"kind": "Flatten"},
    ]}
    with pytest.raises(ValueError) as caught:
        network_from_spec(spec)
    assert str(caught.value).split("\n") == [
        "layer 1 (MaxPool2d): MaxPool2d: padding (2, 2) must be at most half of kernel_size (2, 2)",
        "layer 3 (Conv3d): unknown kind 'Conv3d'; known kinds: " + ", ".join(LAYER_TYPES),
        "layer 4 (ReLU): unknown field(s) ['inplace']; ReLU takes []",
        "layer 5 (MaxPool2d): MaxPool2d: padding (2, 2) must be at most half of kernel_size (3, 3)",
        "layers 2 to 6 were checked for their own settings only: what they get depends on layer 1, which cannot run",
    ]
    # with the pool mended, the kernel of 31 meets its 5x5 input; below it, a layer that needs its input's channel
    # count to be built (a convolution's groups) is not judged either
    spec["layers"][1]["params"] = {}
    spec["layers"][3] = {"kind": "Conv2d", "params": {"out_channels": 4, "groups": 3}}
    del spec["layers"][4:]
    with pytest.raises(ValueError) as caught:
        network_from_spec(spec)
    assert str(caught.value).split("\n") == [
        "layer 2 (Conv2d): output height would be empty: the dilated kernel 31 is larger than the padded input 5 "
        "(kernel_size 31, dilation 1, input 5, padding 0, stride 1)",
        "layer 3 was checked for its own settings only: what it gets depends on layer 2, which cannot run",
    ]
    # the last layer at fault has no layers after it: nothing goes unchecked
    spec["layers"][2]["params"] = {}
    spec["layers"][3]["params"]["groups"] = 3
    with pytest.raises(ValueError) as caught:
        network_from_spec(spec)
    assert "\n" not in str(caught.value) and str(caught.value).startswith("layer 3 (Conv2d): groups=3 must divide")


def test_statistics_count_non_finite_values_and_ignore_them():
    values = np.array([0.0, 1.0, -2.0, np.nan, np.inf, 0.0], np.float32)
    stats = summarize(values)
    assert stats["non_finite"] == 2 and stats["count"] == 6
    assert stats["min"] == -2.0 and stats["max"] == 1.0
    assert stats["mean"] == pytest.approx(-0.25) and stats["std"] == pytest.approx(np.std([0, 1, -2, 0]))
    assert stats["zero_fraction"] == pytest.approx(2 / 6)
    assert sum(stats["histogram"]["counts"]) == 4 and len(stats["histogram"]["edges"]) == 33


def test_statistics_of_an_all_nan_or_constant_array():
    assert summarize(np.full(4, np.nan, np.float32))["min"] is None
    constant = summarize(np.full(5, 3.0, np.float32))
    assert constant["std"] == 0 and sum(constant["histogram"]["counts"]) == 5


def test_nan_flows_through_a_network_and_is_counted():
    network = Sequential([("conv", Conv2d(1, 2, 3)), ("relu", ReLU())])
    x = np.zeros((1, 1, 7, 7), np.float32)
    x[0, 0, 3, 3] = np.nan  # reaches the 3x3 centre of each 5x5 output map, not the border
    records = list(network.run(x))
    assert records[0].stats["non_finite"] == 2 * 9 and records[0].stats["min"] is not None
    assert records[1].stats["non_finite"] == 2 * 9


def test_run_checks_the_input_before_any_work():
    network = Sequential([("fc", Linear(4, 2))])
    with pytest.raises(ValueError, match="layer 0 'fc' \\(Linear\\).*in_features"):
        list(network.run(np.zeros((1, 5), np.float32)))
    with pytest.raises(ValueError, match="floating-point"):
        list(network.run(np.zeros((1, 4), np.int64)))


@pytest.mark.parametrize("seed", range(5))
def test_statistics_agree_with_numpy_on_random_activations(seed):
    rng = np.random.default_rng(seed)
    values = (rng.standard_normal((2, 3, 17, 9)) * rng.uniform(0.1, 100)).astype(np.float32)
    values[values < 0] *= seed % 2  # half the cases look like ReLU outputs, full of exact zeros
    stats = summarize(values)
    as64 = values.astype(np.float64)
    counts, edges = np.histogram(as64, bins=32, range=(as64.min(), as64.max()))
    assert stats["histogram"]["counts"] == counts.tolist()
    np.testing.assert_allclose(stats["histogram"]["edges"], edges, rtol=1e-12, atol=1e-12 * np.abs(edges).max())
    assert stats["mean"] == pytest.approx(as64.mean(), rel=1e-9, abs=1e-9)
    assert stats["std"] == pytest.approx(as64.std(), rel=1e-5)
    assert stats["zero_fraction"] == pytest.approx(np.mean(values == 0))


def test_backward_without_the_input_gradient_gives_the_same_parameter_gradients():
    """Training skips the first layer's dL/dx; the parameters' gradients must not change."""
    from engine.models import load_model

    network = load_model("digits-autoencoder")
    x = np.random.default_rng(0).uniform(0, 1, (3, 1, 28, 28)).astype(np.float32)
    output, saved = network.forward_saved(x, training=False)
    grad = np.random.default_rng(1).standard_normal(output.shape).astype(np.float32)
    grad_x, grads = network.backward(grad, saved)
    skipped, grads_skipped = network.backward(grad, saved, need_input_grad=False)
    assert grad_x.shape == x.shape and skipped is None
    assert grads.keys() == grads_skipped.keys()
    for key in grads:
        np.testing.assert_array_equal(grads[key], grads_skipped[key])


def test_every_layer_kind_has_a_backward_pass():
    """Saliency and training take any spec: every kind a spec can name must back-propagate."""
    from engine.layers import LAYER_TYPES
    from engine.layers.base import Layer

    assert [kind for kind, cls in LAYER_TYPES.items() if cls.backward is Layer.backward] == []
