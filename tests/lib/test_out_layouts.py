"""``out=`` in every memory layout, at the default chunk size.

softmax and log_softmax hand the kernel the caller's ``out`` itself when it
can be viewed as C-contiguous rows in the moved axis order (even when it is
the input), and otherwise a separate result that is copied into ``out``.
Tests with tiny chunks (test_kernels.py) cut every row apart; these run at
the default CHUNK_BYTES, where a chunk holds thousands of rows, with sizes
either side of the kernels' switches, so that a layout bug that shows only
with real chunks is seen.
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

import softmaxlib as sm
from softmaxlib import _kernels

FUNCS = ("softmax", "log_softmax")
ROWS64 = _kernels.CHUNK_BYTES // (10 * 8)  # rows of one chunk, q = 10, float64


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _sizes(dtype):
    out = [(1, 1), (7, 5), (9, _kernels.SMALL_Q - 1), (9, _kernels.SMALL_Q)]
    out += [(3, 9000)]  # rows summed in blocks by log_softmax
    if dtype == np.float64:
        out += [(ROWS64 + 3, 10)]  # two chunks
    return out


def _outs(n, q, dtype):
    """Empty arrays of shape (n, q) in every layout: {name: array}."""
    big = np.empty((2 * n, 3 * q), dtype=dtype)
    return {
        "C": np.empty((n, q), dtype=dtype),
        "F": np.empty((n, q), dtype=dtype, order="F"),
        "strided": big[::2, ::3],
        "rows apart": big[::2, :q],
        "negative": np.empty((n, q), dtype=dtype)[::-1, ::-1],
        "negative rows": np.empty((n, q), dtype=dtype)[::-1],
    }


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("name", FUNCS)
def test_out_in_every_layout_at_the_default_chunk_size(name, dtype):
    f = getattr(sm, name)
    for n, q in _sizes(dtype):
        x = (3 * np.random.default_rng(n + q).standard_normal((n, q))).astype(dtype)
        x[0, :2] = x[0].max() + 1  # a tie for the maximum
        keep = x.copy()
        want = f(x)
        for layout, out in _outs(n, q, dtype).items():
            assert f(x, out=out) is out
            np.testing.assert_array_equal(out, want, err_msg=f"{layout} {n}x{q}")
            # the class axis first: out transposed alike
            out_t = out.T
            assert f(x.T, axis=0, out=out_t) is out_t
            np.testing.assert_array_equal(out, want, err_msg=f"{layout}.T {n}x{q}")
        np.testing.assert_array_equal(x, keep)  # the input is left alone


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("name", FUNCS)
def test_out_is_the_input_in_every_layout(name, dtype):
    """In place, and into an ``out`` that overlaps the input without being
    it (one row further on), at the default chunk size."""
    f = getattr(sm, name)
    for n, q in _sizes(dtype):
        x = (3 * np.random.default_rng(n).standard_normal((n, q))).astype(dtype)
        want = f(x)
        for layout, v in _outs(n, q, dtype).items():
            v[...] = x
            assert f(v, out=v) is v
            np.testing.assert_array_equal(v, want, err_msg=f"{layout} {n}x{q}")
            v[...] = x
            v_t = v.T
            assert f(v_t, axis=0, out=v_t) is v_t
            np.testing.assert_array_equal(v, want, err_msg=f"{layout}.T {n}x{q}")
        buf = np.concatenate([x, np.zeros((1, q), dtype=dtype)])
        out = buf[1:]
        assert f(buf[:-1], out=out) is out
        np.testing.assert_array_equal(out, want, err_msg=f"overlap {n}x{q}")
        buf = np.concatenate([np.zeros((1, q), dtype=dtype), x])
        out = buf[:-1]
        assert f(buf[1:], out=out) is out
        np.testing.assert_array_equal(out, want, err_msg=f"overlap back {n}x{q}")


@pytest.mark.parametrize("name", FUNCS)
def test_out_over_several_axes(name):
    """A tuple of class axes, merged: out in the input's layout, and not."""
    f = getattr(sm, name)
    x = np.random.default_rng(3).standard_normal((6, 5, 4))
    want = f(x, axis=(0, 2))
    for out in (np.empty_like(x), np.empty(x.shape, order="F")):
        assert f(x, axis=(0, 2), out=out) is out
        np.testing.assert_array_equal(out, want)
    for y in (
        x.copy(),
        np.asfortranarray(x),
        x.transpose(1, 0, 2).copy().transpose(1, 0, 2),
    ):
        assert f(y, axis=(0, 2), out=y) is y  # in place
        np.testing.assert_array_equal(y, want)


def _peak_bytes(f, *args, **kwargs) -> int:
    """The most memory allocated at once during ``f(*args, **kwargs)``."""
    _kernels.clear_scratch()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        f(*args, **kwargs)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", FUNCS)
def test_out_that_allows_it_is_written_directly(name):
    """An ``out`` whose memory holds C-contiguous rows (the input itself,
    or its transpose along axis 0) gets the result without a copy of its
    size: the extra memory is the kernel's scratch, a small share of it."""
    f = getattr(sm, name)
    x = np.random.default_rng(4).standard_normal((8000, 50))
    out = np.empty_like(x)
    for args in ((x, -1, out), (x, -1, x), (x.T, 0, out.T), (x.T, 0, x.T)):
        arr, axis, target = args
        assert _peak_bytes(f, arr, axis, out=target) < 0.25 * x.nbytes, axis
    # two class axes of a 3-D array whose memory has them last, in place
    y = x.reshape(40, 200, 50).transpose(1, 0, 2)  # axes (0, 2) are rows
    assert _peak_bytes(f, y, (0, 2), out=y) < 0.25 * x.nbytes
    # a Fortran-ordered out cannot take the rows: a result of its size first
    out_f = np.empty_like(x, order="F")
    assert _peak_bytes(f, x, out=out_f) >= x.nbytes
