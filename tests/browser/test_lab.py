"""The Layer lab (`/`) driven as a person would: pick a layer and an input, drag sliders, edit kernels,
hover the output, step the player, draw, upload, reload, and use it with the keyboard alone.

Every test reads what changed on the page (an output canvas's pixels, the shape caption, the
arithmetic shown), and the `page` fixture fails it on any console error.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import urllib.parse

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import screenshot
from tests.browser.test_network import UPLOAD_GONE

OUTPUT = "#lab-output-view"
FIRST_MAP = "#lab-output-view .lab-map[data-channel='0'] canvas.lab-data"
INPUT_CANVAS = "#lab-input-view canvas.lab-data"

# a short fingerprint of a canvas's pixels and how many different colours it holds
CANVAS_PRINT = """(selector) => {
  const canvas = document.querySelector(selector);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let hash = 0;
  const colours = new Set();
  for (let i = 0; i < data.length; i += 4) {
    hash = (Math.imul(hash, 31) + data[i] * 65536 + data[i + 1] * 256 + data[i + 2]) | 0;
    if (colours.size < 1000) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  }
  return {hash, colours: colours.size, width: canvas.width, height: canvas.height};
}"""


def draws(page) -> int:
    return int(page.get_attribute(OUTPUT, "data-draws") or 0)


def wait_for_new_output(page, before: int) -> None:
    page.wait_for_function(f"Number(document.querySelector('{OUTPUT}').dataset.draws) > {before}", timeout=15_000)


def output_shape(page) -> str:
    return page.get_attribute(OUTPUT, "data-shape")


def canvas_print(page, selector: str) -> dict:
    return page.evaluate(CANVAS_PRINT, selector)


def open_lab(page, query: str = "") -> None:
    page.goto(f"/{query}")
    wait_for_new_output(page, 0)


def number(text: str) -> float:
    return float(text.replace("−", "-"))


def hover_cell(page, fraction_x: float = 0.4, fraction_y: float = 0.4, selector: str = FIRST_MAP) -> None:
    box = page.locator(selector).bounding_box()
    page.mouse.move(box["x"] + box["width"] * fraction_x, box["y"] + box["height"] * fraction_y)


def test_conv2d_on_a_sample_draws_an_output(page):
    open_lab(page)
    page.select_option("#lab-kind", "Conv2d")
    before = draws(page)
    page.select_option(".ip-sample", "coins")
    wait_for_new_output(page, before)
    assert page.text_content("#lab-title") == "Conv2d"
    assert "kernel" in page.text_content("#lab-summary") or "filter" in page.text_content("#lab-summary")
    assert page.text_content("#lab-formula").startswith("out[")
    # coins is 384x303: the longer side becomes the working size 128
    assert page.text_content("#lab-input-shape") == "1 × 101 × 128"
    assert output_shape(page) == "4x99x126"
    picture = canvas_print(page, FIRST_MAP)
    assert (picture["width"], picture["height"]) == (126, 99)
    assert picture["colours"] > 50, "the output map is blank"
    # every map shows its colour scale
    assert page.locator("#lab-output-view .colour-legend").count() == 4
    screenshot(page, "lab-conv2d-coins")


def test_dragging_sliders_changes_the_output(page):
    open_lab(page)
    assert output_shape(page) == "4x126x126"
    before_pixels = canvas_print(page, FIRST_MAP)
    # the kernel-size slider with the keyboard: 3 -> 4 -> 5
    before = draws(page)
    page.focus("#param-kernel_size")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"document.querySelector('{OUTPUT}').dataset.shape === '4x124x124'")
    assert draws(page) > before
    assert page.text_content("[data-param='kernel_size'] output") == "5"
    # the filters keep their presets through the even size 4 (where Sobel does not exist)
    assert page.input_value(".ke-preset") == "identity"
    page.click(".ke-filter >> nth=1")
    assert page.input_value(".ke-preset") == "sobel_x"
    # the stride slider with the mouse: drag its thumb to the far right (stride 16)
    slider = page.locator("#param-stride").bounding_box()
    y = slider["y"] + slider["height"] / 2
    page.mouse.move(slider["x"] + 6, y)
    page.mouse.down()
    page.mouse.move(slider["x"] + slider["width"] * 0.5, y, steps=5)
    page.mouse.move(slider["x"] + slider["width"] - 1, y, steps=5)
    page.mouse.up()
    page.wait_for_function(f"document.querySelector('{OUTPUT}').dataset.shape === '4x8x8'")
    assert page.text_content("[data-param='stride'] output") == "16"
    after_pixels = canvas_print(page, FIRST_MAP)
    assert (after_pixels["width"], after_pixels["height"]) == (8, 8)
    assert after_pixels["hash"] != before_pixels["hash"]
    screenshot(page, "lab-stride-16")


def test_editing_a_kernel_value_changes_the_output(page):
    open_lab(page)
    before_pixels = canvas_print(page, FIRST_MAP)
    before = draws(page)
    # filter 0 is the identity: put a 1 in its top-left corner too (the picture plus a shifted copy)
    page.locator(".ke-cell").first.fill("1")
    wait_for_new_output(page, before)
    assert page.input_value(".ke-preset") == ""  # now "edited by hand"
    assert canvas_print(page, FIRST_MAP)["hash"] != before_pixels["hash"]
    screenshot(page, "lab-kernel-edited")


def test_choosing_the_sobel_x_preset_changes_the_output(page):
    open_lab(page)
    legend = page.locator("#lab-output-view .lab-map[data-channel='0'] .colour-legend-labels span")
    assert legend.count() == 2  # identity of a photo: non-negative, a sequential scale
    before_pixels = canvas_print(page, FIRST_MAP)
    before = draws(page)
    page.select_option(".ke-preset", "sobel_x")
    wait_for_new_output(page, before)
    cells = [number(value) for value in page.locator(".ke-cell").evaluate_all("cells => cells.map(c => c.value)")]
    assert cells == [-1, 0, 1, -2, 0, 2, -1, 0, 1]
    assert canvas_print(page, FIRST_MAP)["hash"] != before_pixels["hash"]
    assert legend.count() == 3  # edges are signed: a diverging scale with its zero
    screenshot(page, "lab-sobel-x")


def read_arithmetic(page) -> dict:
    body = page.locator("#lab-explain-body")
    return {name: number(body.locator(f".ex-{name}").first.text_content())
            for name in ("sum", "bias", "total", "output")}


def test_hovering_an_output_cell_shows_the_arithmetic(page):
    open_lab(page, "?size=28&input=sample:digit-3")
    hover_cell(page, 0.5, 0.5)
    page.wait_for_selector("#lab-explain-body .ex-sum")
    values = read_arithmetic(page)
    # the shown sum plus the shown bias is the shown output (each shown to 4 significant digits)
    assert values["sum"] + values["bias"] == pytest.approx(values["total"], rel=2e-3, abs=2e-3)
    assert values["total"] == pytest.approx(values["output"], rel=1e-3, abs=1e-6)
    # 3x3 window: 9 values, 9 weights, 9 products, and one line of arithmetic after them
    assert page.locator("#lab-explain-body .ex-block").nth(2).locator(".ex-cell").count() == 9
    assert [line.split(" ")[0] for line in page.locator("#lab-explain-body p").all_inner_texts()] == [
        "Conv2d", "sum"]  # the title and the sum
    # the window read is highlighted on the input: its top-left corner is the output cell (stride 1, no padding)
    title = page.text_content("#lab-explain-body .ex-title code")
    c, i, j = (int(v) for v in re.findall(r"-?\d+", title)[1:])
    assert page.get_attribute("#lab-input-view", "data-window") == f"{i},{j}"
    # the words beside the index name the same numbers: every index counts from 0, as the maps are named
    assert page.text_content("#lab-explain-body .ex-place") == f" (channel {c}, row {i}, column {j})"
    screenshot(page, "lab-hover-conv2d")


def test_a_grouped_convolution_names_the_input_channel_its_window_read(page):
    params = urllib.parse.quote(json.dumps({"out_channels": 6, "groups": 3}))
    open_lab(page, f"?size=28&colour=rgb&input=sample:astronaut&params={params}")
    hover_cell(page, 0.5, 0.5, "#lab-output-view .lab-map[data-channel='5'] canvas.lab-data")
    page.wait_for_selector("#lab-explain-body .ex-sum")
    assert page.text_content("#lab-explain-body .ex-title code").startswith("[0, 5, ")
    # filters 4 and 5 make up the third group: they read input channel 2 only (the table had said "channel 0")
    assert page.locator("#lab-explain-body .ex-plane").all_text_contents() == ["channel 2"] * 3


def test_a_number_field_left_empty_shows_the_number_the_layer_still_uses(page):
    open_lab(page, "?kind=BatchNorm2d&size=28")
    before = draws(page)
    page.fill("#param-eps", "0.5")
    wait_for_new_output(page, before)
    page.fill("#param-eps", "")
    page.dispatch_event("#param-eps", "change")  # what leaving the field does
    assert page.input_value("#param-eps") == "0.5"  # it had stayed empty


def test_a_link_to_a_wide_linear_layer_is_shown_as_it_is(page):
    """The Network page's "Study this layer" link for a decoder's Linear of 784 features (it was held to 64)."""
    open_lab(page, f"?kind=Linear&params={urllib.parse.quote(json.dumps({'out_features': 784}))}")
    assert output_shape(page) == "784"
    assert page.locator("#link-notice").count() == 0
    assert page.get_attribute("#param-out_features", "max") == "784"


def test_softmax_opens_on_an_axis_that_shows_something(page):
    """Over the one channel of a gray picture (dim 1) every output is 1; the default, the last axis, is a row."""
    open_lab(page, "?kind=Softmax&size=32")
    assert page.text_content("[data-param='dim'] output") == "-1"
    hover_cell(page, 0.5, 0.5)
    page.wait_for_selector("#lab-explain-body .ex-sum")
    scores = page.locator("#lab-explain-body .ex-block").first.locator(".ex-cell")
    assert scores.count() == 32  # the scores it shares: the 32 pixels of its row
    output = number(page.get_attribute("#lab-explain-body .ex-output", "data-value"))
    assert 0 < output < 1
    # its own score and exponential are named, and make the output with the sum
    value = lambda name: number(page.get_attribute(f"#lab-explain-body .{name}", "data-value"))  # noqa: E731
    column = int(re.fullmatch(r"\[0, 0, \d+, (\d+)\]", page.text_content("#lab-explain-body .ex-title code"))[1])
    row = [number(text) for text in scores.all_text_contents()]
    assert value("ex-input") == pytest.approx(row[column], abs=1e-3)
    assert value("ex-exp") == pytest.approx(math.exp(value("ex-input") - max(row)), rel=1e-2)
    assert value("ex-exp") / value("ex-sum") == pytest.approx(output, rel=1e-4)


def test_an_output_over_the_servers_limit_is_said_at_the_working_size(page):
    """A layer whose output would pass max_tensor_elements (three 4096x4096 maps: 50 M values): the remedy is a
    smaller input, so the message is under the size control, not on the setting last changed."""
    open_lab(page, "?kind=Upsample&size=512&colour=rgb&input=sample:astronaut")
    scale = page.locator("#lab-params [data-param='scale_factor'] input[type='range']")
    scale.focus()
    for _ in range(6):  # 2 -> 8
        page.keyboard.press("ArrowRight")
    page.wait_for_function("document.getElementById('lab-size-error').textContent.includes('max_tensor_elements')")
    assert page.locator("#lab-params .error:not(:empty)").count() == 0 and page.text_content("#lab-error") == ""


def test_unflatten_folds_the_labs_vector_back_into_its_picture(page):
    """Any picture, any working size: the lab gives Unflatten a picture of C·H rows and W columns, so each of its
    maps is a band of it (a 600×400 photo at 28 px used to give 672 values for the 1,024 it folds)."""
    open_lab(page, "?kind=Unflatten&size=28&input=sample:coffee")
    assert output_shape(page) == "1x32x32"
    assert page.text_content("#lab-input-shape") == "1024: the 32×32 picture as one vector"
    params = urllib.parse.quote(json.dumps({"channels": 4, "height": 8, "width": 16}))
    open_lab(page, f"?kind=Unflatten&input=sample:coffee&params={params}")
    assert output_shape(page) == "4x8x16"
    assert page.text_content("#lab-input-shape") == "512: the 32×16 picture as one vector"
    assert page.text_content("#lab-error") == "" and page.locator("#lab-params .error:not(:empty)").count() == 0
    # maps one pixel wide keep columns wide enough for their names and legends
    params = urllib.parse.quote(json.dumps({"channels": 16, "height": 64, "width": 1}))
    open_lab(page, f"?kind=Unflatten&input=sample:coffee&params={params}")
    assert output_shape(page) == "16x64x1"
    boxes = [page.locator(".lab-map").nth(c).bounding_box() for c in range(4)]  # the first row
    assert all(box["width"] >= 64 for box in boxes)
    assert all(left["x"] + left["width"] <= right["x"] for left, right in zip(boxes, boxes[1:]))


def test_maxpool_hover_names_the_winner(page):
    open_lab(page, "?size=28&input=sample:digit-7")
    before = draws(page)
    page.select_option("#lab-kind", "MaxPool2d")
    wait_for_new_output(page, before)
    assert output_shape(page) == "1x14x14"
    hover_cell(page, 0.5, 0.5)
    page.wait_for_selector("#lab-explain-body .ex-winner-name")
    winner = page.text_content("#lab-explain-body .ex-winner-name")
    assert re.match(r"x\[0, 0, \d+, \d+\] = ", winner)  # indexed as the output is: batch, channel, row, column
    shown_value = number(winner.split("= ")[1])
    output = number(page.text_content("#lab-explain-body .ex-output"))
    assert shown_value == pytest.approx(output, abs=1e-3)
    cells = [number(v) for v in page.locator("#lab-explain-body .ex-cell").all_text_contents()]
    assert len(cells) == 4 and max(cells) == pytest.approx(output, abs=1e-3)
    assert page.locator("#lab-explain-body .ex-cell.ex-winner").count() == 1
    screenshot(page, "lab-maxpool-winner")


def test_a_pooling_window_too_large_for_a_table_outlines_its_winner_on_the_picture(page):
    """A 9x9 window is drawn as a picture, not 81 numbers: the winning cell is outlined there, where the text says."""
    open_lab(page, "?kind=MaxPool2d&size=28&input=sample:digit-7&params=%7B%22kernel_size%22%3A9%7D")
    hover_cell(page, 0.5, 0.5)
    page.wait_for_selector("#lab-explain-body .ex-winner-name")
    place = re.search(r"row (\d+), column (\d+) of the window", page.text_content("#lab-explain-body .ex-winner-line"))
    row, column = int(place[1]), int(place[2])
    mark = page.locator("#lab-explain-body .ex-picture-winner")
    assert mark.count() == 1
    box = mark.bounding_box()
    picture = page.locator("#lab-explain-body .ex-picture").bounding_box()
    cell = picture["width"] / 9
    assert (box["x"] - picture["x"]) / cell == pytest.approx(column, abs=0.1)
    assert (box["y"] - picture["y"]) / cell == pytest.approx(row, abs=0.1)
    screenshot(page, "lab-maxpool-winner-picture")


def test_a_pools_auto_stride_is_its_kernel_size_and_unticking_auto_starts_there(page):
    open_lab(page, "?kind=MaxPool2d&size=32")
    assert output_shape(page) == "1x16x16"
    stride = "[data-param='stride'] output"
    # auto's disabled slider stands at the stride in use, the kernel size, and follows it
    assert page.text_content(stride) == "auto" and page.input_value("#param-stride") == "2"
    page.focus("#param-kernel_size")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"document.querySelector('{OUTPUT}').dataset.shape === '1x10x10'")
    assert page.input_value("#param-stride") == "3"
    # unticked, the stride stays the one in use (not the slider's minimum, 1: a 30×30 output)
    before = draws(page)
    page.uncheck("#param-stride-auto")
    wait_for_new_output(page, before)
    assert output_shape(page) == "1x10x10"
    assert page.text_content(stride) == "3" and page.is_enabled("#param-stride")
    page.wait_for_function("new URLSearchParams(location.search).get('params')?.includes('\"stride\":3')")
    page.focus("#param-stride")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"document.querySelector('{OUTPUT}').dataset.shape === '1x8x8'")


@pytest.mark.parametrize("kind", ["MaxPool2d", "AvgPool2d"])
def test_a_pooling_window_marks_its_padding_cells(page, kind):
    params = urllib.parse.quote('{"kernel_size":3,"stride":2,"padding":1}')
    open_lab(page, f"?kind={kind}&size=28&input=sample:mnist-3&params={params}")
    assert output_shape(page) == "1x14x14"
    hover_cell(page, 0.01, 0.01)  # output (0, 0): its window reaches one cell above and left of the input
    page.wait_for_function("document.querySelector('#lab-explain-body .ex-title code')?.textContent === '[0, 0, 0, 0]'")
    cells = page.locator("#lab-explain-body .ex-cell").all_text_contents()
    assert cells[:4] == ["pad"] * 4 and cells[6] == "pad"  # the top row and the left column
    assert all(cell != "pad" and not math.isnan(number(cell)) for i, cell in enumerate(cells) if i not in (0, 1, 2, 3, 6))
    note = page.text_content("#lab-explain-body .ex-note")
    assert note.startswith("cells outside the input (the padding)") and "NaN" not in note


def test_a_map_without_a_pattern_is_drawn_flat_with_its_one_value(page):
    """Sobel y of a left-to-right gradient is 0 but for float32 rounding (about 1e-7): one colour, "all 0"."""
    open_lab(page, "?size=28&input=pattern:gradient")
    maps = page.locator("#lab-output-view .lab-map")
    legends = [maps.nth(c).locator(".colour-legend-labels span").all_inner_texts() for c in range(maps.count())]
    flat = [c for c, labels in enumerate(legends) if labels[0].startswith("all ")]
    assert flat, legends
    for c in flat:
        assert len(legends[c]) == 1
        selector = f"#lab-output-view .lab-map[data-channel='{c}'] canvas.lab-data"
        assert canvas_print(page, selector)["colours"] == 1
    assert any(len(labels) > 1 for labels in legends), "the identity filter keeps the gradient"
    screenshot(page, "lab-flat-maps")


def test_back_returns_to_the_previous_layer_kind(page):
    open_lab(page, "?size=28&input=sample:digit-3")
    assert output_shape(page) == "4x26x26"
    before = draws(page)
    page.select_option("#lab-kind", "MaxPool2d")
    wait_for_new_output(page, before)
    assert output_shape(page) == "1x14x14"
    page.wait_for_url(re.compile(r"kind=MaxPool2d"))
    before = draws(page)
    page.go_back()
    wait_for_new_output(page, before)
    assert page.input_value("#lab-kind") == "Conv2d"
    assert output_shape(page) == "4x26x26"


def test_the_step_player_slides_the_window(page):
    open_lab(page, "?size=28&input=sample:digit-3&params=%7B%22out_channels%22%3A1%7D")
    windows = []
    for step in range(1, 4):
        page.click("#lab-step")
        page.wait_for_function(f"document.querySelector('#lab-player-position').dataset.step === '{step}'")
        windows.append(page.get_attribute("#lab-input-view", "data-window"))
    assert windows == ["0,0", "0,1", "0,2"]
    assert "Step 3 of 676" in page.text_content("#lab-player-position")
    # the output fills in cell by cell: cells past the third are still blank (one colour)
    row = page.evaluate("""() => {
      const canvas = document.querySelector('#lab-output-view canvas.lab-data');
      return Array.from(canvas.getContext('2d').getImageData(0, 0, canvas.width, 2).data);
    }""")
    later = {tuple(row[k:k + 3]) for k in range(4 * 3, len(row), 4)}
    assert later == {(0xE4, 0xE7, 0xEB)}
    page.wait_for_selector("#lab-explain-body .ex-sum")
    page.click("#lab-play")
    page.wait_for_function("Number(document.querySelector('#lab-player-position').dataset.step) > 5")
    page.click("#lab-play")  # pause
    assert page.text_content("#lab-play") == "Play"
    screenshot(page, "lab-step-player")


def test_drawing_on_the_canvas_changes_the_input(page):
    open_lab(page)
    page.click("text=Draw")
    page.wait_for_function("document.querySelector('#lab-input-shape').textContent === '1 × 128 × 128'"
                           " && document.querySelector('.ip-pane[data-kind=draw]').hidden === false")
    blank = canvas_print(page, INPUT_CANVAS)
    before = draws(page)
    pad = page.locator(".ip-draw-pad").bounding_box()
    page.mouse.move(pad["x"] + pad["width"] * 0.3, pad["y"] + pad["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(pad["x"] + pad["width"] * 0.7, pad["y"] + pad["height"] * 0.5, steps=8)
    page.mouse.move(pad["x"] + pad["width"] * 0.4, pad["y"] + pad["height"] * 0.8, steps=8)
    page.mouse.up()
    wait_for_new_output(page, before)
    page.wait_for_function(f"""() => {{
      const f = {CANVAS_PRINT};
      return f('{INPUT_CANVAS}').hash !== {blank['hash']};
    }}""")
    drawn = canvas_print(page, INPUT_CANVAS)
    assert drawn["colours"] > 2, "the stroke did not reach the input"
    page.wait_for_function("location.search.includes('input=draw')")
    screenshot(page, "lab-drawn")


# the drawing pad as 28 rows of 28 gray levels, each read at its drawn pixel's centre (7 canvas pixels a side)
PAD_CENTRES = """() => {
  const data = document.querySelector('.ip-draw-pad').getContext('2d').getImageData(0, 0, 196, 196).data;
  const centre = (r, c) => data[4 * ((7 * r + 3) * 196 + 7 * c + 3)];
  return Array.from({length: 28}, (_, r) => Array.from({length: 28}, (_, c) => centre(r, c)));
}"""


def test_drawing_with_the_keys(page):
    open_lab(page, "?size=28")
    page.click("text=Draw")
    page.wait_for_function("document.querySelector('.ip-pane[data-kind=draw]').hidden === false")
    before = draws(page)
    page.focus(".ip-draw-pad")
    page.keyboard.press("Space")  # the pen goes down where it starts, row 14, column 14
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")  # 4 rows at once: the stroke goes on to row 18, column 19
    assert page.inner_text(".ip-draw-pen-state") == "Pen at row 18, column 19, down (drawing)."
    page.keyboard.press("Space")
    for _ in range(6):
        page.keyboard.press("ArrowLeft")  # lifted: moves without ink
    assert page.inner_text(".ip-draw-pen-state") == "Pen at row 18, column 13, up."
    pen = page.locator(".ip-draw-pen")
    assert pen.is_visible()  # focused from the keyboard
    box, pad = pen.bounding_box(), page.locator(".ip-draw-pad").bounding_box()
    cell = (pad["width"] - 2) / 28
    assert box["x"] == pytest.approx(pad["x"] + 1 + 13 * cell, abs=1)
    assert box["y"] == pytest.approx(pad["y"] + 1 + 18 * cell, abs=1)
    gray = np.array(page.evaluate(PAD_CENTRES))
    inked = [(14, c) for c in range(14, 20)] + [(r, 19) for r in range(15, 19)]
    assert all(gray[r, c] == 255 for r, c in inked)
    assert gray[:12].max() == gray[21:].max() == gray[:, :12].max() == gray[:, 22:].max() == 0  # nothing else
    assert gray[18, 13] == 0 and gray[18, 15] == 0  # where the lifted pen went
    wait_for_new_output(page, before)
    page.wait_for_function("location.search.includes('input=draw')")
    screenshot(page, "lab-drawn-with-keys")


def test_uploading_a_photo_uses_it(page, tmp_path):
    photo = tmp_path / "sunset.png"
    gradient = Image.linear_gradient("L").resize((300, 200)).convert("RGB")
    gradient.save(photo)
    open_lab(page)
    before = draws(page)
    page.click("text=Upload")
    page.set_input_files(".ip-file", str(photo))
    page.wait_for_function("document.querySelector('#lab-input-shape').textContent === '1 × 85 × 128'")
    wait_for_new_output(page, before)
    assert "sunset.png" in page.text_content(".ip-upload-name")
    assert output_shape(page) == "4x83x126"
    screenshot(page, "lab-uploaded")
    # a second photo dropped on the picker replaces it
    buffer = io.BytesIO()
    Image.new("RGB", (90, 120), (200, 30, 30)).save(buffer, "PNG")
    dropped = page.evaluate_handle("""(bytes) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], "square.png", {type: "image/png"}));
      return transfer;
    }""", list(buffer.getvalue()))
    before = draws(page)
    page.dispatch_event(".input-picker", "drop", {"dataTransfer": dropped})
    page.wait_for_function("document.querySelector('#lab-input-shape').textContent === '1 × 128 × 96'")
    wait_for_new_output(page, before)
    assert "square.png" in page.text_content(".ip-upload-name")
    # the link keeps the upload's id only; reloaded, the page asks the server and names the file again
    page.wait_for_function("new URLSearchParams(location.search).get('input')?.endsWith(':90x120')")
    page.reload()
    page.wait_for_function("document.querySelector('#lab-input-shape').textContent === '1 × 128 × 96'")
    assert page.text_content(".ip-upload-name") == "Using square.png (90×120)"


def drop_file(page, name: str, data: bytes, mime: str = "image/png") -> None:
    """Drop one file on the input picker, as a person dragging it from their desktop."""
    transfer = page.evaluate_handle("""([base64, name, type]) => {
      const transfer = new DataTransfer();
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      transfer.items.add(new File([bytes], name, {type}));
      return transfer;
    }""", [base64.b64encode(data).decode(), name, mime])
    page.dispatch_event(".input-picker", "drop", {"dataTransfer": transfer})


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_a_file_dropped_beside_the_picker_does_not_take_the_browser_away(page):
    open_lab(page)
    prevented = page.evaluate("""() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File(["x"], "photo.png", {type: "image/png"}));
      const results = [];
      for (const type of ["dragover", "drop"]) {
        const event = new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true});
        document.querySelector("#lab-output-view").dispatchEvent(event);
        results.push(event.defaultPrevented);  // not prevented: the browser would open the file instead
      }
      return results;
    }""")
    assert prevented == [True, True]
    assert page.text_content(".ip-error") == ""  # and it is not taken as the picture


def test_of_two_files_chosen_quickly_the_last_is_used_and_a_refused_one_keeps_it(page):
    page.allowed_errors.append(r"Failed to load resource.*415")
    noise = np.random.default_rng(0).integers(0, 256, (1600, 1200, 3), dtype=np.uint8)
    big = png_bytes(Image.fromarray(noise))  # 5.8 MB: its upload answers well after the small one's
    small = png_bytes(Image.new("RGB", (90, 120), (200, 30, 30)))
    open_lab(page)
    page.click("text=Upload")
    before = draws(page)
    drop_file(page, "big.png", big)
    page.wait_for_timeout(50)
    drop_file(page, "square.png", small)
    page.wait_for_function("document.querySelector('#lab-input-shape').textContent === '1 × 128 × 96'")
    wait_for_new_output(page, before)
    page.wait_for_timeout(1500)  # the big file's answer has come by now, and must not replace the square
    assert page.text_content(".ip-upload-name") == "Using square.png (90×120)"
    assert page.text_content("#lab-input-shape") == "1 × 128 × 96"
    # a file that is not a picture is refused, and the line still says which picture is in use
    drop_file(page, "notes.png", b"these are not pixels")
    page.locator(".ip-error").wait_for(state="visible")
    assert "notes.png could not be used" in page.text_content(".ip-error")
    assert page.text_content(".ip-upload-name") == "Using square.png (90×120)"
    # a large picture is kept reduced, and the line says from what
    before = draws(page)
    drop_file(page, "big.png", big)
    page.wait_for_function("document.querySelector('.ip-upload-name').textContent.startsWith('Using big')")
    wait_for_new_output(page, before)
    assert page.text_content(".ip-upload-name") == "Using big.png (1200×1600, kept at 768×1024)"
    # back on a sample, a refused file leaves the Sample tab showing; the Upload tab then uses the last upload
    # and says so
    before = draws(page)
    page.check(".ip-tabs input[value='sample']")
    wait_for_new_output(page, before)  # the sample's run, whose output clears the picker's errors, is done
    drop_file(page, "notes.png", b"these are not pixels")
    page.wait_for_function("document.querySelector('.ip-error').textContent.includes('notes.png')")
    assert page.is_checked(".ip-tabs input[value='sample']") and page.is_visible(".ip-sample")
    page.check(".ip-tabs input[value='upload']")
    page.wait_for_function("document.querySelector('.ip-upload-name').textContent.startsWith('Using big.png')")


def test_an_uploads_name_and_size_are_the_servers_after_a_reload_and_in_a_link_that_says_otherwise(page):
    long_name = "a photo of my cat, " * 8 + "sleeping.png"  # 164 characters: the server keeps 119 and an ellipsis
    kept = f"Using {long_name[:119]}… (90×120)"
    open_lab(page)
    page.click("text=Upload")
    before = draws(page)
    drop_file(page, long_name, png_bytes(Image.new("RGB", (90, 120), (200, 30, 30))))
    wait_for_new_output(page, before)
    assert page.text_content(".ip-upload-name") == kept  # the name a reload shows, not the longer one sent
    page.wait_for_function("new URLSearchParams(location.search).get('input')?.endsWith(':90x120')")
    image_id = decode_upload_id(page.url)
    page.reload()
    wait_for_new_output(page, 0)
    assert page.text_content(".ip-upload-name") == kept
    page.goto(f"/?input=upload:{image_id}:999x999")  # a link with the wrong size: the server's is shown
    wait_for_new_output(page, 0)
    assert page.text_content(".ip-upload-name") == kept
    assert page.text_content("#lab-input-shape") == "1 × 128 × 96"


def decode_upload_id(url: str) -> str:
    source = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["input"][0]
    return source.split(":")[1]


def test_uploading_a_non_image_shows_the_error_next_to_the_picker(page, tmp_path):
    page.allowed_errors.append(r"Failed to load resource.*415")
    notes = tmp_path / "notes.txt"
    notes.write_text("these are not pixels")
    open_lab(page)
    page.click("text=Upload")
    page.focus(".ip-file")  # as the keyboard leaves it, having opened the file chooser
    page.set_input_files(".ip-file", str(notes))
    error = page.locator(".ip-error")
    error.wait_for(state="visible")
    assert "notes.txt" in error.text_content()
    assert "not an image" in error.text_content()
    # the picker's pane is hidden with the Sample tab shown again: the keyboard is on that tab, not lost
    assert page.evaluate("document.activeElement.matches('.ip-tabs input[value=sample]')")
    screenshot(page, "lab-upload-error")
    # a run that ends afterwards (a slider moved) leaves the reason up; choosing another picture takes it away
    before = draws(page)
    page.focus("#param-out_channels")
    page.keyboard.press("ArrowRight")
    wait_for_new_output(page, before)
    assert "notes.txt" in error.text_content()
    assert page.is_checked(".ip-tabs input[value='sample']")  # the refused file left the sample's tab showing
    page.select_option(".ip-sample", index=1)
    error.wait_for(state="hidden")


UPLOAD_NOTE = ".ip-upload-note"


def wait_for_note(page, text: str) -> None:
    # after a reload the picker may not be built yet
    page.wait_for_function(f"document.querySelector('{UPLOAD_NOTE}')?.textContent === {text!r}")


def test_a_small_upload_says_it_was_enlarged_to_the_working_size(page):
    open_lab(page)
    page.click("text=Upload")
    drop_file(page, "tiny.png", png_bytes(Image.new("L", (10, 10), 200)))
    wait_for_note(page, "Enlarged from 10×10 to 128×128.")
    assert page.text_content(".ip-upload-name") == "Using tiny.png (10×10)"
    assert page.is_visible(UPLOAD_NOTE)
    page.focus("#lab-size")
    page.keyboard.press("Home")  # the working size's smallest, 28 px
    wait_for_note(page, "Enlarged from 10×10 to 28×28.")
    # a picture larger than the working size is reduced, which the slider already says: no note
    before = draws(page)
    drop_file(page, "photo.png", png_bytes(Image.new("L", (300, 200), 90)))
    page.wait_for_function("document.querySelector('.ip-upload-name').textContent === 'Using photo.png (300×200)'")
    wait_for_new_output(page, before)
    assert page.text_content(UPLOAD_NOTE) == "" and page.is_hidden(UPLOAD_NOTE)


def test_a_slight_enlargement_needs_no_note_and_a_larger_one_gets_it(page):
    open_lab(page)
    page.click("text=Upload")
    before = draws(page)
    drop_file(page, "portrait.png", png_bytes(Image.new("RGB", (90, 120), (200, 30, 30))))
    page.wait_for_function("document.querySelector('#lab-input-shape').textContent === '1 × 128 × 96'")
    wait_for_new_output(page, before)
    # read at 96×128: a 7% enlargement looks the same, and the working size's help already says it is resized
    page.wait_for_timeout(1100)  # past the note's wait for a picture not read yet: it would be written by now
    assert page.text_content(UPLOAD_NOTE) == "" and page.is_hidden(UPLOAD_NOTE)
    page.focus("#lab-size")
    page.keyboard.press("ArrowRight")  # 256 px: twice its size
    wait_for_note(page, "Enlarged from 90×120 to 192×256.")


def record_upload_note(page) -> None:
    """Keep every text the upload note is given in window.noteTexts (what a screen reader would say)."""
    page.evaluate("""() => {
      window.noteTexts = [];
      const note = document.querySelector('.ip-upload-note');
      new MutationObserver(() => window.noteTexts.push(note.textContent))
        .observe(note, {childList: true, characterData: true, subtree: true});
    }""")


def test_an_uploads_note_is_said_once_with_its_frames_and_size_together(page):
    frames = [Image.new("RGB", (50, 40), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    open_lab(page)
    page.click("text=Upload")
    record_upload_note(page)
    before = draws(page)
    drop_file(page, "blink.gif", buffer.getvalue(), "image/gif")
    wait_for_note(page, "First of 2 frames used. Enlarged from 50×40 to 128×102.")
    wait_for_new_output(page, before)
    # one status change, not "First of 2 frames used." and then the whole note again ("" is not said)
    assert [text for text in page.evaluate("window.noteTexts") if text] == [
        "First of 2 frames used. Enlarged from 50×40 to 128×102."]
    # back on the upload after a sample (its pane hidden meanwhile), the whole note is said once
    page.check(".ip-tabs input[value='sample']")
    page.wait_for_function("document.querySelector('#lab-input-shape').textContent === '1 × 128 × 128'")
    page.wait_for_timeout(1100)  # past the note's wait for a picture not read yet
    page.evaluate("window.noteTexts = []")
    page.check(".ip-tabs input[value='upload']")
    page.wait_for_function("document.querySelector('#lab-input-shape').textContent === '1 × 102 × 128'")
    page.wait_for_timeout(1100)
    assert [text for text in page.evaluate("window.noteTexts") if text] == [
        "First of 2 frames used. Enlarged from 50×40 to 128×102."]


def test_an_animation_of_more_frames_than_the_server_counts_says_so(page):
    """The server counts frames up to 1,000 (server/images.py): the note does not claim exactly that many."""
    frames = [Image.new("L", (4, 4), i % 256) for i in range(1002)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=20)
    open_lab(page)
    page.click("text=Upload")
    drop_file(page, "long.gif", buffer.getvalue(), "image/gif")
    wait_for_note(page, "First of 1,000 or more frames used. Enlarged from 4×4 to 128×128.")


def test_an_animation_says_only_its_first_frame_is_used(page):
    frames = [Image.new("RGB", (200, 150), colour) for colour in [(255, 0, 0), (0, 0, 255), (0, 255, 0)]]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    open_lab(page)
    page.click("text=Upload")
    before = draws(page)
    drop_file(page, "dance.gif", buffer.getvalue(), "image/gif")
    wait_for_note(page, "First of 3 frames used.")
    wait_for_new_output(page, before)
    assert page.text_content(UPLOAD_NOTE) == "First of 3 frames used."  # reduced to 128×96: nothing more to say
    # a reload asks the server what the link's upload is: the note comes back
    page.wait_for_function("new URLSearchParams(location.search).get('input')?.startsWith('upload:')")
    page.reload()
    wait_for_note(page, "First of 3 frames used.")


def test_a_very_wide_upload_says_why_the_input_is_so_thin(page):
    wide = Image.linear_gradient("L").resize((4000, 50))
    open_lab(page)
    page.click("text=Upload")
    drop_file(page, "wide.png", png_bytes(wide))
    page.wait_for_function("document.querySelector('#lab-input-shape').textContent === '1 × 2 × 128'")
    assert page.text_content(UPLOAD_NOTE) == "Read at 128×2, only 2 px tall: its longer side is fitted to 128 px."
    assert page.text_content(".ip-upload-name") == "Using wide.png (4000×50, kept at 1024×13)"
    # the default 3×3 kernel does not fit in 2 rows: the error under it says why the input has only 2
    error = page.locator("[data-param='kernel_size'] .error")
    error.wait_for(state="visible")
    assert "larger than the padded input 2" in error.text_content()
    assert error.text_content().endswith(
        "stride 1). The input is only 2 px tall because wide.png is 4000×50: its longer side is fitted to 128 px.")
    screenshot(page, "lab-wide-upload")
    # back on the sample the kernel fits in: the error and its reason go
    page.check(".ip-tabs input[value='sample']")
    error.wait_for(state="hidden")
    assert error.text_content() == ""


def test_an_impossible_setting_is_explained_next_to_its_slider(page):
    open_lab(page, "?size=28&input=sample:digit-3")
    for _ in range(30):  # kernel size 3 -> 31 on a 28x28 input
        page.focus("#param-kernel_size")
        page.keyboard.press("ArrowRight")
    error = page.locator("[data-param='kernel_size'] .error")
    error.wait_for(state="visible")
    assert "larger than the padded input 28" in error.text_content()
    assert "because" not in error.text_content()  # a sample's size is the working size: nothing to explain
    screenshot(page, "lab-kernel-too-large")
    assert page.text_content("#lab-status") == "not computed: the message in red says why"
    assert re.fullmatch(r"\(last computed: 4 × \d+ × \d+\)", page.text_content("#lab-output-shape"))
    page.keyboard.press("Home")
    page.wait_for_function(f"document.querySelector('{OUTPUT}').dataset.shape === '4x28x28'")
    assert error.text_content() == ""
    assert page.text_content("#lab-output-shape") == "4 × 28 × 28"


def test_dimmed_maps_of_settings_that_failed_are_not_explained_and_come_back_with_their_settings(page):
    params = urllib.parse.quote(json.dumps({"kernel_size": 13, "dilation": 2}))  # a 25-pixel window on 28
    open_lab(page, f"?size=28&input=sample:digit-3&params={params}")
    assert output_shape(page) == "4x4x4"
    page.locator("#lab-output-view .lab-map").first.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('#lab-explain-body .ex-title')?.textContent"
                           ".includes('row 0, column 0')")
    explained = page.text_content("#lab-explain-body")
    window = page.get_attribute("#lab-input-view", "data-window")
    page.focus("#param-dilation")
    page.keyboard.press("ArrowRight")  # a 37-pixel window: not computed, the 4×4 maps dimmed
    page.wait_for_function("document.querySelector('#lab-status').textContent.startsWith('not computed')")
    assert "stale" in page.get_attribute(OUTPUT, "class")
    assert page.is_disabled("#lab-step") and page.is_disabled("#lab-play")
    # pointing at a dimmed cell leaves the explained cell, its window and its arithmetic as they were (a window
    # of the new dilation over a cell of the old maps would explain neither)
    hover_cell(page, 0.95, 0.95)
    assert page.get_attribute("#lab-input-view", "data-window") == window
    assert page.text_content("#lab-explain-body") == explained
    # back at the settings drawn last, their maps are current again
    page.focus("#param-dilation")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("document.querySelector('#lab-output-shape').textContent === '4 × 4 × 4'")
    assert "stale" not in page.get_attribute(OUTPUT, "class")
    assert page.is_enabled("#lab-step") and page.is_enabled("#lab-play")
    hover_cell(page, 0.95, 0.95)
    page.wait_for_function("document.querySelector('#lab-explain-body .ex-title')?.textContent"
                           ".includes('row 3, column 3')")


def test_a_link_whose_setting_does_not_fit_still_shows_its_input(page):
    params = urllib.parse.quote(json.dumps({"kernel_size": 11, "dilation": 3}))  # a 31-pixel window on 28
    page.goto(f"/?size=28&input=sample:digit-3&params={params}")
    # beside the setting it is about (the kernel's size, which it names first)
    error = page.locator("[data-param='kernel_size'] .error")
    error.wait_for(state="visible")
    assert "the dilated kernel 31 is larger than the padded input 28" in error.text_content()
    assert page.text_content("#lab-input-shape") == "1 × 28 × 28"  # the picture the layer would have read
    assert page.get_attribute("#lab-input-view [role='img']", "aria-label") == "input picture: 28 by 28, gray"
    assert page.text_content("#lab-status") == "not computed: the message in red says why"


def test_reloading_the_url_restores_the_view(page):
    open_lab(page)
    before = draws(page)
    page.select_option("#lab-kind", "AvgPool2d")
    wait_for_new_output(page, before)
    page.focus("#param-kernel_size")
    page.keyboard.press("ArrowRight")
    page.select_option(".ip-sample", "astronaut")
    page.select_option("#lab-colour", "rgb")
    page.wait_for_function("location.search.includes('astronaut') && location.search.includes('rgb')"
                           " && location.search.includes('kernel_size')")
    page.wait_for_function(f"document.querySelector('{OUTPUT}').dataset.shape === '3x42x42'")
    url = page.url
    page.reload()
    wait_for_new_output(page, 0)
    assert page.url == url
    assert page.input_value("#lab-kind") == "AvgPool2d"
    assert page.text_content("[data-param='kernel_size'] output") == "3"
    assert page.input_value(".ip-sample") == "astronaut"
    assert page.input_value("#lab-colour") == "rgb"
    assert output_shape(page) == "3x42x42"
    screenshot(page, "lab-reloaded")


def test_keyboard_only_tab_to_a_slider_and_change_it(page):
    open_lab(page)
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "param-out_channels":
            break
    else:
        pytest.fail("Tab never reached the out channels slider")
    before = draws(page)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"document.querySelector('{OUTPUT}').dataset.shape === '1x126x126'")
    assert draws(page) > before
    assert page.locator(".ke-filter").count() == 1
    # the output maps take the keyboard too: arrows move the explained cell
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('lab-map')"):
            break
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#lab-explain-body .ex-sum")
    assert "[0, 0, 0, 0]" in page.text_content("#lab-explain-body .ex-title")
    screenshot(page, "lab-keyboard")


def test_a_recurrent_layer_runs_over_a_sine_wave(page):
    open_lab(page)
    before = draws(page)
    page.select_option("#lab-kind", "LSTM")
    wait_for_new_output(page, before)
    assert output_shape(page) == "48x16"
    assert page.locator("#lab-output-view .main-svg").count() > 0  # the Plotly heatmap over time
    before = draws(page)
    page.select_option("#lab-seq", "rows")
    wait_for_new_output(page, before)
    assert output_shape(page) == "32x16"  # camera at 32x32: one row of 32 pixels per time step
    screenshot(page, "lab-lstm")


def test_a_recurrent_output_of_a_new_size_gets_axes_of_its_size_and_still_explains_on_hover(page):
    open_lab(page, "?kind=RNN")
    plot = "#lab-output-view .lab-plot"
    for hidden in (40, 7, 2):  # Plotly.react had kept the old size's axes: 7 units after 16 got a y axis to 10
        before = draws(page)
        page.fill("#param-hidden_size", str(hidden))
        page.dispatch_event("#param-hidden_size", "change")
        wait_for_new_output(page, before)
        assert output_shape(page) == f"48x{hidden}"
        ranges = page.eval_on_selector(plot, "(div) => [div._fullLayout.xaxis.range, div._fullLayout.yaxis.range]")
        assert ranges == [[-0.5, 47.5], [hidden - 0.5, -0.5]]
        ticks = page.locator(f"{plot} .ytick text").all_text_contents()  # units are whole: no tick at 0.5
        assert ticks and all(re.fullmatch(r"\d+", tick) for tick in ticks), ticks
    box = page.locator(f"{plot} .nsewdrag").first.bounding_box()  # the heatmap's cells
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.5)
    page.wait_for_selector("#lab-explain-body .ex-title")  # the hover handler survived the redraw
    assert re.fullmatch(r"RNN output \[0, \d+, [0-6]\] \(step \d+, unit [0-6]\) = \S+",
                        page.text_content("#lab-explain-body .ex-title"))
    # the sum goes through the cell's own nonlinearity, named
    assert page.text_content("#lab-explain-body .ex-activation-line").startswith("then tanh: output = tanh(total) = ")


def test_a_kind_that_cannot_explain_says_so_before_any_hover_and_asks_for_no_breakdown(page):
    open_lab(page, "?kind=Upsample&size=16")
    said = "Upsample does not break single output values down."
    assert page.text_content("#lab-explain-body") == said  # from the catalogue: nothing had to be refused first
    sent = []
    page.on("websocket", lambda socket: socket.on("framesent", lambda payload: sent.append(payload)))
    page.reload()
    wait_for_new_output(page, 0)
    hover_cell(page, 0.5, 0.5)
    page.wait_for_timeout(600)
    assert page.text_content("#lab-explain-body") == said
    assert page.text_content("#lab-error") == ""
    assert sent and not any('"explain"' in str(payload) for payload in sent)


def test_a_transposed_convolution_grows_the_input(page):
    open_lab(page, "?size=28&input=sample:digit-5")
    before = draws(page)
    page.select_option("#lab-kind", "ConvTranspose2d")
    wait_for_new_output(page, before)
    assert output_shape(page) == "1x56x56"
    hover_cell(page, 0.5, 0.5)
    page.wait_for_selector("#lab-explain-body .ex-sum")
    values = read_arithmetic(page)
    assert values["sum"] + values["bias"] == pytest.approx(values["total"], rel=2e-3, abs=2e-3)
    screenshot(page, "lab-conv-transpose")


def test_a_transposed_convolution_cell_that_no_input_reaches_holds_the_bias_alone(page):
    """Stride 3 with a 2-wide kernel leaves every third row and column uncovered: the page says so."""
    params = urllib.parse.quote(json.dumps({"stride": 3}))
    open_lab(page, f"?size=28&input=sample:digit-5&kind=ConvTranspose2d&params={params}")
    assert output_shape(page) == "1x83x83"
    hover_cell(page, 2.5 / 83, 2.5 / 83)  # output (2, 2): the taps land on rows and columns 3i and 3i + 1
    page.locator("#lab-explain-body .ex-uncovered").wait_for()
    assert page.text_content("#lab-explain-body .ex-title code") == "[0, 0, 2, 2]"
    bias = number(page.get_attribute("#lab-explain-body .ex-bias", "data-value"))
    assert number(page.get_attribute("#lab-explain-body .ex-output", "data-value")) == bias
    assert page.locator("#lab-explain-body .ex-block").count() == 0  # no empty tables
    assert page.get_attribute("#lab-input-view", "data-window") == ""  # no input cell is marked
    hover_cell(page, 1.5 / 83, 1.5 / 83)  # a covered cell explains as before
    page.locator("#lab-explain-body .ex-block").first.wait_for()
    assert page.text_content("#lab-explain-body .ex-title code") == "[0, 0, 1, 1]"


def test_a_setting_that_removes_the_explained_cell_lets_it_go_quietly(page):
    open_lab(page, "?size=28&input=sample:digit-3")
    hover_cell(page, 0.9, 0.9, "#lab-output-view .lab-map[data-channel='3'] canvas.lab-data")
    page.wait_for_selector("#lab-explain-body .ex-sum")
    assert page.get_attribute("#lab-input-view", "data-window") != ""
    page.mouse.move(0, 0)
    before = draws(page)
    page.focus("#param-out_channels")
    page.keyboard.press("Home")  # 4 filters -> 1: output channel 3 is gone
    wait_for_new_output(page, before)
    page.wait_for_function("document.querySelector('#lab-status').textContent.startsWith('computed')")
    assert page.text_content("#lab-explain-body") == "Hover over or tap an output cell."
    assert page.get_attribute("#lab-input-view", "data-window") == ""
    assert page.text_content("#lab-error") == ""


def test_a_link_to_a_drawing_reproduces_the_values_computed_from_it(page):
    """The live drawing is held to the 16 gray levels its link carries (it had kept all of the canvas's levels)."""
    open_lab(page, "?size=28")
    page.click("text=Draw")
    page.wait_for_function("document.querySelector('.ip-pane[data-kind=draw]').hidden === false")
    before = draws(page)
    pad = page.locator(".ip-draw-pad").bounding_box()
    page.mouse.move(pad["x"] + pad["width"] * 0.2, pad["y"] + pad["height"] * 0.25)
    page.mouse.down()
    page.mouse.move(pad["x"] + pad["width"] * 0.75, pad["y"] + pad["height"] * 0.7, steps=12)
    page.mouse.up()
    wait_for_new_output(page, before)
    page.wait_for_function("location.search.includes('input=draw')")
    drawn = canvas_print(page, INPUT_CANVAS)  # the input as the server computed with it
    assert drawn["colours"] > 2
    open_lab(page, page.url.removeprefix(page.url.split("/?")[0] + "/"))
    assert canvas_print(page, INPUT_CANVAS) == drawn


@pytest.mark.parametrize("kernel_size", [5, 7])
def test_every_weight_of_a_large_kernel_is_in_view(page, kernel_size):
    open_lab(page, f"?kind=Conv2d&params=%7B%22kernel_size%22%3A{kernel_size}%7D")
    cells = page.locator(".ke-cell")
    assert cells.count() == kernel_size ** 2
    view = page.locator(".ke-grids").bounding_box()
    last = cells.nth(kernel_size - 1).bounding_box()  # the first row's last weight had sat behind a scroll
    assert last["x"] + last["width"] <= view["x"] + view["width"], (last, view)


def test_edited_kernels_survive_a_reload(page):
    open_lab(page, "?size=32")
    before = draws(page)
    page.click(".ke-filter >> nth=2")
    page.select_option(".ke-preset", "laplacian")
    wait_for_new_output(page, before)
    page.click(".ke-filter >> nth=0")
    page.locator(".ke-cell").nth(1).fill("-0.5")
    page.locator(".ke-cell").nth(2).fill("0.123456")  # the field shows 0.123; the link keeps the weight whole
    page.fill(".ke-bias", "0.25")
    page.wait_for_function("new URLSearchParams(location.search).get('kernels')?.startsWith('v0,-0.5,0.123456,0,1,')"
                           " && new URLSearchParams(location.search).get('kernels')?.includes('@0.25')")
    shown = canvas_print(page, FIRST_MAP)
    page.reload()
    wait_for_new_output(page, 0)
    assert page.locator("#link-notice").count() == 0  # the page's own kernels text reads back whole
    assert page.input_value(".ke-preset") == ""  # filter 0: edited by hand
    cells = [number(v) for v in page.locator(".ke-cell").evaluate_all("cells => cells.map(c => c.value)")]
    assert cells == [0, -0.5, 0.123, 0, 1, 0, 0, 0, 0]
    weights = page.evaluate("async () => (await import('/static/js/kernels.js')).decodeFilters("
                            "new URLSearchParams(location.search).get('kernels'))[0].values[2]")
    assert weights == float(np.float32(0.123456))
    assert number(page.input_value(".ke-bias")) == 0.25
    assert canvas_print(page, FIRST_MAP)["hash"] == shown["hash"]
    page.click(".ke-filter >> nth=2")
    assert page.input_value(".ke-preset") == "laplacian"


def test_a_weight_entry_that_is_no_number_is_marked_and_keeps_the_weight(page):
    open_lab(page, "?size=32")
    cell, bias = page.locator(".ke-cell").nth(4), page.locator(".ke-bias")  # the identity's centre: 1

    def enter(field, text: str, key: str) -> None:
        field.focus()
        page.keyboard.press("Control+A")
        page.keyboard.press("Backspace")
        page.keyboard.type(text)  # key by key: "1e3" on the way to "1e39" is a number, and is applied as it forms
        if text != "3":
            assert field.get_attribute("aria-invalid") == "true", text
        page.keyboard.press(key)

    for field, entry, kept in [(cell, "1e39", "1"), (cell, "", "1"), (bias, "1e39", "0")]:  # 1e39: past float32
        enter(field, entry, "Tab")  # leaving it puts back the value the field had when entered
        assert field.input_value() == kept and field.get_attribute("aria-invalid") == "false"
    assert page.input_value(".ke-preset") == "identity"  # the filter is as it was, preset and all
    page.wait_for_timeout(500)  # the lab writes its link 300 ms after a change
    assert "kernels" not in page.url
    # Enter puts it back too, and keeps the focus
    enter(cell, "1e39", "Enter")
    assert cell.input_value() == "1" and page.evaluate("document.activeElement.dataset.index") == "4"
    # a number committed with Enter is the one to go back to
    enter(cell, "3", "Enter")
    enter(cell, "1e39", "Tab")
    assert cell.input_value() == "3"
    page.wait_for_function("new URLSearchParams(location.search).has('kernels')")
    kernels = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)["kernels"][0]
    assert kernels.startswith("v0,0,0,0,3,0,0,0,0") and "e39" not in kernels and "Infinity" not in kernels


