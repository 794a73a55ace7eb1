"""Every argument error: the right exception, and a message that names the
argument and the offending value, shape or position."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import softmaxlib as sm

ELEMENTWISE = [sm.softmax, sm.log_softmax]
REDUCING = [sm.softmax, sm.log_softmax, sm.logsumexp]
LOSSES = [sm.cross_entropy, sm.cross_entropy_grad, sm.cross_entropy_and_grad]
X = np.zeros((4, 3))
LABELS = np.array([0, 1, 2, 1])


def ids(f):
    return f.__name__


# ---------------------------------------------------------------- softmax family


@pytest.mark.parametrize("f", REDUCING, ids=ids)
class TestArrayFunctions:
    def test_complex(self, f):
        with pytest.raises(TypeError, match=r"x must be real, got a complex array"):
            f(np.array([1 + 2j, 0j]))

    @pytest.mark.parametrize(
        "x,dtype",
        [
            (np.array([1.0, None]), "object"),
            (np.array(["a", "b"]), "<U1"),
            (np.array([b"a"]), "|S1"),
            (np.array([1, 2], dtype="M8[s]"), "datetime64"),
        ],
    )
    def test_non_numeric(self, f, x, dtype):
        with pytest.raises(
            TypeError, match=rf"x must be a real numeric array, got dtype {dtype}"
        ):
            f(x)

    @pytest.mark.parametrize("axis", [2, -3, (0, 5), (-4,)])
    def test_axis_out_of_range(self, f, axis):
        bad = axis if isinstance(axis, int) else [a for a in axis if not -2 <= a < 2][0]
        with pytest.raises(
            ValueError,
            match=rf"axis {bad} is out of range for an array of dimension 2 "
            r"\(shape \(4, 3\)\); valid axes are -2, \.\.\., 1",
        ):
            f(X, axis=axis)

    @pytest.mark.parametrize("axis", [1.0, "0", True, (0, 1.5), [np.bool_(False)]])
    def test_axis_not_an_integer(self, f, axis):
        with pytest.raises(TypeError, match=r"axis must be an integer, got"):
            f(X, axis=axis)

    @pytest.mark.parametrize("axis", [(0, 0), (1, -1)])
    def test_axis_repeated(self, f, axis):
        with pytest.raises(
            ValueError, match=r"axis \(.*\) repeats an axis \(shape \(4, 3\)\)"
        ):
            f(X, axis=axis)

    def test_zero_dimensional_input(self, f):
        with pytest.raises(
            ValueError, match=r"axis -1 is out of range for a 0-dimensional"
        ):
            f(3.0)

    def test_zero_classes(self, f):
        if f is sm.logsumexp:  # an empty sum: -inf, as in scipy and torch
            np.testing.assert_array_equal(f(np.zeros((2, 0))), [-np.inf, -np.inf])
            return
        with pytest.raises(
            ValueError,
            match=r"x has no classes along axis 1 \(shape \(2, 0\)\); "
            + f.__name__
            + " needs at least one class",
        ):
            f(np.zeros((2, 0)))


@pytest.mark.parametrize("f", ELEMENTWISE, ids=ids)
class TestOut:
    def test_wrong_shape(self, f):
        with pytest.raises(
            ValueError,
            match=r"out has shape \(3, 4\), but the result has shape \(4, 3\)",
        ):
            f(X, out=np.empty((3, 4)))

    def test_wrong_dtype(self, f):
        with pytest.raises(
            TypeError, match=r"out has dtype float32, but the result has dtype float64"
        ):
            f(X, out=np.empty((4, 3), dtype=np.float32))

    def test_float16_needs_float16_out(self, f):
        with pytest.raises(TypeError, match=r"out has dtype float32.*dtype float16"):
            f(X.astype(np.float16), out=np.empty((4, 3), dtype=np.float32))

    def test_int_input_needs_float64_out(self, f):
        with pytest.raises(TypeError, match=r"out has dtype int64.*dtype float64"):
            f(np.zeros((4, 3), dtype=np.int64), out=np.empty((4, 3), dtype=np.int64))

    def test_not_an_array(self, f):
        with pytest.raises(TypeError, match=r"out must be a numpy.ndarray, got list"):
            f(X, out=[[0.0] * 3] * 4)

    def test_read_only(self, f):
        out = np.empty((4, 3))
        out.setflags(write=False)
        with pytest.raises(ValueError, match=r"out is read-only"):
            f(X, out=out)

    def test_out_is_keyword_only(self, f):
        with pytest.raises(TypeError):
            f(X, -1, np.empty((4, 3)))


def test_logsumexp_has_no_positional_keepdims():
    with pytest.raises(TypeError):
        sm.logsumexp(X, -1, True)


# ---------------------------------------------------------------- one_hot


def test_one_hot_label_out_of_range():
    with pytest.raises(
        ValueError,
        match=r"labels contains 3 at position \(1,\), outside \[0, 3\) "
        r"for num_classes=3",
    ):
        sm.one_hot([0, 3, 1], 3)
    with pytest.raises(ValueError, match=r"labels contains -1 at position \(1, 0\)"):
        sm.one_hot([[0, 1], [-1, 2]], 3)


@pytest.mark.parametrize("labels", [[0.0, 1.0], [True, False], ["a"], [1 + 0j]])
def test_one_hot_labels_not_integers(labels):
    with pytest.raises(
        TypeError, match=r"labels must be integers, got an array of dtype"
    ):
        sm.one_hot(labels, 3)


@pytest.mark.parametrize("q", [0, -2])
def test_one_hot_num_classes_too_small(q):
    with pytest.raises(ValueError, match=rf"num_classes must be at least 1, got {q}"):
        sm.one_hot([0], q)


@pytest.mark.parametrize("q", [3.0, "3", None, True])
def test_one_hot_num_classes_not_an_integer(q):
    with pytest.raises(TypeError, match=r"num_classes must be an integer, got"):
        sm.one_hot([0], q)


@pytest.mark.parametrize("dtype", [np.complex128, object, "U3"])
def test_one_hot_dtype_not_numeric(dtype):
    with pytest.raises(
        TypeError, match=r"dtype must be a boolean, integer or floating"
    ):
        sm.one_hot([0], 2, dtype=dtype)


# ---------------------------------------------------------------- cross_entropy


@pytest.mark.parametrize("f", LOSSES, ids=ids)
class TestLossArguments:
    def test_logits_complex(self, f):
        with pytest.raises(
            TypeError, match=r"logits must be real, got a complex array"
        ):
            f(X.astype(complex), LABELS)

    def test_logits_strings(self, f):
        with pytest.raises(TypeError, match=r"logits must be a real numeric array"):
            f(np.array([["a", "b"]]), [0])

    def test_logits_zero_dimensional(self, f):
        with pytest.raises(
            ValueError, match=r"logits must have at least one dimension"
        ):
            f(1.0, 0)

    def test_logits_no_classes(self, f):
        with pytest.raises(
            ValueError, match=r"logits has no classes \(shape \(4, 0\)\)"
        ):
            f(np.zeros((4, 0)), LABELS)

    def test_class_index_out_of_range(self, f):
        with pytest.raises(
            ValueError,
            match=r"target contains class index 3 at position \(2,\), "
            r"outside \[0, 3\) for 3 classes$",
        ):
            f(X, [0, 1, 3, 1])

    def test_negative_class_index(self, f):
        with pytest.raises(
            ValueError,
            match=r"target contains class index -1 at position \(1,\), "
            r"outside \[0, 3\) for 3 classes$",
        ):
            f(X, [0, -1, 2, 1])

    def test_negative_class_index_names_ignore_index(self, f):
        with pytest.raises(
            ValueError,
            match=r"class index -1 at position \(1, 0\), outside \[0, 3\) for 3 "
            r"classes and is not ignore_index=-100",
        ):
            f(np.zeros((2, 2, 3)), [[0, -100], [-1, 2]], ignore_index=-100)

    def test_class_indices_as_floats(self, f):
        with pytest.raises(
            TypeError,
            match=r"target has the shape of class indices \(4,\) but dtype float64; "
            r"class indices must be integers",
        ):
            f(X, LABELS.astype(float))

    def test_class_indices_wrong_shape(self, f):
        with pytest.raises(
            ValueError,
            match=r"target of class indices must have shape \(4,\) \(logits' shape "
            r"\(4, 3\) without the class axis\), got shape \(5,\)$",
        ):
            f(X, [0, 1, 2, 1, 0])

    def test_integer_one_hot_target(self, f):
        with pytest.raises(
            ValueError,
            match=r"got shape \(4, 3\); for probability targets pass a floating",
        ):
            f(X, np.eye(3, dtype=int)[LABELS])

    def test_probabilities_wrong_shape(self, f):
        with pytest.raises(
            ValueError,
            match=r"target must have shape \(4,\) \(class indices\) or \(4, 3\) "
            r"\(probabilities\), got shape \(4, 2\)",
        ):
            f(X, np.full((4, 2), 0.5))

    @pytest.mark.parametrize("value", [-0.1, np.nan, np.inf])
    def test_probabilities_negative_or_not_finite(self, f, value):
        y = np.full((4, 3), 1 / 3)
        y[1, 2] = value
        with pytest.raises(
            ValueError,
            match=r"probability target must be finite and non-negative, got "
            + re.escape(repr(float(value)))
            + r" at position \(1, 2\)",
        ):
            f(X, y)

    def test_probabilities_with_ignore_index(self, f):
        """The remedy is one that is equivalent: a zero target row would still
        count in the mean's divisor n, and would give NaN for NaN logits."""
        with pytest.raises(
            ValueError,
            match=r"ignore_index applies to class-index targets only, got "
            r"ignore_index=-100 with a probability target; to leave examples out "
            r"of the loss and the mean, pass only the rows to keep: "
            r"logits\[keep\], target\[keep\]$",
        ):
            f(X, np.full((4, 3), 1 / 3), ignore_index=-100)

    @pytest.mark.parametrize(
        "target", [[True, False, True, True], ["a", "b", "c", "d"]]
    )
    def test_target_bool_or_string(self, f, target):
        with pytest.raises(
            TypeError, match=r"target must hold integer class indices or"
        ):
            f(X, target)

    @pytest.mark.parametrize("ignore_index", [1.5, "x", True])
    def test_ignore_index_not_an_integer(self, f, ignore_index):
        with pytest.raises(TypeError, match=r"ignore_index must be an integer, got"):
            f(X, LABELS, ignore_index=ignore_index)

    @pytest.mark.parametrize("weight", [[1.0, 2.0], np.ones((1, 3)), 1.0])
    def test_weight_wrong_shape(self, f, weight):
        with pytest.raises(
            ValueError,
            match=r"weight must have shape \(3,\), one entry per class, got shape",
        ):
            f(X, LABELS, weight=weight)

    @pytest.mark.parametrize(
        "value,text", [(-1.0, r"-1\.0"), (np.nan, "nan"), (np.inf, "inf")]
    )
    def test_weight_negative_or_not_finite(self, f, value, text):
        with pytest.raises(
            ValueError,
            match=rf"weight must be finite and non-negative, got weight\[1\] = {text}",
        ):
            f(X, LABELS, weight=[1.0, value, 2.0])

    @pytest.mark.parametrize("dtype", [np.int64, np.int8])
    def test_integer_weight_names_the_first_negative_entry(self, f, dtype):
        """Integer weights: zeros and small ones are valid, and the message
        names the first negative entry, not an earlier zero or one."""
        f(X, LABELS, weight=np.array([0, 1, 2], dtype=dtype))
        with pytest.raises(
            ValueError,
            match=r"weight must be finite and non-negative, got weight\[2\] = -1$",
        ):
            f(X, LABELS, weight=np.array([0, 1, -1], dtype=dtype))

    def test_weight_complex(self, f):
        with pytest.raises(TypeError, match=r"weight must be a real array, got dtype"):
            f(X, LABELS, weight=np.ones(3, dtype=complex))

    @pytest.mark.parametrize("eps", [-0.1, 1.5, np.nan, np.inf])
    def test_label_smoothing_out_of_range(self, f, eps):
        with pytest.raises(
            ValueError, match=r"label_smoothing must lie in \[0, 1\], got"
        ):
            f(X, LABELS, label_smoothing=eps)

    @pytest.mark.parametrize("eps", ["0.1", None, True, [0.1]])
    def test_label_smoothing_not_a_number(self, f, eps):
        with pytest.raises(TypeError, match=r"label_smoothing must be a real number"):
            f(X, LABELS, label_smoothing=eps)

    @pytest.mark.parametrize("reduction", ["avg", "MEAN", None, 0, ""])
    def test_unknown_reduction(self, f, reduction):
        with pytest.raises(
            ValueError,
            match=r"reduction must be one of 'mean', 'sum' or 'none', got "
            + re.escape(repr(reduction))
            + "$",
        ):
            f(X, LABELS, reduction=reduction)

    def test_keywords_are_keyword_only(self, f):
        with pytest.raises(TypeError):
            f(X, LABELS, None)

    def test_validation_applies_to_empty_batches(self, f):
        with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
            f(np.zeros((0, 3)), np.zeros(0, dtype=int), weight=[1.0])


