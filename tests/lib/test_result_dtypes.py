"""The dtype of every result on every path, and float16 rounded once.

Floating input keeps its dtype: float16 is computed in float32 and rounded
once at the end, float32, float64 and long double are computed in their own
dtype, and bool and integer input becomes float64. The loss takes one of
several paths (the class-index kernel, the dense-target kernel with the
mean's divisor folded into the targets or divided afterwards, the zero
divisor), and each path has its own last step that casts; so the dtype is
checked on every one of them, for the loss, the gradient and both together,
and float16 against float32 rounded once.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _calls import loss_calls
from test_kernels import DENSE_CASES, _dense_problem, dense_reference

import softmaxlib as sm

FLOATS = (np.float16, np.float32, np.float64, np.longdouble)


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _work(dtype):
    """The dtype a result of ``dtype`` input is computed in."""
    return np.float32 if dtype == np.float16 else dtype


# The loss's paths, as keywords of cross_entropy: (target kind, keywords).
# With every target in class 0 ("zeros"), weights [0.25, ...] give the mean a
# divisor below 1 (not folded into the targets), weights [0, ...] a divisor of
# 0 (NaN).
LOSS_PATHS = {
    "index": ("index", {}),
    "index weighted": ("index", {"weight": [2.0, 1.0, 0.5]}),
    "index ignored": ("index", {"ignore_index": 1}),
    "index all ignored": ("zeros", {"ignore_index": 0}),
    "index zero divisor": ("zeros", {"weight": [0.0, 1.0, 1.0]}),
    "smoothed": ("index", {"label_smoothing": 0.2}),
    "smoothed weighted ignored": (
        "index",
        {"label_smoothing": 0.2, "weight": [2.0, 1.0, 0.5], "ignore_index": 1},
    ),
    "smoothed small divisor": (
        "zeros",
        {"label_smoothing": 0.2, "weight": [0.25, 1.0, 1.0]},
    ),
    "smoothed zero divisor": (
        "zeros",
        {"label_smoothing": 0.2, "weight": [0.0, 1.0, 1.0]},
    ),
    "prob": ("prob", {}),
    "prob smoothed weighted": ("prob", {"label_smoothing": 0.2, "weight": [2, 1, 1]}),
}

LOGITS = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75], [-2.0, 3.0, 0.0]])


def _target(kind, dtype):
    if kind == "index":
        return np.array([0, 1, 0])
    if kind == "zeros":
        return np.array([0, 0, 0])
    t = np.array([[0.25, 0.25, 0.5], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    return t.astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("path", list(LOSS_PATHS))
def test_every_loss_path_keeps_the_logits_dtype(path, dtype):
    """The loss (a scalar, or one per example) and the gradient have the
    logits' dtype; float16 results are the float32 ones rounded once."""
    kind, kw = LOSS_PATHS[path]
    x = LOGITS.astype(dtype)
    got = loss_calls(x, _target(kind, dtype), kw)
    want = loss_calls(x.astype(_work(dtype)), _target(kind, _work(dtype)), kw)
    for label, value in got.items():
        assert type(value) is dtype or value.dtype == dtype, label
        if label.startswith("grad") or label.endswith("grad"):
            assert isinstance(value, np.ndarray) and value.shape == x.shape, label
        elif "none" in label:
            assert isinstance(value, np.ndarray) and value.shape == (3,), label
        else:
            assert isinstance(value, np.generic), label  # a numpy scalar
        if dtype == np.float16:
            np.testing.assert_array_equal(
                value, np.asarray(want[label]).astype(np.float16), err_msg=label
            )


