"""The streaming WebSocket /ws/run, driven by a client that decodes every frame back into arrays."""

import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from starlette.websockets import WebSocketDisconnect

from engine.models import BUILTIN_MODELS, DIGIT_READER_HIDDEN, load_model
from engine.spec import network_from_spec
from server import runs
from server.app import create_app
from server.inputs import resolve_input
from server.settings import Settings
from server.shared_runs import RunShares
from server.wire import EXACT_VALUES, array_from_json, array_to_json, decode

TENSOR_MESSAGES = ("input", "layer", "kernel", "trace", "saliency")  # each is followed by exactly one binary frame
LAST_MESSAGES = ("done", "error", "cancelled")
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)


# ---- a client ------------------------------------------------------------------------------------

def _strict_json(text: str) -> dict:
    def refuse(constant):
        raise AssertionError(f"the server sent {constant} in JSON")

    return json.loads(text, parse_constant=refuse)


def receive(ws) -> tuple[dict, bytes | None]:
    """One message: a JSON header and, for tensors, the binary frame that must follow it at once."""
    message = ws.receive()
    assert message.get("text") is not None, f"expected a JSON text message, got {message}"
    header = _strict_json(message["text"])
    if header["type"] not in TENSOR_MESSAGES:
        return header, None
    frame = ws.receive()
    assert frame.get("bytes") is not None, f"a {header['type']} header must be followed by a binary frame"
    return header, frame["bytes"]


def run_messages(ws, run_id) -> list[tuple[dict, bytes | None]]:
    """Every message up to and including the last one of run `run_id` (done, error or cancelled)."""
    messages = []
    while True:
        header, payload = receive(ws)
        messages.append((header, payload))
        if header.get("id") == run_id and header["type"] in LAST_MESSAGES:
            return messages


def layers_of(messages, run_id) -> list[tuple[dict, np.ndarray]]:
    return [(h, decode(h, p)) for h, p in messages if h["type"] == "layer" and h["id"] == run_id]


def last_of(messages) -> dict:
    return messages[-1][0]


def connect(client):
    return client.websocket_connect("/ws/run")


def app_client(**limits) -> TestClient:
    return TestClient(create_app(Settings(device="cpu", **limits)))


def array_input(x: np.ndarray) -> dict:
    return {"array": array_to_json(x)}


def assert_close_to_encoding(decoded: np.ndarray, header: dict, expected: np.ndarray) -> None:
    """float32 (small tensors): float32 rounding; float16: relative 1e-3; uint8: within half a step of the
    channel's scale."""
    assert decoded.shape == expected.shape and decoded.dtype == np.float32
    assert header["encoding"] == ("float32" if expected.size <= EXACT_VALUES else header["encoding"])
    if header["encoding"] == "float32":
        np.testing.assert_allclose(decoded, expected, rtol=1e-6, atol=1e-7)
        return
    if header["encoding"] == "float16":
        np.testing.assert_allclose(decoded, expected, rtol=1e-3, atol=1e-6)
        return
    shape = [1] * expected.ndim
    if header["channel_axis"] is not None:
        shape[header["channel_axis"]] = -1
    bound = np.asarray(header["scales"]).reshape(shape) / 2 + 1e-6 * np.abs(expected) + 1e-7
    assert np.all(np.abs(decoded - expected) <= bound)


@pytest.fixture(scope="module")
def client():
    with app_client() as client:
        yield client


@pytest.fixture
def gate(monkeypatch):
    """Holds the run whose id is "slow" before each of its layers after the first, until `gate.set()` or
    until that run is cancelled (then the step finds the cancellation and computes nothing)."""
    release = threading.Event()
    original = runs.Execution.step

    def step(self):
        if self.plan.request.id == "slow" and self.layers_done >= 1:
            while not release.wait(0.005) and not self.cancel.is_set():
                pass
        return original(self)

    monkeypatch.setattr(runs.Execution, "step", step)
    # one computation per request here: a finished or running identical request would otherwise be shared
    monkeypatch.setattr(RunShares, "can_share", lambda self, plan: False)
    yield release
    release.set()


def _digit() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1, (1, 28, 28)).astype(np.float32)


# ---- round trips ----------------------------------------------------------------------------------

def test_hello_names_the_backend_and_the_limits(client):
    with connect(client) as ws:
        hello, _ = receive(ws)
    assert hello["type"] == "hello" and hello["backend"] == "numpy" and hello["protocol"] == 1
    assert hello["encodings"] == ["float16", "uint8"]
    assert hello["limits"]["max_work_flops"] == Settings().max_work_flops


@pytest.mark.parametrize("encoding", ["float16", "uint8"])
def test_builtin_network_streams_every_layer_equal_to_the_engine(client, encoding):
    x = _digit()
    expected = [record.output for record in load_model("digits-cnn").run(x[None])]
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "r1", "network": "digits-cnn", "input": array_input(x),
                      "encoding": encoding})
        messages = run_messages(ws, "r1")
    kinds = [h["type"] for h, _ in messages]
    assert kinds == ["start", "input"] + ["layer"] * len(expected) + ["done"]
    start, done = messages[0][0], last_of(messages)
    assert start["network"] == "digits-cnn" and [layer["name"] for layer in start["layers"]][:2] == ["conv1", "relu1"]
    assert done["layers"] == len(expected) and done["total_ms"] >= done["compute_ms"] > 0
    assert done["shared"] is False  # computed for this request
    input_header, input_payload = messages[1]
    assert_close_to_encoding(decode(input_header, input_payload), input_header, x[None])
    network = load_model("digits-cnn")
    for (header, decoded), want, (name, layer) in zip(layers_of(messages, "r1"), expected, network.layers):
        assert header["name"] == name and header["kind"] == layer.kind
        assert header["encoding"] == ("float32" if want.size <= EXACT_VALUES else encoding)
        assert header["shape"] == list(want.shape) and header["ms"] >= 0 and header["flops"] > 0
        assert header["stats"]["max"] == pytest.approx(float(want.max()))
        assert_close_to_encoding(decoded, header, want)


