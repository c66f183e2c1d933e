"""Every page at common laptop and projector widths (1024 to 1366 px), once its plots are drawn, in normal and
presenter mode, and with the live-session panel open: the document does not scroll sideways, and no visible element
sticks out of the window, out of its panel, or past the edge of a box that clips or scrolls it (the sideways scroll
bar of a panel hides content as well as the page's own does)."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from server.pages import PAGES

WIDTHS = [(1024, 768), (1152, 864), (1280, 720), (1280, 800), (1366, 768)]

LAB = "Number(document.querySelector('#lab-output-view').dataset.draws) > 0"
NETWORK = "Number(document.querySelector('#network-view').dataset.runsDone) > 0"
SEQUENCE = "Number(document.querySelector('#sequence-view').dataset.runsDone) > 0"
AUTOENCODER = ("(() => { const v = document.querySelector('#autoencoder-view'); "
               "return Number(v.dataset.updates) > 0 && v.dataset.runState === 'done'; })()")
LAYERS = "document.querySelector('svg.cx-svg') !== null"
SEVEN_BY_SEVEN = urllib.parse.quote(json.dumps({"kernel_size": 7}))

# name: (path, what says the page has drawn, the output to point at so the lab explains a value)
CASES = {
    "lab": ("/", LAB, None),
    # the explanation of an LSTM's output: its window (x then h, 17 numbers) in rows of 10
    "lab-lstm-explained": ("/?kind=LSTM", LAB, "#lab-output-view .lab-plot .nsewdrag"),
    # three input channels of 7x7 kernels in the narrow kernels column
    "lab-7x7-kernels": (f"/?kind=Conv2d&colour=rgb&params={SEVEN_BY_SEVEN}", LAB, None),
    "network": ("/network", NETWORK, None),
    "network-detail": ("/network?layer=3&map=0", NETWORK, None),  # conv2's map: three columns, 8 kernels
    "network-stack": ("/network?network=custom", NETWORK, None),
    "sequence": ("/sequence", SEQUENCE, None),
    "autoencoder": ("/autoencoder", AUTOENCODER, None),
    "layers": ("/layers", LAYERS, None),
}

# Visible elements that stick out: past the window's right or left edge, past the border of the panel they are in,
# or past the visible part of the nearest box that clips or scrolls them sideways. Inline text boxes are left out
# (their rectangle counts the spaces that hang at a line's end), and so are the insides of SVG pictures and Plotly
# plots (their own drawing; the plot and its svg are checked), what is only for screen readers and the svg that
# Plotly measures text in, far off the screen.
STICKING_OUT = """() => {
  const width = document.documentElement.clientWidth;
  const REPLACED = new Set(['CANVAS', 'IMG', 'SVG', 'svg', 'INPUT', 'SELECT', 'TEXTAREA', 'BUTTON', 'VIDEO', 'IFRAME']);
  const name = (el) => {
    let text = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '');
    const classes = typeof el.className === 'string' ? el.className.trim().split(/\\s+/).filter(Boolean) : [];
    if (!el.id && classes.length) text += '.' + classes.join('.');
    if (!el.id) {
      const named = el.parentElement?.closest('[id]');
      if (named) text = `#${named.id} ${text}`;
    }
    return text;
  };
  const found = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.ownerSVGElement || el.closest('.skip, .visually-hidden, #js-plotly-tester')) continue;
    const style = getComputedStyle(el);
    if (style.display === 'inline' && !REPLACED.has(el.tagName)) continue;
    if (style.visibility !== 'visible') continue;
    const box = el.getBoundingClientRect();
    if (box.width < 1 || box.height < 1) continue;
    const problems = [];
    if (box.right > width + 1) problems.push(`ends at ${Math.round(box.right)} px in a ${width} px window`);
    if (box.left < -1) problems.push(`starts at ${Math.round(box.left)} px, left of the window`);
    const panel = el.parentElement?.closest('.panel');
    if (panel) {
      const edge = panel.getBoundingClientRect().right;
      if (box.right > edge + 1) problems.push(`runs ${Math.round(box.right - edge)} px past its panel ${name(panel)}`);
    }
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (getComputedStyle(up).overflowX === 'visible') continue;
      const shown = up.getBoundingClientRect().left + up.clientLeft + up.clientWidth;
      if (box.right > shown + 1) {
        problems.push(`is cut off by ${name(up)}, which shows it up to ${Math.round(shown)} px of ${Math.round(box.right)}`);
      }
      break;
    }
    // one line per overflowing box: its descendants overflow with it
    if (problems.length && !found.some((f) => f.el.contains(el))) found.push({ el, text: `${name(el)} ${problems.join('; ')}` });
  }
  return [...new Set(found.map((f) => f.text))];  // a row of like cells once
}"""

PLOTS_FITTED = """[...document.querySelectorAll('.js-plotly-plot')].every((plot) =>
  !plot._fullLayout || !plot.clientWidth || Math.abs(plot._fullLayout.width - plot.clientWidth) <= 1)"""


def test_every_page_has_a_case():
    assert {path for path, _, _ in PAGES} <= {path.split("?")[0] for path, _, _ in CASES.values()}


@pytest.mark.parametrize("width, height", WIDTHS, ids=[f"{w}x{h}" for w, h in WIDTHS])
@pytest.mark.parametrize("case", CASES)
def test_a_page_fits_the_window_without_sideways_scrolling(new_page, case, width, height):
    path, drawn, point_at = CASES[case]
    page = new_page(viewport={"width": width, "height": height})
    page.goto(path)
    page.wait_for_function(drawn, timeout=90_000)  # the sequence view's first run loads MNIST: slow on a busy machine
    if point_at:
        target = page.locator(point_at).first
        target.scroll_into_view_if_needed()
        target.hover()
        page.wait_for_selector("#lab-explain-body .ex-grid")
    problems = []

    def check(mode: str) -> None:
        page.wait_for_function(PLOTS_FITTED)
        page.wait_for_timeout(300)  # maps laid out again after a resize (ResizeObserver, then a frame)
        scroll = page.evaluate("[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]")
        if scroll[0] > scroll[1]:
            problems.append(f"{width}x{height} {mode}: the page scrolls sideways ({scroll[0]} px in {scroll[1]} px)")
        problems.extend(f"{width}x{height} {mode}: {text}" for text in page.evaluate(STICKING_OUT))

    for mode in ("normal", "presenter"):
        if mode == "presenter":
            page.click("#presenter-toggle")
            page.wait_for_function("document.body.classList.contains('presenter')")
        check(mode)
        page.click("#live-toggle")
        page.locator("#live-panel").wait_for(state="visible")
        check(f"{mode}, live panel open")
        page.keyboard.press("Escape")
        page.locator("#live-panel").wait_for(state="hidden")
    assert not problems, f"{case} ({path}) does not fit:\n" + "\n".join(problems)
