"""SoftmaxRegression's documented counts, each asserted where it applies.

The docstring fixes: "sgd" stops after ``n_iter_no_change`` epochs in a row
that each ended above the lowest value so far minus ``tol`` (the start W = 0
included; an improvement by exactly ``tol`` counts); "gd" after
``n_iter_no_change`` iterations in a row with the objective more than 1 %
above its lowest value; both after ``max_iter`` iterations or epochs at most,
and at once when the objective overflows; an epoch visits every example once
in minibatches of ``batch_size``, the last one smaller; ``fit`` warns when the
last objective is more than 1 % above the lowest. The rules are replayed here
on the recorded ``loss_curve_``, for several values of each count.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
from test_regression import blobs, objective

from softmaxlib import (
    ConvergenceWarning,
    DataConversionWarning,
    SoftmaxRegression,
    cross_entropy,
)
from softmaxlib._regression import _ROSE, _Best


def _fit(model, X, y):
    """Fit, and whether ``fit`` warned that it did not converge."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    return any(issubclass(w.category, ConvergenceWarning) for w in caught)


def _sgd_stop(curve, start, tol, patience, max_iter):
    """The epoch at which "sgd" stops, by its documented rule."""
    best, stalled = start, 0
    for epoch, value in enumerate(curve, start=1):
        stalled = stalled + 1 if value > best - tol else 0
        best = min(best, value)
        if stalled >= patience:
            return epoch
    return max_iter


def _gd_stop(curve, start, patience, max_iter):
    """The iteration at which "gd" stops for a rising objective."""
    best, risen = start, 0
    for it, value in enumerate(curve, start=1):
        best = min(best, value)
        risen = risen + 1 if value > 1.01 * best else 0
        if risen >= patience:
            return it
    return max_iter


@pytest.mark.parametrize("patience", [1, 2, 3, 6])
def test_sgd_stops_after_n_iter_no_change_epochs_without_improvement(patience):
    """With a tolerance larger than any improvement, no epoch counts as one:
    the run stops after exactly ``n_iter_no_change`` epochs, quietly."""
    X, y = blobs(n_per_class=10)
    model = SoftmaxRegression(
        solver="sgd", tol=10.0, n_iter_no_change=patience, random_state=0
    )
    warned = _fit(model, X, y)
    assert model.n_iter_ == len(model.loss_curve_) == patience
    assert not warned


@pytest.mark.parametrize("tol", [0.0, 1e-4, 3e-3])
@pytest.mark.parametrize("patience", [1, 2, 5])
def test_sgd_stopping_epoch_follows_the_rule(patience, tol):
    """An improvement by at least tol resets the count; the run stops at
    the first epoch that completes ``n_iter_no_change`` epochs without one."""
    X, y = blobs(n_per_class=10)
    model = SoftmaxRegression(
        solver="sgd",
        tol=tol,
        n_iter_no_change=patience,
        learning_rate=0.3,
        batch_size=8,
        max_iter=60,
        random_state=1,
    )
    _fit(model, X, y)
    curve = model.loss_curve_
    start = math.log(3)  # the objective at W = 0, b = 0 with three classes
    assert model.n_iter_ == len(curve)
    assert model.n_iter_ == _sgd_stop(curve, start, tol, patience, 60)
    assert model.best_loss_ == min(start, curve.min())


def test_sgd_counts_an_improvement_by_exactly_tol():
    """The boundary of the rule: with tol equal to the first epoch's
    improvement (an exact difference: the two values are within a factor of
    two) the epoch counts as an improvement, and with tol one ulp of the
    value larger the epoch does not, so a patience of 1 stops the run there."""
    X, y = blobs(n_per_class=10)
    kw = {"solver": "sgd", "n_iter_no_change": 1, "max_iter": 4, "random_state": 0}
    first = SoftmaxRegression(tol=0.0, **kw)
    _fit(first, X, y)
    # the objective at W = 0 as the model computes it (log 3, to an ulp)
    start = float(
        cross_entropy(np.zeros((len(y), 3)), np.unique(y, return_inverse=True)[1])
    )
    value = first.loss_curve_[0]
    assert start / 2 <= value < start
    tol = start - value
    assert start - tol == value  # the comparison meets equality exactly
    model = SoftmaxRegression(tol=tol, **kw)
    _fit(model, X, y)
    assert model.loss_curve_[0] == value
    assert model.n_iter_ > 1
    above = start - math.nextafter(value, 0.0)  # tol plus one ulp of value
    assert above > tol and start - above < value
    model = SoftmaxRegression(tol=above, **kw)
    _fit(model, X, y)
    assert model.n_iter_ == 1


