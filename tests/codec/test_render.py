"""audio_gs.codec.render: the decoder's block renderer agrees with a dense float64 evaluation of the atom
formula, and its output depends on nothing but the model (not the thread count, not the block order)."""

import math

import numpy as np
import pytest
from synth import random_gabor

from audio_gs.codec.model import Gabor, Model
from audio_gs.codec.render import (BLOCK_SIZE, DECODE_PRECISION, GaborPlan, iter_blocks, render, render_block,
                                   render_gabor, render_work, support_bounds, to_model_channels, to_output_channels)
from audio_gs.errors import AgsFormatError


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
    ms = render_gabor(g, 16000, 3200, 2, precision=DECODE_PRECISION)
    lr = render(m)
    assert np.allclose(lr, np.stack([ms[0] + ms[1], ms[0] - ms[1]]))
    assert np.allclose(to_model_channels(to_output_channels(ms, "ms"), "ms"), ms)


def test_render_work_counts_each_support_clipped_to_the_signal():
    sigma = np.array([0.001, 10.0])
    work = render_work(np.log(sigma), 1000, 500)
    assert work == pytest.approx((2 * 5 * 0.001 * 1000 + 1) + 500)


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_both_kernel_precisions_match_dense_float64_below_minus_80_db(precision):
    for sr, n_channels, seed in [(8000, 1, 0), (44100, 2, 1), (48000, 1, 2)]:
        g = random_gabor(60, sr=sr, seconds=0.4, n_channels=n_channels, seed=seed)
        n = int(0.4 * sr)
        y = render_gabor(g, sr, n, n_channels, precision=precision)
        assert err_db(y, dense(g, sr, n, n_channels)) < -80


def test_long_atoms_across_many_blocks_stay_accurate():
    """Atoms of up to 0.5 s over small blocks: every block re-anchors each atom it meets."""
    g = random_gabor(12, sr=44100, seconds=2.0, seed=6, max_sigma=0.5)
    n = 2 * 44100
    ref = dense(g, 44100, n, 1)
    for precision in ("float32", "float64"):
        plan = GaborPlan(g.time, g.freq, g.sigma, g.chirp, g.channel, sample_rate=44100, n_samples=n, block_size=1000)
        assert plan.n_blocks == 89
        assert err_db(plan.render(g.amp_cos, g.amp_sin, precision=precision), ref) < -80


def test_float64_kernel_agrees_with_a_windowed_float64_evaluation_to_200_db():
    """Against the same formula evaluated directly on each atom's support (no support-cut error)."""
    sr, n = 16000, 8000
    g = random_gabor(40, sr=sr, seconds=0.5, seed=7, max_sigma=0.05)
    lo, hi = support_bounds(g.time, g.sigma, sr, n)
    ref = np.zeros((1, n))
    for k in range(len(g)):
        m = np.arange(lo[k], hi[k] + 1)
        tau = m / sr - g.time[k]
        phi = 2 * np.pi * (g.freq[k] * tau + 0.5 * g.chirp[k] * tau**2)
        ref[0, m] += np.exp(-0.5 * (tau / g.sigma[k]) ** 2) * (g.amp_cos[k] * np.cos(phi) + g.amp_sin[k] * np.sin(phi))
    assert err_db(render_gabor(g, sr, n, precision="float64"), ref) < -200
    assert err_db(render_gabor(g, sr, n, precision="float32"), ref) < -100


def test_output_does_not_depend_on_the_number_of_threads_and_is_deterministic():
    m = Model(sample_rate=16000, n_samples=5 * BLOCK_SIZE + 123, gabor=random_gabor(400, sr=16000, seconds=10.4,
                                                                                   n_channels=2, seed=8),
              n_channels=2, stereo_mode="ms")
    one = render(m, threads=1)
    assert np.array_equal(one, render(m, threads=3))
    assert np.array_equal(one, render(m, threads=2))
    assert np.array_equal(one, render(m, threads=1))


def test_blocks_of_the_grid_are_the_rendered_samples_and_other_ranges_agree():
    m = Model(sample_rate=8000, n_samples=2 * BLOCK_SIZE + 500, gabor=random_gabor(200, sr=8000, seconds=8.3,
                                                                                  seed=9, max_sigma=0.3))
    full = render(m)
    for j in range(3):
        start, stop = j * BLOCK_SIZE, min((j + 1) * BLOCK_SIZE, m.n_samples)
        assert np.array_equal(render_block(m, start, stop), full[:, start:stop])
    blocks = list(iter_blocks(m, threads=2))
    assert [s for s, _ in blocks] == [0, BLOCK_SIZE, 2 * BLOCK_SIZE]
    assert np.array_equal(np.concatenate([y for _, y in blocks], axis=1), full)
    a, b = BLOCK_SIZE - 777, BLOCK_SIZE + 1234  # not a block: anchored at its own start
    assert err_db(render_block(m, a, b), full[:, a:b]) < -100
    with pytest.raises(ValueError, match="outside"):
        render_block(m, 0, m.n_samples + 1)


@pytest.mark.parametrize("gate", [True, False])
def test_gated_noise_renders_the_same_by_block_and_by_thread(gate):
    """A model with noise Gaussians (gated by its tonal part, version 6, or not, version 5): the grid's
    blocks, any other range and any number of threads give the same samples."""
    from audio_gs.codec.model import Noise

    rng = np.random.default_rng(4)
    k = 60
    noise = Noise(time=rng.random(k) * 8.0, erb=rng.random(k) * 25, log_st=np.log(0.01 + rng.random(k) * 0.1),
                  log_se=np.log(0.5 + rng.random(k) * 2), log_energy=np.log(rng.random(k) * 50), channel=np.zeros(k, int))
    m = Model(sample_rate=8000, n_samples=2 * BLOCK_SIZE + 500, noise=noise, noise_seed=3, noise_gate=gate,
              gabor=random_gabor(200, sr=8000, seconds=8.3, seed=9, max_sigma=0.3))
    full = render(m, threads=1)
    assert np.array_equal(full, render(m, threads=2))
    for j in range(3):
        start, stop = j * BLOCK_SIZE, min((j + 1) * BLOCK_SIZE, m.n_samples)
        assert np.array_equal(render_block(m, start, stop), full[:, start:stop])
    a, b = BLOCK_SIZE - 777, BLOCK_SIZE + 1234
    assert err_db(render_block(m, a, b), full[:, a:b]) < -100


def test_a_non_finite_rendered_sample_is_a_format_error():
    k = 3  # float32 amplitudes near their maximum overflow the float32 block sum
    g = Gabor(time=np.full(k, 0.05), freq=np.full(k, 100.0), log_sigma=np.full(k, math.log(0.01)), chirp=np.zeros(k),
              amp_cos=np.full(k, 3e38, np.float32), amp_sin=np.zeros(k), channel=np.zeros(k, np.int64))
    m = Model(sample_rate=8000, n_samples=800, gabor=g)
    with pytest.raises(AgsFormatError, match="not finite"):
        render(m)


def test_atoms_outside_the_signal_and_empty_models_render_silence():
    g = random_gabor(5, sr=8000, seconds=0.1, seed=10)
    g.time = g.time + 10.0
    assert not np.any(render(Model(sample_rate=8000, n_samples=800, gabor=g)))
    assert render(Model(sample_rate=8000, n_samples=0, gabor=Gabor.empty())).shape == (1, 0)
    assert not np.any(render(Model(sample_rate=8000, n_samples=800, gabor=Gabor.empty(), n_channels=2)))
