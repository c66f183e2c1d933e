"""The Autoencoder view, driven as a person would: pick a digit, draw one, drag and key the code sliders,
reset, blend, reload.

Each test waits for the page's own signal that the output on screen is complete (#autoencoder-view
data-updates counts it, data-run-state is "done"), then reads what a person sees: the pictures' pixels,
the sliders, the error sentence, the URL. Reference values come from the server's own computation
(POST /api/runs/layers/{index}.npy), so a wrong picture cannot pass. The tests hold for untrained and
trained weights alike.
"""

from __future__ import annotations

import io
import json
import re
import urllib.request

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import draw_vertical_stroke, screenshot
from tests.browser.test_network import IN_LIVE_REGION, UPLOAD_GONE, announcements, watch_announcements

VIEW = "#autoencoder-view"
NETWORK = "digits-autoencoder"
FLOAT16_RTOL = 2e-3  # the page receives float16: about three significant digits
ENCODER_ROWS = {"enc_relu1": 8, "enc_pool1": 8, "enc_relu2": 16, "enc_pool2": 16}
DECODER_ROWS = {"unflatten": 16, "dec1": 8, "dec_relu1": 8, "dec2": 1}

# the grey level (red channel, 0..255) of every pixel of a canvas, row by row
GREYS = """(selector) => {
  const canvas = document.querySelector(selector);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const out = [];
  for (let i = 0; i < data.length; i += 4) out.push(data[i]);
  return { width: canvas.width, height: canvas.height, values: out };
}"""

# a checksum of every canvas in a layer's row
ROW_PRINT = """(name) => {
  const canvases = document.querySelectorAll(`.ae-layer[data-name="${name}"] .ae-maps canvas`);
  let hash = 0, colours = new Set();
  for (const canvas of canvases) {
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < data.length; i += 4) {
      hash = (Math.imul(hash, 31) + data[i] * 65536 + data[i + 1] * 256 + data[i + 2]) | 0;
      colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    }
  }
  return { count: canvases.length, hash, colours: colours.size };
}"""

# What the marker's overlay (the .pixel-marker canvas over the pictures or over a layer's row) has drawn around the
# canvas `selector`, read from its pixels: null when nothing; else the canvas pixel [row, col] at the centre of what
# is drawn, whether that pixel shows through (alpha 0 there), the drawn square's size and one cell's, in CSS pixels,
# and the drawn colours. Only the canvas's box and RING CSS pixels around it are read, so that a neighbouring
# map's marker does not count.
MARKED = """([selector, ring]) => {
  const canvas = document.querySelector(selector);
  const overlay = canvas.closest(".ae-pictures, .ae-layer").querySelector(":scope > .pixel-marker");
  if (!overlay || overlay.hidden) return null;
  const o = overlay.getBoundingClientRect(), c = canvas.getBoundingClientRect();
  const scale = overlay.width / o.width;  // overlay pixels per CSS pixel
  const left = c.left + canvas.clientLeft - o.left, top = c.top + canvas.clientTop - o.top;
  const x0 = Math.round((left - ring) * scale), y0 = Math.round((top - ring) * scale);
  const w = Math.round((canvas.clientWidth + 2 * ring) * scale);
  const h = Math.round((canvas.clientHeight + 2 * ring) * scale);
  const data = overlay.getContext("2d").getImageData(x0, y0, w, h).data;
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  const colours = new Set();
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = 4 * (y * w + x);
      if (!data[i + 3]) continue;
      [minX, minY, maxX, maxY] = [Math.min(minX, x), Math.min(minY, y), Math.max(maxX, x), Math.max(maxY, y)];
      colours.add(`${data[i]},${data[i + 1]},${data[i + 2]},${data[i + 3]}`);
    }
  }
  if (!colours.size) return null;
  const cell = canvas.clientWidth / canvas.width;
  const [cx, cy] = [(minX + maxX + 1) / 2, (minY + maxY + 1) / 2];  // overlay pixels in the read box
  const centre = 4 * (Math.floor(cy) * w + Math.floor(cx));
  return {
    pixel: [Math.floor(((y0 + cy) / scale - top) / cell), Math.floor(((x0 + cx) / scale - left) / cell)],
    through: data[centre + 3] === 0, size: (maxX + 1 - minX) / scale, cell,
    colours: [...colours].map((text) => text.split(",").map(Number)),
  };
}"""


# ---- helpers ---------------------------------------------------------------------------------------------------

def updates(page) -> int:
    return int(page.get_attribute(VIEW, "data-updates") or 0)


def wait_for_update_after(page, count: int, timeout: float = 20_000) -> None:
    """Wait until the output on screen is complete again, for the latest request."""
    page.wait_for_function(
        f"(() => {{ const v = document.querySelector('{VIEW}'); "
        f"return Number(v.dataset.updates) > {count} && v.dataset.runState === 'done'; }})()", timeout=timeout)


def open_view(page, query: str = "") -> None:
    page.goto(f"/autoencoder{query}")
    wait_until_ready(page)


def wait_until_ready(page) -> None:
    """The first output of a freshly loaded page is complete, and the sliders have their ranges."""
    wait_for_update_after(page, 0)
    page.wait_for_function("document.querySelector('#ae-code').dataset.digitCodes === 'loaded'", timeout=20_000)


def model(server_url: str) -> dict:
    with urllib.request.urlopen(f"{server_url}/api/models/{NETWORK}") as response:
        return json.load(response)


