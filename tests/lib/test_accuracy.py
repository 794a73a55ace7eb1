"""The documented accuracy of softmax, log_softmax and logsumexp, checked against
mpmath references computed at 50 significant digits.

The bounds are stated in the Notes of the three functions and in chapters/api.md
(section "Numerical behaviour"). Each is checked here over the domain it claims:
on random rows, on rows built to be worst cases, on float32 rows found by a scan
of NumPy's float32 ``exp``, and on derandomised hypothesis examples.

The error model, first order in the unit roundoff u (2**-53 for float64, 2**-24
for float32; float16 input is computed in float32 and rounded once). For a row
x with (first) maximum x_k, t_i = x_i - x_k, s = sum_{i != k} exp(t_i),
lambda = log1p(s) = -log p_k and p = softmax(x):

* the kernels round each t_i once, an absolute error tau_i u with tau_i <= |t_i|
  (0 where the difference is exact);
* NumPy's exp and log1p have relative errors of at most mu u (MU; checked on
  this machine by test_numpy_exp_and_log1p_are_within_mu);
* NumPy's pairwise sum passes each term of s through at most c_q roundings
  (:func:`c_q`);
* a term exp(t_i) below the normal range (t_i < log r_min, r_min the smallest
  normal number) has an absolute error of up to mu / 2 units of the smallest
  subnormal, mu u r_min, instead: with N_u such terms, omega = N_u mu u r_min
  is added to each absolute error below (and omega / u to the relative
  error of softmax). In ulps that is at most N_u mu r_min / |result|:
  nothing visible unless the result is close to the underflow threshold.

With S = sum_{i != k} p_i (tau_i + mu + c_q):

    softmax_i:      relative error <= (tau_i + mu + 2 + S) u, (2 + S) u at i = k;
    log_softmax_j:  absolute error <= (tau_j + |log p_j| + mu lambda + S) u,
                    (mu lambda + S) u at j = k;
    logsumexp:      absolute error <= (|LSE| + mu lambda + S) u.

The documentation states these with tau_i replaced by |t_i|, and in the simpler
forms of :func:`documented`; every check below compares the measured error
with the tight form (``tau_i``: a test of the derivation) and with the form
the documentation states. A relative error of beta u is at most beta ulps,
where an error in ulps is |error| / ulp(reference rounded to the dtype).
Results in the subnormal range are left out (the documented domain is normal
results); exact results (0, -inf at masked entries) must be exact.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import mpmath as mp
import numpy as np
import pytest
from _profile import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmaxlib as sm

# softmaxlib must never warn (no overflow, no 0 * inf, no log(0)).
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

DPS = 50
U = {np.float64: 2.0**-53, np.float32: 2.0**-24, np.float16: 2.0**-11}
#: The accuracy assumed of NumPy's exp and log1p: relative error <= MU * u.
#: float64: below one ulp on every code path; float32: NumPy's AVX2 and
#: AVX-512 exp errs by about 2.5 ulps (2.54 and 3.6 u measured on AVX2).
MU = {np.float64: 2.0, np.float32: 4.0}
#: First-order bounds: the neglected terms are below beta**2 u, which this
#: factor covers for every beta <= 1024 (the largest here are about 640).
SLACK = 1024


def work_dtype(dtype) -> type:
    """The dtype the kernels compute in (float16 is computed in float32)."""
    dtype = np.dtype(dtype).type
    return np.float32 if dtype == np.float16 else dtype


@functools.cache
def _depth(n: int) -> int:
    """Roundings on the longest path of NumPy's pairwise sum of n numbers."""
    if n < 8:
        return max(n - 1, 0)  # one by one (the first addition, to 0, is exact)
    if n <= 128:  # 8 interleaved sums, combined pairwise, then the remainder
        return n // 8 - 1 + 3 + n % 8
    half = n // 2
    half -= half % 8
    return 1 + max(_depth(half), _depth(n - half))


def c_q(q: int) -> int:
    """Roundings any term of s goes through: s adds q numbers, one of them 0."""
    return max(q - 2, 0) if q < 8 else _depth(q)


class Ref(NamedTuple):
    """A row's exact results as double-doubles (hi, lo), and the bounds' terms."""

    x: np.ndarray
    k: int  # the (first) maximum
    finite: np.ndarray
    lse: np.ndarray  # (2,)
    logp: np.ndarray  # (q, 2)
    p: np.ndarray  # (q, 2)
    lam: float  # log1p(s) = -log p_k
    t: np.ndarray  # |x_i - x_k| (0 at masked entries)
    tau: np.ndarray  # |fl(x_i - x_k) - (x_i - x_k)| / u, as the kernels round it


