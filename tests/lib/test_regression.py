"""SoftmaxRegression: API, errors, gradient, estimator checks, sklearn parity."""

import pathlib
import pickle
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from _profile import THOROUGH
from _raisers import raised_and_warned
from test_estimator_protocol import PARAMS

from softmaxlib import (
    ConvergenceWarning,
    DataConversionWarning,
    NotFittedError,
    SoftmaxRegression,
)

SOLVERS = ["lbfgs", "gd", "sgd"]


def blobs(n_per_class=30, q=3, d=4, spread=1.5, seed=0):
    """Overlapping Gaussian clusters: q classes, d features, labels 0..q-1."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(q, d))
    X = np.concatenate([c + rng.normal(size=(n_per_class, d)) for c in centres])
    y = np.repeat(np.arange(q), n_per_class)
    return X, y


def objective(W, b, X, y_idx, l2, sample_weight=None):
    """The documented objective, written out independently of the model."""
    logits = X @ W + b
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    nll = lse - logits[np.arange(len(y_idx)), y_idx]
    return np.average(nll, weights=sample_weight) + 0.5 * l2 * np.sum(W**2)


def gradient(W, b, X, y_idx, l2):
    """The book's gradient X^T (Y_hat - Y) / n + l2 W and 1^T (Y_hat - Y) / n."""
    logits = X @ W + b
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    P[np.arange(len(y_idx)), y_idx] -= 1.0
    n = X.shape[0]
    return X.T @ P / n + l2 * W, P.sum(axis=0) / n


def fit_quietly(model, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, **fit_params)


def book_form(model):
    """The fitted (W, b) in the book's form: W of shape (d, q), b of shape (q,).

    coef_ is W transposed; with two classes it is the one row w of the log-odds,
    and the fitted softmax parameters are W = [-w/2, w/2], b = [-c/2, c/2].
    """
    if model.classes_.size == 2:
        w, c = model.coef_[0], model.intercept_[0]
        return np.column_stack([-w / 2, w / 2]), np.array([-c / 2, c / 2])
    return model.coef_.T, model.intercept_


# -- shapes and label kinds ---------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_shapes_and_fitted_attributes(solver):
    X, y = blobs(q=4, d=5)
    model = fit_quietly(SoftmaxRegression(l2=0.01, solver=solver, random_state=0), X, y)
    n = X.shape[0]
    assert model.coef_.shape == (4, 5)  # scikit-learn's layout: one row per class
    assert model.intercept_.shape == (4,)
    assert model.coef_.flags.c_contiguous
    assert model.n_features_in_ == 5
    assert np.array_equal(model.classes_, [0, 1, 2, 3])
    assert isinstance(model.n_iter_, int) and model.n_iter_ >= 1
    assert model.loss_curve_.shape == (model.n_iter_,)
    P = model.predict_proba(X)
    assert P.shape == (n, 4)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    scores = model.decision_function(X)
    assert scores.shape == (n, 4)
    np.testing.assert_allclose(scores, X @ model.coef_.T + model.intercept_)
    assert model.predict(X).shape == (n,)
    assert 0.0 <= model.score(X, y) <= 1.0
    np.testing.assert_array_equal(model.predict(X), np.argmax(P, axis=1))


def test_fit_returns_self_and_accepts_lists():
    X, y = blobs()
    model = SoftmaxRegression(l2=0.01)
    assert model.fit(X.tolist(), y.tolist()) is model
    np.testing.assert_array_equal(model.predict(X.tolist()), model.predict(X))


@pytest.mark.parametrize(
    "labels",
    [
        np.array([3, 7, 11]),
        np.array(["cat", "dog", "emu"]),
        np.array([-1.0, 0.0, 2.0]),
        np.array(["cat", "dog", "emu"], dtype=object),
    ],
    ids=["ints", "strings", "integral-floats", "objects"],
)
def test_label_kinds_give_the_same_model(labels):
    X, y = blobs()
    reference = SoftmaxRegression(l2=0.01).fit(X, y)
    model = SoftmaxRegression(l2=0.01).fit(X, labels[y])
    np.testing.assert_array_equal(model.classes_, labels)
    np.testing.assert_array_equal(model.coef_, reference.coef_)
    np.testing.assert_array_equal(model.predict(X), labels[reference.predict(X)])
    assert model.score(X, labels[y]) == reference.score(X, y)


