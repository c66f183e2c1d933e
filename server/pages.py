"""HTML pages (Jinja2 over a shared base) and the locally served Plotly bundle."""

from __future__ import annotations

from pathlib import Path

import plotly
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

ROOT = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=ROOT / "templates")
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

# path, template, title shown in the navigation
PAGES = [
    ("/", "lab.html", "Layer lab"),
    ("/network", "network.html", "Network"),
    ("/sequence", "sequence.html", "Sequence"),
    ("/autoencoder", "autoencoder.html", "Autoencoder"),
    ("/layers", "cortex.html", "Layers & cortex"),
]

router = APIRouter(include_in_schema=False)


def _page(template: str, title: str):
    def render(request: Request) -> HTMLResponse:
        backend = request.app.state.backend
        return templates.TemplateResponse(request, template, {
            "title": title, "pages": PAGES, "backend": backend,
        })

    return render


for path, template, title in PAGES:
    router.add_api_route(path, _page(template, title), methods=["GET"], response_class=HTMLResponse)


@router.get("/vendor/plotly.min.js")
def plotly_bundle() -> FileResponse:
    """Plotly from the installed plotly package: the page needs no network beyond this server."""
    return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