def layer_index(server_url: str, name: str) -> int:
    return [layer["name"] for layer in model(server_url)["spec"]["layers"]].index(name)


def server_layer(server_url: str, index: int, request: dict) -> np.ndarray:
    """The server's exact float32 output of layer `index` for a run request."""
    body = json.dumps({"network": NETWORK, **request}).encode()
    call = urllib.request.Request(f"{server_url}/api/runs/layers/{index}.npy", data=body,
                                  headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(call) as response:
        return np.load(io.BytesIO(response.read()), allow_pickle=False)


def decoded(server_url: str, code: np.ndarray) -> np.ndarray:
    """The server's decoder alone run on `code` (from_layer "expand"): the reconstruction, 28x28."""
    import base64

    data = base64.b64encode(np.asarray(code, "<f4").tobytes()).decode()
    request = {"from_layer": "expand", "input": {"array": {"shape": [len(code)], "dtype": "float32", "data": data}}}
    return server_layer(server_url, -1, request)[0, 0]


def encoded(server_url: str, sample: str) -> np.ndarray:
    return server_layer(server_url, layer_index(server_url, "code"), {"input": {"sample": sample}})[0]


def shown_code(page) -> np.ndarray:
    return np.array(json.loads(page.get_attribute("#ae-code", "data-code")), np.float32)


def greys(page, selector: str) -> np.ndarray:
    info = page.evaluate(GREYS, selector)
    return np.array(info["values"], np.int32).reshape(info["height"], info["width"])


def assert_picture_is(page, selector: str, values: np.ndarray) -> None:
    """The canvas shows `values` (0..1) as grey levels, within one level (float16 and rounding)."""
    expected = np.round(255 * np.clip(values, 0, 1)).astype(np.int32)
    got = greys(page, selector)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1, f"largest difference {np.abs(got - expected).max()} grey levels"


def wait_for_url_edits(page, dims: list[int]) -> None:
    """Wait until the URL (written shortly after a change) holds edits of exactly `dims`, with the shown values."""
    page.wait_for_function("""(dims) => {
      const text = new URLSearchParams(location.search).get("edits") || "";
      const code = JSON.parse(document.querySelector("#ae-code").dataset.code);
      const pairs = text ? text.split(",").map((pair) => pair.split(":").map(Number)) : [];
      return JSON.stringify(pairs.map(([dim]) => dim)) === JSON.stringify(dims)
        && pairs.every(([dim, value]) => Math.fround(value) === code[dim]);
    }""", arg=dims, timeout=5_000)


def marked(page, selector: str, ring: float = 3) -> dict | None:
    return page.evaluate(MARKED, [selector, ring])


def assert_marked_at(page, selector: str, pixel: tuple[int, int]) -> None:
    """The marker outlines `pixel` of the canvas: a square ring just around it, dark and light, the pixel showing."""
    drawn = marked(page, selector)
    assert drawn is not None, f"no marker on {selector}"
    assert tuple(drawn["pixel"]) == pixel, (selector, drawn["pixel"])
    assert drawn["through"], "the marked pixel is covered"
    assert drawn["cell"] < drawn["size"] <= drawn["cell"] + 8, drawn  # a ring round one cell, not a bigger box
    levels = [sum(colour[:3]) for colour in drawn["colours"] if colour[3] == 255]
    assert min(levels) < 100 and max(levels) > 600, drawn["colours"]  # shows on light and on dark pixels


def map_selector(layer: str, number: int) -> str:
    """Map `number` (counting from 1) of a layer's row."""
    return f".ae-layer[data-name='{layer}'] .ae-maps canvas:nth-child({number})"


def map_readout(page, layer: str) -> tuple[int, int, int, float]:
    """The layer's readout as (map, row, col, value), the map counted from 1 as map_selector's (the page counts
    every index from 0)."""
    text = page.inner_text(f".ae-layer[data-name='{layer}'] .ae-layer-readout")
    match = re.fullmatch(rf"{layer}, map (\d+), row (\d+), col (\d+): (\S+)", text)
    assert match, text
    return int(match[1]) + 1, int(match[2]), int(match[3]), float(match[4])


def row_print(page, name: str) -> dict:
    return page.evaluate(ROW_PRINT, name)


def sample_pixels(server_url: str, name: str) -> np.ndarray:
    with urllib.request.urlopen(f"{server_url}/api/samples/{name}") as response:
        return np.asarray(Image.open(io.BytesIO(response.read())).convert("L"), np.float32) / 255


def slider(page, dim: int):
    return page.locator(f"#ae-c{dim}")


def drag_slider(page, dim: int, fraction: float) -> None:
    """Drag slider `dim`'s thumb with the mouse to `fraction` of its track."""
    track = slider(page, dim).bounding_box()
    low, high = float(slider(page, dim).get_attribute("min")), float(slider(page, dim).get_attribute("max"))
    value = float(slider(page, dim).input_value())
    start = track["x"] + 7 + (track["width"] - 14) * (value - low) / (high - low)
    y = track["y"] + track["height"] / 2
    page.mouse.move(start, y)
    page.mouse.down()
    target = track["x"] + 7 + (track["width"] - 14) * fraction
    for step in range(1, 9):
        page.mouse.move(start + (target - start) * step / 8, y)
    page.mouse.up()


# ---- tests -----------------------------------------------------------------------------------------------------

def test_sample_shows_maps_code_and_reconstruction(page, server_url):
    info = model(server_url)
    open_view(page)
    screenshot(page, "autoencoder-mnist-3")
    assert page.input_value("#ae-input .ip-sample") == "mnist-3"
    # the input as the network got it, in grey, beside the reconstruction
    pixels = sample_pixels(server_url, "mnist-3")
    assert_picture_is(page, "#ae-input-image", pixels)
    reconstruction = server_layer(server_url, -1, {"input": {"sample": "mnist-3"}})[0, 0]
    assert_picture_is(page, "#ae-output-image", reconstruction)
    assert page.inner_text("#ae-output-caption") == "Reconstruction"
    assert page.get_attribute("#ae-network-link", "href") == f"/network?network={NETWORK}&input=sample%3Amnist-3"

    # the encoder's and the decoder's maps, each row drawn with more than one colour
    for name, count in {**ENCODER_ROWS, **DECODER_ROWS}.items():
        printed = row_print(page, name)
        assert printed["count"] == count, name
        assert printed["colours"] > 1, f"{name} is one flat colour"
    assert page.locator(".ae-layer[data-name='enc1']").is_hidden()  # the raw convolutions are off by default

    # 16 sliders holding the encoded code, marked at it, none edited
    code = encoded(server_url, "mnist-3")
    assert code.shape == (16,)
    assert page.locator("#ae-sliders input[type='range']").count() == 16
    np.testing.assert_allclose(shown_code(page), code, rtol=FLOAT16_RTOL, atol=1e-4)
    for dim in (0, 7, 15):
        text = page.inner_text(f".ae-slider[data-dim='{dim}'] output")
        decimals = len(text.split(".")[1]) if "." in text else 0
        value = float(code[dim])
        assert float(text) == pytest.approx(value, abs=10 ** -decimals + FLOAT16_RTOL * abs(value))
        low, high = float(slider(page, dim).get_attribute("min")), float(slider(page, dim).get_attribute("max"))
        assert low < code[dim] < high
    assert page.locator(".ae-slider.edited").count() == 0
    assert page.is_disabled("#ae-reset")

    # the reconstruction error in words, against numpy's
    mse = float(((reconstruction - pixels) ** 2).mean())
    text = page.inner_text("#ae-error")
    match = re.search(r"mean squared error (\d[\d.e+-]*)", text)
    assert match and text.startswith("Reconstruction error")
    assert float(match[1]) == pytest.approx(mse, rel=1e-3)
    assert ("Untrained" in page.inner_text("#ae-about")) == (not info["trained"])

    # hovering the input reads the pixel in both pictures
    box = page.locator("#ae-input-image").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 14.5 / 28, box["y"] + box["height"] * 6.5 / 28)
    readout = page.inner_text("#ae-picture-readout")
    match = re.fullmatch(r"row 6, col 14: input (\S+), output (\S+), difference (\S+)", readout)
    assert match, readout
    assert float(match[1]) == pytest.approx(pixels[6, 14], abs=2e-3)
    assert float(match[2]) == pytest.approx(reconstruction[6, 14], abs=2e-3)
    hovered = readout

    # the keyboard reads the same pixels, going on from the one last pointed at: arrows, Home and End on any
    # of the three pictures
    page.focus("#ae-output-image")
    assert page.inner_text("#ae-picture-readout") == hovered
    page.keyboard.press("Home")
    assert page.inner_text("#ae-picture-readout").startswith("row 6, col 0: input ")
    for key in ["ArrowRight"] * 14:
        page.keyboard.press(key)
    assert page.inner_text("#ae-picture-readout") == hovered
    page.keyboard.press("End")
    match = re.fullmatch(r"row 6, col 27: input (\S+), output (\S+), difference (\S+)",
                         page.inner_text("#ae-picture-readout"))
    assert match and float(match[2]) == pytest.approx(reconstruction[6, 27], abs=2e-3)
    page.keyboard.press("Shift+Tab")  # the input picture shares the pixel
    page.keyboard.press("ArrowUp")
    assert page.inner_text("#ae-picture-readout").startswith("row 5, col 27: input ")
    for _ in range(10):
        page.keyboard.press("ArrowUp")
    assert page.inner_text("#ae-picture-readout").startswith("row 0, col 27: ")  # held at the edge

    # another digit: a new code, new maps, and the URL says which
    before = row_print(page, "enc_relu1")["hash"]
    count = updates(page)
    page.select_option("#ae-input .ip-sample", "mnist-7")
    wait_for_update_after(page, count)
    page.wait_for_url(re.compile(r"input=sample%3Amnist-7"))
    np.testing.assert_allclose(shown_code(page), encoded(server_url, "mnist-7"), rtol=FLOAT16_RTOL, atol=1e-4)
    assert row_print(page, "enc_relu1")["hash"] != before
    assert_picture_is(page, "#ae-output-image", server_layer(server_url, -1, {"input": {"sample": "mnist-7"}})[0, 0])
    assert page.get_attribute("#ae-network-link", "href").endswith("input=sample%3Amnist-7")