@pytest.mark.parametrize("solver", SOLVERS)
def test_two_classes_use_scikit_learns_binary_layout(solver):
    X, y = blobs(q=2)
    labels = np.array(["no", "yes"])[y]
    model = SoftmaxRegression(l2=0.1, solver=solver, random_state=0)
    model = fit_quietly(model, X, labels)
    # As LogisticRegression: one row w, one intercept c, for the log-odds of "yes".
    assert model.coef_.shape == (1, 4)
    assert model.intercept_.shape == (1,)
    P = model.predict_proba(X)
    margin = model.decision_function(X)
    assert margin.shape == (X.shape[0],)
    np.testing.assert_allclose(margin, X @ model.coef_[0] + model.intercept_[0])
    np.testing.assert_allclose(margin, np.log(P[:, 1] / P[:, 0]), rtol=1e-10)
    np.testing.assert_allclose(P[:, 1], 1 / (1 + np.exp(-margin)), rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), np.where(margin > 0, "yes", "no"))
    # The fitted softmax parameters are W = [-w/2, w/2], b = [-c/2, c/2].
    assert objective(*book_form(model), X, y, 0.1) == pytest.approx(
        model.best_loss_, rel=1e-12
    )


def test_column_vector_y_is_flattened_with_a_warning():
    X, y = blobs()
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        model = SoftmaxRegression(l2=0.01).fit(X, y[:, None])
    np.testing.assert_array_equal(
        model.coef_, SoftmaxRegression(l2=0.01).fit(X, y).coef_
    )


# -- solvers --------------------------------------------------------------------


def test_sgd_is_reproducible_with_random_state():
    X, y = blobs()

    def fit(seed):
        model = SoftmaxRegression(solver="sgd", max_iter=5, random_state=seed)
        return fit_quietly(model, X, y)

    a, b, c = fit(3), fit(3), fit(4)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)
    assert not np.array_equal(a.coef_, c.coef_)
    g = fit(np.random.default_rng(3))  # a Generator seeded alike gives the same
    np.testing.assert_array_equal(g.coef_, a.coef_)


# Three epochs of minibatch SGD that the tests below replay step by step.
SGD_RUN = {
    "l2": 0.01,
    "learning_rate": 0.05,
    "batch_size": 16,
    "max_iter": 3,
    "random_state": 7,
}


def test_sgd_is_the_documented_minibatch_loop():
    """Shuffle with default_rng(random_state).permutation each epoch, step per batch."""
    X, y = blobs(n_per_class=25)
    model = SoftmaxRegression(solver="sgd", **SGD_RUN)
    lr, batch_size, l2 = SGD_RUN["learning_rate"], SGD_RUN["batch_size"], SGD_RUN["l2"]
    epochs = SGD_RUN["max_iter"]
    fit_quietly(model, X, y)
    rng = np.random.default_rng(7)
    W, b = np.zeros((4, 3)), np.zeros(3)
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            gW, gb = gradient(W, b, X[idx], y[idx], l2)
            W, b = W - lr * gW, b - lr * gb
    np.testing.assert_allclose(model.coef_.T, W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.intercept_, b, rtol=1e-12, atol=1e-14)
    assert model.loss_curve_[-1] == pytest.approx(objective(W, b, X, y, l2), rel=1e-12)


def test_gd_takes_plain_gradient_steps_and_decreases_the_objective():
    X, y = blobs()
    model = fit_quietly(SoftmaxRegression(solver="gd", l2=0.01, max_iter=50), X, y)
    assert model.n_iter_ == 50
    W, b = np.zeros((4, 3)), np.zeros(3)
    for _ in range(50):
        gW, gb = gradient(W, b, X, y, 0.01)
        W, b = W - 0.1 * gW, b - 0.1 * gb
    np.testing.assert_allclose(model.coef_.T, W, rtol=1e-10, atol=1e-12)
    assert np.all(np.diff(model.loss_curve_) < 0)


