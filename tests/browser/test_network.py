"""The Network view, driven as a person would: pick a sample, upload a photo, open a map, read the scores.

Each test waits for the page's own signal that a run is drawn (#network-view data-runs-done counts
finished runs), then reads what a person sees: canvas pixels, hover text, bars, the URL after a reload.
Reference values come from the server's own download of a layer (.npy), so a wrong picture cannot pass.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.browser.conftest import draw_vertical_stroke, screenshot
from tests.server.test_digits import photo_of

VIEW = "#network-view"
FLOAT16_RTOL = 2e-3  # the page receives float16: about three significant digits

# Pixels of a canvas: how many are opaque, how many distinct colours, and a checksum.
CANVAS_PIXELS = """(canvas) => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let opaque = 0, sum = 0;
  const colours = new Set();
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] === 0) continue;
    opaque++;
    sum = (sum + data[i] * 3 + data[i + 1] * 5 + data[i + 2] * 7 + i) % 1000000007;
    colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  }
  return { opaque, colours: colours.size, sum, width: canvas.width, height: canvas.height };
}"""


def runs_done(page) -> int:
    return int(page.get_attribute(VIEW, "data-runs-done") or 0)


def wait_for_run_after(page, count: int, timeout: float = 20_000) -> None:
    """Wait until more than `count` runs have been drawn completely."""
    page.wait_for_function(f"Number(document.querySelector('{VIEW}').dataset.runsDone) > {count}", timeout=timeout)

UPLOAD_GONE = ("the server no longer has this uploaded picture (it keeps uploads in memory only, and lets them go "
               "when unused for a while): upload it again.")


def open_network(page, query: str = "") -> None:
    page.goto(f"/network{query}")
    wait_for_run_after(page, 0)


def model(server_url: str, name: str) -> dict:
    with urllib.request.urlopen(f"{server_url}/api/models/{name}") as response:
        return json.load(response)


def layer_rows(page):
    return page.locator(f"{VIEW} .nv-layer:not([data-index='-1'])")


def pixels(page, selector: str) -> dict:
    return page.locator(selector).first.evaluate(CANVAS_PIXELS)


def download_layer(page, index: int) -> np.ndarray:
    """Click the row's "download .npy" link and load the file it saves."""
    with page.expect_download() as download:
        page.click(f".nv-layer[data-index='{index}'] .nv-download")
    return np.load(download.value.path(), allow_pickle=False)


def assert_map_drawn(info: dict) -> None:
    assert info["opaque"] == info["width"] * info["height"], info
    assert info["colours"] > 1, f"the map is one flat colour: {info}"


def test_sample_shows_every_layer_and_a_new_sample_redraws(page, server_url):
    spec = model(server_url, "digits-cnn")["spec"]
    open_network(page)
    screenshot(page, "network-digits-sample")
    rows = layer_rows(page)
    assert rows.count() == len(spec["layers"])
    for index, layer in enumerate(spec["layers"]):
        row = rows.nth(index)
        assert row.get_attribute("data-state") == "done"
        assert row.locator("h3").inner_text() == f"{index} · {layer['name']}"
        assert row.locator(".nv-kind").inner_text() == layer["kind"]
    # conv1: eight 28x28 maps, each drawn with more than one colour
    conv1 = page.locator(".nv-layer[data-index='0'] button.map canvas")
    assert conv1.count() == 8
    for i in range(8):
        assert_map_drawn(conv1.nth(i).evaluate(CANVAS_PIXELS))
    assert page.locator(".nv-layer[data-index='0'] .nv-shape").inner_text() == "1×8×28×28"
    # 1-D outputs are strips, not grids
    for index in (6, 7, 8):
        row = page.locator(f".nv-layer[data-index='{index}']")
        assert row.locator("canvas.nv-strip").count() == 1 and row.locator("button.map").count() == 0
    assert "All 9 layers" in page.inner_text("#nv-progress-text")
    # a digit network opens on a held-out MNIST digit, the kind it was trained and scored on
    assert page.input_value("#nv-input .ip-sample") == "mnist-3"
    assert page.get_attribute("#nv-scores-plot", "data-best") == "3"

    before = {i: pixels(page, f".nv-layer[data-index='{i}'] button.map canvas")["sum"] for i in (-1, 0, 3)}
    count = runs_done(page)
    page.select_option("#nv-input .ip-sample", "digit-7")
    wait_for_run_after(page, count)
    page.wait_for_url(re.compile(r"input=sample%3Adigit-7"))
    after = {i: pixels(page, f".nv-layer[data-index='{i}'] button.map canvas")["sum"] for i in (-1, 0, 3)}
    assert all(before[i] != after[i] for i in before), "the maps did not change with the new sample"
    screenshot(page, "network-digits-sample-7")


def test_uploaded_photo_shows_its_feature_maps(page, server_url, tmp_path):
    photo = Image.new("RGB", (512, 512), (20, 30, 40))
    draw = ImageDraw.Draw(photo)
    draw.ellipse((128, 128, 384, 384), fill=(250, 240, 200))
    draw.rectangle((40, 300, 200, 480), fill=(180, 30, 30))
    path = tmp_path / "photo.png"
    photo.save(path)

    open_network(page, "?network=edges")
    count = runs_done(page)
    page.check("#nv-input input[value='upload']")
    page.set_input_files("#nv-input input[type='file']", str(path))
    wait_for_run_after(page, count)
    page.wait_for_url(re.compile(r"input=upload%3A"))
    assert page.locator(".nv-layer[data-index='-1'] .nv-shape").inner_text() == "1×1×256×256"
    edges = page.locator(".nv-layer[data-index='0'] button.map canvas")
    assert edges.count() == 8
    sums = set()
    for i in range(8):
        info = edges.nth(i).evaluate(CANVAS_PIXELS)
        assert info["width"] == info["height"] == 256
        assert_map_drawn(info)
        sums.add(info["sum"])
    assert len(sums) == 8, "eight different filters drew identical maps"
    # the drawn disc: the Input map is bright in the middle and dark in the corner
    centre, corner = page.locator(".nv-layer[data-index='-1'] button.map canvas").first.evaluate("""(c) => {
      const g = c.getContext("2d");
      const at = (x, y) => Array.from(g.getImageData(x, y, 1, 1).data.slice(0, 3));
      return [at(128, 128), at(5, 5)];
    }""")
    assert sum(centre) > sum(corner) + 200
    screenshot(page, "network-edges-upload")


def test_the_inputs_detail_opens_from_a_link_and_follows_a_new_input(page):
    open_network(page, "?layer=-1&map=0")  # the link the page writes after a click on the input's map
    page.locator("#nv-detail").wait_for(state="visible")
    assert page.inner_text("#nv-detail-title") == "input · channel 0 of 1"
    stats = page.locator("#nv-detail-stats")
    page.wait_for_function("document.querySelector('#nv-detail-stats').textContent.includes('mean')")
    three = stats.inner_text()
    page.hover(".nv-layer[data-index='-1'] button.map")
    readout = page.locator(".nv-layer[data-index='-1'] .nv-readout")
    assert "input channel 0: min" in readout.inner_text()
    count = runs_done(page)
    page.select_option("#nv-input .ip-sample", "mnist-1")
    wait_for_run_after(page, count)
    assert stats.inner_text() != three  # it had kept the 3's statistics, heatmap and histogram
    mean = float(re.search(r"mean ([-\d.e]+)", stats.inner_text())[1].replace("−", "-"))
    z = page.evaluate("document.querySelector('#nv-detail-heatmap').data[0].z.flat()")
    assert len(z) == 28 * 28 and sum(z) / len(z) == pytest.approx(mean, rel=1e-3)  # the heatmap is the 1's
    assert readout.inner_text() == ""  # it spoke of the 3


