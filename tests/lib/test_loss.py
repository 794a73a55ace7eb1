"""one_hot and cross_entropy(_grad, _and_grad) against independent computations.

The loss reference below transcribes torch's definitions term by term (the
weighted negative log-likelihood plus, separately, the smoothing term, each
with its own reduction, as in ATen's ``cross_entropy_loss_label_smoothing``
and ``cross_entropy_loss_prob_target``), with Python loops over examples. The
gradient reference differentiates that same reference by the complex step,
f'(x) = Im f(x + ih) / h, which has no cancellation and is exact to rounding.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.special as ss
from _calls import loss_calls

import softmaxlib as sm

pytestmark = pytest.mark.filterwarnings("error")

Q = 4
INF = np.inf
NAN = np.nan


def _log_softmax_any(o):
    """log_softmax along the last axis for real or complex o (finite real part)."""
    m = o.real.max(axis=-1, keepdims=True)
    return o - (m + np.log(np.exp(o - m).sum(axis=-1, keepdims=True)))


def reference_losses(logits, target, weight=None, ignore_index=None, eps=0.0):
    """(per-example losses as a list, divisor of the mean), torch's way."""
    q = logits.shape[-1]
    x = logits.reshape(-1, q)
    lp = _log_softmax_any(x)
    w = np.ones(q) if weight is None else np.asarray(weight, dtype=float)
    losses = []
    target = np.asarray(target)
    if target.dtype.kind in "iu":
        y = target.reshape(-1)
        divisor = 0.0
        for i in range(x.shape[0]):
            if ignore_index is not None and y[i] == ignore_index:
                losses.append(0.0)
                continue
            nll = -w[y[i]] * lp[i, y[i]]
            smooth = -sum(w[j] * lp[i, j] for j in range(q))
            losses.append((1 - eps) * nll + eps / q * smooth)
            divisor += w[y[i]]
    else:
        t = target.reshape(-1, q)
        for i in range(x.shape[0]):
            losses.append(
                -sum(
                    w[j] * ((1 - eps) * t[i, j] + eps / q) * lp[i, j] for j in range(q)
                )
            )
        divisor = float(x.shape[0])
    return losses, divisor


def reference_loss(logits, target, reduction="mean", **kw):
    losses, divisor = reference_losses(logits, target, **kw)
    batch = logits.shape[:-1]
    if reduction == "none":
        return np.array(losses).reshape(batch)
    total = sum(losses)
    return total if reduction == "sum" else total / divisor


def reference_grad(logits, target, reduction="mean", h=1e-30, **kw):
    """Complex-step derivative of reference_loss with respect to every logit."""
    logits = np.asarray(logits, dtype=float)
    q = logits.shape[-1]
    g = np.zeros(logits.shape)
    _, divisor = reference_losses(logits, target, **kw)
    for j in range(q):
        o = logits.astype(complex)
        o[..., j] += 1j * h
        per_example, _ = reference_losses(o, target, **kw)
        g[..., j] = (np.array(per_example).imag / h).reshape(logits.shape[:-1])
    return g / divisor if reduction == "mean" else g


# ---------------------------------------------------------------- one_hot


def test_one_hot_values_and_shapes():
    np.testing.assert_array_equal(sm.one_hot([1, 0, 3], 4), np.eye(4)[[1, 0, 3]])
    y = np.array([[0, 2], [1, 1]])
    oh = sm.one_hot(y, 3)
    assert oh.shape == (2, 2, 3) and oh.dtype == np.float64
    np.testing.assert_array_equal(oh.argmax(axis=-1), y)
    np.testing.assert_array_equal(oh.sum(axis=-1), 1.0)
    assert sm.one_hot(2, 3).tolist() == [0.0, 0.0, 1.0]
    assert sm.one_hot(np.array([], dtype=int), 5).shape == (0, 5)
    assert sm.one_hot([], 5).shape == (0, 5)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int8, np.bool_])
def test_one_hot_dtype(dtype):
    oh = sm.one_hot(np.array([0, 1], dtype=np.uint8), 2, dtype=dtype)
    assert oh.dtype == dtype
    np.testing.assert_array_equal(oh, np.eye(2, dtype=dtype))


