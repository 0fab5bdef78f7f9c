"""audio_gs.bench.bd (the `bjontegaard` package behind a thin guard) held against the published JCT-VC
examples and against our own PCHIP implementation (audio_gs.bench.bd_reference)."""

import numpy as np
import pytest

from audio_gs.bench import bd, bd_reference

RATES = np.array([8.0, 16.0, 32.0, 64.0])
SNR = np.array([10.0, 14.0, 17.0, 19.0])

# JCTVC-E137 data (bitrate kbit/s, PSNR dB; anchor, test) and their BD-rates as the JCT-VC Excel sheet
# computes them (PCHIP): -0.465215 % and -1.877982 %, the values Netflix's vmaf checks its calculator
# against (python/test/bd_rate_calculator_test.py, BDrateCalculatorJCTVCTest, as fractions).
JCTVC = [
    ([(108048.8736, 43.6471), (61279.976, 40.3953), (33905.6656, 37.247), (18883.6928, 34.2911)],
     [(108061.2784, 43.6768), (61299.9936, 40.4232), (33928.7472, 37.2761), (18910.912, 34.3147)], -0.465215420752807),
    ([(40433.8848, 37.5761), (7622.7456, 35.3756), (2394.488, 33.8977), (1017.6184, 32.0603)],
     [(40370.12, 37.5982), (7587.0024, 35.4025), (2390.0944, 33.9194), (1017.0984, 32.0822)], -1.8779823450567612),
]


@pytest.mark.parametrize("anchor, test, published", JCTVC)
def test_bd_rate_matches_the_published_jctvc_values_and_our_own_implementation(anchor, test, published):
    ra, qa = zip(*anchor)
    rt, qt = zip(*test)
    assert bd.bd_rate(ra, qa, rt, qt) == pytest.approx(published, abs=1e-6)
    assert bd_reference.bd_rate(ra, qa, rt, qt) == pytest.approx(published, abs=1e-6)
    assert bd.bd_quality(ra, qa, rt, qt) == pytest.approx(bd_reference.bd_quality(ra, qa, rt, qt), abs=1e-9)
    assert bd.bd_quality(ra, qa, rt, qt) > 0  # the test codec is better at equal rate


def test_package_and_ours_agree_on_random_curves_with_unequal_point_counts():
    rng = np.random.default_rng(0)
    for _ in range(50):
        r1 = np.sort(rng.uniform(4, 100, 4))
        r2 = np.sort(rng.uniform(4, 100, int(rng.integers(2, 6))))
        q1 = np.sort(rng.uniform(0, 30, 4))
        q2 = np.sort(rng.uniform(0, 30, r2.size))
        for fn in ("bd_rate", "bd_quality"):
            try:
                ours = getattr(bd_reference, fn)(r1, q1, r2, q2)
            except ValueError as exc:
                with pytest.raises(ValueError, match=str(exc).split(" ")[0]):
                    getattr(bd, fn)(r1, q1, r2, q2)
                continue
            assert getattr(bd, fn)(r1, q1, r2, q2) == pytest.approx(ours, rel=1e-9, abs=1e-9)


def test_bd_rate_is_zero_for_the_same_curve_and_100_percent_for_double_rates():
    assert bd.bd_rate(RATES, SNR, RATES, SNR) == pytest.approx(0.0, abs=1e-9)
    assert bd.bd_rate(RATES, SNR, 2 * RATES, SNR) == pytest.approx(100.0, rel=1e-6)
    assert bd.bd_rate(RATES, SNR, RATES / 2, SNR) == pytest.approx(-50.0, rel=1e-6)


def test_bd_quality_is_the_constant_offset():
    assert bd.bd_quality(RATES, SNR, RATES, SNR + 1.5) == pytest.approx(1.5)
    assert bd.bd_quality(RATES, SNR, RATES[:3], SNR[:3] - 2.0) == pytest.approx(-2.0, abs=0.02)  # over the overlap only


def test_bd_without_overlap_or_points_raises_instead_of_returning_nan():
    with pytest.raises(ValueError, match="overlap"):
        bd.bd_rate(RATES, SNR, RATES, SNR + 50)
    with pytest.raises(ValueError, match="overlap"):
        bd.bd_quality(RATES, SNR, RATES * 100, SNR)
    with pytest.raises(ValueError, match="fewer than 2"):
        bd.bd_quality(RATES, SNR, RATES[:1], SNR[:1])


def test_rd_front_drops_dominated_points_and_bd_stays_bounded():
    r, q = bd.rd_front([40.7, 40.7, 48, 64, 96], [18.2, 18.2, 17.0, 26.6, 33.9])
    assert list(r) == [40.7, 64, 96] and list(q) == [18.2, 26.6, 33.9]
    # a curve that saturates (PESQ-like) does not make the delta explode; points in any order
    ref_r, ref_q = [96, 9.6, 16, 32, 64], [4.54, 2.2, 3.9, 4.27, 4.24]
    v = bd.bd_quality(ref_r, ref_q, [43.6, 7.4, 18.5], [3.0, 1.2, 1.6])
    assert -4 < v < 0