def test_a_kernels_weights_read_out_from_the_keyboard_too(page):
    from engine.backend import to_numpy
    from engine.models import load_model

    weights = to_numpy(load_model("digits-cnn")["conv2"].state_dict()["weight"])  # (16, 8, 3, 3)
    open_network(page, "?layer=3&map=2")
    page.wait_for_function("document.querySelector('#nv-detail-kernels').dataset.slices === '8'")
    page.focus("#nv-kernel-grid canvas")  # the kernels are one tab stop
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    readout = page.locator("#nv-kernel-readout")

    def weight_read(kernel: int, row: int, column: int) -> None:
        text = readout.inner_text()
        match = re.fullmatch(rf"input {kernel}, row {row}, col {column}: weight (\S+)", text)
        assert match, text
        assert float(match[1].replace("−", "-")) == pytest.approx(float(weights[2, kernel, row, column]), abs=1e-4)

    weight_read(0, 1, 1)
    page.keyboard.press("PageDown")  # the next kernel, at the same weight
    weight_read(1, 1, 1)
    assert page.evaluate("document.activeElement.dataset.channel") == "1"
    page.keyboard.press("End")
    weight_read(1, 1, 2)
    marked = page.evaluate("""() => {
      const overlay = document.querySelector('#nv-detail-kernels > .pixel-marker');
      return !overlay.hidden && overlay.getContext('2d').getImageData(0, 0, overlay.width, overlay.height)
        .data.some((v, i) => i % 4 === 3 && v > 0);
    }""")
    assert marked, "the weight read is not marked"


def test_a_focused_heatmap_says_the_new_value_when_its_map_is_drawn_afresh(page):
    """Back to another input, with the keys on the detail heatmap: its readout says the newly drawn value of the
    cell the keys are on, not the value the last input had there."""
    def view(sample):
        return f"?input=sample%3A{sample}&layer=0&map=2"

    open_network(page, view("digit-3"))
    # the entry before this one is the same view of another digit
    page.evaluate(f"history.replaceState(null, '', '{view('digit-7')}'); history.pushState(null, '', '{view('digit-3')}')")
    page.wait_for_selector("#nv-detail-heatmap .hm, #nv-detail-heatmap image")
    page.focus("#nv-detail-heatmap")
    for key in ["ArrowRight"] * 14 + ["ArrowDown"] * 12:
        page.keyboard.press(key)

    def said():
        match = re.fullmatch(r"row 12, col 14: value (-?[\d.e+-]+)", page.inner_text("#nv-detail-readout"))
        assert match, page.inner_text("#nv-detail-readout")
        return float(match[1])

    def drawn():
        return page.evaluate("document.querySelector('#nv-detail-heatmap').data[0].z[12][14]")

    before, readout, drawn_before = said(), page.inner_text("#nv-detail-readout"), drawn()
    assert before == pytest.approx(drawn_before, rel=1e-3, abs=1e-4)
    runs = runs_done(page)
    page.go_back()
    wait_for_run_after(page, runs)
    page.wait_for_function("(old) => document.querySelector('#nv-detail-heatmap').data[0].z[12][14] !== old",
                           arg=drawn_before)
    assert page.evaluate("document.activeElement.id") == "nv-detail-heatmap"
    page.wait_for_function("(old) => document.getElementById('nv-detail-readout').textContent !== old", arg=readout)
    assert said() == pytest.approx(drawn(), rel=1e-3, abs=1e-4) and said() != pytest.approx(before, abs=1e-3)


def test_map_detail_panel_heatmap_hover_and_kernels(page, server_url):
    open_network(page)
    conv2 = download_layer(page, 3)
    assert conv2.shape == (1, 16, 14, 14)
    page.click(".nv-layer[data-index='0'] button.map[data-channel='2']")  # a 28x28 map first
    page.wait_for_url(re.compile(r"layer=0&map=2"))
    page.click(".nv-layer[data-index='3'] button.map[data-channel='2']")
    detail = page.locator("#nv-detail")
    detail.wait_for(state="visible")
    page.wait_for_url(re.compile(r"layer=3&map=2"))
    assert page.inner_text("#nv-detail-title") == "conv2 · map 2 of 16"  # map=2 in the link: maps count from 0
    page.wait_for_selector("#nv-detail-heatmap .hm, #nv-detail-heatmap image")
    z_rows, z_columns = page.evaluate(
        "() => { const z = document.querySelector('#nv-detail-heatmap').data[0].z; return [z.length, z[0].length]; }")
    assert (z_rows, z_columns) == (14, 14)
    # the axes span the 14 x 14 cells, no more (after the 28x28 map, Plotly once kept a wider x axis)
    page.wait_for_function("document.querySelector('#nv-detail-heatmap')._fullLayout.yaxis.range[0] === 13.5")
    ranges = page.evaluate("() => { const l = document.querySelector('#nv-detail-heatmap')._fullLayout; "
                           "return [l.xaxis.range, l.yaxis.range]; }")
    assert ranges == [[-0.5, 13.5], [13.5, -0.5]]

    # hover the centre of cell (row 5, col 9) and read its value against the downloaded layer
    box = page.locator("#nv-detail-heatmap .nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * (9.5 / 14), box["y"] + box["height"] * (5.5 / 14))
    hover = page.locator("#nv-detail-heatmap .hovertext")
    hover.wait_for()
    text = " ".join(hover.all_text_contents())
    match = re.search(r"row (\d+), col (\d+)\s*value (-?[\d.e+-]+)", text)
    assert match, text
    row, column, value = int(match[1]), int(match[2]), float(match[3])
    assert (row, column) == (5, 9)
    expected = float(conv2[0, 2, row, column])
    assert value == pytest.approx(expected, rel=FLOAT16_RTOL, abs=1e-3)
    # the same cell from the keyboard: the readout says it, and Plotly's hover label shows on it
    page.mouse.move(0, 0)
    page.focus("#nv-detail-heatmap")
    for key in ["ArrowRight"] * 9 + ["ArrowDown"] * 5:
        page.keyboard.press(key)
    readout = page.inner_text("#nv-detail-readout")
    match = re.fullmatch(r"row 5, col 9: value (-?[\d.e+-]+)", readout)
    assert match, readout
    assert float(match[1]) == pytest.approx(expected, rel=FLOAT16_RTOL, abs=1e-3)
    page.wait_for_function("/row 5, col 9\\s*value/.test("
                           "document.querySelector('#nv-detail-heatmap .hovertext')?.textContent)")
    screenshot(page, "network-heatmap-keyboard")

    # the kernels that made map 2: one 3x3 slice per input channel of conv2 (8), drawn
    page.wait_for_function("document.querySelector('#nv-detail-kernels').dataset.slices === '8'")
    kernels = page.locator("#nv-kernel-grid canvas")
    assert kernels.count() == 8
    info = kernels.first.evaluate(CANVAS_PIXELS)
    assert (info["width"], info["height"]) == (3, 3) and info["colours"] > 1
    assert "bias" in page.inner_text("#nv-kernel-about")
    assert page.locator("#nv-detail-histogram .bars .point").count() > 1
    screenshot(page, "network-detail-conv2-map2")

    # keyboard: Escape in a field elsewhere, or in the live session's panel, is theirs: the detail stays open
    page.focus("#nv-network")
    page.keyboard.press("Escape")
    page.click("#live-toggle")
    page.keyboard.press("Escape")  # closes the live panel only
    page.wait_for_function("document.getElementById('live-panel').hidden")
    assert detail.is_visible()
    # Escape closes; arrow keys move between maps and Enter opens one
    page.focus("#nv-detail-close")
    page.keyboard.press("Escape")
    detail.wait_for(state="hidden")
    page.wait_for_url(lambda url: "layer=" not in url)
    page.focus(".nv-layer[data-index='0'] button.map[data-channel='0']")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    detail.wait_for(state="visible")
    assert page.inner_text("#nv-detail-title") == "conv1 · map 1 of 8"
    page.wait_for_function("document.querySelector('#nv-detail-kernels').dataset.slices === '1'")
    # ArrowDown moves one row down conv2's wrapped grid of 16 maps
    page.focus(".nv-layer[data-index='3'] button.map[data-channel='0']")
    page.keyboard.press("ArrowDown")
    per_row = page.evaluate("""() => {
      const maps = [...document.querySelectorAll(".nv-layer[data-index='3'] button.map")];
      return maps.filter((map) => map.offsetTop === maps[0].offsetTop).length;
    }""")
    assert page.evaluate("document.activeElement.dataset.channel") == str(min(per_row, 15))
    screenshot(page, "network-detail-keyboard")


def test_transposed_convolution_kernels_match_the_weights(page, server_url):
    from engine.backend import to_numpy
    from engine.models import load_model

    network = load_model("digits-autoencoder")
    weight = to_numpy(network["dec1"].state_dict()["weight"])  # (16, 8, 4, 4)
    index = [name for name, _ in network.layers].index("dec1")
    open_network(page, f"?network=digits-autoencoder&layer={index}&map=5")
    page.locator("#nv-detail").wait_for(state="visible")
    assert page.inner_text("#nv-detail-title") == "dec1 · map 5 of 8"
    page.wait_for_function("document.querySelector('#nv-detail-kernels').dataset.slices === '16'")
    assert "spread out by" in page.inner_text("#nv-kernel-about")
    # hover cell (row 1, col 2) of the slice for input channel 3 and read its weight
    canvas = page.locator("#nv-kernel-grid figure", has_text="input 3").locator("canvas")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 2.5 / 4, box["y"] + box["height"] * 1.5 / 4)
    text = page.inner_text("#nv-kernel-readout")
    match = re.fullmatch(r"input 3, row 1, col 2: weight (-?[\d.e+-]+)", text)
    assert match, text
    assert float(match[1]) == pytest.approx(float(weight[3, 5, 1, 2]), rel=FLOAT16_RTOL, abs=1e-4)
    screenshot(page, "network-autoencoder-dec1")