# ---------------------------------------------------------------- the grid

RNG = np.random.default_rng(0)
LOGITS = {
    "single": 2 * RNG.standard_normal(Q),
    "batch": 2 * RNG.standard_normal((6, Q)),
    "batch2d": 2 * RNG.standard_normal((2, 3, Q)),
}
LABELS = {
    "single": np.array(2),
    "batch": np.array([0, 1, 2, 3, 2, 0]),
    "batch2d": np.array([[3, 0, 1], [2, 2, 0]]),
}
WEIGHT = np.array([0.5, 2.0, 1.0, 0.25])


def _target(kind, shape):
    labels = LABELS[shape]
    if kind == "index":
        return labels
    y = sm.one_hot(labels, Q)
    if kind == "onehot":
        return y
    rng = np.random.default_rng(1)
    soft = rng.uniform(0, 1, LOGITS[shape].shape)
    if kind == "soft":
        return soft / soft.sum(axis=-1, keepdims=True)
    return 1.7 * soft  # rows that do not sum to one ("unnormalised")


def _ignore(kind, shape, ignore_index):
    """Class-index target with some entries replaced by ignore_index."""
    t = LABELS[shape].copy()
    if ignore_index is not None and kind == "index" and t.ndim:
        t.reshape(-1)[::3] = ignore_index
    return t


GRID = [
    (shape, kind, weight, ignore_index, eps, reduction)
    for shape, kind, weight, ignore_index, eps, reduction in itertools.product(
        LOGITS,
        ["index", "onehot", "soft", "unnormalised"],
        [None, "w"],
        [None, -100, 1],
        [0.0, 0.1, 1.0],
        ["mean", "sum", "none"],
    )
    if not (kind != "index" and ignore_index is not None)
]


def _case(shape, kind, weight, ignore_index, eps):
    logits = LOGITS[shape]
    target = _target(kind, shape)
    if kind == "index" and ignore_index is not None:
        target = _ignore(kind, shape, ignore_index)
    kw = {
        "weight": None if weight is None else WEIGHT,
        "ignore_index": ignore_index,
        "label_smoothing": eps,
    }
    ref_kw = {"weight": kw["weight"], "ignore_index": ignore_index, "eps": eps}
    return logits, target, kw, ref_kw


@pytest.mark.parametrize("shape,kind,weight,ignore_index,eps,reduction", GRID)
def test_loss_matches_torch_formula(shape, kind, weight, ignore_index, eps, reduction):
    logits, target, kw, ref_kw = _case(shape, kind, weight, ignore_index, eps)
    got = sm.cross_entropy(logits, target, reduction=reduction, **kw)
    want = reference_loss(logits, target, reduction=reduction, **ref_kw)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("shape,kind,weight,ignore_index,eps,reduction", GRID)
def test_grad_matches_complex_step(shape, kind, weight, ignore_index, eps, reduction):
    logits, target, kw, ref_kw = _case(shape, kind, weight, ignore_index, eps)
    got = sm.cross_entropy_grad(logits, target, reduction=reduction, **kw)
    want = reference_grad(logits, target, reduction=reduction, **ref_kw)
    assert got.shape == logits.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape,kind,weight,ignore_index,eps,reduction", GRID[::5])
def test_loss_and_grad_share_the_work_and_agree(
    shape, kind, weight, ignore_index, eps, reduction
):
    logits, target, kw, _ = _case(shape, kind, weight, ignore_index, eps)
    loss, grad = sm.cross_entropy_and_grad(logits, target, reduction=reduction, **kw)
    np.testing.assert_array_equal(
        loss, sm.cross_entropy(logits, target, reduction=reduction, **kw)
    )
    np.testing.assert_array_equal(
        grad, sm.cross_entropy_grad(logits, target, reduction=reduction, **kw)
    )


