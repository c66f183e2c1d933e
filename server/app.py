"""The FastAPI application (a placeholder page until the server issue lands)."""

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from engine.backend import get_backend


def create_app() -> FastAPI:
    app = FastAPI(title="Lamina")

    @app.get("/api/health")
    def health() -> dict:
        backend = get_backend()
        return {"status": "ok", "backend": backend.name, "device": backend.device_name,
                "fallback_reason": backend.fallback_reason}

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return "<!doctype html><title>Lamina</title><h1>Lamina</h1><p>The layer lab is on its way.</p>"

    return app