def test_sample_input_is_converted_to_the_networks_channels_and_size(client):
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": 7, "network": "tiny-vgg", "input": {"sample": "camera"},
                      "encoding": "float16"})
        messages = run_messages(ws, 7)
    input_header, payload = messages[1]
    assert input_header["shape"] == [1, 3, 64, 64] and last_of(messages)["type"] == "done"
    x = decode(input_header, payload)
    np.testing.assert_allclose(x[0, 0], x[0, 2], atol=1e-3)  # a grayscale photo repeated into RGB


def test_spec_network_round_trip(client):
    spec = {"name": "small", "input_shape": [3, 16, 16], "layers": [
        {"kind": "Conv2d", "name": "conv", "params": {"out_channels": 4, "kernel_size": 3, "stride": 2}},
        {"kind": "ReLU"}, {"kind": "MaxPool2d", "params": {"kernel_size": 2}}, {"kind": "Flatten"},
        {"kind": "Linear", "params": {"out_features": 5}}]}
    x = np.random.default_rng(1).standard_normal((3, 16, 16)).astype(np.float32)
    expected = [r.output for r in network_from_spec(spec).run(x[None])]
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "s", "network": spec, "input": array_input(x), "encoding": "float16"})
        messages = run_messages(ws, "s")
    received = layers_of(messages, "s")
    assert [h["name"] for h, _ in received] == ["conv", "relu1", "maxpool2d2", "flatten3", "linear4"]
    for (header, decoded), want in zip(received, expected):
        assert_close_to_encoding(decoded, header, want)


def _cross_correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """A valid 2-D cross-correlation with plain loops (the independent reference)."""
    kh, kw = kernel.shape
    out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = sum(image[i + p, j + q] * kernel[p, q] for p in range(kh) for q in range(kw))
    return out


@pytest.mark.parametrize("encoding", ["float16", "uint8"])
def test_single_layer_with_given_kernel_values_and_kernel_frames(client, encoding):
    x = np.random.default_rng(2).uniform(0, 1, (1, 70, 66)).astype(np.float32)  # output larger than EXACT_VALUES
    weights = {"weight": array_to_json(SOBEL_X[None, None]), "bias": array_to_json(np.array([0.5], np.float32))}
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "k", "input": array_input(x), "encoding": encoding, "kernels": True,
                      "layer": {"kind": "Conv2d", "name": "sobel",
                                "params": {"out_channels": 1, "kernel_size": 3}, "weights": weights}})
        messages = run_messages(ws, "k")
    [(header, decoded)] = layers_of(messages, "k")
    assert header["name"] == "sobel" and header["input_shape"] == [1, 1, 70, 66] and header["shape"] == [1, 1, 68, 64]
    assert_close_to_encoding(decoded, header, (_cross_correlate(x[0], SOBEL_X) + 0.5)[None, None].astype(np.float32))
    kernels = {h["param"]: decode(h, p) for h, p in messages if h["type"] == "kernel"}
    assert set(kernels) == {"weight", "bias"}
    # kernels are small tensors, sent exactly whatever the run's encoding
    np.testing.assert_array_equal(kernels["weight"], SOBEL_X[None, None])
    np.testing.assert_array_equal(kernels["bias"], [0.5])


def test_single_layer_infers_its_input_size_from_a_sequence(client):
    x = np.random.default_rng(3).standard_normal((900, 4)).astype(np.float32)  # output larger than EXACT_VALUES
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "seq", "input": array_input(x),
                      "layer": {"kind": "LSTM", "params": {"hidden_size": 5}}})
        messages = run_messages(ws, "seq")
    spec = {"input_shape": [900, 4], "layers": [{"kind": "LSTM", "params": {"hidden_size": 5}}]}
    expected = network_from_spec(spec)(x[None])
    [(header, decoded)] = layers_of(messages, "seq")
    assert header["shape"] == [1, 900, 5] and header["channel_axis"] == 2 and len(header["scales"]) == 5  # per unit
    assert_close_to_encoding(decoded, header, expected)


def test_explain_sends_the_window_weights_and_products(client):
    x = _digit()
    network = load_model("digits-cnn")
    index = (0, 2, 10, 11)
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "e", "network": "digits-cnn", "input": array_input(x),
                      "explain": [0, list(index)]})
        messages = run_messages(ws, "e")
    kinds = [h["type"] for h, _ in messages]
    assert kinds.index("explain") == kinds.index("layer") + 1  # right after layer 0
    explain = next(h for h, _ in messages if h["type"] == "explain")
    assert explain["index"] == 0 and explain["name"] == "conv1" and explain["output_index"] == list(index)
    window = array_from_json(explain["window"], "window")
    weights = array_from_json(explain["weights"], "weights")
    np.testing.assert_array_equal(window[0], x[0, 9:12, 10:13])  # padding 1: output (10, 11) reads rows 9..11
    np.testing.assert_array_equal(weights, network.layers[0][1].weight[2])
    np.testing.assert_allclose(array_from_json(explain["products"], "products"), window * weights)
    expected = next(network.run(x[None])).output[index]
    assert explain["output"] == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize("layer, shape, index", [
    ({"kind": "MaxPool2d", "params": {"kernel_size": 2, "padding": 1}}, (2, 5, 5), [0, 1, 0, 2]),
    ({"kind": "LSTM", "params": {"hidden_size": 3}}, (4, 2), [0, 2, 1]),
    ({"kind": "Linear", "params": {"out_features": 3}}, (6,), [0, 2]),
])
def test_explain_of_other_kinds_is_strict_json(client, layer, shape, index):
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "e", "layer": layer, "input": array_input(x), "encoding": "float16",
                      "explain": [0, index]})
        messages = run_messages(ws, "e")
    explain = next(h for h, _ in messages if h["type"] == "explain")
    [(_, output)] = layers_of(messages, "e")
    assert explain["kind"] == layer["kind"] and explain["output_index"] == index
    assert explain["output"] == pytest.approx(float(output[tuple(index)]), rel=1e-3)
    if layer["kind"] == "MaxPool2d":
        window = array_from_json(explain["window"], "window")
        assert np.isnan(window).any() and window.reshape(-1)[explain["winner"]] == explain["output"]
    if layer["kind"] == "LSTM":
        assert set(explain["extra"]["gates"]) == {"input", "forget", "cell", "output"}