def test_explicit_small_example():
    """One example worked by hand: -log softmax at the label, then the mean."""
    logits = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    lse0 = np.log(np.exp(1.0) + np.exp(2.0) + np.exp(3.0))
    per = np.array([lse0 - 1.0, np.log(3.0)])
    np.testing.assert_allclose(sm.cross_entropy(logits, [0, 2], reduction="none"), per)
    np.testing.assert_allclose(sm.cross_entropy(logits, [0, 2]), per.mean())
    w = np.array([2.0, 1.0, 3.0])
    np.testing.assert_allclose(
        sm.cross_entropy(logits, [0, 2], weight=w), (2 * per[0] + 3 * per[1]) / 5
    )
    g = sm.softmax(logits) - np.eye(3)[[0, 2]]
    np.testing.assert_allclose(sm.cross_entropy_grad(logits, [0, 2]), g / 2)


def test_label_smoothing_with_weights_uses_each_class_weight():
    """torch weights the smoothing term by w_j, not by the target's weight."""
    logits = np.array([[0.3, -1.2, 2.0]])
    w = np.array([1.0, 10.0, 0.1])
    eps = 0.3
    lp = ss.log_softmax(logits, axis=-1)[0]
    nll = -w[2] * lp[2]
    smooth = -(w * lp).sum()
    want = ((1 - eps) * nll + eps / 3 * smooth) / w[2]
    got = sm.cross_entropy(logits, [2], weight=w, label_smoothing=eps)
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_class_index_and_one_hot_agree_without_smoothing_or_weights():
    logits, labels = LOGITS["batch2d"], LABELS["batch2d"]
    for reduction in ("mean", "sum", "none"):
        a = sm.cross_entropy_and_grad(logits, labels, reduction=reduction)
        b = sm.cross_entropy_and_grad(
            logits, sm.one_hot(labels, Q), reduction=reduction
        )
        np.testing.assert_allclose(a[0], b[0], rtol=1e-15)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-15, atol=1e-17)


def test_label_smoothing_one_is_the_uniform_target():
    logits = LOGITS["batch"]
    got = sm.cross_entropy(logits, LABELS["batch"], label_smoothing=1.0)
    uniform = np.full_like(logits, 1 / Q)
    np.testing.assert_allclose(got, sm.cross_entropy(logits, uniform), rtol=1e-15)


def test_unnormalised_target_gradient():
    """(sum y) softmax(o) - y, the correction to 'softmax - y'."""
    logits = np.array([[0.5, -1.0, 2.0]])
    y = np.array([[2.0, 0.5, 0.0]])
    g = sm.cross_entropy_grad(logits, y, reduction="sum")
    np.testing.assert_allclose(g, 2.5 * sm.softmax(logits) - y, rtol=1e-14)
    assert not np.allclose(g, sm.softmax(logits) - y)


def test_reduction_none_grad_is_grad_of_sum():
    logits, target = LOGITS["batch"], LABELS["batch"]
    np.testing.assert_array_equal(
        sm.cross_entropy_grad(logits, target, reduction="none"),
        sm.cross_entropy_grad(logits, target, reduction="sum"),
    )


def test_batch_axes_are_flattened_consistently():
    logits, labels = LOGITS["batch2d"], LABELS["batch2d"]
    flat_l, flat_y = logits.reshape(-1, Q), labels.reshape(-1)
    for kw in ({}, {"weight": WEIGHT, "label_smoothing": 0.2}):
        np.testing.assert_array_equal(
            sm.cross_entropy(logits, labels, reduction="none", **kw),
            sm.cross_entropy(flat_l, flat_y, reduction="none", **kw).reshape(2, 3),
        )
        np.testing.assert_array_equal(
            sm.cross_entropy_grad(logits, labels, **kw),
            sm.cross_entropy_grad(flat_l, flat_y, **kw).reshape(logits.shape),
        )


# ---------------------------------------------------------------- special values


