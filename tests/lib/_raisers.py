"""One instance of every exception and warning class SoftmaxRegression raises.

Imports numpy and softmaxlib only, so that a subprocess without scikit-learn can
use it as well as the tests that run with scikit-learn loaded.
"""

import warnings

import numpy as np

from softmaxlib import SoftmaxRegression


def raised_and_warned() -> list:
    """A NotFittedError, a DataConversionWarning and a ConvergenceWarning."""
    found = []
    try:
        SoftmaxRegression().predict(np.ones((2, 2)))
    except Exception as error:  # NotFittedError, or its scikit-learn twin
        found.append(error)
    X = np.array([[-2.0, 0.0], [-1.0, 0.5], [1.0, -0.5], [2.0, 0.0]])
    y = np.array([[0], [0], [1], [1]])  # a column vector, and separable with l2=0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SoftmaxRegression(max_iter=2).fit(X, y)
    found.extend(w.message for w in caught)
    return found
