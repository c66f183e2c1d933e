"""Wire encodings: float16 and per-channel uint8 round trips, non-finite values, strict JSON."""

import base64
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from server.wire import (ENCODINGS, EXACT_VALUES, HALF_CHUNK, array_from_json, array_to_json, channel_axis, decode,
                         dumps, encode, encoding_for, float16_bits, json_safe)


def _strict_loads(text: str):
    """json.loads that fails on NaN, Infinity and -Infinity, which strict JSON does not have."""
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def _naive_uint8(x: np.ndarray, axis: int | None):
    """Per-channel offsets, scales and codes with plain Python loops in float64 (the reference)."""
    moved = x.reshape(1, -1) if axis is None else np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)
    offsets, scales, codes = [], [], np.zeros(moved.shape, np.int64)
    for c, row in enumerate(moved):
        finite = [float(v) for v in row if math.isfinite(v)]
        low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)
        scale = (high - low) / 255.0
        offsets.append(low)
        scales.append(scale)
        for i, v in enumerate(row):
            codes[c, i] = math.floor((float(v) - low) / scale + 0.5) if math.isfinite(v) and scale > 0 else 0
    if axis is not None:
        codes = np.moveaxis(codes.reshape(x.shape[axis], *np.delete(x.shape, axis)), 0, axis)
    return np.array(offsets), np.array(scales), codes.reshape(x.shape)


@pytest.mark.parametrize("ndim, expected", [(1, None), (2, None), (3, 2), (4, 1)])
def test_channel_axis_is_c_for_images_and_features_for_sequences(ndim, expected):
    assert channel_axis(ndim) == expected


@pytest.mark.parametrize("shape", [(7,), (2, 9), (2, 5, 3), (2, 3, 5, 4), (1, 64, 12, 12)])
def test_float16_round_trip_within_half_precision(shape):
    x = (np.random.default_rng(0).standard_normal(shape) * 10).astype(np.float32)
    meta, payload = encode(x, "float16")
    assert len(payload) == 2 * x.size
    assert meta["encoding"] == "float16" and meta["shape"] == list(shape)
    assert meta["non_finite"] == 0 and meta["overflow"] == 0
    y = decode(meta, payload)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, x, rtol=1e-3, atol=1e-7)
    # the bytes are little-endian IEEE halves in C order
    np.testing.assert_array_equal(np.frombuffer(payload, "<f2"), x.astype(np.float16).reshape(-1))


def test_float16_bits_equal_numpys_cast_over_all_kinds_of_values():
    # a sweep over the 32-bit patterns (every exponent, both signs, subnormals, halfway cases) and values
    # at the float16 kinks: the subnormal boundary, the largest half, the rounding edge to inf
    sweep = np.arange(0, 2**32, 4093, dtype=np.uint64).astype(np.uint32).view(np.float32)
    kinks = np.array([0.0, -0.0, 2**-24, 2**-25, 2**-25 * 1.0001, 2**-14, 2**-14 * (1 - 2**-11), 65504.0, 65519.99,
                      65520.0, 1 + 2**-11, 1 + 3 * 2**-11, 3e38, np.inf, -np.inf], np.float32)
    for values in (sweep, kinks, sweep[:7 * 1000].reshape(-1, 7)[:, :5]):  # the last: not contiguous
        with np.errstate(over="ignore", invalid="ignore"):
            expected = values.astype(np.float16)
        got = float16_bits(values)
        assert got.shape == values.shape and got.dtype == np.uint16
        nan = np.isnan(values)
        np.testing.assert_array_equal(got[~nan], expected.view(np.uint16)[~nan])
        assert np.all((got[nan] & 0x7FFF) == 0x7E00)  # every NaN becomes the quiet NaN, with its own sign
        np.testing.assert_array_equal(got[nan] >> 15, values[nan].view(np.uint32) >> 31)
    assert sweep.size > 4 * HALF_CHUNK  # several chunks


def test_float16_keeps_nan_and_inf_and_counts_overflow():
    x = np.array([[1.5, np.nan, np.inf, -np.inf, 70000.0, -1e6, 65504.0]], np.float32)
    meta, payload = encode(x, "float16")
    y = decode(meta, payload)
    assert np.isnan(y[0, 1]) and y[0, 2] == np.inf and y[0, 3] == -np.inf
    assert y[0, 4] == np.inf and y[0, 5] == -np.inf and y[0, 6] == 65504.0 and y[0, 0] == 1.5
    assert meta["non_finite"] == 3 and meta["overflow"] == 2
    _strict_loads(dumps(meta))


