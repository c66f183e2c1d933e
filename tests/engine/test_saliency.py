"""Saliency maps (∂ class score / ∂ input) against torch autograd on the same network and weights."""

import numpy as np
import pytest

from engine.models import load_model
from engine.saliency import saliency

torch = pytest.importorskip("torch")


def _torch_digits_cnn(network):
    state = {key: torch.tensor(np.asarray(value)) for key, value in network.state_dict().items()}
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(784, 10))
    names = {"conv1": "0", "conv2": "3", "fc": "7"}
    model.load_state_dict({f"{names[key.split('.')[0]]}.{key.split('.')[1]}": value for key, value in state.items()})
    return model


@pytest.mark.parametrize("class_index", [0, 3, 9])
def test_saliency_of_the_digit_network_matches_torch(class_index):
    network = load_model("digits-cnn")
    x = np.random.default_rng(class_index).uniform(0, 1, (2, 1, 28, 28)).astype(np.float32)
    gradient, scores, classes = saliency(network, x, class_index)
    reference = torch.tensor(x, requires_grad=True)
    torch_scores = _torch_digits_cnn(network)(reference)
    torch_scores[:, class_index].sum().backward()
    assert gradient.shape == x.shape and gradient.dtype == np.float32 and list(classes) == [class_index] * 2
    np.testing.assert_allclose(scores, torch_scores.detach().numpy(), rtol=1e-4, atol=1e-5)
    scale = np.abs(reference.grad.numpy()).max()
    np.testing.assert_allclose(gradient, reference.grad.numpy(), rtol=1e-4, atol=1e-5 * scale)


def test_without_a_class_each_sample_gets_its_top_class():
    network = load_model("digits-cnn")
    x = np.random.default_rng(5).uniform(0, 1, (3, 1, 28, 28)).astype(np.float32)
    gradient, scores, classes = saliency(network, x)
    np.testing.assert_array_equal(classes, scores.argmax(axis=1))
    for n in range(3):
        single, _, _ = saliency(network, x[n:n + 1], int(classes[n]))
        np.testing.assert_allclose(gradient[n:n + 1], single, rtol=1e-5, atol=1e-7)


def test_scores_are_taken_before_the_softmax():
    network = load_model("digits-cnn")
    assert network.layers[-1][1].kind == "Softmax"
    assert network.without_final_softmax().layers[-1][1].kind == "Linear"


def test_class_index_out_of_range_is_refused():
    with pytest.raises(ValueError, match="class_index must be in 0..9"):
        saliency(load_model("digits-cnn"), np.zeros((1, 1, 28, 28), np.float32), 10)
