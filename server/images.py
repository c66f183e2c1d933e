"""Decode untrusted image bytes into float32 arrays, refusing non-images, bombs and damaged files.

Every image becomes a float32 array (H, W, C) with values in [0, 1] and C = 1 (grayscale) or 3 (RGB):

- The first frame of an animated GIF, WebP or PNG, or the first page of a TIFF, is used (`frame_count` says
  how many the file holds, for the page to tell the person).
- The EXIF orientation is applied, so the array is the picture as a photo viewer shows it.
- Transparency (an alpha channel, or a transparent palette entry or colour key) is composited onto
  WHITE, the way a browser shows a transparent PNG on a white page: a digit drawn in dark strokes
  on a transparent canvas becomes a dark digit on white (send "invert" to get MNIST's white on black).
  When what is drawn is light (white strokes, a white disc), it goes onto BLACK instead, so that it
  stays visible.
- 8-bit modes are divided by 255. 16-bit grayscale (I;16, its transparent level shown white) and
  32-bit integer (I) are divided by 65535 and clipped to [0, 1]. 32-bit float (F) is kept when all
  its values lie in [0, 1], otherwise rescaled linearly from [min, max] to [0, 1] (NaN and Inf
  become 0). Every other mode (1-bit, palette, CMYK, YCbCr, ...) is converted by Pillow to 8-bit
  grayscale or RGB first.

Errors are ImageError with the HTTP status to answer: 415 (not an image, or a format that is not
accepted), 413 (more pixels than allowed: checked from the header, before any pixel is decoded),
422 (damaged or incomplete file).
"""

from __future__ import annotations

import io
import math
import re

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's format name -> the name users know. MPO is how Pillow names many cameras' JPEGs.
ACCEPTED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "GIF": "GIF", "WEBP": "WebP",
                    "BMP": "BMP", "TIFF": "TIFF"}
ACCEPTED_TEXT = "PNG, JPEG, GIF, WebP, BMP or TIFF"
BLOCK_ROWS = 512  # rows converted at a time to 8 bits (encode_png), or from 8 bits with alpha (_composite)

# formats whose further frames are a person's pictures (animation frames, pages); a camera's JPEG (MPO) holds
# previews and depth maps instead, which no one thinks of as frames
MULTI_FRAME_FORMATS = {"GIF", "WEBP", "PNG", "TIFF"}
# frames or pages counted at most: Pillow counts a TIFF's pages in time growing with their square (a 10 MB file
# of tiny pages holds 80,000: minutes), and an animated PNG's count is what its header claims
MAX_COUNTED_FRAMES = 1000

# modes whose transparency composites into one gray channel; every other mode composites into RGB
_GRAY_MODES = {"1", "L", "LA", "La"}


class ImageError(Exception):
    """An image that cannot be used; `status_code` is the HTTP status to answer with."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def decode_image(data: bytes, *, max_pixels: int) -> np.ndarray:
    """Decode image bytes into a float32 array (H, W, C) in [0, 1], C = 1 or 3 (see the module docstring)."""
    return to_array(open_image(data, max_pixels=max_pixels))


def open_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Open `data` lazily and check its format and size before any pixel is decoded.

    Returns the Pillow image, not yet loaded; its `.format` is one of ACCEPTED_FORMATS.
    """
    if not data:
        raise ImageError(415, f"the file is empty; send a {ACCEPTED_TEXT} image")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:  # Pillow's own limit, far above ours: say ours
        found = re.search(r"Image size \((\d+) pixels\)", str(error))
        size = _megapixels(int(found.group(1))) if found else "too many pixels to decode"
        raise ImageError(413, f"the image is {size}; the limit is {_megapixels(max_pixels)}") from error
    except UnidentifiedImageError as error:
        raise ImageError(415, f"the file is not an image that can be read; send a {ACCEPTED_TEXT} image") from error
    except Exception as error:  # a header so broken that Pillow's parser fails
        raise ImageError(422, f"the file is damaged or incomplete ({error})") from error
    if image.format not in ACCEPTED_FORMATS:
        raise ImageError(415, f"{image.format} images are not accepted; send a {ACCEPTED_TEXT} image")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(413, f"the image is {width}x{height} = {_megapixels(width * height)}; "
                              f"the limit is {_megapixels(max_pixels)}")
    return image


def to_array(image: Image.Image) -> np.ndarray:
    """Decode the first frame of an opened image, apply its EXIF orientation, and normalise its mode."""
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        return _normalise(image)
    except Image.DecompressionBombError as error:
        raise ImageError(413, f"the image has too many pixels to decode ({error})") from error
    except ImageError:
        raise
    except Exception as error:  # truncated data, broken compressed streams, bad EXIF, ...
        raise ImageError(422, f"the file is damaged or incomplete ({error})") from error


def frame_count(image: Image.Image) -> int:
    """How many frames (animation) or pages (TIFF) an opened image's file holds, at most MAX_COUNTED_FRAMES:
    1 for a still picture.

    Counting reads the frames' headers, not their pixels; a file whose later frames are damaged counts the
    frames up to the damage (its first frame decoded, so it is used).
    """
    if image.format not in MULTI_FRAME_FORMATS:
        return 1
    try:
        count = _tiff_pages(image) if image.format == "TIFF" else image.n_frames
    except Exception:  # noqa: BLE001 - a damaged later frame: what was counted before it
        return image.tell() + 1
    return min(count, MAX_COUNTED_FRAMES)