@pytest.mark.parametrize("dtype", FLOATS)
def test_every_loss_path_agrees_across_dtypes(dtype):
    """Every path gives the float64 results to the precision of its dtype
    (the NaN of a zero divisor included)."""
    tol = {np.float16: 2e-3, np.float32: 2e-6, np.float64: 0, np.longdouble: 1e-15}
    for path, (kind, kw) in LOSS_PATHS.items():
        got = loss_calls(LOGITS.astype(dtype), _target(kind, dtype), kw)
        want = loss_calls(LOGITS, _target(kind, np.float64), kw)
        for label, value in got.items():
            np.testing.assert_allclose(
                np.asarray(value, dtype=np.float64),
                want[label],
                rtol=tol[dtype],
                atol=tol[dtype],
                err_msg=f"{path}, {label}",
            )


@pytest.mark.parametrize("logits_dtype", [np.int64, np.int8, np.bool_])
def test_integer_and_bool_logits_give_float64_on_every_path(logits_dtype):
    x = (LOGITS > 0).astype(logits_dtype)
    for path, (kind, kw) in LOSS_PATHS.items():
        for label, value in loss_calls(x, _target(kind, np.float64), kw).items():
            assert np.asarray(value).dtype == np.float64, (path, label)


@pytest.mark.parametrize("dtype", FLOATS)
def test_the_target_dtype_does_not_change_the_result_dtype(dtype):
    """Probability targets and weights of another dtype are converted to
    the working dtype; the results keep the logits' dtype."""
    x = LOGITS.astype(dtype)
    for tdtype in (np.float16, np.float64, np.longdouble):
        t = _target("prob", tdtype)
        for kw in ({}, {"weight": np.array([2, 1, 1], dtype=tdtype)}):
            for label, value in loss_calls(x, t, kw).items():
                assert np.asarray(value).dtype == dtype, (tdtype, label)


@pytest.mark.parametrize("dtype", FLOATS)
def test_empty_batch_keeps_the_dtype(dtype):
    x = np.zeros((0, 3), dtype=dtype)
    for target in (np.zeros(0, dtype=int), np.zeros((0, 3), dtype=dtype)):
        for eps in (0.0, 0.1):
            got = loss_calls(x, target, {"label_smoothing": eps})
            for label, value in got.items():
                assert np.asarray(value).dtype == dtype, label


# ------------------------------------------------------------ softmax family


def _softmax_calls(x, with_out=True):
    """{label: result} of softmax, log_softmax and logsumexp, every option."""
    out = {}
    for name in ("softmax", "log_softmax"):
        f = getattr(sm, name)
        out[name] = f(x)
        out[f"{name} axis 0"] = f(x, axis=0)
        out[f"{name} axis None"] = f(x, axis=None)
        out[f"{name} F"] = f(np.asfortranarray(x))
        out[f"{name} 0-d"] = f(x[0, 0], axis=None)
        if with_out:
            out[f"{name} out"] = f(x, out=np.empty_like(x))
            y = x.copy()
            out[f"{name} out is x"] = f(y, out=y)
    out["logsumexp"] = sm.logsumexp(x)
    out["logsumexp keepdims"] = sm.logsumexp(x, axis=0, keepdims=True)
    out["logsumexp None"] = sm.logsumexp(x, axis=None)
    out["logsumexp empty"] = sm.logsumexp(x[:, :0])
    out["logsumexp b scalar"] = sm.logsumexp(x, b=0.5)
    out["logsumexp b zero"] = sm.logsumexp(x, b=np.zeros_like(x))
    b = np.array([1, -1, 2], dtype=x.dtype)
    r, sign = sm.logsumexp(x, b=b, return_sign=True)
    out["logsumexp b signed"], out["logsumexp b sign"] = r, sign
    out["logsumexp b negative"] = sm.logsumexp(x, b=b)
    r, sign = sm.logsumexp(x, return_sign=True)
    out["logsumexp sign"], out["logsumexp sign sign"] = r, sign
    return out


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_family_keeps_the_dtype_on_every_path(dtype):
    x = LOGITS.astype(dtype)
    got = _softmax_calls(x)
    want = _softmax_calls(x.astype(_work(dtype)))
    for label, value in got.items():
        assert np.asarray(value).dtype == dtype, label
        if np.ndim(value) == 0:
            assert isinstance(value, np.generic), label
        if dtype == np.float16:
            np.testing.assert_array_equal(
                value, np.asarray(want[label]).astype(np.float16), err_msg=label
            )


