"""Is model A really better than model B on the same questions? Paired bootstrap and McNemar's test.

Both take the per-question correctness of the two runs (``True`` = answered correctly), aligned: entry
``i`` of each is the same question.

Paired bootstrap (Efron & Tibshirani 1993; Koehn 2004 for system comparison): resample the n questions
with replacement, *jointly* for both runs, and recompute the accuracy difference A - B (percentage
points). Only the per-question difference ``d_i = a_i - b_i`` in {-1, 0, +1} matters, and the counts of
the three values in a resample are exactly Multinomial(n, observed shares): they are drawn as such,
the same distribution as resampling indices at the cost of ``resamples`` draws instead of
``resamples x n``.

- interval: the percentile interval of the resampled differences;
- p-value (two-sided): the resampled differences are centred on the observed one to mimic the null of
  no difference, and ``p = (1 + #{|d* - d| >= |d|}) / (1 + resamples)`` (the +1 keeps it a valid p-value
  that is never 0; Davison & Hinkley 1997, eq. 4.11). An observed difference of 0 gives p = 1.

McNemar's test uses only the discordant questions: ``b`` = A right and B wrong, ``c`` = A wrong and B
right; under the null each discordant question goes either way with probability 1/2.

- exact (``b + c < 25``, :data:`MCNEMAR_EXACT_BELOW`, the usual rule of thumb, e.g. statsmodels' and
  Wikipedia's guidance): two-sided binomial test, ``p = min(1, 2 * P(X <= min(b, c)))``,
  ``X ~ Binomial(b + c, 1/2)`` (what ``scipy.stats.binomtest(min(b, c), b + c).pvalue`` gives);
- otherwise chi-square with Edwards' continuity correction, ``(max(|b - c| - 1, 0))^2 / (b + c)`` with
  one degree of freedom (``p = erfc(sqrt(x / 2))``, the chi-square(1) survival function).
  No discordant question at all gives p = 1.

>>> import numpy as np
>>> a = np.array([1, 1, 1, 1, 1, 1, 0, 0, 1, 1], dtype=bool); b = np.array([0, 0, 0, 0, 0, 1, 0, 1, 1, 1], dtype=bool)
>>> r = mcnemar(a, b)
>>> r.a_only, r.b_only, r.method, round(r.p_value, 6)
(5, 1, 'exact', 0.21875)
>>> boot = paired_bootstrap(a, b, seed=0, resamples=2000)
>>> boot.difference
40.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MCNEMAR_EXACT_BELOW", "BootstrapResult", "McNemarResult", "mcnemar", "paired_bootstrap"]

MCNEMAR_EXACT_BELOW = 25  # discordant pairs under which McNemar's test is the exact binomial test


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"correctness of A {a.shape} and B {b.shape} must be 1-D and of one length")
    for name, x in (("A", a), ("B", b)):
        if x.dtype != bool and not np.isin(x, (0, 1)).all():
            raise ValueError(f"correctness of {name} must be booleans (or 0 / 1)")
    return a.astype(bool), b.astype(bool)


@dataclass(frozen=True)
class BootstrapResult:
    n: int
    accuracy_a: float  # percent
    accuracy_b: float
    difference: float  # A - B, percentage points
    ci_low: float
    ci_high: float
    confidence: float
    p_value: float
    resamples: int
    seed: int


def paired_bootstrap(a, b, *, seed: int, resamples: int = 10_000, confidence: float = 0.95) -> BootstrapResult:
    """Percentile interval and two-sided p-value of the accuracy difference A - B (percentage points)."""
    a, b = _paired(a, b)
    if resamples < 1:
        raise ValueError(f"resamples must be positive, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n = a.size
    if n == 0:
        nan = float("nan")
        return BootstrapResult(0, nan, nan, nan, nan, nan, confidence, nan, resamples, seed)
    a_only = int((a & ~b).sum())
    b_only = int((~a & b).sum())
    difference = 100 * (a_only - b_only) / n
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [a_only / n, b_only / n, (n - a_only - b_only) / n], size=resamples)
    resampled = 100.0 * (counts[:, 0] - counts[:, 1]) / n
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(resampled, [alpha, 1.0 - alpha])
    # Compared in questions (integers), not in rounded percentages.
    shift = counts[:, 0] - counts[:, 1] - (a_only - b_only)
    extreme = int((np.abs(shift) >= abs(a_only - b_only)).sum())
    return BootstrapResult(n, 100 * int(a.sum()) / n, 100 * int(b.sum()) / n, difference, float(low), float(high),
                           confidence, (1 + extreme) / (1 + resamples), resamples, seed)



@dataclass(frozen=True)
class McNemarResult:
    a_only: int  # b: questions A answers correctly and B does not
    b_only: int  # c: the reverse
    method: str  # "exact" (binomial) or "chi2-cc" (chi-square, continuity corrected)
    statistic: float  # the chi-square statistic, or min(b, c) for the exact test
    p_value: float


def _binomial_two_sided(k: int, n: int) -> float:
    """``min(1, 2 * P(X <= k))`` for X ~ Binomial(n, 1/2), k <= n / 2; exact integer arithmetic."""
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2 ** n)


def mcnemar(a, b, *, exact: bool | None = None) -> McNemarResult:
    """McNemar's test of A vs B; ``exact=None`` picks the binomial test below 25 discordant questions."""
    a, b = _paired(a, b)
    a_only = int((a & ~b).sum())
    b_only = int((~a & b).sum())
    discordant = a_only + b_only
    if exact is None:
        exact = discordant < MCNEMAR_EXACT_BELOW
    if discordant == 0:
        return McNemarResult(a_only, b_only, "exact" if exact else "chi2-cc", 0.0, 1.0)
    if exact:
        k = min(a_only, b_only)
        return McNemarResult(a_only, b_only, "exact", float(k), _binomial_two_sided(k, discordant))
    statistic = max(abs(a_only - b_only) - 1, 0) ** 2 / discordant
    return McNemarResult(a_only, b_only, "chi2-cc", float(statistic), math.erfc(math.sqrt(statistic / 2.0)))

