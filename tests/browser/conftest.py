"""A live Lamina server on 127.0.0.1 and Debian's Chromium driven by Playwright.

Every page fixture fails its test on any console error or uncaught page error, and
`screenshot(page, name)` saves test-artifacts/<name>.png to look at.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not Path(CHROMIUM).exists():
    pytest.skip(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.live_server import running_server  # noqa: E402


@pytest.fixture(scope="session")
def server_url():
    with running_server() as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, server_url):
    """Make 1280x720 pages (a projector's size; `context_options` may say otherwise), each in its own browser
    context (its own tab storage), recording console errors; the test fails if any occurred on any of them."""
    made = []

    def make(**context_options):
        context = browser.new_context(**{"viewport": {"width": 1280, "height": 720}, **context_options},
                                      base_url=server_url)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.console_errors = errors
        page.allowed_errors = []  # regexes a test expects, e.g. the browser's own log line for a 415 it provoked
        made.append((context, page))
        return page

    yield make
    for context, page in made:
        context.close()
        unexpected = [e for e in page.console_errors if not any(re.search(p, e) for p in page.allowed_errors)]
        assert not unexpected, f"console errors: {unexpected}"


@pytest.fixture
def page(new_page):
    """One page (see `new_page`)."""
    return new_page()


@pytest.fixture
def phone(new_page):
    """One page on a phone: 390x844, a touch screen."""
    return new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def draw_vertical_stroke(page, pad_selector: str) -> None:
    """Draw a "1" with the mouse: a vertical stroke down the middle of a drawing pad, as a person would."""
    pad = page.locator(pad_selector).first.bounding_box()
    page.mouse.move(pad["x"] + pad["width"] * 0.5, pad["y"] + pad["height"] * 0.15)
    page.mouse.down()
    for step in range(12):
        page.mouse.move(pad["x"] + pad["width"] * 0.5, pad["y"] + pad["height"] * (0.15 + 0.06 * step))
    page.mouse.up()