def test_class_scores_bar_chart(page, server_url):
    info = model(server_url, "digits-cnn")
    open_network(page, "?input=sample%3Adigit-4")
    page.locator("#nv-scores").wait_for(state="visible")
    bars = page.locator("#nv-scores-plot .score-bar")
    assert bars.count() == 10
    assert page.locator("#nv-scores-plot .score-label").all_text_contents() == info["class_names"]
    probabilities = download_layer(page, 8)[0]
    best = info["class_names"][int(np.argmax(probabilities))]
    assert page.get_attribute("#nv-scores-plot", "data-best") == best
    assert page.inner_text("#nv-scores-best").startswith(f"Highest: {best} ")
    # bar heights are the probabilities on a 0..1 axis, and the tallest one is highlighted
    fills = page.locator("#nv-scores-plot .score-fill")
    area = page.locator("#nv-scores-plot .score-area").first.bounding_box()["height"]
    heights = np.array([fills.nth(i).bounding_box()["height"] for i in range(10)])
    np.testing.assert_allclose(heights / area, probabilities, atol=0.01)
    assert page.locator("#nv-scores-plot .score-bar.best .score-label").inner_text() == best
    # the printed scores are the exact float32 probabilities (small tensors travel exactly), formatted as
    # the layer's statistics are: a float16 0.9966 beside a statistics line saying 0.9967 would mislead
    printed = page.evaluate("""async (values) => {
      const { formatNumber } = await import("/static/js/plots.js");
      return values.map(formatNumber);
    }""", [float(p) for p in probabilities.ravel()])
    for i, name in enumerate(info["class_names"]):
        assert bars.nth(i).get_attribute("title") == f"{name}: {printed[i]}"
    top = printed[int(np.argmax(probabilities))]
    assert page.inner_text("#nv-scores-best") == f"Highest: {best} (probability {top})"
    stats = page.locator('.nv-layer[data-index="8"] .nv-stats').inner_text()
    assert re.search(r"max\s+" + re.escape(top) + r"\b", stats), stats
    screenshot(page, "network-class-scores")


def test_reload_restores_network_input_and_selection(page, server_url):
    open_network(page, "?network=tiny-vgg")
    count = runs_done(page)
    page.select_option("#nv-input .ip-sample", "chelsea")
    wait_for_run_after(page, count)
    page.click(".nv-layer[data-index='2'] button.map[data-channel='4']")
    page.locator("#nv-detail").wait_for(state="visible")
    page.wait_for_url(re.compile(r"network=tiny-vgg&input=sample%3Achelsea&layer=2&map=4"))
    url = page.url
    title = page.inner_text("#nv-detail-title")

    page.reload()
    wait_for_run_after(page, 0)
    assert page.url == url
    assert page.input_value("#nv-network") == "tiny-vgg"
    assert page.input_value("#nv-input .ip-sample") == "chelsea"
    page.locator("#nv-detail").wait_for(state="visible")
    assert page.inner_text("#nv-detail-title") == title == "conv1_2 · map 4 of 10"
    pressed = page.locator(".nv-layer[data-index='2'] button.map[aria-pressed='true']")
    assert pressed.count() == 1 and pressed.get_attribute("data-channel") == "4"
    assert layer_rows(page).count() == len(model(server_url, "tiny-vgg")["spec"]["layers"])
    screenshot(page, "network-reloaded")


def test_a_small_upload_says_it_was_enlarged_to_the_networks_input(page, tmp_path):
    path = tmp_path / "tiny.png"
    Image.new("L", (10, 10), 200).save(path)
    open_network(page, "?network=digits-cnn")
    count = runs_done(page)
    page.check("#nv-input input[value='upload']")
    page.set_input_files("#nv-input input[type='file']", str(path))
    wait_for_run_after(page, count)
    page.wait_for_function("document.querySelector('#nv-input .ip-upload-note').textContent"
                           " === 'Enlarged from 10×10 to 28×28.'")
    assert page.locator(".nv-layer[data-index='-1'] .nv-shape").inner_text() == "1×1×28×28"


def test_a_colour_sample_read_in_grey_says_so_under_the_sample_list(page):
    note = page.locator("#nv-input .ip-sample-note")
    open_network(page, "?network=edges&input=sample%3Aastronaut")
    page.wait_for_function("document.querySelector('#nv-input .ip-sample-note').textContent"
                           " === 'Read in grey: this network takes one channel.'")
    assert note.is_visible()
    count = runs_done(page)
    page.select_option("#nv-input .ip-sample", "camera")  # grey already
    wait_for_run_after(page, count)
    assert note.inner_text() == "" and note.is_hidden()
    count = runs_done(page)
    page.select_option("#nv-input .ip-sample", "astronaut")
    wait_for_run_after(page, count)
    assert note.inner_text() != ""
    count = runs_done(page)
    page.select_option("#nv-network", "tiny-vgg")  # the same colour photo, read in colour
    wait_for_run_after(page, count)
    assert page.input_value("#nv-input .ip-sample") == "astronaut" and note.inner_text() == ""


