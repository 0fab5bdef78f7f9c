"""audio_gs.codec.render: the decoder's renderer agrees with a dense float64 evaluation of the atom formula."""

import math

import numpy as np
import pytest
from synth import random_gabor

from audio_gs.codec.model import Gabor, Model
from audio_gs.codec.render import render, render_gabor, render_work, to_model_channels, to_output_channels


def dense(g: Gabor, sr: int, n: int, n_channels: int) -> np.ndarray:
    """Every atom at every sample (no support cut), float64: the formula of audio_gs.codec.model."""
    tau = np.arange(n)[None, :] / sr - g.time[:, None]
    s = g.sigma[:, None]
    phi = 2 * np.pi * (g.freq[:, None] * tau + 0.5 * g.chirp[:, None] * tau**2)
    vals = np.exp(-0.5 * (tau / s) ** 2) * (g.amp_cos[:, None] * np.cos(phi) + g.amp_sin[:, None] * np.sin(phi))
    out = np.zeros((n_channels, n))
    np.add.at(out, g.channel, vals)
    return out


def err_db(y, ref):
    return 10 * math.log10(float(((y - ref) ** 2).sum()) / float((ref**2).sum()))


@pytest.mark.parametrize("sr,n_channels,seed", [(8000, 1, 0), (16000, 2, 1), (44100, 1, 2)])
def test_render_matches_dense_float64_below_minus_80_db(sr, n_channels, seed):
    g = random_gabor(60, sr=sr, seconds=0.4, n_channels=n_channels, seed=seed)
    n = int(0.4 * sr)
    y = render_gabor(g, sr, n, n_channels)
    assert y.shape == (n_channels, n) and y.dtype == np.float64
    assert err_db(y, dense(g, sr, n, n_channels)) < -80


def test_float32_parameters_render_the_same_formula():
    g = random_gabor(40, sr=16000, seconds=0.3, seed=4)
    g32 = Gabor(*(getattr(g, n).astype(np.float32) for n in ("time", "freq", "log_sigma", "chirp", "amp_cos",
                                                              "amp_sin")), channel=g.channel)
    g64 = Gabor(*(np.asarray(getattr(g32, n), np.float64) for n in ("time", "freq", "log_sigma", "chirp", "amp_cos",
                                                                     "amp_sin")), channel=g.channel)
    assert err_db(render_gabor(g32, 16000, 4800), dense(g64, 16000, 4800, 1)) < -80


def test_mid_side_models_render_to_left_right():
    g = random_gabor(30, sr=16000, seconds=0.2, n_channels=2, seed=5)
    m = Model(sample_rate=16000, n_samples=3200, gabor=g, n_channels=2, stereo_mode="ms")
    ms = render_gabor(g, 16000, 3200, 2)
    lr = render(m)
    assert np.allclose(lr, np.stack([ms[0] + ms[1], ms[0] - ms[1]]))
    assert np.allclose(to_model_channels(to_output_channels(ms, "ms"), "ms"), ms)


def test_render_work_counts_each_support_clipped_to_the_signal():
    sigma = np.array([0.001, 10.0])
    work = render_work(np.log(sigma), 1000, 500)
    assert work == pytest.approx((2 * 5 * 0.001 * 1000 + 1) + 500)
