"""Checks at the public boundary of softmaxlib.

Every public function converts and checks its arguments here, once, and then
calls numerical kernels that assume valid input. Each error message names the
argument and shows the offending value, shape or position.
"""

from __future__ import annotations

import numbers
import operator
import warnings

import numpy as np

__all__ = [
    "as_float_array",
    "as_int",
    "cast_checked",
    "check_features",
    "check_label_smoothing",
    "check_labels",
    "check_out",
    "check_reduction",
    "check_sample_weight",
    "check_weight",
    "classify_target",
    "equal_to",
    "first_bad_index",
    "first_bad_probability",
    "first_position",
    "is_integer",
    "is_real",
    "normalize_axis",
]

REDUCTIONS = ("mean", "sum", "none")
#: How classify_target marks ignored class indices in the int64 array it returns.
IGNORED = -1


def as_float_array(x, name: str) -> tuple[np.ndarray, np.dtype]:
    """Return ``(work, result_dtype)`` for real input ``x``.

    float64, float32 and other floating dtypes are kept; float16 is computed in
    float32 (``work``) and its result rounded once to float16; bool and integer
    input becomes float64. Complex, object, string and other dtypes raise
    TypeError.
    """
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind == "f":
        if arr.dtype == np.float16:
            return arr.astype(np.float32), np.dtype(np.float16)
        return arr, arr.dtype
    if kind in "biu":
        work = arr.astype(np.float64)
        return work, work.dtype
    if kind == "c":
        raise TypeError(
            f"{name} must be real, got a complex array of dtype {arr.dtype}; "
            "take .real or abs() explicitly if that is what you mean"
        )
    raise TypeError(
        f"{name} must be a real numeric array, got dtype {arr.dtype} (kind {kind!r})"
    )


def as_int(value, name: str) -> int:
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be an integer, got the bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer, got {value!r} of type {type(value).__name__}"
        ) from None


def normalize_axis(axis, ndim: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Return ``axis`` (int, tuple of ints or None) as a sorted tuple in [0, ndim)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, tuple | list):
        axes = [as_int(a, "axis") for a in axis]
    else:
        axes = [as_int(axis, "axis")]
    result = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(
                f"axis {a} is out of range for an array of dimension {ndim} "
                f"(shape {shape}); valid axes are {-ndim}, ..., {ndim - 1}"
                if ndim
                else f"axis {a} is out of range for a 0-dimensional array; "
                "pass an array with at least one dimension (the classes)"
            )
        result.append(a % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"axis {tuple(axes)} repeats an axis (shape {shape})")
    return tuple(sorted(result))


def check_out(out, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Check that ``out`` is an ndarray of exactly ``shape`` and ``dtype``."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(
            f"out has shape {out.shape}, but the result has shape {tuple(shape)}"
        )
    if out.dtype != dtype:
        raise TypeError(
            f"out has dtype {out.dtype}, but the result has dtype {dtype}; "
            "allocate out with the input's floating dtype"
        )
    if not out.flags.writeable:
        raise ValueError("out is read-only")


def check_reduction(reduction) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"reduction must be one of 'mean', 'sum' or 'none', got {reduction!r}"
        )
    return reduction


def check_label_smoothing(label_smoothing) -> float:
    if isinstance(label_smoothing, bool | np.bool_) or not isinstance(
        label_smoothing, numbers.Real
    ):
        raise TypeError(
            "label_smoothing must be a real number in [0, 1], got "
            f"{label_smoothing!r} of type {type(label_smoothing).__name__}"
        )
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1], got {eps!r}")
    return eps


def first_position(mask: np.ndarray) -> tuple[int, ...]:
    """Index tuple of the first True entry of ``mask`` (C order)."""
    flat = int(np.argmax(mask.reshape(-1)))
    return tuple(int(i) for i in np.unravel_index(flat, mask.shape))


