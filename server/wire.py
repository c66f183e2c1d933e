"""Tensors for the browser: compact binary encodings, and strict JSON for everything else.

Two compact encodings of a float array, which a run chooses (docs/protocol.md has the byte layout):

- "float16": the values as little-endian IEEE half floats in C order, 2 bytes each. Finite values
  beyond float16's range (|x| > 65504) become +-inf and are counted in meta["overflow"]; NaN stays
  NaN in the bytes.
- "uint8": one byte q per value and, per channel, an offset and a scale with
  value = offset + q * scale. The channel axis is 1 for a 4-D tensor (N, C, H, W), the last axis
  for a 3-D tensor (N, T, F), and there is one channel (the whole tensor) for 1-D and 2-D
  tensors. offset is the channel's smallest finite value and scale = (max - min) / 255, so a
  decoded value is within scale / 2 of the original. A constant channel has scale 0. NaN and
  +-inf are sent as q = 0 and counted in meta["non_finite"].

A tensor of at most `EXACT_VALUES` values (class scores, a dense layer's output, a kernel) is sent
as "float32" whatever the run chose (`encoding_for`): the exact values, 4 bytes each, at most
16 KB. The browser prints such numbers, and a rounded 0.9966 beside an exact 0.9967 misleads.

JSON sent to the browser is strict (no NaN or Infinity): `dumps` turns non-finite floats into
null and NumPy arrays into {"shape", "dtype": "float32", "data": base64}.
"""

from __future__ import annotations

import base64
import binascii
import json
import math

import numpy as np

ENCODINGS = ("float16", "uint8")  # what a run request may ask for
EXACT_VALUES = 4096  # tensors this small travel as exact float32 whatever the run asked for
ITEM_BYTES = {"float32": 4, "float16": 2, "uint8": 1}
MAX_NDIM = 8  # axes of an array a client sends (inputs are at most 4-D, weights at most 4-D)
FLOAT32_MAX = float(np.finfo(np.float32).max)
HALF_CHUNK = 262144  # values converted at a time, with reused scratch: NumPy's per-call cost outweighs cache misses below this


def channel_axis(ndim: int) -> int | None:
    """The axis that gets its own uint8 scale: 1 for (N, C, H, W), 2 for (N, T, F), None (whole tensor) below."""
    if ndim == 4:
        return 1
    if ndim == 3:
        return 2
    return None


def encoding_for(size: int, requested: str) -> str:
    """The encoding a tensor of `size` values travels in: exact float32 when small, else the requested one."""
    return "float32" if size <= EXACT_VALUES else requested


def encode(array, encoding: str) -> tuple[dict, bytes]:
    """(meta, payload) for a NumPy array; meta holds what `decode` and the browser need besides the bytes."""
    values = np.ascontiguousarray(array, dtype=np.float32)
    if encoding == "float32":
        return _encode_float32(values)
    if encoding == "float16":
        return _encode_float16(values)
    if encoding == "uint8":
        return _encode_uint8(values)
    raise ValueError(f"encoding must be one of {', '.join(ITEM_BYTES)}, got {encoding!r}")


def _encode_float32(values: np.ndarray) -> tuple[dict, bytes]:
    """The exact values, little-endian, 4 bytes each (small tensors only: see `encoding_for`)."""
    meta = {"encoding": "float32", "dtype": "float32", "shape": list(values.shape),
            "non_finite": values.size - int(np.count_nonzero(np.isfinite(values)))}
    return meta, values.astype("<f4", copy=False).tobytes()


def _encode_float16(values: np.ndarray) -> tuple[dict, bytes]:
    halves, non_finite_halves = _float16_halves(values)
    non_finite = values.size - int(np.count_nonzero(np.isfinite(values))) if non_finite_halves else 0
    meta = {"encoding": "float16", "dtype": "float16", "shape": list(values.shape),
            "non_finite": non_finite, "overflow": non_finite_halves - non_finite}
    return meta, halves.tobytes()


def float16_bits(values: np.ndarray) -> np.ndarray:
    """The IEEE half-float bit patterns (uint16, little-endian, same shape) of float32 `values`.

    The same bits as `values.astype(np.float16)` (NaN payloads aside), rounded to nearest even. NumPy
    converts one value at a time with branches, which runs up to twice as slow on ReLU outputs (zeros and
    positive values alternating at random); this converts large chunks (few NumPy calls) with a fixed
    sequence of vector operations into reused scratch, and mends NaNs afterwards in the rare arrays that
    hold any.
    """
    return _float16_halves(values)[0]


