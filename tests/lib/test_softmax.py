"""softmax, log_softmax and logsumexp: values, axes, out=, dtypes, special values,
and agreement with scipy.special on everything both define."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
import scipy.special as ss

import softmaxlib as sm

pytestmark = pytest.mark.filterwarnings("error")


def _quiet(f):
    """scipy warns on all -inf rows (we do not); silence it for the comparison."""

    def g(*args, **kwargs):
        with np.errstate(all="ignore"):
            return f(*args, **kwargs)

    return g


FUNCS = {
    "softmax": (sm.softmax, _quiet(ss.softmax)),
    "log_softmax": (sm.log_softmax, _quiet(ss.log_softmax)),
    "logsumexp": (sm.logsumexp, _quiet(ss.logsumexp)),
}
INF = np.inf
NAN = np.nan


def test_known_values():
    x = np.array([1.0, 2.0, 3.0])
    z = np.exp(1.0) + np.exp(2.0) + np.exp(3.0)
    np.testing.assert_allclose(sm.softmax(x), np.exp(x) / z, rtol=1e-15)
    np.testing.assert_allclose(sm.log_softmax(x), x - np.log(z), rtol=1e-15)
    np.testing.assert_allclose(sm.logsumexp(x), np.log(z), rtol=1e-15)


def test_public_api():
    # one source for the version: pyproject.toml takes it from the package
    assert sm.__version__ == importlib.metadata.version("softmaxlib")
    for name in (
        "softmax",
        "log_softmax",
        "logsumexp",
        "one_hot",
        "cross_entropy",
        "cross_entropy_grad",
        "cross_entropy_and_grad",
    ):
        assert name in sm.__all__
        assert callable(getattr(sm, name))


def test_softmax_is_a_probability_vector():
    rng = np.random.default_rng(0)
    x = 5 * rng.standard_normal((50, 7))
    p = sm.softmax(x)
    assert np.all(p > 0)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=0, atol=4e-16)


def test_large_and_tiny_logits_do_not_overflow_or_underflow():
    x = np.array([[1000.0, 1000.0], [-1000.0, -1000.0], [1e308, 1e308]])
    np.testing.assert_array_equal(sm.softmax(x), 0.5)
    np.testing.assert_allclose(sm.log_softmax(x), -np.log(2.0), rtol=1e-15)
    np.testing.assert_allclose(
        sm.logsumexp(x), [1000 + np.log(2), -1000 + np.log(2), 1e308], rtol=1e-15
    )


def test_ties_for_the_maximum():
    x = np.array([[2.0, 2.0, 2.0, 2.0], [5.0, 1.0, 5.0, 1.0]])
    np.testing.assert_array_equal(sm.softmax(x)[0], 0.25)
    np.testing.assert_allclose(sm.log_softmax(x)[0], -np.log(4.0), rtol=1e-15)
    p = sm.softmax(x)[1]
    assert p[0] == p[2]
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-15)
    np.testing.assert_allclose(sm.logsumexp(x)[1], 5 + np.log(2 + 2 * np.exp(-4.0)))


def test_single_class():
    x = np.array([[3.0], [-7.0]])
    np.testing.assert_array_equal(sm.softmax(x), 1.0)
    np.testing.assert_array_equal(sm.log_softmax(x), 0.0)
    np.testing.assert_array_equal(sm.logsumexp(x), [3.0, -7.0])


# ---------------------------------------------------------------- special values


def test_minus_inf_is_a_mask():
    x = np.array([[0.0, -INF, np.log(3.0)], [-INF, 5.0, -INF]])
    p = sm.softmax(x)
    np.testing.assert_allclose(p, [[0.25, 0, 0.75], [0, 1, 0]], rtol=1e-15)
    assert p[0, 1] == 0 and p[1, 0] == 0 and p[1, 2] == 0
    lp = sm.log_softmax(x)
    assert lp[0, 1] == -INF and lp[1, 0] == -INF and lp[1, 1] == 0
    np.testing.assert_allclose(sm.logsumexp(x), [np.log(4.0), 5.0], rtol=1e-15)


def test_all_minus_inf_row():
    x = np.array([[-INF, -INF, -INF], [0.0, 0.0, 0.0]])
    assert np.isnan(sm.softmax(x)[0]).all()
    assert np.isnan(sm.log_softmax(x)[0]).all()
    assert sm.logsumexp(x)[0] == -INF
    np.testing.assert_allclose(sm.softmax(x)[1], 1 / 3, rtol=1e-15)
    assert sm.logsumexp([-INF]) == -INF


@pytest.mark.parametrize(
    "bad",
    [
        [INF, 1.0, 2.0],
        [1.0, NAN, 2.0],
        [INF, -INF, NAN],
        [INF, INF, 0.0],
        [INF, 1000.0, -INF],  # exp(1000) would overflow if computed unguarded
        [NAN, 800.0, 1.0],
    ],
)
def test_plus_inf_and_nan_stay_in_their_row(bad):
    x = np.array([[1.0, 2.0, 3.0], bad, [0.0, -INF, 0.0]])
    good = x[[0, 2]]
    p, lp, lse = sm.softmax(x), sm.log_softmax(x), sm.logsumexp(x)
    assert np.isnan(p[1]).all() and np.isnan(lp[1]).all()
    np.testing.assert_array_equal(p[[0, 2]], sm.softmax(good))
    np.testing.assert_array_equal(lp[[0, 2]], sm.log_softmax(good))
    np.testing.assert_array_equal(lse[[0, 2]], sm.logsumexp(good))
    if np.isnan(bad).any():
        assert np.isnan(lse[1])
    else:
        assert lse[1] == INF  # log(sum(exp)) of +inf is +inf, as in scipy


def test_special_values_along_axis_0():
    x = np.array([[NAN, 0.0], [1.0, -INF], [2.0, -INF]])
    p = sm.softmax(x, axis=0)
    assert np.isnan(p[:, 0]).all()
    np.testing.assert_array_equal(p[:, 1], [1.0, 0.0, 0.0])


# ---------------------------------------------------------------- axes


@pytest.mark.parametrize(
    "axis", [0, 1, 2, -1, -2, -3, (0, 1), (1, 2), (0, 2), (2, 0), (0, 1, 2), None, ()]
)
@pytest.mark.parametrize("name", list(FUNCS))
def test_axis_variants_agree_with_scipy(name, axis):
    ours, theirs = FUNCS[name]
    rng = np.random.default_rng(1)
    x = 3 * rng.standard_normal((3, 4, 5))
    x[0, 1, 2] = -INF
    np.testing.assert_allclose(
        ours(x, axis=axis), theirs(x, axis=axis), rtol=2e-15, atol=2e-16
    )


@pytest.mark.parametrize("axis", [0, 1, -1, (0, 2), None])
def test_logsumexp_keepdims(axis):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 4))
    got = sm.logsumexp(x, axis=axis, keepdims=True)
    want = FUNCS["logsumexp"][1](x, axis=axis, keepdims=True)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=2e-15)
    np.testing.assert_allclose(
        sm.log_softmax(x, axis=axis), x - got, rtol=1e-14, atol=1e-15
    )


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_moving_the_class_axis(name):
    f = FUNCS[name][0]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 5))
    for axis in range(3):
        moved = np.moveaxis(x, axis, -1)
        np.testing.assert_array_equal(np.moveaxis(f(x, axis=axis), axis, -1), f(moved))


def test_tuple_axis_equals_reshaped_last_axis():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5))
    flat = x.reshape(3, 20)
    np.testing.assert_array_equal(
        sm.softmax(x, axis=(1, 2)).reshape(3, 20), sm.softmax(flat)
    )
    np.testing.assert_array_equal(sm.logsumexp(x, axis=(1, 2)), sm.logsumexp(flat))
    np.testing.assert_array_equal(sm.logsumexp(x, axis=None), sm.logsumexp(x.ravel()))


def test_numpy_integer_axis_is_accepted():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(sm.softmax(x, axis=np.int64(0)), sm.softmax(x, 0))


def test_non_contiguous_input():
    rng = np.random.default_rng(5)
    base = rng.standard_normal((8, 10))
    x = base[::2, ::3]
    np.testing.assert_array_equal(sm.softmax(x), sm.softmax(np.ascontiguousarray(x)))
    np.testing.assert_array_equal(
        sm.log_softmax(x.T, axis=0), sm.log_softmax(x, axis=-1).T
    )


def test_input_is_not_modified():
    x = np.array([[1.0, 2.0, -INF], [NAN, 0.0, 1.0]])
    before = x.copy()
    for f in (sm.softmax, sm.log_softmax, sm.logsumexp):
        f(x)
        np.testing.assert_array_equal(x, before)


def test_read_only_input():
    x = np.arange(6.0).reshape(2, 3)
    x.setflags(write=False)
    np.testing.assert_allclose(sm.softmax(x).sum(axis=-1), 1.0)
    b = np.broadcast_to(np.arange(3.0), (4, 3))
    np.testing.assert_array_equal(
        sm.log_softmax(b), np.tile(sm.log_softmax(b[0]), (4, 1))
    )


# ---------------------------------------------------------------- out=


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_out_is_filled_and_returned(name):
    f = FUNCS[name][0]
    x = np.random.default_rng(6).standard_normal((3, 4))
    out = np.full_like(x, 7.0)
    r = f(x, out=out)
    assert r is out
    np.testing.assert_array_equal(out, f(x))
    out0 = np.empty_like(x)
    assert f(x, axis=0, out=out0) is out0
    np.testing.assert_array_equal(out0, f(x, axis=0))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_out_may_be_the_input(name):
    f = FUNCS[name][0]
    x = np.random.default_rng(7).standard_normal((3, 4))
    want = f(x)
    assert f(x, out=x) is x
    np.testing.assert_array_equal(x, want)
    y = np.random.default_rng(7).standard_normal((3, 4))
    want = f(y, axis=0)
    f(y, axis=0, out=y)
    np.testing.assert_array_equal(y, want)


def test_out_float16_is_rounded_once():
    x = np.linspace(-3, 3, 12, dtype=np.float16).reshape(3, 4)
    out = np.empty((3, 4), dtype=np.float16)
    sm.softmax(x, out=out)
    np.testing.assert_array_equal(
        out, sm.softmax(x.astype(np.float32)).astype(np.float16)
    )


def test_out_non_contiguous():
    x = np.random.default_rng(8).standard_normal((3, 4))
    big = np.zeros((3, 8))
    out = big[:, ::2]
    sm.softmax(x, out=out)
    np.testing.assert_array_equal(big[:, ::2], sm.softmax(x))
    np.testing.assert_array_equal(big[:, 1::2], 0.0)


# ---------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.longdouble])
def test_floating_dtypes_are_kept(dtype):
    x = np.array([[1, 2, 3], [0, -INF, 0]], dtype=dtype)
    for f in (sm.softmax, sm.log_softmax, sm.logsumexp):
        assert f(x).dtype == dtype
    ref = ss.softmax(x.astype(np.float64), axis=-1)
    rtol = 4 * max(np.finfo(dtype).eps, np.finfo(np.float64).eps)
    np.testing.assert_allclose(sm.softmax(x), ref, rtol=rtol)


def test_float16_is_computed_in_float32():
    rng = np.random.default_rng(9)
    x = (3 * rng.standard_normal((20, 6))).astype(np.float16)
    x32 = x.astype(np.float32)
    for f in (sm.softmax, sm.log_softmax, sm.logsumexp):
        got = f(x)
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got, f(x32).astype(np.float16))


def test_float16_results_that_overflow_become_inf_without_a_warning():
    """As in torch: the float32 result -120000 rounds to -inf in float16,
    silently (this module turns warnings into errors)."""
    x = np.array([[60000, -60000], [-65504, 65504]], dtype=np.float16)
    want = np.array([[0, -INF], [-INF, 0]], dtype=np.float16)
    np.testing.assert_array_equal(sm.log_softmax(x), want)
    np.testing.assert_array_equal(sm.log_softmax(x.T, axis=0), want.T)
    out = np.empty_like(x)
    assert sm.log_softmax(x, out=out) is out
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(sm.softmax(x), [[1, 0], [0, 1]])


def test_float16_logsumexp_that_overflows_is_inf_without_a_warning():
    """65504 + log(10**7) = 65520.1 is above float16's largest value 65504."""
    x = np.full(10**7, 65504, dtype=np.float16)
    assert sm.logsumexp(x) == INF
    assert sm.logsumexp(x[:100]) == 65504


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint16, np.bool_])
def test_integer_and_bool_become_float64(dtype):
    x = np.array([[1, 0, 1], [0, 0, 1]], dtype=dtype)
    for f in (sm.softmax, sm.log_softmax, sm.logsumexp):
        got = f(x)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, f(x.astype(np.float64)))