def equal_to(t: np.ndarray, value: int) -> np.ndarray | None:
    """Mask of the entries of the integer array ``t`` equal to ``value``, or
    None if ``t.dtype`` cannot hold ``value`` (then no entry equals it).

    The comparison is exact: ``value`` is converted to ``t.dtype`` only after
    a range check, so nothing wraps around (2**64 - 1 never meets -1) and no
    NumPy version compares uint64 with a signed value through float64.
    """
    info = np.iinfo(t.dtype)
    if not info.min <= value <= info.max:
        return None
    return t == t.dtype.type(value)


def first_bad_index(t: np.ndarray, q: int, skip: np.ndarray | None = None):
    """Position of the first entry of the integer array ``t`` outside
    ``[0, q)`` and not marked in the mask ``skip``, or None if there is none.

    Two reductions settle the usual case, every index in ``[0, q)``; the
    elementwise pass that finds the position runs only when they do not.
    """
    if not t.size or 0 <= t.min() <= t.max() < q:
        return None
    bad = (t < 0) | (t >= q)
    if skip is not None:
        bad &= ~skip
    return first_position(bad) if bad.any() else None


#: Unsigned integers of a float's size, and the bit pattern of +inf.
_FLOAT_BITS = {
    2: (np.uint16, 0x7C00),
    4: (np.uint32, 0x7F800000),
    8: (np.uint64, 0x7FF0000000000000),
}


def first_bad_probability(t: np.ndarray):
    """Position of the first negative, infinite or NaN entry of the floating
    array ``t``, or None if there is none.

    One reduction settles the usual case: viewed as unsigned integers of the
    same size, the finite non-negative floats are exactly those below the
    bit pattern of +inf (a negative number has its sign bit set, inf and NaN
    an exponent of all ones). So t is read once and nothing as large as t is
    allocated; the elementwise pass that finds the position runs only when
    the test fails (-0.0 fails it too, and is then accepted).
    """
    if not t.size:
        return None
    bits = _FLOAT_BITS.get(t.dtype.itemsize) if t.dtype.isnative else None
    if bits is not None:
        if t.view(bits[0]).max() < bits[1]:
            return None
    elif t.min() >= 0 and t.max() < np.inf:  # NaN fails both
        return None
    bad = ~(np.isfinite(t) & (t >= 0))
    return first_position(bad) if bad.any() else None


def cast_checked(a: np.ndarray, dtype: np.dtype, name_at) -> np.ndarray:
    """The finite array ``a`` converted to the floating ``dtype``.

    An entry too large for ``dtype`` would become inf (with a RuntimeWarning
    from the cast); it raises ValueError instead, naming the value that was
    given: ``name_at(position)`` describes the entry. Rounding, even to zero,
    is not an error.
    """
    dtype = np.dtype(dtype)
    with np.errstate(over="ignore"):
        out = a.astype(dtype, copy=False)
    if a.dtype.kind != "f" or np.finfo(a.dtype).max <= np.finfo(dtype).max:
        return out  # nothing finite overflows (integers fit even in float32)
    over = np.isinf(out)
    if over.any():
        pos = first_position(over)
        top = np.format_float_scientific(np.finfo(dtype).max, precision=1)
        raise ValueError(
            f"{name_at(pos)} does not fit in {dtype} (max {top}), the dtype the "
            "loss is computed in"
        )
    return out


def check_weight(weight, num_classes: int, dtype: np.dtype) -> np.ndarray | None:
    """Return ``weight`` as a 1-D array of ``dtype`` after checking it.

    The values are checked as given, before the conversion to ``dtype``.
    """
    if weight is None:
        return None
    w = np.asarray(weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"weight must be a real array, got dtype {w.dtype}")
    if w.shape != (num_classes,):
        raise ValueError(
            f"weight must have shape ({num_classes},), one entry per class, "
            f"got shape {w.shape}"
        )
    if w.dtype.kind == "f":  # one reduction, no masks (see first_bad_probability)
        pos = first_bad_probability(w)
    else:
        pos = first_position(w < 0) if w.size and w.min() < 0 else None
    if pos is not None:
        (j,) = pos
        raise ValueError(
            f"weight must be finite and non-negative, got weight[{j}] = {w[j]!s}"
        )
    return cast_checked(w, dtype, lambda pos: f"weight[{pos[0]}] = {w[pos]!s}")


