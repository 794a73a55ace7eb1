"""Every kernel at each of its switch points, one size either side.

The kernels change strategy at particular sizes: few classes are handled in
transposed chunks (``q < SMALL_Q``), rows are cut into chunks of about
CHUNK_BYTES of input, from MEMORY_SIZE entries on the scratch memory caps the
rows per chunk at MEMORY_FRACTION of the input, and a row too long for that
budget is summed ROW_BLOCK entries at a time. Every strategy gives the same
bits, so a switch moved by one (a ``<`` that becomes ``<=``) shows neither in
the results nor in the time of a small test. Here each kernel runs at the
default constants on both sides of each switch, and for each size the test
checks the strategy the kernel took (recorded from ``_plan``), the scratch it
used (recorded from its ``_Scratch``) and its results against the unchunked
reference. The sizes are the smallest on either side: a few rows of a long
row, or about MEMORY_SIZE entries.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from test_kernels import dense_reference, logits, reference, unchunked

import softmaxlib as sm
from softmaxlib import _kernels

SMALL_Q = _kernels.SMALL_Q
CAP = _kernels.MEMORY_SIZE  # entries from which the memory cap applies


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


class Spy:
    """What a kernel chose: its plan, and the largest scratch array it asked
    for under each name (bytes, summed over the names)."""

    def __init__(self, monkeypatch):
        self.plans = []
        self.scratch = {}
        plan, dense_plan, get = (
            _kernels._plan,
            _kernels._dense_plan,
            _kernels._Scratch.get,
        )

        def spy_plan(*args, **kwargs):
            self.plans.append(plan(*args, **kwargs))
            return self.plans[-1]

        def spy_dense_plan(*args, **kwargs):
            dp = dense_plan(*args, **kwargs)
            self.plans[-1] = dp.plan  # the plan it made, as it changed it
            return dp

        def spy_get(scratch, name, shape):
            nbytes = math.prod(shape) * scratch.dtype.itemsize
            self.scratch[name] = max(self.scratch.get(name, 0), nbytes)
            return get(scratch, name, shape)

        monkeypatch.setattr(_kernels, "_plan", spy_plan)
        monkeypatch.setattr(_kernels, "_dense_plan", spy_dense_plan)
        monkeypatch.setattr(_kernels._Scratch, "get", spy_get)

    def run(self, f, *args, **kwargs):
        """``f(*args, **kwargs)``, and the plan of the kernel it called."""
        self.plans.clear()
        self.scratch.clear()
        result = f(*args, **kwargs)
        assert len(self.plans) == 1
        return result, self.plans[0]

    @property
    def scratch_bytes(self) -> int:
        return sum(self.scratch.values())


@pytest.fixture
def spy(monkeypatch):
    return Spy(monkeypatch)


def check_plan(plan, n, q, dtype, *, small, blocked, scratch):
    """The documented rules of the chunking, for a kernel that ran with
    ``plan`` on (n, q) logits of ``dtype`` and used ``scratch`` bytes."""
    itemsize = np.dtype(dtype).itemsize
    assert plan.small == small, (n, q, "small")
    assert plan.blocked == blocked, (n, q, "blocked")
    per_chunk = max(1, _kernels.CHUNK_BYTES // (q * itemsize))
    assert 1 <= plan.rows <= min(n, per_chunk)  # about CHUNK_BYTES of input
    if n * q < CAP:  # no cap: as many rows as CHUNK_BYTES of input holds
        assert plan.rows == min(n, per_chunk), (n, q)
    elif plan.rows > 1 and not blocked:  # capped, and not more than needed
        budget = _kernels.MEMORY_FRACTION * n * q * itemsize
        assert scratch <= budget, (n, q, scratch / budget)


def test_chunk_rows_is_the_largest_number_within_both_limits():
    """_chunk_rows(n, q, itemsize, scratch_per_row, fixed): the most rows, at
    least 1 and at most n, whose input fits in CHUNK_BYTES and, from
    MEMORY_SIZE entries on, whose scratch (scratch_per_row each, plus fixed)
    fits in MEMORY_FRACTION of the input; here by search, on both sides of
    each limit."""

    def largest(n, q, itemsize, per_row, fixed):
        def fits(r):
            if r * q * itemsize > _kernels.CHUNK_BYTES:
                return False
            budget = _kernels.MEMORY_FRACTION * n * q * itemsize
            return n * q < CAP or per_row == 0 or r * per_row + fixed <= budget

        return max([r for r in range(1, n + 1) if fits(r)], default=1)

    rows64 = _kernels.CHUNK_BYTES // 80
    cases = [
        (1, 1, 8, 0, 0),
        (ROWS64 - 1, 10, 8, 100, 0),
        (rows64, 10, 8, 100, 0),
        (rows64 + 1, 10, 8, 100, 0),
        (CAP // 10 - 1, 10, 8, 100, 0),  # one row short of the cap
        (CAP // 10, 10, 8, 100, 0),  # capped from here
        (CAP // 10, 10, 8, 0, 0),  # (no scratch: nothing to cap)
        (CAP // 10, 10, 4, 173, 1000),  # fixed scratch
        (CAP // 10, 10, 4, 173, 10**6),  # fixed scratch over the budget: 1
        (2, 70_000, 8, 8, 0),  # a row longer than a chunk
        (CAP // 20, 20, 2, 7, 0),
        (12_345, 40, 8, 12 * 40 * 8, 8 * 40),
    ]
    for n, q, itemsize, per_row, fixed in cases:
        want = largest(n, q, itemsize, per_row, fixed)
        assert _kernels._chunk_rows(n, q, itemsize, per_row, fixed) == want, (n, q)
    assert _kernels._chunk_rows(10, 10, 8, 0) == 10  # fixed defaults to 0


# The switches of each kernel. A row is summed in blocks when the kernel's
# chunk-sized scratch arrays, for one row, are more than MEMORY_FRACTION of the
# input, from MEMORY_SIZE entries on and for q > ROW_BLOCK: below 12.5 rows for
# one array, 25 for two. softmax needs none for many classes (it works in its
# output), log_softmax, logsumexp and the loss with class indices one, the loss
# with its gradient none (it works in the gradient).
ROWS64 = _kernels.CHUNK_BYTES // (10 * 8)  # rows of a chunk, q = 10, float64


def sizes(last_blocked: int, dtype) -> list[tuple[int, int, bool, bool]]:
    """(n, q, small, blocked) on either side of each switch point, for a
    kernel that sums rows in blocks up to ``last_blocked`` rows (0: never)."""
    out = [
        (1, 1),
        (5, SMALL_Q - 1),  # the last transposed size
        (5, SMALL_Q),  # the first row by row
        (CAP // 10 - 1, 10),  # one row short of the memory cap
        (CAP // 10, 10),  # exactly MEMORY_SIZE entries: capped
        (CAP // 100 - 1, 100),
        (CAP // 100, 100),
        (3, 70_000),  # rows longer than a chunk
        (12, 8334),  # 12 rows: 8 % of the input each
        (13, 8334),  # 13 rows: less
        (10, 9999),  # one entry short of MEMORY_SIZE
        (10, 10_000),  # exactly MEMORY_SIZE entries
    ]
    if last_blocked == 24:  # two rows against 25 rows' 8 %: equal at 25
        out += [(24, 4167), (25, 4167), (24, 4166), (20, 4999), (20, 5000)]
    if dtype == np.float64:  # (float32 reaches the memory cap first)
        out += [(ROWS64, 10), (ROWS64 + 1, 10)]
    return [(n, q, q < SMALL_Q, _blocked(n, q, last_blocked)) for n, q in out]


def _blocked(n, q, last_blocked):
    if q < SMALL_Q or n > last_blocked:
        return False
    return n * q >= CAP and q > _kernels.ROW_BLOCK


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_softmax_family_at_every_switch_point(name, dtype, spy):
    f = getattr(sm, name)
    for n, q, small, blocked in sizes(0 if name == "softmax" else 12, dtype):
        x = logits(n, q, dtype=dtype, seed=n + q)
        x[0, :2] = x[0].max() + 1  # a tie for the maximum
        got, plan = spy.run(f, x)
        check_plan(
            plan, n, q, dtype, small=small, blocked=blocked, scratch=spy.scratch_bytes
        )
        np.testing.assert_array_equal(got, reference(name, x), err_msg=f"{n}x{q}")
        if name != "logsumexp":  # in place: the same kernel, the same bits
            y = x.copy()
            spy.run(f, y, out=y)
            np.testing.assert_array_equal(y, got, err_msg=f"in place {n}x{q}")


def _index_reference(x, y):
    """(per-example losses, gradient of their sum) for class indices, as the
    kernel computes them (test_kernels: the fused loss's bits)."""
    p = unchunked(x)
    rows = np.arange(x.shape[0])
    loss = p.log1p_s[:, 0] - p.d[rows, y]
    with np.errstate(invalid="ignore"):
        grad = p.e / (1 + p.s)
    s = p.s[:, 0]
    grad[rows, y] = np.where(y == p.k[:, 0], -(s / (1 + s)), grad[rows, y] - 1)
    return loss, grad


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_class_index_loss_at_every_switch_point(dtype, spy):
    """The loss alone (one chunk-sized array for many classes, so long rows
    are summed in blocks) and with its gradient (none: it works in the
    gradient, so it never blocks)."""
    for n, q, small, blocked in sizes(12, dtype):
        x = logits(n, q, dtype=dtype, seed=n + q)
        y = np.random.default_rng(q).integers(0, q, n)
        y[0] = np.argmax(x[0])  # a target at the maximum
        want_loss, want_grad = _index_reference(x, y)
        loss, plan = spy.run(sm.cross_entropy, x, y, reduction="none")
        check_plan(
            plan, n, q, dtype, small=small, blocked=blocked, scratch=spy.scratch_bytes
        )
        np.testing.assert_array_equal(loss, want_loss, err_msg=f"{n}x{q}")
        (loss, grad), plan = spy.run(sm.cross_entropy_and_grad, x, y, reduction="none")
        check_plan(
            plan, n, q, dtype, small=small, blocked=False, scratch=spy.scratch_bytes
        )
        np.testing.assert_array_equal(loss, want_loss, err_msg=f"{n}x{q}")
        np.testing.assert_array_equal(grad, want_grad, err_msg=f"grad {n}x{q}")


# Dense targets: plain probabilities need one chunk-sized array for many
# classes, smoothed or weighted ones two (for t), so their rows are summed in
# blocks below 25 rows; class indices with smoothing and weights one, but the
# vector of weights times the smoothing adds a row: blocks below 25 rows too.
DENSE = {
    "prob": ({"kind": "probs"}, 12),
    "prob smoothed weighted": ({"kind": "probs", "eps": 0.1, "weight": True}, 24),
    "labels smoothed": ({"kind": "labels", "eps": 0.1}, 12),
    "labels smoothed weighted": ({"kind": "labels", "eps": 0.1, "weight": True}, 24),
}


def _dense_args(n, q, dtype, spec, seed):
    rng = np.random.default_rng(seed)
    x = logits(n, q, dtype=dtype, seed=seed)
    kw = {"eps": spec.get("eps", 0.0)}
    if spec.get("weight"):
        kw["weight"] = rng.uniform(0.5, 2, q).astype(dtype)
    if spec["kind"] == "probs":
        kw["probs"] = rng.random((n, q)).astype(dtype)
    else:
        kw["labels"] = rng.integers(0, q, n)
    return x, kw


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(DENSE))
def test_dense_targets_at_every_switch_point(case, dtype, spy):
    spec, last_blocked = DENSE[case]
    for n, q, small, blocked in sizes(last_blocked, dtype):
        x, kw = _dense_args(n, q, dtype, spec, seed=n + q)
        target = _kernels.DenseTarget(q, x.dtype, divisor=7.0, **kw)
        losses, grad = np.empty(n, dtype=dtype), np.empty_like(x)
        _, plan = spy.run(
            _kernels.cross_entropy_dense, x, target, losses=losses, grad=grad
        )
        check_plan(
            plan, n, q, dtype, small=small, blocked=blocked, scratch=spy.scratch_bytes
        )
        want_loss, want_grad = dense_reference(x, divisor=7.0, **kw)
        np.testing.assert_array_equal(losses, want_loss, err_msg=f"{n}x{q}")
        np.testing.assert_array_equal(grad, want_grad, err_msg=f"{n}x{q}")