def test_uploaded_image_as_input(client):
    buffer = io.BytesIO()
    Image.fromarray(np.tile(np.arange(0, 256, 8, dtype=np.uint8), (20, 1))).save(buffer, format="PNG")
    upload = client.post("/api/images", files={"file": ("ramp.png", buffer.getvalue(), "image/png")})
    assert upload.status_code == 201, upload.text
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "u", "network": "edges", "input": {"image_id": upload.json()["image_id"]},
                      "encoding": "float16"})
        messages = run_messages(ws, "u")
    header = messages[1][0]
    assert header["type"] == "input" and header["shape"] == [1, 1, 256, 256]
    assert last_of(messages)["type"] == "done"


def test_a_single_layer_reads_a_sample_fitted_converted_and_signed_as_asked(client):
    """What the Layer lab sends for a photo: the server resizes and converts it (no copy is uploaded)."""
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "f", "layer": {"kind": "ReLU", "params": {}}, "encoding": "float16",
                      "input": {"sample": "chelsea", "fit": 64, "channels": 1, "signed": True}})
        messages = run_messages(ws, "f")
    header, payload = messages[1]
    assert header["type"] == "input" and header["shape"] == [1, 1, 43, 64]
    x = decode(header, payload)
    expected = resolve_input({"sample": "chelsea", "fit": 64, "channels": 1}, uploads=None, settings=Settings(),
                             channels=None, size=None)
    np.testing.assert_allclose(x, 2 * expected - 1, atol=1e-3)  # float16 on the wire
    assert x.min() < -0.5 and x.max() > 0.5  # signed: [-1, 1]
    (_, relu), = layers_of(messages, "f")
    np.testing.assert_array_equal(relu, np.maximum(x, 0))


def test_requests_never_change_a_shared_network(client):
    x = _digit()
    layer = {"kind": "Conv2d", "params": {"out_channels": 1, "kernel_size": 3}}
    custom = {**layer, "weights": {"weight": array_to_json(np.full((1, 1, 3, 3), 9.0, np.float32))}}
    outputs = []
    with connect(client) as ws:
        receive(ws)
        for run_id, request_layer in (("a", layer), ("b", custom), ("c", layer)):
            ws.send_json({"type": "run", "id": run_id, "layer": request_layer, "input": array_input(x),
                          "encoding": "float16"})
            outputs.append(layers_of(run_messages(ws, run_id), run_id)[0][1])
    np.testing.assert_array_equal(outputs[0], outputs[2])
    assert not np.allclose(outputs[0], outputs[1])


def test_nan_in_an_activation_stays_out_of_json(client):
    x = np.ones((1, 4, 4), np.float32)
    x[0, 1, 2] = np.nan
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "n", "input": array_input(x), "encoding": "float16",
                      "layer": {"kind": "ReLU"}})
        messages = run_messages(ws, "n")  # receive() parses every text strictly
    [(header, decoded)] = layers_of(messages, "n")
    assert header["stats"]["non_finite"] == 1 and header["non_finite"] == 1
    assert np.isnan(decoded[0, 0, 1, 2]) and np.nansum(decoded) == 15


# ---- cancellation -----------------------------------------------------------------------------------

def test_a_newer_request_cancels_the_older_one_at_a_layer_boundary(client, gate):
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "slow", "network": "digits-cnn", "input": array_input(_digit())})
        first = []
        while not any(h["type"] == "layer" for h, _ in first):
            first.append(receive(ws))  # layer 0 arrives; layer 1 waits at the gate
        ws.send_json({"type": "run", "id": "fast", "network": "digits-cnn", "input": array_input(_digit())})
        messages = run_messages(ws, "fast")
        gate.set()
    slow_after = [h for h, _ in messages if h.get("id") == "slow"]
    assert [h["type"] for h in slow_after] == ["cancelled"]
    assert messages[0][0] == {"type": "cancelled", "id": "slow"}
    assert last_of(messages)["type"] == "done" and len(layers_of(messages, "fast")) == 9


def test_cancel_message_stops_the_run(client, gate):
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "slow", "network": "digits-cnn", "input": array_input(_digit())})
        while receive(ws)[0]["type"] != "layer":
            pass
        ws.send_json({"type": "cancel", "id": "other"})  # not the current run: ignored
        ws.send_json({"type": "cancel", "id": "slow"})
        header, _ = receive(ws)
        gate.set()
        assert header == {"type": "cancelled", "id": "slow"}
        ws.send_json({"type": "run", "id": "next", "layer": {"kind": "ReLU"}, "input": array_input(_digit())})
        assert [h["type"] for h, _ in run_messages(ws, "next")] == ["start", "input", "layer", "done"]


def test_two_quick_requests_on_a_slow_network_without_hooks(client):
    spec = {"input_shape": [8, 64, 64], "layers": [
        {"kind": "Conv2d", "params": {"out_channels": 8, "kernel_size": 3, "padding": 1}} for _ in range(12)]}
    x = np.random.default_rng(4).standard_normal((8, 64, 64)).astype(np.float32)
    with connect(client) as ws:
        receive(ws)
        for run_id in ("a", "b"):
            ws.send_json({"type": "run", "id": run_id, "network": spec, "input": array_input(x)})
        messages = run_messages(ws, "b")
    a = [h["type"] for h, _ in messages if h.get("id") == "a"]
    assert a[-1] in ("cancelled", "done")
    if a[-1] == "cancelled":
        assert "done" not in a
    assert last_of(messages)["type"] == "done" and len(layers_of(messages, "b")) == 12


