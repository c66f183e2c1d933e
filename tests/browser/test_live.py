"""Live sessions in the browser: a follower's tab shows what the presenter's tab shows, page by page."""

import re

from PIL import Image

from tests.browser.conftest import screenshot
from tests.browser.test_lab import drop_file, png_bytes

NETWORK = "#network-view"


def runs_done(page) -> int:
    return int(page.get_attribute(NETWORK, "data-runs-done") or 0)


def wait_for_network_run_after(page, count: int) -> None:
    page.wait_for_function(f"Number(document.querySelector('{NETWORK}').dataset.runsDone) > {count}",
                           timeout=30_000)


def start_session(page) -> str:
    page.click("#live-toggle")
    page.click("#live-start")
    page.wait_for_function("/^[A-Z2-9]{6}$/.test(document.getElementById('live-big-code').textContent)")
    return page.inner_text("#live-big-code")


def follow_by_code(page, code: str) -> None:
    page.click("#live-toggle")
    page.fill("#live-code", code)
    page.click("#live-follow-form button[type=submit]")


def banner(page) -> str:
    return page.inner_text("#live-banner")


def lab_session(new_page, join_from: str = "/", view: str = "/?kind=MaxPool2d") -> tuple:
    """A presenter on the lab's `view` (MaxPool2d), and a follower who opened the join link on page `join_from`."""
    presenter = new_page()
    presenter.goto(view)
    code = start_session(presenter)
    follower = new_page()
    follower.goto(f"{join_from}?follow={code}")
    follower.wait_for_url(lambda url: url.endswith(view))  # no follow= left in the address
    return presenter, follower, code


def test_a_follower_sees_the_name_of_the_presenters_upload(new_page):
    presenter, follower, _ = lab_session(new_page)
    presenter.click("text=Upload")
    drop_file(presenter, "square.png", png_bytes(Image.new("RGB", (90, 120), (200, 30, 30))))
    presenter.wait_for_function("document.querySelector('.ip-upload-name').textContent.startsWith('Using square')")
    follower.wait_for_url(re.compile(r"input=upload"))
    follower.wait_for_function("document.querySelector('.ip-upload-name').textContent === 'Using square.png (90×120)'")


def test_a_follower_sees_the_presenters_view_change_and_move_between_pages(new_page):
    presenter = new_page()
    presenter.goto("/network")
    wait_for_network_run_after(presenter, 0)
    code = start_session(presenter)
    assert re.fullmatch(f"Live session {code}: 0 following\\s*End session", banner(presenter))
    assert presenter.inner_text("#live-link").endswith(f"/?follow={code}")
    screenshot(presenter, "live-presenter-code")

    follower = new_page()
    follower.goto("/sequence")
    follow_by_code(follower, code.lower())  # typed in any case
    follower.wait_for_url(re.compile(r"/network$"))  # the presenter's page, with its (default) state
    wait_for_network_run_after(follower, 0)
    assert banner(follower).startswith(f"Following {code}")
    presenter.wait_for_function("document.getElementById('live-status').textContent.includes('1 following')")

    # the presenter picks another network: the follower's page takes the new state and runs it
    before = runs_done(follower)
    presenter.select_option("#nv-network", "edges")
    follower.wait_for_url(re.compile(r"/network\?network=edges"))
    wait_for_network_run_after(follower, before)
    assert follower.input_value("#nv-network") == "edges"
    assert follower.locator(f"{NETWORK} .nv-layer").count() == presenter.locator(f"{NETWORK} .nv-layer").count()
    screenshot(follower, "live-follower-edges")

    # the presenter opens another page: the session goes on there, and the follower goes along
    presenter.click("header.top nav a[href='/sequence']")
    presenter.wait_for_function("document.getElementById('live-status').textContent.includes('1 following')")
    assert presenter.inner_text("#live-toggle") == f"Live: {code}"
    follower.wait_for_url(re.compile(r"/sequence$"))
    assert banner(follower).startswith(f"Following {code}")

    # the presenter ends it: the follower is told, and stays where it is
    presenter.click("#live-stop")
    follower.wait_for_function(f"document.getElementById('live-status').textContent.includes('{code} has ended')")
    assert presenter.is_hidden("#live-banner") and presenter.inner_text("#live-toggle") == "Live session"
    assert follower.inner_text("#live-toggle") == "Live session"
    follower.reload()  # the tab no longer follows anything
    follower.wait_for_timeout(500)
    assert follower.is_hidden("#live-banner")


