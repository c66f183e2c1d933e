"""GET /api/samples: the bundled sample images; GET /api/samples/{name}: one of them as a PNG."""

from __future__ import annotations

import functools

from fastapi import APIRouter, HTTPException, Response

from server.images import encode_png
from server.samples import list_samples, load_sample

router = APIRouter(tags=["samples"])


# Plain `def` endpoints: FastAPI runs them in a worker thread, so the first load (imports, decoding) never
# blocks the event loop.
@router.get("/samples")
def samples() -> list[dict]:
    """Every sample: name, title, source, kind (photo, digit, pattern), width, height, channels."""
    return list_samples()


@router.get("/samples/{name}", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, 404: {"description": "no sample of that name"}})
def sample_png(name: str) -> Response:
    """The sample `name` as an 8-bit PNG (grayscale or RGB)."""
    try:
        png = _png(name)
    except ValueError as error:  # an unknown name: the message lists the known ones
        raise HTTPException(404, str(error)) from error
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})


@functools.cache
def _png(name: str) -> bytes:
    return encode_png(load_sample(name))