@pytest.mark.parametrize("solver", SOLVERS)
def test_all_solvers_reach_the_minimiser(solver):
    X, y = blobs()
    l2 = 0.05
    exact = SoftmaxRegression(l2=l2, tol=1e-10, max_iter=1000).fit(X, y)
    best = objective(*book_form(exact), X, y, l2)
    settings = {"gd": {"learning_rate": 0.5}, "sgd": {"learning_rate": 0.01}}
    model = SoftmaxRegression(
        l2=l2, solver=solver, max_iter=3000, tol=1e-7, random_state=0
    )
    model = fit_quietly(model.set_params(**settings.get(solver, {})), X, y)
    value = objective(*book_form(model), X, y, l2)
    # Constant-step SGD hovers around the minimiser at a distance set by the step.
    assert value - best < (1e-2 if solver == "sgd" else 1e-6) * best
    assert model.best_loss_ == pytest.approx(value, rel=1e-12)
    assert model.best_loss_ == model.loss_curve_.min()


def test_lbfgs_solution_is_stationary_and_loss_curve_is_the_objective():
    X, y = blobs()
    l2 = 0.05
    model = SoftmaxRegression(l2=l2, tol=1e-9, max_iter=1000).fit(X, y)
    gW, gb = gradient(*book_form(model), X, y, l2)
    # tol bounds the gradient unless L-BFGS-B stopped on its relative-decrease test
    assert max(np.abs(gW).max(), np.abs(gb).max()) <= 1e-8
    assert model.loss_curve_[-1] == pytest.approx(
        objective(*book_form(model), X, y, l2), rel=1e-12
    )
    assert model.loss_curve_[0] < np.log(3)  # the first step improves on W = 0