def test_a_disconnect_frees_the_run_at_the_next_layer_boundary(gate, monkeypatch):
    layers_computed = []
    original = runs.Execution.close

    def close(self):
        layers_computed.append(self.layers_done)
        original(self)

    monkeypatch.setattr(runs.Execution, "close", close)
    with app_client() as client:
        with connect(client) as ws:
            receive(ws)
            ws.send_json({"type": "run", "id": "slow", "network": "digits-cnn", "input": array_input(_digit())})
            while receive(ws)[0]["type"] != "layer":
                pass
        runner = client.app.state.runner
        deadline = time.monotonic() + 10
        while (runner.slots.busy or runner.sockets.busy) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runner.slots.busy == 0 and runner.sockets.busy == 0
    assert layers_computed[0] == 1  # layer 1 was never computed


# ---- bad messages: an error, and the socket keeps serving ----------------------------------------------

def test_an_error_does_not_echo_an_id_longer_than_runs_take(client):
    with connect(client) as ws:
        receive(ws)
        for long_id in ("x" * 201, 10 ** 300):
            error = _error_for(ws, {"type": "nonsense", "id": long_id})
            assert error["id"] is None and "unknown message type 'nonsense'" in error["message"]
        assert _error_for(ws, {"type": "nonsense", "id": "x" * 200}, run_id="x" * 200)["id"] == "x" * 200


def _then_a_valid_run_completes(ws):
    ws.send_json({"type": "run", "id": "ok", "layer": {"kind": "ReLU"}, "input": {"sample": "digit-0"}})
    assert last_of(run_messages(ws, "ok"))["type"] == "done"


def _error_for(ws, message, run_id=None) -> dict:
    if isinstance(message, bytes):
        ws.send_bytes(message)
    elif isinstance(message, str):
        ws.send_text(message)
    else:
        ws.send_json(message)
    header, _ = receive(ws)
    if header["type"] == "input":  # a run refused after its input was read sends that input first
        header, _ = receive(ws)
    assert header["type"] == "error" and header["id"] == run_id, header
    _then_a_valid_run_completes(ws)
    return header


@pytest.mark.parametrize("message, expected", [
    ("{not json", "message is not valid JSON"),
    ("[1, 2]", "message must be a JSON object with a 'type', got list"),
    (b"\x00\x01", "binary messages are not accepted"),
    ('{"type": "run", "id": ' + "9" * 5000 + "}", "message is not valid JSON (ValueError: Exceeds the limit"),
    # 100,000 levels: Python 3.11 gives up near 1,000, 3.12 parses 5,000
    ('{"type": "run", "network": ' + "[" * 100_000 + "]" * 100_000 + "}", "message is not valid JSON (RecursionError"),
])
def test_malformed_messages_get_an_error(client, message, expected):
    with connect(client) as ws:
        receive(ws)
        assert expected in _error_for(ws, message)["message"]


@pytest.mark.parametrize("message, field, expected", [
    ({"type": "dance", "id": "x"}, "type", "unknown message type 'dance'; expected 'run' or 'cancel'"),
    ({"type": "run", "id": "x", "network": "digits-cnn"}, "input", "field 'input': Field required"),
    ({"type": "run", "id": "x", "network": "digits-cnn", "input": {"sample": "dot"}, "encoding": "png"},
     "encoding", "field 'encoding': Input should be 'float16' or 'uint8'"),
    ({"type": "run", "id": "x", "network": "digits-cnn", "input": {"sample": "dot"}, "speed": 2},
     "speed", "field 'speed': unknown field; allowed: type, id, network, layer, input"),
    ({"type": "run", "id": "x", "input": {"sample": "dot"}}, None, "give exactly one of 'network'"),
    ({"type": "run", "id": "x", "network": 5, "input": {"sample": "dot"}}, "network",
     "must be a built-in network name (a string) or a network spec (an object)"),
    ({"type": "run", "id": "x", "network": "resnet", "input": {"sample": "dot"}}, "network",
     "unknown built-in network 'resnet'; built-ins are " + ", ".join(BUILTIN_MODELS)),
    ({"type": "run", "id": "x", "network": "digits-cnn", "input": {"sample": "nope"}}, "input", "unknown sample 'nope'"),
    ({"type": "run", "id": "x", "network": "digits-cnn", "input": {"image_id": "gone"}}, "input",
     "no uploaded image has id 'gone': uploads are kept in memory only, expire after 60 minutes unused, and the "
     "oldest make room for newer ones (at most 64 in all, 16 from one address); upload it again"),
])
def test_invalid_requests_get_an_error_naming_the_field(client, message, field, expected):
    with connect(client) as ws:
        receive(ws)
        error = _error_for(ws, message, "x")
    assert expected in error["message"] and error.get("field") == field


