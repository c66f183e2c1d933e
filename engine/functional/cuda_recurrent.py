"""The recurrent layers' loop over time as one CUDA kernel (the GPU path of engine.functional.recurrent).

On the GPU the generic loop launches 3 (RNN) to about 15 (GRU) small kernels per time step, and at the
sizes this tool shows each launch (10-30 us through CuPy) costs far more than its arithmetic. Here
the whole sequence is one launch, one thread block per sequence n, h_{t-1} in shared memory. Step t:

    pre[r] = sum_k W_hh[r, k] * h_{t-1}[k]     for every gate row r (one warp per row, lanes over k)
    barrier
    each unit j: its gates from pre and the input half of step t, then h_t[j]
    barrier

The formulas and the records written are those of the generic loop in engine.functional.recurrent
(see its docstrings for the gates), so the two paths agree to rounding (the sums run in another order).
One block streams all of W_hh every step, so this pays only while W_hh is small: `fits` says when.
Nothing here imports CuPy until a kernel is asked for, so the module loads on machines without it.
"""

from __future__ import annotations

from functools import cache

import numpy as np

# Largest gate block of W_hh (H x H values, in bytes) for which the one-kernel loop is used. One
# block streams W_hh from L2 every step (about 90 GB/s), the generic loop pays ~13 us per launch
# (3 a step for RNN, 13-15 for LSTM and GRU): measured on an H200 (docs/benchmarks.md), the kernel
# won at H = 512 in float32 (1 MiB a block) by 2.8-4.6x and came out level at H = 1024 (4 MiB;
# RNN 0.9-1.0x, LSTM 0.95-1.0x, GRU 1.3-1.4x). 2 MiB sits between the two.
FUSED_MAX_BLOCK_BYTES = 2 << 20
SHARED_MEMORY_BYTES = 48 << 10  # what a block may use without asking for more
MAX_WARPS = 32  # 1024 threads, the most a block can have

