"""Text shared by several docstrings."""

from __future__ import annotations

import textwrap

__all__ = ["fill_references"]

_REFERENCES = """\
References
----------
Blanchard, P., Higham, D. J. and Higham, N. J. (2021). Accurately computing
the log-sum-exp and softmax functions. *IMA Journal of Numerical Analysis*
41(4), 2311-2330.

Zhang, A., Lipton, Z. C., Li, M. and Smola, A. J. (2023). *Dive into Deep
Learning*, section 4.1 (softmax regression). Cambridge University Press.
"""


def fill_references(func):
    """Replace the line ``{references}`` in ``func``'s docstring (4-space indent)."""
    text = textwrap.indent(_REFERENCES, "    ").strip()
    func.__doc__ = func.__doc__.replace("{references}", text)
    return func