@pytest.mark.parametrize("fields, field, expected", [
    ({"kernels": "yes"}, "kernels", "field 'kernels': Input should be a valid boolean"),
    ({"network": "digits-cnn", "saliency": True}, "saliency", "field 'saliency': Input should be a valid integer"),
    ({"network": "digits-cnn", "explain": [True, [0, 0, 0, 0]]}, "explain.0",
     "field 'explain.0': Input should be a valid integer"),
    ({"trace": 1}, "trace", "field 'trace': Input should be a valid boolean"),
    ({"layer": {"kind": "LeakyReLU", "params": {"negative_slope": 10 ** 400}}}, "layer",
     "field 'negative_slope' must be a finite number, got 1000000000"),
    ({"network": {"input_shape": [1, 8, 8], "layers": [{"kind": "ReLU"}], "description": "x" * 2001}}, "network",
     "spec field 'description' must be a string of at most 2000 characters"),
    ({"network": {"name": "n" * 101, "input_shape": [1, 8, 8], "layers": [{"kind": "ReLU"}]}}, "network",
     "spec field 'name' must be a string of 1 to 100 characters"),
    ({"network": {"input_shape": [16], "layers": [{"kind": "Flatten", "params": {"start_dim": 2}}]}}, "network",
     "layer 0 (Flatten): start_dim 2 is out of range for an input with 2 dimensions"),
])
def test_bad_fields_are_refused_before_computing(client, fields, field, expected):
    message = {"type": "run", "id": "x", "layer": {"kind": "ReLU"}, "input": {"sample": "dot"}, **fields}
    if "network" in fields:
        del message["layer"]
    if isinstance(fields.get("network"), str):
        message["input"] = {"sample": "digit-3"}
    with connect(client) as ws:
        receive(ws)
        error = _error_for(ws, message, "x")
    assert expected in error["message"] and error["field"] == field


def test_bad_spec_error_names_the_layer_and_field(client):
    spec = {"input_shape": [1, 8, 8], "layers": [{"kind": "ReLU"}, {"kind": "Conv2d", "name": "c",
                                                                       "params": {"kernel_size": 0}}]}
    with connect(client) as ws:
        receive(ws)
        error = _error_for(ws, {"type": "run", "id": "x", "network": spec, "input": {"sample": "dot"}}, "x")
    assert "layer 1 'c' (Conv2d)" in error["message"] and "'kernel_size' must be >= 1" in error["message"]
    assert error["field"] == "network"


@pytest.mark.parametrize("layer, field, expected", [
    ({"kind": "Conv2d", "params": {"kernel_size": 3}, "weights": {"weight": array_to_json(np.ones((2, 2), np.float32))}},
     "layer.weights.weight", "layer.weights.weight has shape [2, 2]; this Conv2d needs [4, 1, 3, 3]"),
    ({"kind": "Conv2d", "weights": {"gain": array_to_json(np.ones(1, np.float32))}},
     "layer.weights", "Conv2d has no parameter(s) ['gain']; its parameters are ['bias', 'weight']"),
    ({"kind": "Conv2d", "weights": {"weight": {"shape": [1], "data": "###"}}},
     "layer.weights.weight", "layer.weights.weight: data is not valid base64"),
    ({"kind": "Conv3d"}, "layer", "unknown kind 'Conv3d'"),
    ({"kind": "Conv2d", "params": {"in_channels": 3}}, "layer",
     "layer 0 (Conv2d): Conv2d field 'in_channels' is 3, input: expected 3 channels, got 1"),
])
def test_bad_single_layers_get_clear_errors(client, layer, field, expected):
    x = _digit()
    with connect(client) as ws:
        receive(ws)
        error = _error_for(ws, {"type": "run", "id": "x", "layer": layer, "input": array_input(x)}, "x")
    assert expected in error["message"] and error["field"] == field


@pytest.mark.parametrize("layer, field, expected", [
    ({"kind": ""}, "layer", "unknown kind ''; known kinds: Conv2d, "),
    ({"kind": "Conv2d" * 1000}, "layer", "unknown kind 'Conv2dConv2d"),
    ({"kind": "ReLU", "name": "r" * 5000}, "layer.name", "must be a layer name of 1 to 64 characters"),
])
def test_a_single_layers_empty_or_long_kind_or_name_gets_a_short_error_about_itself(client, layer, field, expected):
    """The one-layer network is named after the layer: such a kind was refused as a network name of 1 to 100
    characters, or quoted whole."""
    with connect(client) as ws:
        receive(ws)
        error = _error_for(ws, {"type": "run", "id": "x", "layer": layer, "input": array_input(_digit())}, "x")
    assert expected in error["message"] and error["field"] == field
    assert len(error["message"]) < 500


def test_a_run_refused_after_its_input_was_read_sends_that_input_then_the_error(client):
    x = _digit()
    too_wide = {"kind": "Conv2d", "params": {"kernel_size": 11, "dilation": 3}}  # a 31-pixel window on 28
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "x", "layer": too_wide, "input": array_input(x)})
        messages = run_messages(ws, "x")
        assert [header["type"] for header, _ in messages] == ["input", "error"]
        (header, payload), (error, _) = messages
        np.testing.assert_array_equal(decode(header, payload), x[None])
        assert header["id"] == "x" and "the dilated kernel 31 is larger than the padded input 28" in error["message"]
        # an input that cannot be read has nothing to show: the error comes alone
        ws.send_json({"type": "run", "id": "y", "layer": {"kind": "ReLU"}, "input": {"sample": "nope"}})
        assert [header["type"] for header, _ in run_messages(ws, "y")] == ["error"]


def test_an_input_that_does_not_fit_says_what_the_network_takes(client):
    with connect(client) as ws:
        receive(ws)
        error = _error_for(ws, {"type": "run", "id": "x", "network": "digits-cnn",
                                "input": array_input(np.zeros((1, 20, 20), np.float32))}, "x")
    assert "network 'digits-cnn' takes inputs of shape [1, 28, 28] per sample; this input is [1, 20, 20]" in \
        error["message"]


def test_an_explanation_reading_too_many_values_is_refused_before_computing(client):
    x = np.zeros(runs.MAX_EXPLAIN_VALUES + 1, np.float32)  # one vector of that many features
    with connect(client) as ws:
        receive(ws)
        error = _error_for(ws, {"type": "run", "id": "x", "layer": {"kind": "Linear", "params": {"out_features": 1}},
                                "input": array_input(x), "explain": [0, [0, 0]]}, "x")  # the first message
    assert error["field"] == "explain"
    assert f"reads {runs.MAX_EXPLAIN_VALUES + 1:,} input values; explanations show at most" in error["message"]


