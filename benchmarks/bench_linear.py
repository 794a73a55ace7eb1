"""Benchmark linear_cross_entropy_and_grad against the materialised computation.

Run with ``make bench`` (or ``python benchmarks/bench_linear.py [--quick]``).
The materialised path is what a NumPy user writes without the function:

    logits = X @ W + b                              # n x V (and a temporary)
    loss, G = sm.cross_entropy_and_grad(logits, y)  # n x V gradient
    dX, dW, db = G @ W.T, X.T @ G, G.sum(axis=0)

and the contenders are ``sm.linear_cross_entropy_and_grad(X, W, y, bias=b)``
with ``strategy="rows"`` (what it chooses by itself at the full size, with
its default budget of 32 MiB) and with ``strategy="columns"``. Issue 15's
goals, at n = 4096, d = 512, V = 32768 in float32 and float64:

* peak memory of one call, outputs included (tracemalloc: every byte NumPy
  allocates from the call's start to its end; the inputs X, W, b, y exist
  before and are not counted), at most 1/8 of the materialised path's;
* wall time at most 1.15 times the materialised path's with row blocks and
  at most 1.6 times with column blocks.

Times: the three contenders are called in turn, round after round, in this
one process, and the minimum over the rounds is kept (the machine may be
shared; the minimum is the run least disturbed by other work). Each round
times them twice: with BLAS threads as the environment sets them, and with
one BLAS thread (threadpoolctl, from scikit-learn's dependencies): on a small
machine shared with other work, OpenBLAS's threads slow the many mid-size
products of the blocked paths far more than the three large ones of the
materialised path, and the one-thread line shows the arithmetic without that
contention. The ratios are the result; the times depend on the machine.

A second table holds the peak memory against V in {4096, 16384, 65536} at
fixed n = 4096 and d = 128 (float32; d only changes the time): the blocked
computation stays flat apart from its outputs (dW grows with V), the
materialised one grows with n V. Results go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import softmaxlib as sm
from booktools.bench import peak_bytes, write_results

RESULTS = pathlib.Path(__file__).parent / "results"
SHAPE = (4096, 512, 32768)
QUICK_SHAPE = (1024, 128, 8192)
#: --quick has 1/16 of the logits of the full size; its budget is scaled
#: likewise (2 MiB instead of 32), so that its memory ratios are like the
#: full run's (its row blocks are smaller: 60 rows instead of 240).
QUICK_BUDGET = 1 << 21
SWEEP = (4096, 128, (4096, 16384, 65536))
QUICK_SWEEP = (1024, 64, (1024, 4096, 16384))
GOALS = {"memory": 1 / 8, "rows": 1.15, "columns": 1.6}


def make_problem(n: int, d: int, V: int, dtype, seed: int = 0):
    """Features of unit scale, weights scaled so the logits have scale ~3."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    W = (3.0 / np.sqrt(d) * rng.standard_normal((d, V))).astype(dtype)
    b = rng.standard_normal(V).astype(dtype)
    y = rng.integers(0, V, size=n)
    return X, W, b, y


def materialised(X, W, b, y):
    logits = X @ W + b
    loss, G = sm.cross_entropy_and_grad(logits, y)
    return loss, G @ W.T, X.T @ G, G.sum(axis=0)


def contenders(budget=None) -> dict:
    """The materialised path, and the function with row blocks (its default
    choice at the full size) and with column blocks, within ``budget``."""
    return {
        "materialised": materialised,
        "rows": lambda X, W, b, y: sm.linear_cross_entropy_and_grad(
            X, W, y, bias=b, strategy="rows", memory_budget=budget
        ),
        "columns": lambda X, W, b, y: sm.linear_cross_entropy_and_grad(
            X, W, y, bias=b, strategy="columns", memory_budget=budget
        ),
    }


def _blas_threads(threads):
    """A context with BLAS limited to ``threads`` (None: as it is)."""
    if threads is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def blas_settings() -> tuple:
    """The BLAS thread counts to time: as the environment has it, and one
    thread if threadpoolctl can set it (and that is not already the case)."""
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    threads = info[0]["num_threads"] if info else None
    return (None,) if threads in (None, 1) else (None, 1)


def min_times(funcs: dict, args, rounds: int, settings) -> dict:
    """``{setting: {name: seconds}}``: the minimum wall time of each function
    for each BLAS thread setting, over ``rounds`` rounds that interleave all
    of them."""
    best = {s: {name: float("inf") for name in funcs} for s in settings}
    for _ in range(rounds):
        for setting in settings:
            with _blas_threads(setting):
                for name, f in funcs.items():
                    start = time.perf_counter()
                    f(*args)
                    elapsed = time.perf_counter() - start
                    best[setting][name] = min(best[setting][name], elapsed)
    return best


