"""Every page on a phone (390x844, a touch screen): one column that fits the screen, a live panel that fits
and closes, and a tap where a mouse would hover."""

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import screenshot
from tests.browser.test_lab import open_lab
from tests.browser.test_live import start_session
from tests.browser.test_widths import AUTOENCODER, LAB, LAYERS, NETWORK, PLOTS_FITTED, SEQUENCE

PAGES = ["/", "/network", "/sequence", "/autoencoder", "/layers"]


@pytest.mark.parametrize("path", PAGES)
def test_a_page_fits_a_phone_without_sideways_scrolling(phone, path):
    phone.goto(path)
    phone.wait_for_load_state("networkidle")
    phone.wait_for_timeout(500)  # the first run's maps and plots are drawn
    # on a busy machine a layout may still settle (a resize observer's pass): give it a few seconds to fit
    fits = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    try:
        phone.wait_for_function(fits, timeout=5_000)
    except PlaywrightTimeoutError:
        pass  # the assertion below says by how much it does not fit
    widths = phone.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"{path} is {widths[0]} px wide on a {widths[1]} px screen"
    # the main column is as wide as the screen's content, not squeezed beside a side bar
    view = phone.locator("main > *").first.bounding_box()
    assert view["width"] >= 340, f"{path}'s view is {view['width']} px wide"
    screenshot(phone, f"phone{path.replace('/', '-').rstrip('-') or '-lab'}")


def test_the_live_panel_fits_a_phone_and_closes_by_its_button_or_a_tap_elsewhere(phone):
    phone.goto("/")
    phone.tap("#live-toggle")
    panel = phone.locator("#live-panel")
    box = panel.bounding_box()
    header = phone.locator("header.top").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    assert box["y"] >= header["y"] + header["height"], "the panel covers the header's links"
    phone.tap("#live-close")
    assert panel.is_hidden() and phone.get_attribute("#live-toggle", "aria-expanded") == "false"
    phone.tap("#live-toggle")
    assert panel.is_visible()
    phone.tap("main", position={"x": 100, "y": 700})
    assert panel.is_hidden()


def test_the_live_panel_closes_when_the_keyboard_leaves_it(page):
    page.goto("/autoencoder")
    page.click("#live-toggle")
    assert page.evaluate("document.activeElement.id") == "live-start"
    for _ in range(8):  # Follow's code, its button, the close button, then on into the page
        page.keyboard.press("Tab")
        if page.locator("#live-panel").is_hidden():
            break
    assert page.locator("#live-panel").is_hidden(), "focus left the panel and it stayed open over the page"
    assert not page.evaluate("document.getElementById('live-panel').contains(document.activeElement)")
    page.click("#live-toggle")
    page.keyboard.press("Escape")
    assert page.locator("#live-panel").is_hidden() and page.evaluate("document.activeElement.id") == "live-toggle"


def test_a_tap_on_an_output_map_explains_that_cell(phone):
    open_lab(phone, "?kind=Conv2d&size=32")
    cell = phone.locator("#lab-output-view .lab-map").first
    cell.scroll_into_view_if_needed()
    cell.tap(position={"x": 20, "y": 30})
    phone.wait_for_selector("#lab-explain-body .ex-sum")
    assert phone.text_content("#lab-explain-body .ex-title").startswith("Conv2d output [0, 0, ")


def test_a_recurrent_layers_output_over_time_fills_its_plot(phone):
    open_lab(phone, "?kind=LSTM")
    plot = "#lab-output-view .lab-plot"
    cells = phone.locator(f"{plot} .nsewdrag").first.bounding_box()  # the heatmap's area: 48 steps by 16 units
    whole = phone.locator(plot).bounding_box()
    assert cells["height"] >= 0.6 * whole["height"], f"{cells['height']} px of a {whole['height']} px plot"


def test_a_followers_live_banner_stays_in_view_above_the_pages_own_sticky_scrubber(new_page):
    """A follower far down a phone's page still sees "you changed this view" and can tap its button; the sequence
    page's sticky scrubber sits below the banner, not under it."""
    presenter = new_page()
    presenter.goto("/sequence")
    code = start_session(presenter)
    follower = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    follower.goto(f"/sequence?follow={code}")
    follower.wait_for_function("Number(document.querySelector('#sequence-view').dataset.runsDone) > 0",
                               timeout=90_000)
    follower.focus("#sq-step")
    follower.keyboard.press("Home")  # the follower's own change
    follower.wait_for_function("document.getElementById('live-status').textContent.includes('you changed')")
    follower.evaluate("window.scrollTo(0, 2000)")
    follower.wait_for_function("window.scrollY >= 2000")
    banner = follower.locator("#live-banner").bounding_box()
    assert banner["y"] == 0, banner
    back = follower.locator("#live-back").bounding_box()
    assert back["y"] >= 0 and back["y"] + back["height"] <= banner["height"], (back, banner)
    scrubber = follower.locator(".sq-scrubber").bounding_box()
    assert scrubber["y"] >= banner["y"] + banner["height"] - 1, (scrubber, banner)
    follower.tap("#live-back")
    follower.wait_for_function("document.getElementById('live-status').textContent.includes(\"presenter's view\")")


