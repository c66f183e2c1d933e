"""The API's interactive documentation at /docs (Swagger UI), working offline.

FastAPI's own page loads Swagger UI from a CDN, which a classroom without internet cannot reach. The
fastapi-offline package bundles the same files; this route renders FastAPI's page with URLs on this
server and serves the files from that package, as `pages.py` serves Plotly. There is no /redoc: ReDoc's
page fetches its logo from its own CDN whatever it is told.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

ASSETS = Path(str(files("fastapi_offline") / "static"))
# the files the page loads: name -> media type
ASSET_TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon.png": "image/png"}
PREFIX = "/vendor/docs"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    openapi_url = request.scope.get("root_path", "") + request.app.openapi_url
    return get_swagger_ui_html(openapi_url=openapi_url, title=f"{request.app.title} API",
                               swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
                               swagger_css_url=f"{PREFIX}/swagger-ui.css", swagger_favicon_url=f"{PREFIX}/favicon.png")


@router.get(PREFIX + "/{name}")
def asset(name: str) -> FileResponse:
    if name not in ASSET_TYPES:
        raise HTTPException(404, f"no documentation asset {name!r}; the assets are {sorted(ASSET_TYPES)}")
    return FileResponse(ASSETS / name, media_type=ASSET_TYPES[name],
                        headers={"Cache-Control": "public, max-age=86400"})
