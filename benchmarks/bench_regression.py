"""Time SoftmaxRegression's L-BFGS fit against scikit-learn's LogisticRegression.

Run with ``python benchmarks/bench_regression.py [--rounds N] [--l2 L]``.
Both fit the standardised digits (1,797 x 64, ten classes) on the same
objective, mean cross-entropy + (l2/2)·||W||², which is LogisticRegression with
``C = 1 / (n · l2)``; both run SciPy's L-BFGS-B from zero with the same
tolerances (gtol = tol, ftol = 64 eps, maxls = 50). The two fits alternate
round by round in this one process, so a change of machine load moves both;
the script prints the median wall time of each and their ratio (target ≤ 1.5),
the iterations each needed, and how far apart the two objective values are.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import softmaxlib as sm


def objective(W, b, X, y, l2):
    """Mean cross-entropy + (l2/2)·||W||², from softmaxlib's loss."""
    return float(sm.cross_entropy(X @ W + b, y)) + 0.5 * l2 * float(np.sum(W**2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--l2", type=float, default=1e-3)
    parser.add_argument("--tol", type=float, default=1e-6)
    args = parser.parse_args()

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    n = X.shape[0]
    fits = {
        "softmaxlib": lambda: sm.SoftmaxRegression(
            l2=args.l2, tol=args.tol, max_iter=1000
        ).fit(X, y),
        "sklearn": lambda: LogisticRegression(
            C=1.0 / (n * args.l2), tol=args.tol, max_iter=1000
        ).fit(X, y),
    }
    times: dict[str, list[float]] = {name: [] for name in fits}
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fit that does not converge is no result
        for name, fit in fits.items():  # warm-up: imports, caches
            models[name] = fit()
        for _ in range(args.rounds):
            for name, fit in fits.items():
                start = time.perf_counter()
                fit()
                times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    ours, ref = models["softmaxlib"], models["sklearn"]
    f_ours = objective(ours.coef_.T, ours.intercept_, X, y, args.l2)
    f_ref = objective(ref.coef_.T, ref.intercept_, X, y, args.l2)
    iters = {"softmaxlib": ours.n_iter_, "sklearn": int(ref.n_iter_[0])}

    print(
        f"digits standardised, n={n}, d={X.shape[1]}, q=10, l2={args.l2:g}, "
        f"tol={args.tol:g}, {args.rounds} interleaved rounds"
    )
    for name in fits:
        print(
            f"  {name:<10} median {median[name] * 1e3:8.1f} ms  "
            f"{iters[name]:4d} iterations  "
            f"{median[name] / iters[name] * 1e3:6.2f} ms/iteration"
        )
    print(f"  objective  softmaxlib {f_ours:.10f}  sklearn {f_ref:.10f}")
    print(f"  relative difference of the objectives {abs(f_ours - f_ref) / f_ref:.1e}")
    ratio = median["softmaxlib"] / median["sklearn"]
    verdict = "meets" if ratio <= 1.5 else "misses"
    print(f"time ratio softmaxlib / sklearn = {ratio:.2f} ({verdict} the target 1.5)")


if __name__ == "__main__":
    main()