def swipe(page, x: float, from_y: float, to_y: float) -> None:
    """A finger's swipe from (x, from_y) to (x, to_y), in the window's CSS pixels."""
    touch = page.context.new_cdp_session(page)
    touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": from_y}]})
    for step in range(1, 11):
        y = from_y + (to_y - from_y) * step / 10
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    touch.detach()


# resolves once the page has not scrolled for 200 ms
SCROLL_SETTLED = """() => new Promise((resolve) => {
  let last = window.scrollY, still = 0;
  const timer = setInterval(() => {
    still = window.scrollY === last ? still + 50 : 0;
    last = window.scrollY;
    if (still >= 200) { clearInterval(timer); resolve(); }
  }, 50);
})"""


def test_a_swipe_that_starts_on_a_plot_scrolls_the_page_and_a_tap_still_explains(phone):
    """Plotly's drag zooms into a box by default: on a phone a swipe over a plot as wide as the screen zoomed it and
    the page would not scroll."""
    open_lab(phone, "?kind=LSTM")
    phone.wait_for_function(PLOTS_FITTED)
    phone.wait_for_timeout(300)  # laid out again after a resize (ResizeObserver, then a frame): the swipe's plot stays
    plot = phone.locator("#lab-output-view .lab-plot")
    plot.scroll_into_view_if_needed()
    phone.evaluate("window.scrollBy(0, -300)")
    cells = plot.locator(".nsewdrag").first.bounding_box()
    rows_before = plot.evaluate("(p) => p._fullLayout.yaxis.range")
    scrolled = phone.evaluate("window.scrollY")
    middle = cells["x"] + cells["width"] / 2
    swipe(phone, middle, cells["y"] + cells["height"] * 0.8, cells["y"] + cells["height"] * 0.2)  # the finger goes up
    phone.wait_for_function(f"window.scrollY > {scrolled + 50}")
    assert plot.evaluate("(p) => p._fullLayout.yaxis.range") == rows_before  # not zoomed
    phone.evaluate(SCROLL_SETTLED)  # a tap while the page still glides stops it instead of tapping
    cells = plot.locator(".nsewdrag").first.bounding_box()
    phone.touchscreen.tap(cells["x"] + cells["width"] / 2, cells["y"] + cells["height"] / 2)
    phone.wait_for_selector("#lab-explain-body .ex-sum")
    assert phone.text_content("#lab-explain-body .ex-title").startswith("LSTM output [0, ")


DRAWN = {"/": LAB, "/network": NETWORK, "/sequence": SEQUENCE, "/autoencoder": AUTOENCODER, "/layers": LAYERS}
# what a finger taps or drags (the network's map buttons are pictures, sized by the page; a tab is its label)
TARGETS = ("button:not(.map), select, input[type=range], input[type=number], input[type=text], textarea, "
           ".ip-tab, label.sq-source")
SMALL_TARGETS = """(selector) => [...document.querySelectorAll(selector)].flatMap((control) => {
  const box = control.getBoundingClientRect();
  if (!box.width || control.closest('[hidden]')) return [];
  const name = control.id || control.className || control.tagName;
  return box.height < 32 || box.width < 32 ? [`${name} ${Math.round(box.width)}x${Math.round(box.height)}`] : [];
})"""


@pytest.mark.parametrize("path", PAGES)
def test_every_control_is_large_enough_for_a_finger(phone, path):
    phone.goto(path)
    phone.wait_for_function(DRAWN[path], timeout=90_000)
    small = phone.evaluate(SMALL_TARGETS, TARGETS)
    assert not small, f"{path}: controls under 32 px: {small}"
    boxes = phone.evaluate(SMALL_TARGETS.replace("< 32", "< 19.5"), "input[type=checkbox]")
    assert not boxes, f"{path}: tick boxes under 20 px: {boxes}"
