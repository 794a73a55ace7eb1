"""The chunked kernels behind softmaxlib: every fast path against a
reference, at chunk boundaries, for every layout, alias and dtype.

The reference is the unchunked kernel (``unchunked``, Blanchard, Higham
and Higham's shifted algorithm on the whole array). Row results do not depend
on how the rows are cut into chunks, so most comparisons are bit for bit.
"""

from __future__ import annotations

import math
import threading
import warnings
from typing import NamedTuple

import numpy as np
import pytest

import softmaxlib as sm
from softmaxlib import _kernels

INF = np.inf
NAN = np.nan
# one class; few (transposed chunks); the boundary; many classes
QS = (1, 3, 10, _kernels.SMALL_Q - 1, _kernels.SMALL_Q, 100, 8192)


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Chunks of a handful of rows, so that every test crosses boundaries."""
    monkeypatch.setattr(_kernels, "CHUNK_BYTES", 512)


class Unchunked(NamedTuple):
    """The shifted formula on the whole array at once, along the last axis."""

    k: np.ndarray  # index of the maximum, shape (..., 1)
    m: np.ndarray  # the maximum, shape (..., 1)
    finite: np.ndarray  # whether the maximum is finite, shape (..., 1)
    all_finite: bool  # finite.all()
    d: np.ndarray  # x - m (x where the maximum is not finite)
    e: np.ndarray  # exp(d), with e[k] = 1
    s: np.ndarray  # sum of e without e[k], shape (..., 1)
    log1p_s: np.ndarray  # log1p(s), shape (..., 1)


def unchunked(x: np.ndarray) -> Unchunked:
    """The whole-array shifted kernel, the reference of the chunked ones.

    ``x`` is floating with at least one entry per row. For each row it finds
    the index k of the (first) maximum m = x_k, forms d = x - m and
    s = sum_{i != k} exp(d_i) (Algorithm 3 of Blanchard, Higham and Higham).
    Rows whose maximum is not finite are computed with a shift of 0 and must
    be overwritten by the caller.
    """
    k = np.argmax(x, axis=-1)[..., np.newaxis]  # the first NaN wins, if any
    m = np.take_along_axis(x, k, axis=-1)
    finite = np.isfinite(m)
    all_finite = bool(finite.all())
    shift = m if all_finite else np.where(finite, m, 0)
    with np.errstate(over="ignore", invalid="ignore"):
        d = np.subtract(x, shift)
        e = np.exp(d)
        np.put_along_axis(e, k, 0, axis=-1)
        s = np.sum(e, axis=-1, keepdims=True)
        np.put_along_axis(e, k, 1, axis=-1)
        log1p_s = np.log1p(s)
    return Unchunked(k, m, finite, all_finite, d, e, s, log1p_s)


def unchunked_softmax(p: Unchunked) -> np.ndarray:
    """Softmax along the last axis from :func:`unchunked` (overwrites ``p.e``)."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.divide(p.e, 1 + p.s, out=p.e)
    if not p.all_finite:
        np.copyto(out, np.nan, where=~p.finite)
    return out


def reference(name: str, x: np.ndarray) -> np.ndarray:
    """The unchunked kernel along the last axis."""
    p = unchunked(x)
    with np.errstate(invalid="ignore"):
        if name == "softmax":
            return unchunked_softmax(p)
        if name == "log_softmax":
            r = p.d - p.log1p_s
            r[~p.finite[:, 0]] = NAN
            return r
        r = (p.m + p.log1p_s)[:, 0]
    return np.where(p.finite[:, 0], r, p.m[:, 0])


def logits(n: int, q: int, dtype=np.float64, scale=3.0, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal((n, q))).astype(dtype)


def assert_close(got, want, ulps=4):
    """Equal NaN/inf pattern; finite entries within a few units of roundoff."""
    got, want = np.asarray(got), np.asarray(want)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    fin = np.isfinite(want)
    np.testing.assert_array_equal(
        got[~fin & ~np.isnan(want)], want[~fin & ~np.isnan(want)]
    )
    eps = np.finfo(want.dtype).eps
    scale = np.maximum(np.abs(want[fin]), np.finfo(want.dtype).tiny)
    assert np.all(np.abs(got[fin] - want[fin]) <= ulps * eps * scale)


FUNCS = ("softmax", "log_softmax", "logsumexp")


# ------------------------------------------------------------ chunk boundaries


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("q", QS)
def test_results_do_not_depend_on_the_chunking(name, q, monkeypatch):
    n = 37 if q < 1000 else 5
    x = logits(n, q)
    whole = getattr(sm, name)(x)
    for chunk in (1, 8 * q * 3, 8 * q * 7 + 1):  # one row, 3 rows, 7 rows
        monkeypatch.setattr(_kernels, "CHUNK_BYTES", chunk)
        np.testing.assert_array_equal(getattr(sm, name)(x), whole)


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("q", QS)
@pytest.mark.parametrize("n", [1, 2, 5, 64, 65])
def test_same_bits_as_the_unchunked_kernel(name, q, n, tiny_chunks):
    """Every sum is added in NumPy's order, so the chunked kernels reproduce the
    whole-array algorithm exactly, ties and masks included."""
    rng = np.random.default_rng(q + n)
    for x in (
        logits(n, q, seed=q + n),
        np.round(logits(n, q, seed=q + n)),  # ties for the maximum
        np.where(rng.random((n, q)) < 0.3, -INF, logits(n, q, seed=q)),  # masks
    ):
        for dtype in (np.float64, np.float32):
            xd = x.astype(dtype)
            np.testing.assert_array_equal(getattr(sm, name)(xd), reference(name, xd))


