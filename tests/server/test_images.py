"""Image decoding (every format and mode, bombs, damaged files), the upload store, and the upload API."""

import io
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import anyio
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from server.api.images import megabytes
from server.app import create_app
from server import images
from server.images import ImageError, decode_image, encode_png
from server.settings import Settings
from server.uploads import UploadStore, UploadTooLarge
from tests.server.test_samples_inputs import torch_resize

MAX_PIXELS = 16_000_000


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A hand-made PNG whose header claims width x height 1-bit pixels but whose data is a few bytes:
    decoding it would fail (422), so a 413 proves the size was refused before decoding."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
            + chunk(b"IEND", b""))


def rgb_test_pattern(height: int = 6, width: int = 5) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def decode(data: bytes) -> np.ndarray:
    image = decode_image(data, max_pixels=MAX_PIXELS)
    assert image.dtype == np.float32 and image.ndim == 3 and image.shape[2] in (1, 3)
    assert image.min() >= 0.0 and image.max() <= 1.0
    return image


# ---- decoding: lossless formats round-trip exactly ------------------------------------------------

@pytest.mark.parametrize("fmt, options", [("PNG", {}), ("BMP", {}), ("TIFF", {}), ("WEBP", {"lossless": True}),
                                          ("TIFF", {"compression": "tiff_lzw"})])
def test_lossless_rgb_formats_round_trip_exactly(fmt, options):
    pixels = rgb_test_pattern()
    image = decode(encoded(Image.fromarray(pixels), fmt, **options))
    assert image.shape == (6, 5, 3)
    np.testing.assert_array_equal(image, pixels.astype(np.float32) / 255.0)


def test_grayscale_stays_one_channel():
    pixels = rgb_test_pattern()[..., 0]
    image = decode(encoded(Image.fromarray(pixels), "PNG"))
    assert image.shape == (6, 5, 1)
    np.testing.assert_array_equal(image[..., 0], pixels / np.float32(255))


def test_jpeg_is_close_to_its_source():
    pixels = np.zeros((32, 48, 3), np.uint8)
    pixels[:, 24:] = (200, 40, 90)
    image = decode(encoded(Image.fromarray(pixels), "JPEG", quality=95))
    assert image.shape == (32, 48, 3)
    np.testing.assert_allclose(image[4:28, 28:44], np.broadcast_to([200 / 255, 40 / 255, 90 / 255], (24, 16, 3)),
                               atol=0.04)


def test_16_bit_png_keeps_its_precision():
    values = np.array([[0, 1, 257, 12345], [30000, 65534, 65535, 4096]], np.uint16)
    image = decode(encoded(Image.fromarray(values), "PNG"))
    assert image.shape == (2, 4, 1)
    np.testing.assert_allclose(image[..., 0], values / 65535.0, rtol=1e-6, atol=0)
    assert image[0, 1, 0] > 0 and image[0, 1, 0] != image[0, 0, 0]  # 1/65535 is not rounded away


def test_16_bit_png_with_a_transparent_level_keeps_the_others():
    values = np.array([[7, 60000, 8]], np.uint16)
    image = decode(encoded(Image.fromarray(values), "PNG", transparency=7))
    np.testing.assert_allclose(image[..., 0], [[1.0, 60000 / 65535, 8 / 65535]], rtol=1e-6)


def test_32_bit_integer_tiff_is_scaled_by_65535_and_clipped():
    values = np.array([[0, 65535, 100000, -5]], np.int32)
    image = decode(encoded(Image.fromarray(values), "TIFF"))
    np.testing.assert_allclose(image[..., 0], [[0.0, 1.0, 1.0, 0.0]])


@pytest.mark.parametrize("values, expected", [
    ([[0.0, 0.25, 1.0]], [[0.0, 0.25, 1.0]]),  # already in [0, 1]: kept
    ([[-2.0, 0.0, 8.0]], [[0.0, 0.2, 1.0]]),  # otherwise [min, max] -> [0, 1]
    ([[np.nan, 0.5, np.inf]], [[0.0, 0.5, 0.0]]),  # non-finite -> 0
    ([[3.0, 3.0, 3.0]], [[1.0, 1.0, 1.0]]),  # constant outside [0, 1]: clipped
    ([[-3.4e38, 0.0, 3.4e38]], [[0.0, 0.5, 1.0]]),  # max - min overflows float32: computed in float64
])
def test_float_tiff_is_kept_or_rescaled(values, expected):
    image = decode(encoded(Image.fromarray(np.array(values, np.float32)), "TIFF"))
    np.testing.assert_allclose(image[..., 0], expected, rtol=1e-6)


