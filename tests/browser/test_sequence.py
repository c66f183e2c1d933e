"""The Sequence view, driven as a person would: pick a network and a sequence, draw a digit, type numbers,
move the time scrubber with the keyboard and the mouse, and read what the plots show.

Each test waits for the page's own signals (#sequence-view data-runs-done counts drawn runs, data-step the
step drawn), then reads the plots' data and the text a person sees. Reference values come from the
server's own computation of the same request (POST /api/runs/layers/{index}.npy) or, for the gates, from
the engine's recurrent layers, so a wrong picture cannot pass.
"""

from __future__ import annotations

import base64
import io
import json
import re
import urllib.request

import numpy as np
import pytest

from engine.models import DIGIT_READER_HIDDEN
from tests.browser.conftest import draw_vertical_stroke, screenshot as save_screenshot
from tests.browser.test_network import IN_LIVE_REGION, UPLOAD_GONE, announcements, watch_announcements

VIEW = "#sequence-view"
FLOAT16 = {"rtol": 2e-3, "atol": 1e-3}  # the page receives float16: about three significant digits
LSTM_PARTS = ["input", "forget", "cell", "output", "cell_state"]
GRU_PARTS = ["reset", "update", "new"]


# ---- helpers --------------------------------------------------------------------------------------------

def runs_done(page) -> int:
    return int(page.get_attribute(VIEW, "data-runs-done") or 0)


def wait_for_run_after(page, count: int, timeout: float = 20_000) -> None:
    """Wait until more than `count` runs have been drawn completely."""
    page.wait_for_function(f"Number(document.querySelector('{VIEW}').dataset.runsDone) > {count}", timeout=timeout)


def open_sequence(page, query: str = "") -> None:
    page.goto(f"/sequence{query}")
    # the server's first MNIST sample loads the dataset (10 to 20 s on a busy machine)
    wait_for_run_after(page, 0, timeout=90_000)


def wait_for_step(page, step: int) -> None:
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.step === '{step}'")


def plot_data(page, selector: str, trace: int = 0, field: str = "z") -> np.ndarray:
    """A Plotly plot's data (z of a heatmap, y of a line) as it is drawn, None (a gap) as NaN."""
    values = page.evaluate(f"document.querySelector({json.dumps(selector)}).data[{trace}].{field}")
    return np.array(values, dtype=np.float64)


def highlighted_step(page, selector: str) -> float:
    """The centre of the step outlined in a plot (its first shape)."""
    shape = page.evaluate(f"document.querySelector({json.dumps(selector)}).layout.shapes[0]")
    axis = "x" if shape["yref"] == "paper" else "y"
    return (shape[f"{axis}0"] + shape[f"{axis}1"]) / 2


def bar_values(page, selector: str) -> np.ndarray:
    return np.array([float(v) for v in page.eval_on_selector_all(
        f"{selector} .sq-bar", "(bars) => bars.map((bar) => bar.dataset.value)")])


def array_input(values: np.ndarray) -> dict:
    data = np.ascontiguousarray(values, dtype="<f4")
    return {"array": {"shape": list(data.shape), "dtype": "float32", "data": base64.b64encode(data.tobytes()).decode()}}


