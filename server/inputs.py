"""Turn the "input" object of a run request into the float32 batch a network runs on.

The object holds exactly one source and, optionally, options:

    {"image_id": "<id from POST /api/images>"}
    {"sample": "<name from GET /api/samples>"}
    {"array": {"shape": [C, H, W], "dtype": "float32", "data": "<base64 of little-endian float32>"}}
    "invert": true    -> x becomes 1 - x (for digits drawn dark on white: MNIST is white on black)
    "signed": true    -> then x becomes 2x - 1: values in [-1, 1] instead of [0, 1]
    "fit": S          -> an image is resized so that its longer side is S pixels, its aspect ratio kept
    "channels": 1|3   -> an image is converted to grayscale (by luminance) or RGB
    "centre_digit": true -> a picture of a handwritten digit (an image, or a [1, H, W] array) is made as
                         MNIST's are: white ink on black, cropped, 20 pixels across, centred in 28x28
                         (server/digits.py), then resized to the run's size; it finds the ink's side
                         itself, so "invert" makes no difference; "signed" applies after it

Images come back as (1, C, H, W) in [0, 1], converted to the run's channels and resized to its
(H, W) when it fixes them (a built-in network does), else as "channels" and "fit" say, else as they
are; arrays come back as given with a batch axis in front (NaN and Inf allowed).
"""

from __future__ import annotations

import base64
import binascii
import math

import numpy as np

from engine.shapes import quoted
from server.digits import NoDigit, centre_digit
from server.images import fit_size, resize
from server.samples import load_sample
from server.settings import Settings
from server.uploads import UploadStore

SOURCE_KEYS = ("image_id", "sample", "array")
OPTION_KEYS = ("invert", "signed", "fit", "channels", "centre_digit")
IMAGE_OPTION_KEYS = ("fit", "channels")  # they only make sense for an image
ARRAY_KEYS = {"shape", "dtype", "data"}
MAX_ARRAY_DIMS = 3  # without the batch axis: (C, H, W), (T, F), (C, L), ...

# ITU-R BT.601 luma, the weights Pillow's RGB -> L conversion uses
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)


class InputError(ValueError):
    """A run input that cannot be used; the message says what was wrong and what is allowed."""


def resolve_input(source: dict, *, uploads: UploadStore, settings: Settings,
                  channels: int | None, size: tuple[int, int] | None) -> np.ndarray:
    """The batch (1, ...) float32 for `source` (see the module docstring).

    channels: 1 (grayscale by luminance) or 3 (RGB) for images, None to leave it to the source's "channels"
    or keep the image's own. size: (H, W) to resize images to, None to leave it to "fit" or keep their size.
    Neither applies to arrays.
    """
    if not isinstance(source, dict):
        raise InputError(f"input must be an object with one of {_quoted(SOURCE_KEYS)}, got {type(source).__name__}")
    unknown = set(source) - set(SOURCE_KEYS) - set(OPTION_KEYS)
    if unknown:
        raise InputError(f"unknown input field(s) {_quoted(sorted(unknown))}; "
                         f"allowed: {_quoted(SOURCE_KEYS)} and {_quoted(OPTION_KEYS)}")
    given = [key for key in SOURCE_KEYS if key in source]
    if len(given) != 1:
        raise InputError(f"input must have exactly one of {_quoted(SOURCE_KEYS)}, got {len(given)}")
    for flag in ("invert", "signed", "centre_digit"):
        if not isinstance(source.get(flag, False), bool):
            raise InputError(f"input '{flag}' must be true or false, got {quoted(source[flag])}")
    centre = source.get("centre_digit", False)
    if centre:
        _check_one_channel(source, channels)

    if given[0] == "array":
        for option in IMAGE_OPTION_KEYS:
            if option in source:
                raise InputError(f"input '{option}' resizes or converts images (samples and uploads); "
                                 "an array is used as it is given")
        batch = _array(source["array"], settings.max_input_elements)
    else:
        image = _uploaded(source["image_id"], uploads) if given[0] == "image_id" else _sample(source["sample"])
        channels = _channels_wanted(source, channels)
        wanted = _size_wanted(source, size, image.shape[:2])  # checks "fit" against the run's size
        if centre:  # the digit is found in the gray picture at its own size (or "fit")
            batch = _prepare_image(image, 1, wanted if "fit" in source else None, settings.max_input_elements)
        else:
            batch = _prepare_image(image, channels, wanted, settings.max_input_elements)
    if source.get("invert", False):
        batch = 1.0 - batch
    if centre:
        batch = _centred_digit(batch, size)
    return 2.0 * batch - 1.0 if source.get("signed", False) else batch


