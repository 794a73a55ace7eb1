"""SciPy's own tests of logsumexp, softmax and log_softmax, as the contract.

Every case below is a case of ``scipy/special/tests/test_logsumexp.py`` as
published with SciPy 1.17 (classes ``TestLogSumExp``, ``TestSoftmax`` and
``TestLogSoftmax``; the older ``test_log_softmax.py`` of SciPy 1.5-1.14 holds
the same log_softmax cases, all of which are here), with SciPy's inputs,
expected values, assertions and tolerances as SciPy wrote them. The test names
are SciPy's. Each case runs twice, through thin wrappers with SciPy's
signatures (``axis=None`` is passed explicitly where SciPy defaults to it):
once against softmaxlib and once against ``scipy.special`` itself, so that a
case cannot be subtly rewritten in SciPy's disfavour or its favour.

SciPy's assertion helpers are re-created for NumPy only, after
``scipy._lib._array_api`` and ``scipy._lib._array_api_no_0d``:
``xp_assert_equal``, ``xp_assert_close`` (default ``rtol`` 4 sqrt(eps) of the
result's dtype, ``atol`` 0) and ``xp_assert_less`` check the dtype and the
shape, and where the expected value is 0-d they require the result to be a
NumPy scalar (SciPy's "no 0-d arrays" rule). The namespace check becomes
"the result is a NumPy array or scalar".

Left out, and why:

* complex input, out of softmaxlib's scope (it raises TypeError):
  ``test_logsumexp_complex_sign``, ``test_gh21610`` (2 dtypes),
  ``test_gh21709_small_imaginary``, the complex dtypes of ``test_dtypes_a``
  (2 of 6) and ``test_dtypes_ab`` (20 of 36 pairs), and the pairs of
  ``test_gh22601_infinite_elements`` with a complex infinity (320 of 324);
* SciPy-private helpers: ``test_wrap_radians`` (``_wrap_radians``, which
  wraps the phase of complex results);
* array-API backends: ``test_device`` (device propagation), the ``xp``
  fixture (only NumPy here) and the ``xfail_xp_backends`` marks.

SciPy's results on which softmaxlib differs are not in SciPy's tests (the
sign of an empty sum; see chapters/api.md).
"""

from __future__ import annotations

import itertools as it
import math

import numpy as np
import pytest
import scipy
import scipy.special as ss
from packaging.version import Version

import softmaxlib as sm

# The cases of SciPy's current suite that older SciPy releases fail (SciPy fixed
# logsumexp's signs with negative weights and infinite terms in 1.16, gh-22601 and
# gh-22903); `make test-oldest` runs this module on the oldest SciPy we support.
SCIPY_FIXED_SIGNS = Version(scipy.__version__) >= Version("1.16")

# ------------------------------------------------------------- the wrappers


class _Softmaxlib:
    """softmaxlib behind SciPy's signatures (SciPy's default axis is None)."""

    @staticmethod
    def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
        return sm.logsumexp(
            a, axis=axis, b=b, keepdims=keepdims, return_sign=return_sign
        )

    @staticmethod
    def softmax(x, axis=None):
        return sm.softmax(x, axis=axis)

    @staticmethod
    def log_softmax(x, axis=None):
        return sm.log_softmax(x, axis=axis)


class _Scipy:
    logsumexp = staticmethod(ss.logsumexp)
    softmax = staticmethod(ss.softmax)
    log_softmax = staticmethod(ss.log_softmax)


@pytest.fixture(params=["softmaxlib", "scipy"])
def lib(request):
    return _Softmaxlib if request.param == "softmaxlib" else _Scipy


# SciPy runs its tests with the NumPy namespace as ``xp``.
xp = np


# ------------------------------------------- SciPy's assertions, NumPy only


def _check_scalar(actual, desired):
    # _array_api_no_0d: a 0-d expected value requires a NumPy scalar result
    if np.asarray(desired).shape == ():
        assert np.isscalar(actual), "Result is a NumPy 0d-array, not a scalar"


