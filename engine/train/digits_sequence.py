"""digits-lstm, digits-rnn, digits-gru: a recurrent cell reads a digit row by row and classifies it.

The image's 28 rows are 28 time steps of 28 pixels. The dense layer gives class scores after every step;
training uses the last step's (cross-entropy), so the network must carry what it saw in its hidden state.
Adam with gradients clipped to norm 5 (recurrent gradients can spike).
"""

from __future__ import annotations

import numpy as np

from engine.backend import array_module
from engine.datasets import mnist
from engine.grad.loss import cross_entropy
from engine.network import Sequential
from engine.optim import Adam
from engine.train.common import MAX_SHIFT, random_shifts, untrained
from engine.train.loop import fit, predict

EPOCHS = {"digits-lstm": 40, "digits-gru": 40, "digits-rnn": 120}
BATCH_SIZE = 64
LEARNING_RATE = {"digits-lstm": 3e-3, "digits-gru": 3e-3, "digits-rnn": 2e-3}
CLIP_NORM = 5.0


def rows_as_steps(images: np.ndarray) -> np.ndarray:
    """(N, 1, 28, 28) -> (N, 28 steps, 28 features)."""
    return np.ascontiguousarray(images[:, 0])


def shifted_rows(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The digits moved by up to MAX_SHIFT pixels each way (as for digits-cnn), still read row by row."""
    return np.ascontiguousarray(random_shifts(rows[:, None], rng)[:, 0])


def last_step_cross_entropy(scores, labels) -> tuple[float, object]:
    """Cross-entropy of the last step's scores (N, T, C)[:, -1]; the other steps get no gradient."""
    value, grad_last = cross_entropy(scores[:, -1], labels)
    grad = array_module(scores).zeros_like(scores)
    grad[:, -1] = grad_last
    return value, grad


def train(name: str, seed: int, epochs: int | None = None) -> tuple[Sequential, dict]:
    epochs = epochs or EPOCHS[name]
    network = untrained(name, seed)
    data = mnist("train")
    body = network.without_final_softmax()
    fit(body, rows_as_steps(data.images), data.labels, last_step_cross_entropy,
        Adam(body.parameters(), lr=LEARNING_RATE[name]), epochs=epochs, batch_size=BATCH_SIZE,
        rng=np.random.default_rng(seed), augment=shifted_rows, clip_norm=CLIP_NORM, description=name)
    return network, {"epochs": epochs, "batch_size": BATCH_SIZE,
                     "augmentation": f"random shifts of up to {MAX_SHIFT} pixels",
                     "optimizer": f"Adam lr {LEARNING_RATE[name]} with cosine decay, gradient norm clipped to {CLIP_NORM}",
                     "loss": "cross-entropy of the last step's scores"}


def evaluate(name: str, network: Sequential) -> dict:
    held_out = mnist("held_out")
    predicted = predict(network, rows_as_steps(held_out.images))[:, -1].argmax(axis=1)
    return {"metric": "accuracy (%) on the 1,000 held-out digits (the last step's prediction)",
            "held_out_score": round(float((predicted == held_out.labels).mean() * 100), 2)}