def test_drawing_a_digit_encodes_and_decodes_it(page, server_url):
    open_view(page)
    code_before = shown_code(page)
    error_before = page.inner_text("#ae-error")
    page.check("#ae-input input[value='draw']")
    count = updates(page)
    draw_vertical_stroke(page, "#ae-input canvas.ip-draw-pad")
    wait_for_update_after(page, count)
    page.wait_for_url(re.compile(r"input=draw%3A"))
    # the stroke is a vertical line: bright in the input's middle column, dark at its side
    drawn = greys(page, "#ae-input-image")
    assert drawn[14, 14] > 200 and drawn[14, 3] < 30
    # a new code, and the picture on the right is what the server's decoder makes of it
    code = shown_code(page)
    assert not np.allclose(code, code_before)
    assert_picture_is(page, "#ae-output-image", decoded(server_url, code))
    assert page.inner_text("#ae-error") != error_before
    screenshot(page, "autoencoder-drawn")


def test_dragging_a_code_slider_moves_the_decoder(page, server_url):
    open_view(page)
    code = shown_code(page)
    encoder_before = row_print(page, "enc_pool2")
    decoder_before = row_print(page, "dec1")
    output_before = greys(page, "#ae-output-image")
    count = updates(page)
    drag_slider(page, 5, 0.95)
    wait_for_update_after(page, count)
    wait_for_url_edits(page, [5])  # the URL holds the value the page sent, rounded as it was sent
    edited = shown_code(page)
    # only number 5 changed, to a larger value
    assert np.flatnonzero(edited != code).tolist() == [5]
    assert edited[5] > code[5]
    assert page.locator(".ae-slider.edited").count() == 1
    assert page.locator(".ae-slider[data-dim='5']").get_attribute("class").split() == ["ae-slider", "edited"]
    assert "changed from" in slider(page, 5).get_attribute("aria-valuetext")
    assert page.inner_text("#ae-output-caption") == "Decoded from the edited code"
    assert "The code is edited" in page.inner_text("#ae-error")
    # the output is the server's decoder on the edited code; the decoder's maps moved, the encoder's did not
    expected = decoded(server_url, edited)
    assert_picture_is(page, "#ae-output-image", expected)
    if np.abs(np.round(255 * expected) - output_before).max() > 2:
        assert not np.array_equal(greys(page, "#ae-output-image"), output_before)
    assert row_print(page, "dec1")["hash"] != decoder_before["hash"]
    assert row_print(page, "enc_pool2") == encoder_before
    screenshot(page, "autoencoder-slider-dragged")

    # the keyboard: focus slider 2 and press the right arrow five times: five steps up, while the pointer
    # rests on pixel (10, 14) of the output, whose readout follows the new output
    box = page.locator("#ae-output-image").bounding_box()
    page.mouse.move(box["x"] + 1 + (box["width"] - 2) * 14.5 / 28, box["y"] + 1 + (box["height"] - 2) * 10.5 / 28)
    slider(page, 2).focus()
    step = float(slider(page, 2).get_attribute("step"))
    start = float(slider(page, 2).input_value())
    count = updates(page)
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    wait_for_update_after(page, count)
    wait_for_url_edits(page, [2, 5])
    keyed = shown_code(page)
    assert keyed[2] == pytest.approx(start + 5 * step, rel=1e-3, abs=step / 100)
    assert keyed[5] == edited[5]
    output = decoded(server_url, keyed)
    assert_picture_is(page, "#ae-output-image", output)
    readout = page.inner_text("#ae-picture-readout")
    match = re.fullmatch(r"row 10, col 14: input \S+, output (\S+), difference \S+", readout)
    assert float(match[1]) == pytest.approx(float(output[10, 14]), rel=FLOAT16_RTOL, abs=1e-3)
    assert page.locator(".ae-slider.edited").count() == 2


