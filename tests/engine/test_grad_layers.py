"""Layer.forward_saved / Layer.backward for every non-recurrent layer, and Sequential, against torch.nn.

Each layer is loaded with the state_dict of the same torch module, and every gradient (the input's
and each parameter's, by name) is compared with torch autograd.
"""

import numpy as np
import pytest

from engine.backend import to_numpy
from engine.grad.loss import cross_entropy, mse_loss
from engine.grad.reshape import dropout_train
from engine.layers import (AvgPool2d, BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, Flatten, LeakyReLU, Linear,
                           MaxPool2d, ReLU, Sigmoid, Softmax, Tanh, Unflatten, Upsample)
from engine.network import Sequential
from tests.engine.gradcheck import assert_close, seeded

torch = pytest.importorskip("torch")
nn = torch.nn

# (our layer, the torch module with the same arguments, input shape)
PAIRS = [
    (lambda: Conv2d(3, 6, 3, stride=2, padding=1), lambda: nn.Conv2d(3, 6, 3, stride=2, padding=1), (2, 3, 9, 7)),
    (lambda: Conv2d(4, 4, (3, 1), dilation=2, groups=2, bias=False),
     lambda: nn.Conv2d(4, 4, (3, 1), dilation=2, groups=2, bias=False), (2, 4, 8, 5)),
    (lambda: ConvTranspose2d(4, 2, 4, stride=2, padding=1), lambda: nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1),
     (2, 4, 5, 6)),
    (lambda: ConvTranspose2d(2, 4, 3, stride=3, output_padding=1, groups=2, bias=False),
     lambda: nn.ConvTranspose2d(2, 4, 3, stride=3, output_padding=1, groups=2, bias=False), (2, 2, 3, 4)),
    (lambda: Linear(12, 5), lambda: nn.Linear(12, 5), (3, 12)),
    (lambda: Linear(6, 4, bias=False), lambda: nn.Linear(6, 4, bias=False), (2, 3, 6)),
    (lambda: BatchNorm2d(3), lambda: nn.BatchNorm2d(3).eval(), (2, 3, 4, 4)),
    (lambda: MaxPool2d(3, 2, padding=1, ceil_mode=True), lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True),
     (2, 3, 7, 8)),
    (lambda: MaxPool2d(2), lambda: nn.MaxPool2d(2), (2, 3, 6, 8)),
    (lambda: AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False),
     lambda: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False), (2, 2, 8, 7)),
    (lambda: ReLU(), lambda: nn.ReLU(), (2, 3, 4, 4)),
    (lambda: LeakyReLU(0.2), lambda: nn.LeakyReLU(0.2), (2, 3, 4, 4)),
    (lambda: Sigmoid(), lambda: nn.Sigmoid(), (2, 5)),
    (lambda: Tanh(), lambda: nn.Tanh(), (2, 3, 5)),
    (lambda: Softmax(1), lambda: nn.Softmax(1), (3, 10)),
    (lambda: Flatten(), lambda: nn.Flatten(), (2, 3, 4, 5)),
    (lambda: Unflatten(3, 2, 4), lambda: nn.Unflatten(1, (3, 2, 4)), (2, 24)),
    (lambda: Upsample(scale_factor=2), lambda: nn.Upsample(scale_factor=2), (2, 2, 3, 5)),
    (lambda: Upsample(scale_factor=3, mode="bilinear", align_corners=True),
     lambda: nn.Upsample(scale_factor=3, mode="bilinear", align_corners=True), (1, 2, 3, 5)),
    (lambda: Dropout(0.3), lambda: nn.Dropout(0.3).eval(), (2, 6)),
]
IDS = [f"{i}-{make().kind}" for i, (make, _, _) in enumerate(PAIRS)]


def _loaded(make_ours, make_torch, xp):
    """Our layer with the torch module's (randomised) state, moved to xp."""
    torch.manual_seed(0)
    reference = make_torch()
    if isinstance(reference, nn.BatchNorm2d):
        reference.running_mean.uniform_(-1, 1)
        reference.running_var.uniform_(0.5, 2)
        reference.weight.data.uniform_(0.5, 1.5)
        reference.bias.data.uniform_(-1, 1)
    ours = make_ours()
    ours.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    return ours.to(xp), reference