def _dd(v) -> tuple[float, float]:
    hi = float(v)
    return (hi, 0.0) if not math.isfinite(hi) else (hi, float(v - hi))


def row_reference(row: np.ndarray) -> Ref:
    """Exact results of one row (at least one finite entry, no +inf or NaN).

    Computed with the maximum taken out and log1p, from the exact values of
    the floating-point inputs: without that, even 60 digits cannot resolve
    log(1 + 1e-60).
    """
    w = work_dtype(row.dtype)
    finite = np.isfinite(row)
    k = int(np.argmax(np.where(finite, row, -np.inf)))
    xw = row.astype(w)
    with np.errstate(invalid="ignore"):
        d_hat = xw - xw[k]  # the differences as the kernels round them
    q = row.size
    with mp.workdps(DPS):
        m = mp.mpf(float(row[k]))
        t = [
            mp.mpf(float(v)) - m if f else None
            for v, f in zip(row, finite, strict=True)
        ]
        s = mp.fsum(mp.exp(t[i]) for i in range(q) if finite[i] and i != k)
        lam = mp.log1p(s)
        logp = [ti - lam if ti is not None else mp.ninf for ti in t]
        p = [
            mp.exp(v) if ti is not None else mp.mpf(0)
            for v, ti in zip(logp, t, strict=True)
        ]
        tau = [
            abs(mp.mpf(float(d_hat[i])) - t[i]) / U[w] if finite[i] else mp.mpf(0)
            for i in range(q)
        ]
        return Ref(
            row,
            k,
            finite,
            np.array(_dd(m + lam)),
            np.array([_dd(v) for v in logp]),
            np.array([_dd(v) for v in p]),
            float(lam),
            np.array([float(abs(ti)) if ti is not None else 0.0 for ti in t]),
            np.array([float(v) for v in tau]),
        )


def underflow(ref: Ref) -> float:
    """omega = N_u mu u r_min: the absolute error of the exp terms below the
    normal range (N_u of them), each up to mu / 2 units of the smallest
    subnormal."""
    w = work_dtype(ref.x.dtype)
    r_min = float(np.finfo(w).tiny)
    others = ref.finite.copy()
    others[ref.k] = False
    n_u = int(np.sum(ref.t[others] > -math.log(r_min)))
    return n_u * MU[w] * U[w] * r_min


def first_order(ref: Ref, tight: bool = True):
    """(softmax relative, log_softmax absolute, logsumexp absolute) errors in u,
    without the underflow term :func:`underflow`.

    With ``tight`` the rounding of x_i - x_k is the one the kernels make
    (tau_i), else its bound |x_i - x_k| as the documentation states it.
    """
    w = work_dtype(ref.x.dtype)
    mu, q = MU[w], ref.x.size
    d = ref.tau if tight else ref.t
    others = ref.finite.copy()
    others[ref.k] = False
    S = float(np.sum(ref.p[others, 0] * (d[others] + mu + c_q(q))))
    at_k = np.arange(q) == ref.k
    softmax = np.where(at_k, 2 + S, d + mu + 2 + S)
    log_softmax = np.where(
        at_k, mu * ref.lam + S, d + np.abs(ref.logp[:, 0]) + mu * ref.lam + S
    )
    return softmax, log_softmax, abs(ref.lse[0]) + mu * ref.lam + S


class Documented(NamedTuple):
    softmax: np.ndarray  # ulps, per entry
    log_softmax: np.ndarray  # ulps, per entry
    lse_abs: float  # absolute error in units of u
    lse_ulps: float  # ulps, or inf where only lse_abs is promised


def documented(ref: Ref) -> Documented:
    """The bounds as the Notes of softmax, log_softmax and logsumexp state them.

    softmax_i:      |t_i| + 2 mu + c_q + log q + 2 ulps;
    log_softmax_j:  1 + 2 mu + c_q + D ulps, D = min(max x - min x,
                    log((q - 1) / |log p_k|)); for j != k also
                    1 + mu + (log q + mu + c_q) / log 2 ulps;
    logsumexp:      absolute error (|LSE| + B) u with B = mu log q + mu + c_q;
                    2 ulps where |LSE| >= B; 1 + 2 mu + c_q + D ulps where
                    x_k >= 0.
    """
    w = work_dtype(ref.x.dtype)
    mu, q = MU[w], ref.x.size
    c, logq = c_q(q), math.log(q)
    spread = float(ref.t[ref.finite].max())
    D = min(spread, math.log((q - 1) / ref.lam)) if ref.lam > 0 else 0.0
    softmax = ref.t + 2 * mu + c + logq + 2
    log_softmax = np.full(q, 1 + 2 * mu + c + D)
    others = np.arange(q) != ref.k
    log_softmax[others] = np.minimum(
        log_softmax[others], 1 + mu + (logq + mu + c) / math.log(2)
    )
    B = mu * logq + mu + c
    lse_ulps = math.inf
    if abs(ref.lse[0]) >= B:
        lse_ulps = 2.0
    if ref.x[ref.k] >= 0:
        lse_ulps = min(lse_ulps, 1 + 2 * mu + c + D)
    return Documented(softmax, log_softmax, abs(ref.lse[0]) + B, lse_ulps)


