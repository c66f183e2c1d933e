"""GET /api/layers and /api/kernels: what the engine can compute, described for the browser."""

from fastapi import APIRouter, HTTPException

from engine.kernels import PRESETS, preset
from engine.layers import LAYER_TYPES, catalogue

router = APIRouter(tags=["catalogue"])


@router.get("/layers")
def list_layers() -> list[dict]:
    """Every layer kind: text for a student, formula, shape rule, each parameter's type, range and default."""
    return catalogue()


@router.get("/layers/{kind}",
            responses={404: {"description": "no layer kind of that name; the detail lists the kinds"}})
def get_layer(kind: str) -> dict:
    """One layer kind's entry of GET /api/layers."""
    if kind not in LAYER_TYPES:
        raise HTTPException(404, f"unknown layer kind {kind!r}; kinds are {', '.join(LAYER_TYPES)}")
    return LAYER_TYPES[kind].describe()


@router.get("/kernels")
def kernel_presets(size: int = 3) -> dict[str, list[list[float]]]:
    """The named kernel presets at an odd size from 3 to 15 (identity, Sobel x/y, Gaussian, ...)."""
    if not (3 <= size <= 15 and size % 2):
        raise HTTPException(422, f"size must be an odd number from 3 to 15, got {size}")
    return {name: preset(name, size).tolist() for name in PRESETS}
