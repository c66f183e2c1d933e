"""The base of every layer: hyper-parameters described for the catalogue, parameters by name.

A layer holds hyper-parameters and parameters and calls `engine.functional`; it adds
no maths of its own. `describe()` gives what the browser shows a student and what
the JSON spec validates against.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from engine.backend import array_module, get_backend, to_numpy
from engine.shapes import flag, quoted


@dataclass(frozen=True)
class Param:
    """One hyper-parameter: its type, range and default, as the catalogue and spec use it.

    type is one of "int", "float", "bool", "choice", "pair" (an int or [h, w]).
    """

    name: str
    type: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    optional: bool = False  # None is allowed (e.g. pool stride defaults to kernel size)

    def validate(self, value: Any, where: str) -> Any:
        """Return the value in its canonical form, or raise ValueError naming `where` and the field."""
        if value is None and self.optional:
            return None
        label = f"{where}: field {self.name!r}"
        if self.type == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{label} must be true or false, got {quoted(value)}")
            return value
        if self.type == "choice":
            if value not in self.choices:
                raise ValueError(f"{label} must be one of {list(self.choices)}, got {quoted(value)}")
            return value
        if self.type == "float":
            try:
                number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            except OverflowError:  # an int too large for a float
                number = None
            if number is None or not math.isfinite(number):
                raise ValueError(f"{label} must be a finite number, got {str(value)[:40]}")
            self._check_range(number, label)
            return number
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{label} must be an integer, got {quoted(value)}")
            self._check_range(int(value), label)
            return int(value)
        if self.type == "pair":
            items = list(value) if isinstance(value, (list, tuple)) else [value, value]
            if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in items):
                raise ValueError(f"{label} must be an integer or a pair [height, width], got {quoted(value)}")
            for v in items:
                self._check_range(int(v), label)
            return int(items[0]) if items[0] == items[1] else (int(items[0]), int(items[1]))
        raise AssertionError(f"unknown parameter type {self.type}")

    def _check_range(self, value: float, label: str) -> None:
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{label} must be >= {self.minimum}, got {value}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{label} must be <= {self.maximum}, got {value}")

    def to_json(self) -> dict:
        data = asdict(self)
        data["choices"] = list(self.choices) if self.choices is not None else None
        return data


def check_flag(kind: str, name: str, value) -> bool:
    """A boolean constructor argument, or ValueError naming the layer and the argument."""
    return flag(value, f"{kind}: {name}")


def check_inplace(kind: str, inplace) -> None:
    """PyTorch's `inplace` flag, accepted for its signature: the engine always returns a new array, since
    the visualizer shows every layer's input next to its output (the values are the same either way)."""
    check_flag(kind, "inplace", inplace)


@dataclass
class Explanation:
    """How one output element came about, computed by the same code as the forward pass.

    `window` are the input values read (with their input coordinates), `weights` the
    weights they meet, `products` their elementwise products, `total` the sum plus
    bias, `output` the value after the layer's activation (if any). Pooling fills
    `winner` (the index into `window` that won) instead of weights and products.
    """

    kind: str
    output_index: tuple[int, ...]
    window: np.ndarray
    coordinates: list[tuple[int, ...]]
    output: float
    weights: np.ndarray | None = None
    products: np.ndarray | None = None
    sum: float | None = None
    bias: float | None = None
    total: float | None = None
    winner: int | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


