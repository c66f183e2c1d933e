"""POST /api/runs/layers/{index}.npy: one layer's output of a run, as a NumPy .npy file."""

from __future__ import annotations

import io
import re
import threading
from typing import Annotated

import anyio
import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Response

from server.runs import DownloadRequest, RunError, Runner, ServerBusy, get_runner, layer_output

router = APIRouter(prefix="/runs", tags=["runs"])


def _file_name(*parts: object) -> str:
    """`parts` joined by '-', with anything but letters, digits, '.', '_' and '-' replaced by '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", "-".join(str(part) for part in parts)) + ".npy"


@router.post("/layers/{index}.npy", response_class=Response,
             responses={200: {"content": {"application/octet-stream": {}},
                              "description": "the layer's output as a .npy file (float32, batch first)"},
                        413: {"description": "the body is over max_message_bytes (refused before it is read "
                                             "when it declares its length)"},
                        422: {"description": "bad request, spec or input, or over a limit"},
                        503: {"description": "every run slot is busy; try again"}})
async def download_layer(index: int, body: DownloadRequest, runner: Annotated[Runner, Depends(get_runner)]) -> Response:
    """Run the request up to layer `index` (negative counts from the end) and return that layer's output.

    The body is a run request as on the WebSocket (docs/protocol.md); `id`, `type`, `encoding`, `kernels`,
    `explain`, `trace` and `saliency` are optional and ignored (when given, each must still be valid: `type`
    is "run"). The same limits apply, counted up to that layer.
    """
    try:
        only_the_layer = body.model_copy(update={"explain": None, "saliency": None, "trace": False})
        async with runner.run_slot(threading.Event()):  # planning builds networks: it takes a slot too
            plan = await anyio.to_thread.run_sync(runner.plan, only_the_layer, index)
            array = await anyio.to_thread.run_sync(layer_output, plan)
    except ServerBusy as error:
        raise HTTPException(503, error.message, headers={"Retry-After": "1"}) from None
    except RunError as error:
        raise HTTPException(422, error.message) from None
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    name = plan.network.layers[plan.last][0]
    return Response(buffer.getvalue(), media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{_file_name(plan.name, plan.last, name)}"'})
