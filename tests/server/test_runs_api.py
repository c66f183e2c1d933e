"""POST /api/runs/layers/{index}.npy: any layer's output of a run as a .npy file."""

import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engine.models import load_model
from engine.shapes import QUOTED_CHARS
from engine.spec import network_from_spec
from server.app import create_app
from server.settings import Settings
from server.wire import array_to_json

DIGIT = np.random.default_rng(0).uniform(0, 1, (1, 28, 28)).astype(np.float32)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(device="cpu"))) as client:
        yield client


def _load(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    return np.load(io.BytesIO(response.content), allow_pickle=False)


@pytest.mark.parametrize("index, name", [(0, "conv1"), (3, "conv2"), (8, "probabilities"), (-1, "probabilities"),
                                         (-3, "flatten")])
def test_builtin_layer_output_equals_the_engine(client, index, name):
    response = client.post(f"/api/runs/layers/{index}.npy",
                           json={"network": "digits-cnn", "input": {"array": array_to_json(DIGIT)}})
    array = _load(response)
    network = load_model("digits-cnn")
    position = index % len(network)
    expected = [record.output for record in network.run(DIGIT[None])][position]
    assert array.dtype == np.float32 and array.shape == expected.shape
    np.testing.assert_array_equal(array, expected)
    assert response.headers["content-disposition"] == f'attachment; filename="digits-cnn-{position}-{name}.npy"'


def test_a_page_request_with_saliency_and_trace_downloads_any_layer(client):
    """The pages download with the request they ran: its saliency and trace fields do not stop a middle layer."""
    body = {"network": "digits-cnn", "input": {"array": array_to_json(DIGIT)}, "saliency": -1, "trace": True}
    array = _load(client.post("/api/runs/layers/3.npy", json=body))
    np.testing.assert_array_equal(array, [r.output for r in load_model("digits-cnn").run(DIGIT[None])][3])


def test_spec_and_single_layer_downloads(client):
    spec = {"name": "my net/v2", "input_shape": [1, 12, 12], "layers": [
        {"kind": "Conv2d", "params": {"out_channels": 3, "kernel_size": 5}}, {"kind": "Tanh"}]}
    x = np.random.default_rng(1).standard_normal((1, 12, 12)).astype(np.float32)
    response = client.post("/api/runs/layers/1.npy", json={"network": spec, "input": {"array": array_to_json(x)}})
    np.testing.assert_array_equal(_load(response), network_from_spec(spec)(x[None]))
    assert 'filename="my_net_v2-1-tanh1.npy"' in response.headers["content-disposition"]

    kernel = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    layer = {"kind": "Conv2d", "params": {"out_channels": 1, "kernel_size": 3, "bias": False},
             "weights": {"weight": array_to_json(kernel)}}
    output = _load(client.post("/api/runs/layers/0.npy", json={"layer": layer, "input": {"array": array_to_json(x)}}))
    expected = sum(kernel[0, 0, p, q] * x[0, p:p + 10, q:q + 10] for p in range(3) for q in range(3))
    np.testing.assert_allclose(output[0, 0], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("index, body, expected", [
    (0, {"network": "lenet", "input": {"sample": "dot"}}, "unknown built-in network 'lenet'"),
    (9, {"network": "digits-cnn", "input": {"sample": "dot"}},
     "layer index 9 is out of range: network 'digits-cnn' has 9 layers (0 to 8, or -1 for the last)"),
    (0, {"network": "digits-cnn", "input": {"sample": "no-such"}}, "unknown sample 'no-such'"),
])
def test_bad_requests_get_422_with_the_reason(client, index, body, expected):
    response = client.post(f"/api/runs/layers/{index}.npy", json=body)
    assert response.status_code == 422 and expected in response.json()["detail"]


def test_invalid_body_gets_422(client):
    response = client.post("/api/runs/layers/0.npy", json={"network": "digits-cnn"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "input"]


def test_a_non_finite_number_in_an_invalid_field_gets_422_not_500(client):
    body = b'{"network": "digits-cnn", "input": {"sample": "dot"}, "saliency": NaN}'
    response = client.post("/api/runs/layers/0.npy", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "saliency"]


@pytest.mark.parametrize("depth", [20, 500, 900])
def test_a_deeply_nested_invalid_field_gets_422_quoting_at_most_the_start_of_it(client, depth):
    body = '{"network": "digits-cnn", "input": {"sample": "dot"}, "extra": ' + "[" * depth + "]" * depth + "}"
    response = client.post("/api/runs/layers/0.npy", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "extra"] and error["msg"] == "Extra inputs are not permitted"
    if depth == 20:
        assert json.dumps(error["input"]) == "[" * 20 + "]" * 20  # short: quoted whole
    else:
        assert error["input"] == "[" * QUOTED_CHARS + f"… ({2 * depth:,} characters)"


def test_a_long_value_is_quoted_short_in_the_error(client):
    layer = {"kind": "Conv2d", "params": {"padding_mode": "a" * 100_000}}
    response = client.post("/api/runs/layers/0.npy", json={"layer": layer, "input": {"sample": "dot"}})
    assert response.status_code == 422
    assert response.json()["detail"] == ("layer 0 (Conv2d): field 'padding_mode' must be one of ['zeros', 'reflect', "
                                         f"'replicate', 'circular'], got '{'a' * 59}… (100,002 characters)")


@pytest.mark.parametrize("body, expected", [
    ('{"network": ' + "[" * 100_000 + "]" * 100_000 + "}", "the body is not valid JSON (RecursionError"),
    ('{"network": "digits-cnn", "input": {"fit": ' + "9" * 5000 + "}}",
     "the body is not valid JSON (ValueError: Exceeds"),
    (b'{"network": "digits-cnn\xff"}', "the body is not valid JSON (UnicodeDecodeError"),
])
def test_a_body_json_cannot_parse_gets_400_saying_why(client, body, expected):
    """FastAPI's own answer was "There was an error parsing the body"."""
    answer = client.post("/api/runs/layers/0.npy", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["detail"].startswith(expected)


def test_a_body_over_the_message_limit_is_413_before_it_is_read():
    with TestClient(create_app(Settings(device="cpu", max_message_bytes=1000))) as client:
        body = {"network": "digits-cnn", "input": {"sample": "dot"}, "id": "x" * 2000}
        response = client.post("/api/runs/layers/0.npy", json=body)
        assert response.status_code == 413
        assert "the limit is 1,000 bytes (max_message_bytes)" in response.json()["detail"]
        chunks = iter([b'{"network": "digits-cnn", ', b" " * 2000, b'"input": {"sample": "dot"}}'])
        streamed = client.post("/api/runs/layers/0.npy", content=chunks, headers={"content-type": "application/json"})
        assert streamed.status_code == 413, streamed.text
        assert client.post("/api/runs/layers/0.npy", json={"network": "digits-cnn",
                                                           "input": {"sample": "dot"}}).status_code == 200


def test_planning_a_download_waits_for_a_run_slot():
    """Planning builds the network, so it holds a slot: with none free, even a bad spec is 503."""
    spec = {"input_shape": [1, 8, 8], "layers": [{"kind": "Conv2d", "params": {"kernel_size": 9}}]}
    with TestClient(create_app(Settings(device="cpu", max_concurrent_runs=0))) as client:
        response = client.post("/api/runs/layers/0.npy", json={"network": spec, "input": {"sample": "dot"}})
    assert response.status_code == 503


def test_limits_apply_up_to_the_requested_layer():
    with TestClient(create_app(Settings(device="cpu", max_work_flops=60_000))) as client:
        body = {"network": "digits-cnn", "input": {"sample": "dot"}}
        assert client.post("/api/runs/layers/0.npy", json=body).status_code == 200  # conv1: 56,448
        response = client.post("/api/runs/layers/1.npy", json=body)
        assert response.status_code == 422
        assert "62,720 multiply-adds; the limit is 60,000 per run" in response.json()["detail"]


def test_busy_gets_503():
    with TestClient(create_app(Settings(device="cpu", max_concurrent_runs=0))) as client:
        response = client.post("/api/runs/layers/0.npy", json={"network": "digits-cnn", "input": {"sample": "dot"}})
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["detail"].startswith("server busy: 0 runs already computing")
