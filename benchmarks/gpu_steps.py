"""Where the GPU path's time goes: the host's time and the device's time of each step.

    python3 benchmarks/gpu_steps.py

For the engine benchmark's convolutions (and VGG16's two largest layers) prints, per call,
the host time (the wall time of the Python call: CuPy's launches) and the device time (CUDA
events around the call) of the engine's conv2d, of PyTorch's F.conv2d, and of the conv2d's
steps alone: the [w | b] matrix, the im2col kernel and the GEMM (and the same GEMM through
torch.mm). Then each VGG16 layer, engine against PyTorch, and the engine's VGG16 features
end to end. Medians of 100 calls by cupyx.profiler.benchmark, in one process: on the GPU
neither side keeps CPU threads spinning. Where host and device times are equal the GPU
waits on the launches; where the device time is larger the kernels are the cost.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

VGG16_FEATURES = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")

CONVS = [  # (name, in channels, out channels, size, kernel, stride, padding)
    ("3->64 @224 k3 p1", 3, 64, 224, 3, 1, 1),
    ("64->64 @112 k3 p1", 64, 64, 112, 3, 1, 1),
    ("256->256 @28 k3 p1", 256, 256, 28, 3, 1, 1),
    ("1->8 @28 k5", 1, 8, 28, 5, 1, 0),
    ("3->16 @512 k3 s2 p1", 3, 16, 512, 3, 2, 1),
    ("64->64 @224 k3 p1 (VGG16)", 64, 64, 224, 3, 1, 1),
    ("512->512 @14 k3 p1 (VGG16)", 512, 512, 14, 3, 1, 1),
]


def timed(label: str, run, repeats: int = 100) -> float:
    """Print and return the median host ms of run(), with its median device ms."""
    from cupyx.profiler import benchmark

    result = benchmark(run, n_repeat=repeats, n_warmup=10)
    host, device = np.median(result.cpu_times) * 1e3, np.median(result.gpu_times[0]) * 1e3
    print(f"  {label:40s} host {host:7.3f} ms   device {device:7.3f} ms", flush=True)
    return host


def conv_steps(cupy, torch, rng) -> None:
    import torch.nn.functional as F

    from engine.functional import cuda_kernels
    from engine.functional.conv import conv2d

    for name, c, o, size, k, s, p in CONVS:
        print(name)
        x, w, b = (cupy.asarray(rng.standard_normal(shape, dtype=np.float32))
                   for shape in ((1, c, size, size), (o, c, k, k), (o,)))
        tx, tw, tb = (torch.as_tensor(a, device="cuda") for a in (x, w, b))
        out_size, taps = (size + 2 * p - k) // s + 1, c * k * k
        cols = cupy.empty((1, 1, taps + 1, out_size * out_size), cupy.float32)
        w_aug = cuda_kernels.augmented_weight(w, b, 1)
        out = cupy.empty((1, o, out_size, out_size), cupy.float32)
        timed("engine conv2d", lambda: conv2d(x, w, b, stride=s, padding=p))
        timed("torch F.conv2d", lambda: F.conv2d(tx, tw, tb, stride=s, padding=p))
        timed("  [w | b]", lambda: cuda_kernels.augmented_weight(w, b, 1))
        timed("  im2col kernel", lambda: cuda_kernels.im2col(x, cols, 0, 0, out_size, (k, k), (s, s), (1, 1), p, p, 1))
        timed("  GEMM (cupy.matmul)", lambda: cupy.matmul(w_aug, cols, out=out.reshape(1, 1, o, -1)))
        torch_w_aug, torch_cols = torch.as_tensor(w_aug[0]), torch.as_tensor(cols[0, 0])
        timed("  the same GEMM, torch.mm", lambda: torch.mm(torch_w_aug, torch_cols))


def vgg16_layers(cupy, torch, rng) -> None:
    import torch.nn.functional as F

    from engine.functional.activation import relu
    from engine.functional.conv import conv2d
    from engine.functional.pool import max_pool2d

    print("VGG16 features, layer by layer (host ms: engine, then torch)")
    x, channels, weights = cupy.asarray(rng.standard_normal((1, 3, 224, 224), dtype=np.float32)), 3, []
    engine_total = torch_total = 0.0
    for v in VGG16_FEATURES:
        tx = torch.as_tensor(x)
        if v == "M":
            engine_total += timed(f"max pool {tuple(x.shape)}", lambda: max_pool2d(x, 2))
            torch_total += timed("  torch", lambda: F.max_pool2d(tx, 2))
            x = max_pool2d(x, 2)
            weights.append(None)
            continue
        w = cupy.asarray(rng.standard_normal((v, channels, 3, 3), dtype=np.float32)) * np.float32(0.05)
        b = cupy.asarray(rng.standard_normal(v, dtype=np.float32))
        tw, tb = torch.as_tensor(w), torch.as_tensor(b)
        engine_total += timed(f"conv {channels}->{v} {tuple(x.shape)} + relu", lambda: relu(conv2d(x, w, b, padding=1)))
        torch_total += timed("  torch", lambda: F.relu(F.conv2d(tx, tw, tb, padding=1)))
        x, channels = relu(conv2d(x, w, b, padding=1)), v
        weights.append((w, b))
    print(f"sum of the layers' host times: engine {engine_total:.2f} ms, torch {torch_total:.2f} ms")

    def features(x):
        for layer in weights:
            x = max_pool2d(x, 2) if layer is None else relu(conv2d(x, *layer, padding=1))
        return x

    first = cupy.asarray(rng.standard_normal((1, 3, 224, 224), dtype=np.float32))
    timed("engine VGG16 features, end to end", lambda: features(first), repeats=30)


def main() -> None:
    try:
        import cupy
        import torch

        from engine.backend import set_backend

        set_backend("gpu")
    except Exception as error:  # no CuPy, no GPU, or a GPU that failed its smoke test
        sys.exit(f"gpu_steps.py needs CuPy, PyTorch and a working GPU: {error}")
    if not torch.cuda.is_available():
        sys.exit("gpu_steps.py needs PyTorch with CUDA")
    torch.backends.cudnn.allow_tf32 = False  # strict float32 on both sides, as in benchmarks/engine.py
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_grad_enabled(False)
    print(f"GPU: {torch.cuda.get_device_name()}, cupy {cupy.__version__}, torch {torch.__version__}")
    rng = np.random.default_rng(0)
    conv_steps(cupy, torch, rng)
    vgg16_layers(cupy, torch, rng)


if __name__ == "__main__":
    main()
