"""Run requests: what a client asks for, how it is checked, and how it is computed layer by layer.

A run goes through three stages (docs/protocol.md describes the messages):

1. `RunRequest` validates the JSON shape of the request (pydantic).
2. `Runner.plan` builds or fetches the network, resolves the input, checks that the input fits and
   that the run stays within the limits (weights, output sizes, multiply-adds) before computing
   anything. Every problem is a `RunError` whose message says what was wrong and what is allowed.
3. `pump` computes the run in one worker thread, `Execution.step` by step (one layer and its
   frames: a JSON header and the tensor's bytes each), and hands each step's frames to the event loop
   as soon as they are ready. A cancelled run (a `threading.Event`) stops at the next layer boundary.

`Runner.run_slot` bounds the runs computing at once (settings.max_concurrent_runs): a run waits up to
settings.run_queue_seconds for a free slot, then gets "server busy".
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import anyio
import numpy as np
from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, ValidationError, field_validator, model_validator
from starlette.requests import HTTPConnection

from engine.backend import asarray, to_numpy
from engine.layers import LAYER_TYPES
from engine.layers.base import Layer
from engine.models import BUILTIN_MODELS, load_model
from engine.network import Sequential
from engine.saliency import saliency
from engine.shapes import quoted
from engine.spec import MAX_LAYER_NAME, check_spec_text, network_from_spec
from server.inputs import InputError, resolve_input
from server.settings import Settings
from server.uploads import UploadStore
from server.wire import array_from_json, encode, encoding_for

MAX_ID_LENGTH = 200
BUSY_POLL_SECONDS = 0.01
STEPS_AHEAD = 2  # layers the worker thread may compute before the client has been sent the earlier ones
MAX_EXPLAIN_VALUES = 16_384  # input values one explanation may list (a 3x3 window over 1,820 channels)
# recurrent kinds: how many blocks of hidden_size rows their weights stack (one per gate)
RECURRENT_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def is_run_id(value) -> bool:
    """Whether `value` can be a run's id: a string or an integer of at most MAX_ID_LENGTH characters."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return False
    if isinstance(value, int) and value.bit_length() > 4 * MAX_ID_LENGTH:  # too long, and str() would refuse it
        return False
    return len(str(value)) <= MAX_ID_LENGTH


class RunError(ValueError):
    """A run that cannot go ahead; `field` names the request field at fault, when there is one."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.input: np.ndarray | None = None  # the run's input, when it was read before the run was refused


@contextmanager
def _refused_with(x: np.ndarray):
    """A RunError raised inside carries the input `x` that was read: the client can show it with the error."""
    try:
        yield
    except RunError as error:
        error.input = x
        raise


class ServerBusy(RunError):
    """Every run slot stayed busy for settings.run_queue_seconds."""


class RunCancelled(Exception):
    """The run was superseded or its client went away before it got a slot."""


# ---- the request ---------------------------------------------------------------------------------

def _layer_name(value: str | None) -> str | None:
    """A request's layer name, as a spec's layers are named (engine/spec.py), or ValueError."""
    if value is not None and not 1 <= len(value) <= MAX_LAYER_NAME:
        raise ValueError(f"must be a layer name of 1 to {MAX_LAYER_NAME} characters")
    return value


class LayerRequest(BaseModel):
    """One layer to run on its own: kind and hyper-parameters as in a spec, and optionally its weights."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    name: str | None = None
    params: dict[str, Any] = {}
    weights: dict[str, Any] | None = None  # parameter name -> {"shape", "data": base64 float32}

    @field_validator("name")
    @classmethod
    def _check_name(cls, value):
        return _layer_name(value)


