"""Long sessions and lost connections: a server restarted mid-lesson, a page left and come back to with Back
(the back-forward cache), a tab hidden and shown again, a socket waiting to reconnect that the page closes.

RunSocket (static/js/wire.js) reconnects by itself and sends the run in flight again; these tests check that
each page recovers by itself and shows what it was asked, as a person at the projector would see it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from unittest import mock

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot
from tests.browser.test_network import KEEP_SOCKETS  # window.__sockets: every WebSocket the page opens
from tests.live_server import free_port, running_server

# the browser's own line for each try to connect that fails: a page cannot keep it out of the console
REFUSED = r"WebSocket connection to .* failed"
RESOURCE_REFUSED = r"Failed to load resource: net::ERR_CONNECTION_REFUSED"


def select(selector: str, value: str):
    """A change a person makes: pick `value` in the <select> `selector`."""
    return lambda page: page.select_option(selector, value)


def press(selector: str, *keys: str):
    """A change a person makes: keys pressed on the control `selector` (a slider's arrows)."""
    def change(page) -> None:
        page.focus(selector)
        for key in keys:
            page.keyboard.press(key)
    return change


# each page: its path, the element whose data-* counter counts finished runs, that counter, its visible
# progress or status line, and a change a person makes
PAGES = {
    "lab": ("/", "#lab-output-view", "draws", "#lab-status", press("#param-kernel_size", "ArrowRight", "ArrowRight")),
    "network": ("/network", "#network-view", "runsDone", "#nv-progress-text",
                select("#nv-network", "digits-autoencoder")),
    "sequence": ("/sequence", "#sequence-view", "runsDone", "#sq-progress", select("#sq-network", "digits-gru")),
    "autoencoder": ("/autoencoder", "#autoencoder-view", "updates", "#ae-progress-text",
                    press("#ae-code input[type=range] >> nth=0", "ArrowRight")),
}

# what the pages' status lines say while a run is on its way
BUSY = r"/^(computing|loading|layer \d+ of|decoding|reconnecting)/i"



def runs_done(page, name: str) -> int:
    _, root, counter, _, _ = PAGES[name]
    return page.evaluate(f"Number(document.querySelector('{root}').dataset.{counter} || 0)")


def wait_for_run_after(page, name: str, count: int, timeout: float = 30_000) -> None:
    _, root, counter, _, _ = PAGES[name]
    page.wait_for_function(f"Number(document.querySelector('{root}').dataset.{counter} || 0) > {count}",
                           timeout=timeout)


def wait_until_settled(page, name: str) -> None:
    """Until the page's status line says how its last run went, not that one is on its way."""
    status = PAGES[name][3]
    page.wait_for_function(f"!{BUSY}.test(document.querySelector('{status}').textContent)")


@contextlib.contextmanager
def server_on(port: int) -> Iterator[str]:
    """running_server() on `port`, so that a server started again is the one the pages knew."""
    with mock.patch("tests.live_server.free_port", return_value=port), running_server() as url:
        yield url


def test_every_page_recovers_from_a_server_restart_and_runs_what_changed_meanwhile(browser):
    """The teacher restarts the server: each page says it is reconnecting, a change made meanwhile waits,
    and once the server is back each page computes it by itself and says so, with no console errors."""
    port = free_port()
    contexts, pages, errors = [], {}, []
    try:
        with server_on(port) as url:
            for name, (path, *_) in PAGES.items():
                contexts.append(browser.new_context(viewport={"width": 1366, "height": 768}))  # a laptop each
                page = contexts[-1].new_page()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(url + path)
                wait_for_run_after(page, name, 0)
                pages[name] = page
            for name, page in pages.items():  # finished, so what follows is a change made while the server is down
                wait_until_settled(page, name)
        before = {}
        for name, page in pages.items():
            status = PAGES[name][3]
            page.wait_for_function(f"/^reconnecting/i.test(document.querySelector('{status}').textContent)")
            before[name] = runs_done(page, name)
            PAGES[name][4](page)
        with server_on(port):
            for name, page in pages.items():
                wait_for_run_after(page, name, before[name])
                wait_until_settled(page, name)
            # the change, once (the lab draws kernel size 4 on its way to 5: it holds a change made while a run is
            # on its way until that run ends)
            for name in ("network", "sequence", "autoencoder"):
                assert runs_done(pages[name], name) == before[name] + 1, name
            screenshot(pages["network"], "reconnect-network-after-restart")
            network = pages["network"]
            assert network.locator("#nv-layers > *").count() == 16  # the input and the autoencoder's 15 layers
            assert network.locator("#nv-layers > [data-state=stale]").count() == 0
            # kernel size 5: the 5×5 filters it fetched (GET /api/kernels) once the server was back, and its output
            assert pages["lab"].get_attribute("#lab-output-view", "data-shape") == "4x124x124"
            assert pages["lab"].inner_text("#lab-input-picker .ip-error") == ""
            assert pages["sequence"].input_value("#sq-network") == "digits-gru"
    finally:
        for context in contexts:
            context.close()
    unexpected = [e for e in errors if not re.search(f"{REFUSED}|{RESOURCE_REFUSED}", e)]
    assert not unexpected, unexpected


@pytest.mark.parametrize("name", ["lab", "network", "sequence", "autoencoder"])
def test_a_page_idle_through_a_lost_connection_does_not_keep_saying_it_is_reconnecting(new_page, name):
    path, _, _, status, _ = PAGES[name]
    page = new_page()
    page.add_init_script(KEEP_SOCKETS)
    page.goto(path)
    wait_for_run_after(page, name, 0)
    page.evaluate("window.__sockets.filter((s) => s.url.endsWith('/ws/run')).forEach((s) => s.close())")
    page.wait_for_function(f"document.querySelector('{status}').textContent.startsWith('Reconnecting')"
                           if name != "lab" else f"/^reconnecting/.test(document.querySelector('{status}').textContent)")
    page.wait_for_function("window.__sockets.filter((s) => s.url.endsWith('/ws/run')).length === 2"
                           " && window.__sockets.at(-1).readyState === 1")
    page.wait_for_function(f"!/^reconnecting/i.test(document.querySelector('{status}').textContent)", timeout=3_000)


def test_the_lab_makes_a_change_it_could_not_prepare_once_the_connection_is_back(new_page):
    """A change made while the server is unreachable for longer than a read is retried (its kernels could not be
    fetched) is not forgotten: once the socket is back, the lab makes it, and the output is current."""
    page = new_page()
    page.add_init_script(KEEP_SOCKETS)
    page.goto("/")
    wait_for_run_after(page, "lab", 0)
    assert page.get_attribute("#lab-output-view", "data-shape") == "4x126x126"
    page.route("**/api/kernels**", lambda route: route.fulfill(status=503, body='{"detail": "the server is away"}'))
    page.allowed_errors.append("503")
    PAGES["lab"][4](page)  # kernel size 3 -> 5: its filters are fetched, and the fetch fails
    page.wait_for_function("document.querySelector('#lab-input-picker .ip-error').textContent.includes('away')")
    page.unroute("**/api/kernels**")
    done = runs_done(page, "lab")
    page.evaluate("window.__sockets.filter((s) => s.url.endsWith('/ws/run')).forEach((s) => s.close())")
    wait_for_run_after(page, "lab", done)
    page.wait_for_function("document.querySelector('#lab-output-view').dataset.shape === '4x124x124'")
    assert page.inner_text("#lab-input-picker .ip-error") == ""  # the failure is not left on show


def test_a_page_back_from_the_back_forward_cache_runs_again(browser, server_url):
    """Network, then the cortex page, then Back: the page comes back as it was left (Chrome's back-forward
    cache, which the test browser keeps off unless asked), and a new choice of network runs."""
    caching = browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                          ignore_default_args=["--disable-back-forward-cache"])
    try:
        page = caching.new_page(base_url=server_url)
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto("/network")
        wait_for_run_after(page, "network", 0)
        page.evaluate("window.__left = true")
        page.click("nav[aria-label='Views'] a[href='/layers']")
        page.wait_for_url("**/layers")
        page.go_back(wait_until="commit")  # a page from the cache fires no "load"
        page.wait_for_function("window.__left === true")  # the very page left, not a new load of it
        done = runs_done(page, "network")
        PAGES["network"][4](page)
        wait_for_run_after(page, "network", done, timeout=10_000)
        assert page.locator("#nv-layers > *").count() == 16  # the input and the autoencoder's 15 layers
        assert not errors, errors
    finally:
        caching.close()