def test_reset_restores_the_encoded_code(page, server_url):
    open_view(page, "?input=sample%3Amnist-0")
    code = shown_code(page)
    output_before = greys(page, "#ae-output-image")
    decoder_before = row_print(page, "dec_relu1")
    count = updates(page)
    drag_slider(page, 9, 0.05)
    wait_for_update_after(page, count)
    page.wait_for_url(re.compile(r"edits="))
    assert page.is_enabled("#ae-reset")

    count = updates(page)
    page.click("#ae-reset")
    wait_for_update_after(page, count)
    page.wait_for_url(lambda url: "edits=" not in url)
    np.testing.assert_array_equal(shown_code(page), code)
    np.testing.assert_array_equal(greys(page, "#ae-output-image"), output_before)
    assert row_print(page, "dec_relu1") == decoder_before
    assert page.locator(".ae-slider.edited").count() == 0
    step = float(slider(page, 9).get_attribute("step"))
    assert float(slider(page, 9).input_value()) == pytest.approx(float(code[9]), abs=step)
    assert page.is_disabled("#ae-reset")
    assert page.inner_text("#ae-output-caption") == "Reconstruction"
    assert page.inner_text("#ae-error").startswith("Reconstruction error")


def test_blend_toward_a_digit_and_a_random_code(page, server_url):
    open_view(page)
    start = shown_code(page)
    target = encoded(server_url, "mnist-1")
    page.select_option("#ae-blend-digit", "1")
    count = updates(page)
    page.focus("#ae-blend")
    page.keyboard.press("End")  # 100%: the code of the held-out 1
    wait_for_update_after(page, count)
    page.wait_for_url(re.compile(r"toward=1&blend=1"))
    assert page.inner_text("#ae-blend-value") == "100%"
    np.testing.assert_allclose(shown_code(page), target, rtol=FLOAT16_RTOL, atol=1e-4)
    assert_picture_is(page, "#ae-output-image", server_layer(server_url, -1, {"input": {"sample": "mnist-1"}})[0, 0])

    count = updates(page)
    for _ in range(10):
        page.keyboard.press("ArrowLeft")  # back to 50%
    wait_for_update_after(page, count)
    page.wait_for_url(re.compile(r"blend=0.5"))
    half = shown_code(page)
    np.testing.assert_allclose(half, (start + target) / 2, rtol=2e-3, atol=2e-3)
    assert_picture_is(page, "#ae-output-image", decoded(server_url, half))
    screenshot(page, "autoencoder-blend")

    # a code slider moved after a blend: the code is no blend any more, and the blend control says so
    count = updates(page)
    slider(page, 3).focus()
    page.keyboard.press("ArrowRight")
    wait_for_update_after(page, count)
    page.wait_for_url(lambda url: "blend=" not in url)
    assert page.inner_text("#ae-blend-value") == "0%"

    count = updates(page)
    page.click("#ae-random")
    wait_for_update_after(page, count)
    page.wait_for_url(lambda url: "blend=" not in url)
    code = shown_code(page)
    digits = np.stack([encoded(server_url, f"mnist-{d}") for d in range(10)])
    assert np.all(code >= digits.min(axis=0) - 1e-3) and np.all(code <= digits.max(axis=0) + 1e-3)
    assert page.locator(".ae-slider.edited").count() >= 15
    assert_picture_is(page, "#ae-output-image", decoded(server_url, code))


