"""Identical runs asked for at about the same time are computed once.

A live session's followers all ask for the run of the view the presenter shows, within a few
milliseconds of each other. A run request names everything its result depends on (the network or
layer, the input, the options; an upload's id always means the same picture), so requests that are
equal apart from their id get the same frames. The first one computes; a request that arrives while
it is in flight, or up to `keep_seconds` after it finished, is sent the same frames with its own id.

Only runs whose frames are small enough to hold whole (`max_bytes`, estimated from the plan before
computing) are shared, and finished ones are kept only while all of them together stay under
`max_kept_bytes`; the others run as before, one computation per request. A shared computation
stops at its next layer boundary once no socket wants it any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from server.runs import Execution, Frame, Plan, RunCancelled, Runner, pump
from server.wire import ITEM_BYTES, encoding_for

MAX_BYTES = 16 * 2**20  # estimated frames of one shared run
MAX_KEPT_BYTES = 64 * 2**20  # frames of finished runs kept for latecomers, all together
KEEP_SECONDS = 5.0
CANCEL_POLL_SECONDS = 0.05  # how soon a socket waiting for the next frame notices its run was cancelled


def request_key(plan: Plan) -> str:
    """What a run's frames depend on: its request without the id."""
    return json.dumps(plan.request.model_dump(exclude={"id"}), sort_keys=True, default=str)


def estimated_bytes(plan: Plan) -> int:
    """An estimate of the frames' bytes: every tensor at 2 bytes a value (4 when it is small enough to
    travel exactly), twice over for the kernels and saliency a request may add (a recurrent layer's
    traced gates can add a few times its output more)."""
    sizes = [math.prod(plan.x.shape)] + [math.prod(shape) for shape in plan.shapes[:plan.last + 1]]
    return 2 * sum(size * ITEM_BYTES[encoding_for(size, "float16")] for size in sizes)


@dataclass(eq=False)
class SharedRun:
    """One computation whose frames any number of sockets stream, each with its own request id."""

    key: str
    plan: Plan
    cancel: threading.Event = field(default_factory=threading.Event)
    frames: list[Frame] = field(default_factory=list)
    finished: bool = False
    failure: BaseException | None = None  # a RunError (e.g. server busy) or RunCancelled, raised to every socket
    compute_seconds: float = 0.0
    layers_done: int = 0
    watchers: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # replaced by a new one at each change

    @property
    def payload_bytes(self) -> int:
        return sum(len(frame.payload or b"") for frame in self.frames)

    async def compute(self, runner: Runner) -> None:
        execution = Execution(self.plan, self.cancel)
        try:
            async with runner.run_slot(self.cancel):
                await pump(execution, self._append)
            if self.cancel.is_set():
                self.failure = RunCancelled()
        except Exception as error:  # handed to the sockets, which report it as they would their own run's
            self.failure = error
        except asyncio.CancelledError:  # the server is shutting down
            self.failure = RunCancelled()
            raise
        finally:
            self.compute_seconds, self.layers_done = execution.compute_seconds, execution.layers_done
            self.finished = True
            self._notify()

    async def _append(self, frames: list[Frame]) -> bool:
        self.frames.extend(frames)
        self._notify()
        return not self.cancel.is_set()

    async def stopped(self) -> None:
        """Return once the computation has ended (its worker thread included)."""
        while not self.finished:
            await self.changed.wait()

    def _notify(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    async def stream(self, request_id, send, cancelled: Callable[[], bool]) -> None:
        """Send every frame so far and the later ones as they come, with `request_id`, until the computation
        ends (then raise its failure, if any) or the socket's run is cancelled (`cancelled()`, or `send`
        returning False)."""
        sent = 0
        while not cancelled():
            changed = self.changed
            if sent < len(self.frames):
                batch, sent = self.frames[sent:], len(self.frames)
                if not await send([_for_request(frame, request_id) for frame in batch]):
                    return
            elif self.finished:
                if self.failure is not None:
                    raise self.failure
                return
            else:  # wake for the next frame, or to notice a cancellation while the computation is slow
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), CANCEL_POLL_SECONDS)


def _for_request(frame: Frame, request_id) -> Frame:
    if "id" not in frame.header:
        return frame
    return Frame({**frame.header, "id": request_id}, frame.payload)


class RunShares:
    """The shared runs of one server, by request key (everything here runs on the event loop)."""

    def __init__(self, max_bytes: int = MAX_BYTES, max_kept_bytes: int = MAX_KEPT_BYTES,
                 keep_seconds: float = KEEP_SECONDS):
        self.max_bytes = max_bytes
        self.max_kept_bytes = max_kept_bytes
        self.keep_seconds = keep_seconds
        self.runs: dict[str, SharedRun] = {}
        self.kept_bytes = 0
        self._tasks: set[asyncio.Task] = set()

    def can_share(self, plan: Plan) -> bool:
        return estimated_bytes(plan) <= self.max_bytes

    @contextlib.contextmanager
    def watching(self, plan: Plan, runner: Runner) -> Iterator[tuple[SharedRun, bool]]:
        """The shared run for `plan` and whether this request started it (see `join`), left again when the
        block ends."""
        shared, started = self.join(plan, runner)
        try:
            yield shared, started
        finally:
            self.leave(shared)

    def join(self, plan: Plan, runner: Runner) -> tuple[SharedRun, bool]:
        """The shared run for `plan`'s request: the one in flight or just finished, or a new computation
        (then True: this request started it)."""
        key = request_key(plan)
        shared = self.runs.get(key)
        started = shared is None or shared.cancel.is_set() or shared.failure is not None
        if started:
            shared = self.runs[key] = SharedRun(key, plan)
            task = asyncio.create_task(shared.compute(runner))
            self._tasks.add(task)
            task.add_done_callback(lambda done: self._finished(shared, done))
        shared.watchers += 1
        return shared, started

    def leave(self, shared: SharedRun) -> None:
        shared.watchers -= 1
        if shared.watchers == 0 and not shared.finished:
            shared.cancel.set()  # nobody wants it any more: it stops at its next layer
            self._forget(shared)

    def _finished(self, shared: SharedRun, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if self.runs.get(shared.key) is not shared:
            return
        size = shared.payload_bytes
        if shared.failure is not None or self.kept_bytes + size > self.max_kept_bytes:
            self._forget(shared)  # the sockets streaming it hold their own reference
            return
        self.kept_bytes += size
        asyncio.get_running_loop().call_later(self.keep_seconds, self._drop_kept, shared, size)

    def _drop_kept(self, shared: SharedRun, size: int) -> None:
        self.kept_bytes -= size
        self._forget(shared)

    def _forget(self, shared: SharedRun) -> None:
        if self.runs.get(shared.key) is shared:
            del self.runs[shared.key]
