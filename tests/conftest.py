"""Shared fixtures: `xp` runs a test body on NumPy and, where a GPU works, on CuPy."""

import numpy as np
import pytest

from engine.backend import select_backend

_gpu = select_backend("auto")
GPU_SKIP_REASON = None if _gpu.name == "cupy" else f"CuPy not tested: {_gpu.fallback_reason}"


@pytest.fixture(params=["numpy", "cupy"])
def xp(request):
    """The array module under test; the CuPy case is skipped, with its reason, without a GPU."""
    if request.param == "numpy":
        return np
    if GPU_SKIP_REASON:
        pytest.skip(GPU_SKIP_REASON)
    import cupy

    return cupy