def abs_errors(got, ref_dd: np.ndarray) -> np.ndarray:
    """|got - exact| (float64), 0 where both are the same infinity."""
    got = np.asarray(got, dtype=np.float64)
    hi, lo = ref_dd[..., 0], ref_dd[..., 1]
    with np.errstate(invalid="ignore"):
        err = np.abs((got - hi) - lo)  # got - hi is exact when they are close
    return np.where(got == hi, np.abs(lo), err)


def spacing(values, dtype) -> np.ndarray:
    """ulp of ``values`` rounded to ``dtype``, as float64."""
    with np.errstate(over="ignore"):
        return np.spacing(np.abs(np.asarray(values).astype(dtype))).astype(np.float64)


def is_normal(values, dtype) -> np.ndarray:
    return np.abs(values) >= float(np.finfo(dtype).tiny)


class Worst(NamedTuple):
    softmax: float  # ulps
    log_softmax: float
    logsumexp: float
    ratio: float  # largest error / tight first-order bound


def check(x: np.ndarray) -> Worst:
    """Assert every derived and documented bound on the rows of ``x`` (n, q).

    Returns the largest errors in ulps and the largest ratio of an error to
    its tight first-order bound.
    """
    dtype = x.dtype.type
    if dtype == np.float16:
        return check_float16(x)
    u = U[dtype]
    slack = 1 + SLACK * u
    p_all, logp_all, lse_all = sm.softmax(x), sm.log_softmax(x), sm.logsumexp(x)
    assert p_all.dtype == logp_all.dtype == lse_all.dtype == dtype
    worst = dict.fromkeys(Worst._fields, 0.0)
    for i, row in enumerate(x):
        ref = row_reference(row)
        tight_p, tight_l, tight_lse = first_order(ref)
        t_p, t_l, t_lse = first_order(ref, tight=False)
        omega = underflow(ref)
        doc = documented(ref)
        where = (i, row.tolist())
        masked = ~ref.finite
        assert np.all(p_all[i][masked] == 0), where
        assert np.all(logp_all[i][masked] == -np.inf), where

        # softmax: relative error <= tight u; ulps <= documented
        ref_p = ref.p[:, 0]
        normal = is_normal(ref_p, dtype)
        err = abs_errors(p_all[i], ref.p)[normal]
        ref_p = ref_p[normal]
        rel = err / (u * ref_p)
        e_ulps = err / spacing(ref_p, dtype)
        extra = omega / (u * ref_p)  # in ulps, N_u mu r_min / p_i
        assert np.all(rel <= tight_p[normal] * slack + omega / u), (where, rel)
        assert np.all(e_ulps <= doc.softmax[normal] * slack + extra), (where, e_ulps)
        assert np.all(t_p[normal] <= doc.softmax[normal] * slack), where
        if normal.any():
            worst["softmax"] = max(worst["softmax"], float(e_ulps.max()))
            ratio = float(np.max(rel / tight_p[normal]))
            worst["ratio"] = max(worst["ratio"], ratio)

        # log_softmax: absolute error <= tight u; ulps <= documented
        ref_l = ref.logp[:, 0]
        err = abs_errors(logp_all[i], ref.logp)
        assert np.all(err[ref_l == 0] == 0), where  # one finite entry: exactly 0
        normal = is_normal(ref_l, dtype) & ref.finite
        err, ref_l = err[normal], ref_l[normal]
        e_ulps = err / spacing(ref_l, dtype)
        extra = omega / (u * np.abs(ref_l))
        bound = tight_l[normal] * u * slack + omega
        assert np.all(err <= bound), (where, err / u, tight_l)
        doc_l = doc.log_softmax[normal]
        assert np.all(e_ulps <= doc_l * slack + extra), (where, e_ulps, doc_l)
        rel_t = t_l[normal] / np.abs(ref_l)
        assert np.all(rel_t <= doc_l * slack), where
        if normal.any():
            worst["log_softmax"] = max(worst["log_softmax"], float(e_ulps.max()))
            ratio = float(np.max(err / (u * tight_l[normal])))
            worst["ratio"] = max(worst["ratio"], ratio)

        # logsumexp: absolute error <= tight u and documented u; ulps where stated
        lse = ref.lse[0]
        if not is_normal(lse, dtype):
            continue
        err = float(abs_errors(lse_all[i], ref.lse))
        assert err <= tight_lse * u * slack + omega, (where, err / u, tight_lse)
        assert err <= doc.lse_abs * u * slack + omega, (where, err / u, doc.lse_abs)
        assert t_lse <= doc.lse_abs * slack, where
        e_ulps = err / float(spacing(lse, dtype))
        extra = omega / (u * abs(lse))
        assert e_ulps <= doc.lse_ulps * slack + extra, (where, e_ulps, doc.lse_ulps)
        assert t_lse <= doc.lse_ulps * abs(lse) * slack, where
        worst["logsumexp"] = max(worst["logsumexp"], e_ulps)
        worst["ratio"] = max(worst["ratio"], err / (u * tight_lse))
    return Worst(**worst)