def test_arrows_back_to_the_encoded_value_undo_an_edit_and_a_blend_starts_from_the_edits(page, server_url):
    open_view(page)
    code = shown_code(page)
    # the slider sits on the encoded value itself (its positions pass through it): right then left is no edit
    assert float(slider(page, 3).input_value()) == pytest.approx(float(code[3]), rel=1e-5, abs=1e-5)
    slider(page, 3).focus()
    count = updates(page)
    page.keyboard.press("ArrowRight")
    wait_for_update_after(page, count)
    wait_for_url_edits(page, [3])
    count = updates(page)
    page.keyboard.press("ArrowLeft")
    wait_for_update_after(page, count)
    page.wait_for_url(lambda url: "edits=" not in url)
    assert page.locator(".ae-slider.edited").count() == 0 and page.is_disabled("#ae-reset")
    assert page.inner_text("#ae-output-caption") == "Reconstruction"

    # an edit, then a digit to blend toward: the edit stays; the blend runs from the edited code and back to it
    count = updates(page)
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    wait_for_update_after(page, count)
    wait_for_url_edits(page, [3])
    edited = shown_code(page)
    page.select_option("#ae-blend-digit", "1")
    page.wait_for_url(re.compile(r"toward=1"))
    wait_for_url_edits(page, [3])
    target = encoded(server_url, "mnist-1")
    count = updates(page)
    page.focus("#ae-blend")
    for _ in range(10):
        page.keyboard.press("ArrowRight")  # 50%
    wait_for_update_after(page, count)
    page.wait_for_url(re.compile(r"blend=0.5"))
    np.testing.assert_allclose(shown_code(page), (edited + target) / 2, rtol=2e-3, atol=2e-3)
    count = updates(page)
    page.keyboard.press("Home")  # 0%: the edited code again, not the encoded one
    wait_for_update_after(page, count)
    page.wait_for_url(lambda url: "blend=" not in url)
    np.testing.assert_allclose(shown_code(page), edited, rtol=1e-3, atol=1e-3)
    assert page.locator(".ae-slider.edited").count() == 1


def test_a_link_with_a_blend_and_no_edits_makes_the_blend(page, server_url):
    """A hand-made link names the blend only; the page's own links give its edits too."""
    open_view(page, "?toward=1&blend=0.5")
    page.wait_for_function("new URLSearchParams(location.search).has('edits')")
    wait_for_update_after(page, 0)
    half = (encoded(server_url, "mnist-3") + encoded(server_url, "mnist-1")) / 2
    page.wait_for_function("document.querySelector('#ae-code').dataset.code && document.querySelectorAll("
                           "'.ae-slider.edited').length > 0")
    np.testing.assert_allclose(shown_code(page), half, rtol=2e-3, atol=2e-3)
    assert page.inner_text("#ae-blend-value") == "50%"
    # a position past the end is held to it, and named
    open_view(page, "?toward=1&blend=7")
    assert page.locator("#link-notice li").all_inner_texts() == ["blend=7: held to 1 (the blend goes from 0 to 1)."]
    assert page.inner_text("#ae-blend-value") == "100%"


def test_reload_restores_input_edits_and_options(page, server_url):
    open_view(page)
    count = updates(page)
    page.select_option("#ae-input .ip-sample", "mnist-5")
    wait_for_update_after(page, count)
    count = updates(page)
    slider(page, 11).focus()
    page.keyboard.press("PageUp")
    wait_for_update_after(page, count)
    page.check("#ae-raw")
    page.wait_for_url(re.compile(r"input=sample%3Amnist-5&edits=11%3A[-\d.e]+&raw=1$"))
    url = page.url
    code = shown_code(page)
    output = greys(page, "#ae-output-image")
    assert page.locator(".ae-layer[data-name='enc1']").is_visible()
    assert row_print(page, "enc1")["count"] == 8

    page.reload()
    wait_until_ready(page)
    assert page.url == url
    assert page.input_value("#ae-input .ip-sample") == "mnist-5"
    np.testing.assert_array_equal(shown_code(page), code)
    np.testing.assert_array_equal(greys(page, "#ae-output-image"), output)
    assert page.locator(".ae-slider.edited").count() == 1
    assert page.is_checked("#ae-raw") and page.locator(".ae-layer[data-name='enc2']").is_visible()
    assert page.inner_text("#ae-output-caption") == "Decoded from the edited code"
    screenshot(page, "autoencoder-reloaded")


