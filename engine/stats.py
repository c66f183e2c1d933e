"""Summary statistics of an activation, as the browser shows them next to each layer."""

from __future__ import annotations

from engine.backend import array_module, to_numpy

HISTOGRAM_BINS = 32


def summarize(values) -> dict:
    """min, max, mean, std, share of exact zeros, a 32-bin histogram and the count of non-finite values.

    Statistics are over the finite values only, so NaN or Inf in an activation are counted, never
    propagated into the numbers (all are None when no value is finite).
    """
    xp = array_module(values)
    flat = values.reshape(-1)
    finite_mask = xp.isfinite(flat)
    finite = flat[finite_mask]
    count = int(flat.size)
    non_finite = count - int(finite.size)
    if finite.size == 0:
        return {"count": count, "non_finite": non_finite, "min": None, "max": None, "mean": None, "std": None,
                "zero_fraction": 0.0, "histogram": {"counts": [0] * HISTOGRAM_BINS, "edges": None}}
    as64 = finite.astype(xp.float64)
    low, high = float(as64.min()), float(as64.max())
    counts, edges = xp.histogram(as64, bins=HISTOGRAM_BINS, range=(low, high) if high > low else (low - 0.5, low + 0.5))
    return {
        "count": count,
        "non_finite": non_finite,
        "min": low,
        "max": high,
        "mean": float(as64.mean()),
        "std": float(as64.std()),
        "zero_fraction": float((finite == 0).sum()) / count,
        "histogram": {"counts": [int(c) for c in to_numpy(counts)], "edges": [float(e) for e in to_numpy(edges)]},
    }