COLOUR_PIXELS = """(canvas) => Array.from(
  canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data)"""


def test_a_colour_input_is_shown_in_colour_above_its_three_channel_maps(page):
    open_network(page, "?network=tiny-vgg&layer=-1&map=0")
    figure = page.locator(".nv-layer[data-index='-1'] .nv-colour")
    assert figure.is_visible() and "as the network sees it, in colour" in figure.inner_text().lower()
    canvas = figure.locator("canvas")
    assert canvas.get_attribute("aria-label") == "the input in colour, 64×64, as the network sees it"
    shown = np.array(canvas.evaluate(COLOUR_PIXELS), np.float32).reshape(64, 64, 4)
    # each of its colours is one of the input's channels, as the detail panel's heatmap of that channel gives it
    for channel, colour in enumerate(("red", "green", "blue")):
        if channel:
            page.click(f".nv-layer[data-index='-1'] button.map >> nth={channel}")
        title = f"input · channel {channel} ({colour}) of 3"  # each channel says the colour it holds
        page.wait_for_function(f"document.querySelector('#nv-detail-title').textContent === '{title}'")
        label = page.get_attribute(f".nv-layer[data-index='-1'] button.map >> nth={channel}", "aria-label")
        assert label.startswith(f"input channel {channel} ({colour}) of 3 (64×64)"), label
        z = np.array(page.evaluate("document.querySelector('#nv-detail-heatmap').data[0].z"), np.float32)
        assert z.shape == (64, 64)
        np.testing.assert_allclose(shown[..., channel] / 255, z, atol=1 / 255 + 1e-3, err_msg=colour)
    assert shown[..., 0].std() > 0.1 and np.abs(shown[..., 0] - shown[..., 2]).mean() > 0.05  # in colour, not grey
    screenshot(page, "network-colour-input")
    # a network that takes one channel has no colour picture to show
    count = runs_done(page)
    page.select_option("#nv-network", "digits-cnn")
    wait_for_run_after(page, count)
    assert figure.is_hidden()


def test_non_image_upload_error_next_to_upload(page, server_url, tmp_path):
    page.allowed_errors.append(r"Failed to load resource.*415")
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes, not a picture\n")
    open_network(page)
    page.check("#nv-input input[value='upload']")
    page.set_input_files("#nv-input input[type='file']", str(path))
    error = page.locator("#nv-input .error")
    error.wait_for(state="visible")
    text = error.inner_text()
    assert "notes.txt" in text and "image" in text.lower()
    # the message sits beside the upload control, not in the run's progress line
    assert page.inner_text("#nv-run-error") == ""
    screenshot(page, "network-upload-error")


def test_a_photographed_digit_is_read_once_centred_as_mnist_digits_are(page, tmp_path):
    path = tmp_path / "three-on-paper.jpg"
    Image.fromarray((photo_of(3) * 255).astype(np.uint8)).save(path, quality=90)
    open_network(page, "?network=digits-cnn")
    count = runs_done(page)
    page.set_input_files("#nv-input .ip-file", str(path))
    wait_for_run_after(page, count)
    hint = page.locator("#nv-input .ip-hint")
    hint.wait_for(state="visible")
    assert "tick “Centre the digit”" in hint.inner_text()
    count = runs_done(page)
    page.check("#nv-input .ip-centre")
    wait_for_run_after(page, count)
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'done'")
    best = page.inner_text("#nv-scores-best")
    assert best.startswith("Highest: 3 (probability ") and float(best.split()[-1].rstrip(")")) > 0.9, best
    page.wait_for_url(re.compile(r"input=upload%3A[^&]+%2Bcentred"))
    screenshot(page, "network-centred-digit")
    page.reload()
    wait_for_run_after(page, 0)
    assert page.is_checked("#nv-input .ip-centre") and page.inner_text("#nv-scores-best").startswith("Highest: 3 ")
    # a network that does not read digits has no such box
    page.select_option("#nv-network", "edges")
    assert page.is_hidden("#nv-input .ip-centre")
    page.wait_for_function("!location.search.includes('centred')")  # and its input is the picture as it is


def test_a_link_that_centres_the_input_of_a_network_that_reads_no_digits_runs_the_picture_as_it_is(page):
    open_network(page, "?network=tiny-vgg&input=sample:astronaut%2Bcentred")
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'done'")
    assert page.is_hidden("#nv-input .ip-centre") and page.inner_text("#nv-run-error") == ""
    assert page.locator(".nv-layer[data-index='-1'] .nv-shape").inner_text() == "1×3×64×64"


def test_a_link_to_an_expired_upload_says_so_and_reads_the_networks_default(page):
    page.allowed_errors.append(r"Failed to load resource.*404")  # the page asking whether the upload is there
    open_network(page, "?network=digits-cnn&input=upload%3Anot-an-id%3A10x10")
    assert page.locator("#link-notice li").all_inner_texts() == [
        f"input=upload:not-an-id:10x10: {UPLOAD_GONE}"]
    assert page.input_value(".ip-sample") == "mnist-3" and page.text_content(".ip-error") == ""
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'done'")
    page.wait_for_function("!location.search.includes('not-an-id')")
    screenshot(page, "network-expired-upload")


def test_drawing_a_digit_runs_the_network(page, server_url):
    open_network(page)
    page.check("#nv-input input[value='draw']")
    count = runs_done(page)
    draw_vertical_stroke(page, "#nv-input canvas")
    wait_for_run_after(page, count)
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'done'")
    page.wait_for_url(re.compile(r"input=draw%3A"))
    # the stroke is a vertical line: the input map is bright in its middle column, dark at the sides
    middle, side = page.locator(".nv-layer[data-index='-1'] button.map canvas").first.evaluate("""(c) => {
      const g = c.getContext("2d");
      const at = (x, y) => Array.from(g.getImageData(x, y, 1, 1).data.slice(0, 3));
      return [at(14, 14), at(3, 14)];
    }""")
    assert sum(middle) > sum(side) + 200
    measures = page.evaluate("performance.getEntriesByType('measure').map((m) => m.name)")
    assert "lamina:input-to-network-drawn" in measures
    screenshot(page, "network-drawing")


def test_a_run_asked_for_again_at_once_says_it_was_computed_once(page):
    open_network(page, "?network=digits-cnn&input=sample:mnist-7")
    page.reload()  # the same request within seconds: the server sends the frames it kept
    wait_for_run_after(page, 0)
    text = page.inner_text("#nv-progress-text")
    match = re.fullmatch(r"All 9 layers in \d+ ms \(the answer to an identical request moments before, whose "
                         r"computing took ([\d.]+) ms\)", text)
    assert match and float(match[1]) > 0, text


