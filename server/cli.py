"""The `lamina` command."""

import argparse

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(prog="lamina", description="Lamina: see what deep-learning layers do")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    if args.command == "serve":
        print(f"Lamina at http://{args.host}:{args.port}/", flush=True)
        uvicorn.run("server.app:create_app", factory=True, host=args.host, port=args.port)