def _float16_halves(values: np.ndarray) -> tuple[np.ndarray, int]:
    """float16_bits, and how many halves are infinite or NaN (the encoder's header reports them)."""
    flat = np.ascontiguousarray(values, np.float32).reshape(-1)
    halves = np.empty(flat.size, "<u2")
    scratch = np.empty((3, min(HALF_CHUNK, flat.size)), np.uint32)  # reused by every chunk: no page faults
    for start in range(0, flat.size, HALF_CHUNK):
        chunk = flat[start:start + HALF_CHUNK]
        _half_bits(chunk, halves[start:start + HALF_CHUNK], *scratch[:, :chunk.size])
    # a half is NaN or +-inf when its five exponent bits are all set; a NaN may have come out as inf
    specials = int(np.count_nonzero((halves & 0x7C00) == 0x7C00))
    if specials:
        nan = np.isnan(flat)
        halves[nan] = 0x7E00 | ((flat[nan].view(np.uint32) >> 16) & 0x8000)  # the quiet NaN, with x's sign
    return halves.reshape(np.shape(values)), specials


def _half_bits(values: np.ndarray, out: np.ndarray, scaled: np.ndarray, exponent: np.ndarray,
               half: np.ndarray) -> None:
    """Write the half-float bits of float32 `values` into uint16 `out`, without a branch per value.

    M. Maratyszcza's fp16_ieee_from_fp32_value (github.com/Maratyszcza/FP16) in vector form: |x| times
    2^112 then 2^-110 overflows to inf exactly where the half does. Adding 2^(e + 15), with e the
    exponent of x but at least -14 (the smallest normal half), makes float32 addition itself round |x|
    to the half's 10 mantissa bits, nearest even (subnormal halves included); the half's exponent and
    mantissa are then read off the sum's bits and the sign is copied. A NaN comes out as an infinity
    here (float16_bits mends it). `scaled`, `exponent` and `half` are uint32 scratch of the values' length.
    """
    bits = values.view(np.uint32)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is wanted; signalling NaNs stay NaN
        magnitude = np.abs(values, out=scaled.view(np.float32))
        magnitude *= np.float32(2.0**112)
        magnitude *= np.float32(2.0**-110)
    np.bitwise_and(bits, np.uint32(0x7F800000), out=exponent)  # the biased exponent E, in place: E << 23
    np.maximum(exponent, np.uint32(113 << 23), out=exponent)  # E = 113: exponent -14
    exponent += np.uint32(15 << 23)  # 2^(e + 15)
    magnitude += exponent.view(np.float32)
    rounded = scaled
    np.right_shift(rounded, np.uint32(13), out=half)
    np.bitwise_and(half, np.uint32(0x7C00), out=half)
    np.bitwise_and(rounded, np.uint32(0x0FFF), out=rounded)
    half += rounded
    np.right_shift(bits, np.uint32(16), out=exponent)
    np.bitwise_and(exponent, np.uint32(0x8000), out=exponent)
    half |= exponent
    np.copyto(out, half, casting="unsafe")


def _encode_uint8(values: np.ndarray) -> tuple[dict, bytes]:
    axis = channel_axis(values.ndim)
    # (groups, channels, rest): reductions over axes 0 and 2 give one number per channel
    grouped = values.reshape(1, 1, -1) if axis is None else values.reshape(
        math.prod(values.shape[:axis]), values.shape[axis], -1)
    low, high = grouped.min(axis=(0, 2)), grouped.max(axis=(0, 2))
    all_finite = bool(np.isfinite(low).all() and np.isfinite(high).all())  # NaN or inf would show in min or max
    finite = None if all_finite else np.isfinite(grouped)
    if finite is not None:
        low = np.where(finite, grouped, np.inf).min(axis=(0, 2))
        high = np.where(finite, grouped, -np.inf).max(axis=(0, 2))
        empty = ~np.isfinite(low)  # channels without a finite value
        low[empty], high[empty] = 0.0, 0.0
    offsets = low.astype(np.float64)
    ranges = high.astype(np.float64) - offsets
    scales = ranges / 255.0
    inverse = np.divide(255.0, ranges, out=np.zeros_like(ranges), where=ranges > 0)
    # float32 keeps this fast; a range beyond float32's (-3e38 .. 3e38) or so narrow that 255 / range is
    # (below 1e-36) needs float64
    extreme = max(ranges.max(), inverse.max()) > FLOAT32_MAX
    work_type = np.float64 if extreme else np.float32
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite values are replaced just below
        steps = grouped - offsets.astype(work_type)[None, :, None]
        steps *= inverse.astype(work_type)[None, :, None]
    steps += 0.5  # round half up; values stay within [0, 255.5), so truncation below is rounding
    if finite is not None:
        steps[~finite] = 0.0
    codes = steps.astype(np.uint8)
    meta = {"encoding": "uint8", "dtype": "uint8", "shape": list(values.shape),
            "channel_axis": axis, "offsets": offsets.tolist(), "scales": scales.tolist(),
            "non_finite": 0 if finite is None else int(values.size - np.count_nonzero(finite))}
    return meta, codes.tobytes()


