"""Shared by the tests: every loss function of softmaxlib called one way."""

import softmaxlib as sm

REDUCTIONS = ("mean", "sum", "none")


def loss_calls(x, target, kw, reductions=REDUCTIONS) -> dict:
    """{label: result} of every loss function with each of ``reductions``:
    cross_entropy_and_grad (its loss and its gradient), cross_entropy and
    cross_entropy_grad, all with the keywords ``kw``."""
    out = {}
    for reduction in reductions:
        loss, grad = sm.cross_entropy_and_grad(x, target, reduction=reduction, **kw)
        out[f"and_grad {reduction} loss"] = loss
        out[f"and_grad {reduction} grad"] = grad
        out[f"loss {reduction}"] = sm.cross_entropy(
            x, target, reduction=reduction, **kw
        )
        out[f"grad {reduction}"] = sm.cross_entropy_grad(
            x, target, reduction=reduction, **kw
        )
    return out