class RunRequest(BaseModel):
    """A run: a network (built-in name or spec) or one layer, an input, and how to send the results."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["run"] = "run"
    id: Any
    network: Any = None
    layer: LayerRequest | None = None
    input: dict[str, Any]
    encoding: Literal["float16", "uint8"] = "uint8"
    kernels: StrictBool = False
    explain: tuple[StrictInt, list[StrictInt]] | None = None  # [layer index, output index (batch first)]
    trace: StrictBool = False  # recurrent layers also send their per-step gates ("trace" frames)
    from_layer: str | None = None  # start at this layer (by name): the input is fed straight to it
    saliency: StrictInt | None = None  # a class index (-1: the top class): also send d(score)/d(input) at the end

    @field_validator("from_layer")
    @classmethod
    def _check_from_layer(cls, value):
        return _layer_name(value)

    @field_validator("id")
    @classmethod
    def _check_id(cls, value):
        if not is_run_id(value):
            raise ValueError(f"must be a string or an integer of at most {MAX_ID_LENGTH} characters")
        return value

    @field_validator("network")
    @classmethod
    def _check_network(cls, value):
        if value is not None and not isinstance(value, (str, dict)):
            raise ValueError("must be a built-in network name (a string) or a network spec (an object)")
        return value

    @model_validator(mode="after")
    def _one_source(self):
        if (self.network is None) == (self.layer is None):
            raise ValueError("give exactly one of 'network' (a built-in name or a spec) and 'layer'")
        return self


class DownloadRequest(RunRequest):
    """The body of POST /api/runs/layers/{index}.npy: a run request whose id is optional."""

    id: Any = "download"


# What each field of a run request takes, added to pydantic's own messages ("Input should be a valid tuple"),
# which say what was wrong but not what is allowed
FIELD_FORMS = {
    "input": 'an object with exactly one of "sample", "image_id" or "array", e.g. {"sample": "digit-3"}',
    "layer": 'an object {"kind": "Conv2d", "params": {...}} (optional: "name", "weights")',
    "explain": "[layer index, output index] with one integer per axis of that layer's output, batch first, "
               "e.g. [0, [0, 2, 10, 11]]",
    "kernels": "true or false",
    "trace": "true or false",
    "saliency": "a class index (an integer), or -1 for the top-scoring class",
    "from_layer": "the name of a layer of the network (a string)",
}


def parse_request(data: dict) -> RunRequest:
    """The validated request, or a RunError naming the first field at fault and what it must be."""
    try:
        return RunRequest.model_validate(data)
    except ValidationError as error:
        problem = error.errors()[0]
        location = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            owner = LayerRequest if problem["loc"][0] == "layer" else RunRequest
            message = f"unknown field; allowed: {', '.join(owner.model_fields)}"
        elif problem["type"] != "value_error" and problem["loc"] and problem["loc"][0] in FIELD_FORMS:
            message += f"; '{problem['loc'][0]}' is {FIELD_FORMS[problem['loc'][0]]}"
        where = f"field '{location}': " if location else ""
        raise RunError(f"invalid run request: {where}{message}", location or None) from None


# ---- limits ------------------------------------------------------------------------------------------

class Slots:
    """A thread-safe count of holders with a limit (runs computing, sockets open)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.busy = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self.busy >= self.limit:
                return False
            self.busy += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.busy -= 1


def client_address(connection: HTTPConnection) -> str:
    """The address a request or socket came from: what the per-address limits count by."""
    return connection.client.host if connection.client else "unknown"


class SocketSlots:
    """Open sockets of one endpoint: at most `limit` in all and `per_address` from one client address, so that
    one client cannot take them all (used on the event loop only)."""

    def __init__(self, limit: int, per_address: int, noun: str = "sockets"):
        self.limit = limit
        self.per_address = per_address
        self.noun = noun
        self.by_address: Counter[str] = Counter()

    @property
    def busy(self) -> int:
        return self.by_address.total()

    def refusal(self, address: str) -> str | None:
        """None, with the socket counted in; else why it cannot open (the reason of its close frame)."""
        if self.busy >= self.limit:
            return f"too many open {self.noun} ({self.limit}); try again later"
        if self.by_address[address] >= self.per_address:
            return (f"too many open {self.noun} from your address ({self.per_address}): "
                    "close some Lamina pages and try again")
        self.by_address[address] += 1
        return None

    def release(self, address: str) -> None:
        self.by_address[address] -= 1
        if not self.by_address[address]:
            del self.by_address[address]


