"""Losses for training, each returning the loss and its gradient with respect to the prediction.

These are the start of back-propagation: `loss, grad = cross_entropy(logits, target)`, then
`network.backward(grad, saved)`.
"""

from __future__ import annotations

from engine.backend import array_module
from engine.functional.activation import _check_array, log_softmax


def cross_entropy(logits, target):
    """Mean cross-entropy of class scores against integer labels, as torch.nn.functional.cross_entropy.

    logits (N, C), target (N,) integers in [0, C). With log p = log_softmax(logits) (stable:
    the row maximum is subtracted before exponentiating):

        loss          = -(1/N) * sum_n log p[n, target[n]]
        dloss/dlogits = (softmax(logits) - onehot(target)) / N

    Returns (loss as a Python float, dloss/dlogits in logits' dtype and array module).
    """
    xp = array_module(logits)
    _check_array(logits, "logits")
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D (N, classes), got shape {tuple(logits.shape)}")
    batch, classes = logits.shape
    if not hasattr(target, "dtype") or target.dtype.kind not in "iu":
        kind = getattr(target, "dtype", type(target).__name__)
        raise ValueError(f"target must be an integer array of class indices, got {kind}")
    if tuple(target.shape) != (batch,):
        raise ValueError(f"target must have shape ({batch},) for logits {tuple(logits.shape)}, "
                         f"got {tuple(target.shape)}")
    if batch == 0:
        raise ValueError("logits must hold at least one row, got N = 0")
    if bool(xp.any((target < 0) | (target >= classes))):
        raise ValueError(f"target must hold class indices in [0, {classes}), got values from "
                         f"{int(target.min())} to {int(target.max())}")
    log_probabilities = log_softmax(logits, dim=1)
    rows = xp.arange(batch)
    loss = -float(log_probabilities[rows, target].sum(dtype=xp.float64)) / batch
    grad = xp.exp(log_probabilities)
    grad[rows, target] -= 1
    grad /= logits.dtype.type(batch)
    return loss, grad


def mse_loss(prediction, target):
    """Mean squared error over all elements, as torch.nn.functional.mse_loss:

        loss             = (1/M) * sum (prediction - target)^2,   M = number of elements
        dloss/dprediction = 2 * (prediction - target) / M

    Returns (loss as a Python float, dloss/dprediction in prediction's dtype and array module).
    """
    xp = array_module(prediction)
    _check_array(prediction, "prediction")
    _check_array(target, "target")
    if tuple(prediction.shape) != tuple(target.shape):
        raise ValueError(f"target must have prediction's shape {tuple(prediction.shape)}, got {tuple(target.shape)}")
    if prediction.size == 0:
        raise ValueError("prediction must hold at least one element")
    difference = prediction - target.astype(prediction.dtype, copy=False)
    loss = float(xp.sum(difference.astype(xp.float64) ** 2)) / prediction.size
    return loss, difference * prediction.dtype.type(2 / prediction.size)
