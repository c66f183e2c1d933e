"""A live session with many followers: how long a presenter's view takes to reach them all.

    .venv/bin/python benchmarks/live.py [--followers 200] [--views 100] [--interval 0.1]

Starts the server as benchmarks/load.py does, opens one presenter and --followers follower sockets
on /ws/live, then the presenter sends --views views --interval seconds apart (a dragged slider
writes its URL at most every 0.1 s). Every follower records when each view arrives. Prints the
delivery latency (send -> arrival) percentiles over all followers and views, how many views each
follower received (the server keeps only the newest unsent view per follower, so a follower that
lags gets fewer, never stale ones), the server's CPU time per view, and its memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time

from websockets.asyncio.client import connect

from load import _cpu_seconds, _free_port, _pick_sample, _rss_mb, _start_server  # benchmarks/ is the script's folder


async def _follower(url: str, code: str, arrivals: list, ready: asyncio.Event, count: list) -> None:
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "follow", "code": code}))
        assert json.loads(await ws.recv())["type"] == "following"
        count[0] += 1
        if count[0] == count[1]:
            ready.set()
        async for message in ws:
            data = json.loads(message)
            if data["type"] == "view":
                arrivals.append((data["url"], time.perf_counter()))
            elif data["type"] == "ended":
                return


async def _session(port: int, followers: int, views: int, interval: float, pid: int) -> None:
    url = f"ws://127.0.0.1:{port}/ws/live"
    async with connect(url) as presenter:
        await presenter.send(json.dumps({"type": "present"}))
        code = json.loads(await presenter.recv())["code"]
        arrivals = [[] for _ in range(followers)]
        ready, count = asyncio.Event(), [0, followers]
        tasks = [asyncio.create_task(_follower(url, code, arrivals[i], ready, count)) for i in range(followers)]
        await asyncio.wait_for(ready.wait(), 60)
        rss_before, cpu_before = _rss_mb(pid), _cpu_seconds(pid)
        sent = {}
        for i in range(views):
            view = f"/network?layer={i}"
            sent[view] = time.perf_counter()
            await presenter.send(json.dumps({"type": "view", "url": view}))
            await asyncio.sleep(interval)
        await asyncio.sleep(1.0)  # the last views arrive
        cpu = _cpu_seconds(pid) - cpu_before
        await presenter.send(json.dumps({"type": "end"}))
        await asyncio.wait_for(asyncio.gather(*tasks), 30)

    latencies = [(arrived - sent[view]) * 1000 for follower in arrivals for view, arrived in follower]
    received = [len(follower) for follower in arrivals]
    last = f"/network?layer={views - 1}"
    got_last = sum(1 for follower in arrivals if follower and follower[-1][0] == last)
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"{followers} followers, {views} views {interval * 1000:.0f} ms apart; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"delivery latency: p50 {quantiles[49]:.1f} ms, p95 {quantiles[94]:.1f} ms, p99 {quantiles[98]:.1f} ms, "
          f"max {max(latencies):.1f} ms")
    print(f"views received per follower: min {min(received)}, median {statistics.median(received):.0f}, "
          f"max {max(received)} of {views}; {got_last} of {followers} followers ended on the last view")
    print(f"server CPU: {cpu:.2f} s for {views} views ({cpu / views * 1000:.2f} ms per view, "
          f"{cpu / (views * followers) * 1e6:.0f} us per delivered message); "
          f"RSS {rss_before:.1f} -> {_rss_mb(pid):.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", type=int, default=200)
    parser.add_argument("--views", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.1)
    args = parser.parse_args()
    port = _free_port()
    server = _start_server("server.app:create_app", port, deflate=False)
    try:
        _pick_sample(port)  # waits for the start-up's sample listing (imports that grow the server's memory)
        asyncio.run(_session(port, args.followers, args.views, args.interval, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
