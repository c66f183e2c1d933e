"""Helpers shared by the gradient tests: torch autograd references, finite differences, comparisons."""

from __future__ import annotations

import numpy as np
import torch

from engine.backend import to_numpy

RTOL = 1e-4


def assert_close(ours, reference, rtol=RTOL, atol_scale=1e-5, dtype=np.float32):
    """Shape and dtype first, then allclose with an atol scaled to the reference's magnitude."""
    ours, reference = to_numpy(ours), np.asarray(reference)
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    if dtype is not None:
        assert ours.dtype == dtype, ours.dtype
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    np.testing.assert_allclose(ours, reference, rtol=rtol, atol=atol_scale * scale + 1e-30)


def torch_backward(function, arrays, grad_output=None, seed=12345):
    """Run `function` on torch copies of `arrays` (requires_grad) and back-propagate grad_output.

    grad_output defaults to seeded standard-normal values of the output's shape. Returns
    (output, grad_output, [gradient of each array]) as NumPy arrays (None for an array without gradient).
    """
    tensors = [torch.tensor(to_numpy(a), requires_grad=True) for a in arrays]
    output = function(*tensors)
    if grad_output is None:
        grad_output = np.random.default_rng(seed).standard_normal(tuple(output.shape)).astype(np.float32)
    output.backward(torch.tensor(to_numpy(grad_output)))
    grads = [None if t.grad is None else t.grad.numpy() for t in tensors]
    return output.detach().numpy(), to_numpy(grad_output), grads


def numeric_gradient(function, arrays, which: int, grad_output, eps=1e-6):
    """d/d arrays[which] of sum(function(*arrays) * grad_output), by central differences (float64 arrays)."""
    target = arrays[which]
    grad = np.zeros(target.shape, dtype=np.float64)
    for index in np.ndindex(*target.shape):
        saved = target[index].item()  # a Python float: CuPy's target[index] is a view that the next line would change
        target[index] = saved + eps
        plus = float((to_numpy(function(*arrays)) * to_numpy(grad_output)).sum())
        target[index] = saved - eps
        minus = float((to_numpy(function(*arrays)) * to_numpy(grad_output)).sum())
        target[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def assert_matches_finite_differences(function, arrays, grads, grad_output, rtol=1e-6, atol=1e-7):
    """Each computed gradient in `grads` (None to skip one) against central differences of `function`."""
    for which, grad in enumerate(grads):
        if grad is None:
            continue
        expected = numeric_gradient(function, arrays, which, grad_output)
        ours = to_numpy(grad)
        assert ours.shape == expected.shape and ours.dtype == np.float64, (ours.shape, ours.dtype)
        np.testing.assert_allclose(ours, expected, rtol=rtol, atol=atol, err_msg=f"argument {which}")


def seeded(shape, seed, dtype=np.float32, scale=1.0):
    """Standard-normal values of `shape` from a seed."""
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)