@pytest.mark.parametrize("name", FUNCS)
def test_memory_cap_shrinks_the_chunks_not_the_result(name, monkeypatch):
    x = logits(300, 10)
    want = getattr(sm, name)(x)
    monkeypatch.setattr(_kernels, "MEMORY_SIZE", 10)
    monkeypatch.setattr(_kernels, "MEMORY_FRACTION", 0.01)
    assert _kernels._chunk_rows(300, 10, 8, 21 * 8) < 300 // 4
    np.testing.assert_array_equal(getattr(sm, name)(x), want)


def test_chunk_rows():
    big = _kernels.CHUNK_BYTES
    assert _kernels._chunk_rows(10, 10, 8, 0) == 10  # never more rows than n
    assert _kernels._chunk_rows(10**6, 10, 8, 0) == big // 80
    assert _kernels._chunk_rows(3, 10**7, 8, 0) == 1  # a row larger than a chunk
    # from MEMORY_SIZE entries on the scratch stays below its share of the input
    n, q = 10**5, 10
    rows = _kernels._chunk_rows(n, q, 8, 10 * q * 8)
    assert rows * 10 * q * 8 <= _kernels.MEMORY_FRACTION * n * q * 8


# ------------------------------------------------------------ special values


SPECIAL_ROWS = [
    [INF, 1.0, 2.0],
    [1.0, NAN, 2.0],
    [-INF, -INF, -INF],
    [INF, INF, 0.0],
    [INF, 1000.0, -INF],
    [NAN, 800.0, 1.0],
    [0.0, -INF, 0.0],  # a tie and a mask
    [5.0, 5.0, 5.0],  # all tied
    [1e308, -1e308, 0.0],
    [-800.0, -750.0, -740.0],  # exp underflows without the shift
]


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("q", [3, 70, 8200])
def test_special_values_in_every_layout(name, q, tiny_chunks):
    rng = np.random.default_rng(1)
    rows = []
    for special in SPECIAL_ROWS:
        row = rng.standard_normal(q) - 1e3  # far below the special entries
        row[:3] = special
        rows.append(row)
        rows.append(rng.standard_normal(q))  # an ordinary neighbour
    x = np.array(rows)
    got = getattr(sm, name)(x)
    np.testing.assert_array_equal(got, reference(name, x))
    # each row alone gives the same bits as inside the batch
    for i in range(0, len(x), 3):
        np.testing.assert_array_equal(getattr(sm, name)(x[i : i + 1])[0], got[i])


@pytest.mark.parametrize("q", [4, 100])
def test_ties_for_the_maximum_count_once_each(q):
    x = np.zeros((3, q))
    x[1, :2] = 7.0  # two maxima
    x[2] = 1.0  # all maxima
    np.testing.assert_allclose(sm.logsumexp(x), reference("logsumexp", x), rtol=1e-15)
    np.testing.assert_allclose(sm.log_softmax(x)[2], -np.log(q), rtol=1e-15)
    np.testing.assert_array_equal(sm.softmax(x)[2], 1 / q)


# ------------------------------------------------------------ layouts and out=


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("q", [10, 100])
def test_non_contiguous_inputs(name, q, tiny_chunks):
    f = getattr(sm, name)
    base = logits(40, 3 * q)
    x = base[::2, ::3]
    want = f(np.ascontiguousarray(x))
    np.testing.assert_array_equal(f(x), want)
    np.testing.assert_array_equal(f(np.asfortranarray(x)), want)
    np.testing.assert_array_equal(f(x.T, axis=0).T, want)


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("axis", [0, 1, -2])
def test_axis_other_than_the_last(name, axis, tiny_chunks):
    f = getattr(sm, name)
    x = logits(6 * 7 * 9, 1).reshape(6, 7, 9)
    want = f(np.moveaxis(x, axis, -1))
    got = f(x, axis=axis)
    if name != "logsumexp":
        got = np.moveaxis(got, axis, -1)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("q", [10, 100])
def test_out_may_alias_the_input(name, q, tiny_chunks):
    f = getattr(sm, name)
    x = logits(30, q)
    want = f(x)
    y = x.copy()
    assert f(y, out=y) is y
    np.testing.assert_array_equal(y, want)
    # an out that overlaps x without being x: one row further on
    buf = np.concatenate([x, np.zeros((1, q))])
    out = buf[1:]
    assert f(buf[:-1], out=out) is out
    np.testing.assert_array_equal(out, want)
    # out transposed (not C-contiguous) goes through a separate result
    out_t = np.empty((q, 30)).T
    f(x, out=out_t)
    np.testing.assert_array_equal(out_t, want)