def test_a_join_link_follows_and_leave_stops_following(new_page):
    presenter, follower, code = lab_session(new_page, join_from="/autoencoder")
    assert banner(follower).startswith(f"Following {code}")
    follower.click("#live-stop")  # "Leave"
    follower.wait_for_function("document.getElementById('live-banner').hidden")
    presenter.wait_for_function("document.getElementById('live-status').textContent.includes('0 following')")
    presenter.select_option("#lab-kind", "AvgPool2d")
    presenter.wait_for_url(re.compile(r"kind=AvgPool2d"))
    follower.wait_for_timeout(500)
    assert "kind=MaxPool2d" in follower.url  # no longer following


def test_a_follower_is_told_when_the_presenters_page_has_closed_but_not_on_a_page_change(new_page):
    presenter, follower, code = lab_session(new_page)
    presenter.click("nav >> text=Network")  # a page change: the presenter's next page takes the session up
    follower.wait_for_url(re.compile(r"/network"))
    follower.wait_for_timeout(3500)  # past the 3 s a page change may take
    assert banner(follower).startswith(f"Following {code}: this tab shows the presenter's view")
    presenter.close()  # the tab is gone: the session waits 30 s for it, and the followers hear so
    follower.wait_for_function("document.getElementById('live-status').textContent.includes('has closed')",
                               timeout=10_000)
    assert re.search(r"the presenter's page has closed; unless it comes back, the session ends within 2\d seconds",
                     banner(follower)), banner(follower)


def test_a_follower_on_a_phone_is_brought_to_the_map_the_presenter_opens(new_page):
    presenter, follower, _ = lab_session(new_page, view="/network")
    follower.set_viewport_size({"width": 390, "height": 844})  # the detail panel goes below the layers
    follower.wait_for_function("document.querySelector('#network-view').dataset.runsDone > 0")
    presenter.click(".nv-layer[data-index='3'] button.map[data-channel='2']")
    follower.locator("#nv-detail").wait_for(state="visible")
    follower.wait_for_function("document.getElementById('nv-detail').getBoundingClientRect().top < innerHeight")
    assert follower.evaluate("scrollY") > 1000  # it had stayed at the top, 4,000 px above the panel


def test_a_follower_sees_the_filter_the_presenter_points_at(new_page):
    presenter, follower, _ = lab_session(new_page, view="/?size=64")
    follower.wait_for_selector(".ke-filter[aria-selected='true']")
    presenter.click("#ke-filter-2")
    follower.wait_for_function("document.querySelector(\".ke-filter[aria-selected='true']\")?.id === 'ke-filter-2'")
    assert follower.input_value(".ke-preset") == presenter.input_value(".ke-preset")
    assert follower.locator(".ke-cell").evaluate_all("cells => cells.map((c) => c.value)") == \
        presenter.locator(".ke-cell").evaluate_all("cells => cells.map((c) => c.value)")
    assert "you changed" not in follower.inner_text("#live-status")
    follower.reload()  # the link holds it too
    follower.wait_for_function("document.querySelector(\".ke-filter[aria-selected='true']\")?.id === 'ke-filter-2'")


def test_a_follower_who_drops_a_picture_on_the_page_is_told_they_changed_the_view(new_page):
    """A file dragged in from the desktop makes no pointer or key event on the page: the drop alone counts."""
    presenter, follower, code = lab_session(new_page)
    drop_file(follower, "mine.png", png_bytes(Image.new("RGB", (40, 40), (10, 200, 30))))
    follower.wait_for_url(re.compile(r"input=upload"))
    follower.wait_for_function("document.getElementById('live-status').textContent.includes('you changed')")
    assert follower.is_visible("#live-back")