def test_python_lists_and_scalars_types():
    assert isinstance(sm.logsumexp([0.0, 0.0]), np.float64)
    assert sm.logsumexp([[0.0, 0.0]]).shape == (1,)
    assert sm.softmax([[1, 2]]).shape == (1, 2)
    assert sm.logsumexp(np.float32([0.0, 0.0])).dtype == np.float32


# ---------------------------------------------------------------- empty input


@pytest.mark.parametrize("shape", [(0, 3), (2, 0, 3), (0, 0, 4)])
def test_empty_batch_gives_empty_result(shape):
    x = np.zeros(shape, dtype=np.float32)
    assert sm.softmax(x).shape == shape and sm.softmax(x).dtype == np.float32
    assert sm.log_softmax(x).shape == shape
    assert sm.logsumexp(x).shape == shape[:-1]
    assert sm.logsumexp(x, keepdims=True).shape == shape[:-1] + (1,)


def test_zero_classes_raise():
    """softmax of no classes is undefined (scipy raises too, from np.max); the
    message names the function that raised."""
    for f in (sm.softmax, sm.log_softmax):
        with pytest.raises(
            ValueError, match=rf"no classes along axis -?1.*\(3, 0\).*{f.__name__} "
        ):
            f(np.zeros((3, 0)))
        with pytest.raises(ValueError, match=r"no classes along axis \(0, 1\)"):
            f(np.zeros((0, 2, 3)), axis=(0, 1))
        with pytest.raises(ValueError, match=rf"; {f.__name__} needs at least one"):
            f([], axis=None)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int64])
