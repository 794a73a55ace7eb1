"""Print the SIMD targets NumPy can dispatch to, space-separated.

``make test-portable`` passes them to ``NPY_DISABLE_CPU_FEATURES``, so that NumPy
runs its baseline code paths (the ones every CPU it supports has) and the notebooks
are checked against the arithmetic of a machine unlike this one.
"""

from numpy._core._multiarray_umath import __cpu_dispatch__

print(" ".join(__cpu_dispatch__))