def _check_one_channel(source: dict, channels: int | None) -> None:
    """centre_digit makes a one-channel digit: neither the network nor the input's "channels" may ask for 3."""
    if channels not in (None, 1):
        raise InputError(f"input 'centre_digit' makes a one-channel digit, but this network reads {channels}-channel "
                         "images; leave 'centre_digit' out")
    if source.get("channels") == 3:
        raise InputError("input 'centre_digit' makes a one-channel digit; leave 'channels': 3 out")


def _centred_digit(batch: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """(1, 1, H, W) -> (1, 1, 28, 28) as MNIST's digits, then resized to the run's size when it fixes one."""
    if batch.ndim != 4 or batch.shape[1] != 1:
        raise InputError(f"input 'centre_digit' takes a one-channel picture (an image, or an array [1, H, W]), "
                         f"got shape {list(batch.shape[1:])}")
    if not np.isfinite(batch).all():
        raise InputError("input 'centre_digit' needs finite values; the array holds NaN or Inf")
    try:
        digit = centre_digit(batch[0, 0])[..., None]
    except NoDigit as error:
        raise InputError(str(error)) from None
    if size is not None and tuple(size) != digit.shape[:2]:
        digit = resize(digit, *size)
    return np.ascontiguousarray(digit.transpose(2, 0, 1)[None], dtype=np.float32)


def _channels_wanted(source: dict, channels: int | None) -> int | None:
    """The run's channel count, else the source's "channels" (1 or 3), else None (the image's own)."""
    asked = source.get("channels")
    if asked is None:
        return channels
    if isinstance(asked, bool) or asked not in (1, 3):
        raise InputError(f"input 'channels' must be 1 (grayscale) or 3 (RGB), got {quoted(asked)}")
    if channels is not None and asked != channels:
        raise InputError(f"input 'channels' is {asked}, but this network reads {channels}-channel images; "
                         f"leave 'channels' out")
    return asked


def _size_wanted(source: dict, size: tuple[int, int] | None, image_size: tuple[int, int]) -> tuple[int, int] | None:
    """The run's (H, W), else the image resized to the source's "fit" on its longer side, else None."""
    fit = source.get("fit")
    if fit is None:
        return size
    if isinstance(fit, bool) or not isinstance(fit, int) or fit < 1:
        raise InputError(f"input 'fit' must be a positive number of pixels (the longer side), got {quoted(fit)}")
    if size is not None:
        raise InputError(f"input 'fit' cannot be used here: this network resizes its input to "
                         f"{size[0]}x{size[1]}; leave 'fit' out")
    return fit_size(*image_size, fit)


def _uploaded(image_id: object, uploads: UploadStore) -> np.ndarray:
    image = uploads.get(image_id) if isinstance(image_id, str) else None
    if image is None:
        minutes = uploads.ttl_seconds / 60
        raise InputError(f"no uploaded image has id {quoted(image_id)}: uploads are kept in memory only, expire after "
                         f"{minutes:g} minutes unused, and the oldest make room for newer ones (at most "
                         f"{uploads.max_count} in all, {uploads.max_per_owner} from one address); upload it again")
    return image


def _sample(name: object) -> np.ndarray:
    if not isinstance(name, str):
        raise InputError(f"input 'sample' must be a sample name (a string), got {quoted(name)}")
    try:
        return load_sample(name)
    except ValueError as error:
        raise InputError(str(error)) from error


def _prepare_image(image: np.ndarray, channels: int | None, size: tuple[int, int] | None,
                   max_elements: int) -> np.ndarray:
    """(H, W, C) in [0, 1] -> (1, channels, size[0], size[1]), checking the element count first."""
    if channels not in (None, 1, 3):
        raise InputError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    height, width, own_channels = image.shape
    if size is not None:
        if len(size) != 2 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in size):
            raise InputError(f"size must be two positive integers (height, width), got {quoted(size)}")
        height, width = size
    out_channels = channels or own_channels
    elements = out_channels * height * width
    if elements > max_elements:
        raise InputError(f"the input would be {out_channels}x{height}x{width} = {elements} values; "
                         f"the limit is {max_elements}: pick a smaller size")
    image = _convert_channels(image, out_channels)
    if (height, width) != image.shape[:2]:
        image = resize(image, height, width)
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)


