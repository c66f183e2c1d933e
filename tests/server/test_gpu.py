"""The server on the GPU: every built-in network gives, layer by layer, what it gives on the CPU.

The engine's tests run each op on CuPy; this runs the product's own path (a request in, the
network on the server's backend, a .npy file out) with `device="gpu"`. Skipped, with the
reason, where no GPU works.
"""

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engine.backend import get_backend, set_backend
from engine.models import BUILTIN_MODELS
from server.app import create_app
from server.settings import Settings
from server.wire import array_to_json
from tests.conftest import GPU_SKIP_REASON

pytestmark = pytest.mark.skipif(GPU_SKIP_REASON is not None, reason=str(GPU_SKIP_REASON))


@pytest.fixture(autouse=True)
def keep_the_backend():
    """These tests switch the process's backend; later tests get back the one they had."""
    before = get_backend()
    yield
    set_backend("cpu" if before.name == "numpy" else "gpu")


def _every_layer(device: str, name: str, x: np.ndarray) -> list[np.ndarray]:
    """Each layer's output of built-in network `name` on input `x`, downloaded from a server on `device`."""
    with TestClient(create_app(Settings(device=device))) as client:
        assert client.get("/api/health").json()["backend"] == ("cupy" if device == "gpu" else "numpy")
        outputs = []
        for index in range(len(BUILTIN_MODELS[name].spec_layers)):
            response = client.post(f"/api/runs/layers/{index}.npy",
                                   json={"network": name, "input": {"array": array_to_json(x)}})
            assert response.status_code == 200, response.text
            outputs.append(np.load(io.BytesIO(response.content), allow_pickle=False))
        return outputs


@pytest.mark.parametrize("name", list(BUILTIN_MODELS))
def test_every_builtin_network_gives_the_same_layers_on_gpu_and_cpu(name):
    x = np.random.default_rng(0).random(BUILTIN_MODELS[name].input_shape(), dtype=np.float32)
    on_gpu, on_cpu = _every_layer("gpu", name, x), _every_layer("cpu", name, x)
    assert len(on_gpu) == len(on_cpu) == len(BUILTIN_MODELS[name].spec_layers)
    for index, (gpu, cpu) in enumerate(zip(on_gpu, on_cpu)):
        assert gpu.dtype == cpu.dtype == np.float32 and gpu.shape == cpu.shape, index
        scale = max(1.0, float(np.abs(cpu).max()))
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-4 * scale, err_msg=f"layer {index}")