def _strict_check(actual, desired, *, check_dtype=True, check_shape=True):
    assert isinstance(actual, np.ndarray | np.generic), type(actual)
    actual = np.asarray(actual)
    desired = np.asarray(desired)
    if check_dtype:
        assert actual.dtype == desired.dtype, (
            f"dtypes do not match.\nActual: {actual.dtype}\nDesired: {desired.dtype}"
        )
    if check_shape:
        assert actual.shape == desired.shape, (
            f"Shapes do not match.\nActual: {actual.shape}\nDesired: {desired.shape}"
        )
    return actual, np.broadcast_to(desired, actual.shape)


def xp_assert_equal(actual, desired, *, check_dtype=True, check_shape=True):
    _check_scalar(actual, desired)
    actual, desired = _strict_check(
        actual, desired, check_dtype=check_dtype, check_shape=check_shape
    )
    np.testing.assert_array_equal(actual, desired)


def xp_assert_close(actual, desired, *, rtol=None, atol=0, check_dtype=True):
    _check_scalar(actual, desired)
    actual, desired = _strict_check(actual, desired, check_dtype=check_dtype)
    if rtol is None and actual.dtype.kind in "fc":
        rtol = np.finfo(actual.dtype).eps ** 0.5 * 4
    elif rtol is None:
        rtol = 1e-7
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol)


def xp_default_dtype(xp):
    return xp.asarray(1.0).dtype


# ---------------------------------------------------------------- logsumexp

