"""softmaxlib: softmax, log-softmax, log-sum-exp and cross-entropy for NumPy.

Numerically careful implementations with the class axis last and the
semantics of ``scipy.special`` and ``torch.nn.functional``. Run time needs
NumPy only.
"""

from ._linear import (
    linear_cross_entropy,
    linear_cross_entropy_and_grad,
    logsumexp_merge,
)
from ._loss import cross_entropy, cross_entropy_and_grad, cross_entropy_grad, one_hot
from ._regression import (
    ConvergenceWarning,
    DataConversionWarning,
    NotFittedError,
    SoftmaxRegression,
)
from ._softmax import log_softmax, logsumexp, softmax

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "DataConversionWarning",
    "NotFittedError",
    "SoftmaxRegression",
    "cross_entropy",
    "cross_entropy_and_grad",
    "cross_entropy_grad",
    "linear_cross_entropy",
    "linear_cross_entropy_and_grad",
    "log_softmax",
    "logsumexp",
    "logsumexp_merge",
    "one_hot",
    "softmax",
]
