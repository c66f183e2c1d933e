"""GET /api/models: the built-in networks and their specs."""

from fastapi import APIRouter, HTTPException

from engine.models import BUILTIN_MODELS

router = APIRouter(tags=["models"])


@router.get("/models")
def list_models() -> list[dict]:
    """Every built-in network: `name` (what a run's `network` names), `title`, `description`, `input_kind`
    ("image" or "sequence"), `input_shape` ([C, H, W] or [T, F], without the batch axis), `input_channels` and
    `input_size` ([H, W]; null for a sequence network) that images are converted to, `class_names` (null when
    the network does not end in class scores), `trained` (false: seeded random weights), `card` (how it was
    trained; null when untrained) and `spec` (its layers, as docs/protocol.md describes specs)."""
    return [model.describe() for model in BUILTIN_MODELS.values()]


@router.get("/models/{name}",
            responses={404: {"description": "no built-in network of that name; the detail lists the built-ins"}})
def get_model(name: str) -> dict:
    """One built-in network as GET /api/models lists it: its spec, input, classes and training card."""
    if name not in BUILTIN_MODELS:
        raise HTTPException(404, f"unknown network {name!r}; built-ins are {', '.join(BUILTIN_MODELS)}")
    return BUILTIN_MODELS[name].describe()