@pytest.mark.parametrize("make_ours, make_torch, shape", PAIRS, ids=IDS)
def test_forward_saved_at_inference_is_forward(xp, make_ours, make_torch, shape):
    ours, _ = _loaded(make_ours, make_torch, xp)
    x = xp.asarray(seeded(shape, 1))
    output, _ = ours.forward_saved(x, training=False)
    np.testing.assert_array_equal(to_numpy(output), to_numpy(ours.forward(x)))


@pytest.mark.parametrize("make_ours, make_torch, shape", PAIRS, ids=IDS)
def test_layer_backward_matches_torch_module(xp, make_ours, make_torch, shape):
    ours, reference = _loaded(make_ours, make_torch, xp)
    x = seeded(shape, 1)
    x_torch = torch.tensor(x, requires_grad=True)
    expected = reference(x_torch)
    grad_output = seeded(tuple(expected.shape), 2)
    expected.backward(torch.tensor(grad_output))
    output, saved = ours.forward_saved(xp.asarray(x), training=False)
    assert_close(output, expected.detach().numpy())
    grad_x, grads = ours.backward(xp.asarray(grad_output), saved)
    assert_close(grad_x, x_torch.grad.numpy())
    torch_grads = {name: p.grad.numpy() for name, p in reference.named_parameters()}
    assert sorted(grads) == sorted(torch_grads) == sorted(ours.parameters())
    for name, grad in grads.items():
        assert grad.shape == ours.parameters()[name].shape
        assert_close(grad, torch_grads[name])


def test_saved_values_are_independent_of_each_other(xp):
    """Nothing lives on the layer between forward_saved and backward: two passes can interleave."""
    layer = Conv2d(2, 3, 3, padding=1).to(xp)
    x1, x2 = xp.asarray(seeded((1, 2, 5, 5), 1)), xp.asarray(seeded((1, 2, 5, 5), 2))
    g1, g2 = xp.asarray(seeded((1, 3, 5, 5), 3)), xp.asarray(seeded((1, 3, 5, 5), 4))
    alone = layer.backward(g1, layer.forward_saved(x1)[1])[1]["weight"]
    saved1, saved2 = layer.forward_saved(x1)[1], layer.forward_saved(x2)[1]
    layer.backward(g2, saved2)
    np.testing.assert_array_equal(to_numpy(layer.backward(g1, saved1)[1]["weight"]), to_numpy(alone))


def test_linear_weight_gradient_is_c_contiguous_while_the_weight_is_fortran(xp):
    layer = Linear(5, 3).to(xp)
    assert layer.weight.flags.f_contiguous
    _, grads = layer.backward(xp.ones((4, 3), np.float32), layer.forward_saved(xp.ones((4, 5), np.float32))[1])
    assert grads["weight"].flags.c_contiguous and grads["weight"].dtype == np.float32


# ----------------------------------------------------------------------------- BatchNorm2d in training


def test_batch_norm_training_matches_torch_with_running_statistics(xp):
    reference = nn.BatchNorm2d(3, eps=1e-4, momentum=0.2)
    ours, _ = _loaded(lambda: BatchNorm2d(3, eps=1e-4, momentum=0.2), lambda: reference, xp)
    for step in range(2):
        x = seeded((4, 3, 5, 6), 10 + step, scale=2) + step
        x_torch = torch.tensor(x, requires_grad=True)
        reference.zero_grad()
        expected = reference.train()(x_torch)
        grad_output = seeded(x.shape, 20 + step)
        expected.backward(torch.tensor(grad_output))
        output, saved = ours.forward_saved(xp.asarray(x), training=True)
        assert_close(output, expected.detach().numpy())
        grad_x, grads = ours.backward(xp.asarray(grad_output), saved)
        assert_close(grad_x, x_torch.grad.numpy())
        assert_close(grads["weight"], reference.weight.grad.numpy())
        assert_close(grads["bias"], reference.bias.grad.numpy())
        for name in ("running_mean", "running_var"):
            assert_close(ours.state_dict()[name], getattr(reference, name).numpy(), rtol=1e-6)
        assert float(ours.num_batches_tracked.sum()) == reference.num_batches_tracked.item() == step + 1
    x = seeded((2, 3, 5, 6), 30)
    assert_close(ours.forward(xp.asarray(x)), reference.eval()(torch.tensor(x)).detach().numpy())


