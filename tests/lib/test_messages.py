"""Every error message and warning in full, as the library words it.

Each argument check names the argument and shows the offending value, shape or
position (softmaxlib/_validation.py); the softmax family prefixes the function's
name. The tests elsewhere match a part of a message; these compare the whole,
so that a message that loses a word, a value or its hint is seen.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import softmaxlib as sm
from softmaxlib import (
    ConvergenceWarning,
    DataConversionWarning,
    NotFittedError,
    SoftmaxRegression,
)

X = np.arange(12.0).reshape(6, 2)
y = np.array([0, 1, 0, 1, 0, 1])

CALLS = {
    "complex x": lambda: sm.softmax(np.ones(2) * 1j),
    "object x": lambda: sm.log_softmax(np.array(["a"], dtype=object)),
    "string x": lambda: sm.logsumexp(np.array(["a"])),
    "bool axis": lambda: sm.softmax(np.ones(2), axis=True),
    "float axis": lambda: sm.softmax(np.ones(2), axis=1.0),
    "axis range": lambda: sm.softmax(np.ones((2, 3)), axis=2),
    "axis 0-d": lambda: sm.softmax(np.float64(1.0), axis=0),
    "axis repeated": lambda: sm.softmax(np.ones((2, 3)), axis=(1, -1)),
    "out type": lambda: sm.softmax(np.ones(3), out=[0.0] * 3),
    "out shape": lambda: sm.softmax(np.ones(3), out=np.empty(4)),
    "out dtype": lambda: sm.softmax(np.ones(3), out=np.empty(3, dtype=np.float32)),
    "out read-only": lambda: sm.softmax(
        np.ones(3), out=np.broadcast_to(np.empty(1), (3,))
    ),
    "no classes": lambda: sm.softmax(np.ones((2, 0))),
    "lse no classes axis tuple": lambda: sm.log_softmax(
        np.ones((2, 0, 3)), axis=(1, 2)
    ),
    "b complex": lambda: sm.logsumexp(np.ones(2), b=np.ones(2) * 1j),
    "b string": lambda: sm.logsumexp(np.ones(2), b=np.array(["a", "b"])),
    "x complex with b": lambda: sm.logsumexp(np.ones(2) * 1j, b=np.ones(2)),
    "b broadcast": lambda: sm.logsumexp(np.ones((2, 3)), b=np.ones(2)),
    "reduction": lambda: sm.cross_entropy(np.ones((2, 3)), [0, 1], reduction="avg"),
    "reduction type": lambda: sm.cross_entropy(np.ones((2, 3)), [0, 1], reduction=None),
    "smoothing type": lambda: sm.cross_entropy(
        np.ones((2, 3)), [0, 1], label_smoothing="0.1"
    ),
    "smoothing bool": lambda: sm.cross_entropy(
        np.ones((2, 3)), [0, 1], label_smoothing=True
    ),
    "smoothing range": lambda: sm.cross_entropy(
        np.ones((2, 3)), [0, 1], label_smoothing=1.5
    ),
    "logits 0-d": lambda: sm.cross_entropy(np.float64(1.0), 0),
    "logits no classes": lambda: sm.cross_entropy(np.ones((2, 0)), [0, 0]),
    "weight kind": lambda: sm.cross_entropy(
        np.ones((2, 3)), [0, 1], weight=["a", "b", "c"]
    ),
    "weight shape": lambda: sm.cross_entropy(
        np.ones((2, 3)), [0, 1], weight=[1.0, 2.0]
    ),
    "weight negative": lambda: sm.cross_entropy(
        np.ones((2, 3)), [0, 1], weight=[1.0, -2.0, 1.0]
    ),
    "weight int negative": lambda: sm.cross_entropy(
        np.ones((2, 3)), [0, 1], weight=[1, -2, 1]
    ),
    "weight nan": lambda: sm.cross_entropy(
        np.ones((2, 3)), [0, 1], weight=[1.0, 1.0, np.nan]
    ),
    "weight overflow": lambda: sm.cross_entropy(
        np.ones((2, 3), dtype=np.float32), [0, 1], weight=[1.0, 1e39, 1.0]
    ),
    "target bool": lambda: sm.cross_entropy(np.ones((2, 3)), np.array([True, False])),
    "target string": lambda: sm.cross_entropy(np.ones((2, 3)), np.array(["a", "b"])),
    "target index shape": lambda: sm.cross_entropy(
        np.ones((2, 3)), np.array([0, 1, 2])
    ),
    "target index shape hint": lambda: sm.cross_entropy(
        np.ones((2, 3)), np.zeros((2, 3), dtype=int)
    ),
    "target index range": lambda: sm.cross_entropy(np.ones((2, 3)), [0, 3]),
    "target index range ignore": lambda: sm.cross_entropy(
        np.ones((2, 3)), [-100, -1], ignore_index=-100
    ),
    "ignore_index type": lambda: sm.cross_entropy(
        np.ones((2, 3)), [0, 1], ignore_index=1.5
    ),
    "ignore_index bool": lambda: sm.cross_entropy(
        np.ones((2, 3)), [0, 1], ignore_index=True
    ),
    "target float batch": lambda: sm.cross_entropy(
        np.ones((2, 3)), np.array([0.0, 1.0])
    ),
    "target prob shape": lambda: sm.cross_entropy(np.ones((2, 3)), np.ones((2, 2))),
    "target float batch 3-D": lambda: sm.cross_entropy(
        np.ones((2, 4, 3)), np.zeros((2, 4))
    ),
    "target prob shape 3-D": lambda: sm.cross_entropy(
        np.ones((2, 4, 3)), np.ones((2, 4, 2))
    ),
    "target prob ignore": lambda: sm.cross_entropy(
        np.ones((2, 3)), np.ones((2, 3)), ignore_index=-100
    ),
    "target prob negative": lambda: sm.cross_entropy(
        np.ones((2, 3)), np.array([[0.5, 0.5, 0.0], [0.5, -0.5, 1.0]])
    ),
    "target prob overflow": lambda: sm.cross_entropy(
        np.ones((2, 3), dtype=np.float32), np.array([[0.5, 0.5, 0.0], [0.5, 1e39, 1.0]])
    ),
    "one_hot classes": lambda: sm.one_hot([0], 0),
    "one_hot classes type": lambda: sm.one_hot([0], 2.0),
    "one_hot dtype": lambda: sm.one_hot([0], 2, dtype=complex),
    "one_hot labels": lambda: sm.one_hot([0.5], 2),
    "one_hot range": lambda: sm.one_hot([[0, 1], [2, 0]], 2),
    "fit sparse": lambda: SoftmaxRegression().fit(sp.csr_matrix(X), y),
    "fit complex": lambda: SoftmaxRegression().fit(X * 1j, y),
    "fit 1-D": lambda: SoftmaxRegression().fit(np.ones(6), y),
    "fit no samples": lambda: SoftmaxRegression().fit(np.ones((0, 2)), []),
    "fit no features": lambda: SoftmaxRegression().fit(np.ones((6, 0)), y),
    "fit nan": lambda: SoftmaxRegression().fit(np.where(X == 5, np.nan, X), y),
    "fit inf": lambda: SoftmaxRegression().fit(np.where(X == 5, np.inf, X), y),
    "fit y None": lambda: SoftmaxRegression().fit(X, None),
    "fit y 2-D": lambda: SoftmaxRegression().fit(X, np.ones((6, 2))),
    "fit y length": lambda: SoftmaxRegression().fit(X, y[:5]),
    "fit y complex": lambda: SoftmaxRegression().fit(X, y * 1j),
    "fit y nan": lambda: SoftmaxRegression().fit(X, np.r_[np.nan, y[1:]]),
    "fit y inf": lambda: SoftmaxRegression().fit(X, np.r_[np.inf, y[1:]]),
    "fit one class": lambda: SoftmaxRegression().fit(X, np.zeros(6)),
    "fit one class weighted": lambda: SoftmaxRegression().fit(
        X, y, sample_weight=(y == 1) * 1.0
    ),
    "sw dtype": lambda: SoftmaxRegression().fit(
        X, y, sample_weight=np.array(["a"] * 6)
    ),
    "sw shape": lambda: SoftmaxRegression().fit(X, y, sample_weight=np.ones(5)),
    "sw negative": lambda: SoftmaxRegression().fit(
        X, y, sample_weight=np.r_[1.0, -1.0, np.ones(4)]
    ),
    "sw zeros": lambda: SoftmaxRegression().fit(X, y, sample_weight=0.0),
    "param l2": lambda: SoftmaxRegression(l2=-1).fit(X, y),
    "param solver": lambda: SoftmaxRegression(solver="adam").fit(X, y),
    "param random_state": lambda: SoftmaxRegression(random_state=-1).fit(X, y),
    "not fitted": lambda: SoftmaxRegression().predict(X),
    "features": lambda: SoftmaxRegression().fit(X, y).predict(np.ones((2, 3))),
    "score shape": lambda: SoftmaxRegression().fit(X, y).score(X, y[:5]),
}

MESSAGES = [
    (
        "complex x",
        TypeError,
        "softmax: x must be real, got a complex array of dtype complex128; take "
        ".real or abs() explicitly if that is what you mean",
    ),
    (
        "object x",
        TypeError,
        "log_softmax: x must be a real numeric array, got dtype object (kind 'O')",
    ),
    (
        "string x",
        TypeError,
        "logsumexp: x must be a real numeric array, got dtype <U1 (kind 'U')",
    ),
    ("bool axis", TypeError, "softmax: axis must be an integer, got the bool True"),
    (
        "float axis",
        TypeError,
        "softmax: axis must be an integer, got 1.0 of type float",
    ),
    (
        "axis range",
        ValueError,
        "softmax: axis 2 is out of range for an array of dimension 2 (shape (2, "
        "3)); valid axes are -2, ..., 1",
    ),
    (
        "axis 0-d",
        ValueError,
        "softmax: axis 0 is out of range for a 0-dimensional array; pass an array "
        "with at least one dimension (the classes)",
    ),
    (
        "axis repeated",
        ValueError,
        "softmax: axis (1, -1) repeats an axis (shape (2, 3))",
    ),
    ("out type", TypeError, "softmax: out must be a numpy.ndarray, got list"),
    (
        "out shape",
        ValueError,
        "softmax: out has shape (4,), but the result has shape (3,)",
    ),
    (
        "out dtype",
        TypeError,
        "softmax: out has dtype float32, but the result has dtype float64; allocate "
        "out with the input's floating dtype",
    ),
    ("out read-only", ValueError, "softmax: out is read-only"),
    (
        "no classes",
        ValueError,
        "softmax: x has no classes along axis 1 (shape (2, 0)); softmax needs at "
        "least one class",
    ),
    (
        "lse no classes axis tuple",
        ValueError,
        "log_softmax: x has no classes along axis (1, 2) (shape (2, 0, 3)); "
        "log_softmax needs at least one class",
    ),
    (
        "b complex",
        TypeError,
        "logsumexp: b must be real, got a complex array of dtype complex128",
    ),
    ("b string", TypeError, "logsumexp: b must be a real numeric array, got dtype <U1"),
    (
        "x complex with b",
        TypeError,
        "logsumexp: x must be real, got a complex array of dtype complex128; take "
        ".real or abs() explicitly if that is what you mean",
    ),
    (
        "b broadcast",
        ValueError,
        "logsumexp: b of shape (2,) does not broadcast against x of shape (2, 3)",
    ),
    (
        "reduction",
        ValueError,
        "reduction must be one of 'mean', 'sum' or 'none', got 'avg'",
    ),
    (
        "reduction type",
        ValueError,
        "reduction must be one of 'mean', 'sum' or 'none', got None",
    ),
    (
        "smoothing type",
        TypeError,
        "label_smoothing must be a real number in [0, 1], got '0.1' of type str",
    ),
    (
        "smoothing bool",
        TypeError,
        "label_smoothing must be a real number in [0, 1], got True of type bool",
    ),
    ("smoothing range", ValueError, "label_smoothing must lie in [0, 1], got 1.5"),
    (
        "logits 0-d",
        ValueError,
        "logits must have at least one dimension (the class axis, last), got a "
        "0-dimensional array",
    ),
    (
        "logits no classes",
        ValueError,
        "logits has no classes (shape (2, 0)); the class axis is the last one and "
        "needs length at least 1",
    ),
    ("weight kind", TypeError, "weight must be a real array, got dtype <U1"),
    (
        "weight shape",
        ValueError,
        "weight must have shape (3,), one entry per class, got shape (2,)",
    ),
    (
        "weight negative",
        ValueError,
        "weight must be finite and non-negative, got weight[1] = -2.0",
    ),
    (
        "weight int negative",
        ValueError,
        "weight must be finite and non-negative, got weight[1] = -2",
    ),
    (
        "weight nan",
        ValueError,
        "weight must be finite and non-negative, got weight[2] = nan",
    ),
    (
        "weight overflow",
        ValueError,
        "weight[1] = 1e+39 does not fit in float32 (max 3.4e+38), the dtype the "
        "loss is computed in",
    ),
    (
        "target bool",
        TypeError,
        "target must hold integer class indices or floating probabilities, got a "
        "boolean array; convert it with .astype(int) or .astype(float)",
    ),
    (
        "target string",
        TypeError,
        "target must hold integer class indices or floating probabilities, got "
        "dtype <U1",
    ),
    (
        "target index shape",
        ValueError,
        "target of class indices must have shape (2,) (logits' shape (2, 3) without "
        "the class axis), got shape (3,)",
    ),
    (
        "target index shape hint",
        ValueError,
        "target of class indices must have shape (2,) (logits' shape (2, 3) without "
        "the class axis), got shape (2, 3); for probability targets pass a floating "
        "array",
    ),
    (
        "target index range",
        ValueError,
        "target contains class index 3 at position (1,), outside [0, 3) for 3 classes",
    ),
    (
        "target index range ignore",
        ValueError,
        "target contains class index -1 at position (1,), outside [0, 3) for 3 "
        "classes and is not ignore_index=-100",
    ),
    (
        "ignore_index type",
        TypeError,
        "ignore_index must be an integer, got 1.5 of type float",
    ),
    (
        "ignore_index bool",
        TypeError,
        "ignore_index must be an integer, got the bool True",
    ),
    (
        "target float batch",
        TypeError,
        "target has the shape of class indices (2,) but dtype float64; class "
        "indices must be integers (use target.astype(int)), probability targets "
        "need the logits' shape (2, 3)",
    ),
    (
        "target prob shape",
        ValueError,
        "target must have shape (2,) (class indices) or (2, 3) (probabilities), got "
        "shape (2, 2)",
    ),
    (
        "target float batch 3-D",
        TypeError,
        "target has the shape of class indices (2, 4) but dtype float64; class "
        "indices must be integers (use target.astype(int)), probability targets "
        "need the logits' shape (2, 4, 3)",
    ),
    (
        "target prob shape 3-D",
        ValueError,
        "target must have shape (2, 4) (class indices) or (2, 4, 3) "
        "(probabilities), got shape (2, 4, 2)",
    ),
    (
        "target prob ignore",
        ValueError,
        "ignore_index applies to class-index targets only, got ignore_index=-100 "
        "with a probability target; to leave examples out of the loss and the mean, "
        "pass only the rows to keep: logits[keep], target[keep]",
    ),
    (
        "target prob negative",
        ValueError,
        "probability target must be finite and non-negative, got -0.5 at position "
        "(1, 1)",
    ),
    (
        "target prob overflow",
        ValueError,
        "probability target 1e+39 at position (1, 1) does not fit in float32 (max "
        "3.4e+38), the dtype the loss is computed in",
    ),
    ("one_hot classes", ValueError, "num_classes must be at least 1, got 0"),
    (
        "one_hot classes type",
        TypeError,
        "num_classes must be an integer, got 2.0 of type float",
    ),
    (
        "one_hot dtype",
        TypeError,
        "dtype must be a boolean, integer or floating dtype, got complex128",
    ),
    (
        "one_hot labels",
        TypeError,
        "labels must be integers, got an array of dtype float64",
    ),
    (
        "one_hot range",
        ValueError,
        "labels contains 2 at position (1, 0), outside [0, 2) for num_classes=2",
    ),
    (
        "fit sparse",
        TypeError,
        "SoftmaxRegression does not accept sparse input X (got csr_matrix); convert "
        "it with X.toarray().",
    ),
    ("fit complex", ValueError, "Complex data not supported: X has dtype complex128."),
    (
        "fit 1-D",
        ValueError,
        "Expected a 2-D array X of shape (n_samples, n_features), got an array of "
        "shape (6,). Reshape your data, e.g. with X.reshape(-1, 1) for a single "
        "feature or X.reshape(1, -1) for a single sample.",
    ),
    (
        "fit no samples",
        ValueError,
        "X has 0 sample(s) (shape=(0, 2)) while a minimum of 1 is required.",
    ),
    (
        "fit no features",
        ValueError,
        "X has 0 feature(s) (shape=(6, 0)) while a minimum of 1 is required.",
    ),
    (
        "fit nan",
        ValueError,
        "Input X contains NaN: X[2, 1] = nan; all entries must be finite.",
    ),
    (
        "fit inf",
        ValueError,
        "Input X contains infinity: X[2, 1] = inf; all entries must be finite.",
    ),
    (
        "fit y None",
        ValueError,
        "SoftmaxRegression requires y to be passed, but the target y is None.",
    ),
    (
        "fit y 2-D",
        ValueError,
        "y should be a 1d array of labels, got an array of shape (6, 2).",
    ),
    (
        "fit y length",
        ValueError,
        "X and y have inconsistent numbers of samples: X has 6 rows but y has "
        "length 5.",
    ),
    (
        "fit y complex",
        ValueError,
        "Unknown label type: complex labels (dtype complex128).",
    ),
    ("fit y nan", ValueError, "Input y contains NaN; labels must be finite."),
    ("fit y inf", ValueError, "Input y contains infinity; labels must be finite."),
    (
        "fit one class",
        ValueError,
        "SoftmaxRegression needs samples of at least 2 classes in y, but y contains "
        "only 1 class: 0.0.",
    ),
    (
        "fit one class weighted",
        ValueError,
        "SoftmaxRegression needs samples of at least 2 classes in y with "
        "sample_weight > 0, but y contains only 1 class: 1.",
    ),
    (
        "sw dtype",
        ValueError,
        "sample_weight must hold real numbers, got an array of dtype <U1.",
    ),
    (
        "sw shape",
        ValueError,
        "sample_weight should be a 1-D array of length 6 like y, got an array of "
        "shape (5,).",
    ),
    (
        "sw negative",
        ValueError,
        "sample_weight must be finite and >= 0, got sample_weight[1] = -1.0.",
    ),
    (
        "sw zeros",
        ValueError,
        "All sample weights are zero; at least one must be positive.",
    ),
    ("param l2", ValueError, "l2 must be a finite number >= 0, got l2=-1."),
    (
        "param solver",
        ValueError,
        "solver must be one of ('lbfgs', 'gd', 'sgd'), got solver='adam'.",
    ),
    (
        "param random_state",
        ValueError,
        "random_state must be None, an int >= 0 or a numpy.random.Generator, got "
        "random_state=-1.",
    ),
    (
        "not fitted",
        NotFittedError,
        "This SoftmaxRegression instance is not fitted yet. Call 'fit' with "
        "appropriate arguments before using this estimator.",
    ),
    (
        "features",
        ValueError,
        "X has 3 features, but SoftmaxRegression is expecting 2 features as input.",
    ),
    ("score shape", ValueError, "y should have shape (6,) to match X, got (5,)."),
]


def test_every_call_has_its_message():
    assert set(CALLS) == {name for name, _, _ in MESSAGES}


@pytest.mark.parametrize(("name", "kind", "message"), MESSAGES, ids=lambda v: None)
def test_error_message_in_full(name, kind, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(kind) as info:
            CALLS[name]()
    assert isinstance(info.value, kind)  # (scikit-learn's twin, if it is loaded)
    assert str(info.value) == message


def test_dense_target_needs_one_kind_of_target():
    from softmaxlib._kernels import DenseTarget

    for kw in ({}, {"probs": np.ones((1, 2)), "labels": np.zeros(1, dtype=int)}):
        with pytest.raises(ValueError) as info:
            DenseTarget(2, np.float64, **kw)
        assert str(info.value) == "give either probs or labels"


def test_continuous_labels_message():
    with pytest.raises(ValueError) as info:
        SoftmaxRegression().fit(X, y + 0.5)
    assert re.fullmatch(
        r"Unknown label type: continuous\. y holds non-integer floats "
        r"\(e\.g\. (np\.float64\()?0\.5\)?\); a classifier needs discrete "
        r"class labels\.",
        str(info.value),
    )


def _warned(f):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f()
    return [(w.category, str(w.message)) for w in caught]


def test_column_vector_warning_in_full():
    got = _warned(lambda: SoftmaxRegression().fit(X, y[:, np.newaxis]))
    assert [(issubclass(c, DataConversionWarning), m) for c, m in got] == [
        (
            True,
            "A column-vector y was passed when a 1d array was expected. Please "
            "change the shape of y to (n_samples,), for example using ravel().",
        )
    ]


NUMBER = r"[-+0-9.e]+"
CONVERGENCE = [
    (
        {"solver": "gd", "max_iter": 2, "l2": 0.1},
        1,
        r"SoftmaxRegression\(solver='gd'\) did not converge: after 2 iterations "
        rf"the largest gradient entry is {NUMBER} > tol=1e-06; increase max_iter "
        r"or learning_rate\.",
    ),
    (
        {"solver": "sgd", "max_iter": 2, "l2": 0.1, "random_state": 0},
        1,
        r"SoftmaxRegression\(solver='sgd'\) did not converge: the objective was "
        r"still falling by more than tol=1e-06 after 2 epochs; increase max_iter\.",
    ),
    (
        {"solver": "lbfgs", "max_iter": 1, "l2": 0.1},
        1,
        r"SoftmaxRegression\(solver='lbfgs'\) did not converge: L-BFGS-B stopped "
        r"after 1 iterations with the message '.+'; increase max_iter "
        r"\(now 1\) or scale the features\.",
    ),
    (
        {"solver": "gd", "learning_rate": 50.0, "l2": 0.1, "n_iter_no_change": 2},
        10,
        r"SoftmaxRegression\(solver='gd'\) did not converge: the objective rose to "
        rf"{NUMBER} in iteration 2, more than 1% above its lowest value; the "
        rf"weights with the lowest objective, {NUMBER} at the start \(W = 0, "
        r"b = 0\), are returned; lower learning_rate \(now 50\.0\) or "
        r"standardise the features\.",
    ),
    (
        {"solver": "sgd", "learning_rate": 1e300, "random_state": 0},
        1e10,
        r"SoftmaxRegression\(solver='sgd'\) did not converge: the objective "
        rf"overflowed to (inf|nan) in epoch 1; the weights with the lowest objective, "
        rf"{NUMBER} at the start \(W = 0, b = 0\), are returned; lower "
        r"learning_rate \(now 1e\+300\) or standardise the features\.",
    ),
    (
        {"solver": "gd", "max_iter": 3, "learning_rate": 0.5, "l2": 0.0, "tol": 0.0},
        "separable",
        r"SoftmaxRegression\(solver='gd'\) did not converge: after 3 iterations "
        rf"the largest gradient entry is {NUMBER} > tol=0\.0; increase max_iter or "
        r"learning_rate; the fitted weights separate the training classes and "
        r"l2=0, so the objective has no minimiser \(it falls towards 0 as the "
        r"weights grow\) and the result depends on max_iter and tol; set l2 > 0\.",
    ),
]


@pytest.mark.parametrize(("params", "scale", "pattern"), CONVERGENCE)
def test_convergence_warnings_in_full(params, scale, pattern):
    if scale == "separable":
        Xs, ys = np.array([[-2.0], [-1.0], [1.0], [2.0]]), np.array([0, 0, 1, 1])
    else:
        rng = np.random.default_rng(0)
        Xs, ys = rng.normal(size=(60, 3)) * scale, rng.integers(0, 3, 60)
    got = _warned(lambda: SoftmaxRegression(**params).fit(Xs, ys))
    assert len(got) == 1 and issubclass(got[0][0], ConvergenceWarning)
    assert re.fullmatch(pattern, got[0][1]), got[0][1]
