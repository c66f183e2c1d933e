"""Live classroom sessions over `/ws/live`: followers see the presenter's view as it changes.

Every view keeps its whole state in its URL (a link reproduces the view), so a session carries one
thing: the presenter's current page URL. The presenter's page sends it whenever it changes; the
server keeps the latest one and passes it on to every follower, whose page then shows that view.

    presenter -> {"type": "present"}                        start a session
              <- {"type": "presenting", "code": "K7M2QX", "key": "...", "followers": 0, "grace_seconds": 30}
    presenter -> {"type": "present", "code": ..., "key": ...}  take it up again from a new page (within
                                                             grace_seconds of the last one closing)
    presenter -> {"type": "view", "url": "/network?layer=2"}
              <- {"type": "followers", "count": 3}           whenever the count changes (a follower whose page
                                                             closed counts out 3 s later, unless one comes first)
    presenter -> {"type": "end"}                             <- {"type": "ended", "code": ...}
    follower  -> {"type": "follow", "code": "k7m2qx"}        (any case)
              <- {"type": "following", "code": "K7M2QX", "url": "/network?..." or null}
              <- {"type": "view", "url": ...}                each time the presenter's view changes
              <- {"type": "presenter", "here": false, "seconds": 30}  the presenter's page closed: the
                                                             session ends in that many seconds unless it
                                                             comes back (a page change reconnects at once)
              <- {"type": "presenter", "here": true}         it came back
              <- {"type": "ended", "code": ...}              the presenter ended it, or left and did
                                                             not come back within the grace period
    follower  -> {"type": "leave"}                           <- {"type": "left", "code": ...}
    errors    <- {"type": "error", "message": ..., "field": ...}; the socket stays open

Everything runs on the event loop, so the registry needs no locks. Each socket has an `Outbox`
drained by one task: a follower that reads slowly gets the latest view, never a growing queue.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect

from server.pages import PAGES
from server.runs import SocketSlots, client_address
from server.wire import dumps
from server.ws import TRY_AGAIN_LATER

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread on a projector
CODE_LENGTH = 6
# a page's link a session passes on: the lab's kernels (at most 3,000 characters), a network stack or 512 typed
# numbers fit, and a follower's request for it stays under uvicorn's 16 KiB for a request's line and headers
MAX_URL_CHARS = 8192
MAX_MESSAGE_CHARS = 12288
# Messages of these types replace an unsent one of the same type: only the latest matters.
LATEST_ONLY = ("view", "followers", "presenter")
MAX_PENDING = 32  # queued messages per socket beyond which new ones are dropped (a client that never reads)
# A follower's page change closes its socket and opens the next page's within a second or so: the presenter's count
# goes down only if no follower has come (back) within this many seconds, so it does not blink "1, 0, 1 following"
FOLLOWER_SETTLE_SECONDS = 3.0

router = APIRouter(tags=["live sessions"])


class Outbox:
    """The messages waiting for one socket, sent in order by a single task (`run`)."""

    def __init__(self, websocket: WebSocket):
        self.websocket = websocket
        self.pending: list[dict] = []
        self.ready = asyncio.Event()

    def put(self, message: dict) -> None:
        if message["type"] in LATEST_ONLY:
            self.pending = [m for m in self.pending if m["type"] != message["type"]]
        if len(self.pending) < MAX_PENDING:
            self.pending.append(message)
        self.ready.set()

    async def run(self) -> None:
        while True:
            await self.ready.wait()
            self.ready.clear()
            messages, self.pending = self.pending, []
            for message in messages:
                try:
                    await self.websocket.send_text(dumps(message))
                except (WebSocketDisconnect, RuntimeError, OSError):
                    return  # the client went away; its receive loop ends the socket


@dataclass(eq=False)
class LiveSession:
    code: str
    key: str  # proves a new page belongs to the presenter who started the session
    presenter: Outbox | None
    url: str | None = None
    followers: set[Outbox] = field(default_factory=set)
    expiry: asyncio.TimerHandle | None = None
    recount: asyncio.TimerHandle | None = None  # a lower follower count, told once it has settled

    def tell_presenter_count_later(self, seconds: float) -> None:
        """Tell the presenter the count in `seconds`, unless a follower comes first (it is told at once then)."""
        self.cancel_recount()
        self.recount = asyncio.get_running_loop().call_later(seconds, self.tell_presenter_count)

    def cancel_recount(self) -> None:
        if self.recount is not None:
            self.recount.cancel()
            self.recount = None

    def tell_followers(self, message: dict) -> None:
        for follower in self.followers:
            follower.put(message)

    def tell_presenter_count(self) -> None:
        self.cancel_recount()
        if self.presenter is not None:
            self.presenter.put({"type": "followers", "count": len(self.followers)})

    def presenter_away(self) -> dict:
        """The message that the presenter's page has closed, with the seconds before the session ends."""
        left = self.expiry.when() - asyncio.get_running_loop().time() if self.expiry is not None else 0.0
        return {"type": "presenter", "here": False, "seconds": max(0, round(left))}


