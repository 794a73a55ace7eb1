"""Text shared by several docstrings."""

from __future__ import annotations

import textwrap

__all__ = ["fill_doc"]

_REFERENCES = """\
References
----------
Blanchard, P., Higham, D. J. and Higham, N. J. (2021). Accurately computing
the log-sum-exp and softmax functions. *IMA Journal of Numerical Analysis*
41(4), 2311-2330.

Zhang, A., Lipton, Z. C., Li, M. and Smola, A. J. (2023). *Dive into Deep
Learning*, section 4.1 (softmax regression). Cambridge University Press.
"""

# The accuracy statements of softmax, log_softmax and logsumexp use these terms;
# tests/lib/test_accuracy.py checks every bound against mpmath (chapters/api.md and
# chapter 5 derive them).
_ERROR_MODEL = r"""*The error model of these bounds.* They are first order in the unit
roundoff :math:`u` (:math:`2^{-53}` in float64, :math:`2^{-24}` in float32)
and hold for all finite logits, :math:`-\infty` entries allowed, wherever the
result is a normal number. They assume that NumPy's ``exp`` and ``log1p``
have relative errors of at most :math:`\mu u`: :math:`\mu = 2` in float64
(both are accurate to below one ulp) and :math:`\mu = 4` in float32 (NumPy's
AVX2 and AVX-512 ``exp`` errs by about 2.5 ulps), values that the test suite
checks on the machine it runs on. :math:`c_q` is the largest number of
roundings a term of :math:`s` goes through in NumPy's pairwise summation:
:math:`c_q \le \max(q - 2, 0)` and :math:`c_q \le 18 + \log_2 q`. A
relative error of :math:`\beta u` is an error of at most :math:`\beta` ulps
(between :math:`\beta/2` and :math:`\beta`, depending on where the result
lies between two powers of two). The rounding of :math:`t_i = x_i - x_k`
becomes a relative error of up to :math:`|t_i| u` in :math:`\exp(t_i)`, so
up to :math:`|t_i|` ulps; it is zero where the difference is exact, for
instance when :math:`x_k = 0` or when :math:`x_i` and :math:`x_k` are within
a factor 2 of each other. Each term :math:`\exp(t_i)` below the normal
range adds at most :math:`\mu r_{\min}/|r|` ulps to a result :math:`r`
(:math:`r_{\min}` the smallest normal number), which shows only in results
close to the underflow threshold. float16 input is computed in float32 and
rounded once, which adds at most half a float16 ulp to the float32 error:
below 1 ulp for softmax and log_softmax, and for logsumexp wherever
:math:`|\operatorname{logsumexp}(x)| \ge B/4095`
(:math:`B` as in :func:`logsumexp`, with float32's :math:`\mu`)."""


def fill_doc(**texts):
    """Decorator: replace each line ``{name}`` of a docstring by a shared text.

    ``texts`` maps names to texts (indented or not: they are dedented, then
    indented by the docstring's 4 spaces); ``references`` and
    ``error_model`` are always known. A name that the docstring does not
    hold is left out.
    """
    texts = {"references": _REFERENCES, "error_model": _ERROR_MODEL, **texts}

    def fill(func):
        doc = func.__doc__
        for name, text in texts.items():
            text = textwrap.indent(textwrap.dedent(text), "    ").strip()
            doc = doc.replace("{" + name + "}", text)
        func.__doc__ = doc
        return func

    return fill