# ------------------------------------------------------------ dtypes


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.longdouble])
@pytest.mark.parametrize("q", [10, 100])
def test_dtype_paths(name, dtype, q, tiny_chunks):
    x = logits(20, q, dtype=dtype)
    got = getattr(sm, name)(x)
    assert got.dtype == dtype
    work = np.float32 if dtype == np.float16 else dtype
    want = reference(name, x.astype(work)).astype(dtype)
    assert_close(got, want, ulps=4 if dtype != np.float16 else 1)


# ------------------------------------------------------------ the skip-shift path


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("q", [10, 100])
def test_skip_shift_agrees_with_the_shifted_path(dtype, q, tiny_chunks):
    """Both are within a few ulps of the exact softmax of x, except for the
    rounding of x - max in the shifted one (|x - max| / 2 ulps at most)."""
    x = logits(50, q, dtype=dtype, scale=5)
    out = np.empty_like(x)
    _kernels.softmax(x, out, skip_shift=True)
    want = sm.softmax(x)
    gap = (x.max(axis=-1, keepdims=True) - x).astype(np.float64)
    ulp = np.spacing(np.abs(want)).astype(np.float64)
    assert np.all(np.abs(out - want) <= (8 + gap) * ulp)
    np.testing.assert_allclose(out.sum(axis=-1), 1, rtol=8 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_skip_shift_falls_back_outside_the_exp_range(dtype, monkeypatch):
    """A chunk with an entry beyond exp's range is computed with the shift."""
    lo, hi = _kernels._limits(np.dtype(dtype), 4)
    x = logits(8, 4, dtype=dtype)
    x[5, 2] = hi * dtype(1.01)  # chunk of rows 4..7 leaves the range above
    x[6, 1] = lo * dtype(1.01)  # ... and below
    monkeypatch.setattr(_kernels, "CHUNK_BYTES", 4 * 4 * np.dtype(dtype).itemsize)
    out = np.empty_like(x)
    _kernels.softmax(x, out, skip_shift=True)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[4:], sm.softmax(x[4:]))  # shifted, bit for bit
    assert_close(out[:4], sm.softmax(x[:4]), ulps=8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", FUNCS)
def test_rows_crossing_the_exp_range(name, dtype, tiny_chunks):
    """Logits around the overflow and underflow thresholds of exp, against the
    same algorithm in long double."""
    big = float(np.log(np.finfo(dtype).max))
    small = float(np.log(np.finfo(dtype).tiny))
    x = np.array(
        [
            [big - 1, big + 1, 0.0, -1.0],
            [small + 1, small - 1, small, small - 30],
            [big + 5, small - 5, 0.0, big],
            [-big, -big - 2, -big + 1, -big],
        ],
        dtype=dtype,
    )
    got = getattr(sm, name)(x)
    assert np.all(np.isfinite(got))
    want = reference(name, x.astype(np.longdouble))
    eps = float(np.finfo(dtype).eps)
    if name == "softmax":  # relative, where the result is a normal number
        normal = want >= np.finfo(dtype).tiny
        gap = (x.max(axis=-1, keepdims=True) - x).astype(np.longdouble)
        err = np.abs(got - want) / want
        assert np.all(err[normal] <= (4 + gap[normal]) * eps)
        assert np.all(np.abs(got - want)[~normal] <= np.finfo(dtype).tiny)
    else:
        np.testing.assert_allclose(got, want.astype(dtype), rtol=4 * eps)


# ------------------------------------------------------------ cross-entropy


def _general(x, y, **kw):
    """The general (probability-target) path with one-hot targets."""
    w = kw.pop("weight", None)
    t = sm.one_hot(y, x.shape[-1], dtype=x.dtype)
    if w is not None:
        t = t * np.asarray(w, dtype=x.dtype)[y][:, None] / np.asarray(w)[y][:, None]
    return sm.cross_entropy_and_grad(x, t, weight=w, **kw)


@pytest.mark.parametrize("q", [3, 10, 70, 8200])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["none", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_fused_loss_and_gradient_agree_with_the_general_path(
    q, dtype, reduction, weighted, tiny_chunks
):
    n = 23 if q < 1000 else 3
    x = logits(n, q, dtype=dtype, seed=q)
    y = np.random.default_rng(q).integers(0, q, n)
    y[0] = np.argmax(x[0])  # a target that is the maximum
    w = np.linspace(0.5, 2, q) if weighted else None
    loss, grad = sm.cross_entropy_and_grad(x, y, weight=w, reduction=reduction)
    loss2, grad2 = _general(x, y, weight=w, reduction=reduction)
    assert loss.dtype == grad.dtype == dtype
    assert_close(loss, loss2, ulps=8)
    assert_close(grad, grad2, ulps=8)
    np.testing.assert_array_equal(
        sm.cross_entropy(x, y, weight=w, reduction=reduction), loss
    )
    np.testing.assert_array_equal(
        sm.cross_entropy_grad(x, y, weight=w, reduction=reduction), grad
    )


@pytest.mark.parametrize("q", [4, 100])
def test_fused_special_rows(q, tiny_chunks):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, q))
    x[1, :3] = [NAN, 0, 0]
    x[2, :3] = [INF, 0, 1]
    x[3] = -INF
    x[3, 0] = 0.0
    x[4, :2] = [1e300, -1e300]  # exp of the target underflows
    x[5, :2] = [7.0, 7.0]  # tied maxima
    x[5, 2:] = -20.0
    y = np.array([0, 1, 0, 2, 1, 1, 0, 0])
    loss, grad = sm.cross_entropy_and_grad(x, y, reduction="none")
    loss2, grad2 = _general(x, y, reduction="none")
    assert np.isnan(loss[1:3]).all() and np.isnan(grad[1:3]).all()
    assert loss[3] == INF  # a masked target
    np.testing.assert_array_equal(grad[3], -np.eye(q)[2] + np.eye(q)[0])
    assert loss[4] == 2e300
    assert_close(loss, loss2, ulps=8)
    assert_close(grad, grad2, ulps=8)


