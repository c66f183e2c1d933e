"""The Layers & cortex page (/layers), read as a student would: find it in the navigation, look at the figure,
switch to presenter mode, and follow the links to the Network view.

The figure is an inline SVG. Besides its size and its accessible name, the tests measure every piece of
lettering in it: each must lie inside the figure and clear of the others, so a crowded or clipped drawing
fails. The `page` fixture fails a test on any console error.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from tests.browser.conftest import screenshot

FIGURE = "svg.cx-svg"

# The boxes of the figure's lettering, of the figure itself, and of the page's width, in CSS pixels.
LETTERING = """(svg) => {
  const box = (r) => ({ left: r.left, top: r.top, right: r.right, bottom: r.bottom });
  return {
    figure: box(svg.getBoundingClientRect()),
    texts: [...svg.querySelectorAll("text")].map((t) => ({ text: t.textContent, ...box(t.getBoundingClientRect()) })),
  };
}"""


def open_layers(page) -> None:
    page.goto("/layers")
    page.locator(FIGURE).wait_for(state="visible")


def assert_lettering_is_tidy(page) -> None:
    """Every text of the figure is drawn, lies inside the figure and overlaps no other text."""
    layout = page.locator(FIGURE).evaluate(LETTERING)
    figure, texts = layout["figure"], layout["texts"]
    assert len(texts) > 20
    for text in texts:
        # (lamina "I" is a single narrow letter: under 5 px wide on a phone's 840 px wide figure)
        assert text["right"] - text["left"] > 3 and text["bottom"] - text["top"] > 5, text
        assert (text["left"] >= figure["left"] - 0.5 and text["right"] <= figure["right"] + 0.5
                and text["top"] >= figure["top"] - 0.5 and text["bottom"] <= figure["bottom"] + 0.5), text
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            width = min(a["right"], b["right"]) - max(a["left"], b["left"])
            height = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
            assert width <= 0.5 or height <= 0.5, f"{a['text']!r} overlaps {b['text']!r}"
    page_width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert page_width[0] <= page_width[1], "the page scrolls sideways"


def test_nav_marks_the_page_and_the_figure_is_drawn_with_its_label(page):
    open_layers(page)
    assert page.title() == "Layers & cortex · Lamina"
    current = page.locator("header nav a[aria-current='page']")
    assert current.count() == 1
    assert current.inner_text() == "Layers & cortex" and current.get_attribute("href") == "/layers"
    assert page.locator("header nav a").last.get_attribute("href") == "/layers"

    figure = page.locator(FIGURE)
    assert figure.is_visible()
    box = figure.bounding_box()
    assert box["width"] > 600 and box["height"] > 300
    assert abs(box["width"] / box["height"] - 1000 / 550) < 0.02  # drawn at its own aspect, not squashed
    # its accessible name, as a screen reader finds it
    image = page.get_by_role("img", name=re.compile("six laminae"))
    assert image.count() == 1
    label = image.get_attribute("aria-label")
    assert "stack of five stages" in label and "input from the thalamus enters lamina IV" in label
    assert "feedback" in page.inner_text(".cx-figure figcaption")

    # what it draws: five uniform stages beside six laminae of different thickness, and the arrows
    assert page.locator(f"{FIGURE} .cx-stage").count() == 5
    assert page.locator(f"{FIGURE} .cx-lamina").count() == 6
    heights = page.eval_on_selector_all(f"{FIGURE} .cx-lamina", "(rs) => rs.map((r) => r.getBBox().height)")
    assert len(set(heights)) >= 4
    assert page.locator(f"{FIGURE} .cx-arrow").count() == 5
    # the page's own stylesheet is applied: the thalamic input arrow is blue, the stage boxes tinted
    assert page.eval_on_selector(f"{FIGURE} .cx-input", "(e) => getComputedStyle(e).stroke") == "rgb(37, 99, 235)"
    assert page.eval_on_selector(f"{FIGURE} .cx-box", "(e) => getComputedStyle(e).fill") == "rgb(238, 243, 251)"
    assert_lettering_is_tidy(page)
    screenshot(page, "layers-cortex")

    # the size a presenter's laptop often has
    page.set_viewport_size({"width": 1400, "height": 1000})
    assert page.locator(FIGURE).bounding_box()["width"] > box["width"] - 1
    assert_lettering_is_tidy(page)
    screenshot(page, "layers-cortex-1400")


def test_presenter_mode_enlarges_the_page_and_keeps_the_figure(page):
    open_layers(page)
    before = page.locator(FIGURE).bounding_box()
    text_size = "() => parseFloat(getComputedStyle(document.querySelector('#cx-network-head + p')).fontSize)"
    size_before = page.evaluate(text_size)

    page.click("#presenter-toggle")
    assert page.get_attribute("#presenter-toggle", "aria-pressed") == "true"
    assert "presenter" in page.get_attribute("body", "class")
    assert page.evaluate(text_size) > size_before
    figure = page.locator(FIGURE)
    assert figure.is_visible()
    after = figure.bounding_box()
    assert after["width"] > before["width"] and after["height"] > before["height"]  # larger lettering too
    assert page.locator(".cx-figure figcaption").is_visible()
    assert page.get_by_role("img", name=re.compile("six laminae")).is_visible()
    assert_lettering_is_tidy(page)
    screenshot(page, "layers-cortex-presenter")

    # presenter mode is remembered, and the figure is still there after a reload
    page.reload()
    page.locator(FIGURE).wait_for(state="visible")
    assert "presenter" in page.get_attribute("body", "class")
    assert page.locator(FIGURE).bounding_box()["width"] == after["width"]


def test_links_lead_to_the_network_view(page):
    open_layers(page)
    page.get_by_role("link", name="Hand-designed edge and Gabor filters").click()
    page.wait_for_url(re.compile(r"/network\?network=edges"))
    url = urlparse(page.url)
    assert url.path == "/network" and parse_qs(url.query)["network"] == ["edges"]
    assert page.locator("header nav a[aria-current='page']").inner_text() == "Network"
    # the Network view opened the edges network and drew it
    page.wait_for_function("document.querySelector('#nv-network').value === 'edges' "
                           "&& Number(document.querySelector('#network-view').dataset.runsDone) > 0",
                           timeout=60_000)

    page.go_back()
    page.wait_for_url(re.compile(r"/layers$"))
    page.locator(FIGURE).wait_for(state="visible")
    page.get_by_role("link", name="The trained digit classifier (CNN)").click()
    page.wait_for_url(re.compile(r"/network"))
    assert urlparse(page.url).path == "/network"
    # the first MNIST sample loads the dataset on the server (10 to 20 s on a busy machine)
    page.wait_for_function("document.querySelector('#nv-network').value === 'digits-cnn' "
                           "&& Number(document.querySelector('#network-view').dataset.runsDone) > 0",
                           timeout=90_000)


def test_every_header_of_the_comparison_table_has_a_name(page):
    """A screen reader announces each column by its header: the corner one too (axe: empty-table-header)."""
    page.goto("/layers")
    names = page.eval_on_selector_all("table th", "cells => cells.map((c) => c.textContent.trim())")
    assert len(names) > 3 and all(names), names


def test_on_a_phone_the_figure_keeps_legible_lettering_in_a_box_that_scrolls(phone):
    """At 390 px the figure was drawn 332 px wide, its lettering 4 to 6 px tall. It keeps a legible size, and
    its box scrolls sideways (by keyboard too), not the page."""
    open_layers(phone)
    heights = phone.eval_on_selector_all(f"{FIGURE} text", "(ts) => ts.map((t) => t.getBoundingClientRect().height)")
    assert min(heights) >= 10, sorted(heights)[:5]
    assert_lettering_is_tidy(phone)

    box = phone.locator(".cx-scroll")
    assert box.get_attribute("tabindex") == "0" and box.get_attribute("aria-label")
    scroll_width, client_width, left = box.evaluate("(e) => [e.scrollWidth, e.clientWidth, e.scrollLeft]")
    assert scroll_width > client_width and left == 0
    box.focus()
    phone.keyboard.press("ArrowRight")
    phone.wait_for_function("document.querySelector('.cx-scroll').scrollLeft > 0")
    # scrolled to its end, the rightmost lettering is in view
    box.evaluate("(e) => { e.scrollLeft = e.scrollWidth; }")
    right = phone.eval_on_selector_all(f"{FIGURE} text",
                                       "(ts) => Math.max(...ts.map((t) => t.getBoundingClientRect().right))")
    assert right <= box.bounding_box()["x"] + client_width + 0.5
    screenshot(phone, "layers-cortex-phone")


def test_the_figure_box_is_a_tab_stop_only_while_it_scrolls(page):
    """On a wide screen the box has nothing to scroll, so Tab passes it by; narrowed, it scrolls and is a stop."""
    page.set_viewport_size({"width": 1400, "height": 1000})
    open_layers(page)
    box = page.locator(".cx-scroll")
    page.wait_for_function("!document.querySelector('.cx-scroll').hasAttribute('tabindex')")
    assert box.evaluate("(e) => e.scrollWidth <= e.clientWidth")
    page.set_viewport_size({"width": 500, "height": 1000})
    page.wait_for_function("document.querySelector('.cx-scroll').getAttribute('tabindex') === '0'")
    assert box.evaluate("(e) => e.scrollWidth > e.clientWidth")
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.wait_for_function("!document.querySelector('.cx-scroll').hasAttribute('tabindex')")


# The content box of the panel around `items`, and their boxes, in CSS pixels.
BOXES_IN_PANEL = """(items) => {
  const panel = items[0].closest(".panel");
  const style = getComputedStyle(panel);
  const r = panel.getBoundingClientRect();
  return {
    panel: { left: r.left + parseFloat(style.borderLeftWidth) + parseFloat(style.paddingLeft),
             right: r.right - parseFloat(style.borderRightWidth) - parseFloat(style.paddingRight) },
    items: items.map((e) => ({ text: e.textContent, left: e.getBoundingClientRect().left,
                               right: e.getBoundingClientRect().right })),
  };
}"""


def test_the_chain_of_visual_areas_fits_its_panel_at_every_width(page):
    """V1 ⇄ V2 ⇄ V4 ⇄ IT spilled out of its panel on phones, in presenter mode up to 414 px and at 901 px."""
    def assert_fits(label):
        layout = page.eval_on_selector_all(".cx-chain li", BOXES_IN_PANEL)
        for item in layout["items"]:
            assert layout["panel"]["left"] - 0.5 <= item["left"] and item["right"] <= layout["panel"]["right"] + 0.5, \
                (label, item, layout["panel"])
        sizes = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert sizes[0] <= sizes[1], (label, "the page scrolls sideways")

    open_layers(page)
    for width in (320, 360, 901, 1366):
        page.set_viewport_size({"width": width, "height": 800})
        assert_fits(f"{width} px")
    page.click("#presenter-toggle")
    for width in (320, 360, 390, 414, 901, 1366):
        page.set_viewport_size({"width": width, "height": 800})
        assert_fits(f"{width} px, presenter mode")
    page.set_viewport_size({"width": 360, "height": 800})
    page.locator(".cx-chain").scroll_into_view_if_needed()
    screenshot(page, "layers-cortex-chain-360-presenter")


def test_the_comparison_table_keeps_its_words_in_their_cells_in_presenter_mode_on_a_phone(new_page):
    """At 360 px in presenter mode "Homogeneous:" ran into "Heterogeneous", which went past the panel's edge."""
    page = new_page(viewport={"width": 360, "height": 800})
    open_layers(page)
    page.click("#presenter-toggle")
    spills = page.eval_on_selector_all(".cx-table th, .cx-table td", """(cells) => {
      const panel = cells[0].closest(".panel").getBoundingClientRect();
      return cells.flatMap((cell) => {
        const box = cell.getBoundingClientRect();
        const range = document.createRange();
        range.selectNodeContents(cell);
        const right = Math.max(box.right, ...[...range.getClientRects()].map((r) => r.right));
        return right > box.right + 0.5 || box.right > panel.right + 0.5 || cell.scrollWidth > cell.clientWidth
          ? [cell.textContent.trim()] : [];
      });
    }""")
    assert spills == []
    page.locator(".cx-table").scroll_into_view_if_needed()
    screenshot(page, "layers-cortex-table-360-presenter")


def test_a_link_setting_the_page_does_not_have_is_named_at_the_top(page):
    """As on every page (README): /layers has no settings of its own, so ?foo=1 is named, not dropped silently."""
    page.goto("/layers?foo=1")
    notice = page.locator("main > #link-notice")
    notice.wait_for(state="visible")
    assert notice.get_attribute("role") == "alert"
    assert "foo=1: not a setting of this page" in notice.inner_text()
    page.goto("/layers")
    page.locator(FIGURE).wait_for(state="visible")
    assert page.locator("#link-notice").count() == 0