def _tiff_pages(image: Image.Image) -> int:
    """A TIFF's pages, counted up to MAX_COUNTED_FRAMES by seeking (Pillow's n_frames would read them all)."""
    count = 1
    try:
        while count < MAX_COUNTED_FRAMES:
            image.seek(count)
            count += 1
    except EOFError:  # no more pages
        pass
    image.seek(0)
    return count


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode a float32 (H, W, C) array in [0, 1] (C = 1 or 3) as an 8-bit PNG.

    The 8-bit levels are made in blocks of rows, so that a 16-megapixel image needs no
    float32 temporaries of its whole size.
    """
    levels = np.empty(pixels.shape, np.uint8)
    for rows in _row_blocks(pixels.shape[0]):
        levels[rows] = np.rint(np.clip(pixels[rows], 0.0, 1.0) * 255.0)
    image = Image.fromarray(levels[..., 0] if levels.shape[2] == 1 else levels)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def fit_size(height: int, width: int, longer_side: int) -> tuple[int, int]:
    """(H, W) with the longer side `longer_side` and the aspect ratio kept (rounded half up, at least 1)."""
    scale = longer_side / max(height, width)
    return max(1, math.floor(height * scale + 0.5)), max(1, math.floor(width * scale + 0.5))


def resize(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, C) float32 to (height, width, C) by Pillow's bilinear filter per channel; when shrinking it
    widens to cover the source area (antialiased)."""
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(pixels[..., c], np.float32))
                         .resize((width, height), Image.Resampling.BILINEAR))
              for c in range(pixels.shape[2])]
    return np.stack(planes, axis=2)


def shrink_to(pixels: np.ndarray, longer_side: int) -> np.ndarray:
    """The image as it is when neither side passes `longer_side`, else resized to fit it."""
    height, width = pixels.shape[:2]
    if max(height, width) <= longer_side:
        return pixels
    return resize(pixels, *fit_size(height, width, longer_side))


def _normalise(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":  # 16-bit gray (PNG, TIFF) or 32-bit integer (TIFF)
        raw = np.array(image)
        values = np.clip(raw.astype(np.float32) / 65535.0, 0.0, 1.0)
        key = image.info.get("transparency")  # a PNG's transparent gray level
        if isinstance(key, int):
            values[raw == key] = 1.0
        return _gray(values)
    if mode == "F":
        return _gray(_float_to_unit(np.asarray(image, dtype=np.float32)))
    if image.has_transparency_data:
        return _composite(image.convert("LA" if mode in _GRAY_MODES else "RGBA"))
    if mode in ("1", "L"):
        return _gray(_scaled(image.convert("L"), 255.0))
    try:
        rgb = image.convert("RGB")
    except ValueError as error:
        raise ImageError(415, f"image mode {mode} is not supported; send an RGB or grayscale image") from error
    return _scaled(rgb, 255.0)


def _scaled(image: Image.Image, full_scale: float) -> np.ndarray:
    """The pixels as float32 divided by `full_scale`, in place (a 16-megapixel RGB image is 192 MB)."""
    values = np.array(image, dtype=np.float32)
    values /= full_scale
    return values


def _composite(image: Image.Image) -> np.ndarray:
    """out = colour * alpha + background * (1 - alpha), for an LA or RGBA image.

    The background is white (1), unless the drawn colour is light: its mean weighted by alpha above
    one half. Then it is black (0), which keeps white-on-transparent drawings visible. The float32 values
    are made in blocks of rows, so that only the output is of the whole image's size.
    """
    levels = np.asarray(image)  # uint8 (H, W, C + 1), alpha last
    out = np.empty((*levels.shape[:2], levels.shape[2] - 1), np.float32)
    alpha_of = lambda rows: levels[rows, :, -1:].astype(np.float32) / 255.0  # noqa: E731
    coverage = drawn = 0.0
    for rows in _row_blocks(levels.shape[0]):
        colour = levels[rows, :, :-1].astype(np.float32) / 255.0
        alpha = alpha_of(rows)
        np.multiply(colour, alpha, out=out[rows])
        coverage += float(alpha.sum(dtype=np.float64))
        drawn += float(out[rows].sum(dtype=np.float64))
    light = coverage > 0 and drawn / (coverage * out.shape[-1]) > 0.5
    if not light:
        for rows in _row_blocks(levels.shape[0]):
            out[rows] += 1.0 - alpha_of(rows)
    return out


def _row_blocks(height: int) -> list[slice]:
    return [slice(start, start + BLOCK_ROWS) for start in range(0, height, BLOCK_ROWS)]


def _float_to_unit(values: np.ndarray) -> np.ndarray:
    """Keep values already in [0, 1]; otherwise map [min, max] linearly onto [0, 1]. Non-finite -> 0."""
    values = np.where(np.isfinite(values), values, 0.0).astype(np.float32)
    low, high = float(values.min()), float(values.max())
    if (low >= 0.0 and high <= 1.0) or high == low:
        return np.clip(values, 0.0, 1.0)
    # in float64: high - low overflows float32 for values near +-3.4e38
    return ((values.astype(np.float64) - low) / (high - low)).astype(np.float32)


def _gray(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float32)[..., None]


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:g} megapixels"