def check_float16(x: np.ndarray) -> Worst:
    """float16: the float32 result rounded once.

    Documented: softmax and log_softmax within 1/2 + 2**-13 beta ulps (beta
    the float32 bound in ulps), which is below 1 ulp; logsumexp within half
    an ulp plus the float32 absolute bound (|LSE| + B) u_32, so within 1 ulp
    where |LSE| >= B / 4095. (No exp term of a row of float16 values whose
    results are normal in float16 underflows in float32 unless it is
    negligible, so the underflow term is left out.)
    """
    p_all, logp_all, lse_all = sm.softmax(x), sm.log_softmax(x), sm.logsumexp(x)
    assert p_all.dtype == logp_all.dtype == lse_all.dtype == np.float16
    f16, u32 = np.float16, U[np.float32]
    worst = dict.fromkeys(Worst._fields, 0.0)
    for i, row in enumerate(x):
        ref = row_reference(row)  # from the float16 values, rounded in float32
        doc = documented(ref)
        where = (i, row.tolist())
        for name, got, ref_dd, beta in (
            ("softmax", p_all[i], ref.p, doc.softmax),
            ("log_softmax", logp_all[i], ref.logp, doc.log_softmax),
        ):
            normal = is_normal(ref_dd[:, 0], f16) & ref.finite
            err = abs_errors(got, ref_dd)[normal]
            e_ulps = err / spacing(ref_dd[normal, 0], f16)
            bound = 0.5 + 2.0**-13 * beta[normal]
            assert np.all(bound < 1), where
            assert np.all(e_ulps <= bound), (where, e_ulps, bound)
            if normal.any():
                worst[name] = max(worst[name], float(e_ulps.max()))
        lse = ref.lse[0]
        err = float(abs_errors(lse_all[i], ref.lse))
        half = 0.5 * max(spacing(lse, f16), spacing(lse_all[i], f16))
        assert err <= half + u32 * doc.lse_abs * (1 + SLACK * u32), (where, err)
        if is_normal(lse, f16):
            e_ulps = err / float(spacing(lse, f16))
            B = doc.lse_abs - abs(lse)
            if abs(lse) >= B / 4095:
                assert e_ulps <= 1, (where, e_ulps)
            worst["logsumexp"] = max(worst["logsumexp"], e_ulps)
    return Worst(**worst)


# --------------------------------------------------------------- random rows

CASES = (
    "scale1",
    "scale10",
    "scale100",
    "scale1000",
    "offset+1e4",
    "offset-1e4",
    "dominant",
)
DTYPES = (np.float64, np.float32)
SHAPES = ((40, 16), (8, 128))


