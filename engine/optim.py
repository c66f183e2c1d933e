"""Optimizers that update a network's parameters in place: SGD with momentum, and Adam.

Both take the dictionary of `Sequential.parameters()` (name -> array) and, at each step, the
dictionary of gradients with the same names from `Sequential.backward`. Updating in place keeps
every layer pointing at its own arrays. The formulas are those of torch.optim (tested against it).
"""

from __future__ import annotations

from engine.backend import array_module


class Optimizer:
    def __init__(self, parameters: dict, lr: float):
        if not parameters:
            raise ValueError("the optimizer got no parameters to update")
        if not lr > 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.parameters = parameters
        self.lr = lr
        self.steps = 0

    def step(self, grads: dict) -> None:
        missing = sorted(set(self.parameters) - set(grads))
        if missing:
            raise ValueError(f"no gradient for parameters {missing}")
        self.steps += 1
        for name, parameter in self.parameters.items():
            self._update(name, parameter, grads[name])

    def _update(self, name: str, parameter, grad) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with momentum (PyTorch's form, dampening 0):

        g ← g + weight_decay · p
        v ← momentum · v + g        (v = g at the first step)
        p ← p − lr · v
    """

    def __init__(self, parameters: dict, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__(parameters, lr)
        self.momentum, self.weight_decay = momentum, weight_decay
        self.velocity: dict = {}

    def _update(self, name, parameter, grad):
        if self.weight_decay:
            grad = grad + self.weight_decay * parameter
        if self.momentum:
            velocity = self.velocity.get(name)
            if velocity is None:
                # an array (a copy) even for a 0-d parameter, whose grad + wd * p is a NumPy scalar
                velocity = self.velocity[name] = array_module(parameter).array(grad, dtype=parameter.dtype)
            else:
                velocity *= self.momentum
                velocity += grad
            grad = velocity
        parameter -= self.lr * grad


class Adam(Optimizer):
    """Adam (Kingma and Ba), with bias correction, as torch.optim.Adam:

        m ← β1 · m + (1 − β1) · g          v ← β2 · v + (1 − β2) · g²
        p ← p − lr · (m / (1 − β1^t)) / (√(v / (1 − β2^t)) + eps)
    """

    def __init__(self, parameters: dict, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        super().__init__(parameters, lr)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.first: dict = {}
        self.second: dict = {}

    def _update(self, name, parameter, grad):
        xp = array_module(parameter)
        if name not in self.first:
            self.first[name] = xp.zeros_like(parameter)
            self.second[name] = xp.zeros_like(parameter)
        m, v = self.first[name], self.second[name]
        m *= self.beta1
        m += (1 - self.beta1) * grad
        v *= self.beta2
        v += (1 - self.beta2) * grad * grad
        m_hat_scale = self.lr / (1 - self.beta1 ** self.steps)
        v_hat = v / (1 - self.beta2 ** self.steps)
        parameter -= m_hat_scale * m / (xp.sqrt(v_hat) + self.eps)
