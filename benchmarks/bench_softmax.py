"""Benchmark softmaxlib against scipy.special, plain NumPy, one-thread torch and a copy.

Run with ``make bench`` (or ``python benchmarks/bench_softmax.py [--quick]``).
For each operation, dtype and shape it prints the median time per call of every
contender, measured interleaved in this one process, and the ratios

* softmaxlib / scipy.special (for cross_entropy_and_grad: scipy's log_softmax
  for the loss plus its softmax for the gradient),
* softmaxlib / floor, where the floor is ``np.copyto`` into a preallocated array
  (one read and one write of the logits),
* softmaxlib / torch with one thread (forward plus backward for the loss), when
  torch can be imported,

and the peak extra memory of one call (tracemalloc) as a multiple of the input's
size.

A second table puts the three kinds of target of the loss side by side: class
indices, probability targets and class indices with label smoothing 0.1, for
``cross_entropy`` (loss) and ``cross_entropy_and_grad`` (loss+grad), with the
time of each as a ratio to the same call with class indices (measured in the
same rounds) and its peak extra memory as a multiple of the logits' size (the
results, that is the gradient and the per-example losses, are not counted; the
probability targets are an input, made beforehand). The targets: at most
1.5 times the index-target time and 0.1 times the input's size.

Both tables are written as JSON to ``benchmarks/results/`` for the book. Times
depend on the machine; the ratios are the result.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

import softmaxlib as sm
from booktools.bench import (
    OPERATIONS,
    TARGET_CALLS,
    TARGETS,
    contenders,
    make_inputs,
    make_probabilities,
    measure,
    peak_extra_memory,
    target_contenders,
    write_results,
)

SHAPES = [(4096, 10), (1024, 1000), (64, 50257), (1_000_000, 10)]
QUICK_SHAPES = [(4096, 10), (1024, 1000)]
# nq = 2e6 logits: above MEMORY_SIZE, where the 0.1 memory goal applies
TARGET_SHAPES = [(200_000, 10), (2_000, 1_000)]
QUICK_TARGET_SHAPES = [(20_000, 10), (200, 1_000)]
DTYPES = [np.float64, np.float32]
RESULTS = pathlib.Path(__file__).parent / "results"


def run(shapes, dtypes, rounds: int) -> list[dict]:
    rows = []
    for op in OPERATIONS:
        for dtype in dtypes:
            for shape in shapes:
                x, labels = make_inputs(shape, dtype)
                funcs = contenders(op, x)
                times = measure(funcs, (x, labels), rounds=rounds)
                ours = times["softmaxlib"]
                row = {
                    "operation": op,
                    "dtype": np.dtype(dtype).name,
                    "shape": list(shape),
                    "times": times,
                    "vs_scipy": ours / times["scipy"] if "scipy" in times else None,
                    "vs_floor": ours / times["floor"],
                    "vs_torch": ours / times["torch"] if "torch" in times else None,
                    "extra_memory": peak_extra_memory(funcs["softmaxlib"], (x, labels)),
                    "scipy_extra_memory": (
                        peak_extra_memory(funcs["scipy"], (x, labels))
                        if "scipy" in funcs
                        else None
                    ),
                }
                if op == "cross_entropy_and_grad":
                    row["vs_own_softmax"] = ours / times["softmaxlib softmax"]
                rows.append(row)
                print(_format(row), flush=True)
    return rows


def run_targets(shapes, dtypes, rounds: int) -> list[dict]:
    """Index targets, probability targets and label smoothing side by side."""
    rows = []
    for dtype in dtypes:
        for shape in shapes:
            x, labels = make_inputs(shape, dtype)
            probs = make_probabilities(labels, shape[-1], dtype)
            funcs = target_contenders(probs)
            times = measure(funcs, (x, labels), rounds=rounds)
            memory = {
                name: peak_extra_memory(f, (x, labels)) for name, f in funcs.items()
            }
            for target in TARGETS:
                row = {
                    "dtype": np.dtype(dtype).name,
                    "shape": list(shape),
                    "target": target,
                }
                for call in TARGET_CALLS:
                    name, base = f"{target} {call}", f"index {call}"
                    row[call] = {
                        "time": times[name],
                        "vs_index": times[name] / times[base],
                        "extra_memory": memory[name],
                        "memory_vs_index": memory[name] / memory[base],
                    }
                rows.append(row)
                print(_format_target(row), flush=True)
    return rows


TARGET_HEADER = f"{'dtype':<7} {'shape':>10}  {'target':<15}" + "".join(
    f" | {call:>9} ms {'/index':>6} {'memory':>7}" for call in TARGET_CALLS
)


def _format_target(row: dict) -> str:
    shape = "x".join(str(s) for s in row["shape"])
    cells = "".join(
        f" | {row[c]['time'] * 1e3:12.3f} {row[c]['vs_index']:6.2f}"
        f" {row[c]['extra_memory']:6.3f}x"
        for c in TARGET_CALLS
    )
    return f"{row['dtype']:<7} {shape:>10}  {row['target']:<15}{cells}"


def _ratio(value) -> str:
    return "     -" if value is None else f"{value:6.2f}"


def _ms(times: dict, name: str) -> str:
    return "       -" if name not in times else f"{times[name] * 1e3:8.3f}"


HEADER = (
    f"{'operation':<23} {'dtype':<7} {'shape':>10}  "
    f"{'ours':>8} {'scipy':>8} {'numpy':>8} {'floor':>8} {'torch':>8}  (ms) |"
    f" {'/scipy':>6} {'/floor':>6} {'/torch':>6} {'memory':>7}"
)


def _format(row: dict) -> str:
    t = row["times"]
    shape = "x".join(str(s) for s in row["shape"])
    own = row.get("vs_own_softmax")
    return (
        f"{row['operation']:<23} {row['dtype']:<7} {shape:>10}  "
        f"{_ms(t, 'softmaxlib')} {_ms(t, 'scipy')} {_ms(t, 'numpy')}"
        f" {_ms(t, 'floor')} {_ms(t, 'torch')}       |"
        f" {_ratio(row['vs_scipy'])} {_ratio(row['vs_floor'])}"
        f" {_ratio(row['vs_torch'])} {row['extra_memory']:6.2f}x"
        + ("" if own is None else f"  own softmax x{own:.2f}")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small shapes only")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--only",
        choices=["operations", "targets"],
        help="run one of the two tables",
    )
    args = parser.parse_args()
    shapes = QUICK_SHAPES if args.quick else SHAPES
    target_shapes = QUICK_TARGET_SHAPES if args.quick else TARGET_SHAPES
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None
        print("torch is not importable: its column is left out")
    print(f"numpy {np.__version__}, softmaxlib {sm.__version__}, torch {torch_version}")
    rows = targets = []
    if args.only != "targets":
        print(HEADER)
        rows = run(shapes, DTYPES, args.rounds)
    if args.only != "operations":
        print()
        print("loss (cross_entropy) and loss+grad (cross_entropy_and_grad) by target;")
        print("/index: time over class indices'; memory: peak extra over the input")
        print(TARGET_HEADER)
        targets = run_targets(target_shapes, DTYPES, args.rounds)
    out = RESULTS / ("bench_softmax_quick.json" if args.quick else "bench_softmax.json")
    write_results(out, {"rows": rows, "targets": targets}, torch=torch_version)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
