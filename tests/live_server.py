"""A Lamina server of its own on 127.0.0.1 (uvicorn in a subprocess), for tests that need real sockets."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(**settings: str) -> Iterator[str]:
    """Start the server on the CPU with `settings` as LAMINA_<NAME> variables; yield its http URL once it
    answers /api/health, and stop it afterwards."""
    port = free_port()
    env = {**os.environ, "LAMINA_DEVICE": "cpu", **{f"LAMINA_{name.upper()}": value for name, value in settings.items()}}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--ws-per-message-deflate", "false"],
        env=env, cwd=REPOSITORY)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/api/health", timeout=1)
                break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError("the server exited during start-up") from None
                time.sleep(0.2)
        else:
            raise RuntimeError("the server did not answer /api/health within 60 s")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
