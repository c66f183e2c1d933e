"""Every page on a phone (390x844, a touch screen): one column that fits the screen, a live panel that fits
and closes, and a tap where a mouse would hover."""

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_lab import open_lab

PAGES = ["/", "/network", "/sequence", "/autoencoder", "/layers"]


@pytest.mark.parametrize("path", PAGES)
def test_a_page_fits_a_phone_without_sideways_scrolling(phone, path):
    phone.goto(path)
    phone.wait_for_load_state("networkidle")
    phone.wait_for_timeout(500)  # the first run's maps and plots are drawn
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