@pytest.mark.parametrize("q", [4, 100])
@pytest.mark.parametrize("weighted", [False, True])
def test_masked_classes_with_zero_targets_on_every_dense_path(q, weighted):
    """Masked classes (logit -inf) with zero probability targets, for few
    classes (transposed chunks) and many (row by row), plain or weighted: the
    loss and gradient of the classes that are left, and 0 at the masked
    ones, in every row."""
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((3, q))
    y = rng.random((3, q))
    masked = [1, q - 1]
    logits[:, masked] = -INF
    y[:, masked] = 0
    y /= y.sum(axis=1, keepdims=True)
    keep = np.setdiff1d(np.arange(q), masked)
    w = np.linspace(0.5, 2, q) if weighted else None
    loss, grad = sm.cross_entropy_and_grad(logits, y, weight=w, reduction="none")
    ref_loss, ref_grad = sm.cross_entropy_and_grad(
        logits[:, keep],
        y[:, keep],
        weight=None if w is None else w[keep],
        reduction="none",
    )
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-14)
    np.testing.assert_allclose(grad[:, keep], ref_grad, rtol=1e-14, atol=1e-17)
    assert np.all(grad[:, masked] == 0)


def test_masked_class_with_zero_target_has_finite_loss():
    logits = np.array([[1.0, -INF, 0.5, 2.0]])
    y = np.array([[0.2, 0.0, 0.3, 0.5]])
    keep = [0, 2, 3]
    loss, grad = sm.cross_entropy_and_grad(logits, y)
    ref_loss, ref_grad = sm.cross_entropy_and_grad(logits[:, keep], y[:, keep])
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-15)
    np.testing.assert_allclose(grad[:, keep], ref_grad, rtol=1e-15)
    assert grad[0, 1] == 0
    # class indices: a masked class that is not the target costs nothing
    np.testing.assert_allclose(
        sm.cross_entropy(logits, [3]),
        sm.cross_entropy(logits[:, keep], [2]),
        rtol=1e-15,
    )


def test_masked_class_with_zero_weight_has_finite_smoothed_loss():
    logits = np.array([[1.0, -INF, 0.5, 2.0]])
    w = np.array([1.0, 0.0, 1.0, 1.0])
    loss = sm.cross_entropy(logits, [0], weight=w, label_smoothing=0.2)
    assert np.isfinite(loss)
    lp = ss.log_softmax(logits[:, [0, 2, 3]], axis=-1)[0]
    want = 0.8 * -lp[0] + 0.2 / 4 * -(lp.sum())
    np.testing.assert_allclose(loss, want, rtol=1e-14)


def test_masked_target_class_with_zero_weight_costs_nothing():
    """0 * inf is taken as 0: a zero-weight class may be masked and be a target."""
    logits = np.array([[-INF, 1.0, 2.0], [0.0, 1.0, 2.0]])
    w = np.array([0.0, 1.0, 1.0])
    losses = sm.cross_entropy(logits, [0, 1], weight=w, reduction="none")
    assert losses[0] == 0
    np.testing.assert_allclose(losses[1], -ss.log_softmax(logits[1])[1], rtol=1e-15)
    np.testing.assert_allclose(sm.cross_entropy(logits, [0, 1], weight=w), losses[1])
    g = sm.cross_entropy_grad(logits, [0, 1], weight=w, reduction="none")
    np.testing.assert_array_equal(g[0], 0.0)


def test_masked_target_class_gives_infinite_loss_without_warnings():
    logits = np.array([[1.0, -INF, 0.5]])
    assert sm.cross_entropy(logits, [1]) == INF
    assert sm.cross_entropy(logits, [[0.0, 1.0, 0.0]]) == INF
    assert sm.cross_entropy(logits, [0], label_smoothing=0.1) == INF
    # weighted, and beside an ignored example: only a zero weight makes it 0
    two = np.vstack([logits, logits])
    for kw in ({"weight": [1.0, 2.0, 1.0]}, {"ignore_index": 0}):
        losses = sm.cross_entropy(two, [1, 0], reduction="none", **kw)
        assert losses[0] == INF
    g = sm.cross_entropy_grad(logits, [1])
    np.testing.assert_allclose(g, sm.softmax(logits) - [[0, 1, 0]], rtol=1e-15)


