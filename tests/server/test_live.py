"""Live classroom sessions over /ws/live: present, follow, views passed on, limits and errors."""

import json
import time

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.app import create_app
from server.live import CODE_ALPHABET, CODE_LENGTH, MAX_PENDING, MAX_URL_CHARS, Outbox
from server.settings import Settings


def app_client(**settings) -> TestClient:
    return TestClient(create_app(Settings(device="cpu", **settings)))


@pytest.fixture
def client():
    with app_client() as client:
        yield client


def present(ws, **fields) -> dict:
    ws.send_json({"type": "present", **fields})
    reply = ws.receive_json()
    assert reply["type"] == "presenting", reply
    return reply


def follow(ws, code: str) -> dict:
    ws.send_json({"type": "follow", "code": code})
    reply = ws.receive_json()
    assert reply["type"] == "following", reply
    return reply


def receive_type(ws, kind: str) -> dict:
    """The next message of type `kind` (a presenter also gets follower counts in between)."""
    for _ in range(10):
        message = ws.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind!r} message")


def test_a_follower_gets_the_presenters_views_as_they_change(client):
    with client.websocket_connect("/ws/live") as presenter, client.websocket_connect("/ws/live") as follower:
        started = present(presenter)
        code = started["code"]
        assert len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET)
        assert started["followers"] == 0 and len(started["key"]) >= 16
        presenter.send_json({"type": "view", "url": "/network?network=edges"})

        joined = follow(follower, code.lower())  # codes are read off a screen: any case will do
        assert joined == {"type": "following", "code": code, "url": "/network?network=edges"}
        assert receive_type(presenter, "followers")["count"] == 1

        for url in ("/network?network=edges&layer=2", "/sequence", "/?kind=MaxPool2d"):
            presenter.send_json({"type": "view", "url": url})
            assert follower.receive_json() == {"type": "view", "url": url}


def test_several_followers_and_the_count_the_presenter_sees(client):
    with client.websocket_connect("/ws/live") as presenter:
        code = present(presenter)["code"]
        with client.websocket_connect("/ws/live") as first, client.websocket_connect("/ws/live") as second:
            follow(first, code)
            follow(second, code)
            counts = [receive_type(presenter, "followers")["count"] for _ in range(2)]
            assert counts[-1] == 2
            presenter.send_json({"type": "view", "url": "/autoencoder"})
            assert first.receive_json()["url"] == second.receive_json()["url"] == "/autoencoder"
            second.send_json({"type": "leave"})
            assert second.receive_json() == {"type": "left", "code": code}
            assert receive_type(presenter, "followers")["count"] == 1
        # a follower whose page closes no longer counts
        assert receive_type(presenter, "followers")["count"] == 0


def test_a_followers_page_change_does_not_make_the_count_blink(client):
    """A follower's page closes and its next page follows again: the presenter is not told 0 in between."""
    with client.websocket_connect("/ws/live") as presenter:
        code = present(presenter)["code"]
        with client.websocket_connect("/ws/live") as first_page:
            follow(first_page, code)
            assert receive_type(presenter, "followers")["count"] == 1
        with client.websocket_connect("/ws/live") as next_page:
            follow(next_page, code)
            assert receive_type(presenter, "followers")["count"] == 1


def test_ending_a_session_tells_its_followers_and_frees_the_code(client):
    with client.websocket_connect("/ws/live") as presenter, client.websocket_connect("/ws/live") as follower:
        code = present(presenter)["code"]
        follow(follower, code)
        presenter.send_json({"type": "end"})
        assert receive_type(presenter, "ended")["code"] == code
        assert follower.receive_json() == {"type": "ended", "code": code}
        follower.send_json({"type": "follow", "code": code})
        error = follower.receive_json()
        assert error["type"] == "error" and error["field"] == "code" and code in error["message"]


def test_the_presenters_next_page_takes_the_session_up_again(client):
    """A page change closes the presenter's socket; its next page resumes with code and key."""
    with client.websocket_connect("/ws/live") as follower:
        with client.websocket_connect("/ws/live") as first_page:
            started = present(first_page)
            follow(follower, started["code"])
        with client.websocket_connect("/ws/live") as next_page:
            resumed = present(next_page, code=started["code"], key=started["key"])
            assert resumed["code"] == started["code"] and resumed["followers"] == 1
            next_page.send_json({"type": "view", "url": "/sequence?network=digits-gru"})
            told = [follower.receive_json()]
            while told[-1]["type"] != "view":
                told.append(follower.receive_json())
            # the follower heard the presenter was away (unless the return replaced that unsent), then back
            assert told[-2:] == [{"type": "presenter", "here": True},
                                 {"type": "view", "url": "/sequence?network=digits-gru"}]
            assert all(message["type"] == "presenter" and not message["here"] for message in told[:-2])


