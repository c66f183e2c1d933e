"""Choose the array library once: CuPy on a working GPU, NumPy otherwise.

`import cupy` succeeds on a machine without a GPU and fails only at the first
array, so `auto` runs a small smoke test on the device and keeps the reason it
fell back. `LAMINA_DEVICE=cpu|gpu|auto` (or `select_backend(...)`) overrides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

import numpy as np

DEVICE_CHOICES = ("auto", "cpu", "gpu")


@dataclass(frozen=True)
class Backend:
    """The array module in use and why it was chosen."""

    name: str  # "numpy" or "cupy"
    xp: ModuleType
    device_name: str
    fallback_reason: str | None = None


def _cupy_smoke_test() -> tuple[ModuleType | None, str]:
    """Return (cupy, device name) if a real computation on the GPU works, else (None, reason)."""
    try:
        import cupy
    except Exception as error:  # ImportError, or a broken CUDA install
        return None, f"CuPy is not importable ({type(error).__name__}: {error})"
    try:
        a = cupy.arange(16, dtype=cupy.float32).reshape(4, 4)
        if float((a @ a).sum()) != float((np.arange(16.0).reshape(4, 4) @ np.arange(16.0).reshape(4, 4)).sum()):
            return None, "CuPy smoke test gave a wrong matmul result"
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        return cupy, name
    except Exception as error:  # CUDARuntimeError without a GPU or driver
        return None, f"no usable GPU ({type(error).__name__}: {error})"


def _cpu_name() -> str:
    """The processor's model name where Linux tells it, else the machine type."""
    import platform

    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def _cpu_backend(reason: str | None) -> Backend:
    return Backend("numpy", np, _cpu_name(), reason)


def select_backend(device: str | None = None) -> Backend:
    """Pick NumPy or CuPy. `device` defaults to $LAMINA_DEVICE, then `auto`.

    `gpu` raises RuntimeError when no GPU works; `auto` falls back to NumPy and records why.
    """
    device = (device or os.environ.get("LAMINA_DEVICE") or "auto").lower()
    if device not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got {device!r}")
    if device == "cpu":
        return _cpu_backend("CPU requested (device=cpu)")
    cupy, detail = _cupy_smoke_test()
    if cupy is not None:
        return Backend("cupy", cupy, detail)
    if device == "gpu":
        raise RuntimeError(f"device=gpu was requested but {detail}")
    return _cpu_backend(detail)


_active: Backend | None = None


def get_backend() -> Backend:
    """The backend chosen for this process (chosen on first use)."""
    global _active
    if _active is None:
        _active = select_backend()
    return _active


def set_backend(device: str | None) -> Backend:
    """Choose the backend again, e.g. from a CLI flag; returns it."""
    global _active
    _active = select_backend(device)
    return _active


def array_module(x) -> ModuleType:
    """NumPy or CuPy, whichever `x` belongs to (NumPy for anything that is not a CuPy array)."""
    if type(x).__module__.startswith("cupy"):
        import cupy

        return cupy
    return np


def asarray(x, dtype=np.float32):
    """Move host data onto the active backend as a contiguous array of `dtype`."""
    xp = get_backend().xp
    return xp.ascontiguousarray(xp.asarray(x, dtype=dtype))


def to_numpy(x) -> np.ndarray:
    """The one way out to the host: a NumPy array from a NumPy or CuPy array."""
    if type(x).__module__.startswith("cupy"):
        return x.get()
    return np.asarray(x)
