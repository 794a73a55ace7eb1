"""How much the library's unit tests check: the default run or the thorough one.

`make test` runs the default profile, sized so that the unit tests stay under
40 s on a 2-core machine. `SOFTMAXLIB_TESTS=thorough` (`make test-thorough`,
run by .ci/run) checks more of the same: four times the hypothesis examples;
twice the random rows of the weighted-logsumexp bound; at the kernels' switch
sizes, every memory layout with every reduction (the default run gives each
layout one reduction, a different one at each size, so that every pair still
meets at some switch size); and scikit-learn's estimator checks for every
solver (the default run checks the default one: the checks are about the
estimator's interface, which the solvers share). Both profiles cross the same
switch points and piece boundaries. None of the tests the default profile
trims is among those `make mutate` runs (pyproject.toml's [tool.mutmut]), so
the mutation score does not depend on the profile.
"""

from __future__ import annotations

import os

THOROUGH = os.environ.get("SOFTMAXLIB_TESTS", "") == "thorough"


def examples(n: int) -> int:
    """The hypothesis examples of a test that asks for ``n`` in a thorough run."""
    return n if THOROUGH else max(n // 4, 10)
