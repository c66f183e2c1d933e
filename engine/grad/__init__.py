"""Gradients: the backward pass of every op in `engine.functional`, on the same NumPy/CuPy path.

Conventions (every module here follows them):

- One backward function per forward op, named `<op>_backward`, in the module of the same name as
  the forward op's (`engine/grad/conv.py` holds `conv2d_backward` and `conv_transpose2d_backward`).
- A backward function takes `grad_output` (dL/dy, the shape of the op's output) and what the
  forward pass saw or produced, and returns the gradients for the op's array arguments in their
  order, as a tuple; an argument that was None (no bias) gets None.
- Ops whose forward in training differs from inference (batch norm, dropout) have a `<op>_train`
  function that returns `(output, saved)`; `saved` is what the backward function needs.
- Results have the dtype of `grad_output` (float32 in training, float64 in the gradient checks)
  and the array module of the inputs; nothing leaves the device.

Layers use these through `Layer.forward_saved(x, training)` and `Layer.backward(grad_output, saved)`;
`Sequential.forward_saved` and `Sequential.backward` chain them. Nothing is stored on the layer, so
one network can serve several threads (the server computes saliency maps on shared built-ins).
"""