def test_a_digit_network_hints_at_blank_and_dark_on_white_drawings(page):
    open_network(page, "?network=digits-cnn")
    hint = page.locator("#nv-input .ip-hint")
    page.check("#nv-input input[value='draw']")
    hint.wait_for(state="visible")
    assert hint.inner_text().startswith("The drawing is blank")
    page.select_option("#nv-input .ip-ink", "dark")
    draw_vertical_stroke(page, "#nv-input canvas")
    page.wait_for_function("document.querySelector('#nv-input .ip-hint').textContent"
                           ".includes('with dark ink on white, tick Invert')")
    page.check("#nv-input .ip-invert")
    hint.wait_for(state="hidden")
    page.select_option("#nv-input .ip-ink", "white")  # white ink, inverted: dark on white again
    page.wait_for_function("document.querySelector('#nv-input .ip-hint').textContent.includes('untick Invert')")
    # a photo network reads dark strokes on white as they are: no hint there
    page.uncheck("#nv-input .ip-invert")
    page.select_option("#nv-input .ip-ink", "dark")
    page.select_option("#nv-network", "edges")
    page.check("#nv-input input[value='draw']")
    page.click("#nv-input .ip-clear")
    draw_vertical_stroke(page, "#nv-input canvas")
    page.wait_for_url(re.compile(r"network=edges.*input=draw"))
    assert hint.is_hidden()


def test_download_link_saves_the_layer(page, server_url):
    open_network(page, "?network=edges&input=sample%3Acamera")
    array = download_layer(page, 2)
    assert array.shape == (1, 8, 128, 128) and array.dtype == np.float32
    assert (array >= 0).all()  # after ReLU and max pooling
    # the statistics on the row are those of the file
    row = page.locator(".nv-layer[data-index='2'] .nv-stats")
    shown_max = float(row.locator("div", has_text="max").locator("dd").inner_text())
    assert shown_max == pytest.approx(float(array.max()), rel=1e-3)


# ---- the shared modules, run in the page ------------------------------------------------------------------

def test_wire_decodes_what_the_server_encodes(page):
    from server.wire import decode, encode

    page.goto("/network")
    rng = np.random.default_rng(4)
    values = rng.normal(0, 3, (1, 3, 4, 5)).astype(np.float32)
    values[0, 0, 0, :5] = [np.nan, np.inf, -np.inf, 1e-6, 70000.0]  # NaN, infinities, a float16 subnormal, overflow
    values[0, 2] = 0.25  # a constant channel: uint8 scale 0
    for encoding in ("float32", "float16", "uint8"):
        meta, payload = encode(values, encoding)
        decoded = page.evaluate("""async ([meta, bytes]) => {
          const { decodeTensor } = await import("/static/js/wire.js");
          return Array.from(decodeTensor(meta, new Uint8Array(bytes).buffer));
        }""", [meta, list(payload)])
        expected = decode(meta, payload).ravel()
        got = np.array(decoded, np.float64)
        assert got.shape == expected.shape
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        # float16: the same half-precision values; uint8: offset + q * scale computed in float64 on both sides
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0, equal_nan=True)


def test_run_socket_latest_request_wins(page):
    page.goto("/network")
    result = page.evaluate("""async () => {
      const { RunSocket } = await import("/static/js/wire.js");
      const socket = new RunSocket();
      const seen = { first: [], second: [] };
      const record = (name) => ({
        onStart: () => seen[name].push("start"), onLayer: (m) => seen[name].push(`layer ${m.index} ${m.tensor.data.length}`),
        onDone: () => seen[name].push("done"), onCancelled: () => seen[name].push("cancelled"),
        onError: (m) => seen[name].push(`error ${m.message}`),
      });
      const first = socket.run({ network: "tiny-vgg", input: { sample: "astronaut" } }, record("first"));
      const second = socket.run({ network: "digits-cnn", input: { sample: "digit-5" } }, record("second"));
      const outcomes = [await first.done, await second.done].map((o) => o.status);
      socket.close();
      return { outcomes, seen, hello: socket.hello.protocol };
    }""")
    assert result["outcomes"] == ["cancelled", "done"]
    assert result["seen"]["first"] == ["cancelled"]  # superseded before it was sent: nothing else arrives
    second = result["seen"]["second"]
    assert second[0] == "start" and second[-1] == "done"
    assert [entry.split()[1] for entry in second if entry.startswith("layer")] == [str(i) for i in range(9)]
    assert "layer 0 6272" in second  # conv1: 8 x 28 x 28 values decoded
    assert result["hello"] == 1

    # superseded while streaming: its handlers hear "cancelled" once and nothing after it
    result = page.evaluate("""async () => {
      const { RunSocket } = await import("/static/js/wire.js");
      const socket = new RunSocket();
      const seen = [];
      let second = null;
      const first = socket.run({ network: "tiny-vgg", input: { sample: "astronaut" } }, {
        onLayer: (m) => {
          seen.push(`layer ${m.index}`);
          if (m.index === 0) second = socket.run({ network: "edges", input: { sample: "camera" } });
        },
        onDone: () => seen.push("done"), onCancelled: () => seen.push("cancelled"),
      });
      const outcome = await first.done;
      while (!second) await new Promise((resolve) => setTimeout(resolve, 10));
      const last = await second.done;
      socket.close();
      return { seen, outcome: outcome.status, last: last.status };
    }""")
    assert result["seen"] == ["layer 0", "cancelled"]
    assert (result["outcome"], result["last"]) == ("cancelled", "done")


def test_run_socket_reconnects_and_sends_the_run_again(page):
    page.goto("/network")
    result = page.evaluate("""async () => {
      const { RunSocket } = await import("/static/js/wire.js");
      const statuses = [];
      const socket = new RunSocket({ onStatus: (status) => statuses.push(status) });
      let starts = 0, layers = 0;
      const handle = socket.run({ network: "tiny-vgg", input: { sample: "astronaut" } }, {
        onStart: () => { if (++starts === 1) socket.ws.close(); },  // the connection drops mid-run
        onLayer: () => layers++,
      });
      const outcome = await handle.done;
      socket.close();
      return { status: outcome.status, statuses, starts, layers };
    }""")
    assert result["status"] == "done"
    assert result["statuses"][:3] == ["open", "reconnecting", "open"] and result["statuses"][-1] == "closed"
    assert result["starts"] == 2 and result["layers"] == 13


def test_state_round_trips_through_the_url(page):
    page.goto("/network")
    result = page.evaluate("""async () => {
      const { parseQuery, toQuery } = await import("/static/js/state.js");
      const defaults = { name: "a", count: 3, on: false, list: [1, 2], pick: null };
      const types = { pick: "number" };
      const values = { name: "b & c", count: 2.5, on: true, list: [3], pick: 7 };
      const query = toQuery(values, defaults, types);
      const unread = [];
      return { query, back: parseQuery(query, defaults, types), defaultsQuery: toQuery(defaults, defaults, types),
        bad: parseQuery("?count=x&on=maybe&list=%5B&cuont=2&follow=ABC123", defaults, types, unread), unread };
    }""")
    assert result["back"] == {"name": "b & c", "count": 2.5, "on": True, "list": [3], "pick": 7}
    assert result["defaultsQuery"] == ""
    assert result["bad"] == {"name": "a", "count": 3, "on": False, "list": [1, 2], "pick": None}
    # each text that did not parse, and a key the page does not have (a typo); a live session's key is the site's
    assert result["unread"] == [
        {"key": "count", "text": "x", "reason": "not a number"},
        {"key": "on", "text": "maybe", "reason": "not one of 1, 0, true, false, yes, no, on, off"},
        {"key": "list", "text": "[", "reason": "not valid JSON"},
        {"key": "cuont", "text": "2", "reason": "not a setting of this page; its settings are name, count, on, list, pick"},
    ]


