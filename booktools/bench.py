"""Timing and memory harness that compares softmaxlib with its peers.

Used by ``benchmarks/bench_softmax.py`` (``make bench``) and by the book's
"How fast is it?" section, so both measure the same way. Peers are imported
lazily: SciPy and PyTorch are optional, and a peer that cannot be imported is
left out of the table.

Every measurement of one configuration is taken in the same process, with the
contenders interleaved round by round, so that a change of machine load moves
all of them together; the ratios are what to read, not the absolute times.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

import softmaxlib as sm
from softmaxlib._kernels import clear_scratch

__all__ = [
    "OPERATIONS",
    "TARGETS",
    "TARGET_CALLS",
    "contenders",
    "make_inputs",
    "make_probabilities",
    "measure",
    "peak_bytes",
    "peak_extra_memory",
    "target_contenders",
    "write_results",
]

OPERATIONS = ("softmax", "log_softmax", "logsumexp", "cross_entropy_and_grad")
#: The three kinds of target of the loss, compared by ``target_contenders``.
TARGETS = ("index", "probabilities", "label smoothing")
#: The two calls timed for each kind of target.
TARGET_CALLS = ("loss", "loss+grad")


def make_inputs(shape: tuple[int, int], dtype, seed: int = 0):
    """Return normal logits of scale 3 and integer labels for ``shape``."""
    rng = np.random.default_rng(seed)
    logits = (3.0 * rng.standard_normal(shape)).astype(dtype)
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    return logits, labels


def make_probabilities(labels: np.ndarray, q: int, dtype, seed: int = 1):
    """Soft probability targets: 0.9 on the label plus 0.1 spread at random."""
    rng = np.random.default_rng(seed)
    t = rng.random((labels.size, q))
    t *= 0.1 / t.sum(axis=1, keepdims=True)
    t[np.arange(labels.size), labels.reshape(-1)] += 0.9
    return t.reshape(labels.shape + (q,)).astype(dtype)


def target_contenders(probs: np.ndarray, eps: float = 0.1) -> dict[str, Callable]:
    """``{"<target> <call>": f(x, labels)}`` for every target in TARGETS and
    call in TARGET_CALLS: ``cross_entropy`` ("loss") and
    ``cross_entropy_and_grad`` ("loss+grad") with class indices, with the
    probability targets ``probs`` (made beforehand, as a caller would have
    them) and with class indices and label smoothing ``eps``."""
    kw = {"index": {}, "label smoothing": {"label_smoothing": eps}}
    funcs = {}
    for target in TARGETS:
        for call, f in zip(
            TARGET_CALLS, (sm.cross_entropy, sm.cross_entropy_and_grad), strict=True
        ):
            if target == "probabilities":
                funcs[f"{target} {call}"] = lambda x, labels, f=f: f(x, probs)
            else:
                funcs[f"{target} {call}"] = lambda x, labels, f=f, k=kw[target]: f(
                    x, labels, **k
                )
    return funcs


def _plain_numpy(op: str, x: np.ndarray, labels: np.ndarray):
    """The textbook NumPy formulas with the max-shift, as most code writes them."""
    shifted = x - x.max(axis=-1, keepdims=True)
    if op == "logsumexp":
        return x.max(axis=-1) + np.log(np.exp(shifted).sum(axis=-1))
    if op == "log_softmax":
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    e = np.exp(shifted)
    p = e / e.sum(axis=-1, keepdims=True)
    if op == "softmax":
        return p
    rows = np.arange(x.shape[0])
    loss = -np.log(p[rows, labels]).mean()
    p[rows, labels] -= 1.0
    return loss, p / x.shape[0]


def _scipy(op: str) -> Callable | None:
    try:
        import scipy.special as ss
    except ImportError:  # pragma: no cover - scipy is in the lock
        return None
    if op == "softmax":
        return lambda x, labels: ss.softmax(x, axis=-1)
    if op == "log_softmax":
        return lambda x, labels: ss.log_softmax(x, axis=-1)
    if op == "logsumexp":
        return lambda x, labels: ss.logsumexp(x, axis=-1)

    def composed(x, labels):
        # The loss from scipy's log_softmax, the gradient from its softmax.
        rows = np.arange(x.shape[0])
        loss = -ss.log_softmax(x, axis=-1)[rows, labels].mean()
        grad = ss.softmax(x, axis=-1)
        grad[rows, labels] -= 1.0
        grad /= x.shape[0]
        return loss, grad

    return composed


def _torch(op: str) -> Callable | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    fn = {
        "softmax": lambda t: torch.softmax(t, dim=-1),
        "log_softmax": lambda t: torch.log_softmax(t, dim=-1),
        "logsumexp": lambda t: torch.logsumexp(t, dim=-1),
    }.get(op)
    if fn is not None:
        return lambda x, labels: fn(torch.from_numpy(x)).numpy()

    def forward_backward(x, labels):
        t = torch.from_numpy(x).requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(t, torch.from_numpy(labels))
        loss.backward()
        return loss.item(), t.grad.numpy()

    return forward_backward


def contenders(op: str, x: np.ndarray) -> dict[str, Callable]:
    """Return ``{name: f(x, labels)}`` for ``op``: softmaxlib, peers and the floor.

    The floor is ``np.copyto`` into a preallocated array: one read of the logits
    and one write of an array of the same size, which any of these operations
    must do at least. For ``cross_entropy_and_grad`` the list also holds
    softmaxlib's own softmax ("softmaxlib softmax"), and the peers are scipy's
    log_softmax plus softmax and torch's forward plus backward pass.
    """
    ours = getattr(sm, op)
    if op == "cross_entropy_and_grad":
        funcs = {
            "softmaxlib": lambda x, labels: ours(x, labels),
            # measured in the same rounds, for the ratio to our own softmax
            "softmaxlib softmax": lambda x, labels: sm.softmax(x),
        }
    else:
        funcs = {"softmaxlib": lambda x, labels: ours(x, axis=-1)}
    for name, maker in (("scipy", _scipy), ("torch", _torch)):
        f = maker(op)
        if f is not None:
            funcs[name] = f
    funcs["numpy"] = lambda x, labels: _plain_numpy(op, x, labels)
    buffer = np.empty_like(x)
    funcs["floor"] = lambda x, labels: np.copyto(buffer, x)
    return funcs


def _repeat_count(f: Callable, args, target: float) -> int:
    start = time.perf_counter()
    f(*args)
    once = time.perf_counter() - start
    return max(1, int(target / max(once, 1e-9)))


def measure(
    funcs: dict[str, Callable],
    args: tuple,
    rounds: int = 7,
    target: float = 0.02,
) -> dict[str, float]:
    """Median seconds per call of each function, interleaved round by round.

    Each round calls every function ``k`` times in turn, with ``k`` chosen so
    that a function's turn lasts about ``target`` seconds.
    """
    reps = {name: _repeat_count(f, args, target) for name, f in funcs.items()}
    samples: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(rounds):
        for name, f in funcs.items():
            k = reps[name]
            start = time.perf_counter()
            for _ in range(k):
                f(*args)
            samples[name].append((time.perf_counter() - start) / k)
    return {name: statistics.median(s) for name, s in samples.items()}


def peak_bytes(f: Callable, args: tuple) -> tuple[int, object]:
    """Peak bytes allocated during one call of ``f(*args)``, its result
    included, and the result.

    Measured with :mod:`tracemalloc`, which sees NumPy's array allocations.
    softmaxlib's cached scratch arrays are released first, so that their
    allocation is counted as if this were the first call.
    """
    clear_scratch()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = f(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


def peak_extra_memory(f: Callable, args: tuple) -> float:
    """Peak bytes allocated by one call beyond its result, per byte of input
    (:func:`peak_bytes`, less the result and, for a ``(loss, grad)`` pair,
    the gradient)."""
    peak, result = peak_bytes(f, args)
    kept = sum(
        r.nbytes
        for r in (result if isinstance(result, tuple) else (result,))
        if isinstance(r, np.ndarray)
    )
    return max(peak - kept, 0) / args[0].nbytes


def write_results(path: pathlib.Path, results: dict, **meta) -> None:
    """Write a benchmark's results as JSON, with the machine they came from."""
    meta = {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        **meta,
    }
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"meta": meta, **results}, indent=1))
