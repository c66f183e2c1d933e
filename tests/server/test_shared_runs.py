"""Identical run requests from several sockets are computed once and streamed to each with its own id."""

import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from server import runs, shared_runs
from server.app import create_app
from server.settings import Settings
from server.wire import array_to_json
from tests.server.test_ws import connect, last_of, layers_of, receive, run_messages


def app_client(**settings) -> TestClient:
    return TestClient(create_app(Settings(device="cpu", **settings)))


@pytest.fixture
def computations(monkeypatch):
    """How many computations (Executions) started, and a gate that holds each after its first layer."""
    count = {"started": 0, "layers": []}
    release = threading.Event()
    original_init, original_step, original_close = runs.Execution.__init__, runs.Execution.step, runs.Execution.close

    def init(self, *args, **kwargs):
        count["started"] += 1
        original_init(self, *args, **kwargs)

    def step(self):
        if self.layers_done >= 1:
            while not release.wait(0.005) and not self.cancel.is_set():
                pass
        return original_step(self)

    def close(self):
        count["layers"].append(self.layers_done)
        original_close(self)

    monkeypatch.setattr(runs.Execution, "__init__", init)
    monkeypatch.setattr(runs.Execution, "step", step)
    monkeypatch.setattr(runs.Execution, "close", close)
    count["release"] = release
    yield count
    release.set()


def digit_request(run_id, **fields) -> dict:
    x = np.random.default_rng(0).uniform(0, 1, (1, 28, 28)).astype(np.float32)
    return {"type": "run", "id": run_id, "network": "digits-cnn", "input": {"array": array_to_json(x)}, **fields}


def until_first_layer(ws) -> list:
    seen = []
    while not any(header["type"] == "layer" for header, _ in seen):
        seen.append(receive(ws))
    return seen


def test_two_sockets_asking_the_same_run_share_one_computation(computations):
    with app_client() as client, connect(client) as a, connect(client) as b:
        receive(a), receive(b)
        a.send_json(digit_request("a"))
        first_a = until_first_layer(a)  # a's computation waits at the gate after layer 0
        b.send_json(digit_request("b"))
        first_b = until_first_layer(b)  # b gets what is done so far at once, with its own id
        assert [h["id"] for h, _ in first_b] == ["b"] * len(first_b)
        computations["release"].set()
        rest_a, rest_b = run_messages(a, "a"), run_messages(b, "b")
    assert computations["started"] == 1
    all_a, all_b = first_a + rest_a, first_b + rest_b
    assert [h["type"] for h, _ in all_a] == [h["type"] for h, _ in all_b]
    assert len(layers_of(all_b, "b")) == 9 and last_of(all_b)["type"] == "done"
    for (header_a, payload_a), (header_b, payload_b) in zip(all_a, all_b):
        assert payload_a == payload_b
        assert {k: v for k, v in header_a.items() if k not in ("id", "total_ms", "shared")} == \
               {k: v for k, v in header_b.items() if k not in ("id", "total_ms", "shared")}
    # b's "done" says its frames came from a's computation, whose time it gives
    assert last_of(all_a)["shared"] is False and last_of(all_b)["shared"] is True


def test_requests_that_differ_are_computed_apart(computations):
    computations["release"].set()
    with app_client() as client, connect(client) as ws:
        receive(ws)
        for run_id, fields in (("a", {}), ("b", {"encoding": "float16"}), ("c", {"kernels": True})):
            ws.send_json(digit_request(run_id, **fields))
            assert last_of(run_messages(ws, run_id))["type"] == "done"
    assert computations["started"] == 3


def test_the_computation_goes_on_while_another_socket_wants_it(computations):
    with app_client() as client, connect(client) as a, connect(client) as b:
        receive(a), receive(b)
        a.send_json(digit_request("a"))
        until_first_layer(a)
        b.send_json(digit_request("b"))
        until_first_layer(b)
        a.send_json({"type": "cancel", "id": "a"})  # a no longer wants it; b still does
        assert receive(a)[0] == {"type": "cancelled", "id": "a"}
        computations["release"].set()
        messages = run_messages(b, "b")
    assert last_of(messages)["type"] == "done" and computations["started"] == 1
    assert set(computations["layers"]) == {9}  # (close runs twice at the end: once by the last step)