@pytest.mark.parametrize("patience", [1, 2, 3, 7])
def test_gd_stops_after_n_iter_no_change_iterations_risen(patience):
    """Far too large a step: every iteration is more than 1 % above the
    start, so "gd" stops after exactly ``n_iter_no_change`` iterations, warns,
    and returns the start."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)) * 10, rng.integers(0, 3, 60)
    model = SoftmaxRegression(
        solver="gd", l2=0.1, learning_rate=0.5, n_iter_no_change=patience
    )
    assert _fit(model, X, y)
    assert model.n_iter_ == len(model.loss_curve_) == patience
    assert np.all(model.loss_curve_ > 1.01 * math.log(3))
    assert model.best_loss_ == pytest.approx(math.log(3), rel=1e-14)
    np.testing.assert_array_equal(model.coef_, 0.0)


@pytest.mark.parametrize(("scale", "lr"), [(1, 2.0), (1, 3.0), (2, 1.0)])
def test_gd_stopping_iteration_follows_the_rule(scale, lr):
    """A step that overshoots now and then (the objective rises, falls back,
    rises again): the run stops where the rule says, on the recorded
    objectives, after more iterations than ``n_iter_no_change``, and warns
    exactly when the last one is more than 1 % above the lowest."""
    X, y = blobs(n_per_class=10)
    model = SoftmaxRegression(
        solver="gd", l2=0.01, learning_rate=lr, n_iter_no_change=3, max_iter=80
    )
    warned = _fit(model, X * scale, y)
    curve = model.loss_curve_
    start = math.log(3)
    assert 3 < model.n_iter_ < 80
    assert model.n_iter_ == _gd_stop(curve, start, 3, 80)
    best = min(start, curve.min())
    assert model.best_loss_ == best
    assert warned == (curve[-1] > 1.01 * best)


@pytest.mark.parametrize("solver", ["gd", "sgd"])
@pytest.mark.parametrize("max_iter", [1, 2, 7])
def test_max_iter_bounds_the_iterations(solver, max_iter):
    X, y = blobs(n_per_class=10)
    model = SoftmaxRegression(
        solver=solver, max_iter=max_iter, tol=0.0, l2=0.01, random_state=0
    )
    assert _fit(model, X, y)  # still falling: a warning
    assert model.n_iter_ == len(model.loss_curve_) == max_iter


@pytest.mark.parametrize("batch_size", [1, 7, 29, 30, 31, 1000])
def test_an_epoch_is_every_example_once_in_minibatches(batch_size, monkeypatch):
    """ceil(n / batch_size) steps per epoch, the last minibatch smaller, each
    example in exactly one of them."""
    X, y = blobs(n_per_class=10)  # n = 30
    seen = []
    objective_of = SoftmaxRegression._objective

    def spy(self, W, b, Xb, yb, sw=None, *, with_grad=True):
        if with_grad:
            seen.append(Xb.shape[0])
        return objective_of(self, W, b, Xb, yb, sw, with_grad=with_grad)

    monkeypatch.setattr(SoftmaxRegression, "_objective", spy)
    model = SoftmaxRegression(
        solver="sgd", batch_size=batch_size, max_iter=2, random_state=0
    )
    _fit(model, X, y)
    steps = -(-30 // batch_size)
    assert len(seen) == 2 * steps
    size = min(batch_size, 30)
    want = [size] * (steps - 1) + [30 - size * (steps - 1)]
    assert seen == want * 2


def test_a_run_that_overflows_stops_at_the_first_iteration():
    """The objective overflows in iteration 1: one entry, not finite."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)) * 1e10, rng.integers(0, 3, 30)
    for solver in ("gd", "sgd"):
        model = SoftmaxRegression(solver=solver, learning_rate=1e300, random_state=0)
        assert _fit(model, X, y)
        assert model.n_iter_ == 1 and not np.isfinite(model.loss_curve_[0])
        assert objective(*[np.zeros((3, 3)), np.zeros(3)], X, y, 0.0) == pytest.approx(
            model.best_loss_
        )


