"""A limit on request bodies: FastAPI reads a JSON body whole before any route code can look at it.

Requests to `exempt` paths read their bodies themselves (uploads stream with their own limit).
Any other request declaring a larger Content-Length is answered 413 before its body is read; one
without a Content-Length is answered 413 once it passes the limit, and the route's own answer to
the interrupted body is dropped.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, exempt: tuple[str, ...] = ()):
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    def _refusal(self, size: str) -> JSONResponse:
        return JSONResponse({"detail": f"the request body is {size} bytes; the limit is {self.max_bytes:,} bytes "
                                       "(max_message_bytes)"}, status_code=413)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].removeprefix(scope.get("root_path", "")).startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refusal(f"{int(declared):,}")(scope, receive, send)
            return
        received, refused = 0, False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes and not refused:
                refused = True
                await self._refusal(f"over {self.max_bytes:,}")(scope, receive, send)
                raise BodyTooLarge()  # FastAPI turns this into its own error response, dropped below
            return message

        async def send_unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited_receive, send_unless_refused)