def _scaled_noise(seed=0):
    """Three random labels on features of scale 10: lr=0.1 is far too large."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(100, 3)) * 10, rng.integers(0, 3, 100)


@pytest.mark.parametrize("solver", ["gd", "sgd"])
def test_a_diverging_run_warns_and_returns_its_best_iterate(solver):
    # Reported: SGD stopped after 7 epochs at objective 3.01, worse than the
    # 1.10 of W = 0 (the L-BFGS optimum is 1.08), and said it had converged.
    X, y = _scaled_noise()
    model = SoftmaxRegression(l2=0.1, solver=solver, random_state=0)
    with pytest.warns(ConvergenceWarning, match="rose .* lower learning_rate"):
        model.fit(X, y)
    value = objective(*book_form(model), X, y, 0.1)
    assert value == pytest.approx(model.best_loss_, rel=1e-12)
    # Every step made things worse, so the best iterate is the start.
    assert value == pytest.approx(np.log(3), rel=1e-12)
    assert np.all(model.loss_curve_ > 1.01 * value)
    assert model.n_iter_ == 5  # stopped by n_iter_no_change, not at max_iter


def test_sgd_on_raw_digits_returns_the_best_epoch_and_warns():
    # Reported: on the unscaled digits SGD reached 0.077 and ended at 0.39.
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    model = SoftmaxRegression(l2=1e-3, solver="sgd", random_state=0)
    with pytest.warns(ConvergenceWarning, match="objective rose"):
        model.fit(X, y)
    value = objective(*book_form(model), X, y, 1e-3)
    assert value == pytest.approx(model.loss_curve_.min(), rel=1e-12)
    assert model.best_loss_ == model.loss_curve_.min()
    assert model.loss_curve_[-1] > 2 * value


def test_sgd_that_settles_stops_by_its_rule_quietly():
    X, y = blobs()
    model = SoftmaxRegression(l2=0.1, solver="sgd", tol=1e-6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, y)
    curve, k = model.loss_curve_, model.n_iter_no_change
    assert model.n_iter_ < model.max_iter
    # The last k epochs did not improve on the best before them by more than tol.
    assert np.all(curve[-k:] > curve[:-k].min() - model.tol)
    value = objective(*book_form(model), X, y, 0.1)
    assert value == pytest.approx(curve.min(), rel=1e-12) == model.best_loss_
    shorter = fit_quietly(model.set_params(n_iter_no_change=2), X, y)
    assert shorter.n_iter_ < len(curve)


@pytest.mark.parametrize("solver", ["gd", "sgd"])
def test_overflow_stops_at_once_and_warns(solver):
    X, y = _scaled_noise()
    model = SoftmaxRegression(solver=solver, learning_rate=1e300, random_state=0)
    with pytest.warns(ConvergenceWarning, match="overflowed"):
        model.fit(X * 1e10, y)
    assert model.n_iter_ == 1 and not np.isfinite(model.loss_curve_[-1])
    assert np.all(model.coef_ == 0) and model.best_loss_ == pytest.approx(np.log(3))


@pytest.mark.parametrize("solver", SOLVERS)
def test_separable_data_without_penalty_warns(solver):
    X = np.array([[-2.0, 0.0], [-1.0, 0.5], [1.0, -0.5], [2.0, 0.0]])
    y = np.array([0, 0, 1, 1])
    model = SoftmaxRegression(solver=solver, max_iter=30, random_state=0)
    with pytest.warns(ConvergenceWarning, match="separate the training classes"):
        model.fit(X, y)
    np.testing.assert_array_equal(model.predict(X), y)
    if solver != "lbfgs":  # L-BFGS meets tol first: the gradient vanishes too
        assert model.n_iter_ == 30
    # With a penalty a minimiser exists and L-BFGS meets the tolerance quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SoftmaxRegression(l2=0.1).fit(X, y)


# -- sample weights ----------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("q", [2, 3])
def test_integer_weights_repeat_rows_and_zero_weights_remove_them(solver, q):
    X, y = blobs(n_per_class=12, q=q)
    sw = np.random.default_rng(3).integers(0, 4, size=len(y))
    params = {"l2": 0.05, "solver": solver, "tol": 1e-10, "random_state": 0}
    if solver != "lbfgs":  # one batch per epoch: SGD is then GD, as is repetition
        params.update(max_iter=300, learning_rate=0.5, batch_size=len(y) * 4)
    weighted = fit_quietly(SoftmaxRegression(**params), X, y, sample_weight=sw)
    repeated = fit_quietly(SoftmaxRegression(**params), X.repeat(sw, 0), y.repeat(sw))
    np.testing.assert_array_equal(weighted.classes_, repeated.classes_)
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(
        weighted.intercept_, repeated.intercept_, rtol=1e-7, atol=1e-9
    )
    np.testing.assert_allclose(
        weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-7, atol=1e-12
    )
    assert weighted.best_loss_ == pytest.approx(repeated.best_loss_, rel=1e-10)
    value = objective(*book_form(weighted), X, y, 0.05, sw)
    assert value == pytest.approx(weighted.best_loss_, rel=1e-12)


def test_sgd_weights_scale_minibatch_gradients_to_the_weighted_objective():
    """An epoch visits each row once; row i's gradient is taken s_i n / sum(s)
    times, so the minibatch mean is unbiased for the weighted objective."""
    X, y = blobs(n_per_class=25)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, size=len(y))
    model = SoftmaxRegression(solver="sgd", **SGD_RUN)
    lr, batch_size, l2 = SGD_RUN["learning_rate"], SGD_RUN["batch_size"], SGD_RUN["l2"]
    epochs = SGD_RUN["max_iter"]
    fit_quietly(model, X, y, sample_weight=sw)
    rng = np.random.default_rng(7)
    W, b = np.zeros((4, 3)), np.zeros(3)
    scaled = sw * len(sw) / sw.sum()
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            logits = X[idx] @ W + b
            P = np.exp(logits - logits.max(axis=1, keepdims=True))
            P /= P.sum(axis=1, keepdims=True)
            P[np.arange(len(idx)), y[idx]] -= 1.0
            P *= scaled[idx, None] / len(idx)
            W, b = W - lr * (X[idx].T @ P + l2 * W), b - lr * P.sum(axis=0)
    np.testing.assert_allclose(model.coef_.T, W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.intercept_, b, rtol=1e-12, atol=1e-14)


def test_a_class_with_only_zero_weights_is_left_out():
    X, y = blobs(q=3)
    sw = (y != 1).astype(float)
    weighted = SoftmaxRegression(l2=0.1).fit(X, y, sample_weight=sw)
    removed = SoftmaxRegression(l2=0.1).fit(X[y != 1], y[y != 1])
    np.testing.assert_array_equal(weighted.classes_, [0, 2])
    np.testing.assert_array_equal(weighted.coef_, removed.coef_)
    np.testing.assert_array_equal(weighted.intercept_, removed.intercept_)
    with pytest.raises(ValueError, match="2 classes in y with sample_weight > 0"):
        SoftmaxRegression().fit(X, y, sample_weight=(y == 1).astype(float))


@pytest.mark.parametrize("solver", SOLVERS)
def test_equal_weights_are_no_weights(solver):
    X, y = blobs()
    model = SoftmaxRegression(l2=0.01, solver=solver, random_state=0)
    plain = fit_quietly(model, X, y).coef_.copy()
    for sw in (np.ones(len(y)), np.full(len(y), 0.3), 2.5, [7] * len(y)):
        weighted = fit_quietly(model, X, y, sample_weight=sw)
        np.testing.assert_array_equal(weighted.coef_, plain)


@pytest.mark.parametrize(
    ("sample_weight", "match"),
    [
        (np.ones(89), r"length 90 like y, got an array of shape \(89,\)"),
        (np.ones((90, 1)), r"shape \(90, 1\)"),
        (
            np.r_[1.0, -1.0, np.ones(88)],
            r"finite and >= 0, got sample_weight\[1\] = -1",
        ),
        (np.r_[np.nan, np.ones(89)], r"sample_weight\[0\] = nan"),
        (np.r_[np.inf, np.ones(89)], r"sample_weight\[0\] = inf"),
        (np.zeros(90), "sample weights are zero"),
        (0.0, "sample weights are zero"),
        (np.array(["a"] * 90), "real numbers, got an array of dtype <U1"),
        (np.ones(90) * 1j, "real numbers, got an array of dtype complex128"),
    ],
    ids=["length", "2-D", "negative", "nan", "inf", "zeros", "zero", "str", "complex"],
)
def test_bad_sample_weight(sample_weight, match):
    X, y = blobs()
    with pytest.raises(ValueError, match=match):
        SoftmaxRegression().fit(X, y, sample_weight=sample_weight)


def test_score_takes_sample_weight():
    X, y = blobs()
    model = SoftmaxRegression(l2=0.01).fit(X, y)
    right = model.predict(X) == y
    sw = np.linspace(0.1, 2.0, len(y))
    assert model.score(X, y, sample_weight=sw) == pytest.approx(
        sw[right].sum() / sw.sum(), rel=1e-12
    )
    assert model.score(X, y, sample_weight=np.ones(len(y))) == model.score(X, y)
    with pytest.raises(ValueError, match="sample_weight"):
        model.score(X, y, sample_weight=-sw)


def test_sample_weight_is_not_changed():
    X, y = blobs()
    sw = np.r_[0.0, np.linspace(0.5, 2, len(y) - 1)]
    before = sw.copy()
    SoftmaxRegression(l2=0.01).fit(X, y, sample_weight=sw)
    np.testing.assert_array_equal(sw, before)


# -- gradient -------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_objective_and_gradient_match_formula_and_central_differences(l2, weighted):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 4, size=20)
    W, b = rng.normal(size=(3, 4)), rng.normal(size=4)
    sw = rng.uniform(0, 2, size=20) if weighted else None
    scaled = None if sw is None else sw * (len(sw) / sw.sum())  # as fit passes it
    value, gW, gb = SoftmaxRegression(l2=l2)._objective(W, b, X, y, scaled)

    def J(W, b):
        return objective(W, b, X, y, l2, sw)

    assert value == pytest.approx(J(W, b), rel=1e-13)
    h = 1e-6
    num_W = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        E = np.zeros_like(W)
        E[idx] = h
        num_W[idx] = (J(W + E, b) - J(W - E, b)) / (2 * h)
    num_b = np.array([(J(W, b + h * e) - J(W, b - h * e)) / (2 * h) for e in np.eye(4)])
    np.testing.assert_allclose(gW, num_W, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gb, num_b, rtol=1e-6, atol=1e-9)


# -- errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("l2", -1.0),
        ("l2", np.inf),
        ("l2", "big"),
        ("solver", "adam"),
        ("learning_rate", 0.0),
        ("learning_rate", np.nan),
        ("batch_size", 0),
        ("batch_size", 2.5),
        ("max_iter", 0),
        ("max_iter", True),
        ("tol", -1e-3),
        ("n_iter_no_change", 0),
        ("n_iter_no_change", 2.0),
        ("random_state", -1),
        ("random_state", "seed"),
    ],
)
def test_invalid_parameters_are_named_in_fit(param, value):
    X, y = blobs()
    model = SoftmaxRegression().set_params(**{param: value})  # stored unchecked
    with pytest.raises(ValueError, match=re.escape(f"{param}={value!r}")):
        model.fit(X, y)


def test_every_parameter_has_a_constraint():
    """fit checks each constructor parameter from one table; a parameter
    added without an entry there would go unchecked."""
    from softmaxlib._regression import _PARAMETER_CONSTRAINTS

    assert set(_PARAMETER_CONSTRAINTS) == set(SoftmaxRegression().get_params())
    for name, value in SoftmaxRegression().get_params().items():
        valid, _ = _PARAMETER_CONSTRAINTS[name]
        assert valid(value), f"the default {name}={value!r} fails its own check"


def test_set_params_rejects_unknown_names_and_round_trips():
    model = SoftmaxRegression()
    with pytest.raises(ValueError, match="Invalid parameter 'alpha'"):
        model.set_params(alpha=1.0)
    params = {"l2": 0.5, "solver": "sgd", "batch_size": 8, "random_state": 2}
    assert model.set_params(**params) is model
    assert {k: model.get_params()[k] for k in params} == params
    assert set(model.get_params()) == PARAMS
    assert repr(model) == (
        "SoftmaxRegression(l2=0.5, solver='sgd', batch_size=8, random_state=2)"
    )
    assert repr(SoftmaxRegression()) == "SoftmaxRegression()"


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.ones(6), r"2-D array X .* shape \(6,\)"),
        (np.ones((6, 2, 2)), r"2-D array X .* shape \(6, 2, 2\)"),
        (np.ones((0, 3)), r"X has 0 sample\(s\)"),
        (np.ones((6, 0)), r"X has 0 feature\(s\)"),
        (np.where(np.eye(6, 2) == 1, np.nan, 1.0), r"NaN: X\[0, 0\] = nan"),
        (np.where(np.eye(6, 2) == 1, -np.inf, 1.0), r"infinity: X\[0, 0\] = -inf"),
        (np.ones((6, 2)) * 1j, "Complex data not supported"),
    ],
    ids=["1-D", "3-D", "no-samples", "no-features", "nan", "inf", "complex"],
)
def test_bad_X_in_fit(X, match):
    y = np.array([0, 1, 0, 1, 0, 1])[: len(X)]
    with pytest.raises(ValueError, match=match):
        SoftmaxRegression().fit(X, y)


def test_sparse_X_is_refused():
    sparse = pytest.importorskip("scipy.sparse")
    X, y = blobs()
    with pytest.raises(TypeError, match="sparse input X"):
        SoftmaxRegression().fit(sparse.csr_matrix(X), y)


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (None, "requires y to be passed"),
        (np.zeros(5), "X has 6 rows but y has length 5"),
        (np.zeros((6, 2)), r"1d array of labels, got an array of shape \(6, 2\)"),
        (np.linspace(0, 1, 6), "Unknown label type: continuous"),
        (np.array([0, 1, 0, np.nan, 1, 0]), "Input y contains NaN"),
        (np.array([0, 1, 0, np.inf, 1, 0]), "Input y contains infinity"),
        (np.full(6, "a"), "only 1 class: 'a'"),
        (np.full(6, 4), "only 1 class: 4"),
    ],
    ids=["none", "length", "2-D", "continuous", "nan", "inf", "one-class", "one-int"],
)
def test_bad_y_in_fit(y, match):
    X = np.arange(12.0).reshape(6, 2)
    with pytest.raises(ValueError, match=match):
        SoftmaxRegression().fit(X, y)


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "decision_function", "score"]
)
def test_using_an_unfitted_model_raises_not_fitted(method):
    X, y = blobs()
    args = (X, y) if method == "score" else (X,)
    with pytest.raises(NotFittedError, match="not fitted yet") as info:
        getattr(SoftmaxRegression(), method)(*args)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, AttributeError)


def test_not_fitted_error_is_sklearns_when_sklearn_is_loaded():
    exceptions = pytest.importorskip("sklearn.exceptions")
    with pytest.raises(exceptions.NotFittedError):
        SoftmaxRegression().predict(np.ones((2, 2)))


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "decision_function", "score"]
)
def test_predicting_with_wrong_features_or_nan(method):
    X, y = blobs()
    model = SoftmaxRegression(l2=0.01).fit(X, y)
    call = getattr(model, method)
    extra = (y,) if method == "score" else ()
    with pytest.raises(ValueError, match="X has 3 features, but .* expecting 4"):
        call(X[:, :3], *extra)
    X_nan = X.copy()
    X_nan[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN: X\[2, 1\]"):
        call(X_nan, *extra)


def test_score_with_wrong_y_shape():
    X, y = blobs()
    model = SoftmaxRegression(l2=0.01).fit(X, y)
    with pytest.raises(ValueError, match="y should have shape"):
        model.score(X, y[:-1])


# -- persistence and independence from scikit-learn ------------------------------


def test_pickle_round_trip():
    X, y = blobs()
    model = SoftmaxRegression(l2=0.01).fit(X, y)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict_proba(X), model.predict_proba(X))


def test_works_without_scikit_learn_and_scipy_for_gd():
    code = """