def test_the_open_map_takes_the_colour_scale_chosen(page):
    open_network(page, "?network=edges&layer=0&map=4")
    zmax = "document.querySelector('#nv-detail-heatmap').data[0].zmax"
    page.wait_for_function(f"document.querySelector('#nv-detail-heatmap').data && {zmax} > 1")
    layer_scale = page.evaluate(zmax)  # the whole layer's reach: the Sobel maps' strong edges
    page.select_option("#nv-scale", "map")
    page.wait_for_function(f"{zmax} < {layer_scale} / 4")  # this Gabor map's own, much smaller reach
    page.select_option("#nv-scale", "layer")
    page.wait_for_function(f"{zmax} === {layer_scale}")


def test_colour_scales_and_map_pixels(page):
    page.goto("/network")
    result = page.evaluate("""async () => {
      const { colourFor, drawMap, scaleFor } = await import("/static/js/plots.js");
      const canvas = document.createElement("canvas");
      drawMap(canvas, new Float32Array([-2, 0, 2, NaN]), 2, 2, scaleFor(-2, 1));
      const pixels = Array.from(canvas.getContext("2d").getImageData(0, 0, 2, 2).data);
      return {
        signed: scaleFor(-2, 1), positive: scaleFor(0, 5), flat: scaleFor(3, 3),
        ends: [colourFor(-1, -1, 1, { diverging: true }), colourFor(0, -1, 1, { diverging: true }),
          colourFor(1, -1, 1, { diverging: true }), colourFor(0, 0, 1), colourFor(1, 0, 1)],
        pixels, size: [canvas.width, canvas.height],
      };
    }""")
    assert result["signed"] == {"min": -2, "max": 2, "diverging": True}  # symmetric about zero
    assert result["positive"] == {"min": 0, "max": 5, "diverging": False}
    assert result["flat"]["max"] > result["flat"]["min"]
    blue, white, red, dark, yellow = result["ends"]
    assert blue == [5, 48, 97] and red == [103, 0, 31] and dark == [68, 1, 84] and yellow == [253, 231, 37]
    assert min(white) > 240  # zero is (nearly) white on the diverging scale
    pixels = [result["pixels"][i:i + 4] for i in range(0, 16, 4)]
    assert result["size"] == [2, 2]
    assert pixels[0][:3] == blue and pixels[2][:3] == red and min(pixels[1][:3]) > 240
    assert pixels[3] == [255, 0, 255, 255]  # NaN in magenta


def _canvas_rgb(page, selector: str) -> np.ndarray:
    """The canvas's pixels as an (H, W, 3) array."""
    data = page.locator(selector).evaluate("""(canvas) => ({ w: canvas.width, h: canvas.height,
        data: Array.from(canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data) })""")
    return np.asarray(data["data"], np.float64).reshape(data["h"], data["w"], 4)[..., :3]


def test_saliency_map_of_the_trained_digit_network(page, server_url):
    """The top class's saliency map is drawn over the digit; picking another class redraws it and goes in the URL."""
    from engine.models import load_model
    from engine.saliency import saliency
    from server.samples import load_sample

    info = model(server_url, "digits-cnn")
    assert info["trained"], "digits-cnn has no trained weights (engine/weights)"
    x = np.ascontiguousarray(load_sample("mnist-3").transpose(2, 0, 1)[None])
    network = load_model("digits-cnn")
    open_network(page, "?input=sample%3Amnist-3")
    canvas = "#nv-saliency-map"
    page.wait_for_function(f"document.querySelector('{canvas}').dataset.classIndex !== undefined")
    gradient, scores, classes = saliency(network, x)
    assert page.get_attribute(canvas, "data-class-index") == str(int(classes[0]))
    assert page.input_value("#nv-saliency-class") == "top"
    card = info["card"]
    assert page.inner_text("#nv-network-weights") == f"Trained weights; {card['metric']}: {card['held_out_score']:g}."

    def check_drawn(gradient):
        """Every pixel: the input's grey blended toward red (raises the score) or blue (lowers it), more
        opaque the larger |gradient| is against the largest (network-saliency.js), within uint8 rounding."""
        rgb = _canvas_rgb(page, canvas)
        g = gradient[0, 0]
        alpha = np.abs(g)[..., None] / np.abs(g).max()
        tint = np.where(g[..., None] >= 0, [220, 40, 40], [40, 90, 230])
        expected = 255 * x[0, 0][..., None] * (1 - alpha) + tint * alpha
        assert np.abs(rgb - expected).max() <= 4
        strongest = np.unravel_index(np.abs(g).argmax(), g.shape)
        red, _, blue = rgb[strongest]
        assert (red > blue + 100) if g[strongest] > 0 else (blue > red + 100), rgb[strongest]

    check_drawn(gradient)
    assert "raises the score" in page.inner_text("#nv-saliency-caption")
    screenshot(page, "network-saliency-top-class")

    runs = runs_done(page)
    page.select_option("#nv-saliency-class", "5")
    wait_for_run_after(page, runs)
    page.wait_for_function(f"document.querySelector('{canvas}').dataset.classIndex === '5'")
    page.wait_for_url(re.compile(r"saliency=5"))
    gradient_5, _, _ = saliency(network, x, 5)
    check_drawn(gradient_5)
    page.reload()
    wait_for_run_after(page, 0)
    assert page.input_value("#nv-saliency-class") == "5"
    screenshot(page, "network-saliency-class-5")


def test_saliency_is_hidden_for_untrained_networks(page):
    open_network(page, "?network=tiny-vgg")
    assert page.locator("#nv-saliency").is_hidden()
    assert page.inner_text("#nv-network-weights").startswith("Untrained: seeded random weights")
    page.select_option("#nv-network", "edges")
    page.wait_for_function("document.querySelector('#nv-network-weights').textContent.startsWith('Hand-designed')")
    assert page.locator("#nv-saliency").is_hidden()


def test_a_link_to_a_map_that_is_not_there_says_so(page):
    for query, title in (("?layer=0&map=0.5", "conv1 has no map 0.5 (its maps are 0 to 7)"),
                         ("?layer=0&map=-1", "conv1 has no map -1 (its maps are 0 to 7)")):
        open_network(page, query)
        page.wait_for_function(f"document.querySelector('#nv-detail-title').textContent === {title!r}")


# ---- accessibility: what a keyboard and a screen reader get ----------------------------------------------------