def test_a_follower_who_changes_the_view_is_told_and_can_go_back(new_page):
    presenter, follower, code = lab_session(new_page)

    def stray() -> None:
        follower.focus("#lab-kind")
        follower.keyboard.press("ArrowDown")  # the follower's own keys pick another layer kind
        follower.wait_for_function("!location.search.includes('kind=MaxPool2d')")
        follower.wait_for_function("document.getElementById('live-status').textContent.includes('you changed')")
        assert follower.is_visible("#live-back")

    stray()
    screenshot(follower, "live-follower-strayed")
    follower.go_back()  # the follower's own Back returns to the presenter's view, and Forward leaves it again
    follower.wait_for_url(re.compile(r"/\?kind=MaxPool2d$"))
    follower.wait_for_function("document.getElementById('live-status').textContent.includes(\"presenter's view\")")
    follower.go_forward()
    follower.wait_for_function("document.getElementById('live-status').textContent.includes('you changed')")
    follower.click("#live-back")
    follower.wait_for_url(re.compile(r"/\?kind=MaxPool2d$"))
    assert follower.input_value("#lab-kind") == "MaxPool2d"
    assert banner(follower).startswith(f"Following {code}: this tab shows the presenter's view")
    assert follower.is_hidden("#live-back")
    assert follower.evaluate("document.activeElement.id") == "live-stop"  # the focus stays in the banner

    stray()
    presenter.select_option("#lab-kind", "ReLU")  # the presenter's next change brings the follower back
    follower.wait_for_url(re.compile(r"kind=ReLU"))
    follower.wait_for_function("document.getElementById('live-status').textContent.includes(\"presenter's view\")")
    assert follower.is_hidden("#live-back")


def test_a_follower_who_opens_another_page_stays_there_and_is_told(new_page):
    presenter, follower, code = lab_session(new_page)
    follower.wait_for_function("document.getElementById('live-status').textContent.includes(\"presenter's view\")")
    follower.click("nav[aria-label='Views'] a[href='/layers']")  # the follower's own header link
    follower.wait_for_url(re.compile(r"/layers$"))
    follower.wait_for_function("document.getElementById('live-status').textContent.includes('you changed')")
    follower.wait_for_timeout(1000)  # time enough to have been taken back, which it must not be
    assert follower.url.endswith("/layers") and follower.is_visible("#live-back")
    follower.click("#live-back")
    follower.wait_for_url(re.compile(r"/\?kind=MaxPool2d$"))
    follower.wait_for_function("document.getElementById('live-status').textContent.includes(\"presenter's view\")")

    follower.click("nav[aria-label='Views'] a[href='/sequence']")
    follower.wait_for_url(re.compile(r"/sequence$"))
    follower.wait_for_function("document.getElementById('live-status').textContent.includes('you changed')")
    presenter.select_option("#lab-kind", "ReLU")  # the presenter's next change brings the follower back
    follower.wait_for_url(re.compile(r"/\?kind=ReLU$"))
    # the new page says "connecting to the server…" until its live socket is open
    follower.wait_for_function("document.getElementById('live-status').textContent.includes(\"presenter's view\")")
    assert banner(follower).startswith(f"Following {code}: this tab shows the presenter's view")


def test_a_followers_text_box_shows_the_text_that_ran_even_while_focused(new_page):
    presenter = new_page()
    presenter.goto("/sequence?network=untrained-lstm&source=text&text=abc")
    code = start_session(presenter)
    follower = new_page()
    follower.goto(f"/sequence?follow={code}")
    follower.wait_for_url(re.compile(r"text=abc$"))
    follower.click("#sq-text")
    follower.keyboard.type("xyz")  # the follower's own text runs once typing pauses
    follower.wait_for_function("document.getElementById('live-status').textContent.includes('you changed')")
    presenter.fill("#sq-text", "abcdefg")
    follower.wait_for_url(re.compile(r"text=abcdefg$"))
    # the box still has the focus, and shows the presenter's text, which is what the plots show
    follower.wait_for_function("document.getElementById('sq-text').value === 'abcdefg'")
    assert follower.evaluate("document.activeElement.id") == "sq-text"


def test_a_mistyped_code_says_so(new_page):
    page = new_page()
    page.goto("/sequence")
    page.click("#live-toggle")  # the panel opens with its first control focused, and Escape closes it
    assert page.evaluate("document.activeElement.id") == "live-start"
    assert page.get_attribute("#live-toggle", "aria-expanded") == "true"
    page.keyboard.press("Escape")
    assert page.is_hidden("#live-panel") and page.get_attribute("#live-toggle", "aria-expanded") == "false"
    follow_by_code(page, "ZZZZZZ")
    page.wait_for_selector("#live-error:not([hidden])")
    assert "no live session has the code 'ZZZZZZ'" in page.inner_text("#live-error")
    assert page.inner_text("#live-toggle") == "Live session" and page.is_hidden("#live-banner")