def test_code_helpers_in_the_page(page, server_url):
    page.goto("/autoencoder")
    result = page.evaluate("""async () => {
      const m = await import("/static/js/autoencoder-code.js");
      const edits = m.parseEdits("3:1.25,7:-0.5,bad,99:1,4:x,2:", 16);
      const response = await fetch("/api/runs/layers/7.npy", { method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ network: "digits-autoencoder", input: { sample: "mnist-4" } }) });
      return {
        edits: [...edits], text: m.formatEdits(new Map([[7, -0.5], [3, 1.25]])),
        applied: Array.from(m.applyEdits(new Float32Array(4), new Map([[2, 1.5]]))),
        blend: Array.from(m.blendCodes([0, 2], [4, 6], 0.25)),
        rounded: m.roundValue(1.23456789), npy: Array.from(m.parseNpy(await response.arrayBuffer())),
        ranges: m.sliderRanges(new Float32Array([0.5]), [[0], [1]]),
      };
    }""")
    assert result["edits"] == [[3, 1.25], [7, -0.5]]
    assert result["text"] == "3:1.25,7:-0.5"
    assert result["applied"] == [0, 0, 1.5, 0]
    assert result["blend"] == [1, 3]
    assert result["rounded"] == 1.235
    np.testing.assert_array_equal(np.float32(result["npy"]), encoded(server_url, "mnist-4"))
    assert result["ranges"] == [{"min": -0.5, "max": 1.5}]


def test_a_link_to_an_expired_upload_says_so_and_reads_the_default_digit(page):
    page.allowed_errors.append(r"Failed to load resource.*404")  # the page asking whether the upload is there
    open_view(page, "?input=upload%3Anot-an-id%3A10x10")
    assert page.locator("#link-notice li").all_inner_texts() == [f"input=upload:not-an-id:10x10: {UPLOAD_GONE}"]
    assert page.input_value(".ip-sample") == "mnist-3" and page.text_content(".ip-error") == ""
    assert page.inner_text("#ae-run-error") == ""
    page.wait_for_function("!location.search.includes('not-an-id')")
    screenshot(page, "autoencoder-expired-upload")


def test_edits_from_a_link_are_held_to_the_codes_range(page):
    page.goto("/autoencoder")
    edits = page.evaluate("""async () => {
      const m = await import("/static/js/autoencoder-code.js");
      return [...m.parseEdits("3:1e9,4:-2.5,5:-1e9,0:abc,99:5", 16).entries()];
    }""")
    assert edits == [[3, 100], [4, -2.5], [5, -100]]  # far-off values held to +-100, bad pairs dropped


def test_a_dark_digit_on_white_upload_points_to_invert(page, tmp_path):
    open_view(page)
    picture = np.full((28, 28), 255, np.uint8)
    picture[6:22, 12:16] = 0  # a black "1" on white: MNIST is the other way round
    path = tmp_path / "one-on-white.png"
    Image.fromarray(picture).save(path)
    count = updates(page)
    page.set_input_files("#ae-input .ip-file", str(path))
    wait_for_update_after(page, count)
    hint = page.locator("#ae-input .ip-hint")
    hint.wait_for(state="visible")
    assert "if the digit is dark on white, tick Invert" in hint.inner_text()
    screenshot(page, "autoencoder-invert-hint")
    count = updates(page)
    page.check("#ae-input .ip-invert")
    wait_for_update_after(page, count)
    assert hint.is_hidden()


# ---- accessibility: what a keyboard and a screen reader get ----------------------------------------------------

def test_keyed_code_edits_are_announced_once_and_reset_keeps_the_focus(page):
    open_view(page)
    watch_announcements(page)
    code = shown_code(page)
    slider(page, 3).focus()
    count = updates(page)
    for _ in range(3):  # three decoder runs, each through seven layers
        page.keyboard.press("ArrowRight")
    wait_for_update_after(page, count)
    wait_for_url_edits(page, [3])
    # one short sentence (before: 27 per-layer lines and the error sentence each time); the error sentence, which
    # changes with every run, is seen but not spoken
    assert announcements(page) == ["ae-run-said: Decoded the edited code: 1 value changed."]
    for selector in ("#ae-progress-text", "#ae-error"):
        assert not page.evaluate(IN_LIVE_REGION, selector), selector
    assert page.inner_text("#ae-progress-text").startswith("Decoded the edited code in ")
    # another slider's decode is told too
    slider(page, 5).focus()
    count = updates(page)
    page.keyboard.press("ArrowRight")
    wait_for_update_after(page, count)
    assert announcements(page)[-1] == "ae-run-said: Decoded the edited code: 2 values changed."

    # Reset disables itself: the focus goes to the number it put back, not to the page's body
    page.focus("#ae-reset")
    count = updates(page)
    page.keyboard.press("Enter")
    wait_for_update_after(page, count)
    assert page.is_disabled("#ae-reset")
    assert page.evaluate("document.activeElement.id") == "ae-c3"  # the first number it put back
    np.testing.assert_array_equal(shown_code(page), code)
    assert announcements(page)[-1] == "ae-run-said: Back to the encoded code."


