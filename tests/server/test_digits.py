"""centre_digit: photos of handwritten digits made as MNIST's digits were, and the input option that asks for it."""

import base64

import numpy as np
import pytest

from engine.models import load_model
from server.digits import MNIST_BOX, centre_digit
from server.images import resize
from server.inputs import InputError, resolve_input
from server.samples import load_sample
from server.settings import Settings
from server.uploads import UploadStore

SETTINGS = Settings(device="cpu")


def photo_of(label: int, *, dark_ink: bool = True, seed: int = 0, size: int = 300, paper: float = 0.55) -> np.ndarray:
    """MNIST's digit `label` as a phone might see it on paper: `size` pixels tall, off-centre in a 900x1200 frame,
    under light that brightens from left to right (from `paper` to 0.4 more), with sensor noise."""
    digit = resize(load_sample(f"mnist-{label}"), size, size)[..., 0]
    rows, cols = np.mgrid[0:900, 0:1200]
    light = 0.3 * cols / 1200 + 0.1 * rows / 900
    if dark_ink:
        picture = paper + light
        picture[200:200 + size, 700:700 + size] -= 0.5 * digit
    else:  # chalk on a dark board
        picture = 0.05 + light / 2
        picture[200:200 + size, 700:700 + size] += 0.6 * digit
    noise = np.random.default_rng(seed).normal(0, 0.02, picture.shape)
    return np.clip(picture + noise, 0, 1).astype(np.float32)


def reads(network, x: np.ndarray) -> int:
    *_, last = network.run(x)
    return int(np.argmax(last.output))


@pytest.mark.parametrize("photo", [{}, {"dark_ink": False}, {"size": 70}, {"size": 100, "dark_ink": False},
                                   {"paper": 0.25}], ids=["ink", "chalk", "small", "small-chalk", "dim-paper"])
def test_the_digit_network_reads_every_photographed_digit_once_centred(photo):
    network = load_model("digits-cnn")
    uploads = UploadStore(4, 10**9, 60)
    for label in range(10):
        image_id = uploads.add(photo_of(label, seed=label, **photo)[..., None])
        x = resolve_input({"image_id": image_id, "centre_digit": True}, uploads=uploads, settings=SETTINGS,
                          channels=1, size=(28, 28))
        assert x.shape == (1, 1, 28, 28)
        assert reads(network, x) == label


def test_a_centred_digit_is_white_on_black_20_pixels_across_with_its_mass_in_the_middle():
    digit = centre_digit(photo_of(7))
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert digit.min() == 0.0 and 0.9 < digit.max() <= 1.0
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == MNIST_BOX
    mass_rows, mass_cols = np.indices(digit.shape)
    centre = ((mass_rows * digit).sum() / digit.sum(), (mass_cols * digit).sum() / digit.sum())
    assert centre == pytest.approx((13.5, 13.5), abs=0.5)


def test_a_bold_drawing_is_told_from_its_paper_by_its_border():
    """A ring that covers most of the pad: its ink is the majority of the pixels, the border is the paper."""
    rows, cols = np.mgrid[0:28, 0:28]
    distance = np.hypot(rows - 14, cols - 14)
    ring = ((distance < 13) & (distance > 4)).astype(np.float32)
    assert ring.mean() > 0.5
    assert reads(load_model("digits-cnn"), centre_digit(ring)[None, None]) == 0
    assert reads(load_model("digits-cnn"), centre_digit(1 - ring)[None, None]) == 0  # dark ink on white too


def test_a_drawing_is_centred_too():
    drawing = np.zeros((28, 28), np.float32)
    drawing[2:12, 3:5] = 1.0  # a small "1" in the top-left corner
    x = resolve_input({"array": {"shape": [1, 28, 28], "dtype": "float32",
                                 "data": base64.b64encode(drawing.astype("<f4").tobytes()).decode()},
                       "centre_digit": True}, uploads=None, settings=SETTINGS, channels=1, size=(28, 28))
    rows, cols = np.flatnonzero(x[0, 0].any(axis=1)), np.flatnonzero(x[0, 0].any(axis=0))
    assert rows[-1] - rows[0] + 1 == MNIST_BOX and rows[0] >= 3 and 11 <= cols.mean() <= 16


@pytest.mark.parametrize("source, channels, words", [
    ({"sample": "dot", "centre_digit": "yes"}, 1, ["'centre_digit'", "true or false"]),
    ({"sample": "astronaut", "centre_digit": True}, 3, ["one-channel digit", "3-channel", "leave 'centre_digit' out"]),
    ({"sample": "astronaut", "centre_digit": True, "channels": 3}, None, ["one-channel digit", "leave 'channels': 3"]),
    ({"sample": "digit-0", "centre_digit": True, "fit": 10}, 1, ["'fit' cannot be used", "28x28"]),
    ({"array": {"shape": [2, 4, 4], "dtype": "float32", "data": base64.b64encode(bytes(128)).decode()},
      "centre_digit": True}, None, ["one-channel picture", "[2, 4, 4]"]),
    ({"array": {"shape": [1, 2, 2], "dtype": "float32",
                "data": base64.b64encode(np.array([0, 1, np.nan, 0], "<f4").tobytes()).decode()},
      "centre_digit": True}, None, ["finite values"]),
    ({"array": {"shape": [1, 2, 2], "dtype": "float32", "data": base64.b64encode(bytes(16)).decode()},
      "centre_digit": True}, None, ["no digit found", "no ink stands out", "differs from the paper by 0.000 of full "
                                    "scale; a digit must differ by at least 0.050", "Crop closer"]),
])
def test_what_cannot_be_centred_is_refused_with_the_reason(source, channels, words):
    size = (28, 28) if "fit" in source else None  # a network that fixes its size
    with pytest.raises(InputError) as caught:
        resolve_input(source, uploads=None, settings=SETTINGS, channels=channels, size=size)
    assert all(word in str(caught.value) for word in words), str(caught.value)