def test_label_smoothing_accepts_numpy_and_integer_values():
    a = sm.cross_entropy(X, LABELS, label_smoothing=np.float32(0.5))
    b = sm.cross_entropy(X, LABELS, label_smoothing=0.5)
    assert a == b
    assert sm.cross_entropy(X, LABELS, label_smoothing=1) == sm.cross_entropy(
        X, LABELS, label_smoothing=1.0
    )


def test_ignore_index_accepts_numpy_integers():
    a = sm.cross_entropy(X, [0, -1, 2, 1], ignore_index=np.int32(-1))
    b = sm.cross_entropy(X, [0, -1, 2, 1], ignore_index=-1)
    assert a == b


@pytest.mark.parametrize("f", LOSSES, ids=ids)
def test_unsigned_class_index_is_not_a_negative_ignore_index(f):
    """2**64 - 1 is neither -1 nor a class, whatever the cast to int64 makes of it."""
    target = np.array([0, 2**64 - 1, 2, 1], dtype=np.uint64)
    with pytest.raises(
        ValueError,
        match=r"class index 18446744073709551615 at position \(1,\), outside "
        r"\[0, 3\) for 3 classes and is not ignore_index=-1$",
    ):
        f(X, target, ignore_index=-1)


# Values are checked as the caller gave them, then converted to the dtype the
# loss is computed in (float32 for float32 and float16 logits); one that does
# not fit there is named as given, not as the inf that the cast made of it.


