"""HTTP API: health, layer catalogue, kernel presets, built-in models."""

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engine.layers import LAYER_TYPES
from engine.models import BUILTIN_MODELS, load_model
from server.app import create_app
from server.settings import Settings


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(device="cpu"))) as client:
        yield client


def test_health_names_the_backend_and_why_it_fell_back(client):
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["backend"] == "numpy"
    assert "cpu" in body["fallback_reason"].lower() and body["version"]


def test_layer_catalogue_has_every_kind_with_parameter_schemas(client):
    layers = client.get("/api/layers").json()
    assert [layer["kind"] for layer in layers] == list(LAYER_TYPES)
    conv = client.get("/api/layers/Conv2d").json()
    kernel = next(p for p in conv["params"] if p["name"] == "kernel_size")
    assert kernel["type"] == "pair" and kernel["minimum"] == 1 and kernel["default"] == 3
    assert "Σ" in conv["formula"] and conv["summary"]
    missing = client.get("/api/layers/Conv3d")
    assert missing.status_code == 404 and "Conv2d" in missing.json()["detail"]


def test_kernel_presets_at_a_size(client):
    presets = client.get("/api/kernels", params={"size": 5}).json()
    assert np.array(presets["identity"]).shape == (5, 5) and np.array(presets["identity"]).sum() == 1
    np.testing.assert_allclose(np.array(presets["gaussian"]).sum(), 1.0, rtol=1e-5)
    assert client.get("/api/kernels", params={"size": 4}).status_code == 422


def test_models_list_and_spec(client):
    models = client.get("/api/models").json()
    assert {m["name"] for m in models} == set(BUILTIN_MODELS)
    cnn = client.get("/api/models/digits-cnn").json()
    assert cnn["input_size"] == [28, 28] and cnn["class_names"][3] == "3"
    assert [layer["kind"] for layer in cnn["spec"]["layers"]][:3] == ["Conv2d", "ReLU", "MaxPool2d"]
    assert client.get("/api/models/nope").status_code == 404


def test_models_say_what_they_read_and_how_they_were_trained(client):
    models = {m["name"]: m for m in client.get("/api/models").json()}
    assert models["digits-lstm"]["input_kind"] == "sequence" and models["digits-lstm"]["input_shape"] == [28, 28]
    assert models["digits-cnn"]["input_kind"] == "image" and models["digits-cnn"]["input_shape"] == [1, 28, 28]
    card = models["digits-cnn"]["card"]
    assert models["digits-cnn"]["trained"] and card["held_out_score"] >= 97 and card["seed"] == 0
    assert models["tiny-vgg"]["card"] is None and not models["tiny-vgg"]["trained"]


@pytest.mark.parametrize("name", list(BUILTIN_MODELS))
def test_every_builtin_runs_on_its_input_size(name):
    info = BUILTIN_MODELS[name]
    x = np.random.default_rng(0).random((1, *info.input_shape()), dtype=np.float32)
    records = list(load_model(name).run(x))
    assert records and all(np.isfinite(r.output).all() for r in records)
    if info.class_names:  # sequence networks give scores after every step
        assert records[-1].output_shape[-1] == len(info.class_names)


def test_edge_detectors_respond_to_a_vertical_edge():
    x = np.zeros((1, 1, 256, 256), np.float32)
    x[..., 128:] = 1.0
    conv = load_model("edges")["edges"](x)
    sobel_x = conv[0, 0]
    assert sobel_x[:, 125:131].max() > 1.0 and np.abs(sobel_x[:, 20:100]).max() == 0.0


def test_every_page_says_what_computes_and_why_not_a_gpu(client):
    device = client.get("/api/health").json()["device"]
    page = client.get("/").text
    assert f'Computing with <strong id="backend-name">numpy</strong> on {device}<span' in page  # no space before ","
    assert ">, not a GPU: CPU requested (device=cpu)</span>" in page


def test_the_download_ignores_the_fields_its_documentation_names(client):
    """docs/protocol.md and /docs: `id`, `type`, `encoding`, `kernels`, `explain`, `trace` and `saliency`."""
    body = {"network": "digits-cnn", "input": {"sample": "digit-3"}}
    plain = client.post("/api/runs/layers/0.npy", json=body)
    assert plain.status_code == 200
    ignored = {"id": "x", "type": "run", "encoding": "float16", "kernels": True, "explain": [99, [0]],
               "trace": True, "saliency": 1}
    assert client.post("/api/runs/layers/0.npy", json={**body, **ignored}).content == plain.content
    assert client.post("/api/runs/layers/0.npy", json={**body, "type": "cancel"}).status_code == 422