def test_cmyk_jpeg_becomes_rgb():
    image = decode(encoded(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95))
    assert image.shape == (16, 16, 3)
    np.testing.assert_allclose(image[8, 8], [1.0, 0.0, 0.0], atol=0.03)


def test_one_bit_image_is_zero_or_one():
    bits = (np.indices((8, 8)).sum(axis=0) % 2).astype(bool)
    image = decode(encoded(Image.fromarray(bits), "PNG"))
    assert image.shape == (8, 8, 1)
    np.testing.assert_array_equal(image[..., 0], bits.astype(np.float32))


def test_exif_orientation_6_rotates_clockwise():
    # Stored 64 wide x 32 high, a white block at the stored top-left. Orientation 6 means "rotate 90 degrees
    # clockwise to display": the picture becomes 32 wide x 64 high, the block at the top-right.
    stored = np.zeros((32, 64), np.uint8)
    stored[:16, :16] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    image = decode(encoded(Image.fromarray(stored), "JPEG", exif=exif, quality=95))
    assert image.shape == (64, 32, 1)
    assert image[4:12, 20:28].min() > 0.9 and image[4:12, 4:12].max() < 0.1 and image[52:60, 20:28].max() < 0.1


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (8, 8), colour) for colour in [(255, 0, 0), (0, 0, 255), (0, 255, 0)]]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    image = decode(data)
    np.testing.assert_allclose(image[..., :3].reshape(-1, 3), np.tile([1.0, 0.0, 0.0], (64, 1)))


def test_rgba_is_composited_on_white():
    pixels = np.array([[[255, 0, 0, 0], [255, 0, 0, 255], [0, 0, 0, 128], [0, 0, 255, 51]]], np.uint8)
    image = decode(encoded(Image.fromarray(pixels), "PNG"))
    assert image.shape == (1, 4, 3)
    alpha = pixels[..., 3:] / 255.0
    expected = pixels[..., :3] / 255.0 * alpha + (1 - alpha)  # out = colour * alpha + white * (1 - alpha)
    np.testing.assert_allclose(image, expected, rtol=1e-6)
    np.testing.assert_allclose(image[0, 0], [1, 1, 1])


def test_la_is_composited_on_white_and_stays_gray():
    pixels = np.array([[[0, 0], [0, 255], [100, 128]]], np.uint8)
    image = decode(encoded(Image.fromarray(pixels, "LA"), "PNG"))
    assert image.shape == (1, 3, 1)
    np.testing.assert_allclose(image[0, :, 0], [1.0, 0.0, 100 / 255 * 128 / 255 + (1 - 128 / 255)], rtol=1e-6)


def test_palette_with_a_transparent_entry():
    image = Image.new("P", (3, 1))
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    image.putdata([0, 1, 2])
    decoded = decode(encoded(image, "PNG", transparency=0))
    np.testing.assert_allclose(decoded[0], [[1, 1, 1], [1, 0, 0], [0, 1, 0]])  # entry 0 shows white
    gif = decode(encoded(image, "GIF", transparency=0))
    np.testing.assert_allclose(gif[0], [[1, 1, 1], [1, 0, 0], [0, 1, 0]])


def test_grayscale_with_a_transparent_colour_key():
    pixels = np.array([[7, 60]], np.uint8)
    image = decode(encoded(Image.fromarray(pixels), "PNG", transparency=7))
    np.testing.assert_allclose(image[0, :, 0], [1.0, 60 / 255], rtol=1e-6)


def test_a_wholly_transparent_image_is_white():
    pixels = np.zeros((2, 3, 4), np.uint8)
    pixels[..., :3] = 255  # white, but nothing of it shows
    np.testing.assert_array_equal(decode(encoded(Image.fromarray(pixels), "PNG")), 1.0)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_a_light_drawing_on_a_transparent_canvas_goes_onto_black(mode):
    """A white disc on a transparent background would vanish on white: it goes onto black instead."""
    size, ink = 16, 230
    yy, xx = np.mgrid[:size, :size]
    disc = ((yy - 7.5) ** 2 + (xx - 7.5) ** 2 < 25).astype(np.uint8) * 255
    channels = [np.full((size, size), ink, np.uint8)] * (3 if mode == "RGBA" else 1)
    image = decode(encoded(Image.fromarray(np.dstack([*channels, disc]), mode), "PNG"))
    np.testing.assert_allclose(image[8, 8], ink / 255, rtol=1e-6)  # the disc keeps its colour
    np.testing.assert_array_equal(image[0, 0], 0.0)  # the transparent corner is black, not white
    assert image.shape == (size, size, 3 if mode == "RGBA" else 1)