def test_nan_and_inf_rows_stay_in_their_row():
    logits = np.array([[1.0, 2.0, 0.0], [NAN, 0.0, 0.0], [INF, 0.0, 1.0], [0.0] * 3])
    for target in ([0, 1, 2, 1], sm.one_hot([0, 1, 2, 1], 3)):
        loss, grad = sm.cross_entropy_and_grad(logits, target, reduction="none")
        assert np.isnan(loss[1]) and np.isnan(loss[2])
        assert np.isnan(grad[1:3]).all()
        good = [0, 3]
        target = np.asarray(target)
        l2, g2 = sm.cross_entropy_and_grad(logits[good], target[good], reduction="none")
        np.testing.assert_array_equal(loss[good], l2)
        np.testing.assert_array_equal(grad[good], g2)
        assert np.isnan(sm.cross_entropy(logits, target))


@pytest.mark.parametrize("q", [3, 300])
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_ignored_examples_contribute_nothing_even_if_not_finite(q, eps, weighted):
    """Ignored examples whose logits hold NaN, +inf or only -inf: loss and
    gradient rows exactly 0, on the index kernel and the dense one (label
    smoothing), for few classes (transposed chunks) and many (row by row),
    and the other examples as if the ignored ones were not there."""
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((5, q))
    logits[1, :3] = [NAN, INF, -INF]
    logits[2, 0] = INF
    logits[3] = -INF
    y = np.array([0, -1, -1, -1, 2])
    kw = {
        "label_smoothing": eps,
        "weight": np.linspace(0.5, 2, q) if weighted else None,
    }
    loss, grad = sm.cross_entropy_and_grad(
        logits, y, ignore_index=-1, reduction="none", **kw
    )
    assert np.all(loss[1:4] == 0) and np.all(grad[1:4] == 0)
    keep = [0, 4]
    want = sm.cross_entropy_and_grad(logits[keep], y[keep], reduction="none", **kw)
    np.testing.assert_array_equal(loss[keep], want[0])
    np.testing.assert_array_equal(grad[keep], want[1])
    np.testing.assert_array_equal(
        sm.cross_entropy(logits, y, ignore_index=-1, **kw),
        sm.cross_entropy(logits[keep], y[keep], **kw),
    )


def test_ignore_index_inside_the_class_range():
    logits = LOGITS["batch"]
    target = np.array([0, 1, 2, 3, 2, 0])
    got = sm.cross_entropy(logits, target, ignore_index=2)
    keep = target != 2
    np.testing.assert_allclose(got, sm.cross_entropy(logits[keep], target[keep]))


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_every_target_ignored(eps):
    """NaN mean, zero sum; the gradient is zero, since no example takes part."""
    logits = np.zeros((3, 4))
    target = [-100] * 3
    kw = {"ignore_index": -100, "label_smoothing": eps}
    assert np.isnan(sm.cross_entropy(logits, target, **kw))
    assert sm.cross_entropy(logits, target, reduction="sum", **kw) == 0
    g = sm.cross_entropy_grad(logits, target, **kw)
    np.testing.assert_array_equal(g, 0.0)
    loss, g2 = sm.cross_entropy_and_grad(logits, target, **kw)
    assert np.isnan(loss)
    np.testing.assert_array_equal(g2, 0.0)


@pytest.mark.parametrize("kind", ["index", "prob"])
def test_empty_batch(kind):
    logits = np.zeros((0, 3), dtype=np.float32)
    target = np.zeros(0, dtype=int) if kind == "index" else np.zeros((0, 3))
    mean = sm.cross_entropy(logits, target)
    assert np.isnan(mean) and mean.dtype == np.float32
    total = sm.cross_entropy(logits, target, reduction="sum")
    assert total == 0.0 and total.dtype == np.float32
    assert sm.cross_entropy(logits, target, reduction="none").shape == (0,)
    g = sm.cross_entropy_grad(logits, target, weight=[1, 2, 3], label_smoothing=0.1)
    assert g.shape == (0, 3) and g.dtype == np.float32
    loss, g = sm.cross_entropy_and_grad(logits, target)
    assert np.isnan(loss) and g.shape == (0, 3)
    assert sm.cross_entropy(np.zeros((2, 0, 3)), np.zeros((2, 0), dtype=int)).dtype


