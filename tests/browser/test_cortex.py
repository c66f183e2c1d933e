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
        assert text["right"] - text["left"] > 5 and text["bottom"] - text["top"] > 5, text
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