def test_names_hold_the_visible_words_and_the_values(page, server_url):
    open_view(page)
    # a slider's name starts with its visible label (what a voice-control user says), then says what it is
    assert page.inner_text("label[for='ae-c3']") == "c3"
    page.get_by_role("slider", name="c3, code number 3", exact=True).wait_for()

    # maps count from 0, as every index does, and their names hold their layer and range (the readout's values)
    maps = page.locator(".ae-layer[data-name='dec1'] .ae-maps canvas")
    labels = maps.evaluate_all("canvases => canvases.map((c) => c.getAttribute('aria-label'))")
    assert len(labels) == 8
    for c, label in enumerate(labels):
        assert re.fullmatch(rf"dec1, map {c} of 8 \(\d+×\d+\), values from \S+ to \S+", label), label
    maps.first.hover()
    assert page.inner_text(".ae-layer[data-name='dec1'] .ae-layer-readout").startswith("dec1, map 0, row ")

    # the pictures, whose pixels the readout says one at a time (pointer or keys), say their range
    reconstruction = server_layer(server_url, -1, {"input": {"sample": "mnist-3"}})[0, 0]
    label = page.get_attribute("#ae-output-image", "aria-label")
    match = re.fullmatch(r"the decoder's output, 28×28 pixels, values from (\S+) to (\S+) \(0 black, 1 white\)", label)
    assert match, label
    assert float(match[1]) == pytest.approx(reconstruction.min(), rel=FLOAT16_RTOL, abs=1e-3)
    assert float(match[2]) == pytest.approx(reconstruction.max(), rel=FLOAT16_RTOL, abs=1e-3)
    assert re.fullmatch(r"the input digit, 28×28 pixels, values from \S+ to \S+ \(0 black, 1 white\)",
                        page.get_attribute("#ae-input-image", "aria-label"))
    assert re.fullmatch(r"output minus input, 28×28 pixels, values from \S+ to \S+ \(blue below zero, red above\)",
                        page.get_attribute("#ae-difference-image", "aria-label"))


def test_a_link_value_that_does_not_parse_is_named_and_the_default_used(page):
    open_view(page, "?toward=eight&raw=maybe&input=digit-3")
    items = page.locator("#link-notice li").all_inner_texts()
    assert items[:2] == ["toward=eight: not a number.",
                         "raw=maybe: not one of 1, 0, true, false, yes, no, on, off."]
    assert items[2].startswith("input=digit-3: not an input; inputs are sample:NAME, ")
    assert len(items) == 3
    open_view(page, "?toward=42")
    assert page.locator("#link-notice li").all_inner_texts() == ["toward=42: not a digit from 0 to 9."]
    assert page.input_value("#ae-blend-digit") == "8"
    open_view(page, "?toward=3")
    assert page.locator("#link-notice").count() == 0


def test_a_link_naming_a_sample_the_page_lacks_says_so_and_reads_the_default_digit(page):
    open_view(page, "?input=sample:nope")
    items = page.locator("#link-notice li").all_inner_texts()
    assert items == ["input=sample:nope: no sample of that name here; there are camera, astronaut, coins, moon, "
                     "chelsea and 31 more in the Sample list."]
    assert page.input_value(".ip-sample") == "mnist-3"
    assert page.text_content("#ae-run-error") == ""
    page.wait_for_function("!location.search.includes('nope')")


def test_code_edits_a_link_holds_that_cannot_be_used_are_named(page):
    open_view(page, "?edits=3:1e9,4:-2.5,0:abc,99:5")
    assert page.locator("#link-notice li").all_inner_texts() == [
        "edits=3:1e9: held to 100 (edits go from -100 to 100).",
        "edits=0:abc: not a code number and its value, such as 3:1.25.",
        "edits=99:5: the code's numbers are 0 to 15.",
    ]
    # the code used holds what could be: number 3 at 100, number 4 at -2.5, and the link says only that
    page.wait_for_function("new URLSearchParams(location.search).get('edits') === '3:100,4:-2.5'")
    open_view(page, "?edits=3:1.25")
    assert page.locator("#link-notice").count() == 0


def test_the_pixel_read_is_outlined_on_the_three_pictures(page, server_url):
    open_view(page)
    pictures = ["#ae-input-image", "#ae-output-image", "#ae-difference-image"]
    assert [marked(page, selector) for selector in pictures] == [None] * 3  # nothing is read yet
    page.focus("#ae-input-image")
    for selector in pictures:
        assert_marked_at(page, selector, (0, 0))
    for key in ["End", *["ArrowDown"] * 5, *["ArrowLeft"] * 3]:
        page.keyboard.press(key)
    assert page.inner_text("#ae-picture-readout").startswith("row 5, col 24: ")
    for selector in pictures:
        assert_marked_at(page, selector, (5, 24))
    # the pictures' own pixels are as they were: the marker lies over them
    assert_picture_is(page, "#ae-input-image", sample_pixels(server_url, "mnist-3"))
    assert_picture_is(page, "#ae-output-image", server_layer(server_url, -1, {"input": {"sample": "mnist-3"}})[0, 0])
    screenshot(page, "autoencoder-picture-marker")

    page.keyboard.press("Tab")  # the next picture, the same pixel
    assert page.evaluate("document.activeElement.id") == "ae-output-image"
    page.keyboard.press("ArrowRight")
    for selector in pictures:
        assert_marked_at(page, selector, (5, 25))

    # the pointer moves it too, and the focus keeps it where the pointer left it
    box = page.locator("#ae-difference-image").bounding_box()
    page.mouse.move(box["x"] + 1 + (box["width"] - 2) * 3.5 / 28, box["y"] + 1 + (box["height"] - 2) * 20.5 / 28)
    assert page.inner_text("#ae-picture-readout").startswith("row 20, col 3: ")
    for selector in pictures:
        assert_marked_at(page, selector, (20, 3))
    page.mouse.move(5, 5)
    assert_marked_at(page, "#ae-input-image", (20, 3))
    # neither the focus nor the pointer on a picture: no marker
    page.focus("#ae-raw")
    assert [marked(page, selector) for selector in pictures] == [None] * 3
    box = page.locator("#ae-output-image").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert_marked_at(page, "#ae-input-image", (14, 14))
    page.mouse.move(5, 5)
    assert [marked(page, selector) for selector in pictures] == [None] * 3