class LiveError(Exception):
    def __init__(self, message: str, field_name: str | None = None):
        super().__init__(message)
        self.field = field_name


class LiveHub:
    """The sessions of one server, by code."""

    def __init__(self, max_sessions: int, max_followers: int, grace_seconds: float, max_sockets: int = 2000,
                 max_sockets_per_address: int = 32):
        self.max_sessions = max_sessions
        self.max_followers = max_followers
        self.grace_seconds = grace_seconds
        # open /ws/live sockets, in a session or not
        self.sockets = SocketSlots(max_sockets, max_sockets_per_address, noun="live sockets")
        self.sessions: dict[str, LiveSession] = {}

    def start(self, presenter: Outbox) -> LiveSession:
        if len(self.sessions) >= self.max_sessions:
            raise LiveError(f"this server already hosts {self.max_sessions} live sessions, its limit; "
                            "end one or try again later")
        code = _new_code()
        while code in self.sessions:
            code = _new_code()
        session = self.sessions[code] = LiveSession(code, secrets.token_urlsafe(16), presenter)
        return session

    def resume(self, presenter: Outbox, code: object, key: object) -> LiveSession:
        session = self.find(code)
        if not isinstance(key, str) or not secrets.compare_digest(key, session.key):
            raise LiveError(f"the key does not match session {session.code}: only the page that started it (or a "
                            "later page of its tab, or a tab of its browser after it closed) can present it", "key")
        if session.expiry is not None:
            session.expiry.cancel()
            session.expiry = None
        if session.presenter is None:
            session.tell_followers({"type": "presenter", "here": True})
        if session.presenter is not None and session.presenter is not presenter:
            session.presenter.put({"type": "ended", "code": session.code, "reason": "presenting from another page"})
        session.presenter = presenter
        return session

    def find(self, code: object) -> LiveSession:
        typed = code.strip() if isinstance(code, str) else ""
        if len(typed) != CODE_LENGTH:
            got = f"; got {len(typed):,}" if typed else ""
            raise LiveError(f"code must be the {CODE_LENGTH} characters shown on the presenter's screen{got}", "code")
        session = self.sessions.get(typed.upper())
        if session is None:
            raise LiveError(f"no live session has the code {typed.upper()!r}; check the code on the "
                            "presenter's screen (a session ends when its presenter ends it)", "code")
        return session

    def follow(self, follower: Outbox, code: object) -> LiveSession:
        session = self.find(code)
        if follower not in session.followers and len(session.followers) >= self.max_followers:
            raise LiveError(f"session {session.code} already has {self.max_followers} followers, its limit", "code")
        session.followers.add(follower)
        session.tell_presenter_count()
        return session

    def unfollow(self, follower: Outbox, session: LiveSession, page_closed: bool = False) -> None:
        """A follower leaves; if its page closed (maybe for the next page), the presenter is told once it settles."""
        session.followers.discard(follower)
        if page_closed:
            session.tell_presenter_count_later(FOLLOWER_SETTLE_SECONDS)
        else:
            session.tell_presenter_count()

    def end(self, session: LiveSession) -> None:
        if self.sessions.get(session.code) is not session:
            return
        del self.sessions[session.code]
        if session.expiry is not None:
            session.expiry.cancel()
        session.cancel_recount()
        session.tell_followers({"type": "ended", "code": session.code})
        session.followers.clear()

    def presenter_left(self, session: LiveSession, presenter: Outbox) -> None:
        """The presenter's page closed: keep the session a while for its next page, then end it."""
        if session.presenter is not presenter:
            return
        session.presenter = None
        loop = asyncio.get_running_loop()
        session.expiry = loop.call_later(self.grace_seconds, self._expire, session)
        session.tell_followers(session.presenter_away())

    def _expire(self, session: LiveSession) -> None:
        if session.presenter is None:
            self.end(session)


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def check_view_url(url: object) -> str:
    """A presenter's URL must be a path and query of one of this server's pages (nothing else is passed on)."""
    page_paths = [path for path, _, _ in PAGES]
    allowed = f"a path of a Lamina page ({', '.join(page_paths)}) with its query, as location.pathname + location.search"
    if not isinstance(url, str) or not url.startswith("/") or url.startswith("//"):
        raise LiveError(f"url must be {allowed}", "url")
    if any(ord(character) < 32 or ord(character) == 127 for character in url):  # urlsplit drops a newline silently
        raise LiveError(f"url must be {allowed}, with no control characters (a newline, a tab)", "url")
    if len(url) > MAX_URL_CHARS:
        raise LiveError(f"this view's link has {len(url):,} characters, over the limit of {MAX_URL_CHARS:,} that a "
                        "live session passes on: your followers still see your view before it", "url")
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or parts.path not in page_paths:
        raise LiveError(f"url must be {allowed}; got path {parts.path!r}", "url")
    return url


