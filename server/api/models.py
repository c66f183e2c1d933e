"""GET /api/models: the built-in networks and their specs."""

from fastapi import APIRouter, HTTPException

from engine.models import BUILTIN_MODELS

router = APIRouter(tags=["models"])


@router.get("/models")
def list_models() -> list[dict]:
    return [model.describe() for model in BUILTIN_MODELS.values()]


@router.get("/models/{name}",
            responses={404: {"description": "no built-in network of that name; the detail lists the built-ins"}})
def get_model(name: str) -> dict:
    """One built-in network as GET /api/models lists it: its spec, input, classes and training card."""
    if name not in BUILTIN_MODELS:
        raise HTTPException(404, f"unknown network {name!r}; built-ins are {', '.join(BUILTIN_MODELS)}")
    return BUILTIN_MODELS[name].describe()