import sys
sys.modules["sklearn"] = None  # any import of it now fails
sys.modules["scipy"] = None
import numpy as np
import softmaxlib
from softmaxlib._regression import NotFittedError, SoftmaxRegression
X = np.array([[0.0], [1.0], [2.0], [3.0]])
y = np.array([0, 0, 1, 1])
try:
    SoftmaxRegression().predict(X)
except NotFittedError as e:
    assert type(e) is NotFittedError
model = SoftmaxRegression(l2=0.1, solver="gd", max_iter=5000).fit(X, y)
assert (model.predict(X) == y).all()
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_exceptions_and_warnings_pickle_with_scikit_learn_loaded():
    """What is raised with sklearn loaded is a twin class; it must pickle by name
    (a ProcessPoolExecutor sends a worker's exception back to its caller so)."""
    pytest.importorskip("sklearn.exceptions")
    found = raised_and_warned()
    kinds = {type(e).__mro__[1] for e in found}
    assert kinds == {NotFittedError, ConvergenceWarning, DataConversionWarning}
    for error in found:
        clone = pickle.loads(pickle.dumps(error))
        assert type(clone) is type(error)
        assert clone.args == error.args
        assert pickle.loads(pickle.dumps(type(error))) is type(error)


def test_not_fitted_error_crosses_a_process_boundary():
    from concurrent.futures import ProcessPoolExecutor

    pytest.importorskip("sklearn.exceptions")
    with ProcessPoolExecutor(
        max_workers=1, initializer=__import__, initargs=("sklearn.exceptions",)
    ) as pool:
        future = pool.submit(SoftmaxRegression().predict, np.ones((2, 2)))
        with pytest.raises(NotFittedError, match="not fitted yet") as info:
            future.result()
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    assert isinstance(info.value, SklearnNotFittedError)


