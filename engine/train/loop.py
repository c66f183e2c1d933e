"""The training loop: seeded mini-batches, forward, loss, backward, optimizer step, with a progress bar."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from engine.backend import asarray, to_numpy
from engine.network import Sequential
from engine.optim import Optimizer

# loss(output, targets) -> (mean loss as a float, dL/d(output))
Loss = Callable[[object, object], tuple[float, object]]


def clip_gradients(grads: dict, max_norm: float) -> float:
    """Scale all gradients together so their joint L2 norm is at most max_norm; returns the norm before."""
    norm = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values()))
    if norm > max_norm:
        for g in grads.values():
            g *= max_norm / norm
    return norm


def fit(network: Sequential, inputs: np.ndarray, targets: np.ndarray, loss: Loss, optimizer: Optimizer, *,
        epochs: int, batch_size: int, rng: np.random.Generator, augment: Callable | None = None,
        clip_norm: float | None = None, description: str = "training") -> list[float]:
    """Train `network` in place; returns the mean training loss of each epoch.

    Each epoch visits the training set once in a fresh order drawn from `rng`. The learning rate follows a
    cosine from the optimizer's lr down to zero over all steps (no tuning of when to decay). `augment(x, rng)`
    may change each batch of inputs (e.g. small shifts); `clip_norm` bounds the gradients' joint norm
    (recurrent networks).
    """
    base_lr = optimizer.lr
    batches_per_epoch = math.ceil(len(inputs) / batch_size)
    total_steps = epochs * batches_per_epoch
    history = []
    with tqdm(total=total_steps, desc=description, unit="batch", dynamic_ncols=True) as bar:
        for epoch in range(epochs):
            order = rng.permutation(len(inputs))
            losses = []
            for start in range(0, len(order), batch_size):
                chosen = order[start:start + batch_size]
                x = inputs[chosen] if augment is None else augment(inputs[chosen], rng)
                optimizer.lr = base_lr * 0.5 * (1 + math.cos(math.pi * bar.n / total_steps))
                output, saved = network.forward_saved(asarray(x), training=True)
                value, grad = loss(output, asarray(targets[chosen], dtype=targets.dtype))
                _, grads = network.backward(grad, saved, need_input_grad=False)
                if clip_norm is not None:
                    clip_gradients(grads, clip_norm)
                optimizer.step(grads)
                losses.append(value)
                bar.update()
                bar.set_postfix(epoch=f"{epoch + 1}/{epochs}", loss=f"{np.mean(losses[-20:]):.4f}")
            history.append(float(np.mean(losses)))
    optimizer.lr = base_lr
    return history


def predict(network: Sequential, inputs: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """The network's output for every input, in batches, on the host."""
    return np.concatenate([to_numpy(network(asarray(inputs[start:start + batch_size])))
                           for start in range(0, len(inputs), batch_size)])
