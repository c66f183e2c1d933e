"""Time the browser views in Chromium, reading the pages' own performance marks.

    .venv/bin/python benchmarks/browser.py [--repeats N] [--changes N] [--device cpu|gpu|auto]
                                           [--blas-threads N] [--deflate] [--cases NAME ...]

Starts its own Lamina server on 127.0.0.1 (a free port; uvicorn with permessage-deflate off unless
--deflate) and Debian's Chromium (headless, through Playwright), then measures what a person waits for:

- upload: the Network view; a 512x512 photo chosen in the file input until the first layer's maps are
  drawn. The page marks "lamina:input-start" when the file input changes and "lamina:first-maps" when
  the first layer's maps are on their canvases; the figure is the measure lamina:input-to-first-maps
  (upload POST, run request, first layer computed, sent, decoded and drawn). Once with the "edges"
  network (photo resized to 256x256, eight 5x5 filters) and once with the digit classifier.
- param: the Layer lab (/); Conv2d on the 512x512 camera sample; the padding slider moved by one step
  with the keyboard (alternately right and left) until the new output is drawn. A keydown listener
  stamps performance.now(); the figure is the time from it to the page's next "lamina:output-drawn"
  mark (the lab marks it after drawing the output of the newest request).
- drawing: the Network view with the digit classifier; a stroke drawn on the input picker's canvas
  with the mouse. Every segment of the stroke changes the input and starts a run (the newest run
  supersedes the older ones); the figure is the measure lamina:input-to-network-drawn of the last
  segment's run: from that change ("lamina:input-start") until every layer is drawn.

Each case starts with warm-up repetitions that are not counted; the table gives the median, the 95th
percentile (nearest rank) and the maximum, against the target.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 720}
WARM_UP = 2
TIMEOUT_MS = 30_000


@dataclass
class Result:
    case: str
    times_ms: list[float]
    target_ms: float
    statistic: str  # "p50" or "p95": which figure the target applies to
    parts: dict[str, list[float]] = field(default_factory=dict)  # where the time went, per repetition

    def percentile(self, q: float, times: list[float] | None = None) -> float:
        ordered = sorted(self.times_ms if times is None else times)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]

    def part_lines(self) -> list[str]:
        return [f"  {self.case}: {name}: p50 {statistics.median(times):.0f} ms, p95 {self.percentile(95, times):.0f} ms"
                for name, times in self.parts.items()]

    def row(self) -> str:
        p50, p95 = statistics.median(self.times_ms), self.percentile(95)
        judged = p50 if self.statistic == "p50" else p95
        verdict = "PASS" if judged <= self.target_ms else "MISS"
        return (f"| {self.case} | {len(self.times_ms)} | {p50:.0f} | {p95:.0f} | {max(self.times_ms):.0f} | "
                f"{self.statistic} <= {self.target_ms:.0f} | {verdict} |")


# ---- the server and the browser -----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(device: str, blas_threads: int | None, deflate: bool) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "LAMINA_DEVICE": device}
    if blas_threads:
        env["OPENBLAS_NUM_THREADS"] = str(blas_threads)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--ws-per-message-deflate", str(deflate).lower()],
        env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/health", timeout=1)
            return process, url
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("the server exited during start-up")
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not answer /api/health within 60 s")


def new_page(browser, url: str):
    page = browser.new_context(viewport=VIEWPORT, base_url=url).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.console_errors = errors
    return page


def check_no_errors(page, case: str) -> None:
    if page.console_errors:
        raise RuntimeError(f"{case}: console errors in the page: {page.console_errors}")


# ---- the Network view ------------------------------------------------------------------------------------

def runs_done(page) -> int:
    return int(page.get_attribute("#network-view", "data-runs-done") or 0)


def wait_for_run_after(page, count: int) -> None:
    page.wait_for_function(f"Number(document.querySelector('#network-view').dataset.runsDone) > {count}")


def measure(page, name: str) -> float:
    return page.evaluate(f"performance.getEntriesByName('{name}', 'measure').at(-1).duration")


def photo(seed: int, size: int = 512) -> bytes:
    """A smooth 512x512 RGB picture with a few shapes (a different one per seed), as PNG bytes."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize((size, size)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y, r = rng.randrange(size), rng.randrange(size), rng.randrange(16, 120)
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x - r, y - r, x + r, y + r), fill=colour)
    buffer = io.BytesIO()
    image.filter(ImageFilter.GaussianBlur(1.5)).save(buffer, "PNG")
    return buffer.getvalue()


def bench_upload(browser, url: str, network: str, repeats: int, folder: Path) -> Result:
    page = new_page(browser, url)
    page.goto(f"/network?network={network}")
    wait_for_run_after(page, 0)
    page.check("#nv-input input[value='upload']")
    times = []
    for i in range(WARM_UP + repeats):
        path = folder / f"photo-{network}-{i}.png"
        path.write_bytes(photo(i))
        count = runs_done(page)
        page.set_input_files("#nv-input input[type='file']", str(path))
        wait_for_run_after(page, count)
        if i >= WARM_UP:
            times.append(measure(page, "lamina:input-to-first-maps"))
    check_no_errors(page, "upload")
    page.context.close()
    return Result(f"Network ({network}): upload 512x512 photo -> first layer's maps drawn", times, 300, "p50")


# every segment of a stroke is a new input and starts a run; the one that counts is the run of the last segment:
# its measure starts at the latest lamina:input-start mark
LAST_INPUT_DRAWN = """() => {
  const start = performance.getEntriesByName("lamina:input-start", "mark").at(-1);
  const drawn = performance.getEntriesByName("lamina:input-to-network-drawn", "measure").at(-1);
  return Boolean(start && drawn && drawn.startTime === start.startTime
    && document.querySelector("#network-view").dataset.runState === "done");
}"""


