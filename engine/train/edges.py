"""edges: not trained. A first layer of hand-made filters (Sobel x and y, Laplacian, Gaussian, Gabor at four
angles), written to .npz like the trained networks so every built-in loads the same way."""

from __future__ import annotations

from engine.models import BUILTIN_MODELS
from engine.network import Sequential
from engine.train.common import untrained


def train(name: str, seed: int, epochs: int | None = None) -> tuple[Sequential, dict]:
    network = untrained(name, seed)
    BUILTIN_MODELS[name].designed_weights(network)
    return network, {"epochs": 0, "note": "not trained: the kernels are designed by hand (engine/kernels.py)"}


def evaluate(name: str, network: Sequential) -> dict:
    return {"metric": None, "held_out_score": None}
