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
from engine.train.common import untrained, without_softmax
from engine.train.loop import fit, predict

EPOCHS = 40
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
MAX_SHIFT = 2


def random_shifts(images: np.ndarray, rng: np.random.Generator, max_shift: int = MAX_SHIFT) -> np.ndarray:
    """Each (1, H, W) image moved by its own random whole-pixel offset in [-max_shift, max_shift], zeros shifted in."""
    n, _, height, width = images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    rows = dy[:, None] + np.arange(height)  # (n, H): the padded rows each output row reads
    cols = dx[:, None] + np.arange(width)
    return padded[np.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]][:, None]


def train(name: str, seed: int, epochs: int = EPOCHS) -> tuple[Sequential, dict]:
    network = untrained(name, seed)
    data = mnist("train")
    body = without_softmax(network)
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
