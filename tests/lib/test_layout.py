"""Results do not depend on memory layout.

C-ordered, Fortran-ordered, strided and negative-stride copies of the same
logits, probability targets, class indices and class weights must give
bit-identical results from every public function, for every reduction and
keyword, in float32 and float64, at tiny sizes and at sizes on both sides of
the kernels' switch points (rows per chunk, the memory cap, the transposed
layout for few classes, rows summed in blocks). At the switch sizes the default
test profile (_profile.py) checks each layout with one reduction, a different
one at each size; SOFTMAXLIB_TESTS=thorough checks every layout with every one.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _calls import REDUCTIONS, loss_calls
from _profile import THOROUGH

import softmaxlib as sm
from softmaxlib import _kernels

DTYPES = (np.float64, np.float32)


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def layouts(a: np.ndarray) -> dict[str, np.ndarray]:
    """Copies of ``a`` (1-D or 2-D) with the same values in other layouts."""
    out = {}
    if a.ndim == 2:
        out["F"] = np.asfortranarray(a)
    big = np.zeros(tuple(3 * s for s in a.shape), dtype=a.dtype)
    view = big[(slice(None, None, 3),) * a.ndim]
    view[...] = a
    out["strided"] = view
    flip = (slice(None, None, -1),) * a.ndim
    out["negative"] = a[flip].copy()[flip]
    if a.ndim == 2:
        out["F negative"] = np.asfortranarray(a[flip])[flip]
        out["negative rows"] = a[::-1].copy()[::-1]
    for name, v in out.items():
        np.testing.assert_array_equal(v, a, err_msg=name)
    return out


def _rows_per_chunk(q: int, dtype) -> int:
    return _kernels.CHUNK_BYTES // (q * np.dtype(dtype).itemsize)


def switch_sizes(dtype) -> list[tuple[int, int]]:
    """(n, q) on both sides of the kernels' switch points, and tiny sizes."""
    small = _kernels.SMALL_Q
    rows = _rows_per_chunk(10, dtype)
    cap = _kernels.MEMORY_SIZE // 10
    sizes = [
        (1, 1),
        (3, 3),
        (5, 10),
        (7, small - 1),  # the last transposed size ...
        (7, small),  # ... and the first row-wise one
        (cap - 1, 10),  # below the memory cap on the scratch, and above it
        (cap + 1, 10),
        (3, 40_000),  # rows longer than the scratch budget: summed in blocks
    ]
    if rows * 10 < _kernels.MEMORY_SIZE:  # else the memory cap sizes the chunks
        # one chunk, then exactly one, then one row more
        sizes += [(rows - 1, 10), (rows, 10), (rows + 1, 10)]
        sizes.append((_rows_per_chunk(100, dtype) + 1, 100))
    return sizes


def _data(n, q, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (3 * rng.standard_normal((n, q))).astype(dtype)
    x[::7, 0] = -np.inf  # masked classes
    if n > 2:
        x[1, : min(q, 2)] = x[1].max() + 1  # a tie for the maximum
    y = rng.integers(0, q, n)
    y[::7] = np.where(q > 1, 1, 0)  # not the masked class
    t = rng.random((n, q)).astype(dtype)
    t[::7, 0] = 0  # zero target on the masked class
    w = rng.uniform(0.5, 2, q).astype(dtype)
    return x, y, t, w


# ---------------------------------------------------------------- softmax family


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_softmax_family_ignores_layout(name, dtype):
    f = getattr(sm, name)
    for n, q in switch_sizes(dtype):
        x = _data(n, q, dtype, seed=n + q)[0]
        want = f(x)
        for layout, v in layouts(x).items():
            got = f(v)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want, err_msg=f"{layout} {n}x{q}")
        # the same along axis 0 of the transposed array
        np.testing.assert_array_equal(
            f(np.asfortranarray(x).T, axis=0).T
            if name != "logsumexp"
            else f(x.T, axis=0),
            want,
        )


# ---------------------------------------------------------------- cross-entropy


CASES = {
    # name: (target kind, label_smoothing, weighted, ignore_index)
    "index": ("index", 0.0, False, None),
    "index weighted ignored": ("index", 0.0, True, -100),
    "index smoothed": ("index", 0.1, False, None),
    "index smoothed weighted ignored": ("index", 0.1, True, -100),
    "prob": ("prob", 0.0, False, None),
    "prob smoothed weighted": ("prob", 0.1, True, None),
}


LAYOUT_VARIANTS = 7  # the layouts of layouts(), and two mixed ones