@pytest.mark.parametrize("shape", [(5,), (3, 11), (2, 6, 4), (2, 3, 5, 4)])
def test_uint8_matches_a_naive_per_channel_quantizer(shape):
    x = (np.random.default_rng(1).standard_normal(shape) * 3 + 1).astype(np.float32)
    meta, payload = encode(x, "uint8")
    axis = channel_axis(len(shape))
    offsets, scales, codes = _naive_uint8(x, axis)
    assert meta["channel_axis"] == axis and len(payload) == x.size
    np.testing.assert_allclose(meta["offsets"], offsets, rtol=0, atol=0)
    np.testing.assert_allclose(meta["scales"], scales, rtol=1e-12)
    got = np.frombuffer(payload, np.uint8).reshape(shape).astype(np.int64)
    assert np.abs(got - codes).max() <= 1  # float32 arithmetic may round a value at an exact half the other way
    assert (got == codes).mean() > 0.99
    _check_uint8_error(x, meta, decode(meta, payload))


def _check_uint8_error(x, meta, y):
    """Every finite value decodes within half a step of its channel (plus float32 rounding)."""
    axis = meta["channel_axis"]
    shape = [1] * x.ndim
    if axis is not None:
        shape[axis] = -1
    scales = np.asarray(meta["scales"]).reshape(shape)
    finite = np.isfinite(x)
    bound = scales / 2 + 1e-6 * np.abs(x) + 1e-30
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.all(np.abs(y - x)[finite] <= np.broadcast_to(bound, x.shape)[finite])


def test_uint8_extremes_of_each_channel_decode_exactly_and_codes_span_0_to_255():
    x = np.random.default_rng(2).uniform(-5, 7, (1, 4, 6, 6)).astype(np.float32)
    meta, payload = encode(x, "uint8")
    codes = np.frombuffer(payload, np.uint8).reshape(x.shape)
    y = decode(meta, payload)
    for c in range(4):
        assert codes[0, c].min() == 0 and codes[0, c].max() == 255
        assert y[0, c].min() == x[0, c].min()
        np.testing.assert_allclose(y[0, c].max(), x[0, c].max(), rtol=1e-6)


def test_uint8_constant_channel_has_scale_zero_and_is_exact():
    x = np.stack([np.full((3, 3), 2.5), np.arange(9.0).reshape(3, 3)])[None].astype(np.float32)
    meta, payload = encode(x, "uint8")
    assert meta["scales"][0] == 0.0 and meta["offsets"][0] == 2.5
    y = decode(meta, payload)
    np.testing.assert_array_equal(y[0, 0], 2.5)
    np.testing.assert_allclose(y[0, 1], x[0, 1], atol=meta["scales"][1] / 2 + 1e-6)


def test_uint8_non_finite_values_become_code_zero_and_are_counted():
    x = np.array([[[[1.0, np.nan], [3.0, np.inf]], [[np.nan, np.nan], [-np.inf, np.nan]]]], np.float32)
    meta, payload = encode(x, "uint8")
    codes = np.frombuffer(payload, np.uint8).reshape(x.shape)
    assert meta["non_finite"] == 6
    assert codes[0, 0, 0, 1] == 0 and codes[0, 0, 1, 1] == 0 and np.all(codes[0, 1] == 0)
    assert meta["offsets"] == [1.0, 0.0] and meta["scales"] == [2.0 / 255.0, 0.0]  # channel 1 has no finite value
    text = dumps(meta)
    assert "NaN" not in text and "Infinity" not in text
    _strict_loads(text)
    _check_uint8_error(x, meta, decode(meta, payload))


@pytest.mark.parametrize("values, codes", [([-3e38, 0.0, 3e38], [0, 128, 255]),  # a range beyond float32's
                                           ([0.0, 1.1754944e-38, 5e-39], [0, 255, 108])])  # 255 / range is
def test_uint8_handles_ranges_beyond_float32(values, codes):
    x = np.array([values], np.float32)
    meta, payload = encode(x, "uint8")
    assert all(math.isfinite(v) for v in meta["scales"] + meta["offsets"])
    assert list(np.frombuffer(payload, np.uint8)) == codes
    _check_uint8_error(x, meta, decode(meta, payload))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5),
                  elements=st.floats(-1e6, 1e6, width=32) | st.sampled_from([np.nan, np.inf, -np.inf])))