dtypes = ["float32", "float64", "int32", "int64"]  # SciPy's, without complex


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:divide by zero encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
class TestLogSumExp:
    def test_logsumexp(self, lib):
        logsumexp = lib.logsumexp
        # Test with zero-size array
        a = xp.asarray([])
        desired = xp.asarray(-xp.inf)
        xp_assert_equal(logsumexp(a), desired)

        # Test whether logsumexp() function correctly handles large inputs.
        a = xp.arange(200.0, dtype=xp.float64)
        desired = xp.log(xp.sum(xp.exp(a)))
        xp_assert_close(logsumexp(a), desired)

        # Now test with large numbers
        b = xp.asarray([1000.0, 1000.0])
        desired = xp.asarray(1000.0 + math.log(2.0))
        xp_assert_close(logsumexp(b), desired)

        n = 1000
        b = xp.full((n,), 10000)
        desired = xp.asarray(10000.0 + math.log(n))
        xp_assert_close(logsumexp(b), desired)

        x = xp.asarray([1e-40] * 1000000)
        logx = xp.log(x)
        X = xp.stack([x, x])
        logX = xp.stack([logx, logx])
        xp_assert_close(xp.exp(logsumexp(logX)), xp.sum(X))
        xp_assert_close(xp.exp(logsumexp(logX, axis=0)), xp.sum(X, axis=0))
        xp_assert_close(xp.exp(logsumexp(logX, axis=1)), xp.sum(X, axis=1))

        # Handling special values properly
        inf = xp.asarray([xp.inf])
        nan = xp.asarray([xp.nan])
        xp_assert_equal(logsumexp(inf), inf[0])
        xp_assert_equal(logsumexp(-inf), -inf[0])
        xp_assert_equal(logsumexp(nan), nan[0])
        xp_assert_equal(logsumexp(xp.asarray([-xp.inf, -xp.inf])), -inf[0])

        # Handling an array with different magnitudes on the axes
        a = xp.asarray([[1e10, 1e-10], [-1e10, -np.inf]])
        ref = xp.asarray([1e10, -1e10])
        xp_assert_close(logsumexp(a, axis=-1), ref)

        # Test keeping dimensions
        ref = xp.expand_dims(ref, axis=-1)
        xp_assert_close(logsumexp(a, axis=-1, keepdims=True), ref)

        # Test multiple axes
        xp_assert_close(logsumexp(a, axis=(-1, -2)), xp.asarray(1e10))

    def test_logsumexp_b(self, lib):
        logsumexp = lib.logsumexp
        a = xp.arange(200.0, dtype=xp.float64)
        b = xp.arange(200.0, 0.0, -1.0)
        desired = xp.log(xp.sum(b * xp.exp(a)))
        xp_assert_close(logsumexp(a, b=b), desired)

        a = xp.asarray([1000, 1000])
        b = xp.asarray([1.2, 1.2])
        desired = xp.asarray(1000 + math.log(2 * 1.2))
        xp_assert_close(logsumexp(a, b=b), desired)

        x = xp.asarray([1e-40] * 100000)
        b = xp.linspace(1, 1000, 100000)
        logx = xp.log(x)
        X = xp.stack((x, x))
        logX = xp.stack((logx, logx))
        B = xp.stack((b, b))
        xp_assert_close(xp.exp(logsumexp(logX, b=B)), xp.sum(B * X))
        xp_assert_close(xp.exp(logsumexp(logX, b=B, axis=0)), xp.sum(B * X, axis=0))
        xp_assert_close(xp.exp(logsumexp(logX, b=B, axis=1)), xp.sum(B * X, axis=1))

    def test_logsumexp_sign(self, lib):
        a = xp.asarray([1, 1, 1])
        b = xp.asarray([1, -1, -1])

        r, s = lib.logsumexp(a, b=b, return_sign=True)
        xp_assert_close(r, xp.asarray(1.0))
        xp_assert_equal(s, xp.asarray(-1.0))

    def test_logsumexp_sign_zero(self, lib):
        a = xp.asarray([1, 1])
        b = xp.asarray([1, -1])

        r, s = lib.logsumexp(a, b=b, return_sign=True)
        assert not xp.isfinite(r)
        assert not xp.isnan(r)
        assert r < 0
        assert s == 0

    def test_logsumexp_sign_shape(self, lib):
        a = xp.ones((1, 2, 3, 4))
        b = xp.ones_like(a)

        r, s = lib.logsumexp(a, axis=2, b=b, return_sign=True)
        assert r.shape == s.shape == (1, 2, 4)

        r, s = lib.logsumexp(a, axis=(1, 3), b=b, return_sign=True)
        assert r.shape == s.shape == (1, 3)

    def test_logsumexp_shape(self, lib):
        a = xp.ones((1, 2, 3, 4))
        b = xp.ones_like(a)

        r = lib.logsumexp(a, axis=2, b=b)
        assert r.shape == (1, 2, 4)

        r = lib.logsumexp(a, axis=(1, 3), b=b)
        assert r.shape == (1, 3)

    def test_logsumexp_b_zero(self, lib):
        a = xp.asarray([1, 10000])
        b = xp.asarray([1, 0])

        xp_assert_close(lib.logsumexp(a, b=b), xp.asarray(1.0))

    def test_logsumexp_b_shape(self, lib):
        a = xp.zeros((4, 1, 2, 1))
        b = xp.ones((3, 1, 5))

        lib.logsumexp(a, b=b)

    @pytest.mark.parametrize("arg", (1, [1, 2, 3]))
    def test_xp_invalid_input(self, lib, arg):
        logsumexp = lib.logsumexp
        assert logsumexp(arg) == logsumexp(np.asarray(np.atleast_1d(arg)))

    def test_array_like(self, lib):
        a = [1000, 1000]
        desired = np.asarray(1000.0 + math.log(2.0))
        xp_assert_close(lib.logsumexp(a), desired)

    @pytest.mark.parametrize("dtype", dtypes)
    def test_dtypes_a(self, lib, dtype):
        dtype = getattr(xp, dtype)
        a = xp.asarray([1000.0, 1000.0], dtype=dtype)
        desired_dtype = (
            xp.asarray(1.0).dtype if xp.isdtype(dtype, "integral") else dtype
        )  # true for all libraries tested
        desired = xp.asarray(1000.0 + math.log(2.0), dtype=desired_dtype)
        xp_assert_close(lib.logsumexp(a), desired)

    @pytest.mark.parametrize("dtype_a", dtypes)
    @pytest.mark.parametrize("dtype_b", dtypes)
    def test_dtypes_ab(self, lib, dtype_a, dtype_b):
        xp_dtype_a = getattr(xp, dtype_a)
        xp_dtype_b = getattr(xp, dtype_b)
        a = xp.asarray([2, 1], dtype=xp_dtype_a)
        b = xp.asarray([1, -1], dtype=xp_dtype_b)
        # (SciPy's special case for array_api_strict does not apply to NumPy)
        desired_dtype = xp.result_type(xp_dtype_a, xp_dtype_b)
        if xp.isdtype(desired_dtype, "integral"):
            desired_dtype = xp_default_dtype(xp)
        desired = xp.asarray(math.log(math.exp(2) - math.exp(1)), dtype=desired_dtype)
        xp_assert_close(lib.logsumexp(a, b=b), desired)

    def test_gh18295(self, lib):
        # gh-18295 noted loss of precision when real part of one element is much
        # larger than the rest. Check that this is resolved.
        a = xp.asarray([0.0, -40.0])
        res = lib.logsumexp(a)
        ref = xp.logaddexp(a[0], a[1])
        xp_assert_close(res, ref)

    # SciPy's list has 18 values, 16 of them complex; the real pairs remain.
    @pytest.mark.parametrize("x,y", list(it.product([-np.inf, np.inf], repeat=2)))
    def test_gh22601_infinite_elements(self, lib, x, y):
        # Test that `logsumexp` does reasonable things in the presence of
        # real and complex infinities.
        res = lib.logsumexp(xp.asarray([x, y]))
        ref = xp.log(xp.sum(xp.exp(xp.asarray([x, y]))))
        xp_assert_equal(res, ref)

    def test_no_writeback(self, lib):
        """Test that logsumexp doesn't accidentally write back to its parameters."""
        a = xp.asarray([5.0, 4.0])
        b = xp.asarray([3.0, 2.0])
        lib.logsumexp(a)
        lib.logsumexp(a, b=b)
        xp_assert_equal(a, xp.asarray([5.0, 4.0]))
        xp_assert_equal(b, xp.asarray([3.0, 2.0]))

    def test_gh22903(self, lib):
        if lib is _Scipy and not SCIPY_FIXED_SIGNS:
            pytest.skip(f"fixed in SciPy 1.16, this is {scipy.__version__}")
        # gh-22903 reported that `logsumexp` produced NaN where the weight associated
        # with the max magnitude element was negative and `return_sign=False`, even if
        # the net result should be the log of a positive number.
        logsumexp = lib.logsumexp

        # result is log of positive number
        a = xp.asarray([3.06409428, 0.37251854, 3.87471931])
        b = xp.asarray([1.88190708, 2.84174795, -0.85016884])
        xp_assert_close(logsumexp(a, b=b), logsumexp(a, b=b, return_sign=True)[0])

        # result is log of negative number
        b = xp.asarray([1.88190708, 2.84174795, -3.85016884])
        xp_assert_close(logsumexp(a, b=b), xp.asarray(xp.nan))

    @pytest.mark.parametrize(
        "a, b, sign_ref", [([np.inf], None, 1.0), ([np.inf], [-1.0], -1.0)]
    )
    def test_gh23548(self, lib, a, b, sign_ref):
        # gh-23548 reported that `logsumexp` with `return_sign=True` returned a sign
        # of NaN with infinite reals
        a, b = xp.asarray(a), xp.asarray(b) if b is not None else None
        val, sign = lib.logsumexp(a, b=b, return_sign=True)
        assert xp.isinf(val)
        xp_assert_equal(sign, xp.asarray(sign_ref))