def test_the_sizes_sit_on_the_switch_points():
    """The constants these sizes were chosen for."""
    fraction = _kernels.MEMORY_FRACTION
    assert 12 * fraction < 1 < 13 * fraction and 25 * fraction == 2
    assert 12 * 8334 >= CAP > 12 * 8333 and 10 * 10_000 == CAP
    assert 24 * 4167 >= CAP > 24 * 4166 and 20 * 5000 == CAP
    assert 4167 > _kernels.ROW_BLOCK
    assert ROWS64 * 10 < CAP  # one chunk of float64 rows is below the cap


@pytest.mark.parametrize(
    "case", ["prob", "labels smoothed", "labels smoothed weighted"]
)
def test_the_loss_gets_an_array_for_its_exponentials_from_the_documented_size(case):
    """Row by row and without the gradient, the dense kernel keeps its
    exponentials in one more chunk-sized array (k + 1 arrays in all, k = 1
    here) when that leaves the chunks as they are: from the first n whose
    budget, MEMORY_FRACTION of the input, holds a chunk's rows at
    (k + 1) q itemsize + VECTORS * 8 bytes each, plus the smoothing vector
    of weighted class indices. Counted here from the constants, for q = 1000
    in float64 (chunks of CHUNK_BYTES // 8000 rows)."""
    q, itemsize = 1000, 8
    rows = _kernels.CHUNK_BYTES // (q * itemsize)
    per_row = 2 * q * itemsize + _kernels.VECTORS * 8
    fixed = q * itemsize if case == "labels smoothed weighted" else 0
    first = math.ceil((rows * per_row + fixed) / (_kernels.MEMORY_FRACTION * q * 8))
    spec = DENSE[case][0]
    spares = []
    for n in (first - 1, first):
        x, kw = _dense_args(n, q, np.float64, spec, seed=0)
        target = _kernels.DenseTarget(q, x.dtype, **kw)
        dp = _kernels._dense_plan(x, target)
        assert dp.k == 1 and dp.plan.rows == rows and not dp.plan.small
        spares.append(dp.spare)
    assert spares == [False, True], first