def test_a_run_in_flight_when_the_page_goes_into_the_cache_is_sent_when_it_comes_back(page):
    page.goto("/layers")
    result = page.evaluate("""async () => {
      const { RunSocket } = await import("/static/js/wire.js");
      const socket = new RunSocket();
      window.addEventListener("pagehide", () => socket.close()); // as the pages do
      const statuses = [];
      socket.onStatus = (status) => statuses.push(status);
      const handle = socket.run({ network: "digits-cnn", input: { sample: "digit-3" } });
      window.dispatchEvent(new PageTransitionEvent("pagehide", { persisted: true }));
      const wsWhileCached = socket.ws;
      window.dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true }));
      const outcome = await handle.done;
      socket.close();
      return { outcome: outcome.status, statuses, wsWhileCached: wsWhileCached === null };
    }""")
    assert result["outcome"] == "done"
    assert result["wsWhileCached"]  # closed while in the cache: the page can go in, and the server frees the socket
    assert "reconnecting" not in result["statuses"]  # nothing to tell: the page was away


def dead_socket(page) -> None:
    """A RunSocket (window.socket, its statuses in window.statuses) to a path where the server takes no socket,
    so that each try fails as it would with the server down (the page's CSP keeps it to its own server)."""
    page.allowed_errors.append(REFUSED)
    page.add_init_script(KEEP_SOCKETS)
    page.goto("/layers")
    page.evaluate("""async () => {
      const { RunSocket, defaultSocketUrl } = await import("/static/js/wire.js");
      window.statuses = [];
      window.socket = new RunSocket({ url: defaultSocketUrl("/ws/none"), onStatus: (s) => window.statuses.push(s) });
    }""")


