"""The streaming WebSocket `/ws/run`: run requests in, one message per layer out (docs/protocol.md).

One socket per page. Each "run" message supersedes the run in progress on that socket: the older
run gets {"type": "cancelled"} and stops at its next layer boundary, so while a slider is dragged
only the latest state is computed. Every bad message gets an "error" message and the socket stays
open. A client that disconnects cancels its run at the next layer boundary. A client that stops reading
(a message not taken within settings.send_stall_seconds, plus its size at settings.slow_client_bytes_per_second)
has its run cancelled, which frees the run's slot for other clients; the socket takes no more runs, and is
closed once the client reads what it was sent (it counts against settings.max_sockets until then).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect

from server.runs import (Execution, Frame, Plan, RunCancelled, RunError, Runner, RunRequest, get_runner,
                         client_address, is_run_id, parse_request, pump, tensor_frame)
from server.shared_runs import RunShares, SharedRun
from server.wire import ENCODINGS, dumps

PROTOCOL_VERSION = 1
TRY_AGAIN_LATER = 1013  # WebSocket close code: the server is overloaded
POLICY_VIOLATION = 1008  # WebSocket close code: here, a client that stopped reading what it asked for

router = APIRouter(tags=["streaming"])
logger = logging.getLogger(__name__)


@dataclass
class ActiveRun:
    request: RunRequest
    received: float  # time.perf_counter() when the request arrived
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: bool = False  # its "done", "error" or "cancelled" message has been sent


class Session:
    """One socket: receives messages, runs one request at a time, sends header and binary frame pairs."""

    def __init__(self, websocket: WebSocket, runner: Runner):
        self.websocket = websocket
        self.runner = runner
        self.current: ActiveRun | None = None
        self.tasks: set[asyncio.Task] = set()
        self.send_lock = asyncio.Lock()  # a header and its binary frame are never split by another message
        # a run takes a slot only once this socket's older run has stopped its threads (planning, or the layer in
        # progress): a client sending runs faster than they plan cannot hold every slot with runs it superseded
        self.turn = asyncio.Lock()
        self.stalled = False  # a send timed out: the client stopped reading, and the socket is being closed

    async def serve(self) -> None:
        await self.send(self._hello())
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                await self.handle(message)
        finally:  # the client is gone: stop its run at the next layer boundary and wait for the threads
            if self.current is not None:
                self.current.cancel.set()
            with anyio.CancelScope(shield=True):  # even when the server cancels this handler (shutdown)
                await asyncio.gather(*self.tasks, return_exceptions=True)

    def _hello(self) -> dict:
        settings, backend = self.runner.settings, self.websocket.app.state.backend
        limits = {name: getattr(settings, name) for name in (
            "max_message_bytes", "max_input_elements", "max_tensor_elements", "max_work_flops",
            "max_parameter_elements", "max_concurrent_runs", "max_spec_layers")}
        return {"type": "hello", "protocol": PROTOCOL_VERSION, "backend": backend.name, "device": backend.device_name,
                "encodings": list(ENCODINGS), "limits": limits}

    # ---- incoming ----
    async def handle(self, message: dict) -> None:
        if self.stalled:  # the client stopped reading and the socket is being closed: it takes no more runs
            return
        text = message.get("text")
        if text is None:
            await self.send_error(None, "binary messages are not accepted: send run requests as JSON text")
            return
        limit = self.runner.settings.max_message_bytes
        size = len(text.encode())
        if size > limit:
            await self.send_error(None, f"message of {size:,} bytes is too large; the limit is {limit:,} bytes "
                                        "(max_message_bytes): send a smaller input or upload the image first")
            return
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as error:  # also integers over 4,300 digits, deep nesting
            await self.send_error(None, f"message is not valid JSON ({type(error).__name__}: {error})")
            return
        if not isinstance(data, dict):
            await self.send_error(None, f"message must be a JSON object with a 'type', got {type(data).__name__}")
            return
        request_id = data.get("id") if is_run_id(data.get("id")) else None  # an error answers to it
        kind = data.get("type")
        if kind == "cancel":
            if self.current is not None and self.current.request.id == request_id:
                await self.supersede()
        elif kind == "run":
            await self.supersede()
            try:
                request = parse_request(data)
            except RunError as error:
                await self.send_error(request_id, error.message, error.field)
                return
            self.start(request)
        else:
            await self.send_error(request_id, f"unknown message type {kind!r}; expected 'run' or 'cancel'", "type")

    async def supersede(self) -> None:
        """Cancel the run in progress, if any, and tell the client it will get nothing more for it."""
        run, self.current = self.current, None
        if run is None:
            return
        async with self.send_lock:
            if not run.finished:
                run.cancel.set()
                run.finished = True
                await self._send_unlocked({"type": "cancelled", "id": run.request.id})

    def start(self, request: RunRequest) -> None:
        run = ActiveRun(request, time.perf_counter())
        self.current = run
        task = asyncio.create_task(self.execute(run))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # ---- a run ----
    async def execute(self, run: ActiveRun) -> None:
        try:
            async with self.turn:
                async with self.runner.run_slot(run.cancel):  # planning builds networks and decodes images
                    plan = await anyio.to_thread.run_sync(self.runner.plan, run.request)
                if run.cancel.is_set():
                    raise RunCancelled()
                computed, shared = await self.compute(run, plan)
            await self.send_frames(run, [Frame({
                "type": "done", "id": run.request.id, "total_ms": (time.perf_counter() - run.received) * 1000,
                "compute_ms": computed.compute_seconds * 1000, "layers": computed.layers_done,
                "shared": shared})], final=True)
        except RunCancelled:
            pass
        except RunError as error:
            # the input it read, when it got that far: the page shows the picture beside what was wrong
            read = () if error.input is None else (tensor_frame(run.request, {"type": "input"}, error.input),)
            await self.send_error(run.request.id, error.message, error.field, run, before=read)
        except Exception as error:  # a bug or an engine failure must not take the socket down
            logger.exception("run %r failed", run.request.id)
            await self.send_error(run.request.id, f"internal error while computing: {type(error).__name__}: {error}",
                                  None, run)
        finally:
            if self.current is run:
                self.current = None

    async def compute(self, run: ActiveRun, plan: Plan) -> tuple[Execution | SharedRun, bool]:
        """Stream the run's frames: from a computation shared with every socket asking the same run when
        it is small enough to hold, else from its own. Returns what computed it (its seconds and layers),
        and whether an identical request started that computation."""
        send = lambda frames: self.send_frames(run, frames)  # noqa: E731
        shares: RunShares = self.websocket.app.state.run_shares
        if shares.can_share(plan):
            with shares.watching(plan, self.runner) as (shared, started):
                await shared.stream(run.request.id, send, run.cancel.is_set)
            if shared.cancel.is_set():  # no socket wants it any more: its thread stops at the next layer boundary
                await shared.stopped()
            return shared, not started
        execution = Execution(plan, run.cancel)
        async with self.runner.run_slot(run.cancel):
            await pump(execution, send)
        return execution, False

    async def send_frames(self, run: ActiveRun, frames: list[Frame], final: bool = False) -> bool:
        """Send the frames unless the run was cancelled; False when it was (or the socket is gone)."""
        async with self.send_lock:
            if run.cancel.is_set() or run.finished:
                return False
            try:
                for frame in frames:
                    await self._send_within_time(self.websocket.send_text, dumps(frame.header))
                    if frame.payload is not None:
                        await self._send_within_time(self.websocket.send_bytes, frame.payload)
            except (WebSocketDisconnect, RuntimeError, OSError, TimeoutError):
                run.cancel.set()
                return False
            run.finished = final
            return True

    # ---- outgoing ----
    async def send(self, message: dict) -> None:
        async with self.send_lock:
            await self._send_unlocked(message)

    async def _send_unlocked(self, message: dict) -> None:
        try:
            await self._send_within_time(self.websocket.send_text, dumps(message))
        except (WebSocketDisconnect, RuntimeError, OSError, TimeoutError):
            pass  # the client went away or stopped reading; the receive loop ends the session

    async def _send_within_time(self, send, data: str | bytes) -> None:
        """send(data), or TimeoutError (and the socket closed) when the client does not take it in time."""
        if self.stalled:
            raise TimeoutError
        settings = self.runner.settings
        seconds = settings.send_stall_seconds + len(data) / settings.slow_client_bytes_per_second
        try:
            async with asyncio.timeout(seconds):
                await send(data)
        except TimeoutError:
            self.stalled = True
            logger.warning("closing a socket that took no message for %.0f s", seconds)
            task = asyncio.create_task(self._close_stalled(seconds))  # sent when the client reads again
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            raise

    async def _close_stalled(self, seconds: float) -> None:
        with contextlib.suppress(Exception):  # the client may be gone by then
            await self.websocket.close(POLICY_VIOLATION, f"the client took no message for {seconds:.0f} s; "
                                                         "its run was stopped")

    async def send_error(self, request_id: Any, message: str, field_name: str | None = None,
                         run: ActiveRun | None = None, before: tuple[Frame, ...] = ()) -> None:
        """Send an "error" message; for a `run`, after the frames `before`, unless the run was cancelled."""
        error = {"type": "error", "id": request_id, "message": message}
        if field_name:
            error["field"] = field_name
        if run is None:
            await self.send(error)
        else:
            await self.send_frames(run, [*before, Frame(error)], final=True)


@router.websocket("/ws/run")
async def run_socket(websocket: WebSocket, runner: Annotated[Runner, Depends(get_runner)]) -> None:
    await websocket.accept()
    address = client_address(websocket)
    if refusal := runner.sockets.refusal(address):
        await websocket.close(TRY_AGAIN_LATER, refusal)
        return
    try:
        await Session(websocket, runner).serve()
    finally:
        runner.sockets.release(address)
