"""Shape arithmetic and input checks shared by the ops.

Every helper raises ValueError with the numbers, so a user sees what was wrong.
"""

from __future__ import annotations

import math

import numpy as np

QUOTED_CHARS = 60  # of a value quoted in an error message: a client may send megabytes


def quoted(value) -> str:
    """repr(value) for an error message, cut to QUOTED_CHARS characters with the full length said."""
    return shortened(repr(value))


def shortened(text: str) -> str:
    """`text` when it has at most QUOTED_CHARS characters, else its start and its full length."""
    return text if len(text) <= QUOTED_CHARS else f"{text[:QUOTED_CHARS]}… ({len(text):,} characters)"


# Largest size, stride, padding or dilation taken: index arithmetic on it must fit NumPy's int64.
LARGEST_PAIR_ENTRY = 2**31 - 1


def pair(value, name: str) -> tuple[int, int]:
    """An int or a pair of ints as (height, width), each at most LARGEST_PAIR_ENTRY."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        result = int(value), int(value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
    ):
        result = int(value[0]), int(value[1])
    else:
        raise ValueError(f"{name} must be an int or a pair of ints, got {quoted(value)}")
    if max(result) > LARGEST_PAIR_ENTRY:
        raise ValueError(f"{name} must be at most {LARGEST_PAIR_ENTRY:,}, got {quoted(value)}")
    return result


def positive_int(value, name: str) -> int:
    """An int >= 1 (a channel count, a number of groups or features), or ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {quoted(value)}")
    return int(value)


def flag(value, name: str) -> bool:
    """True or False (a NumPy bool too), or ValueError naming it."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {quoted(value)}")
    return bool(value)


def axis(dim, ndim: int, name: str) -> int:
    """dim (negative counts from the end) as a non-negative axis of an ndim-D array, or ValueError naming it."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {quoted(dim)}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"{name} {dim} is out of range for an input with {ndim} dimensions")
    return int(dim) % ndim


def positive_pair(value, name: str) -> tuple[int, int]:
    """Like `pair`, and each entry must be >= 1 (strides, dilations, kernel sizes)."""
    result = pair(value, name)
    if min(result) < 1:
        raise ValueError(f"{name} must be >= 1, got {quoted(value)}")
    return result


def non_negative_pair(value, name: str) -> tuple[int, int]:
    """Like `pair`, and each entry must be >= 0 (paddings)."""
    result = pair(value, name)
    if min(result) < 0:
        raise ValueError(f"{name} must be >= 0, got {quoted(value)}")
    return result


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1,
                     ceil_mode: bool = False, axis: str = "") -> int:
    """floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1, raising if < 1.

    With ceil_mode the division rounds up, but the last window must start inside
    the input or the left padding (PyTorch's rule for pooling).
    """
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    if out < 1:
        raise ValueError(
            f"output {axis or 'size'} would be empty: the dilated kernel {dilation * (kernel - 1) + 1} is larger "
            f"than the padded input {size + 2 * padding} (kernel_size {kernel}, dilation {dilation}, "
            f"input {size}, padding {padding}, stride {stride})"
        )
    return out


def conv_transpose_output_size(size: int, kernel: int, stride: int, padding: int,
                               output_padding: int, dilation: int = 1, axis: str = "") -> int:
    """(size-1)*stride - 2*padding + dilation*(kernel-1) + output_padding + 1, raising if < 1."""
    if output_padding >= max(stride, dilation):
        raise ValueError(
            f"output_padding {output_padding} must be smaller than stride {stride} or dilation {dilation}"
        )
    out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise ValueError(
            f"output {axis or 'size'} would be empty: input {size}, stride {stride}, padding {padding}, "
            f"kernel {kernel}, dilation {dilation}, output_padding {output_padding} gives {out}"
        )
    return out


def check_input(x, name: str = "input", ndim: int | tuple[int, ...] = 4) -> None:
    """Raise ValueError unless x is a float32/float64 array with the expected ndim."""
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if not hasattr(x, "ndim") or not hasattr(x, "dtype"):
        raise ValueError(f"{name} must be an array, got {type(x).__name__}")
    if x.ndim not in allowed:
        layout = {4: "(N, C, H, W)", 3: "(N, T, F)", 2: "(N, features)"}
        expected = " or ".join(f"{d}-D {layout.get(d, '')}".strip() for d in allowed)
        raise ValueError(f"{name} must be {expected}, got {x.ndim}-D with shape {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise ValueError(f"{name} must be a floating-point array (float32), got dtype {x.dtype}")


def check_channels(actual: int, expected: int, what: str) -> None:
    """Raise ValueError when a channel count does not match."""
    if actual != expected:
        raise ValueError(f"{what}: expected {expected} channels, got {actual}")