# ------------------------------------------------------- the kernels' helpers


def test_column_sums_add_as_numpy_adds_a_row_of_every_length():
    """_column_sums(g, s): each column of a (q, r) array summed in NumPy's
    pairwise order for a contiguous row of q <= 128 entries (one by one below
    8, else 8 partial sums, combined pairwise, then the rest): the bits of
    np.sum over the row, for every q, with and without ``acc``."""
    rng = np.random.default_rng(9)
    r = 5
    for q in range(1, 129):
        rows = rng.random((r, q)) * rng.random((r, q)) ** 6  # magnitudes apart
        want = np.sum(rows, axis=1)
        g = np.ascontiguousarray(rows.T)
        s = np.empty(r)
        acc = np.empty((min(q, 8), r))
        _kernels._column_sums(g.copy(), s)
        np.testing.assert_array_equal(s, want, err_msg=f"q={q}")
        kept = g.copy()
        _kernels._column_sums(kept, s, acc=acc)
        np.testing.assert_array_equal(s, want, err_msg=f"q={q} with acc")
        np.testing.assert_array_equal(kept, g)  # with acc, g is left as it was


def test_skip_shift_limits_are_the_documented_ones():
    """(lo, hi) = (log(tiny) + 1, log(max) - log(q) - 1) in the dtype: above
    lo exp is a normal number, below hi a row sum of q terms stays below
    max / e."""
    for dtype in (np.float64, np.float32):
        fi = np.finfo(dtype)
        for q in (1, 3, 1000):
            lo, hi = _kernels._limits(np.dtype(dtype), q)
            assert lo.dtype == hi.dtype == dtype
            assert lo == np.log(fi.tiny) + dtype(1)
            assert hi == np.log(fi.max) - dtype(math.log(q)) - dtype(1)
            assert np.exp(lo) >= fi.tiny
            with np.errstate(over="raise"):
                assert np.exp(hi) * q <= fi.max / 2  # about max / e


