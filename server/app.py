"""The FastAPI application: `uvicorn server.app:create_app --factory`."""

from __future__ import annotations

import json
import threading
from contextlib import asynccontextmanager

import anyio
import numpy as np
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from engine import __version__
from engine.backend import get_backend, set_backend
from engine.layers import Conv2d
from engine.shapes import QUOTED_CHARS, shortened
from server import api_docs, live, pages, ws
from server.body_limit import BodyLimitMiddleware
from server.security_headers import SecurityHeadersMiddleware
from server.api import catalogue, health, images, models, runs, samples
from server.samples import list_samples
from server.settings import Settings
from server.shared_runs import MAX_BYTES, RunShares
from server.uploads import UploadStore
from server.wire import json_safe


# FastAPI's 400 when parsing a JSON body fails other than with a JSONDecodeError (which it answers with a 422)
FASTAPI_UNPARSED_BODY = "There was an error parsing the body"


def _warm_up() -> None:
    """Run one small layer so the first user request does not pay for BLAS start-up."""
    Conv2d(1, 2, 3)(get_backend().xp.asarray(np.ones((1, 1, 8, 8), np.float32)))


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, with the offending input quoted safely: made JSON-safe (a NaN in a body field would make it
    a 500), cut short when long, and summarised when nested too deeply to encode."""
    errors = [{**item, "input": _quoted_input(item["input"])} if "input" in item else item for item in error.errors()]
    return JSONResponse({"detail": json_safe(jsonable_encoder(errors))}, status_code=422)


async def _http_error(request: Request, error: HTTPException) -> Response:
    """FastAPI's answer, except that a JSON body it could not parse says why, as the socket does (FastAPI answers
    "There was an error parsing the body" to nesting too deep, integers of over 4,300 digits, bytes not UTF-8)."""
    cause = error.__cause__
    if error.detail == FASTAPI_UNPARSED_BODY and isinstance(cause, (RecursionError, ValueError)):
        return JSONResponse({"detail": f"the body is not valid JSON ({type(cause).__name__}: {cause})"},
                            status_code=400)
    return await http_exception_handler(request, error)


def _quoted_input(value):
    """A request's value as a 422 quotes it: itself when its JSON is short, else the start of that JSON."""
    try:
        text = json.dumps(value, default=str)
    except (RecursionError, ValueError):
        return "(nested too deeply to quote)"
    return value if len(text) <= QUOTED_CHARS else shortened(text)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.backend = set_backend(settings.device)
        app.state.uploads = UploadStore(settings.max_uploads, settings.max_upload_store_bytes,
                                        settings.upload_ttl_seconds, settings.max_uploads_per_address)
        _warm_up()
        # importing scikit-image and scikit-learn takes seconds: do it before the first visitor asks
        threading.Thread(target=list_samples, name="warm-samples", daemon=True).start()
        yield

    # docs_url=None, redoc_url=None: FastAPI's pages load from a CDN; api_docs serves /docs from this server
    app = FastAPI(title="Lamina", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="See what deep-learning layers do: layer catalogue, samples, uploads, streamed runs.")
    app.state.settings = settings
    app.state.image_slots = anyio.CapacityLimiter(images.IMAGE_SLOTS)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.state.run_shares = RunShares(max_bytes=MAX_BYTES if settings.share_identical_runs else 0)
    app.state.live = live.LiveHub(settings.max_live_sessions, settings.max_live_followers,
                                  settings.live_grace_seconds, settings.max_live_sockets,
                                  settings.max_sockets_per_address)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    # JSON bodies (run requests) are limited like socket messages; uploads stream with their own limit
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_message_bytes, exempt=("/api/images",))
    app.add_middleware(SecurityHeadersMiddleware)  # the outermost: every answer carries them, refusals too
    for module in (health, catalogue, models, samples, images, runs):
        app.include_router(module.router, prefix="/api")
    app.include_router(ws.router)
    app.include_router(live.router)
    app.include_router(pages.router)
    app.include_router(api_docs.router)
    app.mount("/static", StaticFiles(directory=pages.ROOT / "static"), name="static")
    return app