def test_a_socket_closed_while_it_waits_to_reconnect_stays_closed(page):
    dead_socket(page)
    page.wait_for_function("window.statuses.includes('reconnecting')")
    page.evaluate("window.socket.close()")
    tries = page.evaluate("window.__sockets.length")
    page.wait_for_timeout(1_000)  # longer than the first two waits of the back-off (250 and 500 ms)
    assert page.evaluate("window.__sockets.length") == tries
    assert page.evaluate("window.statuses.at(-1)") == "closed"


@pytest.mark.parametrize("event", ["visibilitychange", "online"])
def test_a_page_shown_again_or_back_online_tries_to_reconnect_at_once(page, event):
    dead_socket(page)
    # four tries have failed: the back-off now waits 2 s before the next
    page.wait_for_function("window.statuses.filter((s) => s === 'reconnecting').length >= 4", timeout=5_000)
    tries = page.evaluate("window.__sockets.length")
    target = "document" if event == "visibilitychange" else "window"
    page.evaluate(f"{target}.dispatchEvent(new Event('{event}'))")
    page.wait_for_function(f"window.__sockets.length > {tries}", timeout=500)
    page.evaluate("window.socket.close()")


def test_a_read_that_cannot_reach_the_server_is_tried_again_until_it_can(page):
    """GET /api/kernels while the server restarts: the lab's 5×5 filters arrive once it is back, not an error
    that leaves the output of the old settings on the screen."""
    page.allowed_errors.append("Failed to load resource")
    page.goto("/layers")
    refusals = []

    def refuse_twice(route):
        if len(refusals) < 2:
            refusals.append(route.request.url)
            route.abort("connectionrefused")
        else:
            route.continue_()

    page.route("**/api/kernels*", refuse_twice)
    result = page.evaluate("""async () => {
      const { fetchJSON } = await import("/static/js/api.js");
      return Object.keys(await fetchJSON("/api/kernels?size=5"));
    }""")
    assert len(refusals) == 2 and "sobel_x" in result
    # a POST is not sent again: an upload or a download fails at once, and says why
    posts = []
    page.route("**/api/images", lambda route: posts.append(route) or route.abort("connectionrefused"))
    message = page.evaluate("""async () => {
      const { uploadImage } = await import("/static/js/api.js");
      return uploadImage(new File(["x"], "x.png")).catch((error) => `${error.status} ${error.message}`);
    }""")
    assert message == "0 cannot reach the Lamina server: is it still running?" and len(posts) == 1
