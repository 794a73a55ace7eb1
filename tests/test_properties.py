"""Property tests with hypothesis (derandomised, so every run checks the same cases)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as ss
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmaxlib as sm

# softmaxlib must never warn (no overflow, no 0 * inf, no log(0)).
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

SETTINGS = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
U = np.finfo(np.float64).eps / 2

shapes = st.tuples(st.integers(1, 6), st.integers(1, 9))
finite = st.floats(-700, 700, allow_nan=False, allow_infinity=False, width=64)
# multiples of 2**-10 in [-2**10, 2**10]: sums and differences of two are exact
dyadic = st.integers(-(2**20), 2**20).map(lambda k: k / 1024.0)


@st.composite
def logits(draw, elements=finite, masks=True):
    shape = draw(shapes)
    x = draw(hnp.arrays(np.float64, shape, elements=elements))
    if masks and draw(st.booleans()):
        mask = draw(hnp.arrays(np.bool_, shape))
        keep = draw(
            hnp.arrays(np.intp, shape[0], elements=st.integers(0, shape[1] - 1))
        )
        mask[np.arange(shape[0]), keep] = False  # at least one finite entry per row
        x = np.where(mask, -np.inf, x)
    return x


@SETTINGS
@given(x=logits(elements=dyadic), c=dyadic)
def test_shift_invariance(x, c):
    """With exact shifts, x - max is unchanged, so the results are bit-identical."""
    y = x + c
    np.testing.assert_array_equal(sm.softmax(y), sm.softmax(x))
    np.testing.assert_array_equal(sm.log_softmax(y), sm.log_softmax(x))
    np.testing.assert_allclose(
        sm.logsumexp(y), sm.logsumexp(x) + c, rtol=4 * U, atol=4 * U * abs(c)
    )


@SETTINGS
@given(x=logits())
def test_softmax_is_a_distribution(x):
    p = sm.softmax(x)
    q = x.shape[-1]
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=0, atol=(q + 2) * 2 * U)
    assert np.all(p[np.isneginf(x)] == 0)
    assert np.all(p[x == x.max(axis=-1, keepdims=True)] > 0)


@SETTINGS
@given(x=logits())
def test_bounds_of_logsumexp_and_log_softmax(x):
    m = x.max(axis=-1)
    lse = sm.logsumexp(x)
    q = x.shape[-1]
    assert np.all(lse >= m) and np.all(
        lse <= m + np.log(q) * (1 + 4 * U) + 4 * U * abs(m)
    )
    lp = sm.log_softmax(x)
    assert np.all(lp <= 0)
    np.testing.assert_array_equal(np.isneginf(lp), np.isneginf(x))


@SETTINGS
@given(x=logits())
def test_log_softmax_is_log_of_softmax_where_representable(x):
    p = sm.softmax(x)
    lp = sm.log_softmax(x)
    ok = p >= np.finfo(np.float64).tiny  # normal numbers: log(p) is meaningful
    with np.errstate(divide="ignore"):
        logp = np.log(p)
    # p carries the rounding of x - max (|x - max| u) plus a few u; log turns
    # that relative error into an absolute one.
    tol = 8 * U * (np.abs(lp) + 1)
    assert np.all(np.abs(lp[ok] - logp[ok]) <= tol[ok])
    assert np.all(p[np.isneginf(lp)] == 0)  # (p may underflow where lp is finite)


@SETTINGS
@given(x=logits(masks=False), data=st.data())
def test_agreement_with_scipy(x, data):
    np.testing.assert_allclose(
        sm.softmax(x), ss.softmax(x, axis=-1), rtol=1e-13, atol=1e-300
    )
    np.testing.assert_allclose(
        sm.log_softmax(x), ss.log_softmax(x, axis=-1), rtol=1e-13, atol=1e-13
    )
    np.testing.assert_allclose(
        sm.logsumexp(x), ss.logsumexp(x, axis=-1), rtol=1e-14, atol=1e-14
    )


@SETTINGS
@given(
    x=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=4, max_side=4),
        elements=finite,
    ),
    data=st.data(),
)
def test_moving_the_class_axis_gives_the_same_result(x, data):
    axis = data.draw(st.integers(0, x.ndim - 1))
    moved = np.moveaxis(x, axis, -1)
    for f in (sm.softmax, sm.log_softmax):
        np.testing.assert_array_equal(f(x, axis=axis), np.moveaxis(f(moved), -1, axis))
    np.testing.assert_array_equal(sm.logsumexp(x, axis=axis), sm.logsumexp(moved))


# ---------------------------------------------------------------- the loss


@st.composite
def problems(draw):
    """logits (n, q), labels (n,), optional weight and label smoothing."""
    n, q = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    x = draw(hnp.arrays(np.float64, (n, q), elements=st.floats(-30, 30, width=64)))
    y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, q - 1)))
    weight = draw(
        st.none() | hnp.arrays(np.float64, q, elements=st.floats(0.1, 3, width=64))
    )
    eps = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    return x, y, weight, eps


@SETTINGS
@given(pb=problems())
def test_one_hot_and_class_index_targets_agree(pb):
    x, y, weight, eps = pb
    y1 = sm.one_hot(y, x.shape[-1])
    kw = {"weight": weight, "label_smoothing": eps}
    for reduction in ("none", "sum"):
        a = sm.cross_entropy_and_grad(x, y, reduction=reduction, **kw)
        b = sm.cross_entropy_and_grad(x, y1, reduction=reduction, **kw)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-13, atol=1e-15)
    # the means differ only in the divisor: sum of target weights versus n
    total = sm.cross_entropy(x, y, reduction="sum", **kw)
    divisor = len(y) if weight is None else weight[y].sum()
    np.testing.assert_allclose(
        sm.cross_entropy(x, y, **kw), total / divisor, rtol=1e-14
    )
    np.testing.assert_allclose(
        sm.cross_entropy(x, y1, **kw), total / len(y), rtol=1e-14
    )


@SETTINGS
@given(pb=problems(), soft=st.booleans(), scale=st.sampled_from([1.0, 0.3, 2.5]))
def test_gradient_matches_central_differences(pb, soft, scale):
    x, y, weight, eps = pb
    q = x.shape[-1]
    if soft:  # probability targets, not necessarily summing to one
        rng = np.random.default_rng(int(abs(x).sum() * 1000) % 2**32)
        target = scale * rng.dirichlet(np.ones(q), size=len(y))
    else:
        target = y
    kw = {"weight": weight, "label_smoothing": eps}
    g = sm.cross_entropy_grad(x, target, **kw)
    h = 1e-5
    num = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        diff = sm.cross_entropy(xp, target, **kw) - sm.cross_entropy(xm, target, **kw)
        num[idx] = diff / (2 * h)
    scale_g = max(1.0, float(np.abs(g).max()))
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-7 * scale_g)


@SETTINGS
@given(pb=problems())
def test_loss_is_shift_invariant_and_nonnegative(pb):
    x, y, weight, eps = pb
    kw = {"weight": weight, "label_smoothing": eps, "reduction": "none"}
    loss = sm.cross_entropy(x, y, **kw)
    assert np.all(loss >= 0)
    shifted = sm.cross_entropy(x + 1024.0, y, **kw)
    np.testing.assert_allclose(shifted, loss, rtol=1e-9, atol=1e-9)
    g = sm.cross_entropy_grad(x, y, **kw)
    # with class-index targets every row of the gradient sums to zero
    np.testing.assert_allclose(g.sum(axis=-1), 0.0, atol=1e-13 * (1 + np.abs(g).max()))
