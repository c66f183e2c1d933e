"""The catalogue's defaults (what a spec gets for a field it leaves out) that are not the constructors'.

README.md and docs/protocol.md list the fields whose spec default is not torch.nn's; these tests pin that
list, against the engine's classes (inspect.signature) and against torch, so a changed default fails here
until the documentation says so too.
"""

import inspect
import re
from pathlib import Path

import pytest

from engine.layers import LAYER_TYPES
from engine.spec import _INFERRED, network_from_spec

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
REQUIRED = "required"  # the constructor has no default

# (kind, field): catalogue default where the engine's class has another default, or none.
DIFFERS_FROM_THE_CLASS = {
    ("Conv2d", "in_channels"): REQUIRED, ("Conv2d", "out_channels"): REQUIRED, ("Conv2d", "kernel_size"): REQUIRED,
    ("ConvTranspose2d", "in_channels"): REQUIRED, ("ConvTranspose2d", "out_channels"): REQUIRED,
    ("ConvTranspose2d", "kernel_size"): REQUIRED, ("ConvTranspose2d", "stride"): 1,
    ("Linear", "in_features"): REQUIRED, ("Linear", "out_features"): REQUIRED,
    ("BatchNorm2d", "num_features"): REQUIRED,
    ("Softmax", "dim"): None,
    ("Upsample", "scale_factor"): None, ("Upsample", "align_corners"): None,
    ("RNN", "input_size"): REQUIRED, ("RNN", "hidden_size"): REQUIRED,
    ("LSTM", "input_size"): REQUIRED, ("LSTM", "hidden_size"): REQUIRED,
    ("GRU", "input_size"): REQUIRED, ("GRU", "hidden_size"): REQUIRED,
}

# (kind, field) whose spec default is not torch.nn's, leaving out the channel and feature counts a spec
# infers from its input: the rows of docs/protocol.md's table.
DIFFERS_FROM_TORCH = {
    ("Conv2d", "out_channels"), ("Conv2d", "kernel_size"),
    ("ConvTranspose2d", "out_channels"), ("ConvTranspose2d", "kernel_size"), ("ConvTranspose2d", "stride"),
    ("MaxPool2d", "kernel_size"), ("AvgPool2d", "kernel_size"),
    ("Linear", "out_features"),
    ("RNN", "hidden_size"), ("LSTM", "hidden_size"), ("GRU", "hidden_size"),
    ("Softmax", "dim"),
    ("Upsample", "scale_factor"), ("Upsample", "align_corners"),
    ("Unflatten", "channels"), ("Unflatten", "height"), ("Unflatten", "width"),
}


def _defaults(function) -> dict:
    return {name: REQUIRED if p.default is inspect.Parameter.empty else p.default
            for name, p in inspect.signature(function).parameters.items()}


def test_the_catalogue_defaults_that_are_not_the_classes_are_the_listed_ones():
    found = {}
    for kind, cls in LAYER_TYPES.items():
        constructor = _defaults(cls.__init__)
        for param in cls.params:
            assert param.name in constructor, f"{kind}.{param.name} is not a constructor argument"
            if constructor[param.name] != param.default:
                found[(kind, param.name)] = constructor[param.name]
    assert found == DIFFERS_FROM_THE_CLASS


def test_the_catalogue_defaults_that_are_not_torchs_are_the_listed_ones():
    torch = pytest.importorskip("torch")
    found = set()
    for kind, cls in LAYER_TYPES.items():
        theirs = _defaults(getattr(torch.nn, kind).__init__)
        if kind in ("RNN", "LSTM", "GRU"):  # they take *args; the arguments are RNNBase's
            theirs = {**_defaults(torch.nn.RNNBase.__init__), "nonlinearity": "tanh"}
        for param in cls.params:
            if param.name not in _INFERRED and theirs.get(param.name, "not torch's") != param.default:
                found.add((kind, param.name))
    assert found == DIFFERS_FROM_TORCH


def test_protocol_md_lists_every_spec_default_that_is_not_torchs():
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in PROTOCOL.read_text().splitlines() if line.startswith("| ")]
    listed = {(kind.strip(), field) for cells in rows if len(cells) == 4
              for kind in cells[0].split(",") for field in re.findall(r"`(\w+)`", cells[1])}
    assert DIFFERS_FROM_TORCH <= listed, sorted(DIFFERS_FROM_TORCH - listed)
    assert {(kind, field) for kind, field in listed if kind in LAYER_TYPES} == DIFFERS_FROM_TORCH


def test_a_field_left_out_of_a_spec_takes_the_catalogue_default():
    network = network_from_spec({"input_shape": [2, 5, 5], "layers": [{"kind": "ConvTranspose2d"},
                                                                      {"kind": "Softmax"}]})
    (_, transpose), (_, softmax) = network.layers
    assert transpose.stride == (2, 2) and transpose.kernel_size == (2, 2) and transpose.in_channels == 2
    assert softmax.dim == -1
