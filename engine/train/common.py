"""What every training recipe shares: building a built-in's untrained network, the card, the classifier body."""

from __future__ import annotations

from engine.models import BUILTIN_MODELS
from engine.network import Sequential
from engine.spec import network_from_spec


def untrained(name: str, seed: int) -> Sequential:
    """The built-in network `name` with seeded initial weights (PyTorch's default initialisation)."""
    return network_from_spec(BUILTIN_MODELS[name].spec(), seed=seed)


def without_softmax(network: Sequential) -> Sequential:
    """The same layers (shared, so training changes `network`) minus a final Softmax: training computes
    softmax and cross-entropy together on the scores, which is exact and stable."""
    name, last = network.layers[-1]
    if last.kind != "Softmax":
        raise ValueError(f"{network.name}: the last layer {name!r} is a {last.kind}, not a Softmax")
    return Sequential(network.layers[:-1], name=network.name)


def parameter_count(network: Sequential) -> int:
    return sum(int(value.size) for value in network.parameters().values())
