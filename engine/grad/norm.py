"""Batch normalisation in training mode (batch statistics) and its backward; the backward at inference.

Training normalises each channel c with the statistics of the batch, over the M = N*H*W
values of that channel (M = N for (N, C) input):

    mean[c] = (1/M) sum x,   var[c] = (1/M) sum (x - mean)^2   (biased: what the normalisation uses)
    x_hat = (x - mean) / sqrt(var + eps),   y = weight[c] * x_hat + bias[c]

and reports var * M / (M - 1) (unbiased) for the running-variance update, as PyTorch does.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

from engine.backend import array_module
from engine.functional.norm import _check_batch_norm


@dataclass(frozen=True)
class BatchNormSaved:
    """What batch_norm_backward needs, and the batch statistics for the running update.

    x_hat: the normalised input; inv_std: 1 / sqrt(var + eps) per channel; weight, bias: as
    passed (None when absent); mean, var: the batch mean and biased variance; unbiased_var:
    var * M / (M - 1), the one the running variance is updated with.
    """

    x_hat: object
    inv_std: object
    weight: object
    bias: object
    mean: object
    var: object
    unbiased_var: object


def _per_channel(x) -> tuple[int, ...]:
    """The shape that broadcasts a (C,) vector over (N, C, ...): (C, 1, 1) for NCHW."""
    return (x.shape[1],) + (1,) * (x.ndim - 2)


def _reduce_axes(x) -> tuple[int, ...]:
    """Every axis but the channel axis 1."""
    return (0,) + tuple(range(2, x.ndim))


def _check_train(x, weight, bias, eps) -> None:
    """Raise ValueError unless x is a float (N, C, ...) array, weight and bias (C,) or None, eps >= 0."""
    if not hasattr(x, "dtype") or not hasattr(x, "ndim") or x.dtype.kind != "f" or x.ndim < 2:
        raise ValueError(f"input must be a floating-point array (N, C) or (N, C, ...), got "
                         f"{getattr(x, 'dtype', type(x).__name__)} of shape {tuple(getattr(x, 'shape', ()))}")
    for name, array in (("weight", weight), ("bias", bias)):
        if array is not None and tuple(getattr(array, "shape", ())) != (x.shape[1],):
            raise ValueError(f"{name} must have shape ({x.shape[1]},) for an input with {x.shape[1]} channels, "
                             f"got {tuple(getattr(array, 'shape', ()))}")
    if isinstance(eps, bool) or not isinstance(eps, Real) or not eps >= 0:
        raise ValueError(f"eps must be a number >= 0, got {eps!r}")


def batch_norm_train(x, weight, bias, eps=1e-5):
    """Batch normalisation with the batch's own statistics (training mode): returns (y, saved).

        y = weight * (x - mean) / sqrt(var + eps) + bias,   mean and biased var per channel over N (and H, W)

    weight and bias are (C,) or None (then 1 and 0). saved is a BatchNormSaved, which also
    holds mean and unbiased_var for the caller's running-statistics update:
    running = (1 - momentum) * running + momentum * batch value.
    """
    xp = array_module(x)
    _check_train(x, weight, bias, eps)
    count = x.size // x.shape[1]
    if count < 2:
        raise ValueError(f"batch norm in training needs more than 1 value per channel, got input shape "
                         f"{tuple(x.shape)}")
    axes, shape = _reduce_axes(x), _per_channel(x)
    mean = x.mean(axis=axes)
    centred = x - mean.reshape(shape)
    var = (centred * centred).mean(axis=axes)
    inv_std = 1 / xp.sqrt(var + x.dtype.type(eps))
    x_hat = centred * inv_std.reshape(shape)
    y = x_hat
    if weight is not None:
        y = y * weight.astype(x.dtype, copy=False).reshape(shape)
    if bias is not None:
        y = y + bias.astype(x.dtype, copy=False).reshape(shape)
    unbiased_var = var * x.dtype.type(count / (count - 1))
    return y, BatchNormSaved(x_hat, inv_std, weight, bias, mean, var, unbiased_var)


def batch_norm_backward(grad_output, saved: BatchNormSaved):
    """Gradients of batch_norm_train, from its saved values. Returns (dL/dx, dL/dweight, dL/dbias).

    Per channel, with g = dL/dy and sums over the channel's M values:

        dL/dbias   = sum g
        dL/dweight = sum g * x_hat
        dL/dx      = weight * inv_std / M * (M * g - dL/dbias - x_hat * dL/dweight)

    (the last two terms are the gradient flowing through the batch mean and variance).
    dL/dweight or dL/dbias is None where weight or bias was None.
    """
    if tuple(grad_output.shape) != tuple(saved.x_hat.shape):
        raise ValueError(f"grad_output must have the input's shape {tuple(saved.x_hat.shape)}, "
                         f"got {tuple(grad_output.shape)}")
    axes, shape = _reduce_axes(grad_output), _per_channel(grad_output)
    dtype = grad_output.dtype
    count = grad_output.size // grad_output.shape[1]
    x_hat = saved.x_hat.astype(dtype, copy=False)
    sum_grad = grad_output.sum(axis=axes)
    sum_grad_x_hat = (grad_output * x_hat).sum(axis=axes)
    scale = saved.inv_std.astype(dtype, copy=False) / dtype.type(count)
    if saved.weight is not None:
        scale = scale * saved.weight.astype(dtype, copy=False)
    grad_x = (grad_output * dtype.type(count) - sum_grad.reshape(shape)
              - x_hat * sum_grad_x_hat.reshape(shape)) * scale.reshape(shape)
    return (grad_x, None if saved.weight is None else sum_grad_x_hat,
            None if saved.bias is None else sum_grad)


def batch_norm_eval_backward(grad_output, x, running_mean, running_var, weight=None, bias=None, eps=1e-5):
    """Gradients of the inference batch_norm (fixed running statistics): a per-channel affine map.

    With scale = weight / sqrt(running_var + eps):

        dL/dx      = g * scale
        dL/dweight = sum g * (x - running_mean) / sqrt(running_var + eps)
        dL/dbias   = sum g

    Returns (dL/dx, dL/dweight or None, dL/dbias or None). This is what saliency through a
    trained BatchNorm2d uses.
    """
    xp = array_module(grad_output)
    _check_batch_norm(x, running_mean, running_var, weight, bias, eps)
    if tuple(grad_output.shape) != tuple(x.shape):
        raise ValueError(f"grad_output must have the input's shape {tuple(x.shape)}, got {tuple(grad_output.shape)}")
    dtype, axes, shape = grad_output.dtype, _reduce_axes(x), _per_channel(x)
    inv_std = 1 / xp.sqrt(running_var.astype(dtype) + dtype.type(eps))
    scale = inv_std if weight is None else inv_std * weight.astype(dtype, copy=False)
    grad_x = grad_output * scale.reshape(shape)
    grad_weight = grad_bias = None
    if weight is not None:
        x_hat = (x.astype(dtype, copy=False) - running_mean.astype(dtype).reshape(shape)) * inv_std.reshape(shape)
        grad_weight = (grad_output * x_hat).sum(axis=axes)
    if bias is not None:
        grad_bias = grad_output.sum(axis=axes)
    return grad_x, grad_weight, grad_bias