@pytest.mark.parametrize("network, explain, expected", [
    ({"input_shape": [1, 4, 4], "layers": [{"kind": "Upsample", "params": {"scale_factor": 2}}]}, [0, [0, 0, 0, 0]],
     "layer 0 'upsample0' is an Upsample, which does not explain single elements"),
    ("digits-cnn", [6, [0, 0]], "layer 6 'flatten' is a Flatten, which does not explain single elements; these kinds do:"),
    ("digits-cnn", [12, [0]], "explain: layer index 12 is out of range 0 to 8"),
    ("digits-cnn", [0, [0, 8, 0, 0]],
     "explain: output index [0, 8, 0, 0] is not inside layer 0's output of shape [1, 8, 28, 28]"),
])
def test_bad_explain_requests(client, network, explain, expected):
    with connect(client) as ws:
        receive(ws)
        error = _error_for(ws, {"type": "run", "id": "x", "network": network, "input": {"sample": "dot"},
                                "explain": explain}, "x")
    assert expected in error["message"] and error["field"] == "explain"


# ---- limits ----------------------------------------------------------------------------------------------

def test_oversized_message_gets_an_error_and_the_socket_stays_open():
    with app_client(max_message_bytes=3000) as client, connect(client) as ws:
        receive(ws)
        big = {"type": "run", "id": "big", "layer": {"kind": "ReLU"},
               "input": array_input(np.zeros((1, 30, 30), np.float32))}
        error = _error_for(ws, big)
    assert "is too large; the limit is 3,000 bytes (max_message_bytes)" in error["message"]


def test_work_limit_is_checked_before_computing():
    with app_client(max_work_flops=100_000) as client, connect(client) as ws:
        receive(ws)
        error = _error_for(ws, {"type": "run", "id": "x", "network": "digits-cnn", "input": {"sample": "dot"}}, "x")
    assert "this run needs about 309,690 multiply-adds; the limit is 100,000 per run (max_work_flops)" in \
        error["message"]


def test_tensor_limit_names_the_layer():
    with app_client(max_tensor_elements=5000) as client, connect(client) as ws:
        receive(ws)
        error = _error_for(ws, {"type": "run", "id": "x", "network": "digits-cnn", "input": {"sample": "dot"}}, "x")
    assert ("layer 0 'conv1' (Conv2d): its output [1, 8, 28, 28] would hold 6,272 values; the limit is 5,000 per tensor"
            in error["message"]) and error["field"] == "network"
    # a single layer's request has no 'network': its error names 'layer'
    with app_client(max_tensor_elements=5000) as client, connect(client) as ws:
        receive(ws)
        error = _error_for(ws, {"type": "run", "id": "x", "layer": {"kind": "Upsample", "params": {"scale_factor": 4}},
                                "input": {"sample": "dot", "fit": 28}}, "x")
    assert "would hold 12,544 values; the limit is 5,000 per tensor" in error["message"] and error["field"] == "layer"


def test_huge_weights_are_refused_before_they_are_allocated(client):
    # Flatten gives 65,536 features; a Linear to 65,536 outputs would need 4.3e9 weights (17 GB)
    spec = {"input_shape": [1, 256, 256], "layers": [{"kind": "Flatten"}, {"kind": "Linear",
                                                                          "params": {"out_features": 65536}}]}
    with connect(client) as ws:
        receive(ws)
        started = time.perf_counter()
        error = _error_for(ws, {"type": "run", "id": "x", "network": spec, "input": {"sample": "dot"}}, "x")
    assert "the weights of layers 0 to 1 would hold 4,295,032,832 values; the limit is" in error["message"]
    assert time.perf_counter() - started < 5


def test_a_long_sequence_counts_each_step_in_the_work_limit(client):
    """A one-unit LSTM over 30,000 steps has few multiply-adds but 30,000 loop iterations: refused."""
    x = np.zeros((30_000, 1), np.float32)
    with connect(client) as ws:
        receive(ws)
        error = _error_for(ws, {"type": "run", "id": "x", "layer": {"kind": "LSTM", "params": {"hidden_size": 1}},
                                "input": array_input(x)}, "x")
    assert "multiply-adds; the limit is 20,000,000,000 per run (max_work_flops)" in error["message"]
    assert error["field"] == "layer"


def test_a_spec_refused_at_its_last_layer_draws_no_weights():
    """Every shape is checked before any weight is drawn: 31.7 M weights of a layer whose output is empty."""
    import tracemalloc

    spec = {"input_shape": [512, 1, 1], "layers": [{"kind": "Conv2d", "params": {"out_channels": 512,
                                                                                 "kernel_size": 11}}]}
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="output height would be empty"):
            network_from_spec(spec, max_parameters=Settings().max_parameter_elements)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000  # the weights alone would be 127 MB


def test_planning_waits_for_a_run_slot():
    """Planning builds networks, so it holds a slot: with none free, even a bad spec gets 'server busy'."""
    spec = {"input_shape": [1, 8, 8], "layers": [{"kind": "Conv2d", "params": {"kernel_size": 9}}]}
    with app_client(max_concurrent_runs=0) as client, connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "x", "network": spec, "input": {"sample": "dot"}})
        error = receive(ws)[0]
    assert error["type"] == "error" and error["message"].startswith("server busy"), error


def test_the_network_cache_is_bounded_by_count_and_ignores_descriptions():
    cache = runs._NetworkCache(max_elements=10**9)
    for i in range(runs._NetworkCache.MAX_ENTRIES + 10):
        cache.put(f"spec {i}", network_from_spec({"input_shape": [4], "layers": [{"kind": "ReLU"}]}), 0)
    assert len(cache._entries) == runs._NetworkCache.MAX_ENTRIES and cache.get("spec 0") is None
    runner = runs.Runner(Settings(device="cpu"), uploads=None)
    spec = {"input_shape": [4], "layers": [{"kind": "ReLU"}]}
    assert runner._spec_network({**spec, "description": "a"}) is runner._spec_network({**spec, "description": "b"})
    with pytest.raises(runs.RunError, match="'description' must be a string of at most 2000"):
        runner._spec_network({**spec, "description": "x" * 5000})  # checked on a hit too


