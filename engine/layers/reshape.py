"""Layers that move values around without weights: Flatten, Upsample, Dropout."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from engine.backend import to_numpy
from engine.functional.reshape import (check_align_corners, check_interpolate_mode, check_resize, dropout, flatten,
                                      interpolate, interpolate_size)
from engine.grad.reshape import dropout_backward, dropout_train, interpolate_backward
from engine.layers.base import Explanation, Layer, Param, check_inplace
from engine.shapes import axis, check_input, positive_pair


class Flatten(Layer):
    kind = "Flatten"
    summary = ("Flatten lays every value of a stack of feature maps out in one long vector, so a dense layer "
               "can look at all of them at once. Nothing is computed; only the shape changes.")
    formula = "y[n, c·H·W + h·W + w] = x[n, c, h, w]   (start_dim 1, end_dim −1)"
    shape_rule = "(N, C, H, W) → (N, C·H·W)"
    params = (Param("start_dim", "int", 1, "first dimension to merge (1 or more: never the batch axis)",
                    minimum=1, maximum=3),
              Param("end_dim", "int", -1, "last dimension to merge", minimum=-1, maximum=3))
    input_ndim = (2, 3, 4)

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def output_shape(self, input_shape):
        start = axis(self.start_dim, len(input_shape), "start_dim")
        end = axis(self.end_dim, len(input_shape), "end_dim")
        if start > end:
            raise ValueError(f"Flatten: start_dim {self.start_dim} comes after end_dim {self.end_dim} "
                             f"for a {len(input_shape)}-D input")
        return (*input_shape[:start], math.prod(input_shape[start:end + 1]), *input_shape[end + 1:])

    def forward(self, x):
        return flatten(x, self.start_dim, self.end_dim)

    def forward_saved(self, x, training=True):
        return self.forward(x), tuple(x.shape)

    def backward(self, grad_output, saved, need_input_grad=True):
        """The gradient folded back into the input's shape."""
        return grad_output.reshape(saved), {}


class Upsample(Layer):
    kind = "Upsample"
    summary = ("Upsampling enlarges each map by a whole factor: 'nearest' repeats every value, 'bilinear' "
               "blends neighbours smoothly. Decoders use it, like transposed convolutions, to grow a small code "
               "back into an image.")
    formula = ("nearest: y[i, j] = x[⌊i / s⌋, ⌊j / s⌋];  bilinear: y[i, j] = the weighted mean of the 4 "
               "input cells around the point (i, j) maps to, nearer cells weighing more")
    shape_rule = "H_out = H · scale_factor (same for W)"
    params = (Param("scale_factor", "int", 2, "how many times larger", minimum=1, maximum=8),
              Param("mode", "choice", "nearest", "how new values are filled in", choices=("nearest", "bilinear")),
              Param("align_corners", "bool", False,
                    "bilinear: pin the corner pixels (ignored with nearest, where torch refuses it)"))

    torch_only = {"size": None, "recompute_scale_factor": False}

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        """As torch.nn.Upsample: give the output size (H_out, W_out) or a scale_factor (a number or a pair),
        not both. recompute_scale_factor=True maps coordinates as if the output size floor(H * scale_factor)
        had been given. Nearest with a fractional scale follows PyTorch's general formula (see `interpolate`).
        align_corners is ignored with nearest, where PyTorch refuses it: a spec or a Layer lab link with the
        box ticked and mode nearest keeps working, as it did.
        """
        super().__init__()
        check_align_corners(align_corners)
        check_interpolate_mode(mode, None)  # align_corners is checked above, for every mode
        check_resize(size, scale_factor, recompute_scale_factor)
        self.size = None if size is None else positive_pair(size, "size")
        self.scale_factor = None if scale_factor is None else _plain_scale(scale_factor)
        self.mode, self.align_corners = mode, bool(align_corners)
        self.recompute_scale_factor = bool(recompute_scale_factor)

    def _options(self) -> dict:
        """The arguments `interpolate` and its backward take for this layer."""
        return {"size": self.size, "scale_factor": self.scale_factor, "mode": self.mode,
                "align_corners": self.align_corners if self.mode == "bilinear" else None,
                "recompute_scale_factor": self.recompute_scale_factor}

    def output_shape(self, input_shape):
        n, c, h, w = input_shape
        out, _ = interpolate_size((h, w), self.size, self.scale_factor, self.recompute_scale_factor)
        return (n, c, *out)

    def forward(self, x):
        return interpolate(x, **self._options())

    def forward_saved(self, x, training=True):
        return self.forward(x), tuple(x.shape)

    def backward(self, grad_output, saved, need_input_grad=True):
        return interpolate_backward(grad_output, saved, **self._options()), {}


def _plain_scale(scale):
    """A scale factor as the spec writes it: a pair of equal values as one, whole floats as ints."""
    scales = tuple(scale) if isinstance(scale, (tuple, list)) else (scale, scale)
    scales = tuple(int(s) if float(s).is_integer() else float(s) for s in scales)
    return scales[0] if scales[0] == scales[1] else scales