def test_logsumexp_of_no_entries_is_minus_inf(dtype):
    """An empty sum is 0 and its logarithm -inf, as in scipy and torch; its sign
    is 0 (scipy's is -1, the sign of its -inf)."""
    want = np.float64 if dtype == np.int64 else dtype
    r = sm.logsumexp(np.zeros(0, dtype))
    assert type(r) is want and r == -INF
    r = sm.logsumexp(np.zeros((3, 0), dtype), keepdims=True)
    assert r.shape == (3, 1) and r.dtype == want and np.all(r == -INF)
    r, sign = sm.logsumexp(np.zeros((0, 2, 3), dtype), axis=(0, 1), return_sign=True)
    assert r.shape == sign.shape == (3,)
    assert np.all(r == -INF) and np.all(sign == 0) and sign.dtype == want
    r = sm.logsumexp(np.zeros((2, 0)), b=np.ones(0))
    np.testing.assert_array_equal(r, [-INF, -INF])
    assert sm.logsumexp([], axis=None) == -INF


@pytest.mark.parametrize("f", [sm.softmax, sm.log_softmax, sm.logsumexp])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int32])
def test_zero_dimensional_results_are_numpy_scalars(f, dtype):
    """A 0-d result is a numpy scalar (np.generic), as scipy's and NumPy's
    reductions return; with out= the 0-d out itself."""
    want = np.float64 if dtype == np.int32 else dtype
    r = f(np.asarray(2, dtype), axis=None)
    assert isinstance(r, np.generic) and type(r) is want
    if f is not sm.logsumexp:
        out = np.empty((), want)
        assert f(np.asarray(2, dtype), axis=None, out=out) is out
    r = sm.logsumexp(np.ones((2, 3), dtype), axis=(0, 1))
    assert isinstance(r, np.generic) and type(r) is want


