"""Backend choice: CPU on request, GPU only when a smoke test passes, a clear error otherwise."""

import numpy as np
import pytest

from engine.backend import array_module, select_backend, to_numpy
from tests.conftest import GPU_SKIP_REASON


def test_cpu_is_numpy_and_says_it_was_requested():
    backend = select_backend("cpu")
    assert backend.name == "numpy" and backend.xp is np
    assert "requested" in backend.fallback_reason and backend.device_name


def test_auto_falls_back_with_a_reason_when_no_gpu_works():
    backend = select_backend("auto")
    if GPU_SKIP_REASON:
        assert backend.name == "numpy" and backend.fallback_reason
    else:
        assert backend.name == "cupy" and backend.fallback_reason is None


@pytest.mark.skipif(not GPU_SKIP_REASON, reason="a GPU works here")
def test_gpu_request_without_a_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="device=gpu was requested but"):
        select_backend("gpu")


def test_environment_variable_overrides_and_bad_values_are_rejected(monkeypatch):
    monkeypatch.setenv("LAMINA_DEVICE", "cpu")
    assert select_backend().fallback_reason == "CPU requested (device=cpu)"
    monkeypatch.setenv("LAMINA_DEVICE", "tpu")
    with pytest.raises(ValueError, match="auto, cpu, gpu"):
        select_backend()


def test_array_module_and_to_numpy(xp):
    x = xp.arange(3, dtype=xp.float32)
    assert array_module(x) is xp
    host = to_numpy(x)
    assert isinstance(host, np.ndarray) and host.tolist() == [0, 1, 2]
