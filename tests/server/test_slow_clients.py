"""Clients that stop reading, against a real server (uvicorn on TCP: TestClient has no socket buffers to fill)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from websockets.sync.client import connect

from server.settings import Settings
from server.ws import Session
from tests.live_server import running_server

SMALL_RUN = {"type": "run", "id": "probe", "layer": {"kind": "ReLU"}, "input": {"sample": "camera", "fit": 8}}
# layers of 32 channels of 510 x 510 float16, 16.6 MB each, far more than the socket buffers between server and
# client hold: the run holds its slot while it waits to send the second layer
LARGE_RUN = {"type": "run", "id": "large", "input": {"sample": "camera", "fit": 512, "channels": 1},
             "network": {"layers": [{"kind": "Conv2d", "params": {"out_channels": 32}}, {"kind": "ReLU"}]},
             "encoding": "float16"}


@pytest.fixture(scope="module")
def server_url():
    # one run at a time, so that one stalled client would hold every slot; a stall is noticed after 1 s
    with running_server(max_concurrent_runs="1", run_queue_seconds="1", send_stall_seconds="1",
                        slow_client_bytes_per_second="100000000") as url:
        yield url


def open_unread_socket(url: str) -> socket.socket:
    """A WebSocket to /ws/run opened by hand, with a 4 KiB receive buffer that the test never empties."""
    host, port = url.removeprefix("http://").split(":")
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(f"GET /ws/run HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += raw.recv(1)
    assert b" 101 " in answer.split(b"\r\n")[0]
    return raw


def masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    header = bytes([0x81]) + (bytes([0x80 | len(payload)]) if len(payload) < 126
                              else bytes([0x80 | 126]) + struct.pack(">H", len(payload)))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def small_run_result(url: str) -> dict:
    """Run SMALL_RUN on a socket of its own; its "done" or "error" message."""
    with connect(url.replace("http", "ws") + "/ws/run", max_size=None) as ws:
        ws.recv(timeout=10)  # hello
        ws.send(json.dumps(SMALL_RUN))
        while True:
            message = json.loads(ws.recv(timeout=20))
            if message["type"] in ("done", "error"):
                return message
            if message["type"] in ("input", "layer"):
                ws.recv(timeout=20)  # its binary frame


def test_a_client_that_stops_reading_frees_its_run_slot_and_is_closed(server_url):
    unread = open_unread_socket(server_url)
    unread.sendall(masked_text_frame(json.dumps(LARGE_RUN)))
    time.sleep(1.5)  # the large run has its slot and waits on the full socket
    deadline = time.monotonic() + 30
    while (result := small_run_result(server_url))["type"] == "error" and time.monotonic() < deadline:
        assert "server busy" in result["message"]
        time.sleep(0.5)
    assert result["type"] == "done", result

    # once the client reads again, the server closes the socket and says why: after what it had sent
    # before the stall, a close frame with code 1008 and the reason
    close = struct.pack(">H", 1008) + b"the client took no message for 1 s; its run was stopped"
    unread.settimeout(30)
    tail = b""
    while close not in tail and (chunk := unread.recv(1 << 20)):
        tail = (tail + chunk)[-200:]
    unread.close()
    assert close in tail


def test_a_stalled_socket_takes_no_more_runs():
    """Once a send has timed out, the socket is closing: a run it sends meanwhile takes no slot and plans nothing."""
    async def send_a_run_after_the_stall():
        session = Session(websocket=None, runner=SimpleNamespace(settings=Settings()))
        session.stalled = True
        await session.handle({"type": "websocket.receive", "text": json.dumps(SMALL_RUN)})
        return session.current, session.tasks

    # a thread of its own: a browser test earlier in the session may leave an event loop set in this one
    with ThreadPoolExecutor(1) as thread:
        assert thread.submit(asyncio.run, send_a_run_after_the_stall()).result() == (None, set())