def test_exceptions_and_warnings_pickle_without_scikit_learn():
    code = """
import pickle, sys
sys.modules["sklearn"] = None  # any import of it now fails
import numpy as np
from softmaxlib import (
    ConvergenceWarning, DataConversionWarning, NotFittedError, SoftmaxRegression,
)
sys.path.insert(0, __HERE__)
from _raisers import raised_and_warned
from test_estimator_protocol import PARAMS
found = raised_and_warned()
kinds = [type(e) for e in found]
assert set(kinds) == {NotFittedError, ConvergenceWarning, DataConversionWarning}, kinds
for error in found:
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error) and clone.args == error.args
    assert pickle.loads(pickle.dumps(type(error))) is type(error)
assert "sklearn.exceptions" not in sys.modules
print("ok")
""".replace("__HERE__", repr(str(pathlib.Path(__file__).parent)))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# -- scikit-learn's estimator checks -------------------------------------------------

try:
    from sklearn.utils.estimator_checks import parametrize_with_checks
except ImportError:  # pragma: no cover - scikit-learn is a test dependency
    parametrize_with_checks = None

# No check is expected to fail, the sample_weight checks included. Three are
# skipped by scikit-learn itself in this environment: check_array_api_input
# (needs SCIPY_ARRAY_API=1 and the model has no array-API support), and
# check_classifier_data_not_an_array and check_sample_weights_pandas_series
# (both need pandas).
EXPECTED_FAILED_CHECKS: dict[str, str] = {}

