"""The Layers & cortex page (/layers): served, in the navigation of every page, and self-contained."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.pages import PAGES
from server.settings import Settings

HEADINGS = [
    "Layers in a network, layers in the cortex",
    "A layer in a deep network",
    "A layer of the neocortex",
    "Columns, areas and the hierarchy",
    "What the analogy gets right",
    "How they differ",
    "Why the name Lamina",
]


class Page(HTMLParser):
    """What a test reads from a page: its own headings (in <main>), nav links, every src/href, the figure."""

    def __init__(self, html: str):
        super().__init__()
        self.headings: list[str] = []
        self.nav: list[dict] = []
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.links: list[tuple[str, str]] = []  # (href, text) of <a> in <main>
        self.svgs: list[dict] = []
        self._heading: list[str] | None = None
        self._link: list[str] | None = None
        self._in_nav = self._in_main = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name in ("src", "href", "xlink:href", "action", "poster"):
            if attributes.get(name) is not None:
                self.urls.append((tag, name, attributes[name]))
        if tag in ("h1", "h2") and self._in_main:
            self._heading = []
        elif tag == "nav":
            self._in_nav = True
        elif tag == "main":
            self._in_main = True
        elif tag == "a" and self._in_nav:
            self.nav.append(attributes)
        elif tag == "a" and self._in_main:
            self._link = [attributes.get("href", "")]
        elif tag == "svg":
            self.svgs.append(attributes)

    def handle_endtag(self, tag):
        if tag in ("h1", "h2") and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None
        elif tag == "nav":
            self._in_nav = False
        elif tag == "main":
            self._in_main = False
        elif tag == "a" and self._link is not None:
            self.links.append((self._link[0], " ".join("".join(self._link[1:]).split())))
            self._link = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading.append(data)
        if self._link is not None:
            self._link.append(data)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(device="cpu"))) as client:
        yield client


@pytest.fixture(scope="module")
def layers_page(client):
    response = client.get("/layers")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_layers_is_the_last_page_and_marked_current_in_the_nav(client, layers_page):
    assert PAGES[-1] == ("/layers", "cortex.html", "Layers & cortex")
    page = Page(layers_page)
    assert [link["href"] for link in page.nav] == [path for path, _, _ in PAGES]
    current = [link["href"] for link in page.nav if link.get("aria-current") == "page"]
    assert current == ["/layers"]
    assert re.search(r'<a href="/layers"\s+aria-current="page">Layers &amp; cortex</a>', layers_page)
    assert "<title>Layers &amp; cortex · Lamina</title>" in layers_page
    # every other page links to it too, without marking it as the current one
    for path, _, _ in PAGES[:-1]:
        other = Page(client.get(path).text)
        assert {"href": "/layers"} in other.nav, path


def test_layers_page_has_its_headings_figure_and_links_to_the_network_view(layers_page):
    page = Page(layers_page)
    assert page.headings == HEADINGS
    figures = [svg for svg in page.svgs if "cx-svg" in svg.get("class", "")]
    assert len(figures) == 1
    figure = figures[0]
    assert figure["role"] == "img"
    label = figure["aria-label"]
    for words in ("deep network", "six laminae", "thalamus", "lamina IV", "feedback"):
        assert words in label
    links = dict(page.links)
    assert links["/network?network=edges"] == "Hand-designed edge and Gabor filters"
    assert links["/network"] == "The trained digit classifier (CNN)"
    assert "/sequence" in links
    # the content a student needs: the contrast and the name
    for words in ("weight sharing", "homogeneous", "heterogeneous", "topology", "Lamina</em> is Latin",
                  "V1 sends to V2, V2 to V4", "simple cells", "Gabor"):
        assert words in layers_page, words


def test_layers_page_loads_nothing_from_off_the_server(client, layers_page):
    page = Page(layers_page)
    assert page.urls, "the parser found no src or href at all"
    off_server = [(tag, name, url) for tag, name, url in page.urls if re.match(r"(?i)(https?:)?//", url)]
    assert off_server == []
    assert not re.search(r"(?i)url\(\s*['\"]?(https?:)?//", layers_page)
    # every stylesheet and script it names is served here, the page's own stylesheet among them
    assets = [url for tag, name, url in page.urls if (tag, name) in {("link", "href"), ("script", "src")}
              and url.startswith("/")]
    assert "/static/css/cortex.css" in assets
    for url in assets:
        response = client.get(url)
        assert response.status_code == 200, url
        if url.endswith(".css"):
            assert not re.search(r"(?i)(@import|url\()\s*['\"]?(https?:)?//", response.text), url
