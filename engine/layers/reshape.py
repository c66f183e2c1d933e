"""Layers that move values around without weights: Flatten, Upsample, Dropout."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from engine.backend import to_numpy
from engine.functional.reshape import dropout, flatten, interpolate
from engine.grad.reshape import dropout_backward, dropout_train, interpolate_backward
from engine.layers.base import Explanation, Layer, Param, check_inplace
from engine.shapes import axis, check_input, positive_pair


class Flatten(Layer):
    kind = "Flatten"
    summary = ("Flatten lays every value of a stack of feature maps out in one long vector, so a dense layer "
               "can look at all of them at once. Nothing is computed; only the shape changes.")
    formula = "y[n, c·H·W + h·W + w] = x[n, c, h, w]"
    shape_rule = "(N, C, H, W) → (N, C·H·W)"
    params = (Param("start_dim", "int", 1, "first dimension to merge", minimum=1, maximum=3),
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
    formula = "nearest: y[i, j] = x[⌊i / s⌋, ⌊j / s⌋]"
    shape_rule = "H_out = H · scale_factor (same for W)"
    params = (Param("scale_factor", "int", 2, "how many times larger", minimum=1, maximum=8),
              Param("mode", "choice", "nearest", "how new values are filled in", choices=("nearest", "bilinear")),
              Param("align_corners", "bool", False, "bilinear only: pin the corner pixels"))

    torch_only = {"size": None, "recompute_scale_factor": False}

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        """As torch.nn.Upsample: give the output size (H_out, W_out) or a scale_factor, not both.

        recompute_scale_factor=True interpolates as if the output size floor(H * scale_factor) had been given.
        """
        super().__init__()
        if (size is None) == (scale_factor is None):
            raise ValueError(f"Upsample: give either size or scale_factor, got size={size!r} and "
                             f"scale_factor={scale_factor!r}")
        if size is not None:
            size = positive_pair(size, "size")
        elif isinstance(scale_factor, bool) or not isinstance(scale_factor, Real) or not 0 < scale_factor < math.inf:
            raise ValueError(f"Upsample: scale_factor must be a positive number, got {scale_factor!r}")
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"Upsample: mode must be 'nearest' or 'bilinear', got {mode!r}")
        if align_corners is not None and not isinstance(align_corners, bool):
            raise ValueError(f"Upsample: align_corners must be True, False or None, got {align_corners!r}")
        if recompute_scale_factor not in (None, False, True):
            raise ValueError(f"Upsample: recompute_scale_factor must be True, False or None, "
                             f"got {recompute_scale_factor!r}")
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners = bool(align_corners)
        self.recompute_scale_factor = bool(recompute_scale_factor)

    def output_shape(self, input_shape):
        n, c, h, w = input_shape
        if self.size is not None:
            return (n, c, *self.size)
        out = (math.floor(h * self.scale_factor), math.floor(w * self.scale_factor))
        if min(out) < 1:
            raise ValueError(f"output size {out} would be empty: input {(h, w)} times scale_factor {self.scale_factor}")
        return (n, c, *out)

    def forward(self, x):
        if self.recompute_scale_factor:
            return interpolate(x, self.output_shape(tuple(x.shape))[2:], mode=self.mode, align_corners=self._align())
        return interpolate(x, self.size, self.scale_factor, mode=self.mode, align_corners=self._align())

    def _align(self):
        return self.align_corners if self.mode == "bilinear" else None

    def forward_saved(self, x, training=True):
        return self.forward(x), tuple(x.shape)

    def backward(self, grad_output, saved, need_input_grad=True):
        scale = self.scale_factor
        if self.size is not None:  # a whole multiple of the input's size is a scale factor
            if any(out % size for out, size in zip(self.size, saved[2:])):
                raise ValueError(f"Upsample's backward needs an output size that is a whole multiple of the input's: "
                                 f"{self.size} from {tuple(saved[2:])}")
            scale = tuple(out // size for out, size in zip(self.size, saved[2:]))
        return interpolate_backward(grad_output, saved, scale, self.mode, self._align()), {}


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
        check_inplace("Dropout", inplace)
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
        super().__init__()
        self.channels, self.height, self.width = channels, height, width

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