def test_logsumexp_weights_promote_as_numpy_does():
    """The result's dtype is NumPy's promotion of x and b (a Python number b
    keeps x's dtype), integers becoming float64, float16 computed in float32."""
    x16 = LOGITS.astype(np.float16)
    cases = [
        (x16, 2.0, np.float16),
        (x16, 2, np.float16),
        (x16, np.float16(2), np.float16),
        (x16, np.ones(3, dtype=np.float32), np.float32),
        (x16, np.ones(3, dtype=np.int64), np.float64),
        (LOGITS.astype(np.float32), np.ones(3), np.float64),
        (LOGITS.astype(np.float32), True, np.float32),
        (LOGITS.astype(np.float32), [1, 1, 1], np.float64),
        (LOGITS.astype(np.float32), np.ones(3, dtype=np.longdouble), np.longdouble),
        (np.array([[1, 2, 3]]), 2, np.float64),
        (np.array([[1, 2, 3]], dtype=np.int8), np.ones(3, dtype=np.int8), np.float64),
    ]
    for x, b, want in cases:
        r, sign = sm.logsumexp(x, b=b, return_sign=True)
        assert r.dtype == sign.dtype == want, (x.dtype, b)
        assert sm.logsumexp(x, b=b).dtype == want
    # float16 with float16 weights: float32's result rounded once
    b16 = np.array([0.5, 2, 3], dtype=np.float16)
    np.testing.assert_array_equal(
        sm.logsumexp(x16, b=b16),
        sm.logsumexp(x16.astype(np.float32), b=b16.astype(np.float32)).astype(
            np.float16
        ),
    )


def test_integer_and_bool_input_of_the_softmax_family_is_float64():
    for x in (np.array([[1, 2, 3]]), np.array([[True, False, True]])):
        for label, value in _softmax_calls(x, with_out=False).items():
            assert np.asarray(value).dtype == np.float64, label


