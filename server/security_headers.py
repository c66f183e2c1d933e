"""Security headers on every HTTP response.

- `X-Content-Type-Options: nosniff`: a browser takes each response as the type the server names (an
  uploaded picture is never run as a script).
- `Referrer-Policy: same-origin`: links out of Lamina do not carry its addresses (a live session's code).
- `Content-Security-Policy` on the pages: scripts, styles, images and sockets come from this server only,
  so an injected tag could load nothing from elsewhere, and no inline script runs. Two allowances, both
  for Plotly: inline styles (it sets `style` attributes, as the pages do) and eval (the plotly.min.js
  that the plotly package ships builds functions from strings as it loads, in its `function-bind`
  polyfill; Plotly's CSP-safe "strict" bundle is not in that package). /docs is left out: Swagger UI's
  page starts with an inline script.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",  # the WebSockets too: 'self' covers ws:// and wss:// to this host
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
])
EVERY_RESPONSE = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
NO_POLICY = ("/docs",)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"].removeprefix(scope.get("root_path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += EVERY_RESPONSE
                is_page = any(name == b"content-type" and value.startswith(b"text/html") for name, value in headers)
                if is_page and path not in NO_POLICY:
                    headers.append((b"content-security-policy", PAGE_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
