"""audio_gs.encoder.noise_env: the noise envelope's gains, fitted against the decoder's own noise."""

import numpy as np
from synth import tone

from audio_gs.codec.model import Noise, NoiseEnvelope
from audio_gs.codec.noise import hz_to_erb, render_noise
from audio_gs.encoder.noise_env import GAIN_RANGE_DB, band_energy, fit_envelope

SR = 16000
HOP = 128


def _wide_noise(seconds=1.0) -> Noise:
    """One noise Gaussian over the whole clip and most of 3-8 kHz: stationary high-band noise."""
    a = np.array
    return Noise(time=a([seconds / 2]), erb=a([float(hz_to_erb(5500.0))]), log_st=np.log([seconds]),
                 log_se=np.log([3.0]), log_energy=np.log([20.0]), channel=a([0]))


def _bursts(seconds=1.0, seed=0):
    """High-band noise switched on for 40 ms of every 100 ms."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.1, int(seconds * SR))
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(x.size, 1 / SR) < 4500] = 0
    x = np.fft.irfft(spec, n=x.size)
    on = (np.arange(x.size) % (SR // 10)) < 0.04 * SR
    return (x * on)[None]


def _envelope_error_db(x, y):
    ex, ey = (band_energy(s, SR, HOP, 4000.0)[0] for s in (x, y))
    keep = ex > 1e-3 * ex.max()
    return float(np.abs(10 * np.log10((ey[keep] + 1e-12) / ex[keep])).mean())


def test_band_energy_sees_only_the_band_above_the_edge():
    hi, lo = (band_energy(tone(SR, 0.5, f)[None], SR, HOP, 4000.0) for f in (6000.0, 1000.0))
    assert hi.shape == (1, NoiseEnvelope.n_points(SR // 2, HOP))
    assert np.median(hi) > 1e4 * max(float(np.median(lo)), 1e-30)


def test_the_envelope_makes_the_noise_follow_the_original_in_time():
    x = _bursts()
    noise = _wide_noise()
    plain = render_noise(noise, SR, SR, 1, 3)
    env = fit_envelope(x, np.zeros_like(x), plain, SR, HOP, 4000.0)
    shaped = render_noise(noise, SR, SR, 1, 3, envelope=env)
    assert env.gain_db.shape == (1, NoiseEnvelope.n_points(SR, HOP))
    assert GAIN_RANGE_DB[0] <= env.gain_db.min() and env.gain_db.max() <= GAIN_RANGE_DB[1]
    before, after = _envelope_error_db(x, plain), _envelope_error_db(x, shaped)
    assert after < 0.4 * before, (before, after)


def test_the_tonal_part_and_the_gain_lower_the_aim():
    x = _bursts()
    plain = render_noise(_wide_noise(), SR, SR, 1, 3)
    base = fit_envelope(x, np.zeros_like(x), plain, SR, HOP, 4000.0).gain_db
    quieter = fit_envelope(x, np.zeros_like(x), plain, SR, HOP, 4000.0, gain_db=-3.0).gain_db
    inside = (base > GAIN_RANGE_DB[0] + 3) & (base < GAIN_RANGE_DB[1])
    assert np.allclose((quieter - base)[inside], -3.0)
    half = fit_envelope(x, 0.5 * x, plain, SR, HOP, 4000.0).gain_db  # the tonal part holds a quarter of the energy
    ok = inside & (half > GAIN_RANGE_DB[0])
    assert np.allclose((half - base)[ok], 10 * np.log10(0.75), atol=1e-6)