def test_float16_results_too_large_are_inf_silently():
    """Computed in float32, rounded once: -inf where float16 cannot hold the
    result, without a warning (this module turns warnings into errors)."""
    x = np.array([[65504.0, -65504.0]], dtype=np.float16)
    for out in (None, np.empty_like(x)):
        r = sm.log_softmax(x, out=out)
        assert r.dtype == np.float16
        np.testing.assert_array_equal(r, [[0.0, -np.inf]])
    r = sm.logsumexp(x, b=np.array([1.0, -1.0], dtype=np.float16))
    assert r.dtype == np.float16 and r == 65504.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_logsumexp_is_computed_in_the_dtype(dtype):
    """With weights, each term is x_i + log|b_i| in the working dtype, then
    the kernel: the bits of logsumexp of those terms."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 9)).astype(dtype)
    b = rng.uniform(0.5, 3, (4, 9)).astype(dtype)
    y = x + np.log(b)
    assert y.dtype == dtype
    np.testing.assert_array_equal(sm.logsumexp(x, b=b), sm.logsumexp(y))


def test_float16_weighted_logsumexp_is_float32_rounded_once():
    """float16 x and b: computed in float32 and rounded once, not in float64
    (over many rows, a float32 result that is an ulp off sits on the other
    side of a float16 rounding boundary somewhere)."""
    rng = np.random.default_rng(11)
    x = (4 * rng.standard_normal((20_000, 4))).astype(np.float16)
    b = rng.uniform(0.1, 4, (20_000, 4)).astype(np.float16)
    want = sm.logsumexp(x.astype(np.float32), b=b.astype(np.float32))
    np.testing.assert_array_equal(sm.logsumexp(x, b=b), want.astype(np.float16))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.longdouble])
@pytest.mark.parametrize("case", list(DENSE_CASES))
def test_dense_loss_path_computes_in_the_logits_dtype(case, dtype):
    """The public loss on the dense-target path has the bits of the kernel's
    whole-array reference computed in the logits' dtype: the target rows are
    made in that dtype too (peak and smoothing terms added in float32 for
    float32 logits, not in float64 and rounded), and so is the gradient."""
    x, kw = _dense_problem(23, 10, dtype, case, seed=4)
    target = kw.pop("probs") if "probs" in kw else kw.pop("labels")
    public = {"weight": kw["weight"], "label_smoothing": kw["eps"]}
    public["ignore_index"] = kw.get("ignore_index")
    loss, grad = sm.cross_entropy_and_grad(x, target, reduction="none", **public)
    key = "probs" if target.ndim == 2 else "labels"
    want_loss, want_grad = dense_reference(x, **{key: target}, **kw)
    assert loss.dtype == grad.dtype == dtype
    np.testing.assert_array_equal(loss, want_loss)
    np.testing.assert_array_equal(grad, want_grad)
    np.testing.assert_array_equal(
        sm.cross_entropy(x, target, reduction="none", **public), want_loss
    )


def test_the_loss_alone_never_asks_the_kernel_for_a_gradient(monkeypatch):
    """cross_entropy (without the gradient) gives the dense kernel no
    gradient array: it would cost an array as large as the logits."""
    from softmaxlib import _kernels

    grads = []
    kernel = _kernels.cross_entropy_dense

    def spy(x, target, *, losses=None, grad=None):
        grads.append(grad)
        return kernel(x, target, losses=losses, grad=grad)

    monkeypatch.setattr(_kernels, "cross_entropy_dense", spy)
    x = LOGITS.astype(np.float32)
    for kind, kw in LOSS_PATHS.values():
        for reduction in ("mean", "sum", "none"):
            sm.cross_entropy(x, _target(kind, np.float32), reduction=reduction, **kw)
    assert len(grads) > 0 and all(g is None for g in grads)


def _carries_more_than_float64(value) -> bool:
    """Whether a long double result has bits float64 has not (True when it
    holds only exact entries, integers or not finite, which float64 would
    store exactly as well)."""
    v = np.asarray(value).reshape(-1)
    v = v[np.isfinite(v) & (v != np.round(v))]
    return v.size == 0 or bool(np.any(v != v.astype(np.float64)))


@pytest.mark.skipif(
    np.finfo(np.longdouble).nmant <= np.finfo(np.float64).nmant,
    reason="long double is float64 on this platform",
)
def test_long_double_is_computed_in_long_double_on_every_path():
    """Long double results are computed in long double, not in float64 and
    widened: on every path of the loss (per-example losses and gradients)
    and of the softmax family, each result carries bits beyond float64's
    (a float64 array of per-example losses, say, would drop them), and so
    does every sum and mean (the chunks' sums are added in long double, and
    the weighted divisor is summed in long double)."""
    x = LOGITS.astype(np.longdouble)
    for path, (kind, kw) in LOSS_PATHS.items():
        for label, value in loss_calls(x, _target(kind, np.longdouble), kw).items():
            assert _carries_more_than_float64(value), f"{path}, {label}"
    for label, value in _softmax_calls(x).items():
        assert _carries_more_than_float64(value), label


def test_an_empty_float_target_of_the_batch_shape_is_class_indices():
    """An empty list (float64 to NumPy) of the batch's shape is an empty batch
    of class indices, for 2-D and 3-D logits; with ignore_index too."""
    for shape in ((0, 3), (0, 4, 3)):
        x = np.ones(shape, dtype=np.float32)
        for target in (
            ([], np.zeros(shape[:-1])) if len(shape) == 2 else (np.zeros(shape[:-1]),)
        ):
            loss, grad = sm.cross_entropy_and_grad(
                x, target, reduction="none", ignore_index=-1
            )
            assert loss.shape == shape[:-1] and grad.shape == shape
            assert loss.dtype == grad.dtype == np.float32
            assert sm.cross_entropy(x, target, reduction="sum") == 0
