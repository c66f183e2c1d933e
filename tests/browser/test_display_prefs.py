"""The pages under a reader's own display settings: a larger default font size, 400% zoom (a 320-pixel-wide window,
WCAG's reflow), Windows' high contrast (forced colours) and dark and reduced-motion preferences."""

from __future__ import annotations

import pytest

from tests.browser.test_presenter import CUT_SELECTS, present
from tests.browser.test_widths import AUTOENCODER, LAB, LAYERS, NETWORK, PLOTS_FITTED, SEQUENCE, STICKING_OUT

PAGES = {"lab": ("/", LAB), "network": ("/network", NETWORK), "sequence": ("/sequence", SEQUENCE),
         "autoencoder": ("/autoencoder", AUTOENCODER), "layers": ("/layers", LAYERS)}

ROOT_SIZE = "getComputedStyle(document.documentElement).fontSize"
BODY_SIZE = "getComputedStyle(document.body).fontSize"

# WCAG's contrast ratio of an element's text colour against the nearest background behind it that is not transparent
CONTRAST = """(el) => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lin = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  const lum = ([r, g, b]) => 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  let back = el;
  while (back.parentElement && rgb(getComputedStyle(back).backgroundColor)[3] === 0) back = back.parentElement;
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(rgb(getComputedStyle(back).backgroundColor))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def set_default_font_size(page, pixels: int) -> None:
    """The browser's default font size, as a reader sets it in the settings (16 px unless changed). A full-page
    screenshot resets it: measure before taking one."""
    session = page.context.new_cdp_session(page)
    session.send("Page.enable")
    session.send("Page.setFontSizes", {"fontSizes": {"standard": pixels, "fixed": pixels - 3}})


def open_page(page, name: str, query: str = "") -> None:
    path, drawn = PAGES[name]
    page.goto(path + query)
    page.wait_for_function(drawn, timeout=90_000)  # the sequence view's first run loads MNIST: slow on a busy machine


def background(page, selector: str) -> str:
    return page.eval_on_selector(selector, "(el) => getComputedStyle(el).backgroundColor")


def panel_background(page, selector: str) -> str:
    """The background of the panel that the element is in."""
    return page.eval_on_selector(selector, "(el) => getComputedStyle(el.closest('.panel')).backgroundColor")


# -- a larger default font size --

def test_type_follows_the_readers_default_font_size(new_page):
    page = new_page()
    open_page(page, "layers")
    assert (page.evaluate(ROOT_SIZE), page.evaluate(BODY_SIZE)) == ("15px", "15px")  # at the usual 16 px
    present(page)
    assert page.evaluate(BODY_SIZE) == "20px"

    page = new_page()
    set_default_font_size(page, 24)
    open_page(page, "layers")
    # 15 and 20 px were fixed sizes: a reader's larger default changed nothing
    assert page.evaluate(ROOT_SIZE) == "22.5px"
    present(page)
    assert page.evaluate(BODY_SIZE) == "30px"


def test_the_networks_colour_scales_keep_their_numbers_apart_in_large_type(new_page):
    """Presenter mode at a default font size of 24 px: each layer's legend read "-2.46302.463" for -2.463, 0, 2.463."""
    page = new_page(viewport={"width": 1366, "height": 768})
    set_default_font_size(page, 24)
    open_page(page, "network")
    present(page)
    gaps = page.evaluate("""[...document.querySelectorAll('.nv-layer .colour-legend-labels')].map((labels) => {
      const boxes = [...labels.children].map((label) => label.getBoundingClientRect());
      const legend = labels.parentElement.getBoundingClientRect();
      // the space between neighbouring numbers, and the room left after the last one (less than 0: past the legend)
      return Math.min(...boxes.slice(1).map((box, i) => box.left - boxes[i].right), legend.right - boxes.at(-1).right + 4);
    })""")
    assert len(gaps) >= 9 and min(gaps) >= 4, gaps


# the label texts that run into a form control beside them (a name wider than its fixed column ran under its slider)
TEXT_UNDER_CONTROLS = """(root) => {
  const controls = [...root.querySelectorAll('input:not([type="checkbox"]):not([type="radio"]), select, textarea')]
    .filter((control) => control.getClientRects().length).map((control) => [control, control.getBoundingClientRect()]);
  const labels = [...root.querySelectorAll('label, .param-name')].filter((label) => label.getClientRects().length);
  return labels.flatMap((label) => {
    const range = document.createRange();
    range.selectNodeContents(label);
    return [...range.getClientRects()].filter((text) => controls.some(([control, box]) => !label.contains(control)
      && Math.min(text.right, box.right) - Math.max(text.left, box.left) > 1
      && Math.min(text.bottom, box.bottom) - Math.max(text.top, box.top) > 1)).map(() => label.textContent.trim());
  });
}"""

