"""digits-cnn: conv, ReLU, max pool, conv, ReLU, max pool, dense, softmax on 28x28 MNIST digits.

Adam on 4,000 training digits, each batch shifted by up to two pixels (so a digit drawn off-centre is
still recognised); scored on the 1,000 held-out digits.
"""

from __future__ import annotations

import numpy as np

from engine.datasets import mnist
from engine.grad.loss import cross_entropy
from engine.network import Sequential
from engine.optim import Adam
from engine.train.common import MAX_SHIFT, random_shifts, untrained
from engine.train.loop import fit, predict

EPOCHS = 40
BATCH_SIZE = 64
LEARNING_RATE = 3e-3


def train(name: str, seed: int, epochs: int = EPOCHS) -> tuple[Sequential, dict]:
    network = untrained(name, seed)
    data = mnist("train")
    body = network.without_final_softmax()
    fit(body, data.images, data.labels, cross_entropy, Adam(body.parameters(), lr=LEARNING_RATE),
        epochs=epochs, batch_size=BATCH_SIZE, rng=np.random.default_rng(seed), augment=random_shifts,
        description=name)
    return network, {"epochs": epochs, "batch_size": BATCH_SIZE,
                     "optimizer": f"Adam lr {LEARNING_RATE} with cosine decay",
                     "loss": "cross-entropy", "augmentation": f"random shifts of up to {MAX_SHIFT} pixels"}


def evaluate(name: str, network: Sequential) -> dict:
    held_out = mnist("held_out")
    predicted = predict(network, held_out.images).argmax(axis=1)
    return {"metric": "accuracy (%) on the 1,000 held-out digits",
            "held_out_score": round(float((predicted == held_out.labels).mean() * 100), 2)}
