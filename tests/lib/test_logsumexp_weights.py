"""logsumexp with weights ``b`` and ``return_sign``: semantics and the error
bound stated in its Notes, checked against mpmath at 60 digits.

For a row x with weights b, S = sum_i b_i exp(x_i) = P_+ - P_-, l_+- = log P_+-,
y_i = x_i + log|b_i| and kappa = (P_+ + P_-) / |S|, the Notes state

    b >= 0:      |error| <= E_+ u,
    mixed signs: |error| <= kappa max(E_+, E_-) u
                            + (|log|S|| + 1 + mu (1 + log kappa)) u,

E_+- = |l_+-| + B + W_+-, B = mu log q + mu + c_q the constant of the
unweighted bound, W_+- the largest |y_i| + mu |log|b_i|| over the terms of that
sign with |b_i| != 1. The bounds are first order in u; the cases keep
kappa u well below 1 (past that there is no correct digit to measure).
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import scipy
import scipy.special as ss
from _profile import THOROUGH
from packaging.version import Version

import softmaxlib as sm

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

U = {np.float64: 2.0**-53, np.float32: 2.0**-24}
MU = {np.float64: 2.0, np.float32: 4.0}  # as in the error model of the Notes
INF = np.inf


# ------------------------------------------------------------ semantics


def test_b_none_and_unit_weights_give_the_same_bits():
    """b=None is the kernel path; b = 1 shifts by log 1 = 0 exactly, so it runs
    the same kernel on the same numbers."""
    rng = np.random.default_rng(17)
    for dtype in (np.float64, np.float32):
        x = (30 * rng.standard_normal((40, 33))).astype(dtype)
        x[3, 5] = -INF
        want = sm.logsumexp(x)
        got = sm.logsumexp(x, b=np.ones(33, dtype))
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


def test_log_mean_exp():
    x = np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]])
    np.testing.assert_allclose(
        sm.logsumexp(x, b=0.5), [np.log(2.0), 1000.0], rtol=1e-15
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_dtypes(dtype):
    """float32 stays float32 (a Python number b keeps x's dtype, as in NumPy's
    promotion); float16 is computed in float32 and rounded once."""
    x = np.array([1.0, 2.0, 3.0], dtype)
    for b in (0.5, np.array([0.5, 1.0, 2.0], dtype)):
        r = sm.logsumexp(x, b=b)
        assert type(r) is dtype
        work = np.float32 if dtype == np.float16 else dtype
        want = sm.logsumexp(x.astype(work), b=np.asarray(b, work))
        assert r == want.astype(dtype)
    assert sm.logsumexp(x, b=[1, 2, 3]).dtype == np.result_type(dtype, np.int64)


def test_zero_weights_remove_terms_even_inf_and_nan():
    x = np.array([1.0, INF, NAN := np.nan, -INF])
    assert sm.logsumexp(x, b=[1.0, 0.0, 0.0, 5.0]) == 1.0
    assert sm.logsumexp(x, b=[1.0, 0.0, -0.0, 0.0], return_sign=True) == (1.0, 1.0)
    r, s = sm.logsumexp(x, b=0.0, return_sign=True)
    assert r == -INF and s == 0
    assert np.isnan(sm.logsumexp([1.0, 2.0], b=[1.0, NAN]))


@pytest.mark.parametrize(
    "x, b, want",
    [
        ([INF], [-1.0], (INF, -1.0)),
        ([INF, 0.0], [1.0, -1.0], (INF, 1.0)),
        ([INF, INF], [1.0, -1.0], (np.nan, np.nan)),
        ([-INF, -INF], [1.0, -1.0], (-INF, 0.0)),
        ([3.0, 3.0], [2.0, -2.0], (-INF, 0.0)),
        ([0.0, np.log(2.0)], [2.0, -1.0], (-INF, 0.0)),
        ([np.nan, 1.0], [1.0, -1.0], (np.nan, np.nan)),
    ],
)
def test_special_values_agree_with_scipy(x, b, want):
    got = sm.logsumexp(x, b=b, return_sign=True)
    with np.errstate(all="ignore"):
        ref = ss.logsumexp(x, b=b, return_sign=True)
    np.testing.assert_array_equal(got, want)
    if Version(scipy.__version__) >= Version("1.16"):  # earlier: gh-22601, gh-22903
        np.testing.assert_array_equal(got, ref)


def test_negative_sum_is_nan_without_return_sign():
    assert np.isnan(sm.logsumexp([1.0, 2.0], b=[1.0, -1.0]))
    r = sm.logsumexp([[1.0, 2.0], [2.0, 1.0]], b=[1.0, -1.0])
    assert np.isnan(r[0]) and r[1] == pytest.approx(np.log(np.e**2 - np.e))


def test_broadcasting_keepdims_and_axes():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 1, 5))
    b = rng.standard_normal((3, 5))
    full = np.broadcast_to(x, (4, 3, 5))
    bb = np.broadcast_to(b, (4, 3, 5))
    for axis in (-1, 0, (0, 2), None):
        for keepdims in (False, True):
            r, s = sm.logsumexp(x, axis, b=b, keepdims=keepdims, return_sign=True)
            rr, ss_ = ss.logsumexp(
                full, axis, b=bb, keepdims=keepdims, return_sign=True
            )
            assert np.shape(r) == np.shape(rr) == np.shape(s)
            np.testing.assert_allclose(r, rr, rtol=1e-12, atol=1e-12)
            np.testing.assert_array_equal(s, ss_)


def test_no_write_back_and_layouts():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 9))
    b = rng.standard_normal((6, 9))
    x0, b0 = x.copy(), b.copy()
    want = sm.logsumexp(x, b=b, return_sign=True)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(b, b0)
    for xv, bv in ((np.asfortranarray(x), b[:, ::-1][:, ::-1]), (x.T.T, b0)):
        np.testing.assert_array_equal(sm.logsumexp(xv, b=bv, return_sign=True), want)


def test_bad_b():
    with pytest.raises(TypeError, match=r"logsumexp: b must be real"):
        sm.logsumexp([1.0], b=[1j])
    with pytest.raises(TypeError, match=r"logsumexp: b must be a real numeric"):
        sm.logsumexp([1.0], b=["a"])
    with pytest.raises(ValueError, match=r"logsumexp: b of shape \(3,\) does not"):
        sm.logsumexp([1.0, 2.0], b=[1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match=r"x must be real"):
        sm.logsumexp([1j], b=[1.0])


# ------------------------------------------------------------ accuracy


def c_q(q: int) -> float:
    return min(max(q - 2, 0), 18 + math.log2(q))


def reference(x: np.ndarray, b: np.ndarray):
    """(log|S| and sign, kappa, l_+, l_-) of one row at 60 digits."""
    with mp.workdps(60):
        e = [
            mp.mpf(float(bi)) * mp.exp(mp.mpf(float(xi)))
            for xi, bi in zip(x, b, strict=True)
        ]
        pos = mp.fsum(v for v in e if v > 0)
        neg = -mp.fsum(v for v in e if v < 0)
        s = pos - neg
        kappa = (pos + neg) / abs(s) if s else mp.inf
        logs = [mp.log(v) if v else -mp.inf for v in (abs(s), pos, neg)]
        return logs[0], int(mp.sign(s)), kappa, logs[1], logs[2]


def bound(x: np.ndarray, b: np.ndarray, dtype, exact=None) -> float:
    """The bound of the Notes in units of u, from the exact values (``exact``:
    reference(x, b) if already computed, the costly part)."""
    u, mu, q = U[dtype], MU[dtype], x.size
    r, _, kappa, lp, ln = reference(x, b) if exact is None else exact
    big_b = mu * math.log(q) + mu + c_q(q)
    e = []
    for part, ell in ((b > 0, lp), (b < 0, ln)):
        if not part.any():
            e.append(0.0)
            continue
        shifted = part & (np.abs(b) != 1)
        with mp.workdps(60):
            w = max(
                (
                    float(abs(mp.mpf(float(xi)) + mp.log(abs(mp.mpf(float(bi))))))
                    + mu * abs(math.log(abs(float(bi))))
                    for xi, bi in zip(x[shifted], b[shifted], strict=True)
                ),
                default=0.0,
            )
        e.append(abs(float(ell)) + big_b + w)
    if not (b < 0).any():
        return e[0] * u
    k = float(kappa)
    return k * max(e) * u + (abs(float(r)) + 1 + mu * (1 + math.log(k))) * u


def worst_ratio(x: np.ndarray, b: np.ndarray, dtype, exact=None) -> float:
    """max over rows of |error| / bound; exact where the sum cancels exactly
    (``exact``: reference() of each row, if already computed)."""
    got, sign = sm.logsumexp(x, b=b, return_sign=True)
    if exact is None:
        exact = [reference(x[i], b[i]) for i in range(x.shape[0])]
    worst = 0.0
    for i in range(x.shape[0]):
        r, s, kappa, _, _ = exact[i]
        assert sign[i] == s
        if s == 0:
            assert got[i] == -INF
            continue
        assert float(kappa) * U[dtype] < 1e-2, "outside the first-order domain"
        err = float(abs(mp.mpf(float(got[i])) - r))
        worst = max(worst, err / bound(x[i], b[i], dtype, exact[i]))
    return worst


def random_case(rng, dtype, rows, q, scale, signs):
    x = (scale * rng.standard_normal((rows, q))).astype(dtype)
    mag = 10.0 ** rng.uniform(-5, 5, (rows, q))
    mag[rng.random((rows, q)) < 0.2] = 1.0
    mag[rng.random((rows, q)) < 0.05] = 0.0
    sign = np.where(rng.random((rows, q)) < signs, -1.0, 1.0)
    return x, (sign * mag).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("q", [1, 2, 3, 9, 64])
@pytest.mark.parametrize("scale", [1.0, 30.0, 300.0])
@pytest.mark.parametrize("signs", [0.0, 0.3])
def test_random_rows_are_within_the_stated_bound(dtype, q, scale, signs):
    rng = np.random.default_rng(
        [q, int(scale), int(10 * signs), U[dtype] == U[np.float32]]
    )
    rows = 40 if THOROUGH else 20  # the test profile (_profile.py)
    x, b = random_case(rng, dtype, rows, q, scale, signs)
    exact = [reference(x[i], b[i]) for i in range(rows)]
    if signs:  # keep the rows in the first-order domain kappa u << 1
        keep = [float(e[2]) * U[dtype] < 1e-3 for e in exact]
        x, b = x[keep], b[keep]
        exact = [e for e, k in zip(exact, keep, strict=True) if k]
    assert worst_ratio(x, b, dtype, exact) <= 1.0


def cancelling_case(rng, dtype, rows, q, spread, offset, eps):
    """Rows whose last weight nearly cancels the others: kappa about 1/eps."""
    x = (offset + spread * rng.standard_normal((rows, q))).astype(dtype)
    b = (10.0 ** rng.uniform(-2, 2, (rows, q))).astype(dtype)
    with mp.workdps(60):
        for i in range(rows):
            rest = mp.fsum(
                mp.mpf(float(bi)) * mp.exp(mp.mpf(float(xi)))
                for xi, bi in zip(x[i, :-1], b[i, :-1], strict=True)
            )
            last = (
                -rest
                * (1 + eps * (1 if i % 2 else -1))
                / mp.exp(mp.mpf(float(x[i, -1])))
            )
            b[i, -1] = dtype(float(last))
    return x, b


@pytest.mark.parametrize(
    "dtype, eps",
    [(np.float64, 10.0**-k) for k in (1, 4, 8, 11)]
    + [(np.float32, 10.0**-k) for k in (1, 2, 3)],
)
@pytest.mark.parametrize(
    "q, spread, offset",
    [(2, 1.0, 0.0), (5, 10.0, 0.0), (50, 3.0, 0.0), (3, 2.0, 700.0), (4, 2.0, -700.0)],
)
def test_cancellation_is_within_the_stated_bound(dtype, eps, q, spread, offset):
    rng = np.random.default_rng(
        [q, int(spread), int(offset) + 1000, int(-math.log10(eps))]
    )
    x, b = cancelling_case(rng, dtype, 20, q, spread, offset, eps)
    assert worst_ratio(x, b, dtype) <= 1.0


def test_exact_cancellation_is_minus_inf_with_sign_zero():
    x = np.array([[1.0, 1.0], [0.0, np.log(4.0)], [-1e300, -1e300]])
    b = np.array([[1.0, -1.0], [-4.0, 1.0], [0.5, -0.5]])
    r, s = sm.logsumexp(x, b=b, return_sign=True)
    np.testing.assert_array_equal(r, [-INF, -INF, -INF])
    np.testing.assert_array_equal(s, [0.0, 0.0, 0.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_difference_of_two_terms_is_accurate_on_both_sides_of_log_2(dtype):
    """log|e^0 - e^-d| = log(1 - e^-d), by log1p(-e^-d) above d = log 2 and
    log(-expm1(-d)) below (Maechler 2012): a few ulps of the result itself,
    also where it is tiny (d = 40: about -4.2e-18, where log(1 - e^-d)
    computed as log(-expm1(-d)) would be 0)."""
    mp.mp.dps = 60
    u = U[dtype]
    for d in (1e-3, 0.3, 0.69, 0.7, 1.5, 5.0, 15.0, 40.0):
        x = np.array([0.0, -d], dtype=dtype)
        r, sign = sm.logsumexp(
            x, b=np.array([1.0, -1.0], dtype=dtype), return_sign=True
        )
        exact = mp.log(1 - mp.exp(mp.mpf(float(x[1]))))
        assert sign == 1
        assert abs(float((mp.mpf(float(r)) - exact) / exact)) <= 4 * u, d
        r, sign = sm.logsumexp(
            x, b=np.array([-1.0, 1.0], dtype=dtype), return_sign=True
        )
        assert sign == -1 and abs(float((mp.mpf(float(r)) - exact) / exact)) <= 4 * u