def test_input_sources_round_trip_through_url_text(page):
    """inputs.js, which the Network view shares: every kind of source survives encodeSource/decodeSource."""
    open_lab(page)
    result = page.evaluate("""async () => {
      const inputs = await import("/static/js/inputs.js");
      const pixels = Float32Array.from({length: 28 * 28}, (_, i) => (i % 29 === 0 ? 1 : 0));
      const sources = [
        {type: "sample", name: "camera"},
        {type: "sample", name: "digit-3", invert: true},
        {type: "pattern", name: "stripes"},
        {type: "upload", imageId: "abc123", name: "uploaded image", width: 300, height: 200},
        {type: "draw", size: 28, pixels},
      ];
      const back = sources.map((s) => inputs.decodeSource(inputs.encodeSource(s)));
      const drawn = await inputs.prepareInput({type: "draw", size: 28, pixels}, {size: 56, channels: 3});
      return {
        same: sources.map((s, i) => JSON.stringify({...s, pixels: s.pixels && Array.from(s.pixels)})
          === JSON.stringify({...back[i], pixels: back[i].pixels && Array.from(back[i].pixels)})),
        junk: [inputs.decodeSource("nonsense"), inputs.decodeSource("draw:@@")],
        sample: inputs.sourceToInput({type: "sample", name: "coins", invert: true}),
        drawnShape: drawn.array.shape,
        fit: inputs.fitSize(384, 303, 128),
      };
    }""")
    assert result["same"] == [True] * 5
    assert result["junk"] == [None, None]
    assert result["sample"] == {"sample": "coins", "invert": True}
    assert result["drawnShape"] == [3, 56, 56]
    assert result["fit"] == [101, 128]


