"""digits-autoencoder: a conv/pool encoder to a 16-number code and a decoder of transposed convolutions.

Adam on the 4,000 training digits, the loss the mean squared error between the reconstruction (after the
sigmoid) and the input, pixels in [0, 1]; scored by the same error on the 1,000 held-out digits.
"""

from __future__ import annotations

import numpy as np

from engine.datasets import mnist
from engine.grad.loss import mse_loss
from engine.network import Sequential
from engine.optim import Adam
from engine.train.common import untrained
from engine.train.loop import fit, predict

EPOCHS = 30
BATCH_SIZE = 64
LEARNING_RATE = 3e-3


def train(name: str, seed: int, epochs: int = EPOCHS) -> tuple[Sequential, dict]:
    network = untrained(name, seed)
    data = mnist("train")
    fit(network, data.images, data.images, mse_loss, Adam(network.parameters(), lr=LEARNING_RATE),
        epochs=epochs, batch_size=BATCH_SIZE, rng=np.random.default_rng(seed), description=name)
    return network, {"epochs": epochs, "batch_size": BATCH_SIZE,
                     "optimizer": f"Adam lr {LEARNING_RATE} with cosine decay",
                     "loss": "mean squared error of the pixels"}


def evaluate(name: str, network: Sequential) -> dict:
    held_out = mnist("held_out")
    reconstruction = predict(network, held_out.images)
    error = float(((reconstruction - held_out.images) ** 2).mean())
    return {"metric": "mean squared error per pixel (pixels in [0, 1]) on the 1,000 held-out digits",
            "held_out_score": round(error, 5)}
