"""Make a picture of one handwritten digit look like MNIST's digits, which the digit networks learned from.

MNIST's digits are white ink on black, scaled so that the ink's longer side is 20 pixels, and placed in
28x28 with the ink's centre of mass in the middle. A photo of a digit on paper is none of these: dark ink,
grey paper under uneven light, the digit small somewhere in a large frame. `centre_digit` makes it so:

0. a picture over 512 pixels is reduced to that (antialiased), which averages noise and grain away;
1. the ink is how far each pixel lies from the background, on the side away from it (darker than light
   paper, lighter than a dark board). Which side: a drawing (under 64 pixels) is told by its border, which
   is paper; a photo by which of its extremes lies further from its median, since the ink is a minority of
   its pixels. So "invert" makes no difference here. The background itself, under uneven light, is the
   paper's own shade nearby: the lightest (or darkest) value of each block of an eighth of the picture,
   blocks wider than a stroke, smoothed (a drawing has one shade: its border's median);
2. the strongest ink is the 20th largest value, so that a few hot pixels do not set the scale and a small
   digit still reaches it; it must stand out from the noise (the ink's median absolute deviation). A faint
   remainder, under a quarter of the strongest ink (paper texture, shadows), is dropped and the rest
   stretched to [0, 1];
3. the box holding 99% of the ink's mass is resized so that its longer side is 20 pixels (antialiased bilinear);
4. it is placed in 28x28 with its centre of mass at the middle, (13.5, 13.5).
"""

from __future__ import annotations

import numpy as np

from server.images import fit_size, resize

MNIST_SIZE = 28
MNIST_BOX = 20  # the longer side of a digit's ink in MNIST
FAINT = 0.25  # ink under this share of the strongest is background
EXTREME_COUNT = 20  # the strongest ink is the 20th largest value (and the extremes are the 20th on each side)
WORKING_SIDE = 512  # a larger picture is first reduced to this longer side: the digit ends 20 pixels across
SMALL_PICTURE = 64  # pixels on the longer side under which a picture is a drawing: one background shade
BLOCKS = 8  # the background is estimated in blocks of an eighth of the picture's longer side
MIN_CONTRAST = 0.05  # the strongest ink must differ from the paper by this much of full scale
NOISE_MARGIN = 8  # ... and by this many times the noise (1.4826 x the ink's median absolute deviation)
STRAY = 0.01  # share of the ink's mass that may lie outside the digit's box


class NoDigit(ValueError):
    """A picture with no ink apart from its background."""


def centre_digit(gray: np.ndarray) -> np.ndarray:
    """(H, W) gray values in [0, 1] -> (28, 28) float32 white ink on black, as MNIST (module docstring)."""
    if max(gray.shape) > WORKING_SIDE:  # averaging pixels away smooths sensor noise and paper grain
        gray = resize(gray[..., None], *fit_size(*gray.shape, WORKING_SIDE))[..., 0]
    if max(gray.shape) < SMALL_PICTURE:  # a drawing: one paper shade, its border's
        background = _border_shade(gray)
        light = background > 0.5
    else:
        light = _paper_is_light(gray)
        background = _background(gray, light)
    ink = background - gray if light else gray - background
    strongest = _nth_largest(ink, EXTREME_COUNT)
    noise = 1.4826 * float(np.median(np.abs(ink - np.median(ink))))
    needed = max(MIN_CONTRAST, NOISE_MARGIN * noise)
    if strongest < needed:
        raise NoDigit(f"no digit found: no ink stands out from the background. The strongest ink differs from "
                      f"the paper by {max(strongest, 0.0):.3f} of full scale; a digit must differ by at least "
                      f"{needed:.3f} ({MIN_CONTRAST} of full scale, and {NOISE_MARGIN} times the picture's noise, "
                      f"{noise:.3f}). Crop closer to the digit, or photograph it with more contrast")
    ink = np.clip((ink - FAINT * strongest) / ((1 - FAINT) * strongest), 0.0, 1.0).astype(np.float32)
    (top, bottom), (left, right) = _span(ink.sum(axis=1)), _span(ink.sum(axis=0))
    ink = ink[top:bottom, left:right]
    height, width = fit_size(*ink.shape, MNIST_BOX)
    box = np.clip(resize(ink[..., None], height, width)[..., 0], 0.0, 1.0)
    return _centred_by_mass(box)


def _nth_largest(values: np.ndarray, n: int) -> float:
    flat = values.ravel()
    k = flat.size - min(n, flat.size)
    return float(np.partition(flat, k)[k])


def _paper_is_light(gray: np.ndarray) -> bool:
    """Whether a photo's digit is darker than its paper: its darkest values lie further from the median than its
    lightest (module docstring, step 1)."""
    median = float(np.median(gray))
    darkest, lightest = -_nth_largest(-gray, EXTREME_COUNT), _nth_largest(gray, EXTREME_COUNT)
    return median - darkest > lightest - median


def _border_shade(gray: np.ndarray) -> float:
    """A drawing's paper: the median of its outermost rows and columns."""
    return float(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])))


def _span(mass: np.ndarray) -> tuple[int, int]:
    """The rows (or columns) [start, stop) that hold all but STRAY of the ink's mass, half of it on each side:
    a speck of dust or a shadow at the frame's edge does not stretch the digit's box."""
    cumulative = np.cumsum(mass) / mass.sum()
    start = int(np.searchsorted(cumulative, STRAY / 2, side="right"))
    stop = int(np.searchsorted(cumulative, 1 - STRAY / 2, side="left")) + 1
    return start, max(stop, start + 1)


def _background(gray: np.ndarray, light: bool) -> np.ndarray:
    """A photo's paper shade around each pixel: blocks' lightest (or darkest) values, smoothed back to full size."""
    height, width = gray.shape
    block = -(-max(height, width) // BLOCKS)
    rows, cols = -(-height // block), -(-width // block)
    padded = np.pad(gray, ((0, rows * block - height), (0, cols * block - width)), mode="edge")
    blocks = padded.reshape(rows, block, cols, block)
    shades = (blocks.max(axis=(1, 3)) if light else blocks.min(axis=(1, 3))).astype(np.float32)
    return resize(shades[..., None], height, width)[..., 0]


def _centred_by_mass(box: np.ndarray) -> np.ndarray:
    """`box` pasted into 28x28 so that its centre of mass lands on the middle (rounded to whole pixels)."""
    mass = box.sum()
    rows, cols = np.indices(box.shape)
    centre_row, centre_col = (rows * box).sum() / mass, (cols * box).sum() / mass
    middle = (MNIST_SIZE - 1) / 2
    top, left = round(middle - centre_row), round(middle - centre_col)
    # a lopsided digit may be pushed past the edge: keep the whole box inside the frame
    top = min(max(top, 0), MNIST_SIZE - box.shape[0])
    left = min(max(left, 0), MNIST_SIZE - box.shape[1])
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    out[top:top + box.shape[0], left:left + box.shape[1]] = box
    return out
