"""Built-in networks: their specs, and their weights from the project's own `.npz` files.

A network whose trained weights are not in `engine/weights/` yet is built with seeded random weights
and says so (`trained` is False); `edges` is never trained: its kernels are designed by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.backend import get_backend
from engine.kernels import gabor, preset
from engine.network import Sequential
from engine.spec import network_from_spec

WEIGHTS_DIR = Path(__file__).parent / "weights"
DIGIT_CLASSES = [str(d) for d in range(10)]
AUTOENCODER_CODE_SIZE = 16
DIGIT_READER_HIDDEN = 128


def _conv(name, out_channels, kernel_size, **params):
    return {"kind": "Conv2d", "name": name, "params": {"out_channels": out_channels, "kernel_size": kernel_size, **params}}


def _layer(kind, name, **params):
    return {"kind": kind, "name": name, "params": params}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    title: str
    description: str
    spec_layers: tuple = field(repr=False)
    input_channels: int = 1
    input_size: tuple[int, int] | None = None
    class_names: list[str] | None = None
    designed_weights: object = None  # a function filling hand-made weights, for networks that are not trained
    sequence_features: int | None = None  # set for networks that read a sequence (N, T, F) instead of an image
    sequence_steps: int | None = None  # the sequence length the network was trained on

    @property
    def input_kind(self) -> str:
        return "sequence" if self.sequence_features else "image"

    def input_shape(self) -> list[int]:
        """Per sample: [C, H, W] for images, [T, F] for sequences."""
        if self.input_kind == "sequence":
            return [self.sequence_steps, self.sequence_features]
        return [self.input_channels, *(self.input_size or (256, 256))]

    def spec(self) -> dict:
        return {"name": self.name, "description": self.description,
                "input_shape": self.input_shape(), "layers": list(self.spec_layers)}

    @property
    def weights_path(self) -> Path:
        return WEIGHTS_DIR / f"{self.name}.npz"

    @property
    def trained(self) -> bool:
        return self.weights_path.exists()

    def build(self) -> Sequential:
        """The network with its weights: trained (.npz), hand-designed, or seeded random."""
        network = network_from_spec(self.spec(), seed=0)
        if self.trained:
            with np.load(self.weights_path, allow_pickle=False) as stored:
                network.load_state_dict({key: stored[key] for key in stored.files})
        elif self.designed_weights is not None:
            self.designed_weights(network)
        return network

    def describe(self) -> dict:
        return {"name": self.name, "title": self.title, "description": self.description,
                "input_channels": self.input_channels, "input_size": list(self.input_size) if self.input_size else None,
                "class_names": self.class_names, "trained": self.trained or self.designed_weights is not None,
                "input_kind": self.input_kind, "input_shape": self.input_shape(), "card": self.card(),
                "spec": self.spec()}

    @property
    def card_path(self) -> Path:
        return WEIGHTS_DIR / f"{self.name}.json"

    def card(self) -> dict | None:
        """The training card written next to the weights (data, split, epochs, seed, held-out score, time)."""
        if not self.card_path.exists():
            return None
        return json.loads(self.card_path.read_text())


def _edge_kernels(network: Sequential) -> None:
    """Sobel x/y, Laplacian, Gaussian and Gabor filters at four angles: feature maps a person can read."""
    kernels = [preset("sobel_x", 5), preset("sobel_y", 5), preset("laplacian", 5), preset("gaussian", 5)]
    kernels += [gabor(5, angle) for angle in (0, 45, 90, 135)]
    network["edges"].load_state_dict({"weight": np.stack(kernels)[:, None], "bias": np.zeros(len(kernels), np.float32)})


BUILTIN_MODELS: dict[str, ModelInfo] = {m.name: m for m in (
    ModelInfo(
        "digits-cnn", "Digit classifier (CNN)",
        "Two convolution blocks and a dense layer that classify 28x28 handwritten digits.",
        (_conv("conv1", 8, 3, padding=1), _layer("ReLU", "relu1"), _layer("MaxPool2d", "pool1", kernel_size=2),
         _conv("conv2", 16, 3, padding=1), _layer("ReLU", "relu2"), _layer("MaxPool2d", "pool2", kernel_size=2),
         _layer("Flatten", "flatten"), _layer("Linear", "fc", out_features=10), _layer("Softmax", "probabilities")),
        input_channels=1, input_size=(28, 28), class_names=DIGIT_CLASSES),
    ModelInfo(
        "digits-autoencoder", "Digit autoencoder",
        "An encoder of convolutions and max pooling squeezes a digit into a code of 16 numbers; a decoder of "
        "transposed convolutions (deconvolutions) grows the code back into a 28x28 digit.",
        (_conv("enc1", 8, 3, padding=1), _layer("ReLU", "enc_relu1"), _layer("MaxPool2d", "enc_pool1", kernel_size=2),
         _conv("enc2", 16, 3, padding=1), _layer("ReLU", "enc_relu2"), _layer("MaxPool2d", "enc_pool2", kernel_size=2),
         _layer("Flatten", "flatten"), _layer("Linear", "code", out_features=AUTOENCODER_CODE_SIZE),
         _layer("Linear", "expand", out_features=16 * 7 * 7), _layer("ReLU", "expand_relu"),
         _layer("Unflatten", "unflatten", channels=16, height=7, width=7),
         _layer("ConvTranspose2d", "dec1", out_channels=8, kernel_size=4, stride=2, padding=1),
         _layer("ReLU", "dec_relu1"),
         _layer("ConvTranspose2d", "dec2", out_channels=1, kernel_size=4, stride=2, padding=1),
         _layer("Sigmoid", "reconstruction")),
        input_channels=1, input_size=(28, 28)),
    ModelInfo(
        "edges", "Edge and texture detectors",
        "A first layer of hand-made filters (Sobel, Laplacian, Gaussian, Gabor at four angles) for photos.",
        (_conv("edges", 8, 5, padding=2), _layer("ReLU", "relu"), _layer("MaxPool2d", "pool", kernel_size=2)),
        input_channels=1, input_size=(256, 256), designed_weights=_edge_kernels),
    ModelInfo(
        "tiny-vgg", "Tiny VGG",
        "Two VGG blocks (conv, ReLU, conv, ReLU, max pool) and a dense layer on 64x64 colour images.",
        (_conv("conv1_1", 10, 3, padding=1), _layer("ReLU", "relu1_1"), _conv("conv1_2", 10, 3, padding=1),
         _layer("ReLU", "relu1_2"), _layer("MaxPool2d", "pool1", kernel_size=2),
         _conv("conv2_1", 10, 3, padding=1), _layer("ReLU", "relu2_1"), _conv("conv2_2", 10, 3, padding=1),
         _layer("ReLU", "relu2_2"), _layer("MaxPool2d", "pool2", kernel_size=2),
         _layer("Flatten", "flatten"), _layer("Linear", "fc", out_features=10), _layer("Softmax", "probabilities")),
        input_channels=3, input_size=(64, 64)),
    *(ModelInfo(
        f"digits-{cell.lower()}", f"Digit reader ({cell})",
        f"{'An' if cell in ('LSTM', 'RNN') else 'A'} {cell} reads a 28x28 digit one row at a time (28 steps of 28 "
        "pixels) and a dense layer turns its hidden state into class scores after every row: the last step's scores "
        "are the answer.",
        (_layer(cell, cell.lower(), hidden_size=DIGIT_READER_HIDDEN), _layer("Linear", "classifier", out_features=10),
         _layer("Softmax", "probabilities", dim=-1)),
        class_names=DIGIT_CLASSES, sequence_features=28, sequence_steps=28) for cell in ("LSTM", "RNN", "GRU")),
    ModelInfo(
        "sine-rnn", "Sine predictor (RNN)",
        "An RNN reads a signal made of two sine waves one value at a time and predicts the next value at "
        "every step. It learnt from sums of two sines, each 0.2 to 0.5 high with a period of 8 to 40 steps: far "
        "from such waves (faster, taller, or jagged) its guesses go wrong.",
        (_layer("RNN", "rnn", hidden_size=32), _layer("Linear", "prediction", out_features=1)),
        sequence_features=1, sequence_steps=64),
)}


def load_model(name: str) -> Sequential:
    """The built-in network `name` on the active backend, built once per process and backend; callers must not
    change it."""
    if name not in BUILTIN_MODELS:
        raise ValueError(f"unknown built-in network {name!r}; built-ins are {', '.join(BUILTIN_MODELS)}")
    return _built(name, get_backend().name)


@lru_cache(maxsize=None)
def _built(name: str, backend_name: str) -> Sequential:
    """`backend_name` only keys the cache: a network built on NumPy is not reused after a switch to CuPy."""
    return BUILTIN_MODELS[name].build()
