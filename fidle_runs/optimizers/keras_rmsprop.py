"""Keras' RMSprop, as FIDLE compiles with optimizer='rmsprop' (LADYB1, IMDB).

PyTorch's RMSprop divides by sqrt(v) + eps; Keras (TF 2's ApplyRMSProp kernel, Keras 3's
`rmsprop.py`) divides by sqrt(v + eps). With Keras' eps of 1e-7 the two differ where gradients
are small, late in training: a parameter whose squared gradients average 1e-10 moves by about
lr per step in PyTorch (g / (1e-5 + 1e-7)) but by about 0.03 lr in Keras (g / sqrt(1e-10 +
1e-7)), so PyTorch's keeps jumping where Keras' settles. Also Keras' rho is 0.9 (PyTorch's alpha
0.99). No momentum, not centered: Keras' defaults.
"""

from collections.abc import Iterable

import torch


class KerasRMSprop(torch.optim.Optimizer):
    def __init__(self, params: Iterable, lr: float = 1e-3, rho: float = 0.9,
                 eps: float = 1e-7, weight_decay: float = 0.0) -> None:
        if lr <= 0 or not 0 <= rho < 1 or eps <= 0 or weight_decay < 0:
            raise ValueError(f"KerasRMSprop: lr={lr}, rho={rho}, eps={eps}, "
                             f"weight_decay={weight_decay} out of range")
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps,
                                  "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):  # as torch.optim.Optimizer.step
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.zeros_like(p)
                square_avg = state["square_avg"]
                square_avg.mul_(group["rho"]).addcmul_(grad, grad, value=1 - group["rho"])
                p.addcdiv_(grad, square_avg.add(group["eps"]).sqrt_(), value=-group["lr"])
        return loss