_SOURCE = r"""
__device__ __forceinline__ T sigmoid(T a) { return (T(1) + TANH(a * T(0.5))) * T(0.5); }

// pre[r] = sum_k W_hh[r, k] * h[k] for r = 0 .. rows-1: one warp per row at a time, its lanes
// reading the row's consecutive k (coalesced), then a sum across the warp.
__device__ __forceinline__ void hidden_products(const T* __restrict__ weight_hh, const T* h, T* pre,
                                                const int rows, const int hidden) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    #pragma unroll 4
    for (int r = warp; r < rows; r += warps) {
        const T* w = weight_hh + (long long)r * hidden;
        T sum = T(0);
        for (int k = lane; k < hidden; k += 32) sum += w[k] * h[k];
        for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_down_sync(0xffffffffu, sum, offset);
        if (lane == 0) pre[r] = sum;
    }
}

// Shared memory: h (H values) then pre (G*H values). Each step: all rows' products from h_{t-1},
// a barrier, each unit's gates and h_t (written over h[j]: nobody reads h until the next step),
// a barrier.
#define SHARED_STATE(gates)                                        \
    extern __shared__ unsigned char shared_bytes[];                \
    T* h = reinterpret_cast<T*>(shared_bytes);                     \
    T* pre = h + hidden;                                           \
    const int n = blockIdx.x;                                      \
    const long long width = (long long)(gates) * hidden;           \
    for (int j = threadIdx.x; j < hidden; j += blockDim.x) h[j] = h0[(long long)n * hidden + j]; \
    __syncthreads();

extern "C" __global__ void __launch_bounds__(1024) lamina_rnn_steps(
        const T* __restrict__ projection,   // (T, N, H): x_t W_ih^T + b_ih + b_hh
        const T* __restrict__ weight_hh,    // (H, H)
        const T* __restrict__ h0,           // (N, H)
        const int steps, const int batch, const int hidden, const int relu,
        T* __restrict__ outputs) {          // (T, N, H): h_t
    SHARED_STATE(1)
    for (int t = 0; t < steps; ++t) {
        hidden_products(weight_hh, h, pre, width, hidden);
        __syncthreads();
        const long long row = ((long long)t * batch + n) * hidden;
        for (int j = threadIdx.x; j < hidden; j += blockDim.x) {
            const T a = pre[j] + projection[row + j];
            const T value = relu ? (a < T(0) ? T(0) : a) : TANH(a);  // NaN stays NaN, as with np.maximum
            outputs[row + j] = value;
            h[j] = value;
        }
        __syncthreads();
    }
}

extern "C" __global__ void __launch_bounds__(1024) lamina_lstm_steps(
        T* __restrict__ gates,              // (T, N, 4H): in x_t W_ih^T + b_ih + b_hh, out i, f, g, o
        const T* __restrict__ weight_hh,    // (4H, H)
        const T* __restrict__ h0,           // (N, H)
        const T* __restrict__ c0,           // (N, H)
        const int steps, const int batch, const int hidden, const int keep,
        T* __restrict__ hidden_out,         // (T, N, H): h_t
        T* __restrict__ cell_state,         // (keep ? T : 1, N, H): c_t
        T* __restrict__ tanh_cell) {        // (keep ? T : 1, N, H): tanh(c_t)
    SHARED_STATE(4)
    for (int t = 0; t < steps; ++t) {
        hidden_products(weight_hh, h, pre, width, hidden);
        __syncthreads();
        T* a = gates + ((long long)t * batch + n) * width;
        const long long row = ((long long)t * batch + n) * hidden;
        const long long slot = ((long long)(keep ? t : 0) * batch + n) * hidden;
        const long long previous_slot = ((long long)(keep ? t - 1 : 0) * batch + n) * hidden;
        for (int j = threadIdx.x; j < hidden; j += blockDim.x) {
            const T i = sigmoid(pre[j] + a[j]);
            const T f = sigmoid(pre[hidden + j] + a[hidden + j]);
            const T g = TANH(pre[2 * hidden + j] + a[2 * hidden + j]);
            const T o = sigmoid(pre[3 * hidden + j] + a[3 * hidden + j]);
            a[j] = i;
            a[hidden + j] = f;
            a[2 * hidden + j] = g;
            a[3 * hidden + j] = o;
            const T c_previous = t == 0 ? c0[(long long)n * hidden + j] : cell_state[previous_slot + j];
            const T c = f * c_previous + i * g;
            const T tanh_c = TANH(c);
            cell_state[slot + j] = c;
            tanh_cell[slot + j] = tanh_c;
            hidden_out[row + j] = tanh_c * o;
            h[j] = tanh_c * o;
        }
        __syncthreads();
    }
}

extern "C" __global__ void __launch_bounds__(1024) lamina_gru_steps(
        T* __restrict__ gates,              // (T, N, 3H): in x_t W_ih^T + b_ih, out r, z, n
        const T* __restrict__ weight_hh,    // (3H, H)
        const T* __restrict__ bias_hh,      // (3H,)
        const T* __restrict__ h0,           // (N, H)
        const int steps, const int batch, const int hidden, const int keep,
        T* __restrict__ hidden_out,         // (T, N, H): h_t
        T* __restrict__ from_hidden) {      // (keep ? T : 1, N, 3H): h_{t-1} W_hh^T + b_hh
    SHARED_STATE(3)
    for (int t = 0; t < steps; ++t) {
        hidden_products(weight_hh, h, pre, width, hidden);
        __syncthreads();
        T* a = gates + ((long long)t * batch + n) * width;
        T* kept = from_hidden + ((long long)(keep ? t : 0) * batch + n) * width;
        const long long row = ((long long)t * batch + n) * hidden;
        for (int j = threadIdx.x; j < hidden; j += blockDim.x) {
            const T h_r = pre[j] + bias_hh[j];
            const T h_z = pre[hidden + j] + bias_hh[hidden + j];
            const T h_n = pre[2 * hidden + j] + bias_hh[2 * hidden + j];
            kept[j] = h_r;
            kept[hidden + j] = h_z;
            kept[2 * hidden + j] = h_n;
            const T r = sigmoid(a[j] + h_r);
            const T z = sigmoid(a[hidden + j] + h_z);
            const T candidate = TANH(r * h_n + a[2 * hidden + j]);
            a[j] = r;
            a[hidden + j] = z;
            a[2 * hidden + j] = candidate;
            const T value = candidate + z * (h[j] - candidate);  // (1 - z) * n + z * h_{t-1}
            hidden_out[row + j] = value;
            h[j] = value;
        }
        __syncthreads();
    }
}
"""

