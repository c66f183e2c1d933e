"""MaxPool2d and AvgPool2d layers."""

from __future__ import annotations

import numpy as np

from engine.backend import to_numpy
from engine.functional.pool import avg_pool2d, check_divisor_override, max_pool2d
from engine.grad.pool import avg_pool2d_backward, max_pool2d_backward
from engine.layers.base import Explanation, Layer, Param, check_flag
from engine.shapes import conv_output_size, non_negative_pair, positive_pair

_KERNEL = Param("kernel_size", "pair", 2, "height and width of the window", minimum=1, maximum=16)
_STRIDE = Param("stride", "pair", None, "step between windows (default: the kernel size)", minimum=1, maximum=16,
                optional=True)
_PADDING = Param("padding", "pair", 0, "padding around the input (at most half the kernel)", minimum=0, maximum=8)
_CEIL = Param("ceil_mode", "bool", False, "round the output size up: a last, partial window is kept if it "
                "starts before the end of the input")


class _Pool2d(Layer):
    dilation = (1, 1)

    def _setup(self, kernel_size, stride, padding, ceil_mode):
        self.kernel_size = positive_pair(kernel_size, "kernel_size")
        self.stride = positive_pair(stride if stride is not None else kernel_size, "stride")
        self.padding = non_negative_pair(padding, "padding")
        self.ceil_mode = check_flag(self.kind, "ceil_mode", ceil_mode)
        for pad, k in zip(self.padding, self.kernel_size):
            if 2 * pad > k:
                raise ValueError(f"{self.kind}: padding {self.padding} must be at most half of kernel_size "
                                 f"{self.kernel_size}")

    def output_shape(self, input_shape):
        n, c, h, w = input_shape
        sizes = [conv_output_size(size, self.kernel_size[a], self.stride[a], self.padding[a], self.dilation[a],
                                  self.ceil_mode, axis=name) for a, (size, name) in enumerate(((h, "height"), (w, "width")))]
        return (n, c, *sizes)

    def flops(self, input_shape):
        n, c, h, w = self.output_shape(input_shape)
        return n * c * h * w * self.kernel_size[0] * self.kernel_size[1]

    def explain_reads(self, input_shape):
        return self.kernel_size[0] * self.kernel_size[1]

    def _window(self, x, index):
        """The window under output (n, c, i, j) and its input coordinates; padding cells are None."""
        n, c, i, j = index
        plane = to_numpy(x)[n, c]
        values, coordinates = [], []
        for p in range(self.kernel_size[0]):
            for q in range(self.kernel_size[1]):
                row = i * self.stride[0] + p * self.dilation[0] - self.padding[0]
                col = j * self.stride[1] + q * self.dilation[1] - self.padding[1]
                inside = 0 <= row < plane.shape[0] and 0 <= col < plane.shape[1]
                values.append(plane[row, col] if inside else np.nan)
                coordinates.append((c, row, col))
        return np.asarray(values, np.float32).reshape(self.kernel_size), coordinates