# ------------------------------------------------------------------ softmax


class TestSoftmax:
    def test_softmax_fixtures(self, lib):
        softmax = lib.softmax
        xp_assert_close(
            softmax(xp.asarray([1000.0, 0.0, 0.0, 0.0])),
            xp.asarray([1.0, 0.0, 0.0, 0.0]),
            rtol=1e-13,
        )
        xp_assert_close(
            softmax(xp.asarray([1.0, 1.0])), xp.asarray([0.5, 0.5]), rtol=1e-13
        )
        xp_assert_close(
            softmax(xp.asarray([0.0, 1.0])),
            xp.asarray([1.0, np.e]) / (1 + np.e),
            rtol=1e-13,
        )

        # Expected value computed using mpmath (with mpmath.mp.dps = 200) and then
        # converted to float.
        x = xp.arange(4, dtype=xp.float64)
        expected = xp.asarray(
            [
                0.03205860328008499,
                0.08714431874203256,
                0.23688281808991013,
                0.6439142598879722,
            ],
            dtype=xp.float64,
        )

        xp_assert_close(softmax(x), expected, rtol=1e-13)

        # Translation property.  If all the values are changed by the same amount,
        # the softmax result does not change.
        xp_assert_close(softmax(x + 100), expected, rtol=1e-13)

        # When axis=None, softmax operates on the entire array, and preserves
        # the shape.
        xp_assert_close(
            softmax(xp.reshape(x, (2, 2))), xp.reshape(expected, (2, 2)), rtol=1e-13
        )

    def test_softmax_multi_axes(self, lib):
        softmax = lib.softmax
        xp_assert_close(
            softmax(xp.asarray([[1000.0, 0.0], [1000.0, 0.0]]), axis=0),
            xp.asarray([[0.5, 0.5], [0.5, 0.5]]),
            rtol=1e-13,
        )
        xp_assert_close(
            softmax(xp.asarray([[1000.0, 0.0], [1000.0, 0.0]]), axis=1),
            xp.asarray([[1.0, 0.0], [1.0, 0.0]]),
            rtol=1e-13,
        )

        # Expected value computed using mpmath (with mpmath.mp.dps = 200) and then
        # converted to float.
        x = xp.asarray([[-25.0, 0.0, 25.0, 50.0], [1.0, 325.0, 749.0, 750.0]])
        expected = xp.asarray(
            [
                [
                    2.678636961770877e-33,
                    1.9287498479371314e-22,
                    1.3887943864771144e-11,
                    0.999999999986112,
                ],
                [
                    0.0,
                    1.9444526359919372e-185,
                    0.2689414213699951,
                    0.7310585786300048,
                ],
            ]
        )
        xp_assert_close(softmax(x, axis=1), expected, rtol=1e-13)
        xp_assert_close(softmax(x.T, axis=0), expected.T, rtol=1e-13)

        # 3-d input, with a tuple for the axis.
        x3d = xp.reshape(x, (2, 2, 2))
        xp_assert_close(
            softmax(x3d, axis=(1, 2)), xp.reshape(expected, (2, 2, 2)), rtol=1e-13
        )

    def test_softmax_int_array(self, lib):
        xp_assert_close(
            lib.softmax(xp.asarray([1000, 0, 0, 0])),
            xp.asarray([1.0, 0.0, 0.0, 0.0]),
            rtol=1e-13,
        )

    def test_softmax_scalar(self, lib):
        xp_assert_close(lib.softmax(1000), np.asarray(1.0), rtol=1e-13)

    def test_softmax_array_like(self, lib):
        xp_assert_close(
            lib.softmax([1000, 0, 0, 0]), np.asarray([1.0, 0.0, 0.0, 0.0]), rtol=1e-13
        )