def check_agreement(funcs: dict, args) -> dict:
    """Relative differences of the loss and gradients from the materialised
    path (normwise), so that the table times computations that agree."""
    ref = funcs["materialised"](*args)
    out = {}
    for name in ("rows", "columns"):
        got = funcs[name](*args)
        diffs = [
            float(
                np.linalg.norm(np.asarray(a, np.float64) - np.asarray(r, np.float64))
                / np.linalg.norm(np.asarray(r, np.float64))
            )
            for a, r in zip(got, ref, strict=True)
        ]
        out[name] = diffs
    return out


def run_main(shape, dtypes, rounds: int, budget) -> list[dict]:
    n, d, V = shape
    funcs = contenders(budget)
    settings = blas_settings()
    rows = []
    for dtype in dtypes:
        args = make_problem(n, d, V, dtype)
        agreement = check_agreement(funcs, args)  # also the warm-up call
        memory = {name: peak_bytes(f, args)[0] for name, f in funcs.items()}
        times = min_times(funcs, args, rounds, settings)
        row = {
            "dtype": np.dtype(dtype).name,
            "n": n,
            "d": d,
            "V": V,
            "rounds": rounds,
            "seconds": {_label(s): times[s] for s in settings},
            "peak_bytes": memory,
            "time_ratio": {
                _label(s): {
                    k: times[s][k] / times[s]["materialised"] for k in STRATEGIES
                }
                for s in settings
            },
            "memory_ratio": {k: memory[k] / memory["materialised"] for k in STRATEGIES},
            "relative_difference": agreement,
        }
        rows.append(row)
        print(_format(row), flush=True)
    return rows


STRATEGIES = ("rows", "columns")


def _label(setting) -> str:
    return "default" if setting is None else f"{setting} thread"


def _met(ratio: float, goal: float) -> str:
    return "met" if ratio <= goal else "MISSED"


def _format(row: dict) -> str:
    mib = 2**20
    m = row["peak_bytes"]
    lines = [
        f"{row['dtype']}, n={row['n']}, d={row['d']}, V={row['V']}, "
        f"minimum of {row['rounds']} interleaved rounds"
    ]
    line = f"  peak memory: materialised {m['materialised'] / mib:.1f} MiB"
    for name in STRATEGIES:
        r = row["memory_ratio"][name]
        line += (
            f"; {name} {m[name] / mib:.1f} MiB = 1/{1 / r:.1f}"
            f" ({_met(r, GOALS['memory'])})"
        )
    lines.append(line)
    for label, t in row["seconds"].items():
        line = f"  time, BLAS {label}: materialised {t['materialised']:.2f} s"
        for name in STRATEGIES:
            r = row["time_ratio"][label][name]
            line += (
                f"; {name} {t[name]:.2f} s = x{r:.3f}"
                f" (goal {GOALS[name]}: {_met(r, GOALS[name])})"
            )
        lines.append(line)
    for name in STRATEGIES:
        diffs = ", ".join(f"{x:.1e}" for x in row["relative_difference"][name])
        lines.append(f"  {name}: relative difference of loss, dX, dW, db: {diffs}")
    return "\n".join(lines)


def run_sweep(sweep, budget) -> list[dict]:
    n, d, Vs = sweep
    mib = 2**20
    funcs = contenders(budget)
    rows = []
    print(f"\npeak memory (MiB, outputs included) against V; float32, n={n}, d={d}")
    print(f"  {'V':>6} {'materialised':>13} {'rows':>8} {'columns':>8} {'outputs':>8}")
    for V in Vs:
        args = make_problem(n, d, V, np.float32)
        memory = {name: peak_bytes(f, args)[0] for name, f in funcs.items()}
        outputs = (n * d + d * V + V) * 4
        rows.append({"V": V, "n": n, "d": d, "peak_bytes": memory, "outputs": outputs})
        print(
            f"  {V:>6} {memory['materialised'] / mib:13.1f} {memory['rows'] / mib:8.1f}"
            f" {memory['columns'] / mib:8.1f} {outputs / mib:8.1f}",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", choices=["float32", "float64"], action="append")
    args = parser.parse_args()
    shape = QUICK_SHAPE if args.quick else SHAPE
    dtypes = args.dtype or ["float32", "float64"]
    threads = {
        k: os.environ[k]
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        if k in os.environ
    }
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    print(
        f"numpy {np.__version__}, softmaxlib {sm.__version__}, "
        f"{os.cpu_count()} CPUs, environment {threads or 'sets no thread count'}, "
        f"BLAS {blas[0]['internal_api'] if blas else '?'} with "
        f"{blas[0]['num_threads'] if blas else '?'} threads by default"
    )
    budget = QUICK_BUDGET if args.quick else None
    main_rows = run_main(shape, dtypes, args.rounds, budget)
    sweep = run_sweep(QUICK_SWEEP if args.quick else SWEEP, budget)
    out = RESULTS / ("bench_linear_quick.json" if args.quick else "bench_linear.json")
    write_results(out, {"main": main_rows, "sweep": sweep}, blas_threads=threads)
    print(f"\nwritten to benchmarks/results/{out.name}")


if __name__ == "__main__":
    main()