def server_layer(server_url: str, request: dict, index: int) -> np.ndarray:
    """The server's float32 output of layer `index` for a run request."""
    call = urllib.request.Request(f"{server_url}/api/runs/layers/{index}.npy", data=json.dumps(request).encode(),
                                  headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(call) as response:
        return np.load(io.BytesIO(response.read()), allow_pickle=False)


def screenshot(page, name: str) -> None:
    """A full-page screenshot from the top (the sticky scrubber would show where the page was scrolled to)."""
    page.evaluate("window.scrollTo(0, 0)")
    save_screenshot(page, name)


def gate_parts(page) -> list[str]:
    return page.eval_on_selector_all("#sq-gates figure", "(figures) => figures.map((f) => f.dataset.part)")


def tab_to(page, selector: str, presses: int = 10, key: str = "Tab") -> None:
    """Press Tab (or `key`: Shift+Tab) until the element `selector` has the focus (within `presses` presses)."""
    for _ in range(presses):
        page.keyboard.press(key)
        if page.evaluate("(selector) => document.activeElement.matches(selector)", selector):
            return
    raise AssertionError(f"{presses} presses of {key} did not reach {selector}")


def said(page, readout: str) -> str:
    """A readout line's text, its subscripts written as on the page: "unit 3: h<sub>5</sub> -0.25"."""
    return page.eval_on_selector(readout, "(line) => line.innerHTML")


def bar_read(page, chart: str, item_name: str, value_name: str) -> tuple[str, float]:
    """The bar named in a bar chart's readout line ("unit 3: h<sub>5</sub> -0.25") and the value it says."""
    text = said(page, f"{chart} .sq-bar-readout")
    match = re.fullmatch(rf"{item_name} (\S+): {value_name} (-?[\d.]+(?:e[+-]?\d+)?)", text)
    assert match, text
    return match[1], float(match[2])


def ringed_bar(page, chart: str) -> int | None:
    """The bar under the middle of a chart's marker, as drawn on the screen; None when no marker shows."""
    return page.eval_on_selector(chart, """(chart) => {
      const marker = chart.querySelector(".sq-bar-marker");
      if (marker.hidden) return null;
      const box = marker.getBoundingClientRect();
      const middle = (box.left + box.right) / 2;
      return [...chart.querySelectorAll(".sq-bar")].findIndex((bar) => {
        const { left, right } = bar.getBoundingClientRect();
        return left <= middle && middle <= right;
      });
    }""")


NUMBER = r"(-?[\d.]+(?:e[+-]?\d+)?)"  # a value as formatNumber writes it


def plot_read(page, plot: str, pattern: str) -> tuple:
    """What the line under a plot says of the value its arrow keys are on (subscripts as <sub>), matched to
    `pattern` (its groups)."""
    text = said(page, f"{plot} + .sq-plot-readout")
    match = re.fullmatch(pattern, text)
    assert match, text
    return match.groups()


def wait_for_hover(page, plot: str, first_line: str) -> None:
    """Wait until Plotly's hover label in `plot` shows, its first line matching the regular expression
    `first_line` (it names the step and the row the label is on)."""
    page.wait_for_function("""([plot, line]) => {
      const shown = document.querySelector(`${plot} .hovertext text.nums`)?.dataset.unformatted;
      return Boolean(shown) && new RegExp(`^(?:${line})$`).test(shown.split("<br>")[0]);
    }""", arg=[plot, first_line])


def hover_lines(page, plot: str) -> list[str]:
    """The lines of Plotly's hover label in `plot`, as its template wrote them (subscripts as <sub>)."""
    return page.eval_on_selector(f"{plot} .hovertext text.nums", "(text) => text.dataset.unformatted").split("<br>")


def check_keys_description(page, plot: str, roledescription: str) -> None:
    """A plot read with the keys is an application (its keys are its own) that says what they do."""
    assert page.get_attribute(plot, "role") == "application"
    assert page.get_attribute(plot, "aria-roledescription") == roledescription
    keys = page.text_content(f"#{page.get_attribute(plot, 'aria-describedby')}")
    assert "Arrow keys" in keys and "Enter" in keys, keys
    assert page.get_attribute(f"{plot} + .sq-plot-readout", "aria-live") == "polite"


def reads_as(value: str, expected: float) -> bool:
    """Whether a value read out (4 significant digits) is the server's float32 one, to float16's precision."""
    return float(value) == pytest.approx(float(expected), rel=FLOAT16["rtol"], abs=FLOAT16["atol"])


# ---- tests ----------------------------------------------------------------------------------------------

def test_digit_lstm_shows_input_hidden_state_gates_and_answer(page, server_url):
    open_sequence(page)
    screenshot(page, "sequence-digits-lstm")
    hidden = server_layer(server_url, {"network": "digits-lstm", "input": {"sample": "mnist-3"}}, 0)
    probabilities = server_layer(server_url, {"network": "digits-lstm", "input": {"sample": "mnist-3"}}, -1)
    assert hidden.shape == (1, 28, DIGIT_READER_HIDDEN) and probabilities.shape == (1, 28, 10)

    # the input is the digit itself: 28 steps (rows) of 28 pixels
    digit = plot_data(page, "#sq-input-plot")
    assert digit.shape == (28, 28)
    assert digit[10:18, 8:20].max() > 0.9 and digit[0, :].max() < 0.1  # ink in the middle, a blank top row
    # the hidden state: one row per unit, one column per step, equal to the server's computation
    z = plot_data(page, "#sq-hidden-plot")
    assert z.shape == (DIGIT_READER_HIDDEN, 28)
    np.testing.assert_allclose(z, hidden[0].T, **FLOAT16)
    # the probabilities over time (classes x steps), and the last step's answer in words
    p = plot_data(page, "#sq-output-plot")
    assert p.shape == (10, 28)
    np.testing.assert_allclose(p, probabilities[0].T, **FLOAT16)
    best = int(np.argmax(probabilities[0, -1]))
    answer = page.inner_text("#sq-answer")
    assert re.fullmatch(rf"After all 28 rows it reads {best} \(probability 0\.\d+\)\.", answer), answer
    # the default step is the last one, outlined everywhere
    assert page.get_attribute(VIEW, "data-step") == "27"
    for selector in ["#sq-hidden-plot", "#sq-output-plot", "#sq-input-plot",
                     "#sq-gates figure[data-part='forget'] .js-plotly-plot"]:
        assert highlighted_step(page, selector) == 27
    assert gate_parts(page) == LSTM_PARTS
    assert page.input_value("#sq-network") == "digits-lstm"
    assert page.is_checked("#sq-sources input[value='digit']")


def test_time_scrubber_keyboard_drag_buttons_and_clicks(page, server_url):
    open_sequence(page, "?network=digits-gru")
    hidden = server_layer(server_url, {"network": "digits-gru", "input": {"sample": "mnist-3"}}, 0)[0]
    probabilities = server_layer(server_url, {"network": "digits-gru", "input": {"sample": "mnist-3"}}, -1)[0]
    count = runs_done(page)

    def check_step(t: int) -> None:
        wait_for_step(page, t)
        assert page.input_value("#sq-step") == str(t)
        assert page.inner_text("#sq-step-text") == f"step {t} (of 0–27)"
        assert page.inner_text("#sq-at-step") == str(t)
        for selector in ["#sq-hidden-plot", "#sq-output-plot", "#sq-input-plot",
                         "#sq-gates figure[data-part='update'] .js-plotly-plot"]:
            assert highlighted_step(page, selector) == t, selector
        # the values at the step: the hidden vector and the probabilities, as the server computed them
        np.testing.assert_allclose(bar_values(page, "#sq-at-hidden"), hidden[t], **FLOAT16)
        # a screen reader hears the range and the largest units, not only "64 values"
        spoken = page.get_attribute("#sq-at-hidden", "aria-label")
        assert spoken.startswith(f"hidden state at step {t}, {hidden.shape[1]} values: from ")
        first = int(re.search(r"largest: unit (\d+) ", spoken).group(1))
        assert abs(hidden[t][first]) >= np.abs(hidden[t]).max() - 2e-3  # the largest, to float16's precision
        np.testing.assert_allclose(bar_values(page, "#sq-output-bars"), probabilities[t], **FLOAT16)
        best = int(np.argmax(probabilities[t]))
        assert page.get_attribute("#sq-output-bars", "data-best") == str(best)
        assert page.inner_text("#sq-at-output").startswith(f"After row {t} its best guess is {best} ")

    page.focus("#sq-step")
    page.keyboard.press("Home")
    check_step(0)
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    check_step(3)
    page.wait_for_url(re.compile(r"step=3"))
    screenshot(page, "sequence-scrubbed-step-3")

    # drag the slider's thumb with the mouse to about a quarter of the way
    box = page.locator("#sq-step").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.6, y)
    page.mouse.down()
    for fraction in (0.5, 0.4, 0.3, 0.25):
        page.mouse.move(box["x"] + box["width"] * fraction, y)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#sq-step').value !== '3'")
    dragged = int(page.input_value("#sq-step"))
    assert abs(dragged - round(0.25 * 27)) <= 1
    check_step(dragged)

    # the step buttons, and a click on a column of the hidden-state heatmap
    page.click("#sq-next")
    check_step(dragged + 1)
    page.click("#sq-prev")
    page.click("#sq-prev")
    check_step(dragged - 1)
    page.locator("#sq-hidden-plot").scroll_into_view_if_needed()
    plot = page.locator("#sq-hidden-plot .nsewdrag").first.bounding_box()
    page.mouse.click(plot["x"] + plot["width"] * (20.5 / 28), plot["y"] + plot["height"] / 2)
    check_step(20)

    # hover a bar of the hidden state at this step and read its value
    page.locator("#sq-at-hidden").scroll_into_view_if_needed()
    area = page.locator("#sq-at-hidden .sq-bar-area").bounding_box()
    page.mouse.move(area["x"] + area["width"] * (10.5 / DIGIT_READER_HIDDEN), area["y"] + area["height"] / 2)
    match = re.fullmatch(r"unit 10: h<sub>20</sub> (-?[\d.e+-]+)", said(page, "#sq-at-hidden .sq-bar-readout"))
    assert match, said(page, "#sq-at-hidden .sq-bar-readout")
    assert float(match[1]) == pytest.approx(float(hidden[20, 10]), rel=FLOAT16["rtol"], abs=FLOAT16["atol"])
    screenshot(page, "sequence-scrubbed-step-20")

    # Play walks through the steps one by one; pressing it again pauses
    page.focus("#sq-step")
    page.keyboard.press("Home")
    wait_for_step(page, 0)
    # the button's label says what it does next; it is not a toggle as well (aria-pressed with a changing label
    # read "Pause, toggle button, pressed")
    page.click("#sq-play")
    assert page.inner_text("#sq-play") == "Pause" and page.get_attribute("#sq-play", "aria-pressed") is None
    wait_for_step(page, 1)
    wait_for_step(page, 2)
    page.click("#sq-play")
    assert page.inner_text("#sq-play") == "Play" and page.get_attribute("#sq-play", "aria-pressed") is None
    # scrubbing is a view change: nothing was computed again
    assert runs_done(page) == count


def test_the_bar_charts_read_with_the_arrow_keys_what_the_bars_show(page, server_url):
    open_sequence(page, "?network=digits-gru&step=5")
    request = {"network": "digits-gru", "input": {"sample": "mnist-3"}}
    hidden = server_layer(server_url, request, 0)[0, 5]
    probabilities = server_layer(server_url, request, -1)[0, 5]
    wait_for_step(page, 5)

    def check_read(chart: str, index: int, names: list[str], item_name: str, value_name: str,
                   expected: np.ndarray) -> None:
        """The readout names bar `index`, says the value its bar is drawn at and the server computed, and the
        marker rings that bar."""
        name, value = bar_read(page, chart, item_name, value_name)
        assert name == names[index]
        shown = bar_values(page, chart)[index]
        assert value == pytest.approx(shown, rel=1e-3, abs=1e-6)  # the value rounded to 4 digits
        assert value == pytest.approx(float(expected[index]), rel=FLOAT16["rtol"], abs=FLOAT16["atol"])
        assert ringed_bar(page, chart) == index

    # from the step slider, Tab reaches the hidden state's bars: one tab stop, its focus ring shown
    page.focus("#sq-step")
    tab_to(page, "#sq-at-hidden")
    chart = "#sq-at-hidden"
    assert page.get_attribute(chart, "role") == "application"
    assert page.get_attribute(f"{chart} .sq-bar-readout", "aria-live") == "polite"
    ring = page.eval_on_selector(chart, "(chart) => [chart.matches(':focus-visible'), "
                                        "getComputedStyle(chart).outlineStyle, parseFloat(getComputedStyle(chart).outlineWidth)]")
    assert ring[0] and ring[1] == "solid" and ring[2] >= 2, ring
    units = [str(k) for k in range(DIGIT_READER_HIDDEN)]
    last = DIGIT_READER_HIDDEN - 1
    check_read(chart, 0, units, "unit", "h<sub>5</sub>", hidden)  # the focus reads the first bar
    for key, unit in [("ArrowRight", 1), ("ArrowRight", 2), ("End", last), ("ArrowRight", last),
                      ("ArrowLeft", last - 1), ("Home", 0), ("ArrowLeft", 0)]:
        page.keyboard.press(key)
        check_read(chart, unit, units, "unit", "h<sub>5</sub>", hidden)
    page.keyboard.press("ArrowRight")
    screenshot(page, "sequence-bars-read-with-keys")

    # the probabilities' bars: the keys start at the best class, the one highlighted
    tab_to(page, "#sq-output-bars")
    assert ringed_bar(page, chart) is None
    assert page.inner_text(f"{chart} .sq-bar-readout") == "Hover a bar or use the arrow keys to read a unit's value."
    chart = "#sq-output-bars"
    classes = [str(k) for k in range(10)]
    best = int(np.argmax(probabilities))
    assert 0 < best < 9  # the keys below move to either side of it
    check_read(chart, best, classes, "class", "probability", probabilities)
    for key, k in [("ArrowLeft", best - 1), ("ArrowRight", best), ("ArrowRight", best + 1), ("End", 9), ("Home", 0)]:
        page.keyboard.press(key)
        check_read(chart, k, classes, "class", "probability", probabilities)
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "sq-at-hidden"
    check_read("#sq-at-hidden", 1, units, "unit", "h<sub>5</sub>", hidden)  # where the keys left it