class Layer:
    """Base class. Subclasses set the class attributes and implement `forward`.

    kind: the spec name ("Conv2d"); summary: a short text for a student; formula and
    shape_rule: shown next to the layer; params: the hyper-parameters in constructor order.
    """

    kind: ClassVar[str]
    summary: ClassVar[str]
    formula: ClassVar[str]
    shape_rule: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    input_ndim: ClassVar[tuple[int, ...]] = (4,)
    # PyTorch constructor arguments the spec (and so the browser) has no field for, with their defaults.
    # A layer built with another value has no spec form: `hyperparameters()` raises. Layers whose
    # spec-less settings are not plain attributes override `_torch_only_changed` (Softmax, BatchNorm2d).
    torch_only: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        self._parameters: dict[str, Any] = {}
        self._buffers: dict[str, Any] = {}

    # --- hyper-parameters --------------------------------------------------
    def hyperparameters(self) -> dict[str, Any]:
        """The constructor arguments, by name, as JSON-able values: the spec's `params` of this layer."""
        changed = self._torch_only_changed()
        if changed:
            settings = ", ".join(f"{name}={value!r}" for name, value in changed.items())
            raise ValueError(f"{self.kind} with {settings} has no spec form: a spec sets only "
                             f"{', '.join(p.name for p in self.params) or 'nothing'}")
        values = self._spec_values()
        for param in self.params:  # a value the constructor took but the spec's range does not hold
            try:
                param.validate(values[param.name], self.kind)
            except ValueError as error:
                raise ValueError(f"{self.kind} with {param.name}={values[param.name]!r} has no spec form: "
                                 f"{error}") from None
        return values

    def _torch_only_changed(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name, default in self.torch_only.items()
                if getattr(self, name) != default}

    def _spec_values(self) -> dict[str, Any]:
        values = {}
        for p in self.params:
            value = getattr(self, p.name)
            if p.type == "bool" and not isinstance(value, bool):
                value = value is not None  # e.g. `bias`: the hyper-parameter is whether the array exists
            values[p.name] = list(value) if isinstance(value, tuple) else value
        return values

    @classmethod
    def describe(cls) -> dict:
        """The catalogue entry: text, formula, shape rule, whether it explains, every parameter's schema."""
        return {
            "kind": cls.kind,
            "summary": cls.summary,
            "formula": cls.formula,
            "shape_rule": cls.shape_rule,
            "input_ndim": list(cls.input_ndim),
            "explains": cls.explains(),
            "params": [p.to_json() for p in cls.params],
        }

    @classmethod
    def explains(cls) -> bool:
        """Whether this kind can `explain` one output element (it overrides Layer.explain)."""
        return cls.explain is not Layer.explain

    # --- parameters, with PyTorch's names and shapes -------------------------
    def state_dict(self) -> dict[str, Any]:
        """Parameters and buffers by PyTorch's names (arrays of the active backend)."""
        return {**{k: v for k, v in self._parameters.items() if v is not None}, **self._buffers}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load arrays by name; shapes must match exactly, every name must be known and present."""
        expected = self.state_dict()
        unknown = sorted(set(state) - set(expected))
        missing = sorted(set(expected) - set(state))
        if unknown or missing:
            raise ValueError(f"{self.kind}.load_state_dict: unknown keys {unknown}, missing keys {missing}")
        xp = get_backend().xp
        for name, value in state.items():
            array = xp.asarray(value) if array_module(value) is xp else xp.asarray(to_numpy(value))
            if tuple(array.shape) != tuple(expected[name].shape):
                raise ValueError(
                    f"{self.kind}.load_state_dict: {name} has shape {tuple(array.shape)}, "
                    f"expected {tuple(expected[name].shape)}"
                )
            # reshape: ascontiguousarray turns a 0-d array (num_batches_tracked) into shape (1,)
            contiguous = xp.ascontiguousarray(array, dtype=xp.float32).reshape(array.shape)
            self._register(name, contiguous, buffer=name in self._buffers)

    def _register(self, name: str, value, buffer: bool = False) -> None:
        (self._buffers if buffer else self._parameters)[name] = value
        setattr(self, name, value)

    def to(self, xp) -> "Layer":
        """Move parameters to the array module `xp` (numpy or cupy)."""
        for store in (self._parameters, self._buffers):
            for name, value in store.items():
                if value is not None and array_module(value) is not xp:
                    moved = xp.asarray(value.get() if hasattr(value, "get") else value)
                    store[name] = moved
                    setattr(self, name, moved)
        return self

    # --- computing ------------------------------------------------------------
    def check_input_ndim(self, shape: tuple[int, ...]) -> None:
        """ValueError when the layer cannot take a `shape` input (from the previous layer), with the usual fix."""
        if len(shape) in self.input_ndim:
            return
        # Flatten gives 2-D and Unflatten takes 2-D: only where one of them makes the input fit
        fix = ("; put a Flatten before it" if len(shape) > max(self.input_ndim) and 2 in self.input_ndim
               else "; put an Unflatten before it" if len(shape) == 2 and 4 in self.input_ndim else "")
        raise ValueError(f"expects a {' or '.join(map(str, self.input_ndim))}-D input, not the "
                         f"{len(shape)}-D {tuple(shape)} it is given{fix}")

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output shape for an input shape, raising ValueError if it is impossible."""
        raise NotImplementedError

    def forward(self, x):
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    # --- gradients (engine.grad) ------------------------------------------------
    def forward_saved(self, x, training: bool = True):
        """The forward pass, plus what `backward` needs: returns `(output, saved)`.

        training=True uses training behaviour (batch statistics in BatchNorm2d, a random mask in
        Dropout); training=False computes exactly `forward(x)`. `saved` is opaque to callers.
        """
        raise NotImplementedError(f"{self.kind} has no backward pass")

    def backward(self, grad_output, saved, need_input_grad: bool = True) -> tuple[object, dict[str, object]]:
        """Given dL/d(output) and `saved` from `forward_saved`, return (dL/dx, {parameter name: dL/dparameter}).

        The dictionary has the names of `state_dict()`'s parameters (not its buffers). With
        need_input_grad=False (a network's first layer, in training) a layer may skip dL/dx and return None.
        """
        raise NotImplementedError(f"{self.kind} has no backward pass")

    def parameters(self) -> dict[str, object]:
        """The trainable arrays by name (no buffers): what an optimizer updates, in place."""
        return {k: v for k, v in self._parameters.items() if v is not None}

    def explain(self, x, index: tuple[int, ...]) -> Explanation:
        """Explain one output element (index into the output, batch first)."""
        raise NotImplementedError(f"{self.kind} does not explain single elements")

    def _output_index(self, x, index) -> tuple[int, ...]:
        """`index` as a tuple of ints inside this layer's output for input x, or ValueError naming the shape."""
        shape = self.output_shape(tuple(x.shape))
        if (not isinstance(index, (tuple, list)) or len(index) != len(shape)
                or any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < size
                       for i, size in zip(index, shape))):
            raise ValueError(f"{self.kind}.explain: output index {index!r} is not inside the output of shape "
                             f"{tuple(shape)} (one index per axis, batch first)")
        return tuple(int(i) for i in index)

    @classmethod
    def parameter_count(cls, hyperparameters: dict) -> int:
        """How many weight values a layer with these (validated) hyper-parameters holds, before building it."""
        return 0

    def _weighted_sum(self, index, window, coordinates, weights, channel: int, note: str = "") -> Explanation:
        """The explanation of an output that is Σ window · weights + bias[channel] (conv, transposed conv, dense)."""
        products = window * weights
        total_sum = float(products.sum(dtype=np.float64))
        bias = float(to_numpy(self.bias)[channel]) if self.bias is not None else 0.0
        return Explanation(self.kind, tuple(index), window, coordinates, output=total_sum + bias, weights=weights,
                           products=products, sum=total_sum, bias=bias, total=total_sum + bias, note=note)

    def flops(self, input_shape: tuple[int, ...]) -> int:
        """Approximate multiply-adds for one forward pass (for GFLOP/s and the work limit)."""
        n = 1
        for s in self.output_shape(input_shape):
            n *= s
        return n

    def work(self, input_shape: tuple[int, ...]) -> int:
        """What one forward pass costs, in multiply-adds of the same time: `flops`, unless a layer adds to it."""
        return self.flops(input_shape)

    def explain_reads(self, input_shape: tuple[int, ...]) -> int:
        """At most how many input values `explain` lists for one output (one, for an elementwise layer)."""
        return 1

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in {**self._spec_values(), **self._torch_only_changed()}.items())
        return f"{self.kind}({args})"