def make_logits(case: str, dtype, rows: int, q: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((rows, q))
    if case.startswith("scale"):
        x = float(case[5:]) * z
    elif case == "offset+1e4":
        x = 1e4 + z
    elif case == "offset-1e4":
        x = -1e4 + z
    else:  # one logit 30 to 90 above the others: log p_k between -1e-13, -1e-39
        x = z.copy()
        cols = rng.integers(0, q, size=rows)
        x[np.arange(rows), cols] = rng.uniform(30.0, 90.0, size=rows)
    return x.astype(dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", CASES)
def test_random_rows_are_within_the_documented_bounds(case, dtype, shape):
    check(make_logits(case, dtype, *shape, seed=0))


@pytest.mark.parametrize("case", CASES)
def test_float16_random_rows(case):
    x = make_logits(case, np.float16, 20, 8, 3)
    if not np.all(np.isfinite(x)):
        pytest.skip("float16 overflows for this case")
    check(x)


# ------------------------------------------------------- constructed worst cases


def tie_rows(dtype, e: int, q: int = 2) -> np.ndarray:
    """Rows whose differences x_i - x_k round by the most they can: |t| u.

    x_k = h = 2**e u and x_i the float just below -n log 2, for the n with
    2**e <= n log 2 < 2**(e + 1) (and exp(x_i) normal): x_i - h lies halfway
    between two floats, so it rounds by h = ulp(t) / 2, a relative error of
    u 2**e / |t|, up to u; exp(t) lies just below a power of 2, where a
    relative error is worth the most ulps. With q > 2 the other entries are
    copies of x_i (so s sums them).
    """
    dtype = np.dtype(dtype).type
    h = dtype(2.0**e * U[dtype])
    top = min(2.0 ** (e + 1), -math.log(float(np.finfo(dtype).tiny)) - 1)
    rows = []
    for n in range(math.ceil(2.0**e / math.log(2)), int(top / math.log(2)) + 1):
        xi = np.nextafter(dtype(-n * math.log(2)), dtype(-np.inf))
        rows.append([h] + [xi] * (q - 1))
    return np.array(rows, dtype=dtype)


@pytest.mark.parametrize(
    ("dtype", "e", "q"),
    [
        (np.float64, 9, 2),  # |t| in [512, 708]: softmax and log p_k ~512 ulps
        (np.float64, 5, 2),  # |t| in [32, 64): logsumexp ~16 ulps (x_k ~ lambda)
        (np.float64, 3, 20),
        (np.float64, 5, 130),  # many classes: the pairwise sum's longer chains
        (np.float32, 6, 2),  # |t| in [64, 87]: ~64 ulps
        (np.float32, 3, 2),
        (np.float32, 4, 9),
    ],
)
def test_rows_with_the_worst_rounded_differences(dtype, e, q):
    """The rounding of x_i - x_k costs up to |x_i - x_k| ulps, not half of it."""
    x = tie_rows(dtype, e, q)
    worst = check(x)
    # the |t| term is attained, not only allowed: at least 3/4 of 2**e ulps
    assert max(worst.softmax, worst.log_softmax) >= 0.75 * 2**e, worst


def test_logsumexp_near_zero():
    """Close to zero, x_k and log1p(s) cancel (the condition number is
    unbounded) and only the absolute bound (|LSE| + B) u holds; rows with
    x_k < 0 and LSE close to 0, and rows [a, a] with a next to -log 2."""
    rng = np.random.default_rng(11)
    q = 3
    x = rng.standard_normal((150, q)) - np.log(q) - 0.3
    a = np.nextafter(-math.log(2), np.array([-np.inf] * 8 + [np.inf] * 8))
    for j in range(1, 8):
        a[j] = np.nextafter(a[j - 1], -np.inf)
        a[8 + j] = np.nextafter(a[7 + j], np.inf)
    pairs = np.stack([a, a], axis=1)
    check(x)
    check(pairs)
    check(pairs.astype(np.float32))


# --------------------------------------- float32 rows at NumPy's worst exp values


def _float32_range(lo: float, hi: float, step: int) -> np.ndarray:
    """Every ``step``-th float32 in [lo, hi] (both of one sign)."""
    a, b = sorted(int(np.float32(v).view(np.uint32)) for v in (lo, hi))
    return np.arange(a, b + 1, step, dtype=np.uint32).view(np.float32)


def test_float32_rows_at_the_worst_exp_arguments():
    """Rows [0, t] for float32 t in [-87, -1/2] where NumPy's float32 exp, or
    one of the four results, is least accurate.

    With x_k = 0 the difference is exact and the kernels compute
    s = exp(t), logsumexp = log1p(s), softmax = (1, s) / (1 + s) and
    log_softmax = (0, t) - log1p(s): a scan of those float32 operations
    against float64 over 2 million values of t picks the rows, which are
    then checked with softmaxlib against mpmath.
    """
    t = _float32_range(-0.5, -87.0, 29)
    s32 = np.exp(t)
    lam32 = np.log1p(s32)
    one_s = np.float32(1) + s32
    t64 = t.astype(np.float64)
    s = np.exp(t64)
    lam = np.log1p(s)
    candidates = (
        (s32, s),
        (lam32, lam),
        (np.float32(1) / one_s, 1 / (1 + s)),
        (s32 / one_s, s / (1 + s)),
        (t - lam32, t64 - lam),
    )
    picked = set()
    for got, ref in candidates:
        e = np.abs(got - ref) / spacing(ref, np.float32)
        e[~is_normal(ref, np.float32)] = 0
        picked.update(np.argpartition(e, -4)[-4:].tolist())
    t = t[sorted(picked)]
    x = np.stack([np.zeros_like(t), t], axis=1)
    check(x)


# ----------------------------------------------------- hypothesis examples


@st.composite
def rows(draw, dtype):
    """One row: 1 to 12 classes of some scale, with ties and masks at times."""
    q = draw(st.integers(1, 12))
    width = 64 if dtype == np.float64 else 32
    scale = draw(st.sampled_from([1.0, 40.0, 700.0 if width == 64 else 85.0, 1e6]))
    elements = st.floats(-scale, scale, allow_nan=False, width=width)
    x = draw(hnp.arrays(dtype, q, elements=elements))
    if q > 1 and draw(st.booleans()):  # a tie at the maximum
        x[draw(st.integers(0, q - 1))] = x.max()
    if q > 1 and draw(st.booleans()):  # masked classes
        mask = draw(hnp.arrays(np.bool_, q))
        mask[np.argmax(x)] = False
        x[mask] = -np.inf
    return x


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_hypothesis_rows(dtype):
    @settings(
        max_examples=examples(100),
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(x=rows(dtype))
    def inner(x):
        check(x[np.newaxis])

    inner()


# ------------------------------- rows that break weaker bounds than the ones stated


def test_softmax_rounding_of_the_difference_costs_up_to_t_ulps():
    """Not a few units of roundoff plus at most |x_i - x_k| / 2 of them for
    the rounding of x_i - x_k, nor |x_i - x_k| / 2 ulps for that rounding
    alone: here |t| / 2 = 4.2, and the result is 8.7 ulps off."""
    x = np.array([0.5957517782715405, -7.8401531318823245])
    ref = row_reference(x)
    t = ref.t[1]
    # the rounding alone (exact arithmetic after it), whatever the CPU's exp:
    with mp.workdps(DPS):
        d = mp.mpf(float(x[1] - x[0]))
        p_rounded = mp.exp(d) / (1 + mp.exp(d))
        exact = mp.exp(mp.mpf(float(x[1])) - mp.mpf(float(x[0])))
        exact /= 1 + exact
        own = abs(p_rounded / exact - 1) / U[np.float64]  # 8.0 units of roundoff
        own_ulps = abs(p_rounded - exact) / float(spacing(float(exact), np.float64))
    assert float(own) > t / 2 + 3, "the old note is wrong"
    assert float(own_ulps) > t / 2, "the old API page is wrong"  # 6.7 ulps
    check(x[np.newaxis])  # the new bound: |t| + 2 mu + c_q + log q + 2 = 15.1


def test_float32_logsumexp_more_than_2_ulps():
    """float32 logsumexp is not always within 2 ulps. With NumPy's SIMD
    float32 exp (2.18 ulps off at this t) the result is 2.50 ulps off."""
    x = np.float32([0.0, -10.733426094055176])
    ref = row_reference(x)
    got = sm.logsumexp(x)
    e = float(abs_errors(got, ref.lse)) / float(spacing(ref.lse[0], np.float32))
    with mp.workdps(DPS):
        exact = mp.exp(mp.mpf(float(x[1])))
        exp_err = float(abs(mp.mpf(float(np.exp(x[1]))) - exact))
    if exp_err > 2 * float(spacing(float(exact), np.float32)):  # AVX2, AVX-512
        assert e > 2, "the old statement is wrong on this machine"
    check(x[np.newaxis])  # the new bound (x_k >= 0): 1 + 2 mu + c_q + D = 19.7


def test_log_softmax_dominant_entry_hundreds_of_ulps():
    """log_softmax can be hundreds of ulps off, not 'at most about 60':
    chapter 5 measures 431 at scale 1000, and a constructed row gives 512."""
    x = np.array([2.0**-44, -632.1502286706703])
    ref = row_reference(x)
    assert ref.tau[1] == 512  # x_1 - x_0 is a tie: it rounds by 2**9 u
    got = sm.log_softmax(x)[0]
    e = float(abs_errors(got, ref.logp[0])) / float(spacing(ref.logp[0, 0], np.float64))
    assert e > 500, "the old statement is wrong"
    worst = check(x[np.newaxis])
    assert worst.log_softmax > 500 and worst.ratio > 0.9  # the bound is nearly tight


def test_logsumexp_of_positive_tiny_results():
    """Not within a couple of units of roundoff, or a few units of roundoff
    of |x_k| close to zero: here LSE = 1.07e-14
    is a sum of two positive terms, and its error is 16.6 ulps, 66 u |x_k|."""
    x = np.array([2.0**-48, -32.577917486317446])  # x_1 - x_0 rounds by 32 u
    assert row_reference(x).tau[1] == 32
    ref = row_reference(x)
    got = sm.logsumexp(x)
    err = float(abs_errors(got, ref.lse))
    assert err / float(spacing(ref.lse[0], np.float64)) > 10
    assert err > 10 * U[np.float64] * abs(x[0]), "the old statement is wrong"
    check(x[np.newaxis])


def test_float16_logsumexp_near_zero_is_not_within_1_ulp():
    """The old API page: float16 results within 1 ulp. Close to zero the float32
    computation's absolute error can itself exceed a float16 ulp: 1.20 ulps
    here (LSE = 6.6e-5) with NumPy's float32 exp and log1p on AVX2 and on its
    baseline code paths; the float16 bound allows 9.9."""
    x = np.array([[-1.3671875, -1.0224609375, -0.953125]], dtype=np.float16)
    ref = row_reference(x[0])
    ulp16 = float(spacing(ref.lse[0], np.float16))
    got16, got32 = sm.logsumexp(x)[0], sm.logsumexp(x.astype(np.float32))[0]
    assert got16 == got32  # a multiple of 2**-24 near 6.6e-5: no second rounding
    e = float(abs_errors(got16, ref.lse)) / ulp16
    if float(abs_errors(got32, ref.lse)) > ulp16:  # NumPy's float32 log1p, here
        assert e > 1, "the old statement is wrong on this machine"
    check(x)


def test_float16_rows_with_logsumexp_near_zero():
    """Every pair of float16 values in [-0.9, -0.5] (LSE within 0.21 of zero)
    checked against float64 references: the float16 bound for logsumexp."""
    v = np.unique(np.arange(-0.9, -0.5, 2.0**-11).astype(np.float16))
    a, b = np.meshgrid(v, v)
    x = np.stack([a.ravel(), b.ravel()], axis=1)
    x64 = x.astype(np.float64)
    ref = np.logaddexp(x64[:, 0], x64[:, 1])
    err = np.abs(sm.logsumexp(x).astype(np.float64) - ref)
    q, mu = 2, MU[np.float32]
    B = mu * math.log(q) + mu + c_q(q)
    bound = 0.5 * spacing(ref, np.float16) + U[np.float32] * (np.abs(ref) + B)
    # the float64 reference's own error is below 1e-16 * 0.7, far below the slack
    assert np.all(err <= bound * (1 + 1e-6)), float(np.max(err / bound))
    normal = is_normal(ref, np.float16)
    worst = np.argsort(np.where(normal, err / spacing(ref, np.float16), 0))[-3:]
    check(x[worst])


# ------------------------------------------------ the assumptions and the rest


def test_numpy_exp_and_log1p_are_within_mu():
    """The documented bounds assume relative errors <= MU u for NumPy's exp
    and log1p; check that on this machine's code paths (strided scans in
    float32 against float64, random float64 arguments against mpmath)."""
    u32, u64 = U[np.float32], U[np.float64]
    t = _float32_range(-(2.0**-20), -87.0, 101)  # exp's arguments: <= 0
    ref = np.exp(t.astype(np.float64))
    assert np.max(np.abs(np.exp(t) - ref) / (u32 * ref)) <= MU[np.float32]
    s = _float32_range(2.0**-30, 2.0**12, 101)  # log1p's: 0 < s <= q - 1
    ref = np.log1p(s.astype(np.float64))
    assert np.max(np.abs(np.log1p(s) - ref) / (u32 * ref)) <= MU[np.float32]
    assert np.exp(np.float32(0)) == 1 and np.exp(0.0) == 1  # e_k is exactly 1
    rng = np.random.default_rng(5)
    t = -(2.0 ** rng.uniform(-20, math.log2(708), 800))
    s = 2.0 ** rng.uniform(-1000, 12, 800)
    with mp.workdps(30):
        for f, mf, args in ((np.exp, mp.exp, t), (np.log1p, mp.log1p, s)):
            got = f(args)
            for g, a in zip(got, args, strict=True):
                exact = mf(mp.mpf(float(a)))
                assert abs((mp.mpf(float(g)) - exact) / exact) <= MU[np.float64] * u64


def _pairwise_sum(a: list[float]) -> float:
    """NumPy's pairwise sum, in the order :func:`_depth` counts."""
    n = len(a)
    if n < 8:
        res = -0.0
        for v in a:
            res += v
        return res
    if n <= 128:
        r = list(a[:8])
        i = 8
        while i < n - n % 8:
            r = [r[j] + a[i + j] for j in range(8)]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for v in a[i:]:
            res += v
        return res
    half = n // 2
    half -= half % 8
    return _pairwise_sum(a[:half]) + _pairwise_sum(a[half:])


def test_c_q_is_within_its_documented_bound():
    """c_q <= max(q - 2, 0) and c_q <= 18 + log2 q, as the Notes state; and
    the order c_q counts is NumPy's (which the kernels reproduce bit for bit)."""
    for q in list(range(1, 600)) + [1000, 4096, 10**5, 10**6]:
        assert c_q(q) <= max(q - 2, 0) and c_q(q) <= 18 + math.log2(q), q
    rng = np.random.default_rng(2)
    for n in [*range(1, 40), 127, 128, 129, 255, 1000, 5000]:
        a = rng.standard_normal(n) * 10.0 ** rng.uniform(-8, 8, n)
        assert np.sum(a) == _pairwise_sum(a.tolist()), n
        assert np.sum(np.stack([a, a]), axis=1)[0] == _pairwise_sum(a.tolist()), n


def test_dominant_entry_of_log_softmax():
    """scipy, torch and JAX return 0 here; the exact value is -1.0000...e-40."""
    x = np.array([0.0, -92.10340371976183])
    got = sm.log_softmax(x)[0]
    ref = row_reference(x)
    assert got < 0
    check(x[np.newaxis])
    # x_k = 0: the difference is exact, and the bound is 2 mu = 4 ulps
    for value in (got, -sm.cross_entropy(x, 0)):
        err = float(abs_errors(value, ref.logp[0]))
        assert err <= 2 * MU[np.float64] * float(spacing(ref.logp[0, 0], np.float64))


def test_float32_all_equal_large_logits_give_log3():
    x = np.array([1e8, 1e8, 1e8], dtype=np.float32)
    loss = sm.cross_entropy(x, 0)
    assert loss.dtype == np.float32
    spacing3 = float(spacing(math.log(3), np.float32))
    assert abs(float(loss) - float(mp.log(3))) <= spacing3
    assert sm.logsumexp(x) == np.float32(1e8)  # 1e8 + log 3 rounds to 1e8
    np.testing.assert_array_equal(sm.softmax(x), np.float32(1 / 3))
    check(x[np.newaxis])


def test_float16_beats_a_float16_computation():
    """Rounding once is visibly better than computing in float16 throughout."""
    rng = np.random.default_rng(7)
    x = (4 * rng.standard_normal((200, 10))).astype(np.float16)
    ref = sm.softmax(x.astype(np.float64))
    ours = np.abs(sm.softmax(x).astype(np.float64) - ref).max()
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    naive = np.abs((e / e.sum(axis=-1, keepdims=True)).astype(np.float64) - ref).max()
    assert ours <= 0.5 * float(np.finfo(np.float16).eps)
    assert ours < naive


def test_masked_entries_do_not_change_accuracy():
    x = make_logits("scale10", np.float64, 10, 12, 5)
    xm = np.concatenate([x, np.full((10, 3), -np.inf)], axis=1)
    np.testing.assert_array_equal(sm.log_softmax(xm)[:, :12], sm.log_softmax(x))
    np.testing.assert_array_equal(sm.softmax(xm)[:, 12:], 0.0)
    np.testing.assert_array_equal(sm.logsumexp(xm), sm.logsumexp(x))
    check(xm[:3])


@pytest.mark.parametrize("case", ["scale1", "scale100", "dominant"])
def test_cross_entropy_per_example_loss_accuracy(case):
    """The per-example loss is -log_softmax at the target: its bound holds."""
    x = make_logits(case, np.float64, 40, 16, 0)
    labels = np.arange(40) % 16
    loss = sm.cross_entropy(x, labels, reduction="none")
    for i, row in enumerate(x):
        ref = row_reference(row)
        y = labels[i]
        err = float(abs_errors(-loss[i], ref.logp[y]))
        ulps = err / float(spacing(ref.logp[y, 0], np.float64))
        assert ulps <= documented(ref).log_softmax[y] * (1 + SLACK * U[np.float64])


def test_gradient_at_a_dominant_target_keeps_its_digits():
    """1 - p_k is computed as s / (1 + s), not as a difference that rounds to 0."""
    x = np.array([[0.0, -40.0, -45.0], [-50.0, 0.0, -60.0]])
    g = sm.cross_entropy_grad(x, [0, 1], reduction="sum")
    gp = sm.cross_entropy_grad(x, sm.one_hot([0, 1], 3), reduction="sum")
    for i, k in enumerate([0, 1]):
        ref = row_reference(x[i])
        with mp.workdps(DPS):
            s = mp.fsum(mp.exp(mp.mpf(float(v))) for j, v in enumerate(x[i]) if j != k)
            exact = -s / (1 + s)
        sp = float(spacing(float(exact), np.float64))
        assert float(abs(mp.mpf(float(g[i, k])) - exact)) <= 2 * sp
        assert float(abs(mp.mpf(float(gp[i, k])) - exact)) <= 2 * sp
        for j in range(3):
            if j != k:
                err = float(abs_errors(g[i, j], ref.p[j]))
                assert err <= 4 * float(spacing(ref.p[j, 0], np.float64))
