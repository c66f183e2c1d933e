"""JSON specs of networks: validate, build, and write back.

A spec looks like::

    {"name": "tiny", "input_shape": [1, 28, 28],
     "layers": [{"kind": "Conv2d", "name": "conv1", "params": {"out_channels": 8, "kernel_size": 3}},
                {"kind": "ReLU"}, ...]}

`input_shape` is per sample (no batch). Channel and feature counts (in_channels, in_features,
num_features, input_size) may be left out: they are taken from the previous layer's output.
Every error names the layer and the field; a spec with several layers at fault names each, one a line.
"""

from __future__ import annotations

import inspect

from engine.layers import LAYER_TYPES
from engine.layers.init import placeholder_weights
from engine.network import Sequential
from engine.shapes import quoted, shortened

MAX_LAYERS = 64
MAX_NAME = 100  # characters
MAX_LAYER_NAME = 64  # characters
MAX_DESCRIPTION = 2000
# fields that, when omitted, follow from the incoming shape: field -> axis of the batched shape
_INFERRED = {"in_channels": 1, "num_features": 1, "in_features": -1, "input_size": -1}


def _where(index: int, entry: dict) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    kind = entry.get("kind") if isinstance(entry, dict) else None
    # shortened: a client may send a name or kind of megabytes
    return (f"layer {index}" + (f" '{shortened(str(name))}'" if name else "")
            + (f" ({shortened(str(kind))})" if kind else ""))


def _check_shape(value) -> tuple[int, ...]:
    if (not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 3
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value)):
        raise ValueError(f"spec field 'input_shape' must be 1 to 3 positive integers (C, H, W) or (T, F), got {quoted(value)}")
    return tuple(value)


def network_from_spec(spec: dict, seed: int = 0, max_parameters: int | None = None,
                      max_layers: int = MAX_LAYERS) -> Sequential:
    """Build a Sequential from a spec of at most `max_layers` layers, checking every field and the shapes through
    the whole stack.

    With `max_parameters`, the weights are counted from the hyper-parameters before each layer is
    built, so a spec asking for billions of weights is refused without allocating them.
    """
    name = check_spec_text(spec)
    shape = (1, *_check_shape(spec.get("input_shape")))
    entries = spec.get("layers")
    if not isinstance(entries, list) or not 1 <= len(entries) <= max_layers:
        raise ValueError(f"spec field 'layers' must be a list of 1 to {max_layers} layers")
    with placeholder_weights():  # every field and shape checked before any weight is drawn
        _build_layers(entries, shape, seed, max_parameters)
    layers = _build_layers(entries, shape, seed, max_parameters)
    try:
        return Sequential(layers, name=name, input_shape=tuple(spec["input_shape"]))
    except ValueError as error:
        raise ValueError(f"spec: {error}") from None


def check_spec_text(spec) -> str:
    """Check that spec is an object with known fields and a short name and description; return the name."""
    if not isinstance(spec, dict):
        raise ValueError(f"a network spec must be a JSON object, got {type(spec).__name__}")
    unknown = sorted(set(spec) - {"name", "input_shape", "layers", "description"})
    if unknown:
        raise ValueError(f"spec has unknown fields {unknown}; allowed: name, input_shape, layers, description")
    name = spec.get("name", "network")
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        raise ValueError(f"spec field 'name' must be a string of 1 to {MAX_NAME} characters")
    description = spec.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise ValueError(f"spec field 'description' must be a string of at most {MAX_DESCRIPTION} characters")
    return name