@pytest.mark.parametrize("q", [5, 100])
def test_fused_ignore_index_and_mean(q, tiny_chunks):
    x = logits(40, q, seed=2)
    y = np.random.default_rng(2).integers(0, q, 40)
    y[::3] = -100
    x[3, 0] = NAN  # ignored, so it must not show
    keep = y != -100
    loss, grad = sm.cross_entropy_and_grad(x, y, ignore_index=-100)
    loss2, grad2 = sm.cross_entropy_and_grad(x[keep], y[keep])
    np.testing.assert_allclose(loss, loss2, rtol=1e-14)
    np.testing.assert_allclose(grad[keep], grad2, rtol=1e-14, atol=1e-18)
    np.testing.assert_array_equal(grad[~keep], 0.0)


@pytest.mark.parametrize("q", [3, 10, 70, 1000])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_loss_has_the_bits_of_the_unchunked_formula(q, dtype, tiny_chunks):
    """loss = log1p(s) - (x_y - m), and the target's gradient entry p_y - 1
    (-s / (1 + s) at the maximum), exactly as the whole-array code."""
    n = 40
    x = np.round(logits(n, q, dtype=dtype, seed=q), 1)  # some ties
    y = np.random.default_rng(q).integers(0, q, n)
    y[:5] = np.argmax(x[:5], axis=1)
    p = unchunked(x)
    rows = np.arange(n)
    nll = p.log1p_s[:, 0] - p.d[rows, y]
    np.testing.assert_array_equal(sm.cross_entropy(x, y, reduction="none"), nll)
    grad = sm.cross_entropy_grad(x, y, reduction="sum")
    prob = unchunked_softmax(unchunked(x))
    s = p.s[:, 0]
    want = np.where(y == p.k[:, 0], -(s / (1 + s)), prob[rows, y] - 1)
    np.testing.assert_array_equal(grad[rows, y], want)
    prob[rows, y] = want
    np.testing.assert_array_equal(grad, prob)  # "sum": the softmax itself


def test_fused_dominant_target_keeps_its_tiny_loss():
    for q in (3, 100):
        x = np.zeros((1, q))
        x[0, 1:] = -60.0
        loss, grad = sm.cross_entropy_and_grad(x, [0], reduction="sum")
        s = (q - 1) * np.exp(-60.0)
        np.testing.assert_allclose(loss, np.log1p(s), rtol=1e-15)
        np.testing.assert_allclose(grad[0, 0], -s / (1 + s), rtol=1e-15)


# ------------------------------------------------------------ global state


def test_the_ufunc_buffer_size_is_restored():
    before = np.getbufsize()
    sm.softmax(logits(50, 200))
    sm.log_softmax(logits(50, 200))
    sm.cross_entropy_and_grad(logits(50, 200), np.zeros(50, dtype=int))
    assert np.getbufsize() == before