def test_settings_from_a_link_are_held_to_what_the_lab_shows(page):
    """100 million filters froze the tab building kernel editors; a kernel of 2000 was resent forever."""
    params = '{"out_channels":100000000,"kernel_size":2000,"groups":0}'
    open_lab(page, f"?kind=Conv2d&params={params}")
    assert page.locator(".ke-filter").count() == 16  # the lab's most
    assert output_shape(page) == "16x98x98"  # kernel 31 (the largest) on the 128-pixel picture


def test_edited_kernels_go_into_a_link_only_as_long_as_a_live_session_passes_it_on(page):
    """Five random 3-channel 5x5 filters, each with one weight typed: 375 weights of 10-13 characters made a link of
    4,983 characters, which a live session refused while its followers kept the last view."""
    open_lab(page)
    texts = page.evaluate("""async () => {
      const { encodeFilters, decodeFilters } = await import("/static/js/kernels.js");
      const random = (n, seed) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i) / 3);
      const long = encodeFilters(Array.from({ length: 5 }, (_, o) => ({ preset: null, values: random(75, o), bias: 0 })));
      const small = [{ preset: null, values: Float32Array.from([1 / 3, -2, 0.5, 0, 0, 0, 0, 0, 0]), bias: 0 },
        { preset: "sobel_x", values: null, bias: 0.25 }];
      const short = encodeFilters(small);
      return { long, short, read: Array.from(decodeFilters(short)[0].values) };
    }""")
    assert texts["long"] == "~".join(["custom"] * 5)
    assert texts["short"] == "v0.33333334,-2,0.5,0,0,0,0,0,0~sobel_x@0.25"  # small edits are written exactly
    assert texts["read"][0] == pytest.approx(1 / 3, rel=1e-7)