def classify_target(
    target,
    logits_shape: tuple[int, ...],
    ignore_index,
    dtype: np.dtype,
) -> tuple[str, np.ndarray, int | None]:
    """Decide whether ``target`` holds class indices or probabilities.

    Returns ``("index", y, ignore)`` with ``y`` an int64 array of shape
    ``logits_shape[:-1]``, or ``("prob", t, None)`` with ``t`` of the working
    ``dtype`` and shape ``logits_shape``; probabilities are checked as given,
    before that conversion. Class indices are compared with ``ignore_index``
    exactly, in the target's own dtype (an ``ignore_index`` that the dtype
    cannot hold matches nothing); the entries that match are given to the
    caller as ``IGNORED`` in ``y`` and ``ignore`` is then ``IGNORED``,
    otherwise None.
    """
    batch_shape = tuple(logits_shape[:-1])
    t = np.asarray(target)
    if ignore_index is not None:
        ignore_index = as_int(ignore_index, "ignore_index")
    kind = t.dtype.kind
    if kind == "f" and t.size == 0 and t.shape == batch_shape:
        t = t.astype(np.int64)  # an empty list converts to float64
        kind = "i"
    if kind in "iu":
        return _index_target(t, logits_shape, ignore_index)
    if kind == "f":
        return _probability_target(t, logits_shape, ignore_index, dtype)
    if kind == "b":
        raise TypeError(
            "target must hold integer class indices or floating probabilities, "
            "got a boolean array; convert it with .astype(int) or .astype(float)"
        )
    raise TypeError(
        "target must hold integer class indices or floating probabilities, "
        f"got dtype {t.dtype}"
    )


def _index_target(t: np.ndarray, logits_shape, ignore_index):
    """:func:`classify_target` for an integer ``target`` ``t``."""
    batch_shape = tuple(logits_shape[:-1])
    q = logits_shape[-1]
    if t.shape != batch_shape:
        hint = (
            "; for probability targets pass a floating array"
            if t.shape == tuple(logits_shape)
            else ""
        )
        raise ValueError(
            f"target of class indices must have shape {batch_shape} "
            f"(logits' shape {tuple(logits_shape)} without the class axis), "
            f"got shape {t.shape}{hint}"
        )
    ignored = None if ignore_index is None else equal_to(t, ignore_index)
    pos = first_bad_index(t, q, ignored)
    if pos is not None:
        extra = (
            f" and is not ignore_index={ignore_index}"
            if ignore_index is not None
            else ""
        )
        raise ValueError(
            f"target contains class index {int(t[pos])} at position {pos}, "
            f"outside [0, {q}) for {q} classes{extra}"
        )
    # every entry not ignored is in [0, q) now, so it survives the cast
    # to int64; ignored entries (which may be 2**64 - 1) are written as
    # IGNORED, which is all that the computation ever compares with
    if ignored is None or not ignored.any():
        return "index", t.astype(np.int64, copy=False), None
    y = t.astype(np.int64)  # a copy: the caller's array is not written
    y[ignored] = IGNORED
    return "index", y, IGNORED


def _probability_target(t: np.ndarray, logits_shape, ignore_index, dtype):
    """:func:`classify_target` for a floating ``target`` ``t``."""
    batch_shape = tuple(logits_shape[:-1])
    if t.shape != tuple(logits_shape):
        if t.shape == batch_shape:
            raise TypeError(
                f"target has the shape of class indices {batch_shape} but dtype "
                f"{t.dtype}; class indices must be integers (use "
                "target.astype(int)), probability targets need the logits' "
                f"shape {tuple(logits_shape)}"
            )
        raise ValueError(
            f"target must have shape {batch_shape} (class indices) or "
            f"{tuple(logits_shape)} (probabilities), got shape {t.shape}"
        )
    if ignore_index is not None:
        raise ValueError(
            "ignore_index applies to class-index targets only, got "
            f"ignore_index={ignore_index} with a probability target; to leave "
            "examples out of the loss and the mean, pass only the rows to "
            "keep: logits[keep], target[keep]"
        )
    pos = first_bad_probability(t)
    if pos is not None:
        raise ValueError(
            "probability target must be finite and non-negative, got "
            f"{t[pos]!s} at position {pos}"
        )
    t = cast_checked(
        t, dtype, lambda pos: f"probability target {t[pos]!s} at position {pos}"
    )
    return "prob", t, None


