"""Bjontegaard deltas between two rate-quality curves, computed by the `bjontegaard` package
(FAU-LMS, PCHIP interpolation as in the JCT-VC common test conditions).

What this module adds around the package: each curve is first cut to its non-dominated points
(quality rising with rate), which the package needs (it interpolates whatever order it gets), and
a delta that cannot be computed (fewer than 2 points, no overlap) raises ValueError with the reason
instead of returning NaN with a warning. Rates in kbit/s (any unit: only ratios matter).

tests/bench/test_bd.py holds the package against our own PCHIP implementation
(audio_gs.bench.bd_reference) and against the published JCT-VC examples.
"""

from __future__ import annotations

import warnings

import numpy as np

METHOD = "pchip"


def rd_front(rate, quality) -> tuple[np.ndarray, np.ndarray]:
    """The points of a curve that are not dominated (quality rises with rate), sorted by rate.

    A point with no more quality than a cheaper one is dropped (e.g. a codec that cannot go below a
    bitrate and returns the same file twice, or a PESQ outlier), so that both axes are monotonic.
    """
    r, q = np.asarray(rate, float), np.asarray(quality, float)
    ok = np.isfinite(r) & np.isfinite(q) & (r > 0)
    r, q = r[ok], q[ok]
    order = np.lexsort((-q, r))
    keep_r, keep_q = [], []
    for ri, qi in zip(r[order], q[order]):
        if not keep_q or (qi > keep_q[-1] and ri > keep_r[-1]):
            keep_r.append(ri)
            keep_q.append(qi)
    return np.array(keep_r), np.array(keep_q)


def _fronts(rate_ref, q_ref, rate_test, q_test):
    r1, q1 = rd_front(rate_ref, q_ref)
    r2, q2 = rd_front(rate_test, q_test)
    if len(r1) < 2 or len(r2) < 2:
        raise ValueError("fewer than 2 non-dominated points on a curve")
    return r1, q1, r2, q2


def bd_rate(rate_ref, q_ref, rate_test, q_test) -> float:
    """Bjontegaard delta rate (%): average bitrate change of test vs ref at equal quality.

    Negative: test needs fewer bits. Averaged over the overlapping quality interval only (no
    extrapolation). Raises ValueError when it cannot be computed (fewer than 2 points, no overlap).
    """
    import bjontegaard

    r1, q1, r2, q2 = _fronts(rate_ref, q_ref, rate_test, q_test)
    if not min(q1.max(), q2.max()) > max(q1.min(), q2.min()):
        raise ValueError("quality ranges do not overlap")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the package warns below 75 % overlap; the report states the ranges
        return float(bjontegaard.bd_rate(r1, q1, r2, q2, method=METHOD, require_matching_points=False,
                                         min_overlap=0))


def bd_quality(rate_ref, q_ref, rate_test, q_test) -> float:
    """Bjontegaard delta quality (e.g. BD-SNR in dB, BD-PESQ): average quality change of test vs ref at
    equal rate, over the overlapping log-rate interval. Raises ValueError when it cannot be computed."""
    import bjontegaard

    r1, q1, r2, q2 = _fronts(rate_ref, q_ref, rate_test, q_test)
    if not min(r1.max(), r2.max()) > max(r1.min(), r2.min()):
        raise ValueError("bitrate ranges do not overlap")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(bjontegaard.bd_psnr(r1, q1, r2, q2, method=METHOD, require_matching_points=False,
                                         min_overlap=0))


def library_version() -> str:
    """'bjontegaard <version>' (for the report's methods note)."""
    from importlib.metadata import version

    return f"bjontegaard {version('bjontegaard')}"
