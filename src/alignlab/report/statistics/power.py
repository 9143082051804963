"""What a paired comparison over seeds can detect: the power of the two-sided one-sample t-test
of n per-seed differences, the smallest difference it detects with a given power, and the number
of seeds a difference needs.

The test rejects when ``|mean| / (sd / sqrt(n)) > t_{1 - alpha/2, n - 1}``. When the differences
have true mean ``delta`` and standard deviation ``sigma``, the statistic follows the noncentral t
distribution with n - 1 degrees of freedom and noncentrality ``delta / sigma * sqrt(n)`` (Cohen
1988, *Statistical Power Analysis*, ch. 2), so the power is
``P(T > t_crit) + P(T < -t_crit)``, both tails from scipy's ``nct``. Effects are in units of
``sigma`` (Cohen's d); the observed seed standard deviation stands in for it.
"""

from __future__ import annotations

import math

from scipy import optimize as _optimize
from scipy import stats as _stats

DEFAULT_ALPHA = 0.05
DEFAULT_POWER = 0.8
# Past this many seeds the answer is the normal approximation: the noncentral t with that many
# degrees of freedom is the normal to well within one seed, and scipy's nct slows down there.
NORMAL_APPROXIMATION_SEEDS = 100_000


def t_test_power(effect: float, n: int, alpha: float = DEFAULT_ALPHA) -> float:
    """Power of the two-sided one-sample t-test at level ``alpha`` on ``n`` >= 2 values whose true
    mean is ``effect`` standard deviations away from 0."""
    dof = n - 1
    critical = _stats.t.ppf(1 - alpha / 2, dof)
    noncentrality = effect * math.sqrt(n)
    # The lower tail as the upper tail at -noncentrality: scipy's nct.cdf returns NaN far in the
    # tail (e.g. df 1, noncentrality 20), where its sf returns the correct 0.
    upper = _stats.nct.sf(critical, dof, noncentrality)
    lower = _stats.nct.sf(critical, dof, -noncentrality)
    return float(upper + lower)


def detectable_effect(n: int, alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER) -> float | None:
    """The smallest effect (in standard deviations) that the test on ``n`` values detects with
    probability ``power``; None below two values (no test)."""
    if n < 2:
        return None
    high = 1.0
    while t_test_power(high, n, alpha) < power:
        high *= 2
    return float(_optimize.brentq(lambda effect: t_test_power(effect, n, alpha) - power, 0.0, high, xtol=1e-10))


def detectable_difference(
    sd: float | None, n: int, alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER
) -> float | None:
    """The smallest difference the test on ``n`` seeds detects with probability ``power`` when the
    per-seed differences have standard deviation ``sd``: :func:`detectable_effect` x sd. None
    below two seeds or without an sd."""
    effect = detectable_effect(n, alpha, power)
    if effect is None or sd is None or not math.isfinite(sd):
        return None
    return effect * sd


def seeds_needed(
    difference: float | None, sd: float | None, alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER
) -> int | None:
    """The fewest seeds (at least 2) at which the test detects ``difference`` with probability
    ``power`` when the per-seed differences have standard deviation ``sd``; None for a zero (or
    missing) difference, which no number of seeds detects, or a missing sd."""
    if difference is None or sd is None or not math.isfinite(difference) or not math.isfinite(sd) or difference == 0:
        return None
    if sd == 0:
        return 2
    effect = abs(difference) / sd
    # Start at the normal approximation n = ((z_{1-alpha/2} + z_power) / effect)^2 and walk to
    # the exact answer: a few steps of the noncentral t instead of one per seed from 2.
    z = _stats.norm.ppf(1 - alpha / 2) + _stats.norm.ppf(power)
    approximation = (z / effect) ** 2
    if approximation > NORMAL_APPROXIMATION_SEEDS:
        return math.ceil(approximation)
    n = max(2, math.floor(approximation))
    if t_test_power(effect, n, alpha) >= power:
        while n > 2 and t_test_power(effect, n - 1, alpha) >= power:
            n -= 1
        return n
    while t_test_power(effect, n, alpha) < power:
        n += 1
    return n
