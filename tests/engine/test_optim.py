"""SGD with momentum and Adam against torch.optim on the same parameters and gradients."""

import numpy as np
import pytest

from engine.optim import SGD, Adam

torch = pytest.importorskip("torch")


def _run(ours_cls, torch_cls, kwargs, steps=5):
    rng = np.random.default_rng(0)
    start = {"w": rng.standard_normal((3, 4)).astype(np.float32), "b": rng.standard_normal(4).astype(np.float32),
             "scale": np.array(rng.standard_normal(), np.float32)}  # a 0-d parameter too
    grads = [{k: np.array(rng.standard_normal(v.shape), np.float32) for k, v in start.items()} for _ in range(steps)]
    ours = {k: v.copy() for k, v in start.items()}
    optimizer = ours_cls(ours, **kwargs)
    theirs = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in start.items()}
    reference = torch_cls(list(theirs.values()), **kwargs)
    for grad in grads:
        optimizer.step(grad)
        for k, tensor in theirs.items():
            tensor.grad = torch.tensor(grad[k])
        reference.step()
    for k in start:
        assert ours[k].dtype == np.float32
        np.testing.assert_allclose(ours[k], theirs[k].detach().numpy(), rtol=1e-5, atol=1e-6)
        assert not np.allclose(ours[k], start[k])


@pytest.mark.parametrize("kwargs", [{"lr": 0.1, "momentum": 0.9}, {"lr": 0.05, "momentum": 0.0},
                                    {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.01}])
def test_sgd_matches_torch(kwargs):
    _run(SGD, torch.optim.SGD, kwargs)


@pytest.mark.parametrize("kwargs", [{"lr": 1e-3}, {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6}])
def test_adam_matches_torch(kwargs):
    _run(Adam, torch.optim.Adam, kwargs)


def test_parameters_are_updated_in_place():
    weight = np.ones(3, np.float32)
    SGD({"w": weight}, lr=0.5, momentum=0.0).step({"w": np.ones(3, np.float32)})
    np.testing.assert_array_equal(weight, 0.5)


def test_missing_gradient_and_bad_learning_rate_are_refused():
    with pytest.raises(ValueError, match="no gradient for parameters \\['b'\\]"):
        Adam({"w": np.ones(2, np.float32), "b": np.ones(1, np.float32)}).step({"w": np.ones(2, np.float32)})
    with pytest.raises(ValueError, match="learning rate must be positive"):
        SGD({"w": np.ones(2, np.float32)}, lr=0)
