"""A student's own photos through the built-in networks: what the first layer computes from an upload is what
PyTorch computes from the same file, decoded, turned upright, composited, greyed and resized independently.

Each file is uploaded (POST /api/images) and its first layer downloaded (POST /api/runs/layers/0.npy), as the
Network page's "download .npy" does.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageOps

from engine.models import BUILTIN_MODELS, load_model
from server.app import create_app
from server.settings import Settings

torch = pytest.importorskip("torch")
F = torch.nn.functional

KEPT_SIDE = 1024  # Settings.max_stored_side: a larger upload is kept reduced to it
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
IMAGE_NETWORKS = ("edges", "tiny-vgg", "digits-cnn", "digits-autoencoder")


def photo(height: int = 300, width: int = 451) -> np.ndarray:
    from skimage import data

    return np.asarray(Image.fromarray(data.chelsea()).resize((width, height)))


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def phone_jpeg() -> bytes:
    """A camera's 1600x1200 JPEG stored on its side, with EXIF orientation 6 (turn clockwise to show it)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(Image.fromarray(photo(1200, 1600)), "JPEG", quality=90, exif=exif.tobytes())


def transparent_png() -> bytes:
    """A red square on a transparent canvas: a drawing app's export."""
    pixels = np.zeros((120, 160, 4), np.uint8)
    pixels[..., 0] = 200
    pixels[30:90, 40:120, 3] = 255
    return encoded(Image.fromarray(pixels, "RGBA"), "PNG")


def grey16_png() -> bytes:
    ramp = np.linspace(0, 65535, 96 * 80).reshape(96, 80).astype(np.uint16)
    return encoded(Image.fromarray(ramp), "PNG")


FILES = {
    "photo.jpg": lambda: encoded(Image.fromarray(photo()), "JPEG", quality=90),
    "phone.jpg": phone_jpeg,
    "drawing.png": transparent_png,
    "scan16.png": grey16_png,
    "cmyk.jpg": lambda: encoded(Image.fromarray(photo()).convert("CMYK"), "JPEG", quality=95),
    "photo.webp": lambda: encoded(Image.fromarray(photo()), "WEBP", quality=90),
}


def reference_picture(data: bytes) -> np.ndarray:
    """(C, H, W) float32 in [0, 1] as a person sees the file: upright, transparency on white, 16 bits kept."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if image.mode == "I;16":
        return (np.asarray(image, np.float32) / 65535)[None]
    if image.mode == "RGBA":
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    return np.asarray(image.convert("RGB"), np.float32).transpose(2, 0, 1) / 255


def resized(picture: np.ndarray, height: int, width: int) -> torch.Tensor:
    return F.interpolate(torch.from_numpy(np.ascontiguousarray(picture))[None], size=(height, width),
                         mode="bilinear", antialias=True, align_corners=False)


def network_input(picture: np.ndarray, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """The picture as a built-in network reads it: kept at 1024 on its longer side at most, greyed by luminance
    (or grey repeated) to its channels, resized to its input size."""
    height, width = picture.shape[1:]
    if max(height, width) > KEPT_SIDE:
        scale = KEPT_SIDE / max(height, width)
        picture = resized(picture, round(height * scale), round(width * scale))[0].numpy()
    if channels == 1 and picture.shape[0] == 3:
        picture = np.tensordot(LUMA, picture, axes=1)[None]
    if channels == 3 and picture.shape[0] == 1:
        picture = np.repeat(picture, 3, axis=0)
    return resized(picture, *size)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(device="cpu"))) as client:
        yield client


@pytest.mark.parametrize("name", FILES)
def test_an_uploads_first_layer_is_what_pytorch_computes_from_the_file(client, name):
    data = FILES[name]()
    answer = client.post("/api/images", files={"file": (name, data, "application/octet-stream")})
    assert answer.status_code == 201, answer.text
    picture = reference_picture(data)
    for network in IMAGE_NETWORKS:
        info = BUILTIN_MODELS[network]
        got = client.post("/api/runs/layers/0.npy",
                          json={"network": network, "input": {"image_id": answer.json()["image_id"]}})
        assert got.status_code == 200, got.text
        output = np.load(io.BytesIO(got.content), allow_pickle=False)
        conv = load_model(network).layers[0][1]
        expected = F.conv2d(network_input(picture, info.input_channels, info.input_size),
                            torch.from_numpy(np.asarray(conv.weight)), torch.from_numpy(np.asarray(conv.bias)),
                            padding=conv.padding).numpy()
        assert output.shape == expected.shape
        np.testing.assert_allclose(output, expected, atol=2e-3, err_msg=f"{name} through {network}")