def test_the_heatmaps_over_time_read_with_the_arrow_keys_and_enter_jumps_to_the_step(page, server_url):
    open_sequence(page, "?network=digits-gru&step=5")
    request = {"network": "digits-gru", "input": {"sample": "mnist-3"}}
    hidden = server_layer(server_url, request, 0)[0]
    probabilities = server_layer(server_url, request, -1)[0]
    wait_for_step(page, 5)
    count = runs_done(page)

    # from the step slider, Tab reaches the hidden state's heatmap: one tab stop, its focus ring shown
    page.focus("#sq-step")
    tab_to(page, "#sq-hidden-plot")
    plot = "#sq-hidden-plot"
    check_keys_description(page, plot, "heatmap")
    ring = page.eval_on_selector(plot, "(plot) => [plot.matches(':focus-visible'), "
                                       "getComputedStyle(plot).outlineStyle]")
    assert ring == [True, "solid"], ring
    last = 27

    def check_hidden(t: int, k: int) -> None:
        """The readout says step t, unit k and the server's h_t there, named h_t with the step's number as the
        bars under "At step t" name it; Plotly's hover label is on that cell and names it so too."""
        step, unit, named_at, value = plot_read(page, plot, rf"step (\d+), unit (\d+): h<sub>(\d+)</sub> {NUMBER}")
        assert (int(step), int(unit), int(named_at)) == (t, k, t)
        assert reads_as(value, hidden[t, k])
        wait_for_hover(page, plot, rf"step {t}, unit {k}")
        assert hover_lines(page, plot)[1].startswith(f"h<sub>{t}</sub> ")

    check_hidden(0, 0)  # the focus reads the first cell
    for key, (t, k) in [("ArrowRight", (1, 0)), ("ArrowDown", (1, 1)), ("ArrowDown", (1, 2)), ("End", (last, 2)),
                        ("ArrowRight", (last, 2)), ("ArrowUp", (last, 1)), ("Home", (0, 1)), ("ArrowLeft", (0, 1))]:
        page.keyboard.press(key)
        check_hidden(t, k)
    for key in ["ArrowRight"] * 12 + ["ArrowDown"] * 3:
        page.keyboard.press(key)
    check_hidden(12, 4)
    screenshot(page, "sequence-heatmap-read-with-keys")

    # Enter does what a click does: the step scrubbed to is the cell's, everywhere; the keys stay on the plot
    page.keyboard.press("Enter")
    wait_for_step(page, 12)
    page.wait_for_url(re.compile(r"step=12"))
    assert page.input_value("#sq-step") == "12" and page.inner_text("#sq-step-text") == f"step 12 (of 0–{last})"
    assert highlighted_step(page, plot) == 12 and highlighted_step(page, "#sq-output-plot") == 12
    np.testing.assert_allclose(bar_values(page, "#sq-at-hidden"), hidden[12], **FLOAT16)
    assert page.evaluate("document.activeElement.id") == "sq-hidden-plot"
    check_hidden(12, 4)
    page.keyboard.press("ArrowLeft")
    scrolled = page.evaluate("scrollY")
    page.keyboard.press(" ")  # Space as well, and the page does not scroll
    wait_for_step(page, 11)
    page.wait_for_url(re.compile(r"step=11"))
    assert page.evaluate("scrollY") == scrolled
    assert runs_done(page) == count  # a view change: nothing computed again

    # the probabilities over time, two tab stops back: the classes are a category axis, read by their index
    tab_to(page, "#sq-output-plot", key="Shift+Tab")
    assert page.inner_text(f"{plot} + .sq-plot-readout") == ""  # left: it says nothing more
    assert page.locator(f"{plot} .hovertext").count() == 0
    plot = "#sq-output-plot"
    check_keys_description(page, plot, "heatmap")

    def check_class(t: int, k: int) -> None:
        step, name, value = plot_read(page, plot, rf"step (\d+), class (\S+): probability {NUMBER}")
        assert (int(step), name) == (t, str(k))
        assert reads_as(value, probabilities[t, k])
        wait_for_hover(page, plot, f"step {t}, class {k}")

    best = int(np.argmax(probabilities[last]))
    check_class(0, 0)
    page.keyboard.press("End")
    for _ in range(best):
        page.keyboard.press("ArrowDown")
    check_class(last, best)
    for _ in range(12):
        page.keyboard.press("ArrowDown")
    check_class(last, 9)  # held at the last class
    page.keyboard.press("ArrowLeft")
    check_class(last - 1, 9)
    page.keyboard.press("Enter")
    wait_for_step(page, last - 1)
    page.wait_for_url(re.compile(rf"step={last - 1}"))
    assert page.input_value("#sq-step") == str(last - 1)

    # the digit read row by row: its rows are the steps, so Enter on a pixel picks its row
    tab_to(page, "#sq-input-plot", key="Shift+Tab")
    plot = "#sq-input-plot"
    check_keys_description(page, plot, "heatmap")
    digit = plot_data(page, plot)
    for key in ["ArrowDown"] * 14 + ["ArrowRight"] * 13:
        page.keyboard.press(key)
    step, pixel, value = plot_read(page, plot, rf"step (\d+), pixel (\d+) of the row: value {NUMBER}")
    assert (int(step), int(pixel)) == (14, 13) and reads_as(value, digit[14, 13])
    wait_for_hover(page, plot, r"step \(row\) 14, pixel 13")
    page.keyboard.press("Enter")
    wait_for_step(page, 14)
    page.wait_for_url(re.compile(r"step=14"))
    assert page.input_value("#sq-step") == "14" and highlighted_step(page, plot) == 14


def test_a_text_a_line_plot_and_the_gates_read_with_the_arrow_keys(page, server_url):
    # a text's plot: one row per letter (a category axis), the characters read across
    open_sequence(page, "?network=untrained-gru&hidden=4&source=text&text=hi+bob")
    trace = untrained_trace("GRU", 4, one_hot("hi bob"))
    plot = "#sq-input-plot"
    page.focus("#sq-step")
    tab_to(page, "#sq-input-plot")
    check_keys_description(page, plot, "heatmap")
    for key in ["ArrowRight"] * 2 + ["ArrowDown"] * 30:  # to the space read at step 2, in the last row
        page.keyboard.press(key)
    assert plot_read(page, plot, r"step 2 reads a space, row for a space: (\d)") == ("1",)
    wait_for_hover(page, plot, "step 2 reads a space")
    page.keyboard.press("ArrowUp")
    assert plot_read(page, plot, r"step 2 reads a space, row for “z”: (\d)") == ("0",)
    for key in ["ArrowRight", "ArrowRight"] + ["ArrowUp"] * 11:  # the “o” of step 4, in its own row
        page.keyboard.press(key)
    assert plot_read(page, plot, r"step 4 reads “o”, row for “o”: (\d)") == ("1",)
    page.keyboard.press("Enter")
    wait_for_step(page, 4)
    page.wait_for_url(re.compile(r"step=4"))
    assert page.input_value("#sq-step") == "4"
    assert page.inner_text("#sq-at-input").startswith("Input: reading “o” (step 4)")

    # a gate's map: each small multiple is a tab stop too
    plot = "#sq-gates figure[data-part='update'] .js-plotly-plot"
    tab_to(page, plot)
    check_keys_description(page, plot, "heatmap")
    page.keyboard.press("End")
    page.keyboard.press("ArrowDown")
    step, unit, value = plot_read(page, plot, rf"step (\d+), unit (\d+): update gate z {NUMBER}")
    assert (step, unit) == ("5", "1") and reads_as(value, trace["update"][0, 5, 1])
    wait_for_hover(page, plot, "step 5, unit 1")
    page.keyboard.press("Enter")
    wait_for_step(page, 5)
    page.wait_for_url(re.compile(r"step=5"))

    # the sine network's guesses: a line plot, its lines read as rows (Up and Down go from line to line)
    open_sequence(page, "?network=sine-rnn")
    t = np.arange(65)
    wave = (0.5 * np.sin(2 * np.pi * 0.05 * t)).astype(np.float32)
    prediction = server_layer(server_url, {"network": "sine-rnn", "input": array_input(wave[:64, None])}, -1)[0, :, 0]
    plot = "#sq-output-plot"
    page.focus("#sq-step")
    tab_to(page, "#sq-output-plot")
    check_keys_description(page, plot, "line plot")
    for _ in range(9):
        page.keyboard.press("ArrowRight")
    step, value = plot_read(page, plot, rf"step (\d+), predicted next value: {NUMBER}")
    assert step == "9" and reads_as(value, prediction[9])
    wait_for_hover(page, plot, rf"step 9: {NUMBER}")
    page.keyboard.press("ArrowDown")
    step, value = plot_read(page, plot, rf"step (\d+), actual next value: {NUMBER}")
    assert step == "9" and reads_as(value, wave[10])
    page.keyboard.press("Enter")
    wait_for_step(page, 9)
    page.wait_for_url(re.compile(r"step=9"))
    assert page.input_value("#sq-step") == "9"