# ----------------------------------------------------------------------------- Dropout in training


def test_dropout_training_masks_are_seeded_fresh_and_overridable(xp):
    x = xp.asarray(seeded((8, 50), 0))
    first, second = Dropout(0.4), Dropout(0.4)
    y1, mask1 = first.forward_saved(x)
    y2, mask2 = second.forward_saved(x)
    np.testing.assert_array_equal(to_numpy(y1), to_numpy(y2))  # same fixed seed: a training run repeats
    y3, _ = first.forward_saved(x)
    assert not np.array_equal(to_numpy(y1), to_numpy(y3))  # a new mask on each call
    y4, _ = first.forward_saved(x, rng=5)
    np.testing.assert_array_equal(to_numpy(y4), to_numpy(dropout_train(x, 0.4, 5)[0]))
    grad_output = xp.asarray(seeded((8, 50), 1))
    grad_x, grads = first.backward(grad_output, mask1)
    assert grads == {}
    np.testing.assert_allclose(to_numpy(grad_x), to_numpy(grad_output * mask1 / np.float32(0.6)), rtol=1e-6)
    output, saved = first.forward_saved(x, training=False)
    assert output is x and first.backward(grad_output, saved)[0] is grad_output


# ----------------------------------------------------------------------------- Sequential


def _sequential_pair(xp, layers, torch_layers):
    """Ours with layers named '0', '1', ... (torch's nn.Sequential names), loaded with torch's seeded state."""
    torch.manual_seed(0)
    reference = nn.Sequential(*torch_layers)
    ours = Sequential([(str(i), layer) for i, layer in enumerate(layers)])
    ours.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    return ours.to(xp), reference


def _compare_training_step(xp, ours, reference, x, loss_name, target):
    x_torch = torch.tensor(x, requires_grad=True)
    expected = reference(x_torch)
    if loss_name == "cross_entropy":
        torch_loss = nn.functional.cross_entropy(expected, torch.tensor(target))
    else:
        torch_loss = nn.functional.mse_loss(expected, torch.tensor(target))
    torch_loss.backward()
    output, saved = ours.forward_saved(xp.asarray(x))
    assert_close(output, expected.detach().numpy())
    loss_function = cross_entropy if loss_name == "cross_entropy" else mse_loss
    loss, grad_output = loss_function(output, xp.asarray(target))
    assert loss == pytest.approx(torch_loss.item(), rel=1e-5)
    grad_x, grads = ours.backward(grad_output, saved)
    assert_close(grad_x, x_torch.grad.numpy())
    torch_grads = {name: p.grad.numpy() for name, p in reference.named_parameters()}
    assert sorted(grads) == sorted(torch_grads) == sorted(ours.parameters())
    for name, grad in grads.items():
        assert_close(grad, torch_grads[name])


def test_digits_cnn_training_step_matches_torch(xp):
    ours, reference = _sequential_pair(
        xp, [Conv2d(1, 4, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d(4, 6, 3, padding=1), ReLU(), MaxPool2d(2),
             Flatten(), Linear(6 * 3 * 3, 10)],
        [nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 3 * 3, 10)])
    x = seeded((6, 1, 12, 12), 1)
    _compare_training_step(xp, ours, reference, x, "cross_entropy", np.random.default_rng(2).integers(0, 10, 6))


def test_decoder_training_step_matches_torch(xp):
    ours, reference = _sequential_pair(
        xp, [Linear(8, 4 * 3 * 3), Unflatten(4, 3, 3), ConvTranspose2d(4, 3, 4, stride=2, padding=1), LeakyReLU(0.1),
             BatchNorm2d(3), Upsample(scale_factor=2, mode="bilinear"), Conv2d(3, 1, 3, padding=1), Tanh(), AvgPool2d(2), Sigmoid()],
        [nn.Linear(8, 4 * 3 * 3), nn.Unflatten(1, (4, 3, 3)), nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1),
         nn.LeakyReLU(0.1), nn.BatchNorm2d(3), nn.Upsample(scale_factor=2, mode="bilinear"),
         nn.Conv2d(3, 1, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2), nn.Sigmoid()])
    x, target = seeded((5, 8), 1), np.abs(seeded((5, 1, 6, 6), 2)) / 3
    _compare_training_step(xp, ours, reference, x, "mse", target)