def _convert_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """1 -> 3 repeats the gray channel; 3 -> 1 is the luminance 0.299 R + 0.587 G + 0.114 B."""
    if image.shape[2] == channels:
        return image
    if channels == 3:
        return np.repeat(image, 3, axis=2)
    return (image @ LUMA_WEIGHTS)[..., None]


def _array(spec: object, max_elements: int) -> np.ndarray:
    """Decode {"shape", "dtype": "float32", "data": base64} into (1, *shape) float32, checking sizes first."""
    if not isinstance(spec, dict) or set(spec) != ARRAY_KEYS:
        wrong = _field_differences(spec, ARRAY_KEYS) if isinstance(spec, dict) else ""
        raise InputError(f"input 'array' must be an object with exactly the fields "
                         f"{_quoted(sorted(ARRAY_KEYS))}{wrong}")
    shape, dtype, data = spec["shape"], spec["dtype"], spec["data"]
    if dtype != "float32":
        raise InputError(f"input array dtype must be 'float32', got {quoted(dtype)}")
    if (not isinstance(shape, list) or not 1 <= len(shape) <= MAX_ARRAY_DIMS
            or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in shape)):
        raise InputError(f"input array shape must be a list of 1 to {MAX_ARRAY_DIMS} positive integers "
                         f"(no batch axis), got {quoted(shape)}")
    elements = math.prod(shape)
    if elements > max_elements:
        raise InputError(f"input array shape {shape} has {elements} values; the limit is {max_elements}")
    if not isinstance(data, str):
        raise InputError("input array data must be a base64 string of little-endian float32 values")
    expected_bytes = 4 * elements
    if len(data) > 4 * math.ceil(expected_bytes / 3):  # refuse oversized text before decoding it
        raise InputError(f"input array data is {len(data)} base64 characters; shape {shape} needs "
                         f"{4 * math.ceil(expected_bytes / 3)} ({expected_bytes} bytes)")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InputError(f"input array data is not valid base64 ({error})") from error
    if len(raw) != expected_bytes:
        raise InputError(f"input array data holds {len(raw)} bytes; shape {shape} needs {expected_bytes} "
                         f"bytes ({elements} float32 values)")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(1, *shape)


def _field_differences(given: dict, expected: set) -> str:
    """"; missing 'dtype'; unknown 'order'": how an object's fields differ from the expected ones."""
    missing, unknown = sorted(expected - set(given)), sorted(map(str, set(given) - expected))
    return ((f"; missing {_quoted(missing)}" if missing else "")
            + (f"; unknown {', '.join(map(quoted, unknown))}" if unknown else ""))


def _quoted(names) -> str:
    return ", ".join(f"'{name}'" for name in names)