_PRELUDES = {
    np.dtype(np.float32): "typedef float T;\n#define TANH tanhf\n",
    np.dtype(np.float64): "typedef double T;\n#define TANH tanh\n",
}


def _shared_bytes(gates: int, hidden: int, dtype) -> int:
    """h (H values) and pre (G*H values) in shared memory."""
    return (gates + 1) * hidden * np.dtype(dtype).itemsize


def fits(xp, gates: int, hidden: int, dtype) -> bool:
    """Whether the one-kernel loop runs: CuPy arrays of float32 or float64, and each of W_hh's
    `gates` blocks of H x H values no larger than FUSED_MAX_BLOCK_BYTES."""
    dtype = np.dtype(dtype)
    return (xp.__name__ == "cupy" and dtype in _PRELUDES
            and hidden * hidden * dtype.itemsize <= FUSED_MAX_BLOCK_BYTES
            and _shared_bytes(gates, hidden, dtype) <= SHARED_MEMORY_BYTES)


@cache
def _module(dtype):
    import cupy

    return cupy.RawModule(code=_PRELUDES[dtype] + _SOURCE)


def _contiguous(*arrays) -> list:
    """The inputs as C-contiguous CuPy arrays (copied only where they are not)."""
    import cupy

    return [cupy.ascontiguousarray(a) for a in arrays]


def _launch(name: str, gates: int, batch: int, hidden: int, dtype, *args) -> None:
    """One block per sequence, one warp per gate row up to MAX_WARPS. Every array must be
    C-contiguous: the outputs are written in place, so none is copied here."""
    for value in args:
        if hasattr(value, "flags") and not value.flags.c_contiguous:
            raise ValueError(f"{name}: every array must be C-contiguous, got strides {value.strides}")
    arguments = tuple(np.int32(a) if isinstance(a, (bool, int)) else a for a in args)
    threads = 32 * min(MAX_WARPS, gates * hidden)
    kernel = _module(np.dtype(dtype)).get_function(name)
    kernel((batch,), (threads,), arguments, shared_mem=_shared_bytes(gates, hidden, dtype))


def rnn_steps(projection, weight_hh, h0, relu: bool, outputs) -> None:
    """Fill outputs (T, N, H) with every h_t = act(h_{t-1} W_hh^T + projection[t]), h_{-1} = h0."""
    steps, batch, hidden = outputs.shape
    projection, weight_hh, h0 = _contiguous(projection, weight_hh, h0)
    _launch("lamina_rnn_steps", 1, batch, hidden, outputs.dtype,
            projection, weight_hh, h0, steps, batch, hidden, relu, outputs)


def lstm_steps(gates, weight_hh, h0, c0, keep: bool, hidden_out, cell_state, tanh_cell) -> None:
    """Overwrite gates (T, N, 4H) (the input half of each step) with the activated i, f, g, o and
    fill hidden_out, cell_state and tanh_cell as engine.functional.recurrent._lstm_steps does."""
    steps, batch, hidden = hidden_out.shape
    weight_hh, h0, c0 = _contiguous(weight_hh, h0, c0)
    _launch("lamina_lstm_steps", 4, batch, hidden, gates.dtype,
            gates, weight_hh, h0, c0, steps, batch, hidden, keep, hidden_out, cell_state, tanh_cell)


def gru_steps(gates, weight_hh, bias_hh, h0, keep: bool, hidden_out, from_hidden) -> None:
    """Overwrite gates (T, N, 3H) (the input half of each step) with the activated r, z, n and
    fill hidden_out and from_hidden as engine.functional.recurrent._gru_steps does; bias_hh may be None."""
    import cupy

    steps, batch, hidden = hidden_out.shape
    if bias_hh is None:
        bias_hh = cupy.zeros(3 * hidden, dtype=gates.dtype)
    weight_hh, bias_hh, h0 = _contiguous(weight_hh, bias_hh, h0)
    _launch("lamina_gru_steps", 3, batch, hidden, gates.dtype,
            gates, weight_hh, bias_hh, h0, steps, batch, hidden, keep, hidden_out, from_hidden)