def get_hub(websocket: WebSocket) -> LiveHub:
    return websocket.app.state.live


class LiveSocket:
    """One socket of the live-session protocol: a presenter, a follower, or (before either) nobody yet."""

    def __init__(self, websocket: WebSocket, hub: LiveHub):
        self.hub = hub
        self.outbox = Outbox(websocket)
        self.presenting: LiveSession | None = None
        self.following: LiveSession | None = None

    def handle(self, text: str | None) -> None:
        self._forget_ended()
        try:
            message = _parse(text)
            handler = self.HANDLERS.get(message["type"])
            if handler is None:
                raise LiveError(f"unknown message type {message['type']!r}; allowed: {', '.join(self.HANDLERS)}",
                                "type")
            handler(self, message)
        except LiveError as error:
            reply = {"type": "error", "message": str(error)}
            if error.field:
                reply["field"] = error.field
            self.outbox.put(reply)

    def _forget_ended(self) -> None:
        """Drop a session that ended, or that another page of the presenter took over, since the last message."""
        if self.following is not None and self.hub.sessions.get(self.following.code) is not self.following:
            self.following = None
        if self.presenting is not None and self.presenting.presenter is not self.outbox:
            self.presenting = None

    def present(self, message: dict) -> None:
        if self.following is not None:
            raise LiveError(f"this page follows session {self.following.code}; leave it before presenting")
        if self.presenting is not None:
            raise LiveError(f"this page already presents session {self.presenting.code}")
        if "code" in message:
            session = self.hub.resume(self.outbox, message["code"], message.get("key"))
        else:
            session = self.hub.start(self.outbox)
        self.presenting = session
        self.outbox.put({"type": "presenting", "code": session.code, "key": session.key,
                         "followers": len(session.followers), "grace_seconds": self.hub.grace_seconds})

    def view(self, message: dict) -> None:
        if self.presenting is None:
            raise LiveError("only a presenter sends views; send {\"type\": \"present\"} first")
        session = self.presenting
        session.url = check_view_url(message.get("url"))
        session.tell_followers({"type": "view", "url": session.url})

    def end(self, message: dict) -> None:
        if self.presenting is None:
            raise LiveError("this page presents no session to end")
        session, self.presenting = self.presenting, None
        self.hub.end(session)
        self.outbox.put({"type": "ended", "code": session.code})

    def follow(self, message: dict) -> None:
        if self.presenting is not None:
            raise LiveError(f"this page presents session {self.presenting.code}; it cannot follow one too")
        # the new session first: a mistyped code, or a full session, leaves the page following the one it follows
        session = self.hub.follow(self.outbox, message.get("code"))
        if self.following is not None and self.following is not session:
            self.hub.unfollow(self.outbox, self.following)
        self.following = session
        self.outbox.put({"type": "following", "code": session.code, "url": session.url})
        if session.presenter is None:  # between two of the presenter's pages, or gone for good
            self.outbox.put(session.presenter_away())

    def leave(self, message: dict) -> None:
        if self.following is None:
            raise LiveError("this page follows no session")
        session, self.following = self.following, None
        self.hub.unfollow(self.outbox, session)
        self.outbox.put({"type": "left", "code": session.code})

    def closed(self) -> None:
        self._forget_ended()
        if self.presenting is not None:
            self.hub.presenter_left(self.presenting, self.outbox)
        if self.following is not None:
            self.hub.unfollow(self.outbox, self.following, page_closed=True)

    HANDLERS = {"present": present, "view": view, "end": end, "follow": follow, "leave": leave}


def _parse(text: str | None) -> dict:
    if text is None:
        raise LiveError("send JSON text messages, not binary ones")
    if len(text) > MAX_MESSAGE_CHARS:
        raise LiveError(f"the message has {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as error:  # RecursionError: thousands of nested brackets
        raise LiveError(f"the message is not valid JSON ({error})") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise LiveError("a message is a JSON object with a string field 'type'", "type")
    return message


@router.websocket("/ws/live")
async def live_socket(websocket: WebSocket, hub: Annotated[LiveHub, Depends(get_hub)]) -> None:
    await websocket.accept()
    address = client_address(websocket)
    if refusal := hub.sockets.refusal(address):
        await websocket.close(TRY_AGAIN_LATER, refusal)
        return
    try:
        socket = LiveSocket(websocket, hub)
        sender = asyncio.create_task(socket.outbox.run())
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                socket.handle(message.get("text"))
        finally:
            socket.closed()
            sender.cancel()
    finally:
        hub.sockets.release(address)
