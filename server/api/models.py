"""GET /api/models: the built-in networks and their specs."""

from fastapi import APIRouter, HTTPException

from engine.models import BUILTIN_MODELS

router = APIRouter(tags=["models"])


@router.get("/models")
def list_models() -> list[dict]:
    return [model.describe() for model in BUILTIN_MODELS.values()]


@router.get("/models/{name}")
def get_model(name: str) -> dict:
    if name not in BUILTIN_MODELS:
        raise HTTPException(404, f"unknown network {name!r}; built-ins are {', '.join(BUILTIN_MODELS)}")
    return BUILTIN_MODELS[name].describe()