# ------------------------------------------------ the estimator's data


def is_integer(value) -> bool:
    """An integer (Python or NumPy), and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """A real number (Python or NumPy), and not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_features(X, *, name: str = "X") -> np.ndarray:
    """Return ``X`` as a finite, non-empty, 2-D float64 array or raise."""
    module = getattr(type(X), "__module__", "") or ""
    if module.startswith("scipy.sparse") or hasattr(X, "tocsr"):
        raise TypeError(
            f"SoftmaxRegression does not accept sparse input {name} "
            f"(got {type(X).__name__}); convert it with {name}.toarray()."
        )
    X = np.asarray(X)
    if np.iscomplexobj(X):
        raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}.")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D array {name} of shape (n_samples, n_features), got an "
            f"array of shape {X.shape}. Reshape your data, e.g. with "
            f"{name}.reshape(-1, 1) for a single feature or {name}.reshape(1, -1) "
            "for a single sample."
        )
    for axis, what in enumerate(("sample", "feature")):
        if X.shape[axis] == 0:
            raise ValueError(
                f"{name} has 0 {what}(s) (shape={X.shape}) while a minimum of 1 is "
                "required."
            )
    if not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        value = X[tuple(bad)]
        kind = "NaN" if np.isnan(value) else "infinity"
        raise ValueError(
            f"Input {name} contains {kind}: {name}[{bad[0]}, {bad[1]}] = {value}; "
            "all entries must be finite."
        )
    return X


def check_labels(y, n_samples: int, column_warning: type[Warning]) -> np.ndarray:
    """Return the labels as a 1-D array of length ``n_samples`` or raise; a
    column vector is flattened with a ``column_warning``."""
    if y is None:
        raise ValueError(
            "SoftmaxRegression requires y to be passed, but the target y is None."
        )
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please "
            "change the shape of y to (n_samples,), for example using ravel().",
            column_warning,
            stacklevel=3,
        )
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(
            f"y should be a 1d array of labels, got an array of shape {y.shape}."
        )
    if y.shape[0] != n_samples:
        raise ValueError(
            f"X and y have inconsistent numbers of samples: X has {n_samples} rows "
            f"but y has length {y.shape[0]}."
        )
    if y.dtype.kind == "c":
        raise ValueError(f"Unknown label type: complex labels (dtype {y.dtype}).")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            kind = "NaN" if np.isnan(y).any() else "infinity"
            raise ValueError(f"Input y contains {kind}; labels must be finite.")
        if not np.array_equal(y, np.round(y)):
            raise ValueError(
                "Unknown label type: continuous. y holds non-integer floats "
                f"(e.g. {y[y != np.round(y)][0]!r}); a classifier needs discrete "
                "class labels."
            )
    return y


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray | None:
    """Return the sample weights as a float64 array of length ``n_samples``
    (a new array), or None for None; raise for anything else than finite
    numbers >= 0 of which at least one is positive."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Real):
        sample_weight = np.full(n_samples, float(sample_weight))
    sw = np.asarray(sample_weight)
    if sw.dtype.kind not in "biuf":
        raise ValueError(
            f"sample_weight must hold real numbers, got an array of dtype {sw.dtype}."
        )
    if sw.shape != (n_samples,):
        raise ValueError(
            f"sample_weight should be a 1-D array of length {n_samples} like y, "
            f"got an array of shape {sw.shape}."
        )
    sw = sw.astype(np.float64)  # a copy: the caller's array is never changed
    bad = ~np.isfinite(sw) | (sw < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"sample_weight must be finite and >= 0, got sample_weight[{i}] = {sw[i]}."
        )
    if not sw.any():
        raise ValueError("All sample weights are zero; at least one must be positive.")
    return sw