def test_spec_layer_limit():
    spec = {"input_shape": [1, 8, 8], "layers": [{"kind": "ReLU"}] * 3}
    with app_client(max_spec_layers=2) as client, connect(client) as ws:
        receive(ws)
        error = _error_for(ws, {"type": "run", "id": "x", "network": spec, "input": {"sample": "dot"}}, "x")
    assert error["message"] == "the network has 3 layers; the limit is 2" and error["field"] == "network.layers"
    # a limit raised above the engine's default of 64 is the one that counts
    spec["layers"] = [{"kind": "ReLU"}] * 70
    with app_client(max_spec_layers=80) as client, connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "x", "network": spec, "input": {"sample": "dot"}})
        while (message := receive(ws)[0])["type"] not in ("done", "error"):
            pass
    assert message["type"] == "done" and message["layers"] == 70, message


def test_busy_when_no_run_may_compute():
    with app_client(max_concurrent_runs=0) as client, connect(client) as ws:
        receive(ws)
        for run_id in ("x", "y"):  # the socket stays open
            ws.send_json({"type": "run", "id": run_id, "network": "digits-cnn", "input": {"sample": "dot"}})
            assert receive(ws)[0] == {"type": "error", "id": run_id, "message":
                                      "server busy: 0 runs already computing (at most 0 at once); try again"}


def test_busy_while_the_only_slot_is_held_then_served(gate):
    with app_client(max_concurrent_runs=1, run_queue_seconds=0.2) as client:
        with connect(client) as first, connect(client) as second:
            receive(first), receive(second)
            first.send_json({"type": "run", "id": "slow", "network": "digits-cnn", "input": array_input(_digit())})
            while receive(first)[0]["type"] != "layer":
                pass
            second.send_json({"type": "run", "id": "y", "network": "digits-cnn", "input": {"sample": "dot"}})
            header, _ = receive(second)
            assert header == {"type": "error", "id": "y",
                              "message": "server busy: 1 runs already computing (at most 1 at once); try again"}
            gate.set()
            assert last_of(run_messages(first, "slow"))["type"] == "done"
            second.send_json({"type": "run", "id": "z", "network": "digits-cnn", "input": {"sample": "dot"}})
            assert last_of(run_messages(second, "z"))["type"] == "done"


def test_a_socket_sending_runs_faster_than_they_plan_holds_one_slot_at_a_time(monkeypatch):
    """Each run supersedes the last, but a superseded run's planning thread cannot be stopped: a socket's next run
    waits for it instead of planning beside it, so one page cannot take every slot (and the memory of every plan)."""
    planning, most, lock = 0, 0, threading.Lock()
    original = runs.Runner.plan

    def slow_plan(self, request, last=None):
        nonlocal planning, most
        with lock:
            planning += 1
            most = max(most, planning)
        try:
            time.sleep(0.05)  # a large spec's weights, or a large image's resizing
            return original(self, request, last)
        finally:
            with lock:
                planning -= 1

    monkeypatch.setattr(runs.Runner, "plan", slow_plan)
    with app_client(max_concurrent_runs=4) as client, connect(client) as ws:
        receive(ws)
        for index in range(12):
            ws.send_json({"type": "run", "id": index, "layer": {"kind": "ReLU"}, "input": array_input(_digit())})
        messages = run_messages(ws, 11)
        assert client.app.state.runner.slots.busy == 0
    assert most == 1
    assert [h["type"] for h, _ in messages if h["id"] != 11] == ["cancelled"] * 11
    assert last_of(messages)["type"] == "done"


def test_sockets_beyond_the_limit_are_closed_with_1013():
    with app_client(max_sockets=1) as client, connect(client) as ws:
        receive(ws)
        with pytest.raises(WebSocketDisconnect) as closed, connect(client) as extra:
            extra.receive_text()
        assert closed.value.code == 1013 and "too many open sockets (1)" in closed.value.reason
        _then_a_valid_run_completes(ws)


def test_one_address_gets_at_most_max_sockets_per_address_sockets():
    app = create_app(Settings(device="cpu", max_sockets_per_address=2))
    with TestClient(app, client=("10.0.0.1", 50000)) as one, connect(one) as first, connect(one) as second:
        receive(first), receive(second)
        with pytest.raises(WebSocketDisconnect) as closed, connect(one) as third:
            third.receive_text()
        assert closed.value.code == 1013
        assert closed.value.reason == ("too many open sockets from your address (2): close some Lamina pages "
                                       "and try again")
        with connect(TestClient(app, client=("10.0.0.2", 50000))) as other:  # another address still gets one
            receive(other)
            _then_a_valid_run_completes(other)
    with TestClient(app, client=("10.0.0.1", 50000)) as one, connect(one) as again:  # closed ones free theirs
        receive(again)
        _then_a_valid_run_completes(again)


def test_health_answers_while_a_run_is_computing(client, gate):
    """The run's work happens off the event loop: with a run held mid-network, HTTP still answers."""
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "slow", "network": "digits-cnn", "input": array_input(_digit())})
        seen = []
        while not any(h["type"] == "layer" for h, _ in seen):
            seen.append(receive(ws))  # layer 0 is done; the worker now waits at the gate before layer 1
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(client.get, "/api/health").result(timeout=10)  # hangs if the loop were blocked
        assert answer.status_code == 200 and answer.json()["status"] == "ok"
        gate.set()
        messages = run_messages(ws, "slow")
    assert last_of(messages)["type"] == "done"


# ---- sequences, traces and partial runs ---------------------------------------------------------------