def test_the_layer_maps_answer_the_keys(page, server_url):
    open_view(page)
    dec1 = server_layer(server_url, layer_index(server_url, "dec1"), {"input": {"sample": "mnist-3"}})[0]
    assert dec1.shape == (8, 14, 14)
    first, third = page.locator(map_selector("dec1", 1)), page.locator(map_selector("dec1", 3))
    # one tab stop per layer, on its first map; the others are reached with Page Down
    assert first.get_attribute("tabindex") == "0" and third.get_attribute("tabindex") == "-1"
    assert third.get_attribute("role") == "application"
    keys = page.locator(f"#{third.get_attribute('aria-describedby')}")
    assert "Arrow keys, Home and End" in keys.text_content() and "Page Down" in keys.text_content()

    def assert_reads(number: int, pixel: tuple[int, int]) -> None:
        """The readout says map `number`'s value at `pixel` as the server computed it, and the marker is there."""
        y, x = pixel
        shown = map_readout(page, "dec1")
        assert shown[:3] == (number, y, x)
        assert shown[3] == pytest.approx(float(dec1[number - 1, y, x]), rel=FLOAT16_RTOL, abs=1e-3)
        assert_marked_at(page, map_selector("dec1", number), pixel)

    first.focus()
    page.keyboard.press("PageDown")
    page.keyboard.press("PageDown")
    assert_reads(3, (0, 0))
    assert third.get_attribute("tabindex") == "0" and first.get_attribute("tabindex") == "-1"  # Tab returns here
    assert marked(page, map_selector("dec1", 2)) is None and marked(page, map_selector("dec1", 4)) is None
    for key in [*["ArrowDown"] * 6, "End", "ArrowLeft", "ArrowLeft"]:
        page.keyboard.press(key)
    assert_reads(3, (6, 11))
    page.keyboard.press("PageDown")  # the next map reads the same pixel; the marker moves with the focus
    assert_reads(4, (6, 11))
    assert marked(page, map_selector("dec1", 3)) is None
    page.keyboard.press("Home")
    for _ in range(10):
        page.keyboard.press("ArrowUp")  # held at the edge
    assert_reads(4, (0, 0))
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    assert_reads(4, (1, 1))
    screenshot(page, "autoencoder-map-marker")
    for _ in range(6):
        page.keyboard.press("PageDown")  # held at the last map
    assert_reads(8, (1, 1))
    page.keyboard.press("Tab")  # on to the next layer's first map, not to dec1's other maps
    assert page.evaluate("[document.activeElement.closest('.ae-layer')?.dataset.name, "
                         "document.activeElement.dataset.channel]") == ["dec_relu1", "0"]

    # the encoder's maps too, each row with its own pixel: a 7x7 map of 16
    pooled = server_layer(server_url, layer_index(server_url, "enc_pool2"), {"input": {"sample": "mnist-3"}})[0]
    page.focus(map_selector("enc_pool2", 16))
    for key in ["End", "ArrowDown", "ArrowDown", "ArrowDown"]:
        page.keyboard.press(key)
    number, y, x, value = map_readout(page, "enc_pool2")
    assert (number, y, x) == (16, 3, 6)
    assert value == pytest.approx(float(pooled[15, 3, 6]), rel=FLOAT16_RTOL, abs=1e-3)
    assert_marked_at(page, map_selector("enc_pool2", 16), (3, 6))
    assert marked(page, map_selector("dec1", 4)) is None  # the focus left the decoder's row: its marker went

    # the pointer reads a map and the keys go on from there
    box = page.locator(map_selector("dec1", 1)).bounding_box()
    page.mouse.move(box["x"] + 1 + (box["width"] - 2) * 9.5 / 14, box["y"] + 1 + (box["height"] - 2) * 2.5 / 14)
    assert_reads(1, (2, 9))
    page.mouse.move(5, 5)
    assert marked(page, map_selector("dec1", 1)) is None
    page.focus(map_selector("dec1", 8))
    page.keyboard.press("ArrowLeft")
    assert_reads(8, (2, 8))


# ---- layout ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("width", [360, 390])
def test_on_a_phone_in_presenter_mode_the_input_and_its_reconstruction_sit_side_by_side(new_page, width):
    """Presenter mode's larger pictures (168 px) put the reconstruction under the input on a phone."""
    page = new_page(viewport={"width": width, "height": 844}, is_mobile=True, has_touch=True)
    open_view(page)
    page.click("#presenter-toggle")
    assert "presenter" in page.get_attribute("body", "class")
    boxes = page.evaluate("""() => ['#ae-input-image', '#ae-output-image', '.ae-compare'].map(
      (selector) => document.querySelector(selector).getBoundingClientRect().toJSON())""")
    picture, output, panel = boxes
    assert output["top"] == pytest.approx(picture["top"], abs=1)
    assert output["left"] > picture["right"] and output["right"] <= panel["right"]
    assert picture["width"] >= 130  # still large enough to see the digit's pixels
    screenshot(page, f"autoencoder-phone-presenter-{width}")
