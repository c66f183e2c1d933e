"""sine-rnn: an RNN that predicts the next value of a sum of two sines at every step.

Seeded synthetic signals (engine.datasets.sum_of_sines): 4,000 for training and 500 held out, drawn from
a different seed. The loss is the mean squared error of the next-value predictions over the steps after a
short warm-up (the first steps cannot know the waves' periods yet); the score is the same on held-out signals.
"""

from __future__ import annotations

import numpy as np

from engine.backend import array_module
from engine.datasets import sum_of_sines
from engine.grad.loss import mse_loss
from engine.network import Sequential
from engine.optim import Adam
from engine.train.common import untrained
from engine.train.loop import fit, predict

STEPS = 64
WARM_UP = 8
TRAIN_SIGNALS = 4000
HELD_OUT_SIGNALS = 500
HELD_OUT_SEED = 12345
EPOCHS = 30
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
CLIP_NORM = 5.0


def signals(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (count, STEPS, 1) and next-value targets (count, STEPS, 1)."""
    signal = sum_of_sines(count, STEPS, np.random.default_rng(seed))
    return signal[:, :-1, None], signal[:, 1:, None]


def after_warm_up_mse(prediction, target) -> tuple[float, object]:
    """Mean squared error over steps WARM_UP.. only; earlier steps get no gradient."""
    value, grad_tail = mse_loss(prediction[:, WARM_UP:], target[:, WARM_UP:])
    grad = array_module(prediction).zeros_like(prediction)
    grad[:, WARM_UP:] = grad_tail
    return value, grad


def train(name: str, seed: int, epochs: int = EPOCHS) -> tuple[Sequential, dict]:
    network = untrained(name, seed)
    inputs, targets = signals(TRAIN_SIGNALS, seed)
    fit(network, inputs, targets, after_warm_up_mse, Adam(network.parameters(), lr=LEARNING_RATE),
        epochs=epochs, batch_size=BATCH_SIZE, rng=np.random.default_rng(seed), clip_norm=CLIP_NORM,
        description=name)
    return network, {"epochs": epochs, "batch_size": BATCH_SIZE,
                     "optimizer": f"Adam lr {LEARNING_RATE} with cosine decay, gradient norm clipped to {CLIP_NORM}",
                     "loss": f"mean squared error of the next value, steps {WARM_UP} to {STEPS - 1}"}


def evaluate(name: str, network: Sequential) -> dict:
    inputs, targets = signals(HELD_OUT_SIGNALS, HELD_OUT_SEED)
    prediction = predict(network, inputs)
    error = float(((prediction[:, WARM_UP:] - targets[:, WARM_UP:]) ** 2).mean())
    return {"metric": f"mean squared error of the next value on {HELD_OUT_SIGNALS} held-out signals "
                      f"(steps {WARM_UP} to {STEPS - 1}; values within [-1, 1])",
            "held_out_score": round(error, 6)}
