"""docs/protocol.md as a script writer reads it: its examples run as written and say what the server sends."""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from server.app import create_app
from tests.live_server import REPOSITORY, running_server

PROTOCOL = (REPOSITORY / "docs" / "protocol.md").read_text()
TENSOR_MESSAGES = ("input", "layer", "kernel", "trace", "saliency")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PROTOCOL, re.S)


def json_example(starts_with: str) -> str:
    """The ```json block of the docs that starts with `starts_with` (some hold `...`: not always valid JSON)."""
    matches = [block for block in code_blocks("json") if block.startswith(starts_with)]
    assert len(matches) == 1, starts_with
    return matches[0]


def keys_named(example: str) -> set[str]:
    return set(re.findall(r'"(\w+)":', example))


def keys_of(value) -> set[str]:
    """Every key of a JSON value, nested ones included."""
    if isinstance(value, dict):
        return set(value).union(*(keys_of(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_of(item) for item in value))
    return set()


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as client:
        yield client


def run(client, request: dict) -> list[dict]:
    """Every message of one run, the tensors' frames left out."""
    with client.websocket_connect("/ws/run") as ws:
        ws.receive_json()
        ws.send_json(request)
        messages = []
        while True:
            message = ws.receive_json()
            messages.append(message)
            if message["type"] in TENSOR_MESSAGES:
                ws.receive_bytes()
            if message["type"] in ("done", "error", "cancelled"):
                return messages


def one(messages: list[dict], kind: str) -> dict:
    found = [message for message in messages if message["type"] == kind]
    assert len(found) == 1, [message["type"] for message in messages]
    return found[0]


def test_the_python_client_runs_as_written():
    (script,) = code_blocks("python")
    with running_server() as url:
        script = script.replace("ws://127.0.0.1:8000", url.replace("http://", "ws://"))
        result = subprocess.run([sys.executable, "-c", script], cwd=REPOSITORY, capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 0, result.stderr
    assert "'type': 'done'" in result.stdout and "0.848" in result.stdout, result.stdout


def test_the_run_example_gets_the_explanation_the_docs_show(client):
    messages = run(client, json.loads(json_example('{"type": "run"')))
    explanation = one(messages, "explain")
    documented = json_example('{"type": "explain"')
    for name in ("sum", "bias", "total", "output"):
        shown = float(re.search(rf'"{name}": ([-0-9.]+)', documented).group(1))
        assert explanation[name] == pytest.approx(shown, abs=1e-4), name
    assert f'"note": {json.dumps(explanation["note"])}' in documented
    assert f'"shape": {explanation["window"]["shape"]}' in documented
    assert json.dumps(explanation["coordinates"][:2])[1:-1] in documented
    assert keys_named(documented) == keys_of(explanation)


def test_the_layer_and_hello_examples_name_the_fields_the_server_sends(client):
    layers = [m for m in run(client, json.loads(json_example('{"type": "run"'))) if m["type"] == "layer"]
    layer = layers[0]
    assert keys_named(json_example('{"type": "layer"')) == keys_of(layer)
    with client.websocket_connect("/ws/run") as ws:
        hello = ws.receive_json()
    documented = json.loads(json_example('{"type": "hello"'))
    assert keys_of(documented) == keys_of(hello)
    assert documented["limits"] == hello["limits"]  # the defaults


def test_the_spec_example_runs(client):
    spec = json.loads(json_example('{"name": "small"'))
    messages = run(client, {"type": "run", "id": "s", "network": spec, "input": {"sample": "astronaut"}})
    assert one(messages, "start")["layers"][-1]["shape"] == [1, 5]
    assert messages[-1]["type"] == "done"


def test_the_download_example_answers_the_documented_file(client):
    command = re.search(r"```\n(curl -X POST.*?)```", PROTOCOL, re.S).group(1)
    words = shlex.split(command.replace("\\\n", " "))
    path = words[words.index("-X") + 2].removeprefix("localhost:8000")
    response = client.post(path, content=words[words.index("-d") + 1], headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert 'filename="digits-cnn-0-conv1.npy"' in response.headers["content-disposition"]
    assert np.load(io.BytesIO(response.content)).shape == (1, 8, 28, 28)


def test_the_upload_example_names_the_fields_of_the_answer(client):
    picture = io.BytesIO()
    Image.new("RGB", (30, 20), "white").save(picture, "PNG")
    answer = client.post("/api/images", files={"file": ("white.png", picture.getvalue(), "image/png")}).json()
    assert keys_named(json_example('{"image_id"')) == set(answer)
    messages = run(client, {"type": "run", "id": "u", "network": "digits-cnn", "input": {"image_id": answer["image_id"]}})
    assert messages[-1]["type"] == "done"


def json_api_row(route: str) -> str:
    (row,) = [line for line in PROTOCOL.splitlines() if line.startswith(f"| `GET {route}`")]
    return row


@pytest.mark.parametrize("route, path", [
    ("/api/health", "/api/health"), ("/api/models", "/api/models/digits-cnn"), ("/api/samples", "/api/samples"),
    ("/api/layers", "/api/layers/Conv2d")])
def test_the_json_api_table_names_every_field(client, route, path):
    answer = client.get(path).json()
    entry = answer[0] if isinstance(answer, list) else answer
    named = set(re.findall(r"[`\"](\w+)[`\"]", json_api_row(route)))
    fields = set(entry) | (set(entry["params"][0]) if "params" in entry else set())
    assert fields <= named, fields - named


@pytest.mark.parametrize("fields, field, allowed", [
    ({"explain": [0, 2, 10, 11]}, "explain", "'explain' is [layer index, output index]"),
    ({"explain": {"layer": 0}}, "explain", "e.g. [0, [0, 2, 10, 11]]"),
    ({"input": "digit-3"}, "input", '\'input\' is an object with exactly one of "sample", "image_id" or "array"'),
    ({"saliency": "top"}, "saliency", "'saliency' is a class index (an integer), or -1"),
    ({"kernels": "yes"}, "kernels", "'kernels' is true or false"),
])
def test_a_malformed_field_says_what_it_takes(client, fields, field, allowed):
    request = {"type": "run", "id": "x", "network": "digits-cnn", "input": {"sample": "digit-3"}, **fields}
    error = one(run(client, request), "error")
    assert error["field"] == field and allowed in error["message"], error


def test_a_layer_that_is_not_an_object_says_what_it_takes(client):
    error = one(run(client, {"type": "run", "id": "x", "layer": "Conv2d", "input": {"sample": "dot"}}), "error")
    assert error["field"] == "layer" and '{"kind": "Conv2d", "params": {...}}' in error["message"], error


def test_the_openapi_page_describes_the_health_and_model_answers(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "`fallback_reason`" in paths["/api/health"]["get"]["description"]
    for field in ("`input_kind`", "`input_shape`", "`class_names`", "`trained`", "`spec`"):
        assert field in paths["/api/models"]["get"]["description"], field