def test_a_follower_shows_a_burst_of_views_as_a_few_with_the_newest_last(new_page):
    """While the presenter drags a slider, a follower shows at most about four views a second (each costs a run)."""
    presenter = new_page()
    presenter.goto("/layers")
    code = presenter.evaluate("""async () => {
      const ws = new WebSocket(`ws://${location.host}/ws/live`);  // a bare presenter: the test sends the views
      await new Promise((resolve) => { ws.onopen = resolve; });
      ws.send(JSON.stringify({ type: "present" }));
      const reply = await new Promise((resolve) => { ws.onmessage = (event) => resolve(JSON.parse(event.data)); });
      window.bare = ws;
      return reply.code;
    }""")
    follower = new_page()
    follower.goto(f"/?follow={code}")
    follower.wait_for_function("document.getElementById('live-status').textContent.startsWith('Following')")
    follower.evaluate("window.shown = 0; addEventListener('popstate', () => { window.shown += 1; })")
    # 20 views 50 ms apart, as a dragged slider writes them (the server passes each on: none waits unsent)
    presenter.evaluate("""async () => {
      for (let i = 0; i < 20; i++) {
        window.bare.send(JSON.stringify({ type: "view", url: `/?size=${32 + i}` }));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }""")
    follower.wait_for_url(re.compile(r"/\?size=51$"))
    follower.wait_for_timeout(600)
    assert 2 <= follower.evaluate("window.shown") <= 7  # one per 250 ms over about a second
    assert follower.url.endswith("/?size=51")


def test_a_session_the_server_no_longer_has_says_it_ended(new_page):
    """After a server restart a tab takes up its part again and is refused: it says the session ended."""
    for part, storage, words in (
            ("present", 'sessionStorage.setItem("lamina:live-presenting", JSON.stringify({code: "QQQQQQ", key: "k"}))',
             "Your live session QQQQQQ has ended: the server no longer has it (it may have restarted)."),
            ("follow", 'sessionStorage.setItem("lamina:live-following", "QQQQQQ")',
             "The live session QQQQQQ has ended: the server no longer has it")):
        page = new_page()
        page.goto("/layers")
        page.evaluate(storage)
        page.reload()
        page.wait_for_selector("#live-error:not([hidden])")
        assert words in page.inner_text("#live-error"), part
        assert page.inner_text("#live-toggle") == "Live session"
        if part == "follow":
            assert "The live session QQQQQQ has ended" in banner(page)


def test_a_join_link_with_a_wrong_code_says_the_code_is_unknown(new_page):
    page = new_page()
    page.goto("/layers?follow=zzzzzz")
    page.wait_for_selector("#live-error:not([hidden])")
    assert "no live session has the code 'ZZZZZZ'" in page.inner_text("#live-error")


def test_the_keyboard_stays_on_the_live_controls_when_the_one_pressed_goes(new_page):
    """Start, Follow, Leave, End session and Close each hide the control that was pressed: the focus moves on to
    the session's link, or to the header's toggle that names the session, never to the page's body."""
    focused = "document.activeElement.id"
    presenter = new_page()
    presenter.goto("/?kind=ReLU")
    presenter.focus("#live-toggle")
    presenter.keyboard.press("Enter")
    assert presenter.evaluate(focused) == "live-start"
    presenter.keyboard.press("Enter")
    presenter.wait_for_function("/^[A-Z2-9]{6}$/.test(document.getElementById('live-big-code').textContent)")
    assert presenter.evaluate(focused) == "live-link"
    code = presenter.inner_text("#live-big-code")

    def follow_with_keys():
        follower = new_page()
        follower.goto("/?kind=ReLU")
        follower.focus("#live-toggle")
        follower.keyboard.press("Enter")
        follower.keyboard.press("Tab")  # from Start to the code
        follower.keyboard.type(code)
        follower.keyboard.press("Enter")
        follower.wait_for_function("document.getElementById('live-toggle').textContent.startsWith('Following')")
        assert follower.evaluate(focused) == "live-toggle"
        return follower

    leaving, staying = follow_with_keys(), follow_with_keys()
    leaving.focus("#live-stop")
    leaving.keyboard.press("Enter")  # Leave
    leaving.wait_for_function("document.getElementById('live-banner').hidden")
    assert leaving.evaluate(focused) == "live-toggle"

    presenter.focus("#live-stop")
    presenter.keyboard.press("Enter")  # End session
    presenter.wait_for_function("document.getElementById('live-banner').hidden")
    assert presenter.evaluate(focused) == "live-toggle"

    staying.wait_for_function("document.getElementById('live-stop').textContent === 'Close'")  # "… has ended"
    staying.focus("#live-stop")
    staying.keyboard.press("Enter")
    staying.wait_for_function("document.getElementById('live-banner').hidden")
    assert staying.evaluate(focused) == "live-toggle"