if parametrize_with_checks is not None:
    with warnings.catch_warnings():  # raised while the checks are collected
        warnings.filterwarnings(
            "ignore", "Estimator SoftmaxRegression does not inherit"
        )
        # every solver in a thorough run, the default one otherwise (_profile.py)
        _estimator_checks = parametrize_with_checks(
            [SoftmaxRegression()]
            + (
                [
                    SoftmaxRegression(solver="gd", l2=1e-3),
                    SoftmaxRegression(solver="sgd", l2=1e-3, max_iter=50),
                ]
                if THOROUGH
                else []
            ),
            expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
        )

    @pytest.mark.filterwarnings("ignore::UserWarning")  # ConvergenceWarning, ...
    @_estimator_checks
    def test_sklearn_estimator_checks(estimator, check):
        check(estimator)


# -- parity with scikit-learn's LogisticRegression ------------------------------------


def _standardised(loader):
    from sklearn.preprocessing import StandardScaler

    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize(
    ("dataset", "weighted"),
    [
        ("digits", False),
        ("breast_cancer", False),
        ("iris", True),
        ("breast_cancer", True),
    ],
)
def test_same_model_as_sklearn(dataset, weighted):
    datasets = pytest.importorskip("sklearn.datasets")
    from sklearn.linear_model import LogisticRegression

    X, y = _standardised(getattr(datasets, f"load_{dataset}"))
    n, q, l2 = X.shape[0], np.unique(y).size, 1e-3
    sw = np.random.default_rng(5).uniform(0.1, 3.0, n) if weighted else None
    total = n if sw is None else sw.sum()
    # sklearn minimises sum(s_i loss_i) / sum(s) + ||coef||^2 / (2 C sum(s)). With
    # q >= 3 its coef is W^T, so C = 1/(sum(s) l2). With q = 2 it fits one vector
    # w, the softmax twin of W = [-w/2, w/2], whose penalty l2/2 ||W||^2 =
    # l2/4 ||w||^2: C = 2/(sum(s) l2). Both store coef_ and intercept_ alike.
    C = 1.0 / (total * l2) if q > 2 else 2.0 / (total * l2)
    ours = SoftmaxRegression(l2=l2, tol=1e-10, max_iter=5000)
    ours.fit(X, y, sample_weight=sw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn may warn at the precision limit
        ref = LogisticRegression(C=C, tol=1e-10, max_iter=5000)
        ref.fit(X, y, sample_weight=sw)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    assert ours.coef_.shape == ref.coef_.shape == (1 if q == 2 else q, X.shape[1])
    assert ours.intercept_.shape == ref.intercept_.shape
    _, y_idx = np.unique(y, return_inverse=True)
    ours_value = objective(*book_form(ours), X, y_idx, l2, sw)
    ref_value = objective(*book_form(ref), X, y_idx, l2, sw)
    assert abs(ours_value - ref_value) <= 1e-6 * ref_value
    assert ours.best_loss_ == pytest.approx(ours_value, rel=1e-12)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=1e-3 * scale)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-3 * scale)
    assert np.abs(ours.predict_proba(X) - ref.predict_proba(X)).max() <= 1e-4
    np.testing.assert_allclose(
        ours.decision_function(X), ref.decision_function(X), rtol=1e-3, atol=1e-3
    )


def test_stopping_at_max_iter_warns():
    X, y = blobs()
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        SoftmaxRegression(l2=0.01, max_iter=2).fit(X, y)
