"""Our own Bjontegaard deltas (PCHIP through each curve's non-dominated points, integrated by scipy),
kept only to cross-check the `bjontegaard` package that audio_gs.bench.bd uses: tests hold the two
together on the published JCT-VC examples and on random curves.

Same conventions as audio_gs.bench.bd: rates in any unit, quality rising with rate, ValueError when a
delta cannot be computed.
"""

from __future__ import annotations

import math

import numpy as np

from audio_gs.bench.bd import _fronts


def _pchip_mean(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    from scipy.interpolate import PchipInterpolator

    return float(PchipInterpolator(x, y).integrate(lo, hi) / (hi - lo))


def bd_rate(rate_ref, q_ref, rate_test, q_test) -> float:
    """BD-rate (%): log(rate) interpolated against quality, averaged over the common quality range."""
    r1, q1, r2, q2 = _fronts(rate_ref, q_ref, rate_test, q_test)
    lo, hi = max(q1.min(), q2.min()), min(q1.max(), q2.max())
    if not hi > lo:
        raise ValueError("quality ranges do not overlap")
    avg = _pchip_mean(q2, np.log(r2), lo, hi) - _pchip_mean(q1, np.log(r1), lo, hi)
    return float((math.exp(avg) - 1) * 100)


def bd_quality(rate_ref, q_ref, rate_test, q_test) -> float:
    """BD-quality: quality interpolated against log(rate), averaged over the common log-rate range."""
    r1, q1, r2, q2 = _fronts(rate_ref, q_ref, rate_test, q_test)
    l1, l2 = np.log(r1), np.log(r2)
    lo, hi = max(l1.min(), l2.min()), min(l1.max(), l2.max())
    if not hi > lo:
        raise ValueError("bitrate ranges do not overlap")
    return _pchip_mean(l2, q2, lo, hi) - _pchip_mean(l1, q1, lo, hi)
