"""GET /api/health: is the server up, and which backend computes."""

from fastapi import APIRouter, Request

from engine import __version__

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> dict:
    """`status` "ok"; `backend` ("numpy" or "cupy") and `device` that compute runs, `fallback_reason` (why the
    backend is not the GPU, or null) and the engine's `version`."""
    backend = request.app.state.backend
    return {"status": "ok", "backend": backend.name, "device": backend.device_name,
            "fallback_reason": backend.fallback_reason, "version": __version__}