class _NetworkCache:
    """Spec networks by their canonical JSON, least recently used evicted beyond a total of weight values
    or beyond `MAX_ENTRIES` networks (a network without weights still holds its key and its layers)."""

    MAX_ENTRIES = 32

    def __init__(self, max_elements: int):
        self.max_elements = max_elements
        self._entries: OrderedDict[str, tuple[Sequential, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Sequential | None:
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key][0]

    def put(self, key: str, network: Sequential, elements: int) -> None:
        with self._lock:
            self._entries[key] = (network, elements)
            while (len(self._entries) > self.MAX_ENTRIES
                   or sum(size for _, size in self._entries.values()) > self.max_elements):
                self._entries.popitem(last=False)


# ---- planning --------------------------------------------------------------------------------------

@dataclass
class Plan:
    """Everything checked and ready to compute."""

    request: RunRequest
    name: str  # the network's name, for messages and file names
    network: Sequential  # shared with other runs when cached: never changed
    x: np.ndarray  # the input batch on the host, (1, ...)
    shapes: list[tuple[int, ...]]  # each layer's output shape
    flops: list[int]  # each layer's multiply-adds
    last: int  # index of the last layer to compute


class Runner:
    """Plans and limits runs for one app; `get_runner` gives the app's instance."""

    def __init__(self, settings: Settings, uploads: UploadStore):
        self.settings = settings
        self.uploads = uploads
        self.slots = Slots(settings.max_concurrent_runs)
        self.sockets = SocketSlots(settings.max_sockets, settings.max_sockets_per_address)
        self._networks = _NetworkCache(settings.max_parameter_elements)

    # -- planning (call from a worker thread: it builds networks and decodes images) --
    def plan(self, request: RunRequest, last: int | None = None) -> Plan:
        """Build, resolve and check a run up to layer `last` (default: the last layer; negative counts back)."""
        try:
            name, network, x = self._network_and_input(request)
        except InputError as error:
            raise RunError(str(error), "input") from None
        with _refused_with(x):
            shapes = self._output_shapes(network, name, x)
            last = self._last_layer(network, name, last)
            # a saliency map adds a backward pass: about twice the forward's multiply-adds again
            flops = self._check_limits(network, x, shapes, last, work_factor=3 if request.saliency is not None else 1,
                                       field_name="layer" if request.layer is not None else "network")
            if request.explain is not None:
                self._check_explain(network, x, shapes, last, request.explain)
            if request.saliency is not None:
                self._check_saliency(network, name, shapes, last, request.saliency)
        return Plan(request, name, network, x, shapes, flops, last)

    def _input(self, request: RunRequest, channels, size) -> np.ndarray:
        return resolve_input(request.input, uploads=self.uploads, settings=self.settings, channels=channels,
                             size=tuple(size) if size else None)

    def _network_and_input(self, request: RunRequest) -> tuple[str, Sequential, np.ndarray]:
        if request.from_layer is not None:
            return self._tail_network_and_input(request)
        if isinstance(request.network, str):
            return self._builtin_network_and_input(request)
        if request.network is not None:
            return self._spec_network_and_input(request)
        return self._layer_network_and_input(request)

    @staticmethod
    def _builtin(name: str):
        info = BUILTIN_MODELS.get(name)
        if info is None:
            raise RunError(f"unknown built-in network {quoted(name)}; built-ins are {', '.join(BUILTIN_MODELS)}",
                           "network")
        return info

    def _builtin_network_and_input(self, request: RunRequest) -> tuple[str, Sequential, np.ndarray]:
        info = self._builtin(request.network)
        if info.input_kind == "image":
            return info.name, load_model(info.name), self._input(request, info.input_channels, info.input_size)
        # A sequence network reads an array (T, F) as it is, or an image row by row: T rows of F pixels.
        steps, features = info.input_shape()
        x = self._input(request, 1, (steps, features))
        return info.name, load_model(info.name), x[:, 0] if x.ndim == 4 and x.shape[1] == 1 else x

    def _tail_network_and_input(self, request: RunRequest) -> tuple[str, Sequential, np.ndarray]:
        """The layers from `from_layer` to the end (sharing the whole network's weights), fed the input as given."""
        if request.network is None:
            raise RunError("from_layer needs a 'network' (a built-in name or a spec), not a single 'layer'",
                           "from_layer")
        if isinstance(request.network, str):
            name = self._builtin(request.network).name
            network = load_model(name)
        else:
            name, network = str(request.network.get("name", "network")), self._spec_network(request.network)
        names = [layer_name for layer_name, _ in network.layers]
        if request.from_layer not in names:
            raise RunError(f"from_layer {quoted(request.from_layer)} is not a layer of network {quoted(name)}; "
                           f"its layers are {', '.join(names)}", "from_layer")
        start = names.index(request.from_layer)
        return name, Sequential(network.layers[start:], name=name), self._input(request, None, None)

    def _spec_network_and_input(self, request: RunRequest) -> tuple[str, Sequential, np.ndarray]:
        spec = request.network
        shape = spec.get("input_shape")
        image_like = (isinstance(shape, list) and len(shape) == 3 and shape[0] in (1, 3)
                      and all(isinstance(n, int) and not isinstance(n, bool) for n in shape))
        x = self._input(request, shape[0] if image_like else None, shape[1:] if image_like else None)
        if shape is None:  # the spec takes its input shape from the input
            spec = {**spec, "input_shape": list(x.shape[1:])}
        with _refused_with(x):
            return str(spec.get("name", "network")), self._spec_network(spec), x

    def _spec_network(self, spec: dict) -> Sequential:
        """The network of a spec, from the cache when the same spec was built before."""
        try:
            check_spec_text(spec)  # the fields the cache key leaves out are checked on a hit too
        except ValueError as error:
            raise RunError(str(error), "network") from None
        key = json.dumps({k: v for k, v in spec.items() if k != "description"}, sort_keys=True)
        network = self._networks.get(key)
        if network is None:
            network = self._build(spec, "network")
            elements = sum(int(v.size) for v in network.state_dict().values())
            self._networks.put(key, network, elements)
        return network

    def _build(self, spec: dict, field_name: str) -> Sequential:
        if isinstance(spec.get("layers"), list) and len(spec["layers"]) > self.settings.max_spec_layers:
            raise RunError(f"the network has {len(spec['layers'])} layers; the limit is "
                           f"{self.settings.max_spec_layers}", f"{field_name}.layers")
        try:
            return network_from_spec(spec, max_parameters=self.settings.max_parameter_elements,
                                     max_layers=self.settings.max_spec_layers)
        except ValueError as error:
            raise RunError(str(error), field_name) from None

    def _layer_network_and_input(self, request: RunRequest) -> tuple[str, Sequential, np.ndarray]:
        """A one-layer network whose channel and feature counts follow from the input."""
        layer = request.layer
        if layer.kind not in LAYER_TYPES:  # before it names the network: a long or empty kind is not a bad name
            raise RunError(f"unknown kind {quoted(layer.kind)}; known kinds: {', '.join(LAYER_TYPES)}", "layer")
        wanted_channels = layer.params.get("in_channels")
        x = self._input(request, wanted_channels if wanted_channels in (1, 3) else None, None)
        entry = {"kind": layer.kind, "params": layer.params, **({"name": layer.name} if layer.name else {})}
        with _refused_with(x):
            network = self._build({"name": layer.name or layer.kind, "input_shape": list(x.shape[1:]),
                                   "layers": [entry]}, "layer")
            if layer.weights:
                self._load_weights(network.layers[0][1], layer.weights)
        return network.name, network, x

    @staticmethod
    def _load_weights(layer: Layer, weights: dict[str, Any]) -> None:
        """Replace the given parameters; the others keep their seeded initial values."""
        state = {key: to_numpy(value) for key, value in layer.state_dict().items()}
        unknown = sorted(set(weights) - set(state))
        if unknown:
            raise RunError(f"{layer.kind} has no parameter(s) {unknown}; its parameters are {sorted(state)}",
                           "layer.weights")
        for key, value in weights.items():
            where = f"layer.weights.{key}"
            try:
                array = array_from_json(value, where)
            except ValueError as error:
                raise RunError(str(error), where) from None
            if array.shape != state[key].shape:
                raise RunError(f"{where} has shape {list(array.shape)}; this {layer.kind} needs "
                               f"{list(state[key].shape)}", where)
            state[key] = array
        layer.load_state_dict(state)

    @staticmethod
    def _output_shapes(network: Sequential, name: str, x: np.ndarray) -> list[tuple[int, ...]]:
        try:
            return network.output_shapes(tuple(x.shape))
        except ValueError as error:
            expected = network.input_shape
            hint = (f" (network {name!r} takes inputs of shape {list(expected)} per sample; "
                    f"this input is {list(x.shape[1:])})" if expected and tuple(x.shape[1:]) != expected else "")
            raise RunError(f"the input does not fit the network{hint}: {error}", "input") from None

    @staticmethod
    def _last_layer(network: Sequential, name: str, last: int | None) -> int:
        count = len(network)
        if last is None:
            return count - 1
        if not -count <= last < count:
            raise RunError(f"layer index {last} is out of range: network {name!r} has {count} layers "
                           f"(0 to {count - 1}, or -1 for the last)", "index")
        return last % count

    def _check_limits(self, network: Sequential, x: np.ndarray, shapes, last: int, work_factor: int = 1,
                      field_name: str = "network") -> list[int]:
        """Each layer's multiply-adds, after refusing outputs or work (times work_factor) beyond the settings; the
        errors name `field_name`, the request's field that asked for the layers."""
        limit = self.settings.max_tensor_elements
        for index, ((layer_name, layer), shape) in enumerate(zip(network.layers[:last + 1], shapes)):
            if math.prod(shape) > limit:
                raise RunError(f"layer {index} '{layer_name}' ({layer.kind}): its output {list(shape)} would hold "
                               f"{math.prod(shape):,} values; the limit is {limit:,} per tensor "
                               f"(max_tensor_elements): use a smaller input or fewer channels", field_name)
        flops, work, shape = [], 0, tuple(x.shape)
        for (_, layer), out_shape in zip(network.layers[:last + 1], shapes):
            flops.append(int(layer.flops(shape)))
            work += int(layer.work(shape))  # flops, plus a recurrent layer's loop over its steps
            shape = out_shape
        work_limit = self.settings.max_work_flops
        work *= work_factor
        if work > work_limit:
            passes = " (forward and backward)" if work_factor > 1 else ""
            raise RunError(f"this run needs about {work:,} multiply-adds{passes}; the limit is {work_limit:,} per run "
                           f"(max_work_flops): use a smaller input or fewer or smaller layers", field_name)
        return flops

    @staticmethod
    def _check_explain(network: Sequential, x: np.ndarray, shapes, last: int,
                       explain: tuple[int, list[int]]) -> None:
        index, output_index = explain
        if not 0 <= index <= last:
            raise RunError(f"explain: layer index {index} is out of range 0 to {last}", "explain")
        layer_name, layer = network.layers[index]
        if not layer.explains():
            able = sorted(kind for kind, cls in LAYER_TYPES.items() if cls.explains())
            article = "an" if layer.kind[0] in "AEIOU" else "a"
            raise RunError(f"explain: layer {index} '{layer_name}' is {article} {layer.kind}, which does not explain "
                           f"single elements; these kinds do: {', '.join(able)}", "explain")
        shape = shapes[index]
        if len(output_index) != len(shape) or not all(0 <= i < n for i, n in zip(output_index, shape)):
            raise RunError(f"explain: output index {output_index} is not inside layer {index}'s output of shape "
                           f"{list(shape)} (give one index per axis, batch first)", "explain")
        reads = layer.explain_reads(tuple(shapes[index - 1]) if index else tuple(x.shape))
        if reads > MAX_EXPLAIN_VALUES:
            raise RunError(f"explain: an output of layer {index} '{layer_name}' reads {reads:,} input values; "
                           f"explanations show at most {MAX_EXPLAIN_VALUES:,}: explain a layer with fewer inputs "
                           f"per output", "explain")

    @staticmethod
    def _check_saliency(network: Sequential, name: str, shapes, last: int, class_index: int) -> None:
        scores_shape = shapes[-1]
        if last != len(network) - 1 or len(scores_shape) != 2:
            raise RunError(f"saliency needs a whole network that ends in class scores (N, classes); network "
                           f"{name!r} ends in shape {list(scores_shape)}", "saliency")
        if not -1 <= class_index < scores_shape[1]:
            raise RunError(f"saliency: class index {class_index} is out of range 0 to {scores_shape[1] - 1} "
                           "(or -1 for the top-scoring class)", "saliency")

    # -- the concurrency limit --
    @asynccontextmanager
    async def run_slot(self, cancel: threading.Event) -> AsyncIterator[None]:
        """Hold one of settings.max_concurrent_runs slots, waiting up to settings.run_queue_seconds for one."""
        deadline = time.monotonic() + self.settings.run_queue_seconds
        if cancel.is_set():  # superseded before its turn: it takes no slot
            raise RunCancelled()
        while not self.slots.try_acquire():
            if cancel.is_set():
                raise RunCancelled()
            if self.slots.limit < 1 or time.monotonic() >= deadline:
                raise ServerBusy(f"server busy: {self.slots.busy} runs already computing (at most "
                                 f"{self.slots.limit} at once); try again")
            await anyio.sleep(BUSY_POLL_SECONDS)
        try:
            yield
        finally:
            self.slots.release()


def get_runner(connection: HTTPConnection) -> Runner:
    """The app's Runner (a FastAPI dependency for HTTP routes and WebSockets), made on first use."""
    state = connection.app.state
    if getattr(state, "runner", None) is None:
        state.runner = Runner(state.settings, state.uploads)
    return state.runner


# ---- execution -------------------------------------------------------------------------------------

@dataclass
class Frame:
    """One message to send: a JSON header, and the bytes of the binary frame that follows it, if any."""

    header: dict
    payload: bytes | None = None


def tensor_frame(request: RunRequest, header: dict, array: np.ndarray) -> Frame:
    """The frames of one array for `request`: its header (with the array's encoding) and its bytes."""
    meta, payload = encode(array, encoding_for(array.size, request.encoding))
    return Frame({"type": header.pop("type"), "id": request.id, **header, **meta}, payload)


@dataclass
class Execution:
    """A plan being computed. `step()` runs in a worker thread, one layer per call.

    The first call returns the "start" and "input" frames; each next call computes one layer and returns
    its "layer" frame, then its "kernel", "explain" and "trace" frames when asked; after the last layer,
    the "saliency" frame when asked; None when the run is complete or `cancel` is set. Stopping early frees the intermediate arrays.
    """

    plan: Plan
    cancel: threading.Event
    layers_done: int = 0
    saliency_sent: bool = False
    compute_seconds: float = 0.0
    _records: Any = field(default=None, repr=False)
    _layer_input: Any = field(default=None, repr=False)

    def step(self) -> list[Frame] | None:
        if self.cancel.is_set():
            self.close()
            return None
        if self.layers_done > self.plan.last:  # every layer sent: a saliency map, if asked for, comes last
            if self.plan.request.saliency is None or self.saliency_sent:
                self.close()
                return None
            self.saliency_sent = True
            return [self._saliency_frame()]
        if self._records is None:
            self._layer_input = asarray(self.plan.x)
            self._records = self.plan.network.run(self._layer_input)
            return [self._start_frame(), self._tensor_frame({"type": "input"}, self.plan.x)]
        record = next(self._records)
        self.compute_seconds += record.seconds
        self.layers_done += 1
        frames = [self._tensor_frame({
            "type": "layer", "index": record.index, "name": record.name, "kind": record.kind,
            "input_shape": list(record.input_shape), "stats": record.stats, "ms": record.seconds * 1000,
            "flops": self.plan.flops[record.index]}, to_numpy(record.output))]
        layer = self.plan.network.layers[record.index][1]
        if self.plan.request.kernels:
            frames += [self._tensor_frame({"type": "kernel", "index": record.index, "name": record.name,
                                           "param": key}, to_numpy(value))
                       for key, value in layer.state_dict().items()]
        if self.plan.request.explain is not None and self.plan.request.explain[0] == record.index:
            frames.append(self._explain_frame(record, layer))
        if self.plan.request.trace and hasattr(layer, "trace"):
            frames += [self._tensor_frame({"type": "trace", "index": record.index, "name": record.name,
                                           "part": part}, to_numpy(value))
                       for part, value in layer.trace(self._layer_input).items() if part != "hidden"]
        self._layer_input = record.output
        return frames

    def _saliency_frame(self) -> Frame:
        """∂ score_k / ∂ input for k = request.saliency, computed on the run's input (engine.saliency)."""
        wanted = self.plan.request.saliency
        started = time.perf_counter()
        gradient, scores, classes = saliency(self.plan.network, asarray(self.plan.x), None if wanted == -1 else wanted)
        ms = (time.perf_counter() - started) * 1000
        class_index = int(to_numpy(classes)[0])
        return self._tensor_frame({"type": "saliency", "class_index": class_index,
                                   "score": float(to_numpy(scores)[0, class_index]), "ms": ms}, to_numpy(gradient))

    def close(self) -> None:
        """Stop the engine's generator and drop the arrays it held."""
        if self._records is not None:
            self._records.close()
        self._records = self._layer_input = None

    def _start_frame(self) -> Frame:
        layers = [{"index": index, "name": name, "kind": layer.kind, "shape": list(shape), "flops": flops}
                  for index, ((name, layer), shape, flops)
                  in enumerate(zip(self.plan.network.layers, self.plan.shapes, self.plan.flops))]
        return Frame({"type": "start", "id": self.plan.request.id, "network": self.plan.name,
                      "input_shape": list(self.plan.x.shape), "layers": layers, "flops": sum(self.plan.flops)})

    def _tensor_frame(self, header: dict, array: np.ndarray) -> Frame:
        return tensor_frame(self.plan.request, header, array)

    def _explain_frame(self, record, layer: Layer) -> Frame:
        explanation = asdict(layer.explain(self._layer_input, tuple(self.plan.request.explain[1])))
        return Frame({"type": "explain", "id": self.plan.request.id, "index": record.index, "name": record.name,
                      **explanation})


async def pump(execution: Execution, deliver: Callable[[list[Frame]], Awaitable[bool]]) -> None:
    """Compute `execution` in one worker thread and `deliver` each step's frames on the event loop.

    The thread stays at most STEPS_AHEAD steps ahead of the deliveries (so a slow client does not make
    the server hold every layer's output) and stops at the next layer boundary once `execution.cancel`
    is set, or once `deliver` returns False. An exception in the thread is raised here.
    """
    loop = asyncio.get_running_loop()
    ready: asyncio.Queue[list[Frame] | None] = asyncio.Queue()
    room = threading.Semaphore(STEPS_AHEAD)

    def produce() -> None:
        try:
            while True:
                while not room.acquire(timeout=0.05):
                    if execution.cancel.is_set():
                        return
                frames = execution.step()
                if frames is None:
                    return
                loop.call_soon_threadsafe(ready.put_nowait, frames)
        finally:
            execution.close()
            loop.call_soon_threadsafe(ready.put_nowait, None)

    worker = asyncio.ensure_future(anyio.to_thread.run_sync(produce))
    try:
        while (frames := await ready.get()) is not None:
            if not await deliver(frames):
                execution.cancel.set()
            room.release()
    except BaseException:  # e.g. the task cancelled at shutdown: stop the thread too
        execution.cancel.set()
        raise
    finally:
        await worker


def layer_output(plan: Plan) -> np.ndarray:
    """The host array of layer `plan.last`'s output, computing no further (call from a worker thread)."""
    records = plan.network.run(asarray(plan.x))
    for record in itertools.islice(records, plan.last + 1):
        pass
    records.close()
    return to_numpy(record.output)
