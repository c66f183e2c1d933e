"""Presenter mode (large type, no clutter) hides instructions and descriptions, never the numbers a class
is looking at: readouts, captions, legends and control labels stay."""

from __future__ import annotations

import json
import re

import pytest

from server.pages import PAGES
from tests.browser.conftest import screenshot
from tests.browser.test_autoencoder import open_view
from tests.browser.test_lab import open_lab
from tests.browser.test_network import open_network
from tests.browser.test_sequence import open_sequence


# the input picker's tabs whose label runs past the row of tabs (and is cut off by it)
CUT_TABS = """[...document.querySelectorAll('.ip-tab')].filter((tab) => {
  const box = tab.getBoundingClientRect(), row = tab.parentElement.getBoundingClientRect();
  return box.width > 0 && (box.right > row.right + 1 || tab.scrollWidth > tab.clientWidth + 1);
}).map((tab) => tab.textContent)"""

# the shown drop-downs whose chosen option is wider than the box leaves room for (20 px for the arrow)
CUT_SELECTS = """[...document.querySelectorAll('select')].filter((s) => s.getClientRects().length).filter((s) => {
  const style = getComputedStyle(s), context = document.createElement('canvas').getContext('2d');
  context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const room = s.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 20;
  return context.measureText(s.selectedOptions[0]?.text ?? '').width > room;
}).map((s) => s.selectedOptions[0]?.text)"""


def present(page) -> None:
    page.click("#presenter-toggle")
    page.wait_for_function("document.body.classList.contains('presenter')")
    # the button is a toggle, shown pressed while the mode is on
    assert page.get_attribute("#presenter-toggle", "aria-pressed") == "true"
    assert page.eval_on_selector("#presenter-toggle", "(b) => getComputedStyle(b).backgroundColor") != "rgba(0, 0, 0, 0)"


def test_the_network_view_keeps_its_scores_statistics_and_detail(page):
    open_network(page)
    present(page)
    assert page.is_hidden("#nv-network-about") and page.is_hidden(".nv-toolbar .help")
    assert page.is_visible("#nv-network-weights")  # whether the answers mean anything stays
    assert page.is_visible("#nv-scores-best") and page.inner_text("#nv-scores-best").startswith("Highest: 3")
    assert page.locator(".nv-layer[data-index='0'] .nv-hist-range").is_visible()
    assert page.locator(".nv-layer[data-index='0'] .nv-time").is_visible()
    page.click(".nv-layer[data-index='0'] button.map[data-channel='0']")
    page.wait_for_selector("#nv-detail-stats", state="visible")
    assert page.inner_text("#nv-detail-stats").startswith("Conv2d, 28×28: min")
    assert page.is_visible("#nv-kernel-about")


def test_the_layer_lab_keeps_its_map_names_and_control_labels(page):
    open_lab(page)
    present(page)
    assert page.locator(".param .help").first.is_hidden()
    assert page.locator(".lab-map-name").first.is_visible()
    assert page.locator(".lab-map-name").first.inner_text() == "channel 0"
    assert page.is_visible("label[for='lab-speed']")


def test_the_autoencoder_keeps_its_legends_and_reconstruction_error(page):
    open_view(page)
    present(page)
    assert page.is_hidden("#ae-about")
    assert page.locator(".ae-legends .muted").all_inner_texts() == ["pixels", "difference"]
    assert all(label.is_visible() for label in page.locator(".ae-legends .muted").all())
    assert "Reconstruction error" in page.inner_text("#ae-error")
    ranges = page.locator(".ae-range:visible")  # "values 0 to 2.045" under each shown layer's maps
    assert ranges.count() >= 4 and ranges.first.inner_text().startswith("values ")


@pytest.mark.parametrize("path", [path for path, _, _ in PAGES] + ["/?kind=LSTM"])  # the lab's sequence controls
def test_every_page_fits_a_1024_pixel_projector_with_and_without_presenter_mode(new_page, path):
    page = new_page()
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(path)
    page.wait_for_selector("main")
    page.wait_for_timeout(1500)  # the first output is drawn
    for mode in ("normal", "presenter"):
        if mode == "presenter":
            present(page)
            page.wait_for_timeout(300)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} in {mode} mode is {overflow} px wider than the window"
        cut = page.evaluate(CUT_TABS)
        assert not cut, f"{path} in {mode} mode cuts the input tabs {cut}"
        cut = page.evaluate(CUT_SELECTS)
        assert not cut, f"{path} in {mode} mode cuts the drop-down choices {cut}"
    screenshot(page, f"presenter-1024-{re.sub(r'[^a-zA-Z0-9]+', '-', path).strip('-') or 'lab'}")


def test_plot_text_grows_in_presenter_mode_and_shrinks_back(page):
    page.goto("/sequence")
    page.wait_for_selector("#sq-input-plot .main-svg")
    sizes = "[...document.querySelectorAll('.js-plotly-plot')].map((plot) => plot._fullLayout.font.size)"
    assert set(page.evaluate(sizes)) == {12}
    present(page)
    page.wait_for_function(f"{sizes}.every((size) => size === 16)")
    page.reload()  # plots drawn in presenter mode start large
    page.wait_for_selector("#sq-input-plot .main-svg")
    page.wait_for_function(f"{sizes}.length > 0 && {sizes}.every((size) => size === 16)")
    page.click("#presenter-toggle")
    page.wait_for_function(f"{sizes}.every((size) => size === 12)")


