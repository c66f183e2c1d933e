"""Pure functions with the signatures and semantics of `torch.nn.functional`.

Each op starts with `xp = array_module(x)`, so one body serves NumPy and CuPy.
Tensors are NCHW float32 (sequences N, T, F); weights use PyTorch's layouts.
"""

from engine.functional.activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from engine.functional.conv import conv2d, conv_transpose2d
from engine.functional.linear import linear
from engine.functional.norm import batch_norm
from engine.functional.pool import avg_pool2d, max_pool2d
from engine.functional.recurrent import gru_sequence, lstm_sequence, rnn_sequence
from engine.functional.reshape import dropout, flatten, interpolate, pad

__all__ = [
    "avg_pool2d", "batch_norm", "conv2d", "conv_transpose2d", "dropout", "flatten",
    "gru_sequence", "interpolate", "leaky_relu", "linear", "log_softmax", "lstm_sequence",
    "max_pool2d", "pad", "relu", "rnn_sequence", "sigmoid", "softmax", "tanh",
]