def test_property_both_encodings_round_trip_within_their_precision(x):
    meta, payload = encode(x, "uint8")
    _check_uint8_error(x, meta, decode(meta, payload))
    assert meta["non_finite"] == int((~np.isfinite(x)).sum())
    _strict_loads(dumps(meta))
    meta16, payload16 = encode(x, "float16")
    y = decode(meta16, payload16)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(x))
    in_range = np.abs(x) <= 65504
    np.testing.assert_allclose(y[in_range], x[in_range], rtol=1e-3, atol=1e-7)
    beyond = np.isfinite(x) & ~in_range  # rounds to +-inf unless it rounds down to 65504
    np.testing.assert_array_equal(np.abs(y[beyond]) >= 65504, True)
    assert meta16["overflow"] == int((np.isinf(y) & np.isfinite(x)).sum())


def test_float32_is_exact_and_counts_non_finite_values():
    x = np.random.default_rng(5).standard_normal((1, 10)).astype(np.float32)
    x[0, :3] = [np.nan, np.inf, -np.inf]
    meta, payload = encode(x, "float32")
    assert meta == {"encoding": "float32", "dtype": "float32", "shape": [1, 10], "non_finite": 3}
    assert payload == x.astype("<f4").tobytes()
    np.testing.assert_array_equal(decode(meta, payload), x)
    with pytest.raises(ValueError, match="payload has 39 bytes; shape \\[1, 10\\] in float32 needs 40"):
        decode(meta, payload[:-1])


@pytest.mark.parametrize("requested", ENCODINGS)
def test_small_tensors_travel_exact_whatever_was_asked(requested):
    assert encoding_for(1, requested) == encoding_for(EXACT_VALUES, requested) == "float32"
    assert encoding_for(EXACT_VALUES + 1, requested) == requested


def test_encode_converts_other_dtypes_and_refuses_unknown_encodings():
    meta, payload = encode(np.arange(6, dtype=np.float64).reshape(2, 3), "float16")
    np.testing.assert_array_equal(decode(meta, payload), np.arange(6, dtype=np.float32).reshape(2, 3))
    with pytest.raises(ValueError, match="encoding must be one of float32, float16, uint8"):
        encode(np.zeros(3, np.float32), "png")


def test_decode_checks_the_payload_length():
    meta, payload = encode(np.zeros((2, 3), np.float32), "float16")
    with pytest.raises(ValueError, match="payload has 11 bytes; shape \\[2, 3\\] in float16 needs 12"):
        decode(meta, payload[:-1])


def test_encoding_sizes_for_a_64x112x112_activation():
    x = np.random.default_rng(3).standard_normal((1, 64, 112, 112)).astype(np.float32)
    assert len(encode(x, "uint8")[1]) == x.size  # 0.8 MB, plus 64 scales and offsets in the header
    assert len(encode(x, "float16")[1]) == 2 * x.size


def test_json_safe_and_dumps_are_strict():
    message = {"a": np.float32(1.5), "b": float("nan"), "c": [np.inf, -np.inf, 2], "d": (np.int64(3), True),
               "e": {"f": np.float64("nan")}, "g": None, "h": "text"}
    assert json_safe(message) == {"a": 1.5, "b": None, "c": [None, None, 2], "d": [3, True], "e": {"f": None},
                                  "g": None, "h": "text"}
    assert _strict_loads(dumps(message))["c"] == [None, None, 2]


def test_arrays_in_json_travel_as_exact_base64_float32():
    x = np.array([[1.0, np.nan], [-0.1, np.inf]], np.float32)
    encoded = json_safe({"window": x})["window"]
    assert encoded == array_to_json(x)
    assert encoded["shape"] == [2, 2] and encoded["dtype"] == "float32"
    assert base64.b64decode(encoded["data"]) == x.astype("<f4").tobytes()
    np.testing.assert_array_equal(array_from_json(encoded, "w"), x)


@pytest.mark.parametrize("value, message", [
    ([1, 2], "w must be an object with fields 'shape', 'data'"),
    ({"shape": [2], "data": "AAAA", "dtype": "float64"}, "w: dtype must be 'float32'"),
    ({"shape": [2.5], "data": "AAAA"}, "w: shape must be a list of at most 8 non-negative integers"),
    ({"shape": [1] * 100, "data": "AAAA"}, "w: shape must be a list of at most 8 non-negative integers"),
    ({"shape": [2], "data": 5}, "w: data must be a base64 string"),
    ({"shape": [2], "data": "not base64!"}, "w: data is not valid base64"),
    ({"shape": [2], "data": base64.b64encode(b"1234").decode()}, "w: data holds 4 bytes; shape \\[2\\] needs 8"),
])
def test_array_from_json_says_what_is_wrong(value, message):
    with pytest.raises(ValueError, match=message):
        array_from_json(value, "w")
