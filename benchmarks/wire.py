"""Bytes and encode time of a 64x112x112 float32 activation in each wire encoding, against JSON.

    .venv/bin/python benchmarks/wire.py [--repeats N]

Encodes the same seeded activation (a ReLU of standard normal values, as after a conv layer, and
uniform noise) with `server.wire.encode` in "uint8" and "float16", and as JSON of `tolist()` (and
orjson where installed) for comparison. Times are the median of N calls; the header (scales and
offsets, as strict JSON) is counted in the uint8 size. "JSON/this" is the JSON time over this format's
time in the same run: on a shared machine it moves less than the times themselves. Targets: uint8 at
most 0.9 MB and 10 ms, float16 at most 1.7 MB and 5 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from server.wire import decode, dumps, encode  # noqa: E402

SHAPE = (1, 64, 112, 112)
TARGETS = {"uint8": (0.9e6, 10.0), "float16": (1.7e6, 5.0)}  # bytes, ms


def _median_ms(function, repeats: int) -> tuple[float, object]:
    result = function()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def _wire_row(x: np.ndarray, encoding: str, repeats: int) -> dict:
    ms, (meta, payload) = _median_ms(lambda: encode(x, encoding), repeats)
    decode_ms, decoded = _median_ms(lambda: decode(meta, payload), repeats)
    size = len(payload) + len(dumps(meta))
    error = float(np.abs(decoded - x).max())
    max_bytes, max_ms = TARGETS[encoding]
    return {"format": encoding, "bytes": size, "ms": ms, "decode_ms": decode_ms, "max_error": error,
            "target": f"<= {max_bytes / 1e6:.1f} MB, <= {max_ms:.0f} ms",
            "ok": "yes" if size <= max_bytes and ms <= max_ms else "NO"}


def _json_rows(x: np.ndarray, repeats: int) -> list[dict]:
    rows = []
    ms, text = _median_ms(lambda: json.dumps(x.tolist()), max(1, repeats // 5))
    rows.append({"format": "JSON tolist", "bytes": len(text), "ms": ms})
    try:
        import orjson
    except ImportError:
        return rows
    ms, data = _median_ms(lambda: orjson.dumps(x, option=orjson.OPT_SERIALIZE_NUMPY), repeats)
    rows.append({"format": "orjson", "bytes": len(data), "ms": ms})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21, help="calls per measurement (median)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    inputs = {"relu(normal)": np.maximum(rng.standard_normal(SHAPE, np.float32), 0),
              "uniform noise": rng.uniform(-1, 1, SHAPE).astype(np.float32)}
    print(f"activation {SHAPE} float32 = {np.prod(SHAPE) * 4 / 1e6:.2f} MB raw, median of {args.repeats} calls; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'data':<14} {'format':<12} {'MB':>6} {'encode ms':>10} {'JSON/this':>10} {'decode ms':>10} "
          f"{'max |error|':>12}  target")
    for label, x in inputs.items():
        json_rows = _json_rows(x, args.repeats)
        for row in [_wire_row(x, e, args.repeats) for e in ("uint8", "float16")] + json_rows:
            decode_ms = f"{row['decode_ms']:10.2f}" if "decode_ms" in row else f"{'':>10}"
            error = f"{row['max_error']:12.2e}" if "max_error" in row else f"{'':>12}"
            target = f"  {row['target']}: {row['ok']}" if "target" in row else ""
            print(f"{label:<14} {row['format']:<12} {row['bytes'] / 1e6:6.2f} {row['ms']:10.2f} "
                  f"{json_rows[0]['ms'] / row['ms']:9.0f}x {decode_ms} {error}{target}")

if __name__ == "__main__":
    main()
