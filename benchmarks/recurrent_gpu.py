"""Time the recurrent ops on the GPU: the one-kernel loop, the generic loop and PyTorch's cuDNN.

    python3 benchmarks/recurrent_gpu.py [--steps 100] [--features 64]

For RNN (tanh), LSTM and GRU at several hidden sizes and batches, prints the ms per call of
engine.functional's op with the loop as one CUDA kernel (engine.functional.cuda_recurrent),
the same op with the generic loop (a few CuPy launches per step), and torch.nn.RNN/LSTM/GRU
on CUDA (cuDNN, strict float32), each call ended by a device synchronisation; then the
ratios to PyTorch, the largest difference between the two loops' outputs, and which loop
`cuda_recurrent.fits` picks. The figures say where FUSED_MAX_BLOCK_BYTES should sit.
All three run in one process: on the GPU neither side keeps CPU threads spinning.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

# benchmarks/engine.py, loaded under another name (`engine` is the package it benchmarks): its timing helpers
_spec = importlib.util.spec_from_file_location("engine_benchmark", Path(__file__).with_name("engine.py"))
bench = sys.modules["engine_benchmark"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)  # it puts the repository root on sys.path

from engine.functional import cuda_recurrent  # noqa: E402
from engine.functional.recurrent import gru_sequence, lstm_sequence, rnn_sequence  # noqa: E402

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
OPS = {"rnn": rnn_sequence, "lstm": lstm_sequence, "gru": gru_sequence}
MIN_SECONDS = 0.2  # each measurement: the median of as many calls as fit in this time


def _time(run, synchronise) -> tuple[float, np.ndarray]:
    """Median ms per call, each call waited for on the device, and the output on the host."""
    seconds, output = bench._measure(bench._synchronised(run, synchronise), MIN_SECONDS)
    return seconds * 1000, output


def _case(cupy, torch, kind, batch, steps, features, hidden) -> dict:
    rng = np.random.default_rng(0)
    rows = GATES[kind] * hidden
    bound = hidden ** -0.5
    host = {"x": rng.standard_normal((batch, steps, features)).astype(np.float32),
            "weight_ih_l0": rng.uniform(-bound, bound, (rows, features)).astype(np.float32),
            "weight_hh_l0": rng.uniform(-bound, bound, (rows, hidden)).astype(np.float32),
            "bias_ih_l0": rng.uniform(-bound, bound, rows).astype(np.float32),
            "bias_hh_l0": rng.uniform(-bound, bound, rows).astype(np.float32)}
    gpu = {name: cupy.asarray(value) for name, value in host.items()}
    weights = [gpu[name] for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")]
    states = (None, None) if kind == "lstm" else (None,)

    def engine():
        return OPS[kind](gpu["x"], *states, *weights)[0]

    synchronise = cupy.cuda.get_current_stream().synchronize
    picked = "one kernel" if cuda_recurrent.fits(cupy, GATES[kind], hidden, np.float32) else "generic"
    saved = cuda_recurrent.FUSED_MAX_BLOCK_BYTES
    try:
        cuda_recurrent.FUSED_MAX_BLOCK_BYTES = 1 << 40
        fused_ms, fused_out = _time(engine, synchronise)
        cuda_recurrent.FUSED_MAX_BLOCK_BYTES = 0
        generic_ms, generic_out = _time(engine, synchronise)
    finally:
        cuda_recurrent.FUSED_MAX_BLOCK_BYTES = saved

    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        features, hidden, batch_first=True).cuda()
    module.load_state_dict({name: torch.from_numpy(value) for name, value in host.items() if name != "x"})
    x_torch = torch.from_numpy(host["x"]).cuda()
    with torch.no_grad():
        torch_ms, torch_out = _time(lambda: module(x_torch)[0], torch.cuda.synchronize)
    return {"fused": fused_ms, "generic": generic_ms, "torch": torch_ms, "picked": picked,
            "loops_differ": float(np.abs(fused_out - generic_out).max()),
            "torch_differs": float(np.abs(fused_out - torch_out).max())}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--hidden", type=int, nargs="+", default=[16, 64, 128, 256, 512, 1024])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    args = parser.parse_args(argv)

    import cupy
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"{cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}, CuPy {cupy.__version__}, "
          f"PyTorch {torch.__version__}; {args.steps} steps, {args.features} features; ms per call, median")
    print("| op | hidden | batch | one kernel | generic loop | PyTorch | one kernel / PyTorch | generic / PyTorch "
          "| max diff of loops | max diff to PyTorch | picked |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind in GATES:
        for hidden in args.hidden:
            for batch in args.batch:
                r = _case(cupy, torch, kind, batch, args.steps, args.features, hidden)
                print(f"| {kind.upper()} | {hidden} | {batch} | {r['fused']:.3f} | {r['generic']:.3f} | "
                      f"{r['torch']:.3f} | {r['fused'] / r['torch']:.2f}x | {r['generic'] / r['torch']:.2f}x | "
                      f"{r['loops_differ']:.1e} | {r['torch_differs']:.1e} | {r['picked']} |", flush=True)


if __name__ == "__main__":
    main()