def test_a_link_with_kernels_the_layer_cannot_use_names_each_filter(page):
    params = urllib.parse.quote(json.dumps({"out_channels": 2}))
    open_lab(page, f"?size=32&params={params}&kernels=sobel_z~v1,2,3@x~laplacian")
    items = page.locator("#link-notice li").all_inner_texts()
    assert items == [
        "kernels=sobel_z: filter 0: not a preset (identity, sobel_x, sobel_y, gaussian, sharpen, laplacian, emboss, "
        "random) nor v and comma-separated numbers; it has its default.",
        "kernels=v1,2,3@x: filter 1: its bias x is not a number; it is 0.",
        "kernels=v1,2,3@x: filter 1: 3 values, where a filter of this layer has 9; it has its default.",
        "kernels=laplacian: 3 filters, where the layer has 2; those after filter 1 were not used.",
    ]
    # the defaults stand in: filter 0 the identity, filter 1 Sobel x, both without bias
    assert page.input_value(".ke-preset") == "identity"
    page.click(".ke-filter >> nth=1")
    assert page.input_value(".ke-preset") == "sobel_x" and number(page.input_value(".ke-bias")) == 0
    # an empty entry is no number (not a 0), and a count of one is "1 value"
    read = page.evaluate("""async () => {
      const k = await import("/static/js/kernels.js");
      return [k.decodeFilters("v1,,2~v~v5")[0].values, k.decodeFilters("v1,,2~v")[1].unread.length,
              k.filtersUnused(k.decodeFilters("v5"), 1, 9)[0].reason];
    }""")
    assert read == [None, 1, "filter 0: 1 value, where a filter of this layer has 9; it has its default"]
    # the next link holds the kernels shown, not the ones that could not be used
    page.select_option(".ke-preset", "gaussian")
    page.wait_for_function("new URLSearchParams(location.search).get('kernels') === 'identity~gaussian'")


