"""Synthetic test signals (tones, chirps, noise bursts, clicks) and random atoms, made by the tests.
Importable from every test folder (pytest's pythonpath includes tests/)."""

import numpy as np

from audio_gs.codec.model import Gabor


def tone(sr=8000, seconds=0.5, freq=440.0, amp=0.5, phase=0.3):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.cos(2 * np.pi * freq * t + phase)).astype(np.float32)


def chirp(sr=8000, seconds=0.5, f0=300.0, f1=1500.0, amp=0.4):
    t = np.arange(int(sr * seconds)) / sr
    k = (f1 - f0) / seconds
    return (amp * np.sin(2 * np.pi * (f0 * t + 0.5 * k * t * t))).astype(np.float32)


def noise_burst(sr=8000, seconds=0.5, start=0.2, length=0.05, amp=0.3, seed=0):
    x = np.zeros(int(sr * seconds), np.float32)
    rng = np.random.default_rng(seed)
    a, b = int(start * sr), int((start + length) * sr)
    x[a:b] = amp * rng.standard_normal(b - a) * np.hanning(b - a)
    return x


def clicks(sr=8000, seconds=0.5, times=(0.1, 0.3), amp=0.8):
    x = np.zeros(int(sr * seconds), np.float32)
    for t in times:
        x[int(t * sr)] = amp
    return x


def mixture(sr=8000, seconds=0.5):
    """A harmonic tone with vibrato-free partials, a chirp and a noise burst: a small 'music' signal."""
    return (tone(sr, seconds, 220, 0.3) + tone(sr, seconds, 660, 0.15, 1.0) + chirp(sr, seconds, 1000, 2500, 0.1)
            + noise_burst(sr, seconds, amp=0.05))


def random_gabor(k, sr=8000, seconds=0.5, n_channels=1, seed=0, max_sigma=0.03) -> Gabor:
    """k random Gabor atoms (numpy float64) within `seconds`, widths 0.5 ms to 0.5 + max_sigma ms."""
    rng = np.random.default_rng(seed)
    r = lambda: rng.random(k)  # noqa: E731
    return Gabor(time=r() * seconds, freq=r() * sr / 2, log_sigma=np.log(0.0005 + r() * max_sigma),
                 chirp=(r() - 0.5) * 4000, amp_cos=r() - 0.5, amp_sin=r() - 0.5,
                 channel=rng.integers(0, n_channels, k).astype(np.int64))


def random_atoms(k, sr=8000, seconds=0.5, n_channels=1, seed=0, dtype=None, max_sigma=0.03):
    """k random torch Atoms (float64 unless dtype is given)."""
    import torch

    from audio_gs.encoder.atoms import Atoms

    dtype = dtype or torch.float64
    g = torch.Generator().manual_seed(seed)

    def r(*s):
        return torch.rand(*s, generator=g, dtype=dtype)

    return Atoms(time=r(k) * seconds, freq=r(k) * sr / 2, log_sigma=torch.log(0.0005 + r(k) * max_sigma),
                 chirp=(r(k) - 0.5) * 4000, amp_cos=r(k) - 0.5, amp_sin=r(k) - 0.5,
                 channel=torch.randint(0, n_channels, (k,), generator=g), sample_rate=sr, n_channels=n_channels)
