"""The noise envelope's gains: the encoder's half of audio_gs.codec.model.NoiseEnvelope.

The decoder renders the noise Gaussians with a seed the encoder knows, so the encoder can render the
same noise and compare, every `hop` samples, the energy above the band edge of the original, of the
decoded tonal part and of the decoded noise. The gain at point j lifts the noise there to what the
tonal part leaves of the original's band energy, times 10^(gain_db / 10):

    g_j = 10 log10(max(E_orig - E_tonal, floor) / E_noise) + gain_db        (dB, clipped to GAIN_RANGE_DB)

Energies are taken in Hann windows of 2 hop centred at the points (samples 0, hop, 2 hop, ...). This
corrects both the noise Gaussians' coarse time resolution and the luck of the one realisation.
"""

from __future__ import annotations

import numpy as np

from audio_gs.codec.model import NoiseEnvelope

GAIN_RANGE_DB = (-36.0, 18.0)  # gains the encoder writes (a point with no noise under it gets the top)
FLOOR = 1e-10  # squared samples: energies below are treated as silence


def band_energy(x: np.ndarray, sample_rate: int, hop: int, band_hz: float) -> np.ndarray:
    """Energy above band_hz [channels, points] of x [channels, samples] in Hann windows of 2 hop
    centred at samples 0, hop, 2 hop, ... (NoiseEnvelope.n_points of them)."""
    x = np.atleast_2d(np.asarray(x, np.float64))
    c, n = x.shape
    m = NoiseEnvelope.n_points(n, hop)
    size = 2 * hop
    pad = np.zeros((c, (m + 1) * hop + size))
    pad[:, hop:hop + n] = x  # point j's window starts at sample (j - 1) hop
    idx = np.arange(m)[:, None] * hop + np.arange(size)[None, :]
    win = np.hanning(size + 2)[1:-1]
    spec = np.fft.rfft(pad[:, idx] * win, axis=-1)
    band = np.fft.rfftfreq(size, 1.0 / sample_rate) >= band_hz
    return (np.abs(spec[..., band]) ** 2).sum(-1) / size


def fit_envelope(target: np.ndarray, tonal: np.ndarray, noise: np.ndarray, sample_rate: int, hop: int,
                 band_hz: float, gain_db: float = 0.0) -> NoiseEnvelope:
    """The envelope (dB gains, [channels, points]) that brings the rendered noise above band_hz to
    the original's band energy left over by the tonal part, times 10^(gain_db / 10)."""
    e_orig, e_tonal, e_noise = (band_energy(s, sample_rate, hop, band_hz) for s in (target, tonal, noise))
    want = np.maximum(e_orig - e_tonal, FLOOR)
    g = 10.0 * np.log10(want / np.maximum(e_noise, FLOOR)) + gain_db
    return NoiseEnvelope(band_hz=float(band_hz), hop=int(hop), gain_db=np.clip(g, *GAIN_RANGE_DB))