def test_a_link_naming_no_layer_kind_or_preset_opens_the_defaults(page):
    open_lab(page, "?kind=toString&kernels=constructor")  # names an object has, but not layer kinds or presets
    assert page.input_value("#lab-kind") == "Conv2d"
    assert output_shape(page) == "4x126x126"


# the input canvas as rows of gray levels (the red byte of each pixel)
GRAY_ROWS = """(selector) => {
  const canvas = document.querySelector(selector);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const rows = [];
  for (let r = 0; r < canvas.height; r++) {
    rows.push(Array.from({length: canvas.width}, (_, c) => data[4 * (r * canvas.width + c)]));
  }
  return rows;
}"""


def test_padding_mode_fills_the_frame_and_the_arithmetic_reads_it(page):
    def reflect(i, size):
        return -i if i < 0 else 2 * (size - 1) - i if i >= size else i

    def replicate(i, size):
        return min(max(i, 0), size - 1)

    params = '{"out_channels":1,"padding":3,"padding_mode":"reflect"}'
    open_lab(page, "?size=28&input=sample:camera&params=" + params.replace('"', "%22"))
    assert output_shape(page) == "1x32x32"  # 28 + 2*3 - (3 - 1)
    assert page.input_value("#param-padding_mode") == "reflect"
    for rule, name in ((reflect, "reflect"), (replicate, "replicate")):
        if name == "replicate":
            before = draws(page)
            page.select_option("#param-padding_mode", "replicate")
            wait_for_new_output(page, before)
            page.wait_for_function(f"() => {{ const rows = ({GRAY_ROWS})('{INPUT_CANVAS}'); "
                                   "return rows[0][0] === rows[3][3] && rows[0][33] === rows[3][30]; }")
        rows = page.evaluate(GRAY_ROWS, INPUT_CANVAS)
        assert (len(rows), len(rows[0])) == (34, 34)
        assert len({value for row in rows[:3] for value in row}) > 5, "the photo's edge shows in the frame"
        # every frame cell shows the input cell the padding copies
        for r in range(34):
            for c in range(34):
                assert rows[r][c] == rows[3 + rule(r - 3, 28)][3 + rule(c - 3, 28)], (name, r, c)
    hover_cell(page, 0.01, 0.01)
    page.wait_for_function("document.querySelector('#lab-explain-body .ex-note')?.textContent"
                           ".includes('the nearest edge cell (replicate padding)')")
    screenshot(page, "lab-padding-mode-replicate")
    before = draws(page)
    page.select_option("#param-padding_mode", "zeros")
    wait_for_new_output(page, before)
    frame = page.evaluate(GRAY_ROWS, INPUT_CANVAS)
    assert {value for row in frame[:3] for value in row} == {frame[0][0]}, "zero padding is one colour"


