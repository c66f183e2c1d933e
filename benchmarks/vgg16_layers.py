"""Where the VGG16 forward's time goes: each layer on the engine and on PyTorch, side by side.

    .venv/bin/python benchmarks/vgg16_layers.py [--repeats N]

Each of VGG16's convolutions (with the ReLU after it) and pools is timed alone, on
seeded inputs of its real shape, by two long-lived worker processes (engine and torch)
asked in turn, A B A B, as in `benchmarks/engine.py` and for the same reason. The
table gives the median milliseconds per layer, the ratio and the gap in ms; the gaps
say which layers make the whole network's ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import importlib.util
from pathlib import Path

import numpy as np

# benchmarks/engine.py, loaded under another name: `engine` is the package it benchmarks.
_spec = importlib.util.spec_from_file_location("engine_benchmark", Path(__file__).with_name("engine.py"))
bench = sys.modules["engine_benchmark"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def layer_shapes() -> list[tuple]:
    """VGG16's layers at 224x224: ("conv", in, out, size) or ("pool", channels, size)."""
    layers, channels, size = [], 3, 224
    for v in bench.VGG16_CONFIG:
        if v == "M":
            layers.append(("pool", channels, size))
            size //= 2
        else:
            layers.append(("conv", channels, v, size))
            channels = v
    return layers


def _name(layer: tuple) -> str:
    return f"conv {layer[1]}->{layer[2]} @{layer[3]}" if layer[0] == "conv" else f"pool {layer[1]} @{layer[2]}"


def _runners(side: str) -> list:
    """One no-argument function per layer, on seeded inputs shared by both sides."""
    if side == "torch":
        import torch
        import torch.nn.functional as F

        torch.set_grad_enabled(False)
        convert = torch.from_numpy
        conv, relu, pool = (lambda x, w, b: F.conv2d(x, w, b, padding=1)), F.relu, (lambda x: F.max_pool2d(x, 2))
    else:
        from engine.functional.activation import relu
        from engine.functional.conv import conv2d
        from engine.functional.pool import max_pool2d

        convert = np.asarray
        conv, pool = (lambda x, w, b: conv2d(x, w, b, padding=1)), (lambda x: max_pool2d(x, 2))
    rng = np.random.default_rng(0)
    runners = []
    for layer in layer_shapes():
        if layer[0] == "pool":
            x = convert(bench._normal(rng, (1, layer[1], layer[2], layer[2])))
            runners.append(lambda x=x: pool(x))
        else:
            _, c_in, c_out, size = layer
            x = convert(bench._normal(rng, (1, c_in, size, size)))
            w, b = (convert(a) for a in bench._conv_params(rng, c_out, c_in, 3))
            runners.append(lambda x=x, w=w, b=b: relu(conv(x, w, b)))
    return runners


def worker(side: str) -> None:
    """For each line on stdin, time every layer once and print the seconds as one JSON list."""
    runners = _runners(side)
    for _ in sys.stdin:
        print(json.dumps([bench._measure(run, 0.3)[0] for run in runners]), flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="alternating engine/torch passes over the layers")
    parser.add_argument("--worker", choices=("engine", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    workers = {side: subprocess.Popen([sys.executable, __file__, "--worker", side], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, cwd=bench.ROOT)
               for side in ("engine", "torch")}
    seconds = {side: [] for side in workers}
    for _ in range(args.repeats):
        for side, process in workers.items():
            time.sleep(bench.SETTLE_SECONDS)
            process.stdin.write("go\n")
            process.stdin.flush()
            seconds[side].append(json.loads(process.stdout.readline()))
    for process in workers.values():
        process.stdin.close()
        process.wait()
    print("| layer (+ ReLU) | engine ms | torch ms | ratio | gap ms |")
    print("|---|---|---|---|---|")
    totals = {side: 0.0 for side in workers}
    for i, layer in enumerate(layer_shapes()):
        ms = {side: 1e3 * statistics.median(run[i] for run in runs) for side, runs in seconds.items()}
        totals = {side: totals[side] + ms[side] for side in totals}
        print(f"| {_name(layer)} | {ms['engine']:.2f} | {ms['torch']:.2f} | "
              f"{ms['engine'] / ms['torch']:.2f}x | {ms['engine'] - ms['torch']:+.2f} |")
    print(f"| all layers | {totals['engine']:.2f} | {totals['torch']:.2f} | "
          f"{totals['engine'] / totals['torch']:.2f}x | {totals['engine'] - totals['torch']:+.2f} |")


if __name__ == "__main__":
    main()
