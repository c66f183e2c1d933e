"""Saliency maps: how much each input pixel moves one class's score (Simonyan et al., 2014).

    saliency = ∂ score_k / ∂ x

where score_k is the network's score for class k before the final softmax (the softmax couples every
class, so its gradient would mix them). Computed by one forward pass that keeps what the backward pass
needs and one backward pass from a one-hot gradient, on the network's inference behaviour.
"""

from __future__ import annotations

from engine.backend import array_module
from engine.network import Sequential


def saliency(network: Sequential, x, class_index: int | None = None) -> tuple[object, object, object]:
    """∂ score_k / ∂ x for a batch x, k = class_index, or each sample's top-scoring class when None.

    Returns (the gradient with x's shape, the scores (N, classes), the classes k (N,) it was taken for).
    """
    scoring = network.without_final_softmax()
    scores, saved = scoring.forward_saved(x, training=False)
    if scores.ndim != 2:
        raise ValueError(f"saliency needs a network that ends in class scores (N, classes), got {tuple(scores.shape)}")
    xp = array_module(scores)
    if class_index is None:
        classes = scores.argmax(axis=1)
    elif 0 <= class_index < scores.shape[1]:
        classes = xp.full(scores.shape[0], class_index)
    else:
        raise ValueError(f"class_index must be in 0..{scores.shape[1] - 1} (or None for the top class), "
                         f"got {class_index}")
    one_hot = xp.zeros_like(scores)
    one_hot[xp.arange(scores.shape[0]), classes] = 1.0
    gradient, _ = scoring.backward(one_hot, saved)
    return gradient, scores, classes