# the numbers of each line of a gated cell's explanation (their full values, as data-value holds them)
GATE_LINES = """[...document.querySelectorAll('#lab-explain-body .ex-gate-line')].map((line) =>
  [line.textContent.split(' ')[0], [...line.querySelectorAll('.ex-number')].map((n) => Number(n.dataset.value))])"""


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_a_gated_cell_explains_each_gate_and_the_update(page, kind):
    """The gates' values and the cell's update add up to the output the title gives (as torch computes it)."""
    open_lab(page, f"?kind={kind}")
    page.locator(OUTPUT).focus()
    for key in ["ArrowRight"] * 4 + ["ArrowDown"]:  # the first key picks step 0, unit 0
        page.keyboard.press(key)
    page.wait_for_function("document.querySelector('#lab-explain-body .ex-title code')?.textContent === '[0, 3, 1]'")
    assert page.text_content("#lab-explain-body .ex-place") == " (step 3, unit 1)"  # from 0, as the axes count
    lines = dict(page.evaluate(GATE_LINES))
    output = float(page.get_attribute("#lab-explain-body .ex-output", "data-value"))
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    gates = {"LSTM": ["input", "forget", "cell", "output"], "GRU": ["reset", "update", "new"]}[kind]
    assert list(lines) == [*gates, *(["memory"] if kind == "LSTM" else []), "hidden"]
    for name in gates:  # gate = squash(x part + h part + biases) = value
        numbers = lines[name]
        if name == "new":  # n = tanh(x part + b_in + r (h part + b_hn))
            x_part, b_in, h_part, b_hn, total, value = numbers
            assert total == pytest.approx(x_part + b_in + lines["reset"][-1] * (h_part + b_hn), abs=1e-5)
        else:
            x_part, h_part, biases, total, value = numbers
            assert total == pytest.approx(x_part + h_part + biases, abs=1e-5)
        squash = np.tanh if name in ("cell", "new") else sigmoid
        assert value == pytest.approx(float(squash(total)), abs=1e-6)
    if kind == "LSTM":
        f, c_prev, i, g, c = lines["memory"]
        assert c == pytest.approx(f * c_prev + i * g, abs=1e-6)
        o, tanh_c, h = lines["hidden"]
        assert tanh_c == pytest.approx(np.tanh(c), abs=1e-6) and h == pytest.approx(o * tanh_c, abs=1e-6)
    else:
        z, n, z_again, h_prev, h = lines["hidden"]
        assert z == z_again and h == pytest.approx((1 - z) * n + z * h_prev, abs=1e-6)
    assert h == pytest.approx(output, abs=1e-6)
    screenshot(page, f"lab-explain-{kind.lower()}")