@pytest.mark.parametrize("ink", [60, 230])  # composited on white, and (light) on black
def test_compositing_in_blocks_of_rows_gives_the_same_pixels(monkeypatch, ink):
    rng = np.random.default_rng(3)
    pixels = np.dstack([np.full((11, 6, 3), ink, np.uint8), rng.integers(0, 256, (11, 6, 1), dtype=np.uint8)])
    data = encoded(Image.fromarray(pixels), "PNG")
    whole = decode(data)
    alpha = pixels[..., 3:] / 255.0
    background = 0.0 if ink == 230 else 1.0
    expected = np.broadcast_to(ink / 255.0 * alpha + background * (1 - alpha), whole.shape)
    np.testing.assert_allclose(whole, expected, rtol=1e-6)
    monkeypatch.setattr(images, "BLOCK_ROWS", 4)  # three blocks, the last one short
    np.testing.assert_array_equal(decode(data), whole)


# ---- decoding: refusals ------------------------------------------------------------------------

def refusal(data: bytes, max_pixels: int = MAX_PIXELS) -> ImageError:
    with pytest.raises(ImageError) as caught:
        decode_image(data, max_pixels=max_pixels)
    return caught.value


def test_header_larger_than_the_limit_is_refused_before_decoding():
    error = refusal(png_declaring(5000, 5000))
    assert error.status_code == 413
    assert "5000x5000 = 25 megapixels" in error.message and "limit is 16 megapixels" in error.message


def test_huge_header_is_refused_even_beyond_pillows_own_limit():
    started = time.perf_counter()
    error = refusal(png_declaring(20000, 20000))
    assert error.status_code == 413  # Pillow's limit, not ours: only ours is named
    assert error.message == "the image is 400 megapixels; the limit is 16 megapixels"
    assert time.perf_counter() - started < 0.5


def test_real_compressed_bomb_is_refused():
    data = encoded(Image.new("1", (5000, 4000)), "PNG")  # 20 megapixels in a few kilobytes
    assert len(data) < 20_000
    error = refusal(data)
    assert error.status_code == 413 and "5000x4000 = 20 megapixels" in error.message


def test_at_the_pixel_limit_is_accepted():
    assert decode_image(encoded(Image.new("L", (10, 10)), "PNG"), max_pixels=100).shape == (10, 10, 1)
    assert refusal(encoded(Image.new("L", (10, 11)), "PNG"), max_pixels=100).status_code == 413


@pytest.mark.parametrize("data", [
    b"",
    np.random.default_rng(1).bytes(2000),
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
    b"hello, this is text and not an image\n",
], ids=["empty", "random", "svg", "text"])
def test_non_images_are_415_naming_the_accepted_formats(data):
    error = refusal(data)
    assert error.status_code == 415
    assert "PNG, JPEG, GIF, WebP, BMP or TIFF" in error.message


@pytest.mark.parametrize("fmt", ["ICO", "PPM", "PCX"])
def test_other_formats_are_415_naming_theirs(fmt):
    error = refusal(encoded(Image.new("RGB", (16, 16)), fmt))
    assert error.status_code == 415 and fmt in error.message and "PNG, JPEG, GIF" in error.message