class Dropout(Layer):
    kind = "Dropout"
    summary = ("During training, dropout switches off a random share p of the values so the network cannot "
               "lean on any single one. When the network is used (as here), it passes everything through "
               "unchanged.")
    formula = "inference: y = x   (training: y = x · mask / (1 − p), mask ~ Bernoulli(1 − p))"
    shape_rule = "same shape as the input"
    params = (Param("p", "float", 0.5, "share of values dropped in training", minimum=0.0, maximum=1.0),)
    input_ndim = (2, 3, 4)

    def __init__(self, p=0.5, inplace=False):
        """As torch.nn.Dropout; `inplace` is accepted and changes nothing: no layer here overwrites its input."""
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, Real) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a number between 0 and 1, got {p!r}")
        check_inplace(self.kind, inplace)
        self.p = p
        # Training masks come from this generator, seeded so that a training run repeats exactly (the
        # constructor keeps torch's signature, so the seed is fixed; forward_saved takes an `rng` to override).
        self._mask_seeds = np.random.default_rng(0)

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x):
        return dropout(x, self.p, training=False)

    def forward_saved(self, x, training=True, rng=None):
        """training=True drops values with a fresh random mask: from `rng` (a seed or a Generator of x's array
        module) if given, else from the layer's seeded generator (a new seed each call, drawn on the host and
        used on x's device). training=False is the identity, as `forward`."""
        if not training:
            return self.forward(x), None
        if rng is None:
            rng = int(self._mask_seeds.integers(2**63))
        y, mask = dropout_train(x, self.p, rng)
        return y, mask

    def backward(self, grad_output, saved, need_input_grad=True):
        if saved is None:
            return grad_output, {}
        return dropout_backward(grad_output, saved, self.p), {}

    def explain(self, x, index):
        index = self._output_index(x, index)
        value = float(to_numpy(x)[tuple(index)])
        return Explanation(self.kind, tuple(index), np.asarray([value], np.float32), [tuple(index)], output=value,
                           note="identity at inference")


class Unflatten(Layer):
    kind = "Unflatten"
    summary = ("Unflatten is Flatten backwards: it folds a long vector into a stack of feature maps, so that "
               "convolutions (or transposed convolutions, in a decoder) can work on it. Nothing is computed; "
               "only the shape changes.")
    formula = "y[n, c, h, w] = x[n, c·H·W + h·W + w]"
    shape_rule = "(N, C·H·W) → (N, C, H, W)"
    # defaults fold the Layer lab's vector (a 32x32 picture, 1,024 values) back into its picture
    params = (Param("channels", "int", 1, "C: maps in the output", minimum=1, maximum=4096),
              Param("height", "int", 32, "H: rows of each map", minimum=1, maximum=4096),
              Param("width", "int", 32, "W: columns of each map", minimum=1, maximum=4096))
    input_ndim = (2,)

    def __init__(self, channels=1, height=32, width=32):
        """Fold (N, C·H·W) into (N, C, H, W): y[n, c, h, w] = x[n, c·H·W + h·W + w], with C, H, W the
        positive ints channels, height, width.

        These are not torch.nn.Unflatten's arguments (dim, unflattened_size): torch's
        nn.Unflatten(1, (16, 7, 7)) is Unflatten(16, 7, 7) here, and anything else is refused.
        """
        super().__init__()
        given = {"channels": channels, "height": height, "width": width}
        for name, value in given.items():
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ValueError(f"Unflatten takes channels, height, width, each a positive int (unlike "
                                 f"torch.nn.Unflatten(dim, unflattened_size)): {name} is {value!r}"
                                 f"{_torch_sizes_hint(value)}")
        self.channels, self.height, self.width = (int(value) for value in given.values())

    def output_shape(self, input_shape):
        features = self.channels * self.height * self.width
        if input_shape[1] != features:
            raise ValueError(f"Unflatten: the input has {input_shape[1]} features, but channels x height x width "
                             f"= {self.channels} x {self.height} x {self.width} = {features}")
        return (input_shape[0], self.channels, self.height, self.width)

    def forward(self, x):
        check_input(x, "x", ndim=2)
        self.output_shape(tuple(x.shape))
        return x.reshape(x.shape[0], self.channels, self.height, self.width)

    def forward_saved(self, x, training=True):
        return self.forward(x), tuple(x.shape)

    def backward(self, grad_output, saved, need_input_grad=True):
        """The gradient flattened back into the input's shape."""
        return grad_output.reshape(saved), {}

    def explain(self, x, index):
        index = self._output_index(x, index)
        n, c, h, w = index
        source = (n, (c * self.height + h) * self.width + w)
        value = float(to_numpy(x)[source])
        return Explanation(self.kind, tuple(index), np.asarray([value], np.float32), [source], output=value,
                           note="the same value, moved to its place in the map")


def _torch_sizes_hint(value) -> str:
    """For torch's unflattened_size (three ints) given where Unflatten takes one: how to write it here."""
    if not (isinstance(value, (tuple, list)) and len(value) == 3 and all(isinstance(v, Integral) for v in value)):
        return ""
    sizes = ", ".join(str(int(v)) for v in value)
    return f"; torch's Unflatten(1, ({sizes})) is Unflatten({sizes}) here"