# From the moment it is installed, every change of a live region's text (role status, alert or log, or
# aria-live), as "id: text" once per region and task: what a screen reader would announce. Emptied regions are
# not counted (screen readers do not announce text going away).
WATCH_ANNOUNCEMENTS = """() => {
  window.announced = [];
  const live = '[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"], [role="log"]';
  new MutationObserver((records) => {
    const regions = new Set();
    for (const record of records) {
      const node = record.target.nodeType === Node.ELEMENT_NODE ? record.target : record.target.parentElement;
      const region = node?.closest(live);
      if (region) regions.add(region);
    }
    for (const region of regions) {
      const text = region.textContent.trim();
      if (text) window.announced.push(`${region.id || region.className}: ${text}`);
    }
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""

IN_LIVE_REGION = """(selector) => Boolean(document.querySelector(selector)
  .closest('[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"], [role="log"]'))"""


def watch_announcements(page) -> None:
    page.evaluate(WATCH_ANNOUNCEMENTS)


def announcements(page) -> list[str]:
    return page.evaluate("window.announced")


def focused(page, script: str = "document.activeElement.id"):
    return page.evaluate(script)


def test_only_the_end_of_a_run_is_announced(page):
    open_network(page, "?network=tiny-vgg")
    watch_announcements(page)
    count = runs_done(page)
    page.select_option("#nv-network", "digits-cnn")
    wait_for_run_after(page, count)
    # one short sentence for the whole run (before: one per layer, 17 of them, and the saliency caption)
    assert announcements(page) == ["nv-run-said: Done: all 9 layers computed."]
    # the progress line is seen, not spoken: it changes with every layer; the saliency caption with every run
    assert page.inner_text("#nv-progress-text").startswith("All 9 layers in ")
    assert not page.evaluate(IN_LIVE_REGION, "#nv-progress-text")
    assert not page.evaluate(IN_LIVE_REGION, "#nv-saliency-caption")


def test_a_map_opened_from_the_keyboard_takes_the_focus_and_gives_it_back(page, server_url):
    from engine.backend import to_numpy
    from engine.models import load_model

    open_network(page)
    page.focus(".nv-layer[data-index='0'] button.map[data-channel='1']")
    page.keyboard.press("Enter")
    page.locator("#nv-detail").wait_for(state="visible")
    # the focus is on the panel's heading: a screen reader reads which map opened, the next Tab is Close
    assert focused(page) == "nv-detail-title"
    assert page.inner_text("#nv-detail-title") == "conv1 · map 1 of 8"
    page.keyboard.press("Tab")
    assert focused(page) == "nv-detail-close"
    page.keyboard.press("Enter")
    page.locator("#nv-detail").wait_for(state="hidden")
    assert focused(page, "document.activeElement.getAttribute('aria-label')").startswith("map 1 of 8 ")
    assert focused(page, "document.activeElement.closest('li').dataset.index") == "0"
    # a mouse click leaves the focus where it was (the panel is beside the layers, in view)
    page.click(".nv-layer[data-index='3'] button.map[data-channel='2']")
    page.locator("#nv-detail").wait_for(state="visible")
    assert focused(page, "document.activeElement.dataset.channel") == "2"

    # the heatmap (read with the keys, as the Sequence page's plots) and the histogram say what they show
    page.wait_for_function("document.querySelector('#nv-detail-kernels').dataset.slices === '8'")
    conv2 = download_layer(page, 3)[0, 2]
    heatmap = page.get_by_role("application", name="heatmap of conv2 · map 2 of 16")
    assert heatmap.get_attribute("aria-roledescription") == "heatmap"
    label = heatmap.get_attribute("aria-label")
    match = re.fullmatch(r"heatmap of conv2 · map 2 of 16: 14 rows by 14 columns, values from (\S+) to (\S+)", label)
    assert match, label
    assert float(match[1]) == pytest.approx(conv2.min(), rel=FLOAT16_RTOL, abs=1e-3)
    assert float(match[2]) == pytest.approx(conv2.max(), rel=FLOAT16_RTOL, abs=1e-3)
    histogram = page.get_by_role("img", name="histogram of the values in this map")
    assert re.fullmatch(r"histogram of the values in this map: 32 bins from \S+ to \S+; the fullest, \S+ to \S+, "
                        r"holds \d+ values", histogram.get_attribute("aria-label"))

    # each 3×3 kernel names its weights row by row: what the pointer's readout shows, one at a time
    weight = to_numpy(load_model("digits-cnn")["conv2"].state_dict()["weight"])  # (16, 8, 3, 3)
    kernel = page.get_by_role("application", name="kernel for input 5,")
    match = re.fullmatch(r"kernel for input 5, 3×3 weights row by row: (.*)", kernel.get_attribute("aria-label"))
    assert match, kernel.get_attribute("aria-label")
    rows = [[float(v) for v in row.split(", ")] for row in match[1].split("; ")]
    np.testing.assert_allclose(rows, weight[2, 5], rtol=FLOAT16_RTOL, atol=1e-4)


def test_a_large_kernel_names_its_range(page):
    stack = {"input": [1, 28, 28], "layers": [{"kind": "Conv2d", "params": {"out_channels": 2, "kernel_size": 7}}]}
    open_network(page, f"?network=custom&stack={urllib.parse.quote(json.dumps(stack))}&layer=0&map=1")
    page.wait_for_function("document.querySelector('#nv-detail-kernels').dataset.slices === '1'")
    label = page.get_attribute("#nv-kernel-grid canvas", "aria-label")
    assert re.fullmatch(r"kernel for input 0, 7×7 weights, values from -?[\d.e+-]+ to -?[\d.e+-]+", label), label


def test_maps_strips_and_downloads_have_names_that_say_what_they_hold(page, server_url):
    spec = model(server_url, "digits-cnn")["spec"]
    open_network(page)
    # a map's name holds its range: the readout under the pointer, for the keyboard
    conv1 = download_layer(page, 0)[0, 0]
    label = page.get_attribute(".nv-layer[data-index='0'] button.map[data-channel='0']", "aria-label")
    match = re.fullmatch(r"map 0 of 8 \(28×28\), values from (\S+) to (\S+): open details", label)
    assert match, label
    assert float(match[1]) == pytest.approx(conv1.min(), rel=FLOAT16_RTOL, abs=1e-3)
    assert float(match[2]) == pytest.approx(conv1.max(), rel=FLOAT16_RTOL, abs=1e-3)
    # and the readout counts maps from 1, as the names and the detail panel do
    page.hover(".nv-layer[data-index='0'] button.map[data-channel='0']")
    assert page.inner_text(".nv-layer[data-index='0'] .nv-readout").startswith("map 0: min ")

    # the 784 values of the Flatten: their count and range; the ten probabilities: the largest ones too
    flat = download_layer(page, 6)[0]
    label = page.get_attribute(".nv-layer[data-index='6'] canvas.nv-strip", "aria-label")
    match = re.fullmatch(r"784 values shown as a strip of coloured cells, values from (\S+) to (\S+); "
                         r"the arrow keys read its values", label)
    assert match, label
    assert float(match[2]) == pytest.approx(flat.max(), rel=FLOAT16_RTOL, abs=1e-3)
    probabilities = download_layer(page, 8)[0]
    label = page.get_attribute(".nv-layer[data-index='8'] canvas.nv-strip", "aria-label")
    match = re.fullmatch(r"10 values shown as a strip of coloured cells, values from \S+ to \S+; largest: "
                         r"element (\d) \S+, element (\d) \S+, element (\d) \S+; the arrow keys read its values", label)
    assert match, label
    assert [int(i) for i in match.groups()] == np.argsort(-probabilities)[:3].tolist()
    # every value of a strip reads from the keyboard: the Flatten's rows are STRIP.columns wide
    page.focus(".nv-layer[data-index='6'] canvas.nv-strip")
    columns = page.evaluate("document.querySelector(\".nv-layer[data-index='6'] canvas.nv-strip\").width")
    for key in ("ArrowDown", "ArrowRight", "ArrowRight", "ArrowRight"):
        page.keyboard.press(key)
    readout = page.inner_text(".nv-layer[data-index='6'] .nv-readout")
    match = re.fullmatch(rf"element {columns + 3}: (\S+)", readout)
    assert match, readout
    assert float(match[1]) == pytest.approx(flat[columns + 3], rel=FLOAT16_RTOL, abs=1e-3)
    page.keyboard.press("End")
    assert page.inner_text(".nv-layer[data-index='6'] .nv-readout").startswith(f"element {2 * columns - 1}: ")
    assert page.is_visible(".nv-layer[data-index='6'] .pixel-marker")
    screenshot(page, "network-strip-keyboard")

    # ten "download .npy" buttons, each named for its layer (the visible words first, for voice control)
    names = page.locator(".nv-download").evaluate_all("buttons => buttons.map((b) => b.getAttribute('aria-label'))")
    assert names == [f"download .npy of {layer['name']}'s output" for layer in spec["layers"]]
    page.get_by_role("button", name="download .npy of conv2's output", exact=True).wait_for()


def test_the_detail_panel_stacks_at_200_percent_zoom(page):
    """A 1280 px window at 200% zoom is 640 CSS pixels wide: the panel goes under the layers, which keep the width."""
    page.set_viewport_size({"width": 640, "height": 720})
    open_network(page, "?layer=0&map=0")
    detail = page.locator("#nv-detail")
    detail.wait_for(state="visible")
    main = page.locator(".nv-main").bounding_box()
    panel = detail.bounding_box()
    assert main["width"] >= 560, main  # before: 0 px, the panel over it
    assert panel["y"] >= main["y"] + main["height"], (panel, main)  # under the layers, not over them
    assert panel["x"] >= 0 and panel["x"] + panel["width"] <= 640, panel
    close = page.locator("#nv-detail-close")
    close.scroll_into_view_if_needed()
    box = close.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 640, box  # before: off-screen to the right
    screenshot(page, "network-detail-640px")
    close.click()
    detail.wait_for(state="hidden")
    assert focused(page, "document.activeElement.getAttribute('aria-label')").startswith("map 0 of 8 ")

    # a map clicked far above the panel brings it into view
    page.click(".nv-layer[data-index='1'] button.map[data-channel='3']")
    detail.wait_for(state="visible")
    page.wait_for_function("""() => {
      const top = document.querySelector('#nv-detail-title').getBoundingClientRect().top;
      return top >= 0 && top < innerHeight;
    }""")

    # a middling window (150% zoom) keeps the controls beside the layers and the panel under them
    page.set_viewport_size({"width": 1000, "height": 720})
    main = page.locator(".nv-main").bounding_box()
    panel = detail.bounding_box()
    assert main["width"] >= 560 and panel["x"] == main["x"] and panel["y"] >= main["y"] + main["height"]


def test_presenter_mode_on_a_projectors_1152_px_leaves_the_layers_a_useful_column(page):
    """Presenter mode's larger type and wider side columns squeezed the layers to 316 px at 1152 with a map open
    (two maps a row); a narrower detail panel there keeps them about as wide as at 1280, the three columns side by
    side."""
    widths = {}
    for width in (1280, 1152):
        page.set_viewport_size({"width": width, "height": 864})
        if not widths:
            open_network(page, "?layer=0&map=0")
            page.click("#presenter-toggle")
            page.wait_for_function("document.body.classList.contains('presenter')")
        page.locator("#nv-detail").wait_for(state="visible")
        main = page.locator(".nv-main").bounding_box()
        panel = page.locator("#nv-detail").bounding_box()
        assert panel["x"] >= main["x"] + main["width"] and panel["x"] + panel["width"] <= width, (width, main, panel)
        widths[width] = main["width"]
    assert widths[1152] >= 400, widths
    # conv1's eight maps in two rows of four, not four rows of two
    page.wait_for_function("""() => {
      const maps = [...document.querySelectorAll(".nv-layer[data-index='0'] button.map")];
      return new Set(maps.map((map) => Math.round(map.getBoundingClientRect().top))).size === 2;
    }""")
    screenshot(page, "network-detail-presenter-1152px")


# Keeps every WebSocket the page opens, so that a test can drop the connection under it.
KEEP_SOCKETS = """(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__sockets.push(this); }
  };
})();"""


@pytest.mark.parametrize("path, said", [("/network", "#nv-run-said"), ("/", "#lab-said"),
                                        ("/autoencoder", "#ae-run-said"), ("/sequence", "#sq-run-said")])
def test_a_dropped_connection_and_its_recovery_are_announced(new_page, path, said):
    page = new_page()
    page.add_init_script(KEEP_SOCKETS)
    page.goto(path)
    page.wait_for_function("window.__sockets.some((s) => s.readyState === 1 && s.url.endsWith('/ws/run'))")
    # every text the status region takes (a run finishing right after may replace it within a frame)
    page.evaluate("""(said) => {
      window.__said = [];
      const region = document.querySelector(said);
      new MutationObserver(() => window.__said.push(region.textContent))
        .observe(region, { childList: true, characterData: true, subtree: true });
    }""", said)
    page.evaluate("window.__sockets.filter((s) => s.url.endsWith('/ws/run')).forEach((s) => s.close())")
    page.wait_for_function("window.__said.includes('Connected to the server.')", timeout=20_000)
    heard = page.evaluate("window.__said")
    assert heard.index("Reconnecting to the server…") < heard.index("Connected to the server.")


def test_a_link_naming_an_unknown_network_says_so_and_shows_the_first(page, server_url):
    open_network(page, "?network=no-such-net&layer=second&scale=rainbow&input=photo")
    notice = page.locator("#link-notice")
    items = notice.locator("li").all_inner_texts()
    assert items[0] == "layer=second: not a number."
    assert items[1].startswith("input=photo: not an input; inputs are sample:NAME, ")
    assert items[2] == "scale=rainbow: not one of layer, map."
    assert items[3].startswith("network=no-such-net: not a network here; there are digits-cnn, ")
    assert len(items) == 4
    assert page.input_value("#nv-scale") == "layer"
    assert page.input_value("#nv-network") == "digits-cnn"
    assert layer_rows(page).count() > 1

    open_network(page, "?network=digits-cnn")
    assert page.locator("#link-notice").count() == 0


def test_a_link_naming_a_sample_the_page_lacks_says_so_and_reads_the_networks_default(page):
    open_network(page, "?network=digits-cnn&input=sample:nope")
    items = page.locator("#link-notice li").all_inner_texts()
    assert items == ["input=sample:nope: no sample of that name here; there are camera, astronaut, coins, moon, "
                     "chelsea and 31 more in the Sample list."]
    assert page.input_value(".ip-sample") == "mnist-3"  # the digit network's default
    assert page.text_content(".ip-error") == ""
    assert layer_rows(page).count() > 1
    page.wait_for_function("!location.search.includes('nope')")  # the page's own link names what it shows


def test_a_link_naming_a_class_the_network_lacks_says_so_and_maps_the_top_class(page):
    open_network(page, "?network=digits-cnn&saliency=12")
    assert page.locator("#link-notice li").all_inner_texts() == [
        "saliency=12: not a class of digits-cnn, whose classes are 0 to 9; the map is the top class's."]
    assert page.input_value("#nv-saliency-class") == "top"
    page.wait_for_function("!new URLSearchParams(location.search).has('saliency')")
    open_network(page, "?network=edges&saliency=3")
    assert page.locator("#link-notice li").all_inner_texts() == [
        "saliency=3: edges gives no trained class scores, so it has no saliency map."]
    open_network(page, "?network=digits-cnn&saliency=7")
    assert page.locator("#link-notice").count() == 0
    assert page.input_value("#nv-saliency-class") == "7"
    # another network starts at the top class: the page's own link never names a class it lacks
    page.select_option("#nv-network", "edges")
    page.wait_for_function("new URLSearchParams(location.search).get('network') === 'edges'")
    assert "saliency" not in page.url


def test_a_download_pressed_with_the_keys_keeps_the_keyboard_on_its_button(page):
    """The button is busy while its file comes, not disabled: a disabled button drops the focus to the page's top."""
    open_network(page)
    button = ".nv-layer[data-index='2'] .nv-download"
    page.focus(button)
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename.endswith(".npy")
    page.wait_for_function(f"!document.querySelector(\"{button}\").hasAttribute('aria-disabled')")
    assert page.evaluate(f"document.activeElement === document.querySelector(\"{button}\")")
