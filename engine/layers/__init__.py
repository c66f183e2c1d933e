"""Every layer kind, by the name a JSON spec uses, and the catalogue the browser shows."""

from engine.layers.activation import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from engine.layers.base import Explanation, Layer, Param
from engine.layers.conv import Conv2d, ConvTranspose2d
from engine.layers.linear import Linear
from engine.layers.norm import BatchNorm2d
from engine.layers.pool import AvgPool2d, MaxPool2d
from engine.layers.recurrent import GRU, LSTM, RNN
from engine.layers.reshape import Dropout, Flatten, Unflatten, Upsample

LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls
    for cls in (Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, Linear, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax,
                BatchNorm2d, Flatten, Unflatten, Upsample, Dropout, RNN, LSTM, GRU)
}


def catalogue() -> list[dict]:
    """Every layer kind's description: text for a student, formula, shape rule, parameters."""
    return [cls.describe() for cls in LAYER_TYPES.values()]


__all__ = ["LAYER_TYPES", "catalogue", "Explanation", "Layer", "Param", *LAYER_TYPES]
