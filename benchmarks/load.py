"""Many WebSocket clients running a built-in network at once against a real server.

    .venv/bin/python benchmarks/load.py [--clients 30] [--seconds 30] [--interval 0.5]
                                        [--network digits-cnn] [--encoding uint8]

Starts `uvicorn server.app:create_app --factory` on 127.0.0.1 and a free port as a subprocess,
then opens --clients WebSocket connections to /ws/run. Each client sends a run of --network on a
bundled sample every --interval seconds (starts staggered over one interval; a client that falls
behind sends its next request as soon as its previous run is done) for --seconds, and records the
time from sending a request to receiving its "done" message. Prints p50/p95/p99 latency, errors,
and the server's resident memory (VmRSS from /proc/<pid>/status) after a warm-up and at the end.
Every client asks for the same run, which the server would compute once and share (server/shared_runs.py):
the server runs with LAMINA_SHARE_IDENTICAL_RUNS=false unless --share, so that each request is computed.
Targets: p95 <= 250 ms, no errors, memory growth <= 50 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 250.0
TARGET_GROWTH_MB = 50.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid` so far (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def _start_server(app: str, port: int, deflate: bool) -> subprocess.Popen:
    command = [sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--ws-per-message-deflate", str(deflate).lower()]
    server = subprocess.Popen(command, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the server did not answer /api/health within 60 s")


def _pick_sample(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/samples", timeout=10) as response:
        names = [sample["name"] for sample in json.load(response)]
    return next((name for name in names if name.startswith("digit")), names[0])


async def _run_once(ws, request: dict) -> tuple[float, str | None]:
    """Send one run and read until its last message: (seconds to "done", error message or None)."""
    started = time.perf_counter()
    await ws.send(json.dumps(request))
    while True:
        message = await ws.recv()
        if isinstance(message, bytes):
            continue
        header = json.loads(message)
        if header.get("id") != request["id"]:
            continue
        if header["type"] == "done":
            return time.perf_counter() - started, None
        if header["type"] in ("error", "cancelled"):
            return time.perf_counter() - started, f"{header['type']}: {header.get('message', '')}"


async def _client(url: str, number: int, args, sample: str, deadline: float, latencies: list, errors: list) -> None:
    await asyncio.sleep(args.interval * number / args.clients)  # stagger the starts over one interval
    try:
        async with connect(url, max_size=None) as ws:
            await ws.recv()  # hello
            count, next_send = 0, time.monotonic()
            while next_send < deadline:
                await asyncio.sleep(max(0.0, next_send - time.monotonic()))
                count += 1
                request = {"type": "run", "id": f"{number}-{count}", "network": args.network,
                           "input": {"sample": sample}, "encoding": args.encoding}
                seconds, error = await _run_once(ws, request)
                (errors if error else latencies).append(error or seconds)
                next_send += args.interval
    except Exception as error:  # a refused or dropped connection counts as an error
        errors.append(f"client {number}: {type(error).__name__}: {error}")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def _warm_up(port: int, args, sample: str) -> None:
    """A few runs on one socket, so that the model, the sample and the code paths are loaded before measuring."""
    async with connect(f"ws://127.0.0.1:{port}/ws/run", max_size=None) as ws:
        await ws.recv()
        for k in range(10):
            await _run_once(ws, {"type": "run", "id": f"warm-{k}", "network": args.network,
                                 "input": {"sample": sample}, "encoding": args.encoding})


async def _measure(port: int, args, sample: str) -> tuple[list[float], list[str]]:
    url = f"ws://127.0.0.1:{port}/ws/run"
    latencies, errors = [], []
    deadline = time.monotonic() + args.seconds
    await asyncio.gather(*(_client(url, n, args, sample, deadline, latencies, errors) for n in range(args.clients)))
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between one client's requests")
    parser.add_argument("--network", default="digits-cnn")
    parser.add_argument("--encoding", default="uint8", choices=("uint8", "float16"))
    parser.add_argument("--app", default="server.app:create_app", help="the app factory uvicorn starts")
    parser.add_argument("--deflate", action="store_true",
                        help="let uvicorn compress WebSocket messages (permessage-deflate, uvicorn's default; "
                             "off by default here as in `lamina serve`)")
    parser.add_argument("--share", action="store_true",
                        help="let the server share identical runs (its default); off here, because every client "
                             "asks for the same run and the benchmark measures computing them")
    args = parser.parse_args()

    os.environ["LAMINA_SHARE_IDENTICAL_RUNS"] = "true" if args.share else "false"  # the server inherits it
    port = _free_port()
    server = _start_server(args.app, port, args.deflate)
    try:
        sample = _pick_sample(port)
        asyncio.run(_warm_up(port, args, sample))
        rss_before = _rss_mb(server.pid)
        started, server_cpu, client_cpu = time.perf_counter(), _cpu_seconds(server.pid), time.process_time()
        latencies, errors = asyncio.run(_measure(port, args, sample))
        elapsed = time.perf_counter() - started
        server_cpu = _cpu_seconds(server.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
        time.sleep(1.0)  # let the last runs' arrays go
        rss_after = _rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)

    ms = [s * 1000 for s in latencies]
    print(f"{args.clients} clients x {args.network} on sample {sample!r} every {args.interval} s for {args.seconds:g} s "
          f"({args.encoding}, permessage-deflate {'on' if args.deflate else 'off'}); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    runs = max(len(ms) + len(errors), 1)
    print(f"runs done: {len(ms)} ({len(ms) / elapsed:.1f}/s), errors: {len(errors)}")
    print(f"CPU: server {server_cpu / elapsed:.0%} of one core ({server_cpu / runs * 1000:.1f} ms per run), "
          f"these clients {client_cpu / elapsed:.0%} ({client_cpu / runs * 1000:.1f} ms per run)")
    if ms:
        p50, p95, p99 = (_percentile(ms, q) for q in (50, 95, 99))
        print(f"latency to 'done': p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
              f"max {max(ms):.1f} ms, mean {statistics.fmean(ms):.1f} ms")
        print(f"  target p95 <= {TARGET_P95_MS:g} ms: {'yes' if p95 <= TARGET_P95_MS else 'NO'}")
    growth = rss_after - rss_before
    print(f"server RSS: {rss_before:.1f} MB after warm-up, {rss_after:.1f} MB at the end, growth {growth:+.1f} MB "
          f"(target <= {TARGET_GROWTH_MB:g} MB: {'yes' if growth <= TARGET_GROWTH_MB else 'NO'})")
    print(f"  target no errors: {'yes' if not errors else 'NO'}")
    for error in sorted(set(errors))[:5]:
        print(f"  error: {error}")


if __name__ == "__main__":
    main()