ZERO_W_LOGITS = np.array([[0.0, 1.0], [2.0, 0.0]])
ZERO_W = np.array([0.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_zero_weight_denominator(eps, dtype):
    """Every target of a class of weight 0: the mean is 0/0, and both loss and
    gradient are NaN, as in torch (with label smoothing too, where the sum
    of the losses is positive)."""
    logits = ZERO_W_LOGITS.astype(dtype)
    kw = {"weight": ZERO_W, "label_smoothing": eps}
    loss, grad = sm.cross_entropy_and_grad(logits, [0, 0], **kw)
    assert np.isnan(loss) and np.isnan(grad).all()
    assert loss.dtype == grad.dtype == dtype
    assert np.isnan(sm.cross_entropy(logits, [0, 0], **kw))
    assert np.isnan(sm.cross_entropy_grad(logits, [0, 0], **kw)).all()


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_zero_weight_denominator_leaves_ignored_rows_at_zero(eps):
    """torch 2.13: NaN in the rows that take part in the mean, 0 in the ignored one."""
    logits = np.array([[0.0, 1.0], [5.0, 0.0], [2.0, 0.0]])
    target = [0, -100, 0]
    kw = {"weight": ZERO_W, "ignore_index": -100, "label_smoothing": eps}
    loss, grad = sm.cross_entropy_and_grad(logits, target, **kw)
    assert np.isnan(loss)
    assert np.isnan(grad[[0, 2]]).all()
    np.testing.assert_array_equal(grad[1], 0.0)
    np.testing.assert_array_equal(sm.cross_entropy_grad(logits, target, **kw), grad)


def test_zero_weight_sum_and_none_are_those_of_torch():
    """Only the mean divides by the zero total weight (values from torch 2.13)."""
    x = ZERO_W_LOGITS
    for reduction in ("sum", "none"):
        loss, grad = sm.cross_entropy_and_grad(
            x, [0, 0], weight=ZERO_W, reduction=reduction
        )
        np.testing.assert_array_equal(loss, 0.0)
        np.testing.assert_array_equal(grad, 0.0)
    kw = {"weight": ZERO_W, "label_smoothing": 0.1}
    loss, grad = sm.cross_entropy_and_grad(x, [0, 0], reduction="sum", **kw)
    np.testing.assert_allclose(loss, 0.1220094849280598, rtol=1e-14)
    torch_grad = [
        [0.013447071068499756, -0.013447071068499756],
        [0.044039853898894116, -0.04403985389889412],
    ]
    np.testing.assert_allclose(grad, torch_grad, rtol=1e-14)
    np.testing.assert_allclose(
        sm.cross_entropy(x, [0, 0], reduction="none", **kw),
        [0.015663084375911143, 0.10634640055214864],
        rtol=1e-14,
    )


# ---------------------------------------------------------------- dtypes and scale


def test_float32_large_equal_logits_give_log3():
    x = np.full((2, 3), 1e8, dtype=np.float32)
    loss, grad = sm.cross_entropy_and_grad(x, [0, 2])
    assert loss.dtype == grad.dtype == np.float32
    assert loss == np.float32(np.log(3.0))
    np.testing.assert_allclose(grad, (1 / 3 - np.eye(3)[[0, 2]]) / 2, rtol=1e-6)


def test_float32_logits_with_float64_target():
    x = LOGITS["batch"].astype(np.float32)
    y = _target("soft", "batch")
    loss, grad = sm.cross_entropy_and_grad(x, y)
    assert loss.dtype == grad.dtype == np.float32
    np.testing.assert_allclose(loss, sm.cross_entropy(x.astype(float), y), rtol=1e-6)


def test_float16_is_rounded_once_from_float32():
    x = LOGITS["batch"].astype(np.float16)
    t = LABELS["batch"]
    for reduction in ("mean", "none"):
        loss, grad = sm.cross_entropy_and_grad(x, t, reduction=reduction)
        l32, g32 = sm.cross_entropy_and_grad(
            x.astype(np.float32), t, reduction=reduction
        )
        assert np.asarray(loss).dtype == grad.dtype == np.float16
        np.testing.assert_array_equal(loss, np.asarray(l32).astype(np.float16))
        np.testing.assert_array_equal(grad, g32.astype(np.float16))


@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("kind", ["index", "prob"])
def test_float16_losses_that_overflow_are_inf_without_a_warning(kind, eps):
    """The float32 losses (120000 each) do not fit in float16: +inf, as in
    torch, and no RuntimeWarning (this module turns warnings into errors)."""
    x = np.array([[60000, -60000]] * 4, dtype=np.float16)
    target = [1] * 4 if kind == "index" else np.array([[0.0, 1.0]] * 4)
    for reduction in ("mean", "sum", "none"):
        loss, grad = sm.cross_entropy_and_grad(
            x, target, reduction=reduction, label_smoothing=eps
        )
        assert np.all(loss == INF) and loss.dtype == np.float16
        assert grad.dtype == np.float16 and np.all(np.isfinite(grad))
    # the per-example losses fit; only their float16 sum overflows
    x = np.array([[20000, -20000]] * 4, dtype=np.float16)
    assert np.all(sm.cross_entropy(x, target, reduction="none") == 40000)
    assert sm.cross_entropy(x, target, reduction="sum") == INF


@pytest.mark.parametrize(
    "tiny,eps,finite", [(5e-324, 0.0, True), (5e-324, 0.1, False), (1e-310, 0.1, True)]
)
def test_subnormal_total_weight_without_a_warning(tiny, eps, finite):
    """A subnormal divisor of the mean: the smoothing terms of the class of
    weight 1 divided by 4 * 5e-324 overflow to inf, silently, as in torch."""
    x = np.array([[0.0, 1.0]] * 4)
    kw = {"weight": [tiny, 1.0], "label_smoothing": eps}
    loss, grad = sm.cross_entropy_and_grad(x, [0] * 4, **kw)
    assert np.isfinite(loss) == finite and not np.isnan(grad).any()
    assert sm.cross_entropy(x, [0] * 4, **kw) == loss


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_huge_class_weights_give_the_mean_of_smaller_ones(dtype, eps):
    """The mean over class indices is a ratio in which a common factor of the
    weights cancels: weights near the dtype's largest number, whose plain
    sum overflows, give the bits that the same weights divided by a power of
    two give, on every function and on the linear path; weights all equal
    give the unweighted mean."""
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(dtype)
    y = np.array([0, 1, 2, 0, 1, 1])
    small = np.array([0.75, 0.5, 0.25], dtype=dtype)
    huge = np.ldexp(small, np.finfo(dtype).maxexp - 1)
    with np.errstate(over="ignore"):
        assert np.isinf(np.sum(huge[y]))  # the divisor, summed as it stands
    kw = {"label_smoothing": eps}
    want = loss_calls(x, y, {"weight": small, **kw}, ("mean",))
    got = loss_calls(x, y, {"weight": huge, **kw}, ("mean",))
    for label, value in got.items():
        np.testing.assert_array_equal(value, want[label], err_msg=label)
    eye = np.eye(3, dtype=dtype)
    for strategy in ("rows", "columns"):
        lin = {"label_smoothing": eps, "strategy": strategy}
        a = sm.linear_cross_entropy_and_grad(x, eye, y, weight=huge, **lin)
        b = sm.linear_cross_entropy_and_grad(x, eye, y, weight=small, **lin)
        for u, v in zip(a, b, strict=True):
            np.testing.assert_array_equal(u, v)
    top = np.full(3, np.finfo(dtype).max)
    np.testing.assert_allclose(
        sm.cross_entropy(x, y, weight=top, **kw),
        sm.cross_entropy(x, y, **kw),
        rtol=8 * np.finfo(dtype).eps,
    )


def test_intermediate_overflow_is_silent():
    """Weighted probability targets of 1e40 overflow float32 inside the
    computation; inf (and NaN where two infinities meet) but no warning."""
    x = np.array([[0.0, 1.0, 3.0]] * 4, dtype=np.float32)
    t = np.full((4, 3), 1e20)
    loss, grad = sm.cross_entropy_and_grad(x, t, weight=[1e20] * 3)
    assert loss == INF and grad.dtype == np.float32


def test_integer_logits_become_float64():
    loss = sm.cross_entropy(np.array([[1, 2, 3]]), [2])
    assert loss.dtype == np.float64
    assert loss == sm.cross_entropy(np.array([[1.0, 2.0, 3.0]]), [2])


def test_huge_logit_gaps_have_no_overflow():
    x = np.array([[1e300, -1e300, 0.0]])
    assert sm.cross_entropy(x, [0]) == 0.0
    assert sm.cross_entropy(x, [1]) == 2e300
    np.testing.assert_array_equal(sm.cross_entropy_grad(x, [0]), 0.0)


# ---------------------------------------------------------------- integer targets

# (target dtype, ignore_index that the dtype holds): the ends of each range,
# and a value that is also a real class
IGNORE_AT_THE_ENDS = [
    (np.uint64, 2**64 - 1),
    (np.uint64, 2**63),
    (np.int64, -(2**63)),
    (np.int64, 2**63 - 1),
    (np.uint8, 255),
    (np.int8, -128),
    (np.int32, 1),
]


@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("dtype,ignore_index", IGNORE_AT_THE_ENDS)
def test_ignored_targets_of_any_integer_dtype_are_ignored(dtype, ignore_index, eps):
    """Targets are compared with ignore_index exactly, in their own dtype: no
    cast to int64 turns 2**64 - 1 into -1, which would index the last class."""
    logits = np.array([[0.0, 0.0, 0.0, 5.0], [0.0, 0.0, 0.0, 5.0], [1.0, 2.0, 0.5, -1]])
    target = np.array([0, ignore_index, 2], dtype=dtype)
    kw = {"weight": WEIGHT, "label_smoothing": eps}
    loss, grad = sm.cross_entropy_and_grad(
        logits, target, ignore_index=ignore_index, reduction="none", **kw
    )
    assert loss[1] == 0 and np.all(grad[1] == 0)
    keep = [0, 2]
    want_loss, want_grad = sm.cross_entropy_and_grad(
        logits[keep], np.array([0, 2]), reduction="none", **kw
    )
    np.testing.assert_array_equal(loss[keep], want_loss)
    np.testing.assert_array_equal(grad[keep], want_grad)
    np.testing.assert_array_equal(
        sm.cross_entropy(logits, target, ignore_index=ignore_index, **kw),
        sm.cross_entropy(logits[keep], np.array([0, 2]), **kw),
    )


def test_uint64_target_and_ignore_index_from_the_report():
    logits = np.array([[0.0, 0.0, 0.0, 5.0]] * 2)
    target = np.array([0, 2**64 - 1], np.uint64)
    got = sm.cross_entropy(logits, target, ignore_index=2**64 - 1, reduction="none")
    assert got[1] == 0
    np.testing.assert_allclose(got[0], 5 + np.log1p(3 * np.exp(-5.0)), rtol=1e-15)


@pytest.mark.parametrize(
    "dtype,ignore_index",
    [
        (np.uint8, -100),
        (np.uint64, -1),
        (np.uint64, -(2**63)),
        (np.int64, 2**64 - 1),
        (np.int8, 2**70),
        (np.int64, -(2**70)),
    ],
)
def test_ignore_index_the_target_dtype_cannot_hold_matches_nothing(dtype, ignore_index):
    logits, labels = LOGITS["batch"], LABELS["batch"]
    for reduction in ("mean", "none"):
        np.testing.assert_array_equal(
            sm.cross_entropy(
                logits,
                labels.astype(dtype),
                ignore_index=ignore_index,
                reduction=reduction,
            ),
            sm.cross_entropy(logits, labels, reduction=reduction),
        )


def test_one_hot_of_unsigned_labels():
    np.testing.assert_array_equal(
        sm.one_hot(np.array([2, 0], np.uint64), 3), np.eye(3)[[2, 0]]
    )
    with pytest.raises(ValueError, match=r"labels contains 18446744073709551615 at"):
        sm.one_hot(np.array([2, 2**64 - 1], np.uint64), 3)
