"""The `lamina` command: `lamina serve [--host H] [--port P] [--device auto|cpu|gpu]`."""

from __future__ import annotations

import argparse

import uvicorn

from engine.backend import DEVICE_CHOICES, select_backend
from server.settings import Settings


def main(argv: list[str] | None = None) -> None:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="lamina", description="Lamina: see what deep-learning layers do")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the web server")
    serve.add_argument("--host", default=defaults.host, help=f"address to listen on (default {defaults.host})")
    serve.add_argument("--port", type=int, default=defaults.port, help=f"port (default {defaults.port})")
    serve.add_argument("--device", choices=DEVICE_CHOICES, default=defaults.device,
                       help="auto takes the GPU only when a smoke test passes (default %(default)s)")
    args = parser.parse_args(argv)

    settings = defaults.model_copy(update={"host": args.host, "port": args.port, "device": args.device})
    try:
        backend = select_backend(settings.device)
    except RuntimeError as error:
        parser.exit(2, f"lamina: {error}\n")
    why = f" ({backend.fallback_reason})" if backend.fallback_reason else ""
    print(f"Lamina at http://{settings.host}:{settings.port}/ computing with {backend.name} on "
          f"{backend.device_name}{why}", flush=True)

    from server.app import create_app

    # per-message deflate would zlib every activation frame on the event loop: the largest cost under load
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning",
                ws_per_message_deflate=False)