def test_sine_frequency_slider_changes_input_and_prediction(page, server_url):
    open_sequence(page, "?network=sine-rnn")
    assert page.is_checked("#sq-sources input[value='sine']")
    before_input = plot_data(page, "#sq-input-plot", field="y")
    before_output = plot_data(page, "#sq-output-plot", field="y")
    assert before_input.shape == (64,)

    count = runs_done(page)
    page.focus("#sq-frequency")
    for _ in range(4):  # 0.05 -> 0.07 cycles per step
        page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(r"frequency=0\.07"))
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'done'")
    wait_for_run_after(page, count)
    assert "0.070 cycles per step" in page.inner_text(".sq-controls")

    t = np.arange(65)
    wave = (0.5 * np.sin(2 * np.pi * 0.07 * t)).astype(np.float32)
    shown_input = plot_data(page, "#sq-input-plot", field="y")
    np.testing.assert_allclose(shown_input, wave[:64], **FLOAT16)
    assert not np.allclose(shown_input, before_input, atol=1e-2)
    prediction = server_layer(server_url, {"network": "sine-rnn", "input": array_input(wave[:64, None])}, -1)
    shown_prediction = plot_data(page, "#sq-output-plot", field="y")
    np.testing.assert_allclose(shown_prediction, prediction[0, :, 0], **FLOAT16)
    assert not np.allclose(shown_prediction, before_output, atol=1e-3)
    # the dotted line is the actual next value, x_(t+1)
    np.testing.assert_allclose(plot_data(page, "#sq-output-plot", trace=1, field="y"), wave[1:], **FLOAT16)
    # the errors: the mean absolute one over every step, and the card's figure, the squared one from step 8 on
    errors = prediction[0, :, 0] - wave[1:]
    match = re.fullmatch(r"Its guesses are off by (\S+) on average \(over 64 steps\)\. From step 8 on, their mean "
                         r"squared error is (\S+), against 1\.17e-4 on the held-out signals of its training card\.",
                         page.inner_text("#sq-answer"))
    assert float(match[1]) == pytest.approx(np.abs(errors).mean(), rel=0.02)
    assert float(match[2]) == pytest.approx((errors[8:] ** 2).mean(), rel=0.05)
    # the page says what the network learnt from
    assert "a period of 8 to 40 steps" in page.inner_text("#sq-network-about")
    assert page.locator("#sq-gates figure").count() == 0
    assert "has no gates" in page.inner_text("#sq-gates-about")
    screenshot(page, "sequence-sine-rnn")

    # a wave's zeros are 0 as a class expects, not sin(π)'s 1.2e-16
    open_sequence(page, "?network=sine-rnn&frequency=0.125&step=4")
    assert plot_data(page, "#sq-input-plot", field="y")[[4, 8, 12]].tolist() == [0, 0, 0]
    assert "e-" not in page.inner_text("#sq-at-input")


def test_typed_numbers_run_and_bad_text_shows_an_error(page, server_url):
    open_sequence(page, "?network=sine-rnn")
    count = runs_done(page)
    page.check("#sq-sources input[value='numbers']")
    page.fill("#sq-numbers", "0.1, 0.4 0.9\n0.4, -0.2, -0.6")
    page.wait_for_url(re.compile(r"numbers=0\.1"))
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'done'")
    page.wait_for_function("document.querySelector('#sq-input-plot').data[0].y.length === 6")
    assert runs_done(page) > count
    typed = np.array([0.1, 0.4, 0.9, 0.4, -0.2, -0.6], np.float32)
    np.testing.assert_allclose(plot_data(page, "#sq-input-plot", field="y"), typed, **FLOAT16)
    assert page.get_attribute("#sq-step", "max") == "5"
    prediction = server_layer(server_url, {"network": "sine-rnn", "input": array_input(typed[:, None])}, -1)
    np.testing.assert_allclose(plot_data(page, "#sq-output-plot", field="y"), prediction[0, :, 0], **FLOAT16)
    # the last step has no actual next value: the line has a gap there and the text says so
    assert np.isnan(plot_data(page, "#sq-output-plot", trace=1, field="y")[-1])
    assert "the sequence ends here" in page.inner_text("#sq-at-output")
    # and the keys, reading that gap, say there is no value rather than a dash
    page.focus("#sq-output-plot")
    for key in ["End", "ArrowDown"]:
        page.keyboard.press(key)
    assert plot_read(page, "#sq-output-plot", r"step 5, actual next value: (.*)") == ("none (a gap in the line)",)
    page.keyboard.press("ArrowLeft")
    assert plot_read(page, "#sq-output-plot", rf"step 4, actual next value: {NUMBER}") == ("-0.6",)

    page.fill("#sq-numbers", "0.1, 0.4, lots")
    error = page.locator("#sq-numbers-error")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("“lots” is not a number")
    assert page.get_attribute(VIEW, "data-run-state") == "error"
    assert "sq-stale" in page.get_attribute(VIEW, "class")  # the last good plots stay, dimmed
    assert page.inner_text("#sq-run-error") == ""  # the message is next to the field, not elsewhere
    screenshot(page, "sequence-numbers-error")

    page.fill("#sq-numbers", "1")
    page.wait_for_function("document.querySelector('#sq-numbers-error').textContent.startsWith('Type at least 2')")
    count = runs_done(page)
    page.fill("#sq-numbers", "1 2 3")
    wait_for_run_after(page, count)
    assert page.inner_text("#sq-numbers-error") == ""
    assert "sq-stale" not in page.get_attribute(VIEW, "class")


def test_drawing_a_digit_shows_a_prediction_per_step(page, server_url):
    from engine.models import load_model

    open_sequence(page, "?network=digits-lstm&step=5")
    count = runs_done(page)
    page.check("#sq-digit input[value='draw']")
    # a blank pad is read too, and the page says the answer is about a blank picture, by the pad and by the answer
    assert page.inner_text("#sq-digit .ip-hint").startswith("The drawing is blank")
    wait_for_run_after(page, count)
    page.wait_for_function("document.querySelector('#sq-answer').textContent.endsWith("
                           "'The picture is blank: that is what it makes of no digit at all. Draw one.')")
    count = runs_done(page)
    draw_vertical_stroke(page, "#sq-digit canvas.ip-draw-pad")
    assert page.is_hidden("#sq-digit .ip-hint")
    wait_for_run_after(page, count)
    assert "blank" not in page.inner_text("#sq-answer")
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'done'")
    page.wait_for_url(re.compile(r"input=draw%3A"))

    # the input plot shows the stroke: a vertical line, bright in the middle columns of the middle rows
    digit = plot_data(page, "#sq-input-plot")
    assert digit.shape == (28, 28)
    assert digit[8:20, 13:15].mean() > 0.6 and digit[:, :5].max() < 0.1
    # the probabilities per step are the network's classifier and softmax on the hidden states the server
    # computed for exactly this request (downloaded with the page's own link)
    with page.expect_download() as download:
        page.click("#sq-download")
    hidden = np.load(download.value.path(), allow_pickle=False)
    assert hidden.shape == (1, 28, DIGIT_READER_HIDDEN)
    np.testing.assert_allclose(plot_data(page, "#sq-hidden-plot"), hidden[0].T, **FLOAT16)
    layers = dict(load_model("digits-lstm").layers)
    expected = layers["probabilities"](layers["classifier"](hidden))[0]
    np.testing.assert_allclose(plot_data(page, "#sq-output-plot"), expected.T, **FLOAT16)
    best = int(np.argmax(expected[-1]))
    assert page.get_attribute("#sq-answer", "data-answer") == str(best)
    assert page.inner_text("#sq-answer").startswith(f"After all 28 rows it reads {best} ")
    # the bar chart is the probabilities at the scrubbed step (5, from the URL)
    assert page.get_attribute(VIEW, "data-step") == "5"
    np.testing.assert_allclose(bar_values(page, "#sq-output-bars"), expected[5], **FLOAT16)
    assert page.inner_text("#sq-output-bars-title") == "Probabilities after row 5:"
    assert page.locator("#sq-output-bars .sq-bar-labels span").all_inner_texts() == [str(k) for k in range(10)]
    screenshot(page, "sequence-drawn-digit")