def test_truncated_jpeg_is_422():
    data = encoded(Image.fromarray(rgb_test_pattern(64, 64)), "JPEG")
    error = refusal(data[: len(data) // 2])
    assert error.status_code == 422 and "damaged or incomplete" in error.message


def test_corrupt_png_data_is_422():
    data = bytearray(encoded(Image.fromarray(rgb_test_pattern(64, 64)), "PNG"))
    start = data.index(b"IDAT") + 8
    data[start:start + 200] = bytes(200)  # breaks the zlib stream (and the chunk's CRC)
    assert refusal(bytes(data)).status_code == 422


@pytest.mark.parametrize("block_rows", [512, 4])  # one block, and blocks of 4 rows with a short last one
def test_encode_png_round_trips_8_bit_levels(monkeypatch, block_rows):
    monkeypatch.setattr(images, "BLOCK_ROWS", block_rows)
    image = rgb_test_pattern(height=10).astype(np.float32) / 255
    np.testing.assert_array_equal(decode(encode_png(image)), image)
    gray = image[..., :1]
    np.testing.assert_array_equal(decode(encode_png(gray)), gray)
    assert np.array_equal(decode(encode_png(np.full((9, 3, 1), 2.0, np.float32))), np.ones((9, 3, 1)))  # clipped


# ---- the upload store ---------------------------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def image_of(nbytes: int, value: float = 0.0) -> np.ndarray:
    return np.full((1, nbytes // 4, 1), value, np.float32)


def test_store_add_and_get_shares_one_read_only_array():
    store = UploadStore(4, 1000, 60)
    image = image_of(40, 0.5)
    image_id = store.add(image)
    assert len(image_id) >= 16 and store.get(image_id) is image
    assert not store.get(image_id).flags.writeable
    assert store.get("nope") is None and len(store) == 1 and store.total_bytes == 40


def test_store_evicts_the_least_recently_used_when_full_by_count():
    store = UploadStore(2, 10_000, 60)
    first, second = store.add(image_of(40)), store.add(image_of(40))
    store.get(first)  # first is now the most recently used
    third = store.add(image_of(40))
    assert store.get(second) is None and store.get(first) is not None and store.get(third) is not None
    assert len(store) == 2 and store.total_bytes == 80


def test_an_owner_over_its_share_evicts_its_own_least_recently_used_images():
    store = UploadStore(4, 10_000, 60, max_per_owner=2)
    theirs = store.add(image_of(40), owner="10.0.0.2")
    first, second = store.add(image_of(40), owner="10.0.0.1"), store.add(image_of(40), owner="10.0.0.1")
    store.get(first)  # second is now that owner's least recently used
    newest = [store.add(image_of(40), owner="10.0.0.1") for _ in range(3)][-1]
    assert store.get(theirs) is not None  # the other owner's image stays
    assert [store.get(i) is not None for i in (first, second, newest)] == [False, False, True]
    assert len(store) == 3


def test_store_evicts_oldest_until_the_bytes_fit():
    store = UploadStore(10, 100, 60)
    ids = [store.add(image_of(40)) for _ in range(2)]
    newest = store.add(image_of(80))
    assert [store.get(i) for i in ids] == [None, None] and store.get(newest) is not None
    assert store.total_bytes == 80
    with pytest.raises(UploadTooLarge, match="104 bytes.*at most 100 bytes"):
        store.add(image_of(104))
    assert store.get(newest) is not None  # a refused image evicts nothing


def test_store_expires_images_unused_for_the_ttl():
    clock = FakeClock()
    store = UploadStore(10, 1000, 60, clock=clock)
    kept, dropped = store.add(image_of(40)), store.add(image_of(40))
    clock.now = 59.0
    assert store.get(kept) is not None  # a read renews the image
    clock.now = 60.0
    assert store.get(dropped) is None and len(store) == 1 and store.total_bytes == 40
    clock.now = 118.9
    assert store.get(kept) is not None
    clock.now = 200.0
    assert len(store) == 0 and store.total_bytes == 0


def test_store_rejects_bad_limits():
    with pytest.raises(ValueError, match="max_count"):
        UploadStore(0, 10, 1)


def test_store_is_consistent_under_concurrent_use():
    store = UploadStore(5, 400, 60)
    errors = []

    def worker(seed: int):
        rng = np.random.default_rng(seed)
        try:
            for _ in range(200):
                image_id = store.add(image_of(int(rng.integers(1, 25)) * 4))
                store.get(image_id)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    held = [entry.image.nbytes for entry in store._entries.values()]
    assert len(held) <= 5 and store.total_bytes == sum(held) <= 400


# ---- the upload API -----------------------------------------------------------------------------

LIMIT_BYTES = 200_000
LIMIT_PIXELS = 1_000_000


@pytest.fixture(scope="module")
def client():
    settings = Settings(device="cpu", max_upload_bytes=LIMIT_BYTES, max_image_pixels=LIMIT_PIXELS, max_uploads=3)
    with TestClient(create_app(settings)) as client:
        yield client


def upload(client, data: bytes, name: str = "picture.png", field: str = "file"):
    return client.post("/api/images", files={field: (name, data, "application/octet-stream")})


def assert_refused(response, status: int, *words: str):
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert all(word in detail for word in words), detail


def assert_still_serving(client):
    assert client.get("/api/health").json()["status"] == "ok"
    assert upload(client, encoded(Image.new("L", (4, 4)), "PNG")).status_code == 201


def test_upload_then_fetch_it_back_as_png(client):
    pixels = rgb_test_pattern(30, 40)
    response = upload(client, encoded(Image.fromarray(pixels), "WEBP", lossless=True))
    assert response.status_code == 201
    body = response.json()
    assert {key: body[key] for key in ("width", "height", "channels", "format")} == {
        "width": 40, "height": 30, "channels": 3, "format": "WebP"}
    png = client.get(f"/api/images/{body['image_id']}.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png.content))), pixels)
    assert client.app.state.uploads.get(body["image_id"]).shape == (30, 40, 3)


def test_upload_then_ask_for_its_size_and_name(client):
    """A page opened from a link asks what the upload is: its size as kept, its file's name and own size."""
    body = upload(client, encoded(Image.new("L", (7, 5), 128), "PNG"), name="cat on a mat.png").json()
    assert body["name"] == "cat on a mat.png"
    image_id = body["image_id"]
    assert client.get(f"/api/images/{image_id}").json() == {
        "image_id": image_id, "width": 7, "height": 5, "channels": 1, "name": "cat on a mat.png",
        "original_width": 7, "original_height": 5, "format": "PNG", "frames": 1}


@pytest.mark.parametrize("fmt, name", [("GIF", "GIF"), ("WEBP", "WebP"), ("PNG", "PNG"), ("TIFF", "TIFF")])
def test_an_upload_says_how_many_frames_or_pages_its_file_holds(client, fmt, name):
    """Only the first frame of an animation (or page of a TIFF) is used: the answer says how many there were."""
    pictures = [Image.new("RGB", (8, 6), colour) for colour in [(255, 0, 0), (0, 0, 255), (0, 255, 0)]]
    data = encoded(pictures[0], fmt, save_all=True, append_images=pictures[1:])
    body = upload(client, data).json()
    assert (body["format"], body["frames"]) == (name, 3)
    assert client.get(f"/api/images/{body['image_id']}").json()["frames"] == 3
    np.testing.assert_allclose(client.app.state.uploads.get(body["image_id"])[0, 0], [1, 0, 0], atol=0.02)


def test_a_tiff_of_many_pages_is_counted_up_to_the_limit_only(client):
    """Pillow counts a TIFF's pages in time growing with their square: 10 MB of tiny pages took minutes of a worker."""
    pages = [Image.new("L", (1, 1), index % 256) for index in range(images.MAX_COUNTED_FRAMES + 500)]
    body = upload(client, encoded(pages[0], "TIFF", save_all=True, append_images=pages[1:])).json()
    assert body["frames"] == images.MAX_COUNTED_FRAMES


def test_an_animated_png_claiming_billions_of_frames_says_the_limit():
    pictures = [Image.new("L", (4, 4), level) for level in (0, 128, 255)]
    data = bytearray(encoded(pictures[0], "PNG", save_all=True, append_images=pictures[1:]))
    at = data.index(b"acTL")  # the animation control chunk: frame count, then play count
    data[at + 4:at + 8] = struct.pack(">I", 2**31 - 1)
    data[at + 12:at + 16] = struct.pack(">I", zlib.crc32(bytes(data[at:at + 12])))
    assert images.frame_count(images.open_image(bytes(data), max_pixels=MAX_PIXELS)) == images.MAX_COUNTED_FRAMES


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF", "JPEG"])
def test_a_still_picture_has_one_frame(client, fmt):
    body = upload(client, encoded(Image.new("RGB", (8, 6)), fmt)).json()
    assert body["frames"] == 1


def test_a_cameras_jpeg_with_a_preview_has_one_frame(client):
    """Pillow counts a camera's MPO preview as a second frame; to a person it is one JPEG photo."""
    data = encoded(Image.new("RGB", (8, 6)), "MPO", save_all=True, append_images=[Image.new("RGB", (4, 3))])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    body = upload(client, data).json()
    assert (body["format"], body["frames"]) == ("JPEG", 1)


@pytest.mark.parametrize("sent, kept", [
    ("C:\\Users\\ana\\Pictures\\digit.png", "digit.png"),  # an old browser's whole path
    ("photos/2026/digit.png", "digit.png"),
    ("tab\there\n.png", "tabhere.png"),  # control characters dropped (they come as %09 and %0A)
    ('say "hi".png', 'say "hi".png'),  # quotes come as %22
    ("é" * 200 + ".png", "é" * 119 + "…"),
    ("", ""),
])
def test_an_uploads_name_is_its_file_name_without_folders_or_control_characters(client, sent, kept):
    body = upload(client, encoded(Image.new("L", (4, 4)), "PNG"), name=sent).json()
    assert body["name"] == kept
    assert client.get(f"/api/images/{body['image_id']}").json()["name"] == kept


def test_large_upload_is_kept_reduced_to_the_longest_side_and_says_so():
    settings = Settings(device="cpu", max_stored_side=64)
    pixels = rgb_test_pattern(90, 160)
    with TestClient(create_app(settings)) as client:
        body = upload(client, encoded(Image.fromarray(pixels), "PNG")).json()
        assert {key: body[key] for key in ("width", "height", "original_width", "original_height")} == {
            "width": 64, "height": 36, "original_width": 160, "original_height": 90}
        kept = client.app.state.uploads.get(body["image_id"])
        expected = torch_resize(pixels.astype(np.float32) / 255.0, 36, 64)  # antialiased bilinear, as Pillow's
        np.testing.assert_allclose(kept.transpose(2, 0, 1), expected, atol=1e-4)
        png = client.get(f"/api/images/{body['image_id']}.png")
        assert Image.open(io.BytesIO(png.content)).size == (64, 36)
        small = upload(client, encoded(Image.new("L", (64, 10)), "PNG")).json()
        assert (small["width"], small["original_width"]) == (64, 64)


def test_unknown_image_id_is_404_saying_uploads_expire(client):
    assert_refused(client.get("/api/images/not-an-id.png"), 404, "not-an-id", "expire", "upload it again")
    assert_refused(client.get("/api/images/not-an-id"), 404, "not-an-id", "expire", "upload it again")
    long = client.get("/api/images/" + "x" * 5000)  # quoted short, not echoed whole
    assert long.status_code == 404 and len(long.json()["detail"]) < 300 and "characters)" in long.json()["detail"]


def test_oldest_upload_is_forgotten_when_the_store_is_full(client):
    ids = [upload(client, encoded(Image.new("L", (4, 4), i), "PNG")).json()["image_id"] for i in range(4)]
    assert client.get(f"/api/images/{ids[0]}.png").status_code == 404
    assert all(client.get(f"/api/images/{i}.png").status_code == 200 for i in ids[1:])


def test_upload_over_the_byte_limit_is_413(client):
    data = b"\x89PNG" + bytes(LIMIT_BYTES)
    assert_refused(upload(client, data), 413, "the file is larger than the limit of 0.2 MB (200,000 bytes)")
    assert_still_serving(client)


def test_a_file_well_over_the_byte_limit_is_refused_with_its_size_in_mb(client):
    """Its Content-Length says it before a byte is read: its size as a person reads it, not the request's bytes."""
    response = upload(client, bytes(int(2.35 * LIMIT_BYTES)))
    assert_refused(response, 413)
    assert response.json()["detail"] == "the file is 0.5 MB; the limit is 0.2 MB"
    assert_refused(upload(client, bytes(LIMIT_BYTES + 20_000)), 413, "the file is 0.22 MB; the limit is 0.2 MB")
    assert_still_serving(client)


def test_megabytes_tell_a_size_from_the_limit_it_passed():
    assert megabytes(18_768_060, above=10_000_000) == "18.8 MB"
    assert megabytes(10_000_000) == "10 MB" and megabytes(200_000) == "0.2 MB"
    assert megabytes(10_016_500, above=10_000_000) == "10.02 MB"  # "10.0 MB" would read as the limit itself
    assert megabytes(10_000_001, above=10_000_000) == "10.000001 MB"  # down to the byte


def test_field_just_over_the_limit_is_413_and_at_the_limit_is_read(client):
    # The Content-Length is within the multipart allowance here, so the streaming count refuses it.
    assert_refused(upload(client, bytes(LIMIT_BYTES + 1)), 413, "larger than the limit", "(200,000 bytes)")
    assert_refused(upload(client, bytes(LIMIT_BYTES)), 415)  # read in full, then found not to be an image
    assert_still_serving(client)


async def post_chunks(app, chunks, content_type: str) -> tuple[int, bytes, int]:
    """POST /api/images straight to the ASGI app, one body chunk per receive() and no Content-Length
    (TestClient would read the whole body first). Returns the status, the body and how many chunks
    the server pulled."""
    pending = iter(chunks)
    pulled = 0
    sent = []

    async def receive():
        nonlocal pulled
        chunk = next(pending, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/images", "raw_path": b"/api/images", "query_string": b"",
             "root_path": "", "headers": [(b"content-type", content_type.encode())],
             "client": ("test", 1), "server": ("test", 80)}
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, pulled


def test_streamed_body_without_content_length_is_cut_at_the_limit(client):
    boundary = "lamina-test-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode()
    chunks = [head] + [bytes(65536)] * 100  # 6.4 MB, far beyond the limit
    # a thread of its own: Playwright's sync API (browser tests in the same session) keeps a loop in this one
    with ThreadPoolExecutor(1) as pool:
        status, body, pulled = pool.submit(anyio.run, post_chunks, client.app, chunks,
                                           f"multipart/form-data; boundary={boundary}").result()
    assert status == 413 and b"the file is larger than the limit of 0.2 MB (200,000 bytes)" in body
    assert pulled == 5  # 4 x 64 kB pass the 200 kB limit: the server stopped reading there
    assert_still_serving(client)


def test_upload_over_the_pixel_limit_is_413_before_decoding(client):
    assert_refused(upload(client, png_declaring(2000, 1000)), 413, "2000x1000 = 2 megapixels", "1 megapixels")
    assert_refused(upload(client, png_declaring(30000, 30000)), 413, "1 megapixels")
    assert_still_serving(client)


@pytest.mark.parametrize("data", [b"", b"<svg xmlns='http://www.w3.org/2000/svg'/>", bytes(range(256)) * 4],
                         ids=["empty", "svg", "bytes"])
def test_non_image_upload_is_415(client, data):
    assert_refused(upload(client, data, "drawing.svg"), 415, "PNG, JPEG, GIF, WebP, BMP or TIFF")
    assert_still_serving(client)


def test_corrupt_upload_is_422(client):
    data = encoded(Image.fromarray(rgb_test_pattern(64, 64)), "JPEG")
    assert_refused(upload(client, data[:300]), 422, "damaged or incomplete")
    assert_still_serving(client)


def test_form_without_a_file_field_is_422(client):
    assert_refused(upload(client, b"abc", field="image"), 422, "'file'")
    assert_still_serving(client)


def test_body_that_is_not_multipart_is_415(client):
    response = client.post("/api/images", content=encoded(Image.new("L", (4, 4)), "PNG"),
                           headers={"content-type": "image/png"})
    assert_refused(response, 415, "multipart/form-data", "'file'")


def test_a_boundary_too_long_for_the_parser_is_400(client):
    response = client.post("/api/images", content=b"x", headers={"content-type": "multipart/form-data; boundary="
                                                                               + "a" * 300})
    assert_refused(response, 400, "malformed", "Boundary length 300")
    assert_still_serving(client)


@pytest.mark.parametrize("root_path", ["", "/lamina"])
def test_uploads_are_not_held_to_the_json_body_limit(root_path):
    """Run requests are limited to max_message_bytes; uploads stream with their own, larger limit."""
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = encoded(image, "PNG")
    assert len(data) > 5000
    with TestClient(create_app(Settings(device="cpu", max_message_bytes=1000)), root_path=root_path) as client:
        response = client.post(f"{root_path}/api/images", files={"file": ("noise.png", data, "image/png")})
        assert response.status_code == 201, response.text
        refused = client.post(f"{root_path}/api/runs/layers/0.npy", json={"network": "digits-cnn", "id": "x" * 2000,
                                                                       "input": {"sample": "dot"}})
        assert refused.status_code == 413


def test_malformed_multipart_is_400(client):
    response = client.post("/api/images", content=b"--b\r\nNo-Colon-Here\r\n\r\n\r\n--b--\r\n",
                           headers={"content-type": "multipart/form-data; boundary=b"})
    assert_refused(response, 400, "malformed")
    assert_still_serving(client)
