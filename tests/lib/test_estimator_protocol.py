"""SoftmaxRegression's side of scikit-learn's estimator protocol, fast.

scikit-learn's own estimator checks (test_regression.py) exercise all of it,
slowly; these state each piece directly: the tags, the fitted test, the
parameter names, and a repr that shows only what differs from the defaults
(compared by value and type, not by identity).
"""

from __future__ import annotations

import numpy as np
import pytest

from softmaxlib import SoftmaxRegression

PARAMS = {
    "l2",
    "solver",
    "learning_rate",
    "batch_size",
    "max_iter",
    "tol",
    "n_iter_no_change",
    "random_state",
}


def test_tags_say_classifier_dense_finite_input():
    pytest.importorskip("sklearn")
    tags = SoftmaxRegression().__sklearn_tags__()
    assert tags.estimator_type == "classifier"
    assert tags.target_tags.required is True
    assert tags.classifier_tags.multi_class is True
    assert tags.input_tags.sparse is False
    assert tags.input_tags.allow_nan is False


def test_fitted_is_having_coef():
    model = SoftmaxRegression(l2=0.1)
    assert model.__sklearn_is_fitted__() is False
    model.fit(np.array([[0.0], [1.0]]), [0, 1])
    assert model.__sklearn_is_fitted__() is True
    del model.coef_
    assert model.__sklearn_is_fitted__() is False


def test_parameter_names_are_the_keyword_arguments():
    assert sorted(SoftmaxRegression._get_param_names()) == sorted(PARAMS)
    assert set(SoftmaxRegression().get_params()) == PARAMS
    assert (
        SoftmaxRegression().get_params(deep=False) == SoftmaxRegression().get_params()
    )


def test_repr_compares_with_the_defaults_by_value_and_type():
    # equal values that are other objects than the defaults: not shown
    same = SoftmaxRegression(
        l2=float("0"), learning_rate=float("0.1"), tol=float("1e-6")
    )
    assert repr(same) == "SoftmaxRegression()"
    # the same value in another type, or another value: shown
    assert repr(SoftmaxRegression(l2=0)) == "SoftmaxRegression(l2=0)"
    assert repr(SoftmaxRegression(tol=1e-7)) == "SoftmaxRegression(tol=1e-07)"
    assert (
        repr(SoftmaxRegression(random_state=0)) == "SoftmaxRegression(random_state=0)"
    )


def test_lbfgs_is_called_with_the_documented_options(monkeypatch):
    """L-BFGS-B with the analytic gradient, gtol = tol, maxiter = max_iter,
    ftol = 64 machine epsilons and maxls = 50 (as scikit-learn sets them)."""
    optimize = pytest.importorskip("scipy.optimize")
    seen = {}
    minimize = optimize.minimize

    def spy(fun, x0, **kwargs):
        seen.update(kwargs)
        return minimize(fun, x0, **kwargs)

    monkeypatch.setattr(optimize, "minimize", spy)
    model = SoftmaxRegression(l2=0.1, tol=1e-5, max_iter=17)
    model.fit(np.array([[0.0], [1.0], [2.0]]), [0, 1, 2])
    assert seen["method"].lower() == "l-bfgs-b" and seen["jac"] is True
    assert seen["options"] == {
        "maxiter": 17,
        "gtol": 1e-5,
        "ftol": 64 * np.finfo(np.float64).eps,
        "maxls": 50,
    }


def test_separation_is_tested_row_by_row():
    """Each row's logit for its own class beats the other logits of that
    row; another row's larger logits do not count."""
    from softmaxlib._regression import _separates

    logits = np.array([[2.0, 0.0], [3.0, 5.0]])
    assert _separates(logits, np.array([0, 1]))
    assert not _separates(logits, np.array([1, 1]))
    assert not _separates(np.array([[1.0, 1.0]]), np.array([0]))  # a tie