def test_lstm_shows_four_gates_and_cell_state_gru_three_rnn_none(page, server_url):
    from engine.spec import network_from_spec

    open_sequence(page, "?network=untrained-lstm&hidden=6&source=numbers&numbers=0.5%2C-1%2C2%2C0%2C1")
    assert gate_parts(page) == LSTM_PARTS
    assert page.locator("#sq-at-gates tbody tr").count() == 5
    assert page.is_visible("#sq-hidden-field") and page.input_value("#sq-hidden") == "6"
    # every gate against the engine's own LSTM with the same seeded weights
    x = np.array([0.5, -1, 2, 0, 1], np.float32)[None, :, None]
    spec = {"name": "untrained-lstm", "input_shape": [5, 1],
            "layers": [{"kind": "LSTM", "name": "lstm", "params": {"hidden_size": 6}}]}
    trace = network_from_spec(spec).layers[0][1].trace(x)
    for part in LSTM_PARTS:
        shown = plot_data(page, f"#sq-gates figure[data-part='{part}'] .js-plotly-plot")
        assert shown.shape == (6, 5)
        np.testing.assert_allclose(shown, trace[part][0].T, **FLOAT16)
    np.testing.assert_allclose(plot_data(page, "#sq-hidden-plot"), trace["hidden"][0].T, **FLOAT16)
    # sigmoid gates on a 0..1 sequential scale, the candidate on -1..1 diverging
    forget = page.evaluate("document.querySelector(\"#sq-gates figure[data-part='forget'] .js-plotly-plot\").data[0]")
    cell = page.evaluate("document.querySelector(\"#sq-gates figure[data-part='cell'] .js-plotly-plot\").data[0]")
    assert (forget["zmin"], forget["zmax"]) == (0, 1) and (cell["zmin"], cell["zmax"]) == (-1, 1)
    assert "no output layer" in page.inner_text("#sq-output-about")
    screenshot(page, "sequence-untrained-lstm-gates")

    count = runs_done(page)
    page.select_option("#sq-network", "digits-gru")
    wait_for_run_after(page, count)
    assert gate_parts(page) == GRU_PARTS
    assert page.locator("#sq-at-gates tbody tr").count() == 3
    assert not page.is_visible("#sq-hidden-field")
    # a digit network reads digits only, and says why
    assert page.is_checked("#sq-sources input[value='digit']")
    assert page.is_disabled("#sq-sources input[value='sine']")
    assert page.is_disabled("#sq-sources input[value='numbers']")
    assert "would mean nothing to it" in page.inner_text("#sq-source-why")
    screenshot(page, "sequence-digits-gru")

    count = runs_done(page)
    page.select_option("#sq-network", "digits-rnn")
    wait_for_run_after(page, count)
    assert gate_parts(page) == []
    assert not page.is_visible("#sq-at-gates")
    assert "has no gates" in page.inner_text("#sq-gates-about")


def test_url_round_trips_on_reload(page, server_url):
    open_sequence(page, "?network=untrained-gru")
    count = runs_done(page)
    page.fill("#sq-hidden", "24")
    page.dispatch_event("#sq-hidden", "input")
    for name, value in (("amplitude", "0.8"), ("frequency", "0.1"), ("length", "40")):
        page.fill(f"#sq-{name}", value)
        page.dispatch_event(f"#sq-{name}", "input")
    page.wait_for_function("document.querySelector('#sq-hidden-plot').data[0].z.length === 24 "
                           "&& document.querySelector('#sq-hidden-plot').data[0].z[0].length === 40")
    assert runs_done(page) > count
    page.focus("#sq-step")
    page.keyboard.press("Home")
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    wait_for_step(page, 7)
    page.wait_for_url(re.compile(r"network=untrained-gru&hidden=24&amplitude=0\.8&frequency=0\.1&length=40&step=7"))
    url = page.url

    page.reload()
    wait_for_run_after(page, 0, timeout=90_000)
    wait_for_step(page, 7)
    assert page.url == url
    assert page.input_value("#sq-network") == "untrained-gru"
    assert (page.input_value("#sq-hidden"), page.input_value("#sq-amplitude"), page.input_value("#sq-frequency"),
            page.input_value("#sq-length")) == ("24", "0.8", "0.1", "40")
    assert page.is_checked("#sq-sources input[value='sine']")
    assert plot_data(page, "#sq-hidden-plot").shape == (24, 40)
    wave = 0.8 * np.sin(2 * np.pi * 0.1 * np.arange(40))
    np.testing.assert_allclose(plot_data(page, "#sq-input-plot", field="y"), wave, **FLOAT16)
    assert highlighted_step(page, "#sq-hidden-plot") == 7
    assert gate_parts(page) == GRU_PARTS
    screenshot(page, "sequence-reloaded")

    # the same untrained cell reads a digit row by row: 28 steps of 28 pixels
    count = runs_done(page)
    page.check("#sq-sources input[value='digit']")
    wait_for_run_after(page, count)
    assert plot_data(page, "#sq-input-plot").shape == (28, 28)
    assert plot_data(page, "#sq-hidden-plot").shape == (24, 28)
    page.wait_for_url(re.compile(r"source=digit"))
    # Back returns to the sine wave
    count = runs_done(page)
    page.go_back()
    wait_for_run_after(page, count)
    assert page.is_checked("#sq-sources input[value='sine']")
    assert plot_data(page, "#sq-hidden-plot").shape == (24, 40)


def test_a_digit_network_refuses_other_inputs_and_says_why(page, server_url):
    open_sequence(page, "?network=digits-lstm&source=sine")
    assert page.locator("#link-notice").count() == 0  # a kind the page keeps across networks: said below
    assert page.is_checked("#sq-sources input[value='digit']")
    why = page.inner_text("#sq-source-why")
    assert why.startswith("It cannot read sine wave:") and "one row per step" in why
    assert page.is_visible("#sq-digit") and not page.is_visible("#sq-sine")
    # and the sine network refuses a digit
    count = runs_done(page)
    page.select_option("#sq-network", "sine-rnn")
    wait_for_run_after(page, count)
    assert page.is_disabled("#sq-sources input[value='digit']")
    assert "does not fit" in page.inner_text("#sq-source-why")
    assert page.is_visible("#sq-sine")


# ---- characters of a text ----------------------------------------------------------------------------------

ALPHABET = "abcdefghijklmnopqrstuvwxyz "


def one_hot(text: str) -> np.ndarray:
    """The [T, 27] one-hot encoding of `text` (a-z and space), written here independently of the page."""
    x = np.zeros((len(text), len(ALPHABET)), np.float32)
    for t, character in enumerate(text):
        x[t, ALPHABET.index(character)] = 1
    return x


def untrained_trace(cell: str, hidden: int, x: np.ndarray) -> dict:
    """The engine's own untrained cell (the same seeded weights as the page's) run on x [T, F]."""
    from engine.spec import network_from_spec

    spec = {"name": f"untrained-{cell.lower()}", "input_shape": list(x.shape),
            "layers": [{"kind": cell, "name": cell.lower(), "params": {"hidden_size": hidden}}]}
    return network_from_spec(spec).layers[0][1].trace(x[None])


def input_plot_height(page) -> float:
    """The height Plotly drew the input plot at (it measures its div once: a taller div needs a resize)."""
    return page.locator("#sq-input-plot .main-svg").first.bounding_box()["height"]


def choose_text(page, text: str) -> None:
    """Pick the text source and type `text`; returns once that text's run is drawn."""
    count = runs_done(page)
    page.check("#sq-sources input[value='text']")
    wait_for_run_after(page, count)  # the default text runs first
    count = runs_done(page)
    page.fill("#sq-text", text)
    wait_for_run_after(page, count)
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'done'")


