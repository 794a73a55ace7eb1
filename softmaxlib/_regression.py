"""Softmax regression (multinomial logistic regression) trained on the book's loss.

The estimator follows scikit-learn's conventions (``get_params``/``set_params``,
``fit`` returns ``self``, fitted attributes end in ``_``) without importing
scikit-learn: only ``__sklearn_tags__``, which scikit-learn alone calls, imports
it. SciPy is imported inside ``fit`` and only by the ``"lbfgs"`` solver, so
``import softmaxlib`` needs NumPy alone.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from typing import NamedTuple

import numpy as np

from ._loss import cross_entropy_and_grad
from ._softmax import softmax
from ._validation import (
    check_features,
    check_labels,
    check_sample_weight,
    is_integer,
    is_real,
)

__all__ = [
    "ConvergenceWarning",
    "DataConversionWarning",
    "NotFittedError",
    "SoftmaxRegression",
]

_SOLVERS = ("lbfgs", "gd", "sgd")
# "gd" and "sgd" say the objective rose when it is more than this fraction above
# the lowest value seen. Settled constant-step SGD runs on the digits, iris,
# breast-cancer and test data moved by 0.002-0.9 % from epoch to epoch; runs
# with too large a step, by 3 % to many times the value.
_ROSE = 0.01


def _finite(low: float, *, strict: bool):
    """Valid: a finite real number above ``low`` (or at least ``low``)."""
    return lambda v: (
        is_real(v) and bool(np.isfinite(v)) and (v > low if strict else v >= low)
    )


def _int_from(low: int):
    """Valid: an integer at least ``low``."""
    return lambda v: is_integer(v) and v >= low


# SoftmaxRegression's parameters: (valid, what a valid value is), checked by fit.
_PARAMETER_CONSTRAINTS = {
    "l2": (_finite(0, strict=False), "a finite number >= 0"),
    "solver": (lambda v: isinstance(v, str) and v in _SOLVERS, f"one of {_SOLVERS}"),
    "learning_rate": (_finite(0, strict=True), "a finite number > 0"),
    "batch_size": (_int_from(1), "an int >= 1"),
    "max_iter": (_int_from(1), "an int >= 1"),
    "tol": (_finite(0, strict=False), "a finite number >= 0"),
    "n_iter_no_change": (_int_from(1), "an int >= 1"),
    "random_state": (
        lambda v: v is None or isinstance(v, np.random.Generator) or _int_from(0)(v),
        "None, an int >= 0 or a numpy.random.Generator",
    ),
}


class NotFittedError(ValueError, AttributeError):
    """Raised when a model is used for prediction before ``fit``.

    It derives from both :class:`ValueError` and :class:`AttributeError`, as
    scikit-learn's exception of the same name does. If scikit-learn has been
    imported, the error raised is also an instance of
    ``sklearn.exceptions.NotFittedError``.
    """


class ConvergenceWarning(UserWarning):
    """Warned when a solver stops before meeting ``tol``.

    If scikit-learn has been imported, the warning is also an instance of
    ``sklearn.exceptions.ConvergenceWarning``, so its filters apply.
    """


class DataConversionWarning(UserWarning):
    """Warned when the labels are passed as a column vector and are flattened."""


def _compatible(cls: type) -> type:
    """Return ``cls``, or its twin in :mod:`softmaxlib._sklearn` (a subclass of
    it and of scikit-learn's class of the same name) if scikit-learn is already
    imported.

    softmaxlib never imports scikit-learn, but code that runs alongside it
    (``check_is_fitted``, pipelines, warning filters, the estimator checks)
    catches scikit-learn's ``NotFittedError``, ``ConvergenceWarning`` and
    ``DataConversionWarning``. When scikit-learn is loaded, what is raised or
    warned is an instance of both classes; ``except softmaxlib.NotFittedError``
    works either way. The twins are module-level classes with names of their
    own, so that they pickle (a class made on the fly here would not: pickle
    finds a class by its module and name, and would find ``cls`` instead).
    """
    if sys.modules.get("sklearn.exceptions") is None:
        return cls
    from . import _sklearn

    return getattr(_sklearn, cls.__name__)


def _separates(logits: np.ndarray, y_idx: np.ndarray) -> bool:
    """True if every row's logit for its own class beats all others strictly."""
    rows = np.arange(y_idx.shape[0])
    own = logits[rows, y_idx].copy()
    logits = logits.copy()
    logits[rows, y_idx] = -np.inf
    return bool(np.all(own > logits.max(axis=1)))


class _Best(NamedTuple):
    """The iterate with the lowest objective so far, and its iteration number."""

    value: float
    W: np.ndarray
    b: np.ndarray
    n_iter: int

    def update(self, value, W, b, n_iter) -> _Best:
        if value < self.value:
            return _Best(value, W.copy(), b.copy(), n_iter)
        return self


class _Fit(NamedTuple):
    """What a solver returns to ``fit``."""

    W: np.ndarray
    b: np.ndarray
    n_iter: int
    curve: list  # the objective after each iteration or epoch
    best_loss: float  # the objective at W, b
    problems: list  # why the run did not converge, in words (empty if it did)


class SoftmaxRegression:
    r"""Softmax regression: a linear model with a softmax output and cross-entropy loss.

    Parameters
    ----------
    l2 : float, default=0.0
        Strength :math:`\lambda \ge 0` of the penalty
        :math:`\frac{\lambda}{2}\lVert\mathbf{W}\rVert_F^2` on the weights. The
        intercept is not penalised.
    solver : {"lbfgs", "gd", "sgd"}, default="lbfgs"
        ``"lbfgs"``: SciPy's L-BFGS-B with the analytic gradient;
        ``"gd"``: full-batch gradient descent with step ``learning_rate``;
        ``"sgd"``: minibatch stochastic gradient descent over shuffled
        minibatches of ``batch_size`` examples, a new order every epoch.
    learning_rate : float, default=0.1
        Step size of ``"gd"`` and ``"sgd"`` (unused by ``"lbfgs"``).
    batch_size : int, default=64
        Minibatch size of ``"sgd"``; the last minibatch of an epoch may be smaller.
    max_iter : int, default=200
        Maximum number of iterations (``"lbfgs"``, ``"gd"``) or epochs (``"sgd"``).
    tol : float, default=1e-6
        ``"lbfgs"`` and ``"gd"`` stop when the largest absolute entry of the
        gradient is at most ``tol``; ``"lbfgs"`` also stops when an iteration
        lowers the objective by less than 64 machine epsilons relative to its
        value (SciPy's ``ftol``, set as scikit-learn sets it). ``"sgd"`` stops
        when the objective at the end of an epoch has stayed above the lowest
        value so far minus ``tol`` for ``n_iter_no_change`` epochs in a row
        (scikit-learn's ``SGDClassifier`` rule: an epoch that lowers it by
        exactly ``tol`` counts as an improvement); see Notes.
    n_iter_no_change : int, default=5
        Patience of ``"sgd"``'s stopping rule above, in epochs; ``"gd"`` stops
        when its objective has risen (see Notes) for this many iterations in a
        row. Unused by ``"lbfgs"``.
    random_state : None, int or numpy.random.Generator, default=None
        Seeds the shuffling of ``"sgd"``; an int makes ``fit`` reproducible.
        ``"lbfgs"`` and ``"gd"`` are deterministic and ignore it.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, n_features), or (1, n_features)
        The weights, one row per class: :math:`\mathbf{W}^\top`, scikit-learn's
        layout (the book's :math:`d \times q` matrix is ``coef_.T``). With two
        classes, as in scikit-learn's ``LogisticRegression``, one row: the
        weights :math:`\mathbf{w} = \mathbf{w}_2 - \mathbf{w}_1` of the
        log-odds of ``classes_[1]``; see Notes.
    intercept_ : ndarray of shape (n_classes,), or (1,)
        The intercept :math:`\mathbf{b}`; with two classes, :math:`b_2 - b_1`.
    classes_ : ndarray of shape (n_classes,)
        The sorted class labels; column ``j`` of ``predict_proba`` belongs to
        ``classes_[j]``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    n_iter_ : int
        Number of iterations (``"lbfgs"``, ``"gd"``) or epochs (``"sgd"``) run.
    loss_curve_ : ndarray of shape ``(n_iter_,)``
        The objective on the whole training set after each iteration or epoch.
    best_loss_ : float
        The objective at the returned ``coef_`` and ``intercept_``, the lowest
        value seen, the start :math:`\mathbf{W} = 0, \mathbf{b} = 0` included.
        It equals ``loss_curve_[-1]`` unless ``"gd"`` or ``"sgd"`` returned an
        earlier iterate (see Notes) or no iteration was run.

    Raises
    ------
    ValueError
        From ``fit`` for an invalid parameter value, an ``X`` that is not a
        non-empty 2-D array of finite numbers, a ``y`` of the wrong length or
        with continuous values, or a ``y`` with a single class; from the
        prediction methods for an ``X`` with the wrong number of columns.
    NotFittedError
        From the prediction methods before ``fit`` has been called.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : the same objective with
        ``C = 1 / (n * l2)`` for three or more classes and ``C = 2 / (n * l2)``
        for two, where :math:`n` is the number of examples, or the sum of the
        sample weights; the same ``coef_`` and ``intercept_`` at the optimum.

    Notes
    -----
    With :math:`n` examples in the rows of :math:`\mathbf{X}`, labels encoded
    as one-hot rows of :math:`\mathbf{Y}`, logits
    :math:`\mathbf{O} = \mathbf{X}\mathbf{W} + \mathbf{b}` and
    :math:`\hat{\mathbf{Y}} = \operatorname{softmax}(\mathbf{O})` row-wise,
    ``fit`` minimises

    .. math::

        J(\mathbf{W}, \mathbf{b}) = -\frac{1}{n} \sum_{i=1}^{n} \sum_{j=1}^{q}
        y_{ij} \log \hat{y}_{ij} + \frac{\lambda}{2} \lVert\mathbf{W}\rVert_F^2,

    whose gradient is

    .. math::

        \nabla_{\mathbf{W}} J = \frac{1}{n}\mathbf{X}^\top(\hat{\mathbf{Y}} -
        \mathbf{Y}) + \lambda\mathbf{W}, \qquad
        \nabla_{\mathbf{b}} J = \frac{1}{n}\mathbf{1}^\top(\hat{\mathbf{Y}} -
        \mathbf{Y}).

    The loss and :math:`(\hat{\mathbf{Y}} - \mathbf{Y})/n` come from
    :func:`softmaxlib.cross_entropy_and_grad`. Training starts from
    :math:`\mathbf{W} = 0, \mathbf{b} = 0`.

    Adding a constant to every logit of a row leaves the softmax unchanged, so
    :math:`\mathbf{b}` is determined only up to a constant; starting from zero,
    every gradient step keeps the entries of :math:`\mathbf{b}` (and each row
    of :math:`\mathbf{W}`) summing to zero, which picks one representative.
    With two classes the model fits two columns too, which come out as
    :math:`\mathbf{W} = [-\mathbf{w}/2, \mathbf{w}/2]` and
    :math:`\mathbf{b} = [-c/2, c/2]`; it stores them as scikit-learn's binary
    classifiers do, ``coef_ = w[np.newaxis, :]`` and ``intercept_ = [c]``, the
    weights of the log-odds :math:`o_2 - o_1 = \mathbf{x}^\top\mathbf{w} + c`
    of ``classes_[1]``, which ``decision_function`` returns as a 1-D array.
    ``np.column_stack([-coef_[0] / 2, coef_[0] / 2])`` gives back
    :math:`\mathbf{W}`. Since :math:`\lVert\mathbf{W}\rVert_F^2 =
    \lVert\mathbf{w}\rVert^2 / 2`, the penalty on :math:`\mathbf{w}` is
    :math:`\frac{\lambda}{4}\lVert\mathbf{w}\rVert^2`, which is why
    ``LogisticRegression`` needs ``C = 2 / (n * l2)`` for two classes.

    **Stopping and the returned weights.** ``"gd"`` and ``"sgd"`` evaluate the
    objective on the whole training set once per iteration or epoch (the
    values in ``loss_curve_``) and return the weights with the lowest value
    seen, counting the starting point, not necessarily the last ones: a step
    that is too large for the data can make the objective rise, and without
    this the model would return whatever the last step produced. ``"gd"``
    stops when the largest gradient entry is at most ``tol`` (and then returns
    that iterate), when its objective has been more than 1 % above the lowest
    value for ``n_iter_no_change`` iterations in a row, or at ``max_iter``.
    ``"sgd"`` has no usable gradient test and stops by scikit-learn's rule:
    after ``n_iter_no_change`` epochs in a row that each ended above the
    lowest value so far minus ``tol`` (that is, did not lower it by at least
    ``tol``), or at ``max_iter``. Either solver also stops at once if the
    objective overflows. ``fit`` warns with :class:`ConvergenceWarning` when
    the objective in the last iteration or epoch is more than 1 % above the
    lowest value (a settled constant-step SGD run moves by well under 1 % from
    epoch to epoch; more says the learning rate is too large), when it is not
    finite, or when the solver stopped at ``max_iter`` while the objective was
    still falling; a run that stops by the rules above without any of these is
    taken to have converged.

    If the classes are linearly separable and ``l2 = 0``, the objective has no
    minimiser: it keeps decreasing towards 0 as the weights grow. ``"gd"`` and
    ``"sgd"`` then usually stop at ``max_iter``, while ``"lbfgs"`` may meet
    ``tol`` because the gradient vanishes as well; in either case, when the
    fitted weights separate the training classes and ``l2 = 0``, ``fit`` warns
    with :class:`ConvergenceWarning`, as it does whenever a solver stops at
    ``max_iter``.

    References
    ----------
    Zhang, A., Lipton, Z. C., Li, M. and Smola, A. J. (2023). *Dive into Deep
    Learning*, sections 4.1-4.4 (softmax regression). Cambridge University
    Press.

    Liu, D. C. and Nocedal, J. (1989). On the limited memory BFGS method for
    large scale optimization. *Mathematical Programming* 45, 503-528.

    Examples
    --------
    >>> import numpy as np
    >>> import softmaxlib as sm
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> y = np.array(["cold", "cold", "warm", "warm"])
    >>> model = sm.SoftmaxRegression(l2=0.1).fit(X, y)
    >>> model.classes_
    array(['cold', 'warm'], dtype='<U4')
    >>> model.predict([[0.5], [2.5]])
    array(['cold', 'warm'], dtype='<U4')
    >>> model.predict_proba([[1.5]]).round(3)
    array([[0.5, 0.5]])
    >>> model.coef_.shape, model.intercept_.shape  # binary: scikit-learn's layout
    ((1, 1), (1,))
    >>> model.decision_function([[0.5], [2.5]]).round(3)  # log-odds of "warm"
    array([-2.023,  2.023])
    >>> X3, y3 = np.array([[0.0], [1.0], [2.0]]), np.array([0, 1, 2])
    >>> sm.SoftmaxRegression(l2=0.1).fit(X3, y3).coef_.shape  # (n_classes, d)
    (3, 1)
    """

    def __init__(
        self,
        *,
        l2=0.0,
        solver="lbfgs",
        learning_rate=0.1,
        batch_size=64,
        max_iter=200,
        tol=1e-6,
        n_iter_no_change=5,
        random_state=None,
    ):
        self.l2 = l2
        self.solver = solver
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state

    # -- scikit-learn's estimator protocol, without scikit-learn -------------

    @classmethod
    def _get_param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind is p.KEYWORD_ONLY
        ]

    def get_params(self, deep: bool = True) -> dict:
        """Return the constructor parameters as a dict (``deep`` is accepted
        for scikit-learn's protocol; the model has no nested estimators)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params) -> SoftmaxRegression:
        """Set constructor parameters by name and return ``self``.

        Values are stored as given and checked by ``fit``; an unknown name
        raises ``ValueError``.
        """
        valid = self._get_param_names()
        for name in params:
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator SoftmaxRegression. "
                    f"Valid parameters are: {valid}."
                )
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self"
        }
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if not (
                value is defaults[name]
                or (type(value) is type(defaults[name]) and value == defaults[name])
            )
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "coef_")

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(multi_class=True),
            input_tags=InputTags(sparse=False, allow_nan=False),
        )

    # -- fitting --------------------------------------------------------------

    def _validate_params(self) -> None:
        """Check every parameter against :data:`_PARAMETER_CONSTRAINTS`."""
        for name, (valid, what) in _PARAMETER_CONSTRAINTS.items():
            value = getattr(self, name)
            if not valid(value):
                raise ValueError(f"{name} must be {what}, got {name}={value!r}.")

    def fit(self, X, y, sample_weight=None) -> SoftmaxRegression:
        r"""Fit the weights and intercept to the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs, one example per row; finite numbers.
        y : array-like of shape (n_samples,)
            Class labels of any sortable kind (ints, strings, ...); at least two
            distinct values.
        sample_weight : array-like of shape (n_samples,) or float, default=None
            Finite weights :math:`s_i \ge 0`, not all zero; a number weights
            every example alike, None weights them all 1. The mean in the
            objective becomes the weighted mean
            :math:`\sum_i s_i \ell_i / \sum_i s_i`, so, as in scikit-learn, an
            integer weight has the effect of repeating the row that many times,
            and a weight of 0 that of removing it: a class whose examples all
            have weight 0 is not in ``classes_``. For ``"sgd"`` the objective
            is the same, but an epoch still visits each row once, taking a
            weighted row's gradient times :math:`s_i n / \sum_j s_j`, so the
            path to it is not that of the repeated rows.

        Returns
        -------
        self : SoftmaxRegression
            The fitted model.
        """
        self._validate_params()
        X = check_features(X)
        y = check_labels(y, X.shape[0], _compatible(DataConversionWarning))
        sw = check_sample_weight(sample_weight, X.shape[0])
        if sw is not None:
            if not sw.all():  # weight 0 is removal, as with repeated rows
                X, y, sw = X[sw > 0], y[sw > 0], sw[sw > 0]
            # Weights scaled to mean 1: the objective's mean is the weighted
            # mean; equal weights are no weights, bit for bit.
            sw = None if np.all(sw == sw[0]) else sw * (sw.size / sw.sum())
        classes, y_idx = np.unique(y, return_inverse=True)
        if classes.size < 2:
            where = "" if sample_weight is None else " with sample_weight > 0"
            raise ValueError(
                f"SoftmaxRegression needs samples of at least 2 classes in y{where}, "
                f"but y contains only 1 class: {classes.tolist()[0]!r}."
            )
        y_idx = y_idx.reshape(-1).astype(np.intp)
        n_features, n_classes = X.shape[1], classes.size
        W = np.zeros((n_features, n_classes))
        b = np.zeros(n_classes)
        fit_solver = getattr(self, f"_fit_{self.solver}")
        # An overflow is reported below in words (and its iterate not returned).
        with np.errstate(over="ignore", invalid="ignore"):
            result = fit_solver(X, y_idx, sw, W, b)
        W, b, problems = result.W, result.b, result.problems
        if self.l2 == 0 and _separates(X @ W + b, y_idx):
            problems.append(
                "the fitted weights separate the training classes and l2=0, so the "
                "objective has no minimiser (it falls towards 0 as the weights "
                "grow) and the result depends on max_iter and tol; set l2 > 0"
            )
        if problems:
            warnings.warn(
                f"SoftmaxRegression(solver={self.solver!r}) did not converge: "
                + "; ".join(problems)
                + ".",
                _compatible(ConvergenceWarning),
                stacklevel=2,
            )
        if n_classes == 2:  # scikit-learn's layout: the log-odds of classes_[1]
            self.coef_ = (W[:, 1] - W[:, 0])[np.newaxis, :]
            self.intercept_ = b[1:] - b[:1]
        else:
            self.coef_ = np.ascontiguousarray(W.T)
            self.intercept_ = b
        self.classes_ = classes
        self.n_features_in_ = n_features
        self.n_iter_ = int(result.n_iter)
        self.loss_curve_ = np.asarray(result.curve, dtype=np.float64)
        self.best_loss_ = float(result.best_loss)
        return self

    def _objective(self, W, b, X, y_idx, sw=None, *, with_grad=True):
        """Objective J(W, b) on (X, y_idx) and, if asked, its gradient.

        ``sw``: None, or the weights of the rows, scaled to mean 1 over the
        whole training set (so that a minibatch's mean is unbiased).
        """
        logits = X @ W
        logits += b
        if sw is None:
            loss, g = cross_entropy_and_grad(logits, y_idx, reduction="mean")
        else:
            losses, g = cross_entropy_and_grad(logits, y_idx, reduction="none")
            scale = sw / sw.shape[0]
            loss = scale @ losses
            g *= scale[:, np.newaxis]
        value = float(loss) + 0.5 * self.l2 * float(np.vdot(W, W))
        if not with_grad:
            return value
        grad_W = X.T @ g
        if self.l2:
            grad_W += self.l2 * W
        return value, grad_W, g.sum(axis=0)

    def _fit_lbfgs(self, X, y_idx, sw, W, b):
        from scipy.optimize import minimize

        d, q = W.shape

        def fun(theta):
            value, grad_W, grad_b = self._objective(
                theta[: d * q].reshape(d, q), theta[d * q :], X, y_idx, sw
            )
            return value, np.concatenate([grad_W.ravel(), grad_b])

        curve = []

        def record(intermediate_result):
            curve.append(float(intermediate_result.fun))

        result = minimize(
            fun,
            np.concatenate([W.ravel(), b]),
            method="L-BFGS-B",
            jac=True,
            callback=record,
            options={
                "maxiter": self.max_iter,
                "gtol": self.tol,
                "ftol": 64 * np.finfo(np.float64).eps,
                "maxls": 50,
            },
        )
        theta = result.x
        W, b = theta[: d * q].reshape(d, q).copy(), theta[d * q :].copy()
        problems = []
        if result.status != 0:
            problems.append(
                f"L-BFGS-B stopped after {result.nit} iterations with the message "
                f"{result.message!r}; increase max_iter (now {self.max_iter}) or "
                "scale the features"
            )
        return _Fit(W, b, result.nit, curve, float(result.fun), problems)

    def _fit_gd(self, X, y_idx, sw, W, b):
        lr, curve = self.learning_rate, []
        value, grad_W, grad_b = self._objective(W, b, X, y_idx, sw)
        best = _Best(value, W.copy(), b.copy(), 0)
        risen = 0  # iterations in a row with the objective risen
        for it in range(1, self.max_iter + 1):
            W -= lr * grad_W
            b -= lr * grad_b
            value, grad_W, grad_b = self._objective(W, b, X, y_idx, sw)
            curve.append(value)
            if not np.isfinite(value):
                break
            if max(np.abs(grad_W).max(), np.abs(grad_b).max()) <= self.tol:
                return _Fit(W, b, it, curve, value, [])  # stationary: this iterate
            best = best.update(value, W, b, it)
            risen = risen + 1 if value > (1 + _ROSE) * best.value else 0
            if risen >= self.n_iter_no_change:
                break
        still = (
            f"after {self.max_iter} iterations the largest gradient entry is "
            f"{max(np.abs(grad_W).max(), np.abs(grad_b).max()):.3g} > tol={self.tol}; "
            "increase max_iter or learning_rate"
        )
        problems = self._diagnose(curve, best, "iteration", still)
        return _Fit(best.W, best.b, len(curve), curve, best.value, problems)

    def _fit_sgd(self, X, y_idx, sw, W, b):
        rng = np.random.default_rng(self.random_state)
        n, lr, curve = X.shape[0], self.learning_rate, []
        value = self._objective(W, b, X, y_idx, sw, with_grad=False)
        best = _Best(value, W.copy(), b.copy(), 0)
        stalled = 0  # epochs in a row without an improvement of at least tol
        for epoch in range(1, self.max_iter + 1):
            order = rng.permutation(n)
            for start in range(0, n, self.batch_size):
                batch = order[start : start + self.batch_size]
                _, grad_W, grad_b = self._objective(
                    W, b, X[batch], y_idx[batch], None if sw is None else sw[batch]
                )
                W -= lr * grad_W
                b -= lr * grad_b
            value = self._objective(W, b, X, y_idx, sw, with_grad=False)
            curve.append(value)
            if not np.isfinite(value):
                break
            stalled = stalled + 1 if value > best.value - self.tol else 0
            best = best.update(value, W, b, epoch)
            if stalled >= self.n_iter_no_change:
                break
        still = (
            f"the objective was still falling by more than tol={self.tol} "
            f"after {self.max_iter} epochs; increase max_iter"
        )
        if stalled >= self.n_iter_no_change:
            still = None  # stopped by its rule
        problems = self._diagnose(curve, best, "epoch", still)
        return _Fit(best.W, best.b, len(curve), curve, best.value, problems)

    def _diagnose(self, curve, best, unit, still):
        """Why a "gd" or "sgd" run that returns ``best`` has not converged.

        ``still`` is the reason to give if the run stopped at ``max_iter`` with
        the objective still falling, None if it stopped by its own rule.
        """
        last = curve[-1]
        where = (
            "at the start (W = 0, b = 0)"
            if best.n_iter == 0
            else f"in {unit} {best.n_iter}"
        )
        advice = (
            f"the weights with the lowest objective, {best.value:.6g} {where}, "
            f"are returned; lower learning_rate (now {self.learning_rate}) or "
            "standardise the features"
        )
        if not np.isfinite(last):
            return [
                f"the objective overflowed to {last} in {unit} {len(curve)}; " + advice
            ]
        if last > (1 + _ROSE) * best.value:
            return [
                f"the objective rose to {last:.6g} in {unit} {len(curve)}, more "
                f"than {_ROSE:.0%} above its lowest value; " + advice
            ]
        return [] if still is None else [still]

    # -- prediction -----------------------------------------------------------

    def _check_fitted_X(self, X) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise _compatible(NotFittedError)(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' "
                "with appropriate arguments before using this estimator."
            )
        X = check_features(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )
        return X

    def _scores(self, X) -> np.ndarray:
        """``X @ coef_.T + intercept_``, of shape (n_samples, 1) for two classes."""
        X = self._check_fitted_X(X)
        return X @ self.coef_.T + self.intercept_

    def _logits(self, X) -> np.ndarray:
        """Logits whose softmax is ``predict_proba``; ``[0, log-odds]`` for two
        classes, which has the softmax of the fitted :math:`[-o/2, o/2]`."""
        scores = self._scores(X)
        if scores.shape[1] == 1:
            return np.concatenate([np.zeros_like(scores), scores], axis=1)
        return scores

    def decision_function(self, X) -> np.ndarray:
        r"""Return the scores ``X @ coef_.T + intercept_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes), or (n_samples,) for two classes
            With three or more classes, the logits
            :math:`\mathbf{X}\mathbf{W} + \mathbf{b}`. With two, the log-odds
            :math:`o_2 - o_1` of ``classes_[1]`` against ``classes_[0]`` as a
            1-D array (scikit-learn's convention for binary classifiers).
        """
        scores = self._scores(X)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X) -> np.ndarray:
        """Return the class probabilities, softmax of the logits, row by row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Column ``j`` is the probability of ``classes_[j]``.
        """
        return softmax(self._logits(X), axis=-1)

    def predict(self, X) -> np.ndarray:
        """Return the most probable label of each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        logits = self._logits(X)  # first, so that an unfitted model raises here
        return self.classes_[np.argmax(logits, axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Return the accuracy, the fraction of rows of ``X`` labelled ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            If given, the weighted fraction, as scikit-learn's ``score``.

        Returns
        -------
        float
        """
        predicted = self.predict(X)
        y = np.asarray(y)
        if y.shape != predicted.shape:
            raise ValueError(
                f"y should have shape {predicted.shape} to match X, got {y.shape}."
            )
        sw = check_sample_weight(sample_weight, y.shape[0])
        return float(np.average(predicted == y, weights=sw))
