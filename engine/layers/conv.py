"""Conv2d and ConvTranspose2d layers (the mission's convolutional and deconvolutional layers)."""

from __future__ import annotations

import math

import numpy as np

from engine.backend import to_numpy
from engine.functional.conv import conv2d, conv_transpose2d, same_padding
from engine.functional.reshape import pad, pad_sources, pad_widths
from engine.grad.conv import conv2d_backward, conv_transpose2d_backward
from engine.grad.reshape import pad_backward
from engine.layers.base import Layer, Param
from engine.layers.init import uniform
from engine.shapes import (check_channels, conv_output_size, conv_transpose_output_size, non_negative_pair,
                           positive_int, positive_pair)

_CHANNELS = dict(minimum=1, maximum=4096)


def _channels_and_groups(in_channels, out_channels, groups) -> tuple[int, int, int]:
    """The three counts as positive ints, groups dividing both channel counts; ValueError naming the one at fault."""
    in_channels, out_channels = positive_int(in_channels, "in_channels"), positive_int(out_channels, "out_channels")
    groups = positive_int(groups, "groups")
    if in_channels % groups or out_channels % groups:
        common = math.gcd(in_channels, out_channels)
        divisors = [d for d in range(1, common + 1) if common % d == 0]
        raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}; "
                         f"groups that do: {', '.join(map(str, divisors))}")
    return in_channels, out_channels, groups


# Conv2d's padding_mode and the `pad` mode that fills the same way.
_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}
_PADDING_READS = {"zeros": "the zero padding", "reflect": "the input mirrored at its edge (reflect padding)",
                  "replicate": "the nearest edge cell (replicate padding)",
                  "circular": "the opposite side of the input (circular padding)"}


def _conv_padding(padding, kernel_size, stride, dilation) -> tuple[int, int]:
    """Conv2d's padding as (height, width): ints or a pair, or PyTorch's 'valid' (none) and 'same'.

    'same' pads d*(k-1) in all per axis, half on each side; where that total is odd PyTorch pads one
    more at the end, which a (height, width) padding cannot hold, so that case raises.
    """
    if not isinstance(padding, str):
        return non_negative_pair(padding, "padding")
    if padding == "valid":
        return (0, 0)
    if padding != "same":
        raise ValueError(f"padding must be 'valid', 'same', an int or a pair of ints, got {padding!r}")
    if stride != (1, 1):
        raise ValueError(f"padding='same' needs stride 1, got stride {stride}")
    (top, bottom), (left, right) = (same_padding(k, d) for k, d in zip(kernel_size, dilation))
    if top != bottom or left != right:
        raise ValueError(f"padding='same' with kernel_size {kernel_size} and dilation {dilation} pads "
                         f"{(top, left)} before and {(bottom, right)} after; this layer pads both sides alike: "
                         "use an odd kernel_size, or pad the input first")
    return (top, left)


def _parameter_grads(layer, grad_weight, grad_bias) -> dict:
    """{"weight": ..., "bias": ...}, without "bias" when the layer has none."""
    return {"weight": grad_weight} if layer.bias is None else {"weight": grad_weight, "bias": grad_bias}


