"""Benchmark softmaxlib against scipy.special, naive NumPy, one-thread torch and a copy.

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
size. The same table is written as JSON to ``benchmarks/results/`` for the book.
Times depend on the machine; the ratios are the result.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform

import numpy as np

import softmaxlib as sm
from softmaxlib.bench import (
    OPERATIONS,
    contenders,
    make_inputs,
    measure,
    peak_extra_memory,
)

SHAPES = [(4096, 10), (1024, 1000), (64, 50257), (1_000_000, 10)]
QUICK_SHAPES = [(4096, 10), (1024, 1000)]
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


def _ratio(value) -> str:
    return "     -" if value is None else f"{value:6.2f}"


def _ms(times: dict, name: str) -> str:
    return "       -" if name not in times else f"{times[name] * 1e3:8.3f}"


HEADER = (
    f"{'operation':<23} {'dtype':<7} {'shape':>10}  "
    f"{'ours':>8} {'scipy':>8} {'naive':>8} {'floor':>8} {'torch':>8}  (ms) |"
    f" {'/scipy':>6} {'/floor':>6} {'/torch':>6} {'memory':>7}"
)


def _format(row: dict) -> str:
    t = row["times"]
    shape = "x".join(str(s) for s in row["shape"])
    own = row.get("vs_own_softmax")
    return (
        f"{row['operation']:<23} {row['dtype']:<7} {shape:>10}  "
        f"{_ms(t, 'softmaxlib')} {_ms(t, 'scipy')} {_ms(t, 'naive')}"
        f" {_ms(t, 'floor')} {_ms(t, 'torch')}       |"
        f" {_ratio(row['vs_scipy'])} {_ratio(row['vs_floor'])}"
        f" {_ratio(row['vs_torch'])} {row['extra_memory']:6.2f}x"
        + ("" if own is None else f"  own softmax x{own:.2f}")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small shapes only")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    shapes = QUICK_SHAPES if args.quick else SHAPES
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None
        print("torch is not importable: its column is left out")
    print(f"numpy {np.__version__}, softmaxlib {sm.__version__}, torch {torch_version}")
    print(HEADER)
    rows = run(shapes, DTYPES, args.rounds)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("bench_softmax_quick.json" if args.quick else "bench_softmax.json")
    meta = {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "numpy": np.__version__,
        "torch": torch_version,
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