def test_presenting_says_how_long_the_session_waits_for_the_next_page():
    """A closing presenter's tab keeps the code and key that long, for a new tab to offer (live.js)."""
    with app_client(live_grace_seconds=12.5) as client:
        with client.websocket_connect("/ws/live") as first_page:
            started = present(first_page)
            assert started["grace_seconds"] == 12.5
        with client.websocket_connect("/ws/live") as next_page:
            assert present(next_page, code=started["code"], key=started["key"])["grace_seconds"] == 12.5


def test_resuming_needs_the_key(client):
    with client.websocket_connect("/ws/live") as presenter, client.websocket_connect("/ws/live") as other:
        code = present(presenter)["code"]
        other.send_json({"type": "present", "code": code, "key": "guessed"})
        error = other.receive_json()
        assert error["type"] == "error" and error["field"] == "key"
        other.send_json({"type": "view", "url": "/"})  # and it cannot send views
        assert other.receive_json()["type"] == "error"


def test_a_session_ends_when_its_presenter_does_not_come_back():
    with app_client(live_grace_seconds=0.2) as client:
        with client.websocket_connect("/ws/live") as follower:
            with client.websocket_connect("/ws/live") as presenter:
                code = present(presenter)["code"]
                follow(follower, code)
            assert follower.receive_json() == {"type": "presenter", "here": False, "seconds": 0}  # 0.2 s
            assert follower.receive_json() == {"type": "ended", "code": code}  # after the grace period
            time.sleep(0.1)
            assert code not in client.app.state.live.sessions


def test_a_follower_hears_when_the_presenters_page_has_closed_even_on_joining_then():
    with app_client(live_grace_seconds=30) as client:
        with client.websocket_connect("/ws/live") as presenter:
            started = present(presenter)
        with client.websocket_connect("/ws/live") as follower:
            follow(follower, started["code"])
            away = follower.receive_json()
            assert away["type"] == "presenter" and away["here"] is False and 25 <= away["seconds"] <= 30
            with client.websocket_connect("/ws/live") as back:
                present(back, code=started["code"], key=started["key"])
                assert follower.receive_json() == {"type": "presenter", "here": True}


@pytest.mark.parametrize("url", [
    "https://example.com/network", "//example.com/network", "network", "/api/models", "/ws/run", "/static/x.js",
    "/network/../api/health", "/" + "a" * MAX_URL_CHARS, 42, None, "/network\n", "/network?layer=1\t",
])
def test_only_urls_of_lamina_pages_are_passed_on(client, url):
    with client.websocket_connect("/ws/live") as presenter, client.websocket_connect("/ws/live") as follower:
        code = present(presenter)["code"]
        follow(follower, code)
        receive_type(presenter, "followers")
        presenter.send_json({"type": "view", "url": url})
        error = presenter.receive_json()
        assert error["type"] == "error" and error["field"] == "url"
        assert "/network" in error["message"] or "limit" in error["message"]
        presenter.send_json({"type": "view", "url": "/network"})  # the session goes on
        assert follower.receive_json() == {"type": "view", "url": "/network"}


def test_a_code_of_the_wrong_length_is_refused_without_echoing_it(client):
    with client.websocket_connect("/ws/live") as follower:
        for code in ("ABC", "Q" * 12_000):
            follower.send_json({"type": "follow", "code": code})
            error = follower.receive_json()
            assert error["type"] == "error" and error["field"] == "code" and len(error["message"]) < 200, error
            assert f"got {len(code):,}" in error["message"]


def test_a_long_view_is_passed_on_and_a_longer_one_refused_in_words(client):
    long, longer = "/?kernels=" + "1," * 3500, "/?kernels=" + "1," * 4500  # 7,010 and 9,010 characters
    with client.websocket_connect("/ws/live") as presenter, client.websocket_connect("/ws/live") as follower:
        code = present(presenter)["code"]
        follow(follower, code)
        receive_type(presenter, "followers")
        presenter.send_json({"type": "view", "url": long})
        assert follower.receive_json() == {"type": "view", "url": long}
        presenter.send_json({"type": "view", "url": longer})
        error = presenter.receive_json()
        assert error["message"] == ("this view's link has 9,010 characters, over the limit of 8,192 that a live "
                                    "session passes on: your followers still see your view before it")