@pytest.mark.parametrize("f", LOSSES, ids=ids)
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_weight_too_large_for_the_working_dtype(f, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            ValueError,
            match=r"^weight\[1\] = 1e\+39 does not fit in float32 \(max 3\.4e\+38\)",
        ):
            f(X.astype(dtype), LABELS, weight=[1.0, 1e39, 2.0])


@pytest.mark.parametrize("f", LOSSES, ids=ids)
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_probability_too_large_for_the_working_dtype(f, dtype):
    y = np.full((4, 3), 1 / 3)
    y[2, 1] = 1e39
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            ValueError,
            match=r"^probability target 1e\+39 at position \(2, 1\) does not fit in "
            r"float32 \(max 3\.4e\+38\)",
        ):
            f(X.astype(dtype), y)


@pytest.mark.skipif(
    np.finfo(np.longdouble).max <= np.finfo(np.float64).max,
    reason="long double is float64 here",
)
def test_long_double_values_too_large_for_float64_are_named_as_given():
    big = np.longdouble("1e400")
    with pytest.raises(ValueError, match=r"^weight\[0\] = 1e\+400 does not fit"):
        sm.cross_entropy(X, LABELS, weight=np.array([big, 1, 1]))
    y = np.full((4, 3), big)
    with pytest.raises(ValueError, match=r"^probability target 1e\+400 at position"):
        sm.cross_entropy(X, y)