def _reductions(turn, i):
    """The reductions layout variant i meets at the switch size of index turn
    (all of them when turn is None)."""
    if turn is None:
        return REDUCTIONS
    return (REDUCTIONS[(turn + i) % len(REDUCTIONS)],)


def _check_cross_entropy(n, q, dtype, case, turn=None):
    """Every layout against C order; with ``turn`` (an int) layout i meets only
    the reduction turn + i (mod 3), so that turns 0, 1, 2 cover every pair."""
    kind, eps, weighted, ignore = CASES[case]
    x, y, t, w = _data(n, q, dtype, seed=3 * n + q)
    if ignore is not None:
        y[::5] = ignore
    target = y if kind == "index" else t
    kw = {"label_smoothing": eps, "ignore_index": ignore}
    if weighted:
        kw["weight"] = w
    want = loss_calls(x, target, kw)
    for label, value in want.items():
        assert np.asarray(value).dtype == dtype, label
    x_l, t_l = layouts(x), layouts(target)
    w_l = layouts(w)
    variants = [(name, x_l[name], t_l.get(name, t_l["negative"])) for name in x_l]
    variants.append(("F logits, C target", x_l["F"], target))
    variants.append(("C logits, negative target", x, t_l["negative"]))
    assert len(variants) == LAYOUT_VARIANTS
    for i, (layout, xv, tv) in enumerate(variants):
        kwv = dict(kw)
        if weighted:  # cycle the weight through its layouts
            kwv["weight"] = list(w_l.values())[i % len(w_l)]
        got = loss_calls(xv, tv, kwv, _reductions(turn, i))
        for label, value in got.items():
            np.testing.assert_array_equal(
                value, want[label], err_msg=f"{layout}, {label}, {n}x{q}"
            )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("size", ["tiny", "switch"])
def test_cross_entropy_ignores_layout(size, case, dtype):
    sizes = switch_sizes(dtype)
    if size == "tiny":
        for n, q in sizes[:5]:
            _check_cross_entropy(n, q, dtype, case)
        return
    for turn, (n, q) in enumerate(sizes[5:]):
        _check_cross_entropy(n, q, dtype, case, None if THOROUGH else turn)


@pytest.mark.parametrize("dtype", DTYPES)
def test_switch_sizes_meet_every_layout_with_every_reduction(dtype):
    """The default profile's turns: over the switch sizes, every layout
    variant meets every reduction at least once."""
    turns = range(len(switch_sizes(dtype)[5:]))
    met = {
        (i, r) for t in turns for i in range(LAYOUT_VARIANTS) for r in _reductions(t, i)
    }
    assert len(met) == LAYOUT_VARIANTS * len(REDUCTIONS)


def test_float32_c_and_fortran_probability_targets_agree():
    """float32 logits with probability targets: C and Fortran order give
    the same losses (a row-order sum once made them differ by 9.5e-7)."""
    rng = np.random.default_rng(0)
    x = (3 * rng.standard_normal((2000, 10))).astype(np.float32)
    t = rng.random((2000, 10)).astype(np.float32)
    t /= t.sum(axis=1, keepdims=True)
    for reduction in REDUCTIONS:
        np.testing.assert_array_equal(
            sm.cross_entropy(np.asfortranarray(x), t, reduction=reduction),
            sm.cross_entropy(x, t, reduction=reduction),
        )
        np.testing.assert_array_equal(
            sm.cross_entropy(x, np.asfortranarray(t), label_smoothing=0.1),
            sm.cross_entropy(x, t, label_smoothing=0.1),
        )
    y = rng.integers(0, 10, 2000)
    np.testing.assert_array_equal(
        sm.cross_entropy(
            np.asfortranarray(x), y, label_smoothing=0.1, reduction="none"
        ),
        sm.cross_entropy(x, y, label_smoothing=0.1, reduction="none"),
    )


# ---------------------------------------------------------------- the rest


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_one_hot_ignores_layout(dtype):
    labels = np.random.default_rng(1).integers(0, 7, (40, 3))
    want = sm.one_hot(labels, 7, dtype=dtype)
    for layout, v in layouts(labels).items():
        got = sm.one_hot(v, 7, dtype=dtype)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want, err_msg=layout)


def test_predict_proba_ignores_layout():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 40))
    y = rng.integers(0, 5, 300)
    model = sm.SoftmaxRegression().fit(X, y)
    want = model.predict_proba(X)
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        want = model.predict_proba(Xd)
        for layout, v in layouts(Xd).items():
            np.testing.assert_array_equal(model.predict_proba(v), want, err_msg=layout)
