"""softmaxlib's exception and warning classes that are scikit-learn's as well.

Imported only once scikit-learn is (by :func:`softmaxlib._regression._compatible`,
or by :mod:`pickle` when it loads one of these classes by name), so that
``import softmaxlib`` never imports scikit-learn. Each class derives from the
softmaxlib class and from scikit-learn's class of the same name, so that both
``except softmaxlib.NotFittedError`` and ``except
sklearn.exceptions.NotFittedError`` catch it, and scikit-learn's warning filters
apply. Being defined here under their own names, they pickle by reference:
a worker process can send one back to its caller.
"""

from sklearn import exceptions as _sklearn_exceptions

from . import _regression

__all__ = ["ConvergenceWarning", "DataConversionWarning", "NotFittedError"]


class NotFittedError(_regression.NotFittedError, _sklearn_exceptions.NotFittedError):
    """:class:`softmaxlib.NotFittedError` that is scikit-learn's as well."""


class ConvergenceWarning(
    _regression.ConvergenceWarning, _sklearn_exceptions.ConvergenceWarning
):
    """:class:`softmaxlib.ConvergenceWarning` that is scikit-learn's as well."""


class DataConversionWarning(
    _regression.DataConversionWarning, _sklearn_exceptions.DataConversionWarning
):
    """The model's ``DataConversionWarning`` that is scikit-learn's as well."""