def test_the_output_of_every_kind_can_be_explained_from_the_keyboard(page):
    """Sequences and vectors are plots, not maps: the output box takes the focus and the arrow keys."""
    open_lab(page, "?kind=RNN")
    view = page.locator(OUTPUT)
    assert view.get_attribute("role") == "application" and view.get_attribute("tabindex") == "0"
    assert "arrow keys pick a value" in view.get_attribute("aria-label")
    view.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    page.wait_for_function("document.querySelector('#lab-explain-body .ex-title code')?.textContent === '[0, 1, 1]'")
    page.wait_for_function("document.querySelector('#lab-said').textContent"
                           ".startsWith('RNN output at step 1, unit 1 = ')")
    open_lab(page, "?kind=Linear")
    page.locator(OUTPUT).focus()
    page.keyboard.press("End")
    page.wait_for_function("/^\\[0, \\d+\\]$/.test(document.querySelector('#lab-explain-body .ex-title code')?.textContent)")
    last = page.text_content("#lab-explain-body .ex-title code")
    assert last == f"[0, {int(output_shape(page)) - 1}]"
    # the words name the same index as the brackets: every index counts from 0
    assert page.text_content("#lab-explain-body .ex-place") == f" (output {int(output_shape(page)) - 1})"
    # the maps of an image layer are their own stops; the box around them is not one
    open_lab(page)
    assert page.locator(OUTPUT).get_attribute("tabindex") is None
    first_map = page.locator("#lab-output-view .lab-map").first
    assert (first_map.get_attribute("role"), first_map.get_attribute("aria-roledescription")) == ("application",
                                                                                                 "output map")


def test_what_a_screen_reader_hears_and_when(page):
    open_lab(page, "?size=28&input=sample:digit-3&params=%7B%22out_channels%22%3A1%7D")
    # live regions: the one-sentence summary, the step position when stepped by hand, errors; not the rest
    assert page.locator(".lab-about").get_attribute("aria-live") is None
    assert page.locator("#lab-explain").get_attribute("aria-live") is None
    assert page.locator("#lab-status").get_attribute("role") is None
    page.locator("#lab-output-view .lab-map").first.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('#lab-said').textContent"
                           " .startsWith('Conv2d output at channel 0, row 0, column 0 = ')")
    # the window, weights and products are tables of rows and cells
    table = page.locator("#lab-explain-body [role=table]").first
    assert table.locator("[role=row]").count() == 3
    assert table.locator("[role=row]").nth(2).locator("[role=cell]").count() == 3
    page.click("#lab-play")
    assert page.get_attribute("#lab-player-position", "aria-live") == "off"
    assert page.get_attribute("#lab-play", "aria-pressed") is None and page.text_content("#lab-play") == "Pause"
    page.click("#lab-play")
    assert page.get_attribute("#lab-player-position", "aria-live") == "polite"
    # each pair's "h ≠ w" box is named for its setting
    assert page.get_by_role("checkbox", name="kernel size: h ≠ w (a different height and width)").count() == 1
    assert page.get_by_role("tab", name="Filter 0").get_attribute("aria-controls") == "ke-grids"
    assert page.locator("#lab-input-view .lab-layered").get_attribute("aria-label") == "input picture: 28 by 28, gray"