# each tick label of the plot printed over one of its axis titles (more than the 2 or 3 pixels by which the boxes of
# neighbouring lines of text overlap)
TICKS_ON_TITLES = """(plot) => {
  const titles = [...plot.querySelectorAll('.xtitle, .ytitle')].map((title) => title.getBoundingClientRect());
  return [...plot.querySelectorAll('.xtick text, .ytick text')].filter((tick) => {
    const box = tick.getBoundingClientRect();
    return titles.some((title) => Math.min(box.right, title.right) - Math.max(box.left, title.left) > 4
      && Math.min(box.bottom, title.bottom) - Math.max(box.top, title.top) > 4);
  }).map((tick) => tick.textContent);
}"""

PLOT_FONTS = "[...document.querySelectorAll('.js-plotly-plot')].map((plot) => plot._fullLayout.font.size)"


def width(page, selector: str) -> float:
    return page.eval_on_selector(selector, "(el) => el.getBoundingClientRect().width")


@pytest.mark.parametrize("pixels", [20, 24])
def test_the_layer_labs_settings_keep_their_names_clear_of_their_controls_in_large_type(new_page, pixels):
    """Presenter mode at a default of 20 or 24 px on a 1280x720 projector: "out channels", "padding mode" and
    "channels" ran under their sliders and drop-downs (a fixed 84-pixel column of names in a fixed 340-pixel side
    bar)."""
    page = new_page()
    set_default_font_size(page, pixels)
    open_page(page, "lab")
    present(page)
    assert page.eval_on_selector(".lab-side", TEXT_UNDER_CONTROLS) == []


@pytest.mark.parametrize("name", ["lab", "sequence", "autoencoder", "network"])
@pytest.mark.parametrize("pixels", [20, 24])
def test_the_side_bars_show_the_chosen_options_whole_in_large_type(new_page, name, pixels):
    """Presenter mode at a default of 20 or 24 px on a 1280x720 projector: the side bars stayed 340 pixels wide
    while their type grew, cutting "Cameraman, 512×51…" and "MNIST 3 (held out), 2…"; the code's names "c10" to
    "c15" ran under their sliders."""
    page = new_page()
    set_default_font_size(page, pixels)
    open_page(page, name)
    present(page)
    page.wait_for_timeout(300)  # maps laid out again after the type changed (ResizeObserver, then a frame)
    assert page.evaluate(CUT_SELECTS) == []
    assert page.eval_on_selector("main", TEXT_UNDER_CONTROLS) == []
    assert page.evaluate("document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")


def test_columns_grow_with_the_readers_type_and_keep_their_size_at_the_usual_default(new_page):
    """The columns that hold text are as wide as before at the usual 16 px (300 and 340 pixels, 84 for the names of
    settings) and in proportion above it; on a wide screen the page keeps its two columns."""
    page = new_page(viewport={"width": 1920, "height": 1080})
    open_page(page, "lab")
    assert (width(page, ".lab-side"), width(page, ".param-name")) == (300, 84)
    present(page)
    assert width(page, ".lab-side") == 340

    page = new_page(viewport={"width": 1920, "height": 1080})
    set_default_font_size(page, 24)
    open_page(page, "lab")
    assert (width(page, ".lab-side"), width(page, ".param-name")) == (450, 126)
    present(page)
    assert width(page, ".lab-side") == 510


def test_plot_text_follows_the_readers_default_font_size(new_page):
    """Plotly's text was 12 px (16 in presenter mode) whatever the reader's default font size: at 24 px the page's
    type grew by half and the plots' stayed as small."""
    page = new_page()
    open_page(page, "sequence")
    assert set(page.evaluate(PLOT_FONTS)) == {12}

    page = new_page()
    set_default_font_size(page, 24)
    open_page(page, "sequence")
    assert set(page.evaluate(PLOT_FONTS)) == {18}
    # the margins grow with the text, so that tick labels and axis titles keep clear of each other
    assert page.evaluate("document.querySelector('#sq-input-plot')._fullLayout.margin.l") == 72
    present(page)
    page.wait_for_function(f"{PLOT_FONTS}.every((size) => size === 24)")


