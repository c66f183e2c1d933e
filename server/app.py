"""The FastAPI application: `uvicorn server.app:create_app --factory`."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from engine import __version__
from engine.backend import set_backend
from server.settings import Settings


def _warm_up() -> None:
    """Run one small network so the first user request does not pay for imports and BLAS start-up."""
    import numpy as np

    from engine.layers import Conv2d
    from engine.backend import get_backend

    x = get_backend().xp.asarray(np.ones((1, 1, 8, 8), np.float32))
    Conv2d(1, 2, 3)(x)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.backend = set_backend(settings.device)
        app.state.uploads = UploadStore(settings.max_uploads, settings.max_upload_store_bytes,
                                        settings.upload_ttl_seconds)
        _warm_up()
        yield

    app = FastAPI(title="Lamina", version=__version__, lifespan=lifespan,
                  description="See what deep-learning layers do: layer catalogue, samples, uploads, streamed runs.")
    app.state.settings = settings

    from server.api import catalogue, health, models
    from server.api import images, samples
    from server.uploads import UploadStore

    for module in (health, catalogue, models):
        app.include_router(module.router, prefix="/api")
    app.include_router(images.router, prefix="/api")
    app.include_router(samples.router, prefix="/api")
    return app