class Conv2d(Layer):
    """A bank of learned filters slid over the input."""

    kind = "Conv2d"
    summary = (
        "A convolution slides small filters (kernels) over the image. At every position it multiplies the "
        "window under the filter by the filter's weights and adds them up: one number per position, one output "
        "map (channel) per filter. Each map lights up where its pattern (an edge, a blob, a texture) appears."
    )
    formula = ("out[n,o,i,j] = b[o] + Σ_c Σ_p Σ_q w[o,c,p,q] · x[n,c, i·s + p·d − pad, j·s + q·d − pad]   "
               "(c: every input channel; with groups > 1 only those of o's group, which w numbers from 0)")
    shape_rule = "H_out = ⌊(H + 2·padding − dilation·(k − 1) − 1) / stride⌋ + 1 (same for W)"
    params = (
        Param("in_channels", "int", 1, "channels of the input", **_CHANNELS),
        Param("out_channels", "int", 4, "number of filters, one output map each", **_CHANNELS),
        Param("kernel_size", "pair", 3, "height and width of each filter", minimum=1, maximum=31),
        Param("stride", "pair", 1, "step between windows", minimum=1, maximum=16),
        Param("padding", "pair", 0, "cells added around the input (zeros, unless padding mode says otherwise)",
              minimum=0, maximum=32),
        Param("dilation", "pair", 1, "spacing between the filter's taps", minimum=1, maximum=16),
        Param("groups", "int", 1, "split channels into independent groups", minimum=1, maximum=4096),
        Param("bias", "bool", True, "add a learned constant per filter"),
        Param("padding_mode", "choice", "zeros", "what the padding holds: zeros, or the input mirrored at its "
              "edge (reflect), its edge repeated (replicate) or wrapped around (circular)", choices=tuple(_PAD_MODES)),
    )

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", *, seed=0):
        super().__init__()
        self.in_channels, self.out_channels, self.groups = _channels_and_groups(in_channels, out_channels, groups)
        if not isinstance(padding_mode, str) or padding_mode not in _PAD_MODES:
            raise ValueError(f"{self.kind}: padding_mode must be one of {', '.join(_PAD_MODES)}, got {padding_mode!r}")
        self.padding_mode = padding_mode
        self.kernel_size = positive_pair(kernel_size, "kernel_size")
        self.stride = positive_pair(stride, "stride")
        self.dilation = positive_pair(dilation, "dilation")
        self.padding = _conv_padding(padding, self.kernel_size, self.stride, self.dilation)
        rng = np.random.default_rng(seed)
        fan_in = in_channels // groups * self.kernel_size[0] * self.kernel_size[1]
        self._register("weight", uniform((out_channels, in_channels // groups, *self.kernel_size), fan_in, rng))
        self._register("bias", uniform((out_channels,), fan_in, rng) if bias else None)

    @classmethod
    def parameter_count(cls, hyperparameters):
        kh, kw = positive_pair(hyperparameters["kernel_size"], "kernel_size")
        weights = hyperparameters["in_channels"] * hyperparameters["out_channels"] // hyperparameters["groups"] * kh * kw
        return weights + (hyperparameters["out_channels"] if hyperparameters["bias"] else 0)

    def output_shape(self, input_shape):
        n, c, h, w = input_shape
        check_channels(c, self.in_channels, f"{self.kind} field 'in_channels' is {self.in_channels}, input")
        if self.padding_mode != "zeros":
            pad_widths(tuple(input_shape), self._pad(), _PAD_MODES[self.padding_mode])
        return (n, self.out_channels,
                conv_output_size(h, self.kernel_size[0], self.stride[0], self.padding[0], self.dilation[0], axis="height"),
                conv_output_size(w, self.kernel_size[1], self.stride[1], self.padding[1], self.dilation[1], axis="width"))

    def _pad(self) -> tuple[int, int, int, int]:
        """The padding as `pad` takes it: (left, right, top, bottom)."""
        (ph, pw) = self.padding
        return (pw, pw, ph, ph)

    def _padded(self, x):
        """(x, padding) for the convolution: x itself and the layer's padding for zeros; otherwise x padded
        by padding_mode, and no padding left for the convolution to add."""
        if self.padding_mode == "zeros":
            return x, self.padding
        return pad(x, self._pad(), _PAD_MODES[self.padding_mode]), (0, 0)

    def forward(self, x):
        x, padding = self._padded(x)
        return conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)

    def forward_saved(self, x, training=True):
        """The output, and the (padded) input with the input's shape: all the gradients need."""
        padded, padding = self._padded(x)
        output = conv2d(padded, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)
        return output, (padded, tuple(x.shape))

    def backward(self, grad_output, saved, need_input_grad=True):
        padded, input_shape = saved
        padding = (0, 0) if self.padding_mode != "zeros" else self.padding
        grad_x, grad_weight, grad_bias = conv2d_backward(grad_output, padded, self.weight, self.stride, padding,
                                                         self.dilation, self.groups, need_input_grad)
        if grad_x is not None and self.padding_mode != "zeros":
            grad_x = pad_backward(grad_x, input_shape, self._pad(), _PAD_MODES[self.padding_mode])
        return grad_x, _parameter_grads(self, grad_weight, grad_bias)

    def flops(self, input_shape):
        n, o, h, w = self.output_shape(input_shape)
        return n * o * h * w * (self.in_channels // self.groups) * self.kernel_size[0] * self.kernel_size[1]

    def explain_reads(self, input_shape):
        return self.in_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]

    def explain(self, x, index):
        """The window under output (n, o, i, j): its values, the weights, their products, sum, bias."""
        index = self._output_index(x, index)
        n, o, i, j = index
        x_host, weight = to_numpy(x)[n], to_numpy(self.weight)[o]
        per_group = self.in_channels // self.groups
        first_channel = o // (self.out_channels // self.groups) * per_group
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        height, width = x_host.shape[1:]
        if self.padding_mode != "zeros":  # the input cell each padded row and column copies
            rows = pad_sources(height, ph, ph, _PAD_MODES[self.padding_mode])
            cols = pad_sources(width, pw, pw, _PAD_MODES[self.padding_mode])
        window = np.zeros((per_group, kh, kw), dtype=np.float32)
        coordinates, padded = [], False
        for c in range(per_group):
            for p in range(kh):
                for q in range(kw):
                    row, col = i * sh + p * dh - ph, j * sw + q * dw - pw
                    inside = 0 <= row < height and 0 <= col < width
                    if inside or self.padding_mode != "zeros":
                        source = (row, col) if inside else (rows[row + ph], cols[col + pw])
                        window[c, p, q] = x_host[(first_channel + c, *source)]
                    coordinates.append((first_channel + c, row, col))
                    padded = padded or not inside
        return self._weighted_sum(index, window, coordinates, weight, o,
                                  note=f"coordinates outside the input read {_PADDING_READS[self.padding_mode]}"
                                  if padded else "")


class ConvTranspose2d(Layer):
    """The transposed ("deconvolutional") convolution: each input value stamps a weighted kernel onto the output."""

    kind = "ConvTranspose2d"
    summary = (
        "A transposed convolution (often called deconvolution) runs a convolution backwards: every input value "
        "stamps a copy of the kernel, scaled by that value, onto a larger output grid, and overlapping stamps add "
        "up. With stride 2 it doubles the size, which is how an autoencoder's decoder grows a small code back into "
        "an image."
    )
    formula = ("for every input cell x[n,c,i,j] and kernel tap (p, q): "
               "out[n,o, i·s + p·d − pad, j·s + q·d − pad] += x[n,c,i,j] · w[c,o,p,q] "
               "(with groups: for the outputs o of c's group);  then + b[o] everywhere")
    shape_rule = "H_out = (H − 1)·stride − 2·padding + dilation·(k − 1) + output_padding + 1 (same for W)"
    params = (
        Param("in_channels", "int", 1, "channels of the input", **_CHANNELS),
        Param("out_channels", "int", 1, "channels of the output", **_CHANNELS),
        Param("kernel_size", "pair", 2, "height and width of each kernel stamp", minimum=1, maximum=31),
        Param("stride", "pair", 2, "spacing of the stamps on the output (2 by default here, 1 in torch)",
              minimum=1, maximum=16),
        Param("padding", "pair", 0, "rows and columns cropped from each edge of the output", minimum=0, maximum=32),
        Param("output_padding", "pair", 0, "extra rows/columns added on one side (less than stride or dilation)",
              minimum=0, maximum=15),
        Param("groups", "int", 1, "split channels into independent groups", minimum=1, maximum=4096),
        Param("bias", "bool", True, "add a learned constant per output channel"),
        Param("dilation", "pair", 1, "spacing between the kernel's taps", minimum=1, maximum=16),
    )

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", *, seed=0):
        super().__init__()
        self.in_channels, self.out_channels, self.groups = _channels_and_groups(in_channels, out_channels, groups)
        if padding_mode != "zeros":  # as in PyTorch
            raise ValueError(f"{self.kind}: padding_mode must be 'zeros' (the only one a transposed convolution "
                             f"has), got {padding_mode!r}")
        self.kernel_size = positive_pair(kernel_size, "kernel_size")
        self.stride = positive_pair(stride, "stride")
        self.padding = non_negative_pair(padding, "padding")
        self.output_padding = non_negative_pair(output_padding, "output_padding")
        self.dilation = positive_pair(dilation, "dilation")
        rng = np.random.default_rng(seed)
        fan_in = out_channels // groups * self.kernel_size[0] * self.kernel_size[1]  # PyTorch's fan_in for this layout
        self._register("weight", uniform((in_channels, out_channels // groups, *self.kernel_size), fan_in, rng))
        self._register("bias", uniform((out_channels,), fan_in, rng) if bias else None)

    parameter_count = Conv2d.parameter_count

    def output_shape(self, input_shape):
        n, c, h, w = input_shape
        check_channels(c, self.in_channels, f"{self.kind} field 'in_channels' is {self.in_channels}, input")
        sizes = [conv_transpose_output_size(size, self.kernel_size[a], self.stride[a], self.padding[a],
                                            self.output_padding[a], self.dilation[a], axis=name)
                 for a, (size, name) in enumerate(((h, "height"), (w, "width")))]
        return (n, self.out_channels, *sizes)

    def forward(self, x):
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                self.groups, self.dilation)

    def forward_saved(self, x, training=True):
        """The output, and the input (all the weight gradient needs)."""
        return self.forward(x), x

    def backward(self, grad_output, saved, need_input_grad=True):
        grad_x, grad_weight, grad_bias = conv_transpose2d_backward(
            grad_output, saved, self.weight, self.stride, self.padding, self.output_padding, self.groups,
            self.dilation, need_input_grad)
        return grad_x, _parameter_grads(self, grad_weight, grad_bias)

    def flops(self, input_shape):
        n, c, h, w = input_shape
        return n * c * h * w * (self.out_channels // self.groups) * self.kernel_size[0] * self.kernel_size[1]

    explain_reads = Conv2d.explain_reads  # at most every input channel of the group under every tap

    def explain(self, x, index):
        """Every (input value, kernel tap) pair that lands on output (n, o, i, j), their products, sum, bias."""
        index = self._output_index(x, index)
        n, o, i, j = index
        x_host, weight = to_numpy(x)[n], to_numpy(self.weight)
        out_per_group = self.out_channels // self.groups
        in_per_group = self.in_channels // self.groups
        group, o_in_group = divmod(o, out_per_group)
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        values, taps, coordinates = [], [], []
        for c in range(group * in_per_group, (group + 1) * in_per_group):
            for p in range(kh):
                for q in range(kw):
                    row, col = i + ph - p * dh, j + pw - q * dw  # = a*s and b*s for the input position (a, b)
                    if row % sh or col % sw:
                        continue
                    a, b = row // sh, col // sw
                    if 0 <= a < x_host.shape[1] and 0 <= b < x_host.shape[2]:
                        values.append(x_host[c, a, b])
                        taps.append(weight[c, o_in_group, p, q])
                        coordinates.append((c, a, b))
        return self._weighted_sum(index, np.asarray(values, np.float32), coordinates, np.asarray(taps, np.float32), o,
                                  note="each input value meets the kernel tap that lands on this output cell")