def decode(meta: dict, payload: bytes) -> np.ndarray:
    """The float32 array that `encode` produced (meta, payload) from, within the encoding's precision."""
    shape = tuple(meta["shape"])
    count = math.prod(shape)
    item_bytes = ITEM_BYTES.get(meta.get("encoding"))
    if item_bytes is None:
        raise ValueError(f"encoding must be one of {', '.join(ITEM_BYTES)}, got {meta.get('encoding')!r}")
    if len(payload) != count * item_bytes:
        raise ValueError(f"payload has {len(payload)} bytes; shape {list(shape)} in {meta['encoding']} "
                         f"needs {count * item_bytes}")
    if meta["encoding"] == "float32":
        return np.frombuffer(payload, "<f4").astype(np.float32).reshape(shape)
    if meta["encoding"] == "float16":
        return np.frombuffer(payload, "<f2").astype(np.float32).reshape(shape)
    codes = np.frombuffer(payload, np.uint8)
    axis = meta["channel_axis"]
    groups = 1 if axis is None else math.prod(shape[:axis])
    channels = 1 if axis is None else shape[axis]
    offsets = np.asarray(meta["offsets"], np.float64)[None, :, None]
    scales = np.asarray(meta["scales"], np.float64)[None, :, None]
    # float64, as JavaScript numbers are: offset + 255 * scale can pass float32's range mid-way
    return (offsets + codes.reshape(groups, channels, -1) * scales).astype(np.float32).reshape(shape)


def array_to_json(array) -> dict:
    """{"shape", "dtype": "float32", "data": base64 of little-endian float32}: exact values, NaN included."""
    values = np.ascontiguousarray(array, dtype="<f4")
    return {"shape": list(values.shape), "dtype": "float32", "data": base64.b64encode(values.tobytes()).decode()}


def array_from_json(value: object, where: str) -> np.ndarray:
    """The float32 array of an {"shape", "dtype": "float32", "data": base64} object; errors name `where`."""
    if not isinstance(value, dict) or set(value) - {"dtype"} != {"shape", "data"}:
        raise ValueError(f"{where} must be an object with fields 'shape', 'data' (base64 of little-endian "
                         f"float32) and optionally 'dtype': 'float32'")
    shape, data = value["shape"], value["data"]
    if value.get("dtype", "float32") != "float32":
        raise ValueError(f"{where}: dtype must be 'float32', got {value['dtype']!r}")
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in shape)):
        raise ValueError(f"{where}: shape must be a list of at most {MAX_NDIM} non-negative integers, "
                         f"got {shape!r}"[:300])
    if not isinstance(data, str):
        raise ValueError(f"{where}: data must be a base64 string")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"{where}: data is not valid base64 ({error})") from None
    if len(raw) != 4 * math.prod(shape):
        raise ValueError(f"{where}: data holds {len(raw)} bytes; shape {shape} needs {4 * math.prod(shape)} "
                         f"({math.prod(shape)} float32 values)")
    return np.frombuffer(raw, "<f4").astype(np.float32).reshape(shape)


def json_safe(value):
    """A copy of `value` that strict JSON can hold: non-finite floats become None, NumPy values plain ones."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return array_to_json(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def dumps(message: dict) -> str:
    """Strict, compact JSON text: NaN and Infinity can never slip through (allow_nan=False)."""
    try:  # most messages hold plain finite numbers only: the C encoder alone is 10x faster than json_safe
        return json.dumps(message, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):  # NumPy values, arrays, or non-finite floats
        return json.dumps(json_safe(message), allow_nan=False, separators=(",", ":"))