def test_a_computation_nobody_wants_stops_at_the_next_layer(computations):
    with app_client() as client:
        with connect(client) as ws:
            receive(ws)
            ws.send_json(digit_request("a"))
            until_first_layer(ws)
        deadline = time.monotonic() + 10
        while not computations["layers"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert set(computations["layers"]) == {1}  # layer 1 was never computed
        assert client.app.state.run_shares.runs == {}


def test_a_sockets_next_run_waits_for_the_layer_its_superseded_computation_has_in_progress(monkeypatch):
    events, original_step, original_plan = [], runs.Execution.step, runs.Runner.plan

    def step(self):  # a layer that takes a while: a cancellation cannot stop it part-way
        if self.plan.request.id == "a" and self.layers_done == 1:
            time.sleep(0.3)
            events.append("a's layer 1 ended")
        return original_step(self)

    def plan(self, request, last=None):
        events.append(f"{request.id} planned")
        return original_plan(self, request, last)

    monkeypatch.setattr(runs.Execution, "step", step)
    monkeypatch.setattr(runs.Runner, "plan", plan)
    with app_client() as client, connect(client) as ws:
        receive(ws)
        ws.send_json(digit_request("a"))
        until_first_layer(ws)  # the shared computation is in layer 1 now
        ws.send_json(digit_request("b", encoding="float16"))
        messages = run_messages(ws, "b")
    assert last_of(messages)["type"] == "done"
    assert events == ["a planned", "a's layer 1 ended", "b planned"]


def test_a_finished_run_is_replayed_for_a_while_then_computed_again(computations):
    computations["release"].set()
    with app_client() as client, connect(client) as ws:
        receive(ws)
        client.app.state.run_shares.keep_seconds = 0.3
        ws.send_json(digit_request("a"))
        first = run_messages(ws, "a")
        ws.send_json(digit_request("b"))  # right after: the kept frames, no computation
        replayed = run_messages(ws, "b")
        assert computations["started"] == 1
        pairs = list(zip(layers_of(first, "a"), layers_of(replayed, "b")))
        assert len(pairs) == 9 and all(np.array_equal(a, b) for (_, a), (_, b) in pairs)
        time.sleep(0.5)
        ws.send_json(digit_request("c"))
        assert last_of(run_messages(ws, "c"))["type"] == "done"
        assert computations["started"] == 2
        assert client.app.state.run_shares.kept_bytes > 0  # c's frames, kept in turn


def test_runs_too_large_to_hold_are_not_shared(computations):
    computations["release"].set()
    with app_client() as client, connect(client) as ws:
        receive(ws)
        client.app.state.run_shares.max_bytes = 0
        for run_id in ("a", "b"):
            ws.send_json(digit_request(run_id))
            assert last_of(run_messages(ws, run_id))["type"] == "done"
    assert computations["started"] == 2


def test_a_failed_computation_tells_every_socket_and_is_not_kept():
    with app_client(max_concurrent_runs=0, run_queue_seconds=0.1) as client, \
            connect(client) as a, connect(client) as b:
        receive(a), receive(b)
        a.send_json(digit_request("a"))
        b.send_json(digit_request("b"))
        for ws, run_id in ((a, "a"), (b, "b")):
            header, _ = receive(ws)
            assert header["type"] == "error" and header["id"] == run_id and "server busy" in header["message"]
        deadline = time.monotonic() + 5
        while client.app.state.run_shares.runs and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.app.state.run_shares.runs == {}


def test_the_estimate_bounds_what_a_shared_run_holds():
    with app_client() as client, connect(client) as ws:
        receive(ws)
        ws.send_json(digit_request("a", encoding="float16", kernels=True))
        messages = run_messages(ws, "a")
        plan = client.app.state.runner.plan(runs.parse_request(digit_request("a", encoding="float16", kernels=True)))
    sent = sum(len(payload) for _, payload in messages if payload is not None)
    assert sent <= shared_runs.estimated_bytes(plan)


def test_sharing_can_be_turned_off(computations):
    computations["release"].set()
    with app_client(share_identical_runs=False) as client, connect(client) as ws:
        receive(ws)
        for run_id in ("a", "b"):
            ws.send_json(digit_request(run_id))
            assert last_of(run_messages(ws, run_id))["type"] == "done"
    assert computations["started"] == 2