def bench_drawing(browser, url: str, repeats: int) -> Result:
    page = new_page(browser, url)
    page.goto("/network?network=digits-cnn")
    wait_for_run_after(page, 0)
    page.check("#nv-input input[value='draw']")
    pad = page.locator("#nv-input canvas").first.bounding_box()
    rng = random.Random(7)
    times = []
    for i in range(WARM_UP + repeats):
        count, before = runs_done(page), page.evaluate("location.search")
        page.click("#nv-input button:has-text('Clear')")
        if page.evaluate("location.search") != before:  # the drawing changed: wait for its run
            wait_for_run_after(page, count)
        # a stroke like a "7": across the top, then down to the lower left
        points = [(0.25, 0.2), (0.75, 0.2), (0.45 + 0.1 * rng.random(), 0.85)]
        x0, y0 = points[0]
        page.mouse.move(pad["x"] + pad["width"] * x0, pad["y"] + pad["height"] * y0)
        page.mouse.down()
        for (xa, ya), (xb, yb) in zip(points, points[1:]):
            for step in range(1, 9):
                t = step / 8
                page.mouse.move(pad["x"] + pad["width"] * (xa + t * (xb - xa)),
                                pad["y"] + pad["height"] * (ya + t * (yb - ya)))
        page.mouse.up()
        page.wait_for_function(LAST_INPUT_DRAWN)
        if i >= WARM_UP:
            times.append(measure(page, "lamina:input-to-network-drawn"))
    check_no_errors(page, "drawing")
    page.context.close()
    return Result("Network (digits-cnn): stroke drawn -> all 9 layers drawn", times, 500, "p50")


# ---- the Layer lab -----------------------------------------------------------------------------------------

STAMP_KEYDOWN = """() => {
  window.__benchKeydown = null;
  document.addEventListener("keydown", () => { window.__benchKeydown = performance.now(); }, true);
}"""

LATENCY_SINCE_KEYDOWN = """(draws) => {
  const view = document.querySelector("#lab-output-view");
  if (Number(view.dataset.draws) <= draws) return null;
  const marks = performance.getEntriesByName("lamina:output-drawn", "mark");
  return marks.at(-1).startTime - window.__benchKeydown;
}"""


def bench_param(browser, url: str, changes: int) -> Result:
    page = new_page(browser, url)
    page.goto("/?kind=Conv2d&size=512&input=sample%3Acamera")
    page.wait_for_function("Number(document.querySelector('#lab-output-view').dataset.draws) >= 1")
    page.evaluate(STAMP_KEYDOWN)
    slider = page.locator("#param-padding")
    times, server, sent_to_drawn = [], [], []
    for i in range(WARM_UP + changes):
        draws = int(page.get_attribute("#lab-output-view", "data-draws"))
        shape_before = page.get_attribute("#lab-output-view", "data-shape")
        slider.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
        handle = page.wait_for_function(LATENCY_SINCE_KEYDOWN, arg=draws)
        latency = handle.json_value()
        shape_after = page.get_attribute("#lab-output-view", "data-shape")
        if shape_after == shape_before:  # padding 0 <-> 1 changes 510x510 <-> 512x512: the new output is drawn
            raise RuntimeError(f"param: the output shape stayed {shape_after} after moving the padding slider")
        if i >= WARM_UP:
            times.append(latency)
            sent_to_drawn.append(float(page.get_attribute("#lab-output-view", "data-draw-ms")))
            status = page.inner_text("#lab-status")  # "computed in X ms": the server's compute time
            if match := re.search(r"([\d.]+) ms", status):
                server.append(float(match[1]))
    check_no_errors(page, "param")
    page.context.close()
    parts = {"request sent -> output drawn (lab's data-draw-ms)": sent_to_drawn}
    if server:
        parts["server compute (lab status line)"] = server
    return Result("Layer lab: Conv2d padding step on 512x512 -> new output drawn", times, 150, "p95", parts)


# ---- main ------------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20, help="measured uploads and drawings per case (default 20)")
    parser.add_argument("--changes", type=int, default=50, help="measured parameter changes (default 50)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "gpu", "auto"), help="LAMINA_DEVICE for the server")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="OPENBLAS_NUM_THREADS for the server (default: OpenBLAS's own choice, one per core)")
    parser.add_argument("--deflate", action="store_true",
                        help="let uvicorn compress WebSocket messages (permessage-deflate: uvicorn's default, "
                             "off here as docs/benchmarks.md 'Server' advises for lamina serve)")
    parser.add_argument("--cases", nargs="*", default=["upload", "param", "drawing"],
                        help="which cases to run: upload, param, drawing")
    args = parser.parse_args()

    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    process, url = start_server(args.device, args.blas_threads, args.deflate)
    results = []
    try:
        with sync_playwright() as playwright, tempfile.TemporaryDirectory() as folder:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            version = browser.version
            if "upload" in args.cases:
                for network in ("edges", "digits-cnn"):
                    results.append(bench_upload(browser, url, network, args.repeats, Path(folder)))
            if "param" in args.cases:
                results.append(bench_param(browser, url, args.changes))
            if "drawing" in args.cases:
                results.append(bench_drawing(browser, url, args.repeats))
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=10)

    threads = args.blas_threads or "default"
    print(f"server LAMINA_DEVICE={args.device}, OPENBLAS_NUM_THREADS={threads}, permessage-deflate "
          f"{'on' if args.deflate else 'off'}; Chromium {version} (headless); "
          f"load average before: {load_before}; after: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| case | n | p50 ms | p95 ms | max ms | target | result |")
    print("|---|---|---|---|---|---|---|")
    for result in results:
        print(result.row())
    for result in results:
        for line in result.part_lines():
            print(line)


if __name__ == "__main__":
    main()
