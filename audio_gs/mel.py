"""The mel filterbank shared by the log-mel loss and the mel-distance metric (numpy only)."""

from __future__ import annotations

import functools

import numpy as np


def hz_to_mel(f):
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int = 64, unit_area: bool = False) -> np.ndarray:
    """Triangular filters [n_mels, n_fft // 2 + 1] from 0 Hz to Nyquist (peak 1, or unit area); read-only."""
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    lower = (bins[None, :] - edges[:-2, None]) / np.maximum(edges[1:-1, None] - edges[:-2, None], 1e-9)
    upper = (edges[2:, None] - bins[None, :]) / np.maximum(edges[2:, None] - edges[1:-1, None], 1e-9)
    fb = np.clip(np.minimum(lower, upper), 0, None)
    if unit_area:
        fb /= np.maximum(fb.sum(axis=1, keepdims=True), 1e-12)
    fb.setflags(write=False)
    return fb