# ---------------------------------------------------------------- scipy parity


@pytest.mark.parametrize("scale", [0.1, 1.0, 30.0, 300.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(FUNCS))
def test_agreement_with_scipy(name, dtype, scale):
    ours, theirs = FUNCS[name]
    rng = np.random.default_rng(10)
    x = (scale * rng.standard_normal((64, 9))).astype(dtype)
    x[::7, 3] = -INF  # masks are defined by both
    x[5] = -INF  # an all -inf row: NaN / -inf in both
    got, want = ours(x), theirs(x, axis=-1)
    assert got.dtype == want.dtype
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got, want, rtol=8 * eps, atol=8 * eps)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))


def test_agreement_with_scipy_on_dominant_entries_within_absolute_rounding():
    """Both agree to the absolute rounding level; only we keep the tiny value."""
    x = np.array([[0.0, -50.0, -60.0], [0.0, -800.0, -900.0]])
    ours, theirs = sm.log_softmax(x), FUNCS["log_softmax"][1](x, axis=-1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-15, atol=1e-16)
    assert ours[0, 0] < 0 and ours[0, 0] == pytest.approx(-np.exp(-50), rel=1e-14)
    assert ours[1, 0] == -0.0  # exp(-800) underflows to 0 in float64


def test_scipy_default_axis_differs():
    """scipy.special.softmax normalises over all entries unless told otherwise."""
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    theirs = FUNCS["softmax"][1]
    np.testing.assert_allclose(sm.softmax(x, axis=None), theirs(x), rtol=1e-15)
    assert not np.allclose(sm.softmax(x), theirs(x))