def test_the_lab_at_200_percent_zoom_is_one_column(new_page):
    """A 1280 px screen at 200% zoom is 640 CSS pixels: nothing is cut off or needs sideways scrolling."""
    page = new_page()
    page.set_viewport_size({"width": 640, "height": 900})
    open_lab(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 640
    header = page.locator("header.top").bounding_box()
    toggle = page.locator("#presenter-toggle").bounding_box()
    assert header["y"] <= toggle["y"] and toggle["y"] + toggle["height"] <= header["y"] + header["height"]
    assert toggle["x"] + toggle["width"] <= 640
    for panel in ("#lab-input-panel", "#lab-kernels-panel", "#lab-output-panel", "#lab-explain"):
        assert page.locator(panel).bounding_box()["width"] > 500, panel
    cell = page.locator(".ke-cell").first
    assert cell.bounding_box()["width"] > 30
    cell.focus()
    # the focus ring is dark blue (6.7:1 on white) and not clipped by the kernels' scrolled box
    assert page.evaluate("getComputedStyle(document.activeElement).outlineColor") == "rgb(29, 78, 216)"
    box, grids = cell.bounding_box(), page.locator(".ke-grids").bounding_box()
    assert box["x"] - 4 >= grids["x"] and box["y"] - 4 >= grids["y"]
    screenshot(page, "lab-640px")


# the widest of the preset list's options in the list's own font, and the list's width for text (less its arrow)
PRESET_FIT = """() => {
  const select = document.querySelector(".ke-preset");
  const context = document.createElement("canvas").getContext("2d");
  context.font = getComputedStyle(select).font;
  const widest = Math.max(...[...select.options].map((option) => context.measureText(option.text).width));
  return [widest, select.clientWidth - 24];
}"""


@pytest.mark.parametrize("width, height", [(1280, 800), (1920, 1080)])
def test_presenter_mode_on_a_projector_shows_whole_preset_names_and_maps_that_fill_the_panel(new_page, width, height):
    page = new_page(viewport={"width": width, "height": height})
    open_lab(page)
    page.click("#presenter-toggle")
    page.wait_for_function("document.body.classList.contains('presenter')")
    widest, room = page.evaluate(PRESET_FIT)
    assert widest <= room, f"a preset's name needs {widest:.0f} px, the list has {room}"  # "Sobel x (vertic…" had
    page.select_option(".ke-preset", "sobel_x")
    assert page.text_content(".ke-preset-effect") == "finds vertical edges (changes from left to right)"
    # the four maps fit the panel, and on a wide screen grow with it (they had kept 153 px in a 980 px panel)
    panel = page.locator("#lab-output-view").bounding_box()
    page.wait_for_function(f"""() => {{
      const maps = [...document.querySelectorAll('#lab-output-view .lab-layered')].map((m) => m.clientWidth);
      return maps.length === 4 && maps.every((w) => w === maps[0] && 2 * w <= {panel['width']});
    }}""")
    maps = [page.locator(".lab-map .lab-layered").nth(c).bounding_box() for c in range(4)]
    assert all(m["x"] + m["width"] <= panel["x"] + panel["width"] + 1 for m in maps)
    assert maps[3]["y"] + maps[3]["height"] <= height  # the whole grid on one screen
    if width == 1920:
        assert maps[0]["width"] >= 250
    screenshot(page, f"lab-presenter-{width}")


def test_narrow_colour_legends_keep_their_ends_in_place(new_page):
    """Six maps in presenter mode at 1280x720: each legend had wrapped its maximum under its minimum, leaving the 0
    at the right end, where it read as the maximum."""
    page = new_page(viewport={"width": 1280, "height": 720})
    kernels = "~".join(["sobel_x"] * 6)
    open_lab(page, f"?kernels={kernels}&params={urllib.parse.quote(json.dumps({'out_channels': 6}))}")
    page.click("#presenter-toggle")
    page.wait_for_function("document.body.classList.contains('presenter')")
    legend = page.locator(".lab-map .colour-legend").first
    labels = legend.locator(".colour-legend-labels > span:visible")
    page.wait_for_function("document.querySelector('.lab-map .colour-legend').clientWidth < 140")
    texts = labels.all_inner_texts()
    assert len(texts) == 2 and float(texts[0].replace("−", "-")) < 0 < float(texts[1].replace("−", "-")), texts
    box, first, last = legend.bounding_box(), labels.first.bounding_box(), labels.last.bounding_box()
    assert last["x"] + last["width"] >= box["x"] + box["width"] - 2  # the maximum at the right end
    assert first["x"] <= box["x"] + 2
    # a wide legend keeps its 0
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.wait_for_function("document.querySelector('.lab-map .colour-legend').clientWidth > 200")
    assert len(labels.all_inner_texts()) == 3


def test_a_link_with_values_the_lab_cannot_use_says_which_and_shows_the_defaults(page):
    params = urllib.parse.quote(json.dumps({"stride": "two", "out_channels": 99, "kernel_size": 3, "colour": 1}))
    open_lab(page, f"?kind=NoSuchLayer&size=100&speed=fast&input=camera&colour=purple&params={params}")
    notice = page.locator("#link-notice")
    assert notice.get_attribute("role") == "alert"
    assert notice.locator("p").inner_text().startswith("Part of this page's link could not be used")
    items = notice.locator("li").all_inner_texts()
    assert items[0] == "speed=fast: not a number."  # the URL's own check comes first, then the lab's
    assert items[1] == ("input=camera: not an input; inputs are sample:NAME, pattern:NAME, upload:ID:WIDTHxHEIGHT "
                        "or draw:PIXELS (+centred at the end centres a digit, and ! after it inverts).")
    assert items[2] == "colour=purple: not one of gray, rgb."
    assert items[3].startswith("kind=NoSuchLayer: not a layer kind of the lab; it has Conv2d, ")
    assert items[4:] == ["size=100: not one of 28, 32, 64, 128, 256, 512.",
                         "params.stride=two: not a value Conv2d takes here.",
                         "params.out_channels=99: held to 16, what the lab can show.",
                         "params.colour=1: Conv2d has no setting colour."]
    text = notice.inner_text()
    assert "kernel_size" not in text  # a value the lab uses is not named
    # the page works with what it could use: Conv2d (the default kind), 3x3, 16 output channels
    assert page.input_value("#lab-kind") == "Conv2d"
    assert page.input_value(".ip-sample") == "camera"  # the lab's default input, the cameraman
    assert page.text_content("[data-param='kernel_size'] output") == "3"
    assert output_shape(page).startswith("16x")
    screenshot(page, "lab-link-notice")

    # changing a setting dismisses the notice, and the link the page writes holds only what it uses
    before = draws(page)
    page.select_option("#lab-colour", "rgb")
    wait_for_new_output(page, before)
    assert page.locator("#link-notice").count() == 0
    page.wait_for_function("location.search.includes('rgb')")
    assert "camera" not in page.url and "purple" not in page.url and "NoSuchLayer" not in page.url

    open_lab(page, "?kind=ReLU")
    assert page.locator("#link-notice").count() == 0


def test_a_layer_setting_outside_params_and_a_misspelt_key_are_named(page):
    open_lab(page, "?kind=MaxPool2d&stride=1&padding_mode=zeros&sise=64")
    assert page.locator("#link-notice li").all_inner_texts() == [
        'stride=1: a setting of the layer, which the link gives inside params, as params={"stride":1}.',
        "padding_mode=zeros: not a setting of this page; its settings are kind, params, input, size, colour, range, "
        "seq, kernels, filter, speed.",  # MaxPool2d has no padding mode
        "sise=64: not a setting of this page; its settings are kind, params, input, size, colour, range, seq, "
        "kernels, filter, speed.",
    ]
    assert output_shape(page) == "1x64x64"  # the stride is MaxPool2d's default, 2


def test_a_link_to_an_expired_upload_says_so_and_runs_the_default(page):
    page.allowed_errors.append(r"Failed to load resource.*404")  # the page asking whether the upload is there
    open_lab(page, "?size=28&input=upload%3Anot-an-id%3A300x400")
    assert page.locator("#link-notice li").all_inner_texts() == [f"input=upload:not-an-id:300x400: {UPLOAD_GONE}"]
    assert page.input_value(".ip-sample") == "camera" and page.text_content(".ip-error") == ""
    assert page.text_content("#lab-input-shape") == "1 × 28 × 28" and output_shape(page) == "4x26x26"


def test_a_link_naming_a_sample_the_lab_lacks_says_so_and_runs_the_default(page):
    open_lab(page, "?size=28&input=sample:nope")
    assert page.locator("#link-notice li").all_inner_texts() == [
        "input=sample:nope: no sample of that name here; there are camera, astronaut, coins, moon, chelsea and 31 "
        "more in the Sample list."]
    assert page.input_value(".ip-sample") == "camera"
    assert page.text_content(".ip-error") == ""  # the server was never asked for it
    assert output_shape(page).startswith("4x")


def record_upload_status(page) -> None:
    """Keep each text a screen reader would say of the upload's status region in window.statusTexts: the text of
    the nearest role="status" around the "Using NAME" line, each time something in it changes."""
    page.evaluate("""() => {
      window.statusTexts = [];
      const region = document.querySelector('.ip-upload-name').closest('[role="status"]');
      if (!region) return;
      const said = () => [...region.children].map((line) => line.textContent).filter(Boolean).join(' | ');
      new MutationObserver(() => window.statusTexts.push(said()))
        .observe(region, {childList: true, characterData: true, subtree: true});
    }""")


def test_an_upload_is_said_once_by_its_status_with_its_note_or_without_one(page):
    """A screen reader hears which picture is used after choosing a file, even when there is no note to say, and
    hears it once: the name and the note of what was done to it together, once the page has read it."""
    open_lab(page)
    page.click("text=Upload")
    record_upload_status(page)
    before = draws(page)
    drop_file(page, "tiny.png", png_bytes(Image.new("L", (10, 10), 200)))
    wait_for_note(page, "Enlarged from 10×10 to 128×128.")
    wait_for_new_output(page, before)
    page.wait_for_timeout(1100)  # past the note's wait for a picture not read yet: nothing more is said
    said = [text for text in page.evaluate("window.statusTexts") if text]
    assert said == ["Uploading tiny.png…", "Using tiny.png (10×10) | Enlarged from 10×10 to 128×128."], said
    # a picture larger than the working size gets no note: its name alone is said, once
    page.evaluate("window.statusTexts = []")
    before = draws(page)
    drop_file(page, "photo.png", png_bytes(Image.new("L", (300, 200), 90)))
    wait_for_new_output(page, before)
    page.wait_for_timeout(1100)
    said = [text for text in page.evaluate("window.statusTexts") if text]
    assert said == ["Uploading photo.png…", "Using photo.png (300×200)"], said


def test_a_recurrent_window_wider_than_a_phone_scrolls_inside_its_panel_and_by_keyboard(phone):
    """At 390 px a recurrent cell's window of 17 numbers, ten a row, is wider than the panel: it had run past the
    panel's edge, its last values cut off; its box scrolls sideways instead, and takes the focus to be scrolled."""
    open_lab(phone, "?kind=RNN")
    phone.locator(OUTPUT).focus()
    phone.keyboard.press("ArrowRight")
    phone.wait_for_function("document.querySelector('#lab-explain-body .ex-tables')?.getAttribute('tabindex') === '0'")
    panel = phone.locator("#lab-explain").evaluate("""(panel) => {
      const right = panel.getBoundingClientRect().right - parseFloat(getComputedStyle(panel).paddingRight);
      return {right, scrolls: panel.scrollWidth > panel.clientWidth};
    }""")
    tables = phone.locator("#lab-explain-body .ex-tables")
    box = tables.bounding_box()
    assert not panel["scrolls"] and box["x"] + box["width"] <= panel["right"] + 0.5
    assert tables.get_attribute("role") == "group" and "scroll sideways" in tables.get_attribute("aria-label")
    last = phone.locator("#lab-explain-body .ex-block").nth(1).locator(".ex-cell").nth(9)  # the weights' first row
    assert last.bounding_box()["x"] + last.bounding_box()["width"] > panel["right"]  # out of view, to the right
    tables.focus()
    for _ in range(10):
        phone.keyboard.press("ArrowRight")
    phone.wait_for_function("(box) => box.scrollLeft + box.clientWidth >= box.scrollWidth - 1",
                            arg=tables.element_handle())
    assert last.bounding_box()["x"] + last.bounding_box()["width"] <= panel["right"] + 0.5
    # a window that fits (a 3x3 convolution's) is no extra tab stop
    open_lab(phone)
    phone.locator("#lab-output-view .lab-map").first.focus()
    phone.keyboard.press("ArrowRight")
    phone.wait_for_selector("#lab-explain-body .ex-tables")
    phone.wait_for_timeout(100)  # the resize observer's first report
    assert phone.locator("#lab-explain-body .ex-tables").get_attribute("tabindex") is None
    screenshot(phone, "lab-phone-rnn-explained")