def test_threads_get_the_same_results():
    xs = [logits(500, q, seed=q) for q in (10, 100, 10, 100)]
    want = [sm.log_softmax(x) for x in xs]
    got = [None] * len(xs)

    def work(i):
        for _ in range(5):
            got[i] = sm.log_softmax(xs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_scratch_cache_is_per_thread_and_can_be_cleared():
    x = logits(100, 10)
    want = sm.logsumexp(x)
    _kernels.clear_scratch()
    np.testing.assert_array_equal(sm.logsumexp(x), want)
    assert all(
        buf.nbytes <= _kernels.POOL_BYTES for buf in _kernels._POOL.__dict__.values()
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_few_long_rows_are_summed_in_blocks_with_the_same_bits(dtype):
    """With fewer rows than the scratch budget allows whole, a row is summed
    ROW_BLOCK entries at a time, split where numpy's pairwise sum splits."""
    q = 60_123  # n q above MEMORY_SIZE, many blocks
    x = logits(2, q, dtype=dtype, scale=20, seed=5)
    x[1, 7] = 1e3  # a dominant entry in the first block
    y = np.array([5, 7])
    assert _kernels._plan(x, 2, 1).blocked
    many = np.tile(x, (20, 1))  # the same rows, not blocked
    assert not _kernels._plan(many, 2, 1).blocked
    for name in FUNCS:
        got = getattr(sm, name)(x)
        np.testing.assert_array_equal(got, getattr(sm, name)(many)[:2])
        assert_close(got, reference(name, x))
    got = sm.cross_entropy(x, y, reduction="none")
    np.testing.assert_array_equal(
        got, sm.cross_entropy(many, np.tile(y, 20), reduction="none")[:2]
    )
    inplace = x.copy()
    sm.log_softmax(inplace, out=inplace)
    np.testing.assert_array_equal(inplace, sm.log_softmax(many)[:2])


def test_pairwise_blocks_match_numpy_sum():
    rng = np.random.default_rng(8)
    for q in (129, 8191, 8193, 50257, 3 * _kernels.ROW_BLOCK + 5):
        row = rng.random(q) * rng.random(q) ** 8

        def leaf(lo, hi, row=row):
            return np.sum(row[lo:hi])

        assert _kernels._pairwise(0, q, leaf) == np.sum(row)


@pytest.mark.parametrize("q", [3, 10])
def test_fused_target_at_the_maximum_with_and_without_ties(q):
    """The transposed path finds "target is the first maximum" from d_y = 0
    when a chunk has no ties, and from the mask when it has; both agree."""
    x = logits(6, q, seed=9)
    y = np.array([int(np.argmax(row)) for row in x])  # every target a maximum
    x[3, :2] = x[3].max() + 1.0  # tied maxima, the target is the first one
    y[3] = 0
    x[4, :2] = x[4].max() + 1.0  # tied maxima, the target is the second one
    y[4] = 1
    loss, grad = sm.cross_entropy_and_grad(x, y, reduction="none")
    for i in range(6):  # one row, one chunk: rows 0-2 and 5 have no ties
        loss1, grad1 = sm.cross_entropy_and_grad(x[i : i + 1], y[i : i + 1])
        np.testing.assert_array_equal(loss1, loss[i])
        np.testing.assert_array_equal(grad1[0], grad[i])
    p = unchunked(x)
    s = p.s[:, 0]
    first = np.array([True, True, True, True, False, True])
    at_target = grad[np.arange(6), y]
    np.testing.assert_array_equal(at_target[first], (-(s / (1 + s)))[first])
    assert at_target[4] == 1 / (1 + s[4]) - 1


# ------------------------------------------------ cross-entropy, dense targets


def row_dot(a, b):
    """Row i of the result is ``sum_j a_ij b_ij``, as the kernels add it: BLAS
    dots (``np.vecdot``) of up to DOT_BLOCK entries, added in numpy's pairwise
    order."""
    a = np.ascontiguousarray(a)
    b = np.ascontiguousarray(np.broadcast_to(b, a.shape))
    q, block = a.shape[1], _kernels.DOT_BLOCK
    if q <= block:
        return np.vecdot(a, b)
    return _kernels._pairwise(
        0, q, lambda lo, hi: np.vecdot(a[:, lo:hi], b[:, lo:hi]), block
    )


def dense_reference(
    x, *, probs=None, labels=None, eps=0.0, weight=None, ignore_index=None, divisor=1.0
):
    """(per-example losses, gradient) of the dense-target kernel, computed on
    the whole C-ordered array with :func:`unchunked`:

        t = w ((1 - eps) y + eps / q) / divisor  (or the smoothed class indices),
        loss = sum_j t_j (log1p(s) - d_j)  (0 * inf taken as 0 in finite rows),
        grad = e T / (1 + s) - t,  at the first maximum k (rest - t_k s) / (1 + s),

    rest = sum_{j != k} t_j, T = rest + t_k; for probability targets without
    smoothing or weights the loss is (1 / divisor) sum_j y_j (log1p(s) - d_j),
    and from SMALL_Q classes on (1 / divisor) (log1p(s) sum_j y_j - sum_j y_j d_j)
    with the sums, and rest, by :func:`row_dot`.
    """
    x = np.ascontiguousarray(x)
    n, q = x.shape
    dt = x.dtype
    p = unchunked(x)
    finite = p.finite[:, 0]
    peak, flat = (1 - eps) / divisor, (eps / q) / divisor
    keep = np.ones(n, dtype=bool)
    plain = False
    if probs is not None:
        y = np.ascontiguousarray(probs)
        plain = not eps and weight is None
        t = y * peak if peak != 1 else y.copy()
        if flat:
            t = t + flat
        if weight is not None:
            t = t * weight
    else:
        if ignore_index is not None:
            keep = labels != ignore_index
        lab = np.where(keep, labels, 0)
        smooth = np.full(q, flat, dtype=dt) if weight is None else weight * flat
        t = np.broadcast_to(smooth, (n, q)).copy()
        w_y = np.ones(n, dtype=dt) if weight is None else weight[lab]
        t[np.arange(n), lab] += peak * w_y
        t[~keep] = 0
    with np.errstate(invalid="ignore"):
        terms = (p.log1p_s - p.d) * (y if plain else t)
    terms[np.isnan(terms) & finite[:, np.newaxis]] = 0
    loss = terms.sum(axis=1)
    by_dots = plain and q >= _kernels.SMALL_Q
    if by_dots:
        with np.errstate(invalid="ignore", over="ignore"):
            dots = p.log1p_s[:, 0] * row_dot(y, np.ones(q, dtype=dt)) - row_dot(p.d, y)
        loss = np.where(np.isnan(dots) & finite, loss, dots)  # 0 * inf: the terms
    if plain and peak != 1:
        loss = loss * dt.type(peak)
    loss[~finite] = NAN
    loss[~keep] = 0
    k = p.k
    tk = np.take_along_axis(t, k, axis=1)
    t0 = t.copy()
    np.put_along_axis(t0, k, 0, axis=1)
    if by_dots:
        rest = row_dot(t0, np.ones(q, dtype=dt))[:, np.newaxis]
    else:
        rest = t0.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        one_s = p.s + 1
        grad = p.e * ((rest + tk) / one_s) - t
        np.put_along_axis(grad, k, (rest - tk * p.s) / one_s, axis=1)
    grad[~finite] = NAN
    grad[~keep] = 0
    return loss, grad


DENSE_CASES = {
    "prob": {"kind": "probs"},
    "prob smoothed weighted": {"kind": "probs", "eps": 0.1, "weight": True},
    "labels smoothed": {"kind": "labels", "eps": 0.1},
    "labels smoothed weighted ignored": {
        "kind": "labels",
        "eps": 0.2,
        "weight": True,
        "ignore_index": -1,
    },
}


def _dense_problem(n, q, dtype, case, seed):
    spec = DENSE_CASES[case]
    rng = np.random.default_rng(seed)
    x = logits(n, q, dtype=dtype, seed=seed)
    x[::5, 0] = -INF  # masked classes (with zero target for probabilities)
    if n > 3 and q > 1:
        x[3, :2] = x[3].max() + 1  # tied maxima
        x[2] = np.round(x[2])
    kw = {"eps": spec.get("eps", 0.0), "weight": None}
    if spec.get("weight"):
        kw["weight"] = rng.uniform(0.5, 2, q).astype(dtype)
    if spec["kind"] == "probs":
        y = rng.random((n, q)).astype(dtype)
        y[::5, 0] = 0
        rows = np.arange(1, n, 4)
        y[rows] = 0
        y[rows, rng.integers(0, q, rows.size)] = 1  # one-hot rows
        kw["probs"] = y
    else:
        y = rng.integers(0, q, n)
        y[::5] = min(1, q - 1)
        if spec.get("ignore_index") is not None:
            y[::3] = spec["ignore_index"]
            kw["ignore_index"] = spec["ignore_index"]
        kw["labels"] = y
    return x, kw


def _run_dense(x, kw, divisor, want_grad):
    n, q = x.shape
    target = _kernels.DenseTarget(q, x.dtype, divisor=divisor, **kw)
    losses = np.empty(n, dtype=x.dtype)
    grad = np.empty_like(x) if want_grad else None
    total = _kernels.cross_entropy_dense(x, target, losses=losses, grad=grad)
    return total, losses, grad


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_dot_is_blas_dots_added_pairwise(dtype):
    """One np.vecdot up to DOT_BLOCK entries; beyond, pieces added as
    _pairwise adds them, the same bits for a row alone, in a batch, with any
    stride between rows, and within a fraction of an ulp per entry of the
    exact sum."""
    block = _kernels.DOT_BLOCK
    rng = np.random.default_rng(8)
    for q in (1, 7, block, block + 1, 3 * block + 5, 4 * block):
        a = rng.standard_normal((5, q)).astype(dtype)
        b = rng.random((5, q)).astype(dtype)
        dot, total = _kernels._row_dot(a, b), _kernels._row_dot(b)
        assert dot.dtype == total.dtype == dtype
        if q <= block:
            np.testing.assert_array_equal(dot, np.vecdot(a, b))
        np.testing.assert_array_equal(dot, row_dot(a, b))
        np.testing.assert_array_equal(total, row_dot(b, np.ones(q, dtype=dtype)))
        wide = np.zeros((10, q), dtype=dtype)
        wide[::2] = a  # rows two apart
        np.testing.assert_array_equal(_kernels._row_dot(wide[::2], b), dot)
        for i in range(5):
            alone = _kernels._row_dot(a[i : i + 1], b[i : i + 1])
            assert alone[0] == dot[i]
        exact = np.array([math.fsum(r) for r in (a.astype(float) * b)])
        scale = np.abs(a.astype(float) * b).sum(axis=1)
        eps = np.finfo(dtype).eps
        assert (np.abs(dot - exact) <= (q / 8 + 2) * eps * scale).all()


def _check_dense_against_reference(x, kw):
    for divisor in (1.0, 7.0):
        want_loss, want_grad = dense_reference(x, divisor=divisor, **kw)
        total, loss, _ = _run_dense(x, kw, divisor, want_grad=False)
        total_g, loss_g, grad = _run_dense(x, kw, divisor, want_grad=True)
        assert loss.dtype == grad.dtype == x.dtype
        np.testing.assert_array_equal(loss, want_loss)
        np.testing.assert_array_equal(grad, want_grad)
        np.testing.assert_array_equal(loss_g, loss)  # with or without the gradient
        assert total_g == total or (np.isnan(total) and np.isnan(total_g))
        # the sum of the chunks' sums: close to the sum of the losses
        eps = np.finfo(x.dtype).eps
        want_total = np.sum(want_loss, dtype=np.float64)
        np.testing.assert_allclose(total, want_total, rtol=x.shape[0] * eps)


def dense_plan(n, q, dtype, case):
    """(plan, k, spare) of the dense kernel for an (n, q) problem of ``case``."""
    spec = DENSE_CASES[case]
    kw = {"eps": spec.get("eps", 0.0), "ignore_index": spec.get("ignore_index")}
    if spec.get("weight"):
        kw["weight"] = np.ones(q, dtype=dtype)
    if spec["kind"] == "probs":
        kw["probs"] = np.empty((n, q), dtype=dtype)
        kw.pop("ignore_index")
    else:
        kw["labels"] = np.zeros(n, dtype=np.int64)
    target = _kernels.DenseTarget(q, dtype, **kw)
    return _kernels._dense_plan(np.empty((n, q), dtype=dtype), target)


def _flips(f, lo, hi):
    """Every n in (lo, hi] where f(n) differs from f(n - 1)."""
    return [n for n in range(lo + 1, hi + 1) if f(n) != f(n - 1)]


def dense_switch_sizes(dtype, case):
    """(n, q) one either side of the dense kernel's switch points, at the
    default constants: classes (SMALL_Q), rows per chunk, the memory cap,
    rows summed in blocks, and (row by row, without the gradient) whether
    the exponentials get an array of their own."""
    itemsize = np.dtype(dtype).itemsize
    small = _kernels.SMALL_Q
    rows = _kernels.CHUNK_BYTES // (10 * itemsize)  # rows of one chunk, q = 10
    cap = _kernels.MEMORY_SIZE // 10  # from here on the memory cap sizes chunks
    sizes = [(1, 1), (2, 3), (9, 7), (9, 8), (9, 9), (5, small - 1), (5, small)]
    if rows * 10 < _kernels.MEMORY_SIZE:
        sizes += [(rows - 1, 10), (rows, 10), (rows + 1, 10)]
    sizes += [(cap - 1, 10), (cap, 10), (cap + 1, 10)]
    q = 8400  # long rows: blocked below a number of rows set by the scratch
    for n in _flips(lambda n: dense_plan(n, q, dtype, case).plan.blocked, 1, 40):
        sizes += [(n - 1, q), (n, q)]
    if dtype == np.float64:  # (the sizes of float32 are twice as large)
        q = 1000
        for n in _flips(lambda n: dense_plan(n, q, dtype, case).spare, 1, 3000):
            sizes += [(n - 1, q), (n, q)]
    return list(dict.fromkeys(sizes))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(DENSE_CASES))
def test_dense_kernel_has_the_bits_of_the_unchunked_reference(case, dtype):
    """At the default chunk sizes, one either side of every switch point."""
    for n, q in dense_switch_sizes(dtype, case):
        x, kw = _dense_problem(n, q, dtype, case, seed=n + q)
        _check_dense_against_reference(x, kw)


@pytest.mark.parametrize("case", list(DENSE_CASES))
def test_dense_switch_sizes_cross_the_switch_points(case):
    for dtype in (np.float64, np.float32):
        sizes = dense_switch_sizes(dtype, case)
        plans = {size: dense_plan(*size, dtype, case) for size in sizes}
        long = {plans[size].plan.blocked for size in sizes if size[1] == 8400}
        assert long == {False, True}  # rows in blocks, and not, either side
        cap = _kernels.MEMORY_SIZE // 10
        assert plans[cap - 1, 10].plan.rows > plans[cap + 1, 10].plan.rows  # memory cap
        small = _kernels.SMALL_Q
        assert plans[5, small - 1].plan.small and not plans[5, small].plan.small
        spare = {plans[size].spare for size in sizes if size[1] == 1000}
        if plans[sizes[0]].k == 2:  # smoothed or weighted probabilities
            assert spare == set()  # their exponentials always get an array
        elif dtype == np.float64:
            assert spare == {False, True}
    rows = _kernels.CHUNK_BYTES // 80
    assert dense_plan(rows - 1, 10, np.float64, case).plan.rows == rows - 1
    assert dense_plan(rows + 1, 10, np.float64, case).plan.rows == rows


@pytest.mark.parametrize("case", list(DENSE_CASES))
@pytest.mark.parametrize("q", [3, 10, 70])
def test_dense_kernel_at_tiny_chunks(case, q, monkeypatch):
    """Chunks of a few rows: every row boundary is a chunk boundary somewhere."""
    x, kw = _dense_problem(23, q, np.float64, case, seed=q)
    for chunk in (1, 8 * q * 3, 8 * q * 7 + 1):
        monkeypatch.setattr(_kernels, "CHUNK_BYTES", chunk)
        _check_dense_against_reference(x, kw)


@pytest.mark.parametrize("case", list(DENSE_CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_blocked_rows_match_the_same_rows_unblocked(case, dtype):
    q = 60_123
    x, kw = _dense_problem(2, q, dtype, case, seed=4)
    x[1, 7] = 1e3  # a dominant entry in the first block
    assert _kernels._plan(x, 3, 2, vectors=14).blocked
    _check_dense_against_reference(x, kw)


@pytest.mark.parametrize("q", [4, 3 * _kernels.SMALL_Q])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_special_rows(dtype, q, tiny_chunks):
    """NaN and +inf rows give NaN for their example only; a masked class
    with zero target costs nothing; a masked class with positive target
    gives an infinite loss; an all -inf row is NaN (few classes, and many,
    where plain probabilities take the row dots)."""
    x = logits(8, q, dtype=dtype, seed=6)
    x[1, 0] = NAN
    x[2, 1] = INF
    x[3] = -INF
    x[4, 0] = -INF  # masked, zero target below
    x[5, 2] = -INF  # masked, positive target below
    y = np.full((8, q), 1 / q, dtype=dtype)
    y[4, 0] = 0
    loss, grad = _run_dense(x, {"probs": y}, 1.0, want_grad=True)[1:]
    want_loss, want_grad = dense_reference(x, probs=y)
    np.testing.assert_array_equal(loss, want_loss)
    np.testing.assert_array_equal(grad, want_grad)
    assert np.isnan(loss[[1, 2, 3]]).all() and np.isnan(grad[[1, 2, 3]]).all()
    assert np.isfinite(loss[[0, 4, 6, 7]]).all() and loss[5] == INF
    assert grad[4, 0] == 0
    assert np.isfinite(grad[[0, 4, 5, 6, 7]]).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(20_000, 10), (100, 1000), (12, 8400), (2, 60_123)])
def test_dense_scratch_stays_below_a_tenth_of_the_input(shape, dtype):
    """From MEMORY_SIZE logits on, extra memory (beyond the results) of the
    loss and of loss and gradient is at most 0.1 of the input, as for class
    indices; also for a few long rows, where a vector per class (the weight
    times the smoothing) is a sizeable part of the input."""
    from booktools.bench import peak_extra_memory

    x = logits(*shape, dtype=dtype)
    y = np.random.default_rng(1).integers(0, shape[1], shape[0])
    t = sm.one_hot(y, shape[1], dtype=dtype)
    w = np.linspace(0.5, 2, shape[1]).astype(dtype)
    calls = {
        "index": lambda x, y: sm.cross_entropy(x, y),
        "prob": lambda x, y: sm.cross_entropy(x, t),
        "prob none": lambda x, y: sm.cross_entropy(x, t, reduction="none"),
        "prob and grad": lambda x, y: sm.cross_entropy_and_grad(x, t),
        "prob smoothed weighted": lambda x, y: sm.cross_entropy_and_grad(
            x, t, label_smoothing=0.1, weight=w
        ),
        "smoothed": lambda x, y: sm.cross_entropy(x, y, label_smoothing=0.1),
        "smoothed grad": lambda x, y: sm.cross_entropy_grad(
            x, y, label_smoothing=0.1, weight=w
        ),
        "smoothed weighted": lambda x, y: sm.cross_entropy(
            x, y, label_smoothing=0.1, weight=w
        ),
    }
    for name, f in calls.items():
        assert peak_extra_memory(f, (x, y)) <= 0.1, name


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble])
def test_probability_check_finds_every_bad_value(dtype):
    """The one-reduction check of probability targets (unsigned view below
    the bits of +inf) against the elementwise definition, in every layout."""
    from softmaxlib._validation import first_bad_probability

    tiny = np.finfo(dtype).smallest_subnormal
    cases = [
        (0.0, True),
        (-0.0, True),  # fails the fast test, accepted by the elementwise one
        (tiny, True),
        (np.finfo(dtype).max, True),
        (-tiny, False),
        (-1.0, False),
        (INF, False),
        (-INF, False),
        (NAN, False),
        (-NAN, False),
    ]
    for value, ok in cases:
        t = np.ones((3, 4), dtype=dtype)
        t[1, 2] = value
        for v in (t, np.asfortranarray(t), t[::-1].copy()[::-1]):
            got = first_bad_probability(v)
            assert got == (None if ok else (1, 2)), (value, got)
    swapped = np.ones((2, 3), dtype=np.dtype(dtype).newbyteorder())
    swapped[1, 0] = -1
    assert first_bad_probability(swapped) == (1, 0)
    assert first_bad_probability(np.ones((0, 3), dtype=dtype)) is None
