"""Sequential networks whose `run` yields each layer's result as soon as it is done."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from engine.layers.base import Layer
from engine.shapes import check_input
from engine.stats import summarize


@dataclass
class LayerRecord:
    """One layer's result in a run: what the server streams to the browser."""

    index: int
    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    output: object  # array of the active backend
    stats: dict
    seconds: float


class Sequential:
    """Layers applied one after another; each has a unique name (used in state_dict keys and records)."""

    def __init__(self, layers: list[tuple[str, Layer]], name: str = "network",
                 input_shape: tuple[int, ...] | None = None):
        names = [n for n, _ in layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"layer names must be unique, repeated: {duplicates}")
        self.layers = list(layers)
        self.name = name
        self.input_shape = tuple(input_shape) if input_shape is not None else None  # per sample, without N

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, name: str) -> Layer:
        for layer_name, layer in self.layers:
            if layer_name == name:
                return layer
        raise KeyError(f"no layer named {name!r}; layers are {[n for n, _ in self.layers]}")

    def output_shapes(self, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """Each layer's output shape for a batched input shape; a ValueError names the layer that fails."""
        shapes, shape = [], tuple(input_shape)
        for index, (name, layer) in enumerate(self.layers):
            try:
                layer.check_input_ndim(shape)
                shape = tuple(layer.output_shape(shape))
            except ValueError as error:
                raise ValueError(f"layer {index} '{name}' ({layer.kind}): {error}") from None
            shapes.append(shape)
        return shapes

    def flops(self, input_shape: tuple[int, ...]) -> int:
        """Approximate multiply-adds of one forward pass, from shapes alone (nothing is computed)."""
        total, shape = 0, tuple(input_shape)
        for (_, layer), out_shape in zip(self.layers, self.output_shapes(input_shape)):
            total += layer.flops(shape)
            shape = out_shape
        return total

    def run(self, x) -> Iterator[LayerRecord]:
        """Apply the layers in order, yielding one record per layer as soon as it is done.

        Shapes are checked for the whole stack before any work; a consumer that stops iterating stops
        the computation at the next layer boundary.
        """
        check_input(x, "input", ndim=(2, 3, 4))
        self.output_shapes(tuple(x.shape))
        for index, (name, layer) in enumerate(self.layers):
            started = time.perf_counter()
            output = layer(x)
            if isinstance(output, tuple):  # recurrent layers return (output, state) like PyTorch
                output = output[0]
            seconds = time.perf_counter() - started
            yield LayerRecord(index, name, layer.kind, tuple(x.shape), tuple(output.shape), output,
                              summarize(output), seconds)
            x = output

    def forward(self, x):
        """The last layer's output."""
        record = None
        for record in self.run(x):
            pass
        return record.output

    __call__ = forward

    # --- gradients --------------------------------------------------------------
    def forward_saved(self, x, training: bool = True):
        """The forward pass through every layer, keeping what `backward` needs: returns (output, saved)."""
        saved = []
        for _, layer in self.layers:
            x, layer_saved = layer.forward_saved(x, training)
            saved.append(layer_saved)
        return x, saved

    def backward(self, grad_output, saved, need_input_grad: bool = True) -> tuple[object, dict]:
        """Back-propagate dL/d(output) through the layers in reverse.

        Returns (dL/d(input), {'{layer name}.{parameter}': gradient}) with the names of `parameters()`.
        need_input_grad=False (training) lets the first layer skip dL/d(input); it may then be None.
        """
        grads = {}
        last = len(self.layers) - 1
        for index, ((name, layer), layer_saved) in enumerate(zip(reversed(self.layers), reversed(saved))):
            first_layer = index == last
            grad_output, layer_grads = layer.backward(grad_output, layer_saved,
                                                      need_input_grad=need_input_grad or not first_layer)
            grads.update({f"{name}.{key}": value for key, value in layer_grads.items()})
        return grad_output, grads

    def without_final_softmax(self) -> "Sequential":
        """The network up to its scores: the same layers (shared, so training one trains the other) without a
        final Softmax, or this network when it has none. Training computes softmax and cross-entropy together
        on the scores (exact and stable); a saliency map is taken of a score, not of a probability."""
        if self.layers and self.layers[-1][1].kind == "Softmax":
            return Sequential(self.layers[:-1], name=self.name, input_shape=self.input_shape)
        return self

    def parameters(self) -> dict:
        """Every trainable array as '{layer name}.{parameter}' (the arrays themselves: optimizers update them in place)."""
        return {f"{name}.{key}": value for name, layer in self.layers for key, value in layer.parameters().items()}

    def state_dict(self) -> dict:
        """All parameters as '{layer name}.{parameter name}' → array."""
        return {f"{name}.{key}": value for name, layer in self.layers for key, value in layer.state_dict().items()}

    def load_state_dict(self, state: dict) -> None:
        """Load '{layer name}.{parameter}' arrays; every layer with parameters must be fully covered."""
        known = {name for name, _ in self.layers}
        unknown = sorted({key.split(".", 1)[0] for key in state} - known)
        if unknown:
            raise ValueError(f"state has keys for unknown layers {unknown}; layers are {sorted(known)}")
        for name, layer in self.layers:
            prefix = f"{name}."
            layer_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if layer_state or layer.state_dict():
                layer.load_state_dict(layer_state)

    def to(self, xp) -> "Sequential":
        for _, layer in self.layers:
            layer.to(xp)
        return self
