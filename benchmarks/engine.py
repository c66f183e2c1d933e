"""Time the engine against PyTorch, layer by layer and on whole networks.

    .venv/bin/python benchmarks/engine.py [--repeats N] [--quick] [--cases NAME ...] [--device cpu|gpu]

`--device cpu` (the default) times the NumPy engine against PyTorch on the CPU;
`--device gpu` times the CuPy engine against PyTorch CUDA on the same GPU, both in
strict float32 (PyTorch's TF32 convolutions and matmuls turned off, as CuPy's are by
default), each call followed by a device synchronisation so that the time is the
work's and not the launch's.

Each side runs in its own long-lived worker process (PyTorch's OpenMP threads and
OpenBLAS's threads spin after work and slow the other library down when they share a
process). The parent asks the engine worker, then the torch worker, for one
measurement of a case, A B A B ..., pausing between them so the idle side's threads go
to sleep. A measurement is the median of as many calls as fit in a short time window.
The table shows the medians over the repeats and the median of the per-repeat ratios
engine/torch, against the target ratio. Both sides get the same seeded inputs and
weights, and their outputs are compared so that a fast but wrong path cannot pass.

The VGG16 line also gives the peak memory of a fresh process that builds VGG16 and
runs one forward pass: ru_maxrss for each side, and for the engine the tracemalloc
peak (weights plus the largest set of live arrays). On the GPU it gives the device
memory each side's caching allocator holds after that pass (CuPy's memory pool total,
PyTorch's max_memory_reserved).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SETTLE_SECONDS = 0.3  # pause before each measurement so the other process's threads stop spinning

VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
TINY_VGG_CONFIG = (10, 10, "M", 10, 10, "M")  # CNN Explainer's Tiny VGG: 3x3 valid convs, 10 channels


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    target: float  # largest acceptable ratio engine/torch
    flops: float  # nominal floating-point operations of one call


def _conv_flops(n, c_in, c_out, out_h, out_w, k, groups=1):
    return 2.0 * n * c_out * out_h * out_w * (c_in // groups) * k * k


def _network_flops(config, size, in_channels, conv_padding, fc_sizes):
    flops, c = 0.0, in_channels
    for v in config:
        if v == "M":
            size //= 2
            continue
        size = size + 2 * conv_padding - 2
        flops += _conv_flops(1, c, v, size, size, 3)
        c = v
    features = c * size * size
    for width in fc_sizes:
        flops += 2.0 * features * width
        features = width
    return flops


CASES = [
    Case("conv 3->64 @224 k3 p1", "Conv2d 3->64, 224x224, k3 p1", 1.1, _conv_flops(1, 3, 64, 224, 224, 3)),
    Case("conv 64->64 @112 k3 p1", "Conv2d 64->64, 112x112, k3 p1", 1.1, _conv_flops(1, 64, 64, 112, 112, 3)),
    Case("conv 256->256 @28 k3 p1", "Conv2d 256->256, 28x28, k3 p1", 1.1, _conv_flops(1, 256, 256, 28, 28, 3)),
    Case("conv 1->8 @28 k5", "Conv2d 1->8, 28x28, k5", 1.1, _conv_flops(1, 1, 8, 24, 24, 5)),
    Case("conv 3->16 @512 k3 s2", "Conv2d 3->16, 512x512, k3 s2 p1", 1.1, _conv_flops(1, 3, 16, 256, 256, 3)),
    Case("maxpool 2x2 64@112", "MaxPool2d 2x2 on 64x112x112", 0.5, 64 * 56 * 56 * 3.0),
    Case("linear 25088->4096", "Linear 25088->4096, batch 1", 1.1, 2.0 * 25088 * 4096),
    Case("convT 64->32 @56 k4 s2 p1", "ConvTranspose2d 64->32, 56x56, k4 s2 p1", 1.5,
         _conv_flops(1, 32, 64, 56, 56, 4)),
    Case("rnn tanh 64->128 x100", "RNN tanh, input 64, hidden 128, 100 steps", 1.5,
         100 * 2.0 * (64 * 128 + 128 * 128)),
    Case("vgg16 @224", "VGG16 forward, 224x224, batch 1", 1.1,
         _network_flops(VGG16_CONFIG, 224, 3, 1, (4096, 4096, 1000))),
    Case("tiny vgg @64", "Tiny VGG forward, 64x64, 10 classes", 1.1,
         _network_flops(TINY_VGG_CONFIG, 64, 3, 0, (10,))),
]
CASES_BY_NAME = {case.name: case for case in CASES}


# ----------------------------------------------------------------------------- inputs


def _normal(rng, shape, scale=1.0):
    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)).astype(np.float32)


def _conv_params(rng, c_out, c_in, k):
    """He-scaled random conv weights, so activations keep their size through a deep network."""
    return _normal(rng, (c_out, c_in, k, k), (2.0 / (c_in * k * k)) ** 0.5), _normal(rng, (c_out,), 0.1)


def _network_params(rng, config, in_channels, fc_features, fc_sizes):
    convs, c = [], in_channels
    for v in config:
        if v != "M":
            convs.append(_conv_params(rng, v, c, 3))
            c = v
    fcs, features = [], fc_features
    for width in fc_sizes:
        fcs.append((_normal(rng, (width, features), (1.0 / features) ** 0.5), _normal(rng, (width,), 0.1)))
        features = width
    return convs, fcs


def build_inputs(name: str) -> dict:
    """The seeded NumPy inputs of one case (the same arrays on both sides)."""
    rng = np.random.default_rng(0)
    conv_shapes = {
        "conv 3->64 @224 k3 p1": ((1, 3, 224, 224), 64, 3, 1, 1),
        "conv 64->64 @112 k3 p1": ((1, 64, 112, 112), 64, 3, 1, 1),
        "conv 256->256 @28 k3 p1": ((1, 256, 28, 28), 256, 3, 1, 1),
        "conv 1->8 @28 k5": ((1, 1, 28, 28), 8, 5, 1, 0),
        "conv 3->16 @512 k3 s2": ((1, 3, 512, 512), 16, 3, 2, 1),
    }
    if name in conv_shapes:
        shape, c_out, k, stride, padding = conv_shapes[name]
        weight, bias = _conv_params(rng, c_out, shape[1], k)
        return {"x": _normal(rng, shape), "weight": weight, "bias": bias, "stride": stride, "padding": padding}
    if name == "maxpool 2x2 64@112":
        return {"x": _normal(rng, (1, 64, 112, 112))}
    if name == "linear 25088->4096":
        return {"x": _normal(rng, (1, 25088)), "weight": _normal(rng, (4096, 25088), 25088 ** -0.5),
                "bias": _normal(rng, (4096,), 0.1)}
    if name == "convT 64->32 @56 k4 s2 p1":
        return {"x": _normal(rng, (1, 64, 56, 56)), "weight": _normal(rng, (64, 32, 4, 4), 0.05),
                "bias": _normal(rng, (32,), 0.1)}
    if name == "rnn tanh 64->128 x100":
        h = 128 ** -0.5
        return {"x": _normal(rng, (1, 100, 64)), "h0": np.zeros((1, 128), np.float32),
                "weight_ih": _normal(rng, (128, 64), h), "weight_hh": _normal(rng, (128, 128), h),
                "bias_ih": _normal(rng, (128,), h), "bias_hh": _normal(rng, (128,), h)}
    if name == "vgg16 @224":
        convs, fcs = _network_params(rng, VGG16_CONFIG, 3, 512 * 7 * 7, (4096, 4096, 1000))
        return {"x": _normal(rng, (1, 3, 224, 224)), "convs": convs, "fcs": fcs}
    if name == "tiny vgg @64":
        convs, fcs = _network_params(rng, TINY_VGG_CONFIG, 3, 10 * 13 * 13, (10,))
        return {"x": _normal(rng, (1, 3, 64, 64)), "convs": convs, "fcs": fcs}
    raise KeyError(name)


# ----------------------------------------------------------------------------- the two sides


def _synchronised(run, synchronise):
    """`run`, waiting for the device to finish before returning (GPU calls only queue work)."""
    def call():
        result = run()
        synchronise()
        return result

    return call


def engine_runner(name: str, inputs: dict, device: str = "cpu"):
    """A no-argument function running the case on the engine, on NumPy or on CuPy."""
    if device == "gpu":
        import cupy

        from engine.backend import set_backend

        set_backend("gpu")
        inputs = {k: _to_cupy(cupy, v) for k, v in inputs.items()}
        run = _engine_call(name, inputs)
        return _synchronised(run, cupy.cuda.get_current_stream().synchronize)
    return _engine_call(name, inputs)


def _to_cupy(cupy, value):
    if isinstance(value, np.ndarray):
        return cupy.asarray(value)
    if isinstance(value, list):
        return [tuple(cupy.asarray(v) for v in pair) for pair in value]
    return value


def _engine_call(name: str, inputs: dict):
    """A no-argument function running the case on the engine (imports are lazy, per case)."""
    if name.startswith("conv "):
        from engine.functional.conv import conv2d

        a = inputs
        return lambda: conv2d(a["x"], a["weight"], a["bias"], stride=a["stride"], padding=a["padding"])
    if name.startswith("maxpool"):
        from engine.functional.pool import max_pool2d

        return lambda: max_pool2d(inputs["x"], 2)
    if name.startswith("linear"):
        from engine.functional.linear import linear

        return lambda: linear(inputs["x"], inputs["weight"], inputs["bias"])
    if name.startswith("convT"):
        from engine.functional.conv import conv_transpose2d

        return lambda: conv_transpose2d(inputs["x"], inputs["weight"], inputs["bias"], stride=2, padding=1)
    if name.startswith("rnn"):
        from engine.functional.recurrent import rnn_sequence

        a = inputs
        return lambda: rnn_sequence(a["x"], a["h0"], a["weight_ih"], a["weight_hh"], a["bias_ih"], a["bias_hh"],
                                    nonlinearity="tanh")[0]
    if name.startswith(("vgg16", "tiny vgg")):
        from engine.functional.activation import relu
        from engine.functional.conv import conv2d
        from engine.functional.linear import linear
        from engine.functional.pool import max_pool2d

        config = VGG16_CONFIG if name.startswith("vgg16") else TINY_VGG_CONFIG
        padding = 1 if name.startswith("vgg16") else 0
        ops = {"conv": lambda x, w, b: conv2d(x, w, b, padding=padding), "relu": relu,
               "pool": lambda x: max_pool2d(x, 2), "linear": linear, "flatten": lambda x: x.reshape(x.shape[0], -1)}
        return lambda: _network(ops, config, inputs)
    raise KeyError(name)


def torch_runner(name: str, inputs: dict, device: str = "cpu"):
    """A no-argument function running the case on PyTorch (no autograd), on the CPU or CUDA."""
    import torch

    torch.set_grad_enabled(False)
    target = "cpu"
    if device == "gpu":
        if not torch.cuda.is_available():
            raise RuntimeError("--device gpu needs PyTorch with CUDA and a GPU")
        torch.backends.cudnn.allow_tf32 = False  # strict float32, like the engine's cuBLAS calls
        torch.backends.cuda.matmul.allow_tf32 = False
        target = "cuda"
    a = {k: _to_torch(torch, v, target) for k, v in inputs.items()}
    run = _torch_call(torch, name, a, target)
    return _synchronised(run, torch.cuda.synchronize) if device == "gpu" else run


def _torch_call(torch, name: str, a: dict, target: str):
    import torch.nn.functional as F

    if name.startswith("conv "):
        return lambda: F.conv2d(a["x"], a["weight"], a["bias"], stride=a["stride"], padding=a["padding"])
    if name.startswith("maxpool"):
        return lambda: F.max_pool2d(a["x"], 2)
    if name.startswith("linear"):
        return lambda: F.linear(a["x"], a["weight"], a["bias"])
    if name.startswith("convT"):
        return lambda: F.conv_transpose2d(a["x"], a["weight"], a["bias"], stride=2, padding=1)
    if name.startswith("rnn"):
        # torch.nn.RNN's fused kernel, fed the same weights.
        rnn = torch.nn.RNN(64, 128, nonlinearity="tanh", batch_first=True).to(target)
        for param, key in ((rnn.weight_ih_l0, "weight_ih"), (rnn.weight_hh_l0, "weight_hh"),
                           (rnn.bias_ih_l0, "bias_ih"), (rnn.bias_hh_l0, "bias_hh")):
            param.copy_(a[key])
        h0 = a["h0"][None]  # torch.nn.RNN wants (layers, N, H)
        return lambda: rnn(a["x"], h0)[0]
    if name.startswith(("vgg16", "tiny vgg")):
        config = VGG16_CONFIG if name.startswith("vgg16") else TINY_VGG_CONFIG
        padding = 1 if name.startswith("vgg16") else 0
        ops = {"conv": lambda x, w, b: F.conv2d(x, w, b, padding=padding), "relu": F.relu,
               "pool": lambda x: F.max_pool2d(x, 2), "linear": F.linear, "flatten": lambda x: x.flatten(1)}
        return lambda: _network(ops, config, a)
    raise KeyError(name)


def _to_torch(torch, value, target: str):
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value).to(target)
    if isinstance(value, list):
        return [tuple(torch.from_numpy(v).to(target) for v in pair) for pair in value]
    return value


def _to_host(value) -> np.ndarray:
    """A NumPy copy of a NumPy, CuPy or PyTorch (CPU or CUDA) result."""
    if type(value).__module__.startswith("torch"):
        return value.cpu().numpy()
    from engine.backend import to_numpy

    return to_numpy(value)


def _network(ops, config, params):
    """VGG-style forward pass: (conv, relu)* and 2x2 max pools, then linear layers with relu between."""
    x, convs = params["x"], iter(params["convs"])
    for v in config:
        if v == "M":
            x = ops["pool"](x)
        else:
            x = ops["relu"](ops["conv"](x, *next(convs)))
    x = ops["flatten"](x)
    for i, (weight, bias) in enumerate(params["fcs"]):
        x = ops["linear"](x, weight, bias)
        if i < len(params["fcs"]) - 1:
            x = ops["relu"](x)
    return x


# ----------------------------------------------------------------------------- worker processes


def _measure(run, min_seconds: float, max_calls: int = 50) -> tuple[float, np.ndarray]:
    """Median seconds per call over as many calls as fit in `min_seconds` (at least 3), after one warm-up."""
    start = time.perf_counter()
    result = run()
    first = time.perf_counter() - start
    calls = int(min(max_calls, max(3, min_seconds / max(first, 1e-6))))
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), _to_host(result).astype(np.float64)


def _fingerprint(output: np.ndarray) -> list[float]:
    """Up to 64 evenly spaced values of an output, enough to tell a wrong result from a right one."""
    flat = output.ravel()
    return flat[:: max(1, flat.size // 64)].tolist()


def worker(side: str, device: str) -> None:
    """Answer one JSON line per request on stdin: {"case", "seconds"} -> {"seconds", "fingerprint"} or {"error"}."""
    runners = {}
    make = engine_runner if side == "engine" else torch_runner
    for line in sys.stdin:
        request = json.loads(line)
        name = request["case"]
        try:
            if name not in runners:
                runners[name] = make(name, build_inputs(name), device)
            seconds, output = _measure(runners[name], request["seconds"])
            reply = {"seconds": seconds, "fingerprint": _fingerprint(output)}
        except Exception as error:  # a missing op (ImportError) or a failing one: report, keep serving
            reply = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), flush=True)


def memory_probe(side: str, name: str, device: str) -> None:
    """Build one network case in this fresh process, run it once, print its peak memory as JSON."""
    import tracemalloc

    tracemalloc.start()
    inputs = build_inputs(name)
    run = (engine_runner if side == "engine" else torch_runner)(name, inputs, device)
    run()
    traced_peak = tracemalloc.get_traced_memory()[1]
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    held = None
    if device == "gpu" and side == "engine":
        import cupy

        held = cupy.get_default_memory_pool().total_bytes()
    elif device == "gpu":
        import torch

        held = torch.cuda.max_memory_reserved()
    print(json.dumps({"maxrss": maxrss, "traced_peak": traced_peak if side == "engine" else None,
                      "device_held": held}))


class Worker:
    """A long-lived worker process for one side."""

    def __init__(self, side: str, device: str):
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", side, "--device", device],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )

    def ask(self, case: str, seconds: float) -> dict:
        self.process.stdin.write(json.dumps({"case": case, "seconds": seconds}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def _probe_memory(side: str, name: str, device: str) -> dict:
    output = subprocess.run([sys.executable, __file__, "--memory", side, name, "--device", device],
                            capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- the table


def _close(a: list[float], b: list[float]) -> bool:
    """Two fingerprints agree to float32 accuracy (relative to the largest value)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-3, atol=1e-4 * np.abs(b).max()))


