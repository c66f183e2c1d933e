"""Every page works without internet: each request it makes goes to this server (Plotly and Swagger UI
included), and the API documentation renders from those local files."""

from __future__ import annotations

import pytest

from server.pages import PAGES


def requests_of(page, path: str, ready: str) -> list[str]:
    """The URLs `path` requests until `ready` (a selector) is visible, and shortly after."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto(path)
    page.wait_for_selector(ready, timeout=20_000)
    page.wait_for_timeout(500)  # anything loaded lazily after the first paint
    return urls


@pytest.mark.parametrize("path", [path for path, _, _ in PAGES])
def test_every_page_loads_only_from_this_server(page, server_url, path):
    urls = requests_of(page, path, "main")
    assert any(url.endswith("/vendor/plotly.min.js") for url in urls) or path == "/layers"
    elsewhere = [url for url in urls if not url.startswith((server_url, "data:", "blob:"))]
    assert not elsewhere, elsewhere


def test_the_api_documentation_renders_offline(page, server_url):
    urls = requests_of(page, "/docs", ".opblock")
    assert not [url for url in urls if not url.startswith((server_url, "data:", "blob:"))]
    operations = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/health" in operations and "/api/layers" in operations, operations