def test_the_autoencoders_pictures_grow_on_a_projector(new_page):
    page = new_page(viewport={"width": 1920, "height": 1080})
    page.goto("/autoencoder")
    present(page)
    sizes = "[...document.querySelectorAll('.ae-picture')].map((picture) => picture.clientWidth)"
    page.wait_for_function(f"{sizes}.length === 3")
    input_size, output_size, difference = page.evaluate(sizes)
    assert input_size == output_size >= 220 and difference >= 0.75 * input_size  # they had stayed at 160 px
    assert page.evaluate("document.documentElement.scrollWidth") <= 1920


def test_plot_titles_and_scale_labels_grow_in_presenter_mode(page):
    """They had stayed at 13 and 14 px beside 20 px type ("Values in this map", a kernel's colour scale)."""
    page.goto("/network?layer=0&map=0")
    page.wait_for_selector("#nv-detail-histogram .main-svg")
    title = "document.querySelector('#nv-detail-histogram')._fullLayout.title.font.size"
    labels = "parseFloat(getComputedStyle(document.querySelector('#nv-kernel-legend .colour-legend-labels')).fontSize)"
    assert page.evaluate(title) == 13
    present(page)
    page.wait_for_function(f"{title} === 17")
    assert page.evaluate(labels) == 16
    page.reload()  # drawn in presenter mode
    page.wait_for_selector("#nv-detail-histogram .main-svg")
    page.wait_for_function(f"{title} === 17")
    page.click("#presenter-toggle")
    page.wait_for_function(f"{title} === 13")


def test_plot_text_grows_after_a_plot_was_emptied(page):
    """An untrained cell has no output plot: the one a built-in network drew is purged, and must be skipped."""
    page.goto("/sequence?network=sine-rnn")
    page.wait_for_function("document.querySelector('#sequence-view').dataset.runsDone > 0", timeout=90_000)
    page.select_option("#sq-network", "untrained-gru")
    page.wait_for_function("document.querySelector('#sequence-view').dataset.runsDone > 1", timeout=90_000)
    present(page)
    drawn = "[...document.querySelectorAll('.js-plotly-plot')].filter((plot) => plot.layout)"
    page.wait_for_function(f"{drawn}.length > 2 && {drawn}.every((plot) => plot._fullLayout.font.size === 16)")
    # the output panel has no plot: it keeps the words that say why
    assert page.locator("#sq-output-about").is_visible()
    assert page.text_content("#sq-output-about").startswith("An untrained cell on its own has no output layer")


# axis titles that overlap a tick label of their own axis by more than 2 pixels, in every plot on the page
TITLES_ON_TICKS = """[...document.querySelectorAll('.js-plotly-plot')].flatMap((plot) => ['x', 'y'].flatMap((axis) => {
  const title = plot.querySelector(`.${axis}title`);
  if (!title || !title.textContent) return [];
  const t = title.getBoundingClientRect();
  const hit = [...plot.querySelectorAll(`.${axis}tick text`)].some((tick) => {
    const b = tick.getBoundingClientRect();
    return b.width > 0 && Math.min(b.right, t.right) - Math.max(b.left, t.left) > 2
      && Math.min(b.bottom, t.bottom) - Math.max(b.top, t.top) > 2;  // text boxes may touch, glyphs not cross
  });
  return hit ? [`${plot.id || plot.closest('[id]').id}: ${axis}`] : [];
}))"""


@pytest.mark.parametrize("query", ["?network=sine-rnn", ""])
def test_axis_titles_stay_clear_of_tick_labels_in_presenter_mode(page, query):
    """The margins grow with presenter mode's larger type: "unit" sat on the tick "15" of the hidden state."""
    page.goto(f"/sequence{query}")
    page.wait_for_function("document.querySelector('#sequence-view').dataset.runsDone > 0", timeout=90_000)
    assert page.evaluate(TITLES_ON_TICKS) == []
    present(page)
    # the plots refit to the cells' new widths
    page.wait_for_function("[...document.querySelectorAll('.js-plotly-plot')].every((p) => "
                           "p._fullLayout.font.size === 16 && Math.abs(p._fullLayout.width - p.clientWidth) <= 1)")
    assert page.evaluate(TITLES_ON_TICKS) == []
    screenshot(page, f"sequence-presenter{query.replace('?network=', '-')}")


def test_plots_already_drawn_take_the_margins_of_the_mode(page):
    open_lab(page, "?kind=RNN")
    page.wait_for_function("document.querySelectorAll('#lab .js-plotly-plot').length === 2")
    margins = "[...document.querySelectorAll('.js-plotly-plot')].map((plot) => plot._fullLayout.margin.l)"
    before = page.evaluate(margins)
    present(page)
    page.wait_for_function(f"{margins}.every((left, i) => left > {before}[i])")
    page.click("#presenter-toggle")
    page.wait_for_function(f"JSON.stringify({margins}) === '{json.dumps(before, separators=(',', ':'))}'")


def test_the_sequence_view_keeps_what_an_rnn_shows_instead_of_gates(page):
    open_sequence(page, "?network=digits-rnn")
    present(page)
    assert page.is_visible("#sq-gates-about") and "has no gates" in page.inner_text("#sq-gates-about")
    page.select_option("#sq-network", "digits-gru")
    page.wait_for_selector("#sq-gates figure")
    assert page.is_hidden("#sq-gates-about")  # with gates it only explains the maps
    assert "the new state n is signed" in page.text_content("#sq-gates-about")