def test_an_output_without_kernels_goes_below_its_input_where_it_would_be_narrow(new_page):
    """Presenter mode at a default of 24 px on a 1366x768 screen: an LSTM's output heatmap was squeezed into a third
    of the main area beside its input, its time ticks turned on end and printed over the axis title."""
    page = new_page(viewport={"width": 1366, "height": 768})
    set_default_font_size(page, 24)
    open_page(page, "lab", "?kind=LSTM")
    present(page)
    page.wait_for_function("document.querySelector('#lab-output-view .lab-plot')?._fullLayout?.font.size === 24")
    page.wait_for_function(PLOTS_FITTED)
    below = page.evaluate("""document.querySelector('#lab-output-panel').getBoundingClientRect().top >=
      document.querySelector('#lab-input-panel').getBoundingClientRect().bottom""")
    assert below
    assert page.eval_on_selector("#lab-output-view .lab-plot", TICKS_ON_TITLES) == []


# -- 400% zoom on a 1280-pixel screen: a 320-pixel window --

@pytest.mark.parametrize("name", ["lab", "network", "sequence", "autoencoder", "layers"])
def test_a_page_reflows_into_a_320_pixel_window(new_page, name):
    page = new_page(viewport={"width": 320, "height": 256}, device_scale_factor=4)
    open_page(page, name)
    page.wait_for_timeout(300)  # maps laid out again after a resize (ResizeObserver, then a frame)
    width, window = page.evaluate("[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]")
    # the cortex figure keeps its lettering readable and scrolls sideways in its own box, saying so
    sticking_out = [text for text in page.evaluate(STICKING_OUT) if not text.startswith("#cortex-view svg ")]
    assert (width, sticking_out) == (window, [])


# -- Windows' high contrast --

def test_the_networks_states_and_bars_show_in_forced_colours(new_page):
    page = new_page(forced_colors="active")
    open_page(page, "network", "?layer=3&map=0")
    assert background(page, "header nav a[aria-current='page']") != background(page, "header nav a:not([aria-current])")
    tab = ".nv-controls .ip-tab:has(input{})"
    assert background(page, tab.format(":checked")) != background(page, tab.format(":not(:checked)"))
    # the class scores' bars: forced to the page's background, they vanished
    assert background(page, ".score-bar .score-fill") != panel_background(page, ".score-bar")
    assert page.eval_on_selector(".nv-layer .colour-legend-bar", "(bar) => getComputedStyle(bar).backgroundImage") \
        .startswith("linear-gradient")
    # only the open map is framed (every map had the same frame)
    border = "(map) => getComputedStyle(map).borderTopColor"
    open_map = page.eval_on_selector(".feature-grid button.map[aria-pressed='true']", border)
    other = page.eval_on_selector(".feature-grid button.map[aria-pressed='false']", border)
    assert open_map != other
    present(page)
    assert background(page, "#presenter-toggle") != background(page, "#live-toggle")


def test_the_sequences_states_and_bars_show_in_forced_colours(new_page):
    page = new_page(forced_colors="active")
    open_page(page, "sequence", "?network=untrained-gru&hidden=4&source=text&text=hi+bob&step=2")
    source = ".sq-source:has(input:not(:disabled){})"
    assert background(page, source.format(":checked")) != background(page, source.format(":not(:checked)"))
    assert background(page, "#sq-at-text mark") != background(page, "#sq-at-text")  # the character read now
    page.wait_for_selector(".sq-bar")
    assert background(page, ".sq-bar") != panel_background(page, ".sq-bar")


def test_the_labs_chosen_tab_and_filter_show_in_forced_colours(new_page):
    page = new_page(forced_colors="active")
    open_page(page, "lab")
    assert background(page, ".ke-filter[aria-selected='true']") != background(page, ".ke-filter[aria-selected='false']")
    assert background(page, ".ip-tab:has(input:checked)") != background(page, ".ip-tab:has(input:not(:checked))")


def test_the_autoencoders_code_sliders_keep_their_marks_in_forced_colours(new_page):
    page = new_page(forced_colors="active")
    open_page(page, "autoencoder")
    # the encoded value's mark stays a triangle (forced, its transparent sides turned it into a box)
    sides = page.eval_on_selector(".ae-tick", "(tick) => getComputedStyle(tick).borderLeftColor")
    assert sides == "rgba(0, 0, 0, 0)"
    track = page.eval_on_selector(".ae-track input",
                                  "(input) => getComputedStyle(input, '::-webkit-slider-runnable-track').backgroundColor")
    assert track != panel_background(page, ".ae-track")


# -- contrast and colour scheme --

def test_the_characters_still_to_come_are_readable(page):
    open_page(page, "sequence", "?network=untrained-gru&hidden=4&source=text&text=hi+bob&step=2")
    assert page.inner_text("#sq-at-text .sq-unread") == "bob"
    assert page.eval_on_selector("#sq-at-text .sq-unread", CONTRAST) >= 4.5
