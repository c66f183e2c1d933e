"""The pages under a reader's own display settings: a larger default font size, 400% zoom (a 320-pixel-wide window,
WCAG's reflow), Windows' high contrast (forced colours) and dark and reduced-motion preferences."""

from __future__ import annotations

import pytest

from tests.browser.test_presenter import present
from tests.browser.test_widths import AUTOENCODER, LAB, LAYERS, NETWORK, SEQUENCE, STICKING_OUT

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