def test_text_is_read_one_hot_character_by_character(page, server_url):
    open_sequence(page, "?network=untrained-lstm&hidden=6")
    choose_text(page, "Hi Bob")  # capitals are read as small letters
    page.wait_for_url(re.compile(r"source=text&text=Hi\+Bob"))
    x = one_hot("hi bob")

    # the input over time: 27 rows (a-z, space) by 6 steps, a single 1 per column, the characters as ticks
    shown = plot_data(page, "#sq-input-plot")
    assert shown.shape == (27, 6)
    np.testing.assert_array_equal(shown, x.T)
    figure = page.evaluate("(({ data, layout }) => ({ y: data[0].y, ticks: layout.xaxis.ticktext }))"
                           "(document.querySelector('#sq-input-plot'))")
    assert figure["y"] == list("abcdefghijklmnopqrstuvwxyz") + ["␣"]
    assert figure["ticks"] == ["h", "i", "␣", "b", "o", "b"]
    assert "a single 1" in page.inner_text("#sq-input-about") and "random" in page.inner_text("#sq-input-about")
    # the plot grew from the sine wave's height so that the 27 labelled rows fit
    assert input_plot_height(page) == pytest.approx(page.locator("#sq-input-plot").bounding_box()["height"], abs=2)
    assert input_plot_height(page) > 300

    # what the page sent is the one-hot matrix: the server computes the same hidden state for the page's own
    # request (the download link posts it) as the engine's seeded LSTM for x
    trace = untrained_trace("LSTM", 6, x)
    with page.expect_download() as download:
        page.click("#sq-download")
    sent = np.load(download.value.path(), allow_pickle=False)
    assert sent.shape == (1, 6, 6)
    np.testing.assert_allclose(sent, trace["hidden"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(plot_data(page, "#sq-hidden-plot"), trace["hidden"][0].T, **FLOAT16)
    for part in LSTM_PARTS:
        np.testing.assert_allclose(plot_data(page, f"#sq-gates figure[data-part='{part}'] .js-plotly-plot"),
                                   trace[part][0].T, **FLOAT16)
    # and it differs from another text's: the input matters
    assert not np.allclose(trace["hidden"], untrained_trace("LSTM", 6, one_hot("hi bib"))["hidden"], atol=1e-3)

    # the scrubber shows which character is being read
    page.focus("#sq-step")
    page.keyboard.press("Home")
    wait_for_step(page, 0)
    assert page.inner_text("#sq-at-input").startswith("Input: reading “h” (step 0)")
    assert page.inner_text("#sq-at-text mark") == "h"
    assert highlighted_step(page, "#sq-input-plot") == 0
    np.testing.assert_allclose(bar_values(page, "#sq-at-hidden"), trace["hidden"][0, 0], **FLOAT16)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    wait_for_step(page, 2)
    assert page.inner_text("#sq-at-input").startswith("Input: reading a space (step 2)")
    assert page.inner_text("#sq-at-text .sq-read") == "hi"
    assert page.inner_text("#sq-at-text .sq-unread") == "bob"
    assert highlighted_step(page, "#sq-input-plot") == 2
    assert page.is_hidden("#sq-at-row")
    # hovering the space's cell names the step and the character
    page.locator("#sq-input-plot").scroll_into_view_if_needed()
    plot = page.locator("#sq-input-plot .nsewdrag").first.bounding_box()
    page.mouse.move(plot["x"] + plot["width"] * (2.5 / 6), plot["y"] + plot["height"] * (26.5 / 27))
    page.wait_for_function("document.querySelector('#sq-input-plot .hoverlayer').textContent.includes('reads')")
    assert page.text_content("#sq-input-plot .hoverlayer") == "step 2 reads a spacerow ␣: 1"
    screenshot(page, "sequence-text-lstm")
    # a click on a column of the input plot picks that step
    page.locator("#sq-input-plot").scroll_into_view_if_needed()
    plot = page.locator("#sq-input-plot .nsewdrag").first.bounding_box()
    x, y = plot["x"] + plot["width"] * (4.5 / 6), plot["y"] + plot["height"] / 2
    # Plotly's click names the point its hover found: the pointer rests there first, as a person's does (a
    # click at once could still name step 2, hovered above)
    page.mouse.move(x, y)
    page.wait_for_function("document.querySelector('#sq-input-plot .hoverlayer').textContent.startsWith('step 4')")
    page.mouse.click(x, y)
    wait_for_step(page, 4)
    assert page.inner_text("#sq-at-input").startswith("Input: reading “o” (step 4)")


def test_text_round_trips_in_the_url(page, server_url):
    open_sequence(page, "?network=untrained-gru&hidden=8")
    choose_text(page, "round trip")
    page.focus("#sq-step")
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    wait_for_step(page, 1)
    page.wait_for_url(re.compile(r"network=untrained-gru&hidden=8&source=text&text=round\+trip&step=1"))
    url = page.url

    page.reload()
    wait_for_run_after(page, 0, timeout=90_000)
    wait_for_step(page, 1)
    assert page.url == url
    assert page.is_checked("#sq-sources input[value='text']")
    assert page.is_visible("#sq-text") and page.input_value("#sq-text") == "round trip"
    np.testing.assert_array_equal(plot_data(page, "#sq-input-plot"), one_hot("round trip").T)
    trace = untrained_trace("GRU", 8, one_hot("round trip"))
    np.testing.assert_allclose(plot_data(page, "#sq-hidden-plot"), trace["hidden"][0].T, **FLOAT16)
    assert page.inner_text("#sq-at-input").startswith("Input: reading “o” (step 1)")
    assert gate_parts(page) == GRU_PARTS

    # a link straight to a text works too, and the same cell reads numbers after it
    page.goto("/sequence?network=untrained-rnn&source=text&text=abc")
    wait_for_run_after(page, 0, timeout=90_000)
    np.testing.assert_array_equal(plot_data(page, "#sq-input-plot"), one_hot("abc").T)
    count = runs_done(page)
    page.check("#sq-sources input[value='numbers']")
    wait_for_run_after(page, count)
    assert page.evaluate("document.querySelector('#sq-input-plot').data[0].type") == "scatter"
    assert input_plot_height(page) < 250  # back to the height of a line plot
    assert page.is_hidden("#sq-text") and page.is_hidden("#sq-at-text")


def test_a_bad_character_shows_an_error_next_to_the_field_and_does_not_run(page, server_url):
    open_sequence(page, "?network=untrained-lstm")
    choose_text(page, "ok")
    before = plot_data(page, "#sq-input-plot")
    count = runs_done(page)

    page.fill("#sq-text", "naïve")
    error = page.locator("#sq-text-error")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("“ï” (step 2) is not one of the letters a–z or a space")
    assert page.get_attribute("#sq-text", "aria-invalid") == "true"
    assert page.get_attribute(VIEW, "data-run-state") == "error"
    assert "sq-stale" in page.get_attribute(VIEW, "class")  # the last good plots stay, dimmed
    assert page.inner_text("#sq-run-error") == ""  # the message is next to the field, not elsewhere
    assert input_plot_height(page) > 300
    # the error sits right under the field
    field, message = page.locator("#sq-text").bounding_box(), error.bounding_box()
    assert 0 <= message["y"] - (field["y"] + field["height"]) < 16
    screenshot(page, "sequence-text-error")

    page.fill("#sq-text", "tab\there")
    page.wait_for_function("document.querySelector('#sq-text-error').textContent.includes('U+0009')")
    page.fill("#sq-text", "")
    page.wait_for_function("document.querySelector('#sq-text-error').textContent.startsWith('Type at least 1')")
    page.fill("#sq-text", "a" * 257)
    page.wait_for_function("document.querySelector('#sq-text-error').textContent.startsWith('At most 256')")
    assert "you typed 257" in error.inner_text()
    page.wait_for_timeout(500)
    assert runs_done(page) == count  # nothing ran
    np.testing.assert_array_equal(plot_data(page, "#sq-input-plot"), before)

    page.fill("#sq-text", "a" * 256)  # the longest text allowed
    wait_for_run_after(page, count)
    assert page.inner_text("#sq-text-error") == ""
    assert page.get_attribute("#sq-text", "aria-invalid") is None
    assert "sq-stale" not in page.get_attribute(VIEW, "class")
    assert plot_data(page, "#sq-input-plot").shape == (27, 256)


def test_built_in_networks_do_not_offer_text(page, server_url):
    open_sequence(page, "?network=digits-gru&source=text")
    assert page.is_checked("#sq-sources input[value='digit']")
    assert page.is_disabled("#sq-sources input[value='text']")
    why = page.inner_text("#sq-source-why")
    assert why.startswith("It cannot read characters of a text:") and "or a text would mean nothing" in why
    assert page.is_visible("#sq-digit") and page.is_hidden("#sq-text")
    assert plot_data(page, "#sq-input-plot").shape == (28, 28)
    label = page.locator("#sq-sources label", has=page.locator("input[value='text']"))
    assert "trained on handwritten digits" in label.get_attribute("title")
    screenshot(page, "sequence-text-refused")

    count = runs_done(page)
    page.select_option("#sq-network", "sine-rnn")
    wait_for_run_after(page, count)
    assert page.is_disabled("#sq-sources input[value='text']")
    assert "or a text, which gives 27, does not fit" in page.inner_text("#sq-source-why")
    # an untrained cell offers it
    count = runs_done(page)
    page.select_option("#sq-network", "untrained-gru")
    wait_for_run_after(page, count)
    assert page.is_enabled("#sq-sources input[value='text']")


def test_text_helpers_in_the_page(page, server_url):
    page.goto("/sequence?network=untrained-rnn")
    result = page.evaluate("""async () => {
      const m = await import("/static/js/sequence-inputs.js");
      const made = await m.requestInput(null, { source: "text", text: "Ab z" }, null);
      let refused = null;
      try { await m.requestInput(null, { source: "text", text: "a1" }, null); } catch (problem) { refused = problem; }
      const choices = m.networkChoices([]);
      return {
        alphabet: m.ALPHABET, parsed: m.parseText("Hello World"), accent: m.parseText("café"),
        digit: m.parseText("r2d2"), empty: m.parseText(""), long: m.parseText("x".repeat(257)),
        longest: m.parseText("x".repeat(256)).characters.length, spaces: m.parseText("  "),
        emoji: m.parseText("hi 😀"), newline: m.parseText("a\\nb"),
        oneHot: Array.from(m.oneHot(["b", " ", "a"])), shape: made.input.array.shape,
        data: Array.from(new Float32Array(Uint8Array.from(atob(made.input.array.data), (c) => c.charCodeAt(0)).buffer)),
        characters: made.characters, next: made.next, refused,
        untrained: choices.map((c) => c.sources.includes("text")),
        huge: m.parseNumbers("1e400, 2"), largest: Array.from(m.parseNumbers("3e38, -3e38").values),
      };
    }""")
    assert result["alphabet"] == ALPHABET and len(result["alphabet"]) == 27
    assert result["parsed"] == {"characters": list("hello world")}
    assert result["accent"]["error"].startswith("“é” (step 3) is not one of the letters a–z or a space.")
    assert result["digit"]["error"].startswith("“2” (step 1) is not one")
    assert result["empty"]["error"] == "Type at least 1 character: letters a–z and spaces."
    assert result["long"]["error"] == "At most 256 characters, please: you typed 257."
    assert result["longest"] == 256
    assert result["huge"]["error"].startswith("“1e400” is too large: numbers here are float32")
    np.testing.assert_allclose(result["largest"], [3e38, -3e38], rtol=1e-6)
    assert result["spaces"] == {"characters": [" ", " "]}
    assert result["emoji"]["error"].startswith("“😀” (step 3) is not")
    assert result["newline"]["error"].startswith("the invisible character U+000A (step 1) is not")
    np.testing.assert_array_equal(np.array(result["oneHot"]).reshape(3, 27), one_hot("b a"))
    assert result["shape"] == [4, 27]
    np.testing.assert_array_equal(np.array(result["data"]).reshape(4, 27), one_hot("ab z"))
    assert result["characters"] == list("ab z") and result["next"] is None
    assert result["refused"] == {"field": "text", "message": result["refused"]["message"]}
    assert result["refused"]["message"].startswith("“1” (step 1)")
    assert result["untrained"] == [True, True, True]


def test_an_unknown_input_kind_in_the_link_is_named(page):
    open_sequence(page, "?source=bogus")
    assert page.locator("#link-notice li").all_inner_texts() == [
        "source=bogus: not an input kind; the kinds are sine, numbers, text, digit."]
    page.wait_for_function("!new URLSearchParams(location.search).has('source')")  # named, then dropped from the link


def test_a_link_to_an_expired_upload_is_named_and_the_default_digit_read(page):
    page.allowed_errors.append(r"Failed to load resource.*404")  # the page asking whether the upload is there
    open_sequence(page, "?input=upload%3Anot-an-id%3A28x28")
    assert page.locator("#link-notice li").all_inner_texts() == [f"input=upload:not-an-id:28x28: {UPLOAD_GONE}"]
    assert page.text_content(".ip-error") == ""
    page.wait_for_function("!location.search.includes('not-an-id')")


def test_a_centred_digit_is_read_by_the_digit_reader(page):
    open_sequence(page, "?network=digits-lstm")
    count = runs_done(page)
    page.check("#sq-digit .ip-centre")
    wait_for_run_after(page, count)
    page.wait_for_url(re.compile(r"%2Bcentred"))
    assert re.fullmatch(r"After all 28 rows it reads 3 \(probability 0\.\d+\)\.", page.inner_text("#sq-answer"))
    assert page.inner_text("#sq-digit .ip-error") == ""


def test_what_the_page_scrolls_into_view_lands_below_the_sticky_scrubber(page):
    open_sequence(page)
    page.set_viewport_size({"width": 1280, "height": 720})
    for target in ("#sq-gates", ".sq-explain h2"):
        page.evaluate("window.scrollTo(0, 0)")
        page.eval_on_selector(target, "(element) => element.scrollIntoView()")
        page.wait_for_timeout(100)
        scrubber = page.eval_on_selector(".sq-scrubber", "(bar) => bar.getBoundingClientRect().bottom")
        top = page.eval_on_selector(target, "(element) => element.getBoundingClientRect().top")
        assert top >= scrubber, f"{target} scrolled to y={top}, under the scrubber that ends at y={scrubber}"


def test_another_network_opens_at_its_last_step(page):
    open_sequence(page, "?network=digits-gru&step=5")
    count = runs_done(page)
    page.select_option("#sq-network", "sine-rnn")
    wait_for_run_after(page, count)
    wait_for_step(page, 63)  # the sine wave's 64 steps, not step 5 of them
    page.wait_for_function("!new URLSearchParams(location.search).has('step')")


def test_sliders_keep_their_names_and_only_the_end_of_a_run_is_announced(page):
    open_sequence(page, "?network=sine-rnn")
    # each slider is named by its label alone: its value sits beside the label, not in it (browsers differ on an
    # <output> inside a label: some read the value as part of the name, Chromium left "Length T: steps")
    assert page.locator(".sq-controls label output").count() == 0
    for name in ("Amplitude A:", "Frequency f:", "Length T:", "Hidden units H:"):
        assert page.get_by_role("slider", name=name, exact=True, include_hidden=True).count() == 1, name
    assert page.inner_text("#sq-frequency-value").startswith("0.050 cycles per step")

    watch_announcements(page)
    count = runs_done(page)
    page.get_by_role("slider", name="Frequency f:", exact=True).focus()
    for _ in range(2):  # 0.05 -> 0.06 cycles per step: a run each
        page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(r"frequency=0\.06"))
    page.wait_for_function(f"document.querySelector('{VIEW}').dataset.runState === 'done'")
    wait_for_run_after(page, count)
    assert page.inner_text("#sq-frequency-value").startswith("0.060 cycles per step")
    assert page.get_by_role("slider", name="Frequency f:", exact=True).count() == 1  # the same name at a new value
    # at most one sentence per run, when it is done (before: "Computing…", the progress line and the answer)
    spoken = announcements(page)
    assert 1 <= len(spoken) <= 2, spoken
    for line in spoken:
        assert re.fullmatch(r"sq-run-said: Done: 64 steps through the \w+\. Its guesses are off by \S+ on average "
                            r"\(over 64 steps\)\. From step 8 on, their mean squared error is \S+, against 1\.17e-4 "
                            r"on the held-out signals of its training card\.", line), line
    for selector in ("#sq-progress", "#sq-answer"):
        assert not page.evaluate(IN_LIVE_REGION, selector), selector


def test_a_link_value_that_does_not_parse_is_named_and_the_default_used(page):
    open_sequence(page, "?hidden=many&length=1000&network=no-such-net&input=seven")
    items = page.locator("#link-notice li").all_inner_texts()
    assert items[0] == "hidden=many: not a number."
    assert items[1].startswith("input=seven: not an input; inputs are sample:NAME, ")
    assert items[2].startswith("network=no-such-net: not a network here; there are digits-lstm, ")
    assert len(items) == 3  # the digit network reads no sine wave, so its length is not named
    page.wait_for_function("!location.search.includes('no-such-net')")  # the page's link names what it shows
    open_sequence(page, "?network=sine-rnn&length=1000")
    assert page.locator("#link-notice li").all_inner_texts() == ["length=1000: held to 256 (from 4 to 256)."]
    open_sequence(page, "?length=64")
    assert page.locator("#link-notice").count() == 0
    # the step is checked once the run says how many steps there are (a digit: 28), and held to the last
    open_sequence(page, "?step=100")
    assert page.locator("#link-notice li").all_inner_texts() == ["step=100: held to 27 (the steps are 0 to 27)."]
    assert page.input_value("#sq-step") == "27"
    page.wait_for_function("new URLSearchParams(location.search).get('step') === '27'")
    open_sequence(page, "?step=5")
    assert page.locator("#link-notice").count() == 0 and page.input_value("#sq-step") == "5"
    # the step's entry joins what the notice said on opening (the unknown network, replaced by then)
    open_sequence(page, "?network=no-such-net&step=100")
    items = page.locator("#link-notice li").all_inner_texts()
    assert [item.split("=")[0] for item in items] == ["network", "step"]


def test_a_link_naming_an_input_the_digit_readers_lack_says_so_and_reads_the_default_digit(page):
    # a photo is no digit sample here, and the page draws no patterns: each gives the default 3
    for query, reason in [
        ("sample:camera", "no sample of that name here; there are digit-0, digit-1, digit-2, digit-3, digit-4 and 15 "
                          "more in the Sample list."),
        ("pattern:stripes", "not an input taken here (sample, draw, upload)."),
    ]:
        open_sequence(page, f"?network=digits-lstm&input={query}")
        assert page.locator("#link-notice li").all_inner_texts() == [f"input={query}: {reason}"]
        assert page.input_value(".ip-sample") == "mnist-3"
        assert page.locator("#sq-digit .ip-pane[data-kind='sample']").is_visible()
        page.wait_for_function("!new URLSearchParams(location.search).has('input')")


def test_the_step_slider_and_the_download_say_what_the_screen_says(page):
    open_sequence(page, "?network=sine-rnn")
    page.focus("#sq-step")
    page.keyboard.press("End")
    page.wait_for_function("document.getElementById('sq-step-text').textContent === 'step 63 (of 0–63)'")
    assert page.get_attribute("#sq-step", "aria-valuetext") == "step 63 of 0 to 63"  # not "of 64": no step 64
    assert page.get_by_role("button", name="download .npy of the hidden state at every step").count() == 1


def test_a_focused_plot_says_the_new_runs_value_once_it_is_drawn(page, server_url):
    # the GRU's run, then the LSTM's: one history entry each
    open_sequence(page, "?network=digits-gru")
    count = runs_done(page)
    page.select_option("#sq-network", "digits-lstm")
    wait_for_run_after(page, count)
    gru = server_layer(server_url, {"network": "digits-gru", "input": {"sample": "mnist-3"}}, 0)[0]
    lstm = server_layer(server_url, {"network": "digits-lstm", "input": {"sample": "mnist-3"}}, 0)[0]
    assert not reads_as(f"{lstm[12, 4]:.4g}", gru[12, 4])  # the two runs say different things there

    plot = "#sq-hidden-plot"
    page.focus(plot)
    for key in ["ArrowRight"] * 12 + ["ArrowDown"] * 4:
        page.keyboard.press(key)
    step, unit, value = plot_read(page, plot, rf"step (\d+), unit (\d+): h<sub>12</sub> {NUMBER}")
    assert (step, unit) == ("12", "4") and reads_as(value, lstm[12, 4])

    # Back draws the GRU's run while the keys are still on the plot: the readout and the hover label say its value
    count = runs_done(page)
    page.go_back()
    wait_for_run_after(page, count)
    assert page.evaluate("document.activeElement.id") == "sq-hidden-plot"
    step, unit, value = plot_read(page, plot, rf"step (\d+), unit (\d+): h<sub>12</sub> {NUMBER}")
    assert (step, unit) == ("12", "4") and reads_as(value, gru[12, 4])
    wait_for_hover(page, plot, "step 12, unit 4")
    assert reads_as(hover_lines(page, plot)[1].split()[-1], gru[12, 4])


def caption_tops(page) -> list[float]:
    """Where the gates' captions are on the page (not in the window: it scrolls to what has the focus)."""
    return page.eval_on_selector_all("#sq-gates figcaption", "(captions) => captions.map((caption) => "
                                                             "caption.getBoundingClientRect().top + scrollY)")


@pytest.mark.parametrize("presenter", [False, True], ids=["laptop", "presenter"])
def test_reading_a_gate_map_with_the_keys_moves_nothing_under_it(page, presenter):
    # five small maps side by side: their readout, a step, a unit, the gate's name and its value, takes two lines
    page.set_viewport_size({"width": 1366, "height": 768})
    open_sequence(page, "?network=digits-lstm")
    if presenter:
        page.click("#presenter-toggle")
        page.wait_for_function("document.body.classList.contains('presenter')")
    page.locator("#sq-gates").scroll_into_view_if_needed()
    before = caption_tops(page)
    for part in LSTM_PARTS:
        plot = f"#sq-gates figure[data-part='{part}'] .js-plotly-plot"
        page.focus(plot)
        for key in ["End"] + ["ArrowDown"] * 11:  # the last step, unit 11: the longest words it says
            page.keyboard.press(key)
        readout = f"{plot} + .sq-plot-readout"
        step, unit, _ = plot_read(page, plot, rf"step (\d+), unit (\d+): [a-z ]+ {NUMBER}")
        assert (step, unit) == ("27", "11")
        assert caption_tops(page) == before, part
        # the words fit in the lines kept for them, within the map's width
        fits = page.eval_on_selector(readout, """(line) => {
          const box = line.getBoundingClientRect();
          const range = document.createRange();
          range.selectNodeContents(line);
          return [...range.getClientRects()].every((r) => r.bottom <= box.bottom + 0.5 && r.right <= box.right + 0.5);
        }""")
        assert fits, part
    page.focus("#sq-step")
    assert caption_tops(page) == before


STICKING_OUT = """() => {
  // each character seen in a panel outside its paragraph (text wraps within it), or outside the panel's border box
  // where it is in no paragraph (plots are Plotly's, with their own clipping)
  const out = [];
  const range = document.createRange();
  for (const panel of document.querySelectorAll("#sequence-view .panel")) {
    const walker = document.createTreeWalker(panel, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!parent.checkVisibility() || parent.closest(".js-plotly-plot, .visually-hidden")) continue;
      const box = (parent.closest("p") ?? panel).getBoundingClientRect();
      for (let i = 0; i < node.length; i++) {
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        for (const r of range.getClientRects()) {
          const by = Math.max(r.right - box.right, box.left - r.left);
          const name = parent.id || parent.className;
          if (r.width && by > 0.5) out.push(`${name}: ${JSON.stringify(node.data[i])} by ${by}`);
        }
      }
    }
  }
  return out;
}"""


@pytest.mark.parametrize("width, presenter", [(1366, False), (1024, True), (390, True)],
                         ids=["laptop", "presenter-1024", "presenter-phone"])
def test_nothing_sticks_out_of_its_panel(page, width, presenter):
    # the layer's formula wraps at its spaces: a space at the end of a line must not hang past the panel
    page.set_viewport_size({"width": width, "height": 768})
    page.goto("/sequence?network=digits-lstm")
    if presenter:
        page.click("#presenter-toggle")
    wait_for_run_after(page, 0, timeout=90_000)
    page.wait_for_function("document.querySelector('#sq-layer-formula').textContent.includes('h_t')")
    assert page.evaluate(STICKING_OUT) == []


@pytest.mark.parametrize("width, presenter", [(1024, True), (390, False)], ids=["presenter-1024", "phone"])
def test_the_gate_strips_at_a_step_keep_a_pixel_per_unit_in_a_narrow_card(page, width, presenter):
    # with presenter mode's type on a 1024-pixel projector the gates' names and means left their strips 4 pixels
    page.set_viewport_size({"width": width, "height": 768})
    page.goto("/sequence?network=digits-lstm")
    if presenter:
        page.click("#presenter-toggle")
    wait_for_run_after(page, 0, timeout=90_000)
    card = page.locator(".sq-at").bounding_box()
    strips = page.eval_on_selector_all("#sq-at-gates canvas", "(strips) => strips.map((strip) => "
                                                              "strip.getBoundingClientRect().toJSON())")
    assert len(strips) == len(LSTM_PARTS)
    for strip in strips:
        assert strip["width"] >= DIGIT_READER_HIDDEN, strip
        assert card["x"] <= strip["left"] and strip["right"] <= card["x"] + card["width"], strip
    names = page.eval_on_selector_all("#sq-at-gates td:first-child", "(cells) => cells.map((c) => c.textContent)")
    means = page.eval_on_selector_all("#sq-at-gates td:last-child", "(cells) => cells.map((c) => c.textContent)")
    assert names[1] == "forget gate f" and all(re.fullmatch(rf"mean {NUMBER}", mean) for mean in means), means


def test_a_step_button_pressed_to_the_end_hands_the_keyboard_to_the_step_slider(page):
    """Previous at step 1 (or Next at the last step but one) turns itself off; the keyboard goes on from the step
    slider, which says the step, not from the top of the page."""
    open_sequence(page)
    page.focus("#sq-step")
    # (end key, a step back from it, the step there, the button that reaches the end, its key, the end step)
    for end, back, before, button, key, last in (("Home", "ArrowRight", 1, "#sq-prev", "Enter", 0),
                                                  ("End", "ArrowLeft", 26, "#sq-next", "Space", 27)):
        page.keyboard.press(end)
        page.keyboard.press(back)
        wait_for_step(page, before)
        page.focus(button)
        page.keyboard.press(key)
        wait_for_step(page, last)
        assert page.is_disabled(button)
        assert page.evaluate("document.activeElement.id") == "sq-step"