def test_sequence_network_reads_a_drawn_digit_row_by_row_and_sends_the_gates(client):
    """An image given to a sequence network becomes its rows: (1, 28 steps, 28 pixels); trace adds the gates."""
    image = np.asarray(Image.open(io.BytesIO(client.get("/api/samples/digit-3").content)),
                       np.float32)
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "s", "network": "digits-lstm", "input": {"sample": "digit-3"},
                      "encoding": "float16", "trace": True})
        messages = run_messages(ws, "s")
    input_header, input_payload = messages[1]
    x = decode(input_header, input_payload)
    assert x.shape == (1, 28, 28) and image.shape[:2] == (28, 28)
    lstm = load_model("digits-lstm")["lstm"]
    expected = lstm.trace(x)
    traces = {h["part"]: decode(h, p) for h, p in messages if h["type"] == "trace"}
    assert sorted(traces) == sorted(set(expected) - {"hidden"})  # the hidden state is the layer's output
    for part, value in traces.items():
        assert all(h["index"] == 0 and h["name"] == "lstm" for h, _ in messages if h["type"] == "trace")
        np.testing.assert_allclose(value, expected[part], rtol=1e-3, atol=1e-3)
    (_, hidden), (_, scores), (_, probabilities) = layers_of(messages, "s")
    assert hidden.shape == (1, 28, DIGIT_READER_HIDDEN) and probabilities.shape == (1, 28, 10)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-2)


def test_sequence_network_takes_an_array_of_any_length(client):
    signal = np.sin(np.linspace(0, 6, 40, dtype=np.float32))[:, None]
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "sine", "network": "sine-rnn", "input": array_input(signal),
                      "encoding": "float16"})
        messages = run_messages(ws, "sine")
    expected = load_model("sine-rnn")(signal[None])
    (_, _), (header, prediction) = layers_of(messages, "sine")
    assert prediction.shape == (1, 40, 1)
    assert_close_to_encoding(prediction, header, expected)


def test_from_layer_runs_the_decoder_on_an_edited_code(client):
    """The autoencoder's sliders: a code fed straight to the layer after 'code' runs the decoder only."""
    code = np.linspace(-2, 2, 16, dtype=np.float32)
    network = load_model("digits-autoencoder")
    names = [name for name, _ in network.layers]
    tail = names[names.index("expand"):]
    x = code[None]
    for name in tail:
        x = network[name](x)
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "d", "network": "digits-autoencoder", "from_layer": "expand",
                      "input": array_input(code), "encoding": "float16"})
        messages = run_messages(ws, "d")
    assert [layer["name"] for layer in messages[0][0]["layers"]] == tail
    header, reconstruction = layers_of(messages, "d")[-1]
    assert header["name"] == "reconstruction" and reconstruction.shape == (1, 1, 28, 28)
    assert_close_to_encoding(reconstruction, header, x)


@pytest.mark.parametrize("request_fields, words", [
    ({"network": "digits-autoencoder", "from_layer": "nope"}, "is not a layer of network 'digits-autoencoder'"),
    ({"layer": {"kind": "ReLU"}, "from_layer": "relu"}, "from_layer needs a 'network'"),
])
def test_bad_from_layer_is_refused_with_the_layer_names(client, request_fields, words):
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "bad", "input": array_input(np.zeros(16, np.float32)),
                      **request_fields})
        messages = run_messages(ws, "bad")
    error = last_of(messages)
    assert error["type"] == "error" and words in error["message"] and error["field"] == "from_layer"


def test_saliency_comes_after_the_last_layer_and_equals_the_engines(client):
    from engine.saliency import saliency

    x = _digit()
    expected, scores, _ = saliency(load_model("digits-cnn"), x[None], 7)
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "sal", "network": "digits-cnn", "input": array_input(x),
                      "encoding": "float16", "saliency": 7})
        messages = run_messages(ws, "sal")
    kinds = [h["type"] for h, _ in messages]
    assert kinds[-2:] == ["saliency", "done"] and kinds.count("layer") == len(load_model("digits-cnn"))
    header, payload = messages[-2]
    assert header["class_index"] == 7 and header["score"] == pytest.approx(float(scores[0, 7]), rel=1e-5)
    assert_close_to_encoding(decode(header, payload), header, expected)
    assert messages[-1][0]["layers"] == len(load_model("digits-cnn"))


def test_saliency_minus_one_takes_the_top_class(client):
    x = _digit()
    top = int(load_model("digits-cnn")(x[None]).argmax())
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "top", "network": "digits-cnn", "input": array_input(x), "saliency": -1})
        messages = run_messages(ws, "top")
    assert messages[-2][0]["type"] == "saliency" and messages[-2][0]["class_index"] == top


@pytest.mark.parametrize("fields, words", [
    ({"network": "digits-cnn", "saliency": 10}, "class index 10 is out of range 0 to 9"),
    ({"network": "edges", "saliency": 0}, "ends in class scores"),
])
def test_bad_saliency_requests_are_refused(client, fields, words):
    with connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "bad", "input": {"sample": "digit-1"}, **fields})
        messages = run_messages(ws, "bad")
    assert last_of(messages)["type"] == "error" and words in last_of(messages)["message"]


def test_saliency_counts_its_backward_pass_in_the_work_limit():
    """A run that fits the work limit forward only is refused when it also asks for a saliency map."""
    forward = load_model("digits-cnn").flops((1, 1, 28, 28))
    with app_client(max_work_flops=2 * forward) as client, connect(client) as ws:
        receive(ws)
        ws.send_json({"type": "run", "id": "plain", "network": "digits-cnn", "input": {"sample": "digit-1"}})
        assert last_of(run_messages(ws, "plain"))["type"] == "done"
        ws.send_json({"type": "run", "id": "sal", "network": "digits-cnn", "input": {"sample": "digit-1"},
                      "saliency": 3})
        error = last_of(run_messages(ws, "sal"))
    assert error["type"] == "error" and "(forward and backward)" in error["message"]
