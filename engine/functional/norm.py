"""Batch normalisation at inference, as `torch.nn.functional.batch_norm` with training=False."""

from __future__ import annotations

from numbers import Real

from engine.backend import array_module


def _check_batch_norm(x, running_mean, running_var, weight, bias, eps) -> None:
    """Raise ValueError unless x is (N, C, ...) and every statistic or parameter is (C,)."""
    if not hasattr(x, "dtype") or not hasattr(x, "ndim"):
        raise ValueError(f"input must be an array, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise ValueError(f"input must be a floating-point array (float32), got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"input must be (N, C) or (N, C, ...) with channels on axis 1, got shape {tuple(x.shape)}")
    channels = x.shape[1]
    named = (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias))
    for name, array in named:
        if array is None and name in ("weight", "bias"):
            continue
        if not hasattr(array, "shape") or tuple(array.shape) != (channels,):
            shape = tuple(array.shape) if hasattr(array, "shape") else type(array).__name__
            raise ValueError(f"{name} must have shape ({channels},) for an input with {channels} channels, "
                             f"got {shape}")
    if isinstance(eps, bool) or not isinstance(eps, Real) or not eps >= 0:
        raise ValueError(f"eps must be a number >= 0, got {eps!r}")


def batch_norm(x, running_mean, running_var, weight=None, bias=None, eps=1e-5):
    """Normalise each channel with stored statistics (inference), for (N, C) or (N, C, H, W) input:

        y[n, c, ...] = (x[n, c, ...] - mean[c]) / sqrt(var[c] + eps) * weight[c] + bias[c]

    weight defaults to 1 and bias to 0. As PyTorch does at inference, this is computed
    as y = x * scale + shift with scale = weight / sqrt(var + eps) and
    shift = bias - mean * scale, folded once per channel.

    The signature is torch's without `training` and `momentum` (inference only), so
    eps is the sixth argument here; pass it by keyword to be safe.
    """
    xp = array_module(x)
    _check_batch_norm(x, running_mean, running_var, weight, bias, eps)
    scale = 1 / xp.sqrt(running_var.astype(x.dtype) + x.dtype.type(eps))
    if weight is not None:
        scale = scale * weight.astype(x.dtype)
    shift = -running_mean.astype(x.dtype) * scale
    if bias is not None:
        shift = shift + bias.astype(x.dtype)
    per_channel = (x.shape[1],) + (1,) * (x.ndim - 2)  # broadcast over N and the spatial axes
    return x * scale.reshape(per_channel) + shift.reshape(per_channel)