def test_largest_values_of_the_working_dtype_are_accepted():
    """... and what overflows in the computation becomes inf without a warning."""
    top = float(np.finfo(np.float32).max)
    x = X.astype(np.float32)
    y = np.zeros((4, 3))
    y[0, 0] = top
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = sm.cross_entropy(x, LABELS, weight=[top, 1.0, 1.0], reduction="sum")
        assert loss == np.inf and loss.dtype == np.float32
        assert sm.cross_entropy_grad(x, y).dtype == np.float32


def test_values_are_shown_as_given():
    y = np.full((4, 3), 1 / 3, dtype=np.float32)
    y[0, 1] = -0.1
    with pytest.raises(ValueError, match=r"got -0\.1 at position \(0, 1\)$"):
        sm.cross_entropy(X, y)
    with pytest.raises(ValueError, match=r"got weight\[2\] = -3$"):
        sm.cross_entropy(X, LABELS, weight=[1, 2, -3])


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize(
    "args, kwargs, error",
    [
        ((np.array([1j]),), {}, TypeError),  # complex input
        ((np.zeros(3), 5), {}, ValueError),  # axis out of range
        ((np.zeros(3),), {"axis": (0, 0)}, ValueError),  # repeated axis
        ((np.zeros((2, 0)),), {"axis": 0}, None),  # no classes: see below
    ],
)
def test_softmax_family_errors_name_the_function_called(name, args, kwargs, error):
    """The argument checks are shared; each message says which function raised."""
    f = getattr(sm, name)
    if error is None:  # an empty class axis: an error, except an empty sum's -inf
        x = np.zeros((0, 2))
        if name == "logsumexp":
            assert np.array_equal(f(x, axis=0), np.full(2, -np.inf))
            return
        args, error = (x,), ValueError
    with pytest.raises(error, match=rf"^{name}: "):
        f(*args, **kwargs)