def _build_layers(entries: list, shape: tuple[int, ...], seed: int, max_parameters: int | None) -> list:
    """[(name, layer)] for the entries, fed `shape` (batched).

    A ValueError names every layer at fault, one a line, so that a user mends them all at once. Each layer's own
    settings are always checked; its input only while the layers above it can run: after one that cannot, what the
    next layers get is not known, and a last line says which layers were checked for their settings alone.
    """
    layers, problems, parameters = [], [], 0
    unknown_from = None  # the first layer whose input is not known: a layer above it cannot run
    for index, entry in enumerate(entries):
        where = _where(index, entry)
        try:
            cls, values = _validated(entry, where, shape, seed + index)
        except ValueError as error:
            problems.append(str(error))
            if shape is not None:
                unknown_from, shape = index + 1, None
            continue
        if shape is None:
            problem = _settings_problem(cls, values, where)
            if problem:
                problems.append(problem)
            continue
        parameters += cls.parameter_count(values)
        if max_parameters is not None and parameters > max_parameters:
            raise ValueError(f"the weights of layers 0 to {index} would hold {parameters:,} values; the limit is "
                             f"{max_parameters:,} per network: use fewer or smaller layers")
        try:
            layer = cls(**values)
            layer.check_input_ndim(shape)
            shape = tuple(layer.output_shape(shape))
        except ValueError as error:
            problems.append(f"{where}: {error}")
            unknown_from, shape = index + 1, None
            continue
        layers.append((entry.get("name") or f"{entry['kind'].lower()}{index}", layer))
    if problems:
        if unknown_from is not None and unknown_from < len(entries):
            problems.append(_unchecked(unknown_from, len(entries) - 1))
        raise ValueError("\n".join(problems))
    return layers


def _settings_problem(cls: type, values: dict, where: str) -> str:
    """What is wrong with a layer's settings whatever its input (a pool's padding past half its kernel), or "".

    A layer whose channel or feature count follows from its unknown input cannot be built, so is not checked.
    """
    if any(values.get(field, 0) is None for field in _INFERRED):
        return ""
    try:
        cls(**values)
    except ValueError as error:
        return f"{where}: {error}"
    return ""


def _unchecked(first: int, last: int) -> str:
    """The line saying that layers first..last were checked for their own settings alone."""
    cause = f"depends on layer {first - 1}, which cannot run"
    if first == last:
        return f"layer {first} was checked for its own settings only: what it gets {cause}"
    span = f"{first} and {last}" if last == first + 1 else f"{first} to {last}"
    return f"layers {span} were checked for their own settings only: what they get {cause}"


def _validated(entry, where: str, shape: tuple[int, ...] | None, seed: int) -> tuple[type, dict]:
    """The layer class and its checked constructor arguments (channel counts inferred from `shape`)."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: must be an object with 'kind' and 'params', got {quoted(entry)}")
    extra = sorted(set(entry) - {"kind", "name", "params"})
    if extra:
        raise ValueError(f"{where}: unknown fields {extra}; allowed: kind, name, params")
    kind = entry.get("kind")
    if kind not in LAYER_TYPES:
        raise ValueError(f"{where}: unknown kind {quoted(kind)}; known kinds: {', '.join(LAYER_TYPES)}")
    name = entry.get("name")
    if name is not None and (not isinstance(name, str) or not name or "." in name or len(name) > MAX_LAYER_NAME):
        raise ValueError(f"{where}: field 'name' must be a non-empty string without dots, at most {MAX_LAYER_NAME} "
                         "characters")
    cls = LAYER_TYPES[kind]
    raw = entry.get("params", {})
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: field 'params' must be an object")
    schema = {p.name: p for p in cls.params}
    unknown = sorted(set(raw) - set(schema))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; {kind} takes {sorted(schema)}")
    values = {}
    for field, param in schema.items():
        if field in raw:
            values[field] = param.validate(raw[field], where)
        elif field in _INFERRED:  # unknown (None) below a layer that cannot run
            values[field] = None if shape is None else shape[_INFERRED[field]]
        else:
            values[field] = param.default
    if "seed" in inspect.signature(cls).parameters:
        values["seed"] = seed
    return cls, values


def spec_from_network(network: Sequential) -> dict:
    """The spec that rebuilds `network`'s architecture (weights travel separately, as .npz)."""
    return {
        "name": network.name,
        "input_shape": list(network.input_shape) if network.input_shape else None,
        "layers": [{"kind": layer.kind, "name": name, "params": layer.hyperparameters()}
                   for name, layer in network.layers],
    }