class MaxPool2d(_Pool2d):
    """Keeps the largest value of each window."""

    kind = "MaxPool2d"
    summary = (
        "Max pooling shrinks a map by keeping only the largest value in each window. It keeps the strongest "
        "response of a feature while forgetting exactly where in the window it was, which makes the network "
        "a little tolerant to small shifts."
    )
    formula = "out[n,c,i,j] = max_{p,q} x[n,c, i·s + p·d − pad, j·s + q·d − pad]"
    shape_rule = ("H_out = ⌊(H + 2·padding − dilation·(k − 1) − 1) / stride⌋ + 1 (same for W)"
                  "; with ceil_mode ⌈…⌉ + 1 instead, less one when that last window would start beyond the "
                  "input's last cell, in the right-hand padding or past it (as PyTorch)")
    params = (_KERNEL, _STRIDE, _PADDING,
              Param("dilation", "pair", 1, "spacing between the window's cells", minimum=1, maximum=8), _CEIL)
    torch_only = {"return_indices": False}

    def __init__(self, kernel_size=2, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.dilation = positive_pair(dilation, "dilation")
        self.return_indices = check_flag(self.kind, "return_indices", return_indices)
        self._setup(kernel_size, stride, padding, ceil_mode)

    def forward(self, x):
        """The pooled maps; with return_indices=True, (pooled maps, argmax positions) as PyTorch gives them."""
        if self.return_indices:
            return self.forward_with_indices(x)
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)

    def forward_with_indices(self, x):
        """(output, argmax positions) with positions flat in each channel's H*W, as PyTorch gives them."""
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          return_indices=True)

    def forward_saved(self, x, training=True):
        """The output, and (argmax positions, input shape): the gradient goes to each window's winner."""
        if self.return_indices:
            raise ValueError("MaxPool2d with return_indices=True gives a pair, which no layer after it takes: "
                             "use forward_with_indices for the positions")
        output, indices = self.forward_with_indices(x)
        return output, (indices, tuple(x.shape))

    def backward(self, grad_output, saved, need_input_grad=True):
        indices, input_shape = saved
        overlapping = any(d * (k - 1) >= s for k, s, d in zip(self.kernel_size, self.stride, self.dilation))
        return max_pool2d_backward(grad_output, indices, input_shape, overlapping), {}

    def explain(self, x, index):
        """The window under output (n, c, i, j) and which of its cells won (from the forward pass's indices)."""
        index = self._output_index(x, index)
        window, coordinates = self._window(x, index)
        output, indices = self.forward_with_indices(x)
        n, c, i, j = index
        flat = int(to_numpy(indices)[n, c, i, j])
        height, width = x.shape[2:]
        value = float(to_numpy(output)[n, c, i, j])
        if not any(0 <= row < height and 0 <= col < width for _, row, col in coordinates):
            # With dilation a window can lie wholly in the padding; PyTorch gives -inf there.
            return Explanation(self.kind, tuple(index), window, coordinates, output=value,
                               note="every cell of this window is padding, so nothing wins: -inf")
        winner = coordinates.index((c, flat // width, flat % width))
        note = "cells outside the input (the padding) never win" if _reads_padding(x, coordinates) else ""
        return Explanation(self.kind, tuple(index), window, coordinates, output=value, winner=winner, note=note)


def _reads_padding(x, coordinates) -> bool:
    """Whether a window's (channel, row, column) coordinates reach outside the input x (N, C, H, W)."""
    height, width = x.shape[2:]
    return any(not (0 <= row < height and 0 <= col < width) for _, row, col in coordinates)


class AvgPool2d(_Pool2d):
    """Averages each window."""

    kind = "AvgPool2d"
    summary = (
        "Average pooling shrinks a map by replacing each window with the mean of its values: a smooth, "
        "blurred summary, where max pooling keeps only the peak."
    )
    formula = ("out[n,c,i,j] = (1 / count) · Σ_{p,q} x[n,c, i·s + p − pad, j·s + q − pad]   (padding adds 0; "
               "count = the window's cells inside the padded input, or inside the input alone when "
               "count_include_pad is off)")
    shape_rule = ("H_out = ⌊(H + 2·padding − k) / stride⌋ + 1 (same for W)"
                  "; with ceil_mode ⌈…⌉ + 1 instead, less one when that last window would start beyond the "
                  "input's last cell, in the right-hand padding or past it (as PyTorch)")
    params = (_KERNEL, _STRIDE, _PADDING, _CEIL,
              Param("count_include_pad", "bool", True, "count padding zeros in the average"))
    torch_only = {"divisor_override": None}

    def __init__(self, kernel_size=2, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.count_include_pad = check_flag(self.kind, "count_include_pad", count_include_pad)
        check_divisor_override(divisor_override)
        self.divisor_override = None if divisor_override is None else int(divisor_override)
        self._setup(kernel_size, stride, padding, ceil_mode)

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                          self.divisor_override)

    def forward_saved(self, x, training=True):
        """The output, and the input shape (the backward needs no values)."""
        return self.forward(x), tuple(x.shape)

    def backward(self, grad_output, saved, need_input_grad=True):
        return avg_pool2d_backward(grad_output, saved, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                   self.count_include_pad, self.divisor_override), {}

    def explain(self, x, index):
        """The window under output (n, c, i, j), its sum and the count it is divided by."""
        index = self._output_index(x, index)
        window, coordinates = self._window(x, index)
        n, c, i, j = index
        # Padding cells hold NaN in `window`; a NaN (or Inf) of the input itself must reach the sum, as in forward.
        real = np.asarray([0 <= row < x.shape[2] and 0 <= col < x.shape[3] for _, row, col in coordinates])
        total = float(window.ravel()[real].sum(dtype=np.float64))
        divisor = self.divisor(x.shape[2:], i, j)
        output = float(to_numpy(self.forward(x))[n, c, i, j])
        note = ""
        if _reads_padding(x, coordinates):
            beyond = any(pos * s - pad + k > size + pad for size, pos, k, s, pad
                         in zip(x.shape[2:], (i, j), self.kernel_size, self.stride, self.padding))
            if self.divisor_override is not None:
                counted = "the divisor is divisor_override"
            elif not self.count_include_pad:
                counted = "the divisor counts only the input's (count_include_pad is off)"
            elif beyond:
                counted = (f"the divisor, {divisor}, counts those of the padding (count_include_pad) but not those "
                           "beyond it, which only ceil_mode's last window reaches")
            else:
                counted = "the divisor counts those of the padding (count_include_pad)"
            note = f"cells outside the input (the padding) add nothing to the sum; {counted}"
        return Explanation(self.kind, tuple(index), window, coordinates, output=output, sum=total,
                           total=total / divisor, extra={"divisor": divisor}, note=note)

    def divisor(self, input_size, i, j) -> int:
        """PyTorch's count for window (i, j): divisor_override if set, else the window clipped to the padded
        input, or to the input itself."""
        if self.divisor_override is not None:
            return self.divisor_override
        count = 1
        for size, pos, k, s, pad in zip(input_size, (i, j), self.kernel_size, self.stride, self.padding):
            start = pos * s - pad
            end = min(start + k, size + pad)
            if not self.count_include_pad:
                start, end = max(start, 0), min(end, size)
            count *= end - start
        return count