def test_scratch_arrays_up_to_pool_bytes_are_kept_and_reused():
    """A scratch array of up to POOL_BYTES is cached per thread and given
    again to the next call that asks for as much or less; a larger one is
    not cached."""
    _kernels.clear_scratch()
    dt = np.dtype(np.float64)
    most = _kernels.POOL_BYTES // dt.itemsize
    first = _kernels._Scratch(dt).get("t", (most,))
    again = _kernels._Scratch(dt).get("t", (2, most // 2))
    assert np.shares_memory(first, again)
    smaller = _kernels._Scratch(dt).get("t", (3, 7))
    assert np.shares_memory(first, smaller) and smaller.flags.c_contiguous
    big = _kernels._Scratch(dt).get("big", (most + 1,))
    assert not np.shares_memory(big, _kernels._Scratch(dt).get("big", (most + 1,)))
    sc = _kernels._Scratch(dt)  # within a call, a name keeps its first array
    a = sc.get("s", (10,))
    assert np.shares_memory(sc.get("s", (4,)), a)
    _kernels.clear_scratch()


def test_the_ones_of_row_sums_are_read_only(monkeypatch):
    monkeypatch.setattr(_kernels, "_ONES", {})  # made afresh here
    ones = _kernels._ones(np.dtype(np.float32))
    assert ones.shape == (_kernels.DOT_BLOCK,) and not ones.flags.writeable
    assert np.all(ones == 1) and ones.dtype == np.float32
    assert _kernels._ones(np.dtype(np.float32)) is ones  # made once
    ones64 = _kernels._ones(np.dtype(np.float64))  # one array per dtype
    assert ones64.dtype == np.float64 and _kernels._ones(np.dtype(np.float64)) is ones64


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_every_short_row_length_has_the_bits_of_the_reference(name):
    """Few classes are summed as NumPy sums a row of q entries, which
    changes strategy at 8 and at every multiple of 8."""
    f = getattr(sm, name)
    for q in range(1, SMALL_Q + 2):
        x = logits(7, q, seed=q)
        x[1, : min(q, 3)] = x[1].max() + 1  # ties
        np.testing.assert_array_equal(f(x), reference(name, x), err_msg=f"q={q}")