def test_gd_stops_where_the_largest_gradient_entry_equals_tol():
    """GD stops at the first iterate whose largest gradient entry is <= tol,
    equality included: here the gradient at W = 0 is exactly 0 (balanced
    classes, features of opposite signs in each), so with tol = 0 the run
    stops after one iteration, converged, at W = 0."""
    X, y = np.array([[1.0], [-1.0], [1.0], [-1.0]]), np.array([0, 0, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = SoftmaxRegression(solver="gd", tol=0.0, max_iter=20).fit(X, y)
    assert model.n_iter_ == 1
    assert not model.coef_.any() and not model.intercept_.any()


def test_gd_converged_to_separating_weights_without_l2_still_warns():
    """A GD run that meets tol, on separable classes with l2 = 0, returns
    that iterate with the warning that the objective has no minimiser."""
    X, y = np.array([[-2.0], [-1.0], [1.0], [2.0]]), np.array([0, 0, 1, 1])
    model = SoftmaxRegression(solver="gd", l2=0.0, tol=0.5, max_iter=50)
    with pytest.warns(ConvergenceWarning, match="separate the training classes"):
        model.fit(X, y)
    assert model.n_iter_ == 4  # tol met, not max_iter


def test_the_warning_names_the_iteration_of_the_best_iterate():
    """A GD run whose objective falls for three iterations, then rises 1 %
    above its lowest: the warning names iteration 3 as the best, and that
    iterate is returned."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3)) * [1, 5, 20]
    y = rng.integers(0, 3, 60)
    model = SoftmaxRegression(solver="gd", learning_rate=0.02, max_iter=200)
    with pytest.warns(
        ConvergenceWarning, match=r"lowest objective, \S+ in iteration 3,"
    ):
        model.fit(X, y)
    assert int(np.argmin(model.loss_curve_)) + 1 == 3
    assert model.best_loss_ == model.loss_curve_.min()


def test_the_sgd_warning_names_the_epoch_of_the_best_weights():
    """Full-batch SGD whose objective falls for three epochs, then rises:
    the warning names epoch 3 as the best, and that iterate is returned."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3)) * [1, 5, 20]
    y = rng.integers(0, 3, 60)
    model = SoftmaxRegression(
        solver="sgd", learning_rate=0.02, max_iter=100, batch_size=60, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match=r"lowest objective, \S+ in epoch 3,"):
        model.fit(X, y)
    assert int(np.argmin(model.loss_curve_)) + 1 == 3
    assert model.best_loss_ == model.loss_curve_.min()


@pytest.mark.skipif(
    "MUTANT_UNDER_TEST" in os.environ, reason="mutmut's trampoline adds a frame"
)
def test_warnings_point_at_the_callers_line():
    """fit's warnings name the line that called fit (their stacklevel), so
    that a warnings filter or a traceback points at the user's code."""
    X, y = blobs()
    with pytest.warns(DataConversionWarning) as caught:
        SoftmaxRegression(l2=0.01).fit(X, y[:, None])
    assert caught[0].filename == __file__
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3)) * [1, 5, 20]
    y = rng.integers(0, 3, 60)
    with pytest.warns(ConvergenceWarning) as caught:
        SoftmaxRegression(solver="gd", learning_rate=0.02).fit(X, y)
    assert caught[0].filename == __file__


def test_an_object_with_tocsr_is_refused_as_sparse():
    """Sparse input is recognised by its tocsr method too, not only by
    scipy.sparse's module: any such object is refused with the advice."""

    class Sparse:
        shape = (4, 1)

        def tocsr(self):  # pragma: no cover - never called
            raise AssertionError

    with pytest.raises(TypeError, match="sparse input X"):
        SoftmaxRegression().fit(Sparse(), [0, 0, 1, 1])


def test_one_example_of_positive_weight_is_one_class():
    """Weights that leave a single example: the error says one class, as for
    any single class (no IndexError from the equal-weights test)."""
    X, y = np.arange(6.0).reshape(3, 2), np.array([0, 1, 1])
    with pytest.raises(ValueError, match="at least 2 classes in y with sample_weight"):
        SoftmaxRegression().fit(X, y, sample_weight=[0.0, 2.0, 0.0])


def test_the_rise_warning_is_for_more_than_one_percent():
    """The documented threshold is strict: a last objective exactly 1 % above
    the lowest is no reason to warn, the next float above it is."""
    model = SoftmaxRegression(solver="sgd")
    best = _Best(100.0, np.zeros((2, 2)), np.zeros(2), 3)
    edge = (1 + _ROSE) * best.value
    assert model._diagnose([best.value, edge], best, "epoch", None) == []
    above = math.nextafter(edge, math.inf)
    (reason,) = model._diagnose([best.value, above], best, "epoch", None)
    assert "more than 1% above its lowest value" in reason


@pytest.mark.parametrize("solver", ["gd", "lbfgs"])
def test_separation_is_judged_on_the_logits_with_the_intercept(solver):
    """Classes at x = 1 and x = 2 (both positive) are separated only with an
    intercept: the fitted logits X W + b separate them and fit warns that
    l2 = 0 leaves no minimiser, while X W - b would not separate them."""
    X = np.array([[1.0], [1.1], [1.2], [2.0], [2.1], [2.2]])
    y = np.array([0, 0, 0, 1, 1, 1])
    model = SoftmaxRegression(solver=solver, max_iter=300, learning_rate=1.0)
    with pytest.warns(ConvergenceWarning, match="separate the training classes"):
        model.fit(X, y)
    np.testing.assert_array_equal(model.predict(X), y)
    wrong = X @ model.coef_.T - model.intercept_  # the sign of b flipped
    assert not np.array_equal((wrong[:, 0] > 0).astype(int), y)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.longdouble, np.int64])
def test_features_of_any_real_dtype_are_fitted_in_float64(dtype):
    """The features are converted to float64 before anything is computed:
    features of another dtype give the coefficients (float64) that the same
    values give in float64, bit for bit, long double ones included."""
    X, y = blobs(n_per_class=10)
    X = (X * 4).astype(dtype)
    got = SoftmaxRegression(l2=0.1).fit(X, y)
    want = SoftmaxRegression(l2=0.1).fit(X.astype(np.float64), y)
    for name in ("coef_", "intercept_"):
        assert getattr(got, name).dtype == np.float64
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
