"""Time one training step (forward, backward, Adam update) of each trainable built-in: engine against PyTorch.

    .venv/bin/python benchmarks/train.py [--repeats N] [--cases NAME ...]

Each measurement runs in a fresh process for one side (PyTorch's OpenMP threads spin after work and slow
NumPy down when they share a process), the sides alternating A B A B. A measurement is the median time of
one step over as many steps as fit in about two seconds, after warm-up steps, on a seeded batch of 64
(the training scripts' batch size) with the recipe's loss. Prints per case the medians and the median of
the per-repeat ratios engine/PyTorch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BATCH = 64
MEASURE_SECONDS = 2.0
WARM_UP_STEPS = 3
CASES = ["digits-cnn", "digits-autoencoder", "digits-lstm", "digits-gru", "digits-rnn", "sine-rnn"]


def batch(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Seeded inputs and targets shaped as the recipe trains on."""
    rng = np.random.default_rng(0)
    if name == "sine-rnn":
        x = rng.uniform(-1, 1, (BATCH, 64, 1)).astype(np.float32)
        return x, np.roll(x, -1, axis=1)
    images = rng.uniform(0, 1, (BATCH, 1, 28, 28)).astype(np.float32)
    if name == "digits-autoencoder":
        return images, images
    labels = rng.integers(0, 10, BATCH)
    return (images[:, 0] if name.startswith("digits-") and name != "digits-cnn" else images), labels


def engine_step(name: str):
    from engine.grad.loss import cross_entropy, mse_loss
    from engine.optim import Adam
    from engine.train.common import untrained
    from engine.train.digits_sequence import last_step_cross_entropy

    network = untrained(name, 0).without_final_softmax()
    loss = {"digits-cnn": cross_entropy, "digits-autoencoder": mse_loss, "sine-rnn": mse_loss}.get(
        name, last_step_cross_entropy)
    optimizer = Adam(network.parameters(), lr=1e-3)
    x, y = batch(name)

    def step():
        output, saved = network.forward_saved(x)
        _, grad = loss(output, y)
        _, grads = network.backward(grad, saved, need_input_grad=False)  # as engine.train.loop does
        optimizer.step(grads)

    return step


def torch_step(name: str):
    import torch
    from torch import nn

    torch.manual_seed(0)

    class Reader(nn.Module):
        def __init__(self, cell, features, hidden, outputs, last_only):
            super().__init__()
            self.cell = cell(features, hidden, batch_first=True)
            self.head = nn.Linear(hidden, outputs)
            self.last_only = last_only

        def forward(self, x):
            scores = self.head(self.cell(x)[0])
            return scores[:, -1] if self.last_only else scores

    from engine.models import AUTOENCODER_CODE_SIZE, DIGIT_READER_HIDDEN

    models = {
        "digits-cnn": lambda: nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(784, 10)),
        "digits-autoencoder": lambda: nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(784, AUTOENCODER_CODE_SIZE), nn.Linear(AUTOENCODER_CODE_SIZE, 784),
            nn.ReLU(), nn.Unflatten(1, (16, 7, 7)), nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(8, 1, 4, 2, 1), nn.Sigmoid()),
        "digits-lstm": lambda: Reader(nn.LSTM, 28, DIGIT_READER_HIDDEN, 10, True),
        "digits-gru": lambda: Reader(nn.GRU, 28, DIGIT_READER_HIDDEN, 10, True),
        "digits-rnn": lambda: Reader(nn.RNN, 28, DIGIT_READER_HIDDEN, 10, True),
        "sine-rnn": lambda: Reader(nn.RNN, 1, 32, 1, False),
    }
    model = models[name]()
    loss = nn.CrossEntropyLoss() if name not in ("digits-autoencoder", "sine-rnn") else nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = (torch.from_numpy(a) for a in batch(name))

    def step():
        optimizer.zero_grad()
        loss(model(x), y).backward()
        optimizer.step()

    return step


def measure(side: str, name: str) -> float:
    step = (engine_step if side == "engine" else torch_step)(name)
    for _ in range(WARM_UP_STEPS):
        step()
    times, deadline = [], time.perf_counter() + MEASURE_SECONDS
    while time.perf_counter() < deadline or len(times) < 5:
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="*", default=CASES, choices=CASES)
    parser.add_argument("--side", choices=["engine", "torch"], help=argparse.SUPPRESS)  # one measurement (child)
    args = parser.parse_args(argv)
    if args.side:
        print(json.dumps(measure(args.side, args.cases[0])))
        return
    import os
    import platform

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; batch {BATCH}; "
          f"medians over {args.repeats} alternating repeats")
    print(f"{'network':<20}{'engine ms':>11}{'torch ms':>10}{'ratio':>8}")
    for name in args.cases:
        engine_ms, torch_ms, ratios = [], [], []
        for _ in range(args.repeats):
            for side, out in (("engine", engine_ms), ("torch", torch_ms)):
                result = subprocess.run([sys.executable, __file__, "--side", side, "--cases", name],
                                        capture_output=True, text=True, check=True)
                out.append(json.loads(result.stdout))
            ratios.append(engine_ms[-1] / torch_ms[-1])
        print(f"{name:<20}{statistics.median(engine_ms):>11.1f}{statistics.median(torch_ms):>10.1f}"
              f"{statistics.median(ratios):>7.2f}x", flush=True)


if __name__ == "__main__":
    main()