def run_case(case: Case, engine: Worker, torch_worker: Worker, repeats: int, seconds: float) -> dict:
    engine_times, torch_times, ratios = [], [], []
    for _ in range(repeats):
        time.sleep(SETTLE_SECONDS)
        mine = engine.ask(case.name, seconds)
        time.sleep(SETTLE_SECONDS)
        theirs = torch_worker.ask(case.name, seconds)
        if "error" in mine or "error" in theirs:
            return {"error": mine.get("error") or theirs.get("error")}
        engine_times.append(mine["seconds"])
        torch_times.append(theirs["seconds"])
        ratios.append(mine["seconds"] / theirs["seconds"])
    return {
        "engine_ms": 1e3 * statistics.median(engine_times),
        "torch_ms": 1e3 * statistics.median(torch_times),
        "ratio": statistics.median(ratios),
        "same_output": _close(mine["fingerprint"], theirs["fingerprint"]),
    }


def _row(case: Case, result: dict) -> str:
    if "error" in result:
        return f"| {case.description} | n/a | n/a | | | | {case.target:.1f}x | not run: {result['error']} |"
    gflops = lambda ms: case.flops / (ms * 1e-3) / 1e9
    verdict = "PASS" if result["ratio"] <= case.target else "MISS"
    if not result["same_output"]:
        verdict += " (outputs differ!)"
    return (f"| {case.description} | {result['engine_ms']:.2f} | {result['torch_ms']:.2f} | "
            f"{gflops(result['engine_ms']):.1f} | {gflops(result['torch_ms']):.1f} | "
            f"{result['ratio']:.2f}x | {case.target:.1f}x | {verdict} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="alternating engine/torch measurements per case")
    parser.add_argument("--quick", action="store_true", help="2 repeats, shorter measurements, no memory probe")
    parser.add_argument("--cases", nargs="+", metavar="TEXT", help="only the cases whose name contains TEXT")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="cpu: NumPy engine vs PyTorch CPU; gpu: CuPy engine vs PyTorch CUDA (default cpu)")
    parser.add_argument("--worker", choices=("engine", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--memory", nargs=2, metavar=("SIDE", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.device)
    if args.memory:
        return memory_probe(*args.memory, args.device)

    repeats = 2 if args.quick else args.repeats
    seconds = 0.15 if args.quick else 0.4
    cases = [c for c in CASES if not args.cases or any(text in c.name for text in args.cases)]
    import torch

    print(f"numpy {np.__version__}, torch {torch.__version__}, {os.cpu_count()} CPUs; "
          f"{repeats} alternating repeats per case")
    if args.device == "gpu":
        import cupy

        print(f"GPU: {torch.cuda.get_device_name()}, cupy {cupy.__version__}, CUDA {torch.version.cuda}; "
              "strict float32 on both sides")
    print("| case | engine ms | torch ms | engine GFLOP/s | torch GFLOP/s | ratio | target | result |")
    print("|---|---|---|---|---|---|---|---|")
    engine, torch_worker = Worker("engine", args.device), Worker("torch", args.device)
    try:
        for case in cases:
            print(_row(case, run_case(case, engine, torch_worker, repeats, seconds)), flush=True)
    finally:
        engine.close()
        torch_worker.close()
    if not args.quick and any(c.name == "vgg16 @224" for c in cases):
        mine, theirs = (_probe_memory(side, "vgg16 @224", args.device) for side in ("engine", "torch"))
        if args.device == "gpu":
            print(f"\nVGG16 device memory held after one forward (weights included): engine CuPy pool "
                  f"{mine['device_held'] / 2**30:.2f} GiB, torch max_memory_reserved "
                  f"{theirs['device_held'] / 2**30:.2f} GiB")
            return
        print(f"\nVGG16 peak memory (fresh process, weights included): engine ru_maxrss "
              f"{mine['maxrss'] / 2**30:.2f} GiB (tracemalloc peak {mine['traced_peak'] / 2**30:.2f} GiB), "
              f"torch ru_maxrss {theirs['maxrss'] / 2**30:.2f} GiB; target < 1.5 GB: "
              f"{'PASS' if mine['maxrss'] < 1.5e9 else 'MISS'}")


if __name__ == "__main__":
    main()
