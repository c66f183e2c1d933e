"""Summary statistics of an activation, as the browser shows them next to each layer."""

from __future__ import annotations

from engine.backend import array_module, to_numpy

HISTOGRAM_BINS = 32


def _empty(count: int, non_finite: int) -> dict:
    return {"count": count, "non_finite": non_finite, "min": None, "max": None, "mean": None, "std": None,
            "zero_fraction": 0.0, "histogram": {"counts": [0] * HISTOGRAM_BINS, "edges": None}}


def summarize(values) -> dict:
    """min, max, mean, std, share of exact zeros, a 32-bin histogram and the count of non-finite values.

    Statistics are over the finite values only, so NaN or Inf in an activation are counted, never
    propagated into the numbers (all are None when no value is finite). The mean accumulates in float64;
    std = sqrt(mean((x - mean)²)). Bins are equal-width over [min, max], the last one closed, as
    numpy.histogram makes them.
    """
    xp = array_module(values)
    flat = values.reshape(-1)
    count = int(flat.size)
    finite_mask = xp.isfinite(flat)
    non_finite = count - int(xp.count_nonzero(finite_mask))
    if non_finite:
        flat = flat[finite_mask]
    if flat.size == 0:
        return _empty(count, non_finite)
    low, high = float(flat.min()), float(flat.max())
    mean = float(flat.sum(dtype=xp.float64)) / flat.size
    centred = flat - xp.asarray(mean, dtype=flat.dtype)
    std = float(xp.sqrt(xp.dot(centred, centred) / flat.size))  # BLAS dot: blocked sums, fast and close enough
    if high > low:
        edges_low, width = low, (high - low) / HISTOGRAM_BINS
    else:  # one value: a bin of width 1/32 around it, as numpy.histogram does with range (v - 0.5, v + 0.5)
        edges_low, width = low - 0.5, 1.0 / HISTOGRAM_BINS
    bins = ((flat - xp.asarray(edges_low, dtype=flat.dtype)) * xp.asarray(1.0 / width, dtype=flat.dtype))
    bins = xp.clip(bins, 0, HISTOGRAM_BINS - 1).astype(xp.intp)
    counts = xp.bincount(bins, minlength=HISTOGRAM_BINS)
    edges = [edges_low + i * width for i in range(HISTOGRAM_BINS + 1)]
    return {
        "count": count,
        "non_finite": non_finite,
        "min": low,
        "max": high,
        "mean": mean,
        "std": std,
        "zero_fraction": (flat.size - int(xp.count_nonzero(flat))) / count,
        "histogram": {"counts": [int(c) for c in to_numpy(counts)], "edges": edges},
    }