def offered_left(page) -> dict | None:
    return page.evaluate("JSON.parse(localStorage.getItem('lamina:live-left'))")


def test_a_presenter_who_closed_the_tab_is_offered_the_session_in_a_new_tab(new_page):
    """The tab is gone with its sessionStorage; a new tab of the same browser within the grace period offers the
    session (never takes it on its own) and, asked to, presents it again: the followers see the new tab's view."""
    presenter, follower, code = lab_session(new_page)
    presenter.click("nav >> text=Layers & cortex")  # a page change leaves nothing to offer
    follower.wait_for_url(re.compile(r"/layers$"))
    presenter.wait_for_function("document.getElementById('live-status').textContent.includes('1 following')")
    assert offered_left(presenter) is None
    browser_context = presenter.context
    presenter.close()
    follower.wait_for_function("document.getElementById('live-status').textContent.includes('has closed')",
                               timeout=10_000)

    again = browser_context.new_page()
    errors = []
    again.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    again.goto("/network")
    again.wait_for_selector("#live-resume:not([hidden])")
    assert re.fullmatch(f"Your live session {code} closed with its tab; unless you present it again, it ends "
                        r"within 2\d seconds\s*Present again\s*Dismiss", banner(again)), banner(again)
    assert again.inner_text("#live-toggle") == "Live session"  # offered, not taken
    screenshot(again, "live-offer-to-present-again")
    again.click("#live-resume")
    again.wait_for_function(f"document.getElementById('live-status').textContent === 'Live session {code}: "
                            "1 following'", timeout=10_000)
    follower.wait_for_url(re.compile(r"/network$"))
    follower.wait_for_timeout(3500)  # past the 3 s after which a closed page is told
    assert banner(follower).startswith(f"Following {code}: this tab shows the presenter's view")
    assert offered_left(again) is None  # presented again: no other tab offers it
    assert errors == []


def test_an_offer_to_present_again_can_be_dismissed_and_lasts_only_the_grace_period(new_page):
    page = new_page()
    page.goto("/layers")
    left = ("localStorage.setItem('lamina:live-left', "
            "JSON.stringify({code: 'QQQQQQ', key: 'k', until: Date.now() + %d}))")
    page.evaluate(left % -1000)  # already over: not offered, and forgotten
    page.reload()
    page.wait_for_timeout(300)
    assert page.is_hidden("#live-banner") and offered_left(page) is None

    page.evaluate(left % 20_000)
    page.reload()
    page.wait_for_selector("#live-resume:not([hidden])")
    page.click("#live-stop")  # "Dismiss"
    page.wait_for_selector("#live-banner", state="hidden")
    assert offered_left(page) is None
    page.reload()
    page.wait_for_timeout(300)
    assert page.is_hidden("#live-banner")

    page.evaluate(left % 1500)  # the offer goes when the session would have ended
    page.reload()
    page.wait_for_selector("#live-resume:not([hidden])")
    page.wait_for_selector("#live-banner", state="hidden", timeout=5000)
    assert offered_left(page) is None


def test_an_offered_session_the_server_no_longer_has_says_it_ended(new_page):
    page = new_page()
    page.goto("/layers")
    page.evaluate("localStorage.setItem('lamina:live-left', JSON.stringify({code: 'QQQQQQ', key: 'k', "
                  "until: Date.now() + 20000}))")
    page.reload()
    page.click("#live-resume")
    page.wait_for_selector("#live-error:not([hidden])")
    assert "Your live session QQQQQQ has ended" in page.inner_text("#live-error")
    assert page.inner_text("#live-toggle") == "Live session"