# -------------------------------------------------------------- log_softmax


class TestLogSoftmax:
    def test_log_softmax_basic(self, lib):
        xp_assert_close(
            lib.log_softmax(xp.asarray([1000.0, 1.0])),
            xp.asarray([0.0, -999.0]),
            rtol=1e-13,
        )

    def test_log_softmax_int_array(self, lib):
        xp_assert_close(
            lib.log_softmax(xp.asarray([1000, 1])),
            xp.asarray([0.0, -999.0]),
            rtol=1e-13,
        )

    def test_log_softmax_scalar(self, lib):
        xp_assert_close(lib.log_softmax(1.0), 0.0, rtol=1e-13)

    def test_log_softmax_array_like(self, lib):
        xp_assert_close(
            lib.log_softmax([1000, 1]), np.asarray([0.0, -999.0]), rtol=1e-13
        )

    @staticmethod
    def data_1d(xp):
        x = xp.arange(4, dtype=xp.float64)
        # Expected value computed using mpmath (with mpmath.mp.dps = 200)
        expect = [
            -3.4401896985611953,
            -2.4401896985611953,
            -1.4401896985611953,
            -0.44018969856119533,
        ]
        return x, xp.asarray(expect, dtype=xp.float64)

    @staticmethod
    def data_2d(xp):
        x = xp.reshape(xp.arange(8, dtype=xp.float64), (2, 4))

        # Expected value computed using mpmath (with mpmath.mp.dps = 200)
        expect = [
            [
                -3.4401896985611953,
                -2.4401896985611953,
                -1.4401896985611953,
                -0.44018969856119533,
            ],
            [
                -3.4401896985611953,
                -2.4401896985611953,
                -1.4401896985611953,
                -0.44018969856119533,
            ],
        ]
        return x, xp.asarray(expect, dtype=xp.float64)

    @pytest.mark.parametrize("offset", [0, 100])
    def test_log_softmax_translation(self, lib, offset):
        # Translation property.  If all the values are changed by the same amount,
        # the softmax result does not change.
        x, expect = self.data_1d(xp)
        x += offset
        xp_assert_close(lib.log_softmax(x), expect, rtol=1e-13)

    def test_log_softmax_noneaxis(self, lib):
        # When axis=None, softmax operates on the entire array, and preserves
        # the shape.
        x, expect = self.data_1d(xp)
        x = xp.reshape(x, (2, 2))
        expect = xp.reshape(expect, (2, 2))
        xp_assert_close(lib.log_softmax(x), expect, rtol=1e-13)

    @pytest.mark.parametrize(
        "axis_2d, expected_2d",
        [
            (0, np.log(0.5) * np.ones((2, 2))),
            (1, [[0.0, -999.0], [0.0, -999.0]]),
        ],
    )
    def test_axes(self, lib, axis_2d, expected_2d):
        x = xp.asarray([[1000.0, 1.0], [1000.0, 1.0]])
        xp_assert_close(
            lib.log_softmax(x, axis=axis_2d),
            xp.asarray(expected_2d, dtype=x.dtype),
            rtol=1e-13,
        )

    def test_log_softmax_2d_axis1(self, lib):
        x, expect = self.data_2d(xp)
        xp_assert_close(lib.log_softmax(x, axis=1), expect, rtol=1e-13)

    def test_log_softmax_2d_axis0(self, lib):
        x, expect = self.data_2d(xp)
        xp_assert_close(lib.log_softmax(x.T, axis=0), expect.T, rtol=1e-13)

    def test_log_softmax_3d(self, lib):
        # 3D input, with a tuple for the axis.
        x, expect = self.data_2d(xp)
        x = xp.reshape(x, (2, 2, 2))
        expect = xp.reshape(expect, (2, 2, 2))
        xp_assert_close(lib.log_softmax(x, axis=(1, 2)), expect, rtol=1e-13)