@pytest.mark.parametrize("text, words", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    (json.dumps({"type": "dance"}), "unknown message type 'dance'"),
    (json.dumps({"type": "follow"}), "code must be"),
    (json.dumps({"type": "follow", "code": "ZZZZZZ"}), "no live session has the code 'ZZZZZZ'"),
    (json.dumps({"type": "view", "url": "/"}), "only a presenter"),
    (json.dumps({"type": "end"}), "presents no session"),
    (json.dumps({"type": "leave"}), "follows no session"),
    ("x" * 20_000, "limit is 12288"),
    ("[" * 5000, "not valid JSON"),  # nesting too deep for the parser, under the length limit
])
def test_bad_messages_get_an_error_and_the_socket_stays_open(client, text, words):
    with client.websocket_connect("/ws/live") as ws:
        ws.send_text(text)
        error = ws.receive_json()
        assert error["type"] == "error" and words in error["message"]
        started = present(ws)  # still serving
        assert started["code"]


def test_a_mistyped_code_leaves_a_follower_in_the_session_it_follows(client):
    with client.websocket_connect("/ws/live") as presenter, client.websocket_connect("/ws/live") as follower:
        code = present(presenter)["code"]
        follow(follower, code)
        follow(follower, code)  # following it again changes nothing
        assert [receive_type(presenter, "followers")["count"] for _ in range(2)] == [1, 1]
        follower.send_json({"type": "follow", "code": "ABC"})  # a student's typo
        assert follower.receive_json()["type"] == "error"
        follower.send_json({"type": "leave"})
        assert follower.receive_json() == {"type": "left", "code": code}  # it was still following
        assert receive_type(presenter, "followers")["count"] == 0


def test_a_page_cannot_present_and_follow_at_once(client):
    with client.websocket_connect("/ws/live") as presenter, client.websocket_connect("/ws/live") as ws:
        code = present(presenter)["code"]
        present(ws)
        ws.send_json({"type": "follow", "code": code})
        assert "cannot follow" in ws.receive_json()["message"]
        ws.send_json({"type": "present"})
        assert "already presents" in ws.receive_json()["message"]


def test_limits_on_sessions_and_followers():
    with app_client(max_live_sessions=1, max_live_followers=1) as client:
        with client.websocket_connect("/ws/live") as presenter, client.websocket_connect("/ws/live") as second:
            code = present(presenter)["code"]
            second.send_json({"type": "present"})
            assert "1 live sessions, its limit" in second.receive_json()["message"]
            follow(second, code)
            with client.websocket_connect("/ws/live") as third:
                third.send_json({"type": "follow", "code": code})
                assert "1 followers, its limit" in third.receive_json()["message"]


def test_an_outbox_keeps_only_the_latest_view_and_a_bounded_queue():
    """A follower that reads slowly gets the newest view, never a growing backlog."""
    outbox = Outbox(websocket=None)
    outbox.put({"type": "following", "code": "K7M2QX", "url": None})
    for i in range(100):
        outbox.put({"type": "view", "url": f"/network?layer={i}"})
    assert outbox.pending == [{"type": "following", "code": "K7M2QX", "url": None},
                              {"type": "view", "url": "/network?layer=99"}]
    for i in range(2 * MAX_PENDING):
        outbox.put({"type": "error", "message": str(i)})
    assert len(outbox.pending) == MAX_PENDING


def test_one_address_gets_at_most_max_sockets_per_address_live_sockets():
    app = create_app(Settings(device="cpu", max_sockets_per_address=1))
    with TestClient(app, client=("10.0.0.1", 50000)) as one, one.websocket_connect("/ws/live") as first:
        with pytest.raises(WebSocketDisconnect) as closed, one.websocket_connect("/ws/live") as extra:
            extra.receive_text()
        assert closed.value.code == 1013 and "too many open live sockets from your address (1)" in closed.value.reason
        with TestClient(app, client=("10.0.0.2", 50000)).websocket_connect("/ws/live") as other:
            present(other)
        present(first)


def test_live_sockets_beyond_the_limit_are_closed_with_1013():
    with app_client(max_live_sockets=1) as client:
        with client.websocket_connect("/ws/live") as first:
            with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/ws/live") as extra:
                extra.receive_text()
            assert closed.value.code == 1013 and "too many open live sockets (1)" in closed.value.reason
            present(first)  # the open one still serves
        with client.websocket_connect("/ws/live") as again:  # a closed socket frees its place
            present(again)
