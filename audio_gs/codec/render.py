"""Rendering a Model to a waveform with the numba kernels (audio_gs.codec.kernels), numpy in and out.

``render_gabor`` sums Gabor atoms into float64 [n_channels, n_samples] in the model's channels;
``render`` converts mid/side to left/right. The fitter's autograd renderers (audio_gs.encoder.render)
call the same kernels through ``plan``.
"""

from __future__ import annotations

import numpy as np

from audio_gs.codec.model import SUPPORT, Gabor, Model


def support_bounds(time: np.ndarray, sigma: np.ndarray, sample_rate: int, n_samples: int):
    """First and last sample index (inclusive) of each atom's support, clipped to the signal."""
    t = np.asarray(time, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    lo = np.ceil((t - SUPPORT * s) * sample_rate)
    hi = np.floor((t + SUPPORT * s) * sample_rate)
    lo = np.clip(lo, 0, n_samples).astype(np.int64)
    hi = np.clip(hi, -1, n_samples - 1).astype(np.int64)
    return lo, hi


def render_work(log_sigma: np.ndarray, sample_rate: int, n_samples: int) -> float:
    """Samples the renderer evaluates at most: sum over atoms of min(support length, n_samples)."""
    width = np.minimum(2 * SUPPORT * np.exp(np.asarray(log_sigma, np.float64)) * sample_rate + 1, n_samples)
    return float(width.sum())


def plan(time: np.ndarray, sigma: np.ndarray, sample_rate: int, n_samples: int, n_channels: int):
    """Support bounds, visit order and per-chunk buffer layout for kernels.forward:
    (lo, hi, order, chunk_bounds, span_lo, buf_offsets, span_len)."""
    from audio_gs.codec.kernels import CHUNK

    lo, hi = support_bounds(time, sigma, sample_rate, n_samples)
    order = np.argsort(lo, kind="stable").astype(np.int64)
    k = len(order)
    bounds = np.arange(0, k + CHUNK, CHUNK, dtype=np.int64)
    bounds[-1] = k
    bounds = np.unique(bounds)
    if k == 0:
        bounds = np.zeros(1, dtype=np.int64)
    n_chunks = len(bounds) - 1
    span_lo = np.zeros(n_chunks, np.int64)
    span_len = np.zeros(n_chunks, np.int64)
    his = hi[order]
    los = lo[order]
    for ci in range(n_chunks):
        a, b = bounds[ci], bounds[ci + 1]
        span_lo[ci] = los[a]
        span_len[ci] = max(int(his[a:b].max()) - int(los[a]) + 1, 0)
    offsets = np.zeros(n_chunks + 1, np.int64)
    offsets[1:] = np.cumsum(span_len * n_channels)
    return lo, hi, order, bounds, span_lo, offsets, span_len


def _f64(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def render_gabor(g: Gabor, sample_rate: int, n_samples: int, n_channels: int = 1) -> np.ndarray:
    """Sum of Gabor atoms, float64 [n_channels, n_samples], in model channels."""
    from audio_gs.codec import kernels

    t, f, s, c = _f64(g.time), _f64(g.freq), np.exp(_f64(g.log_sigma)), _f64(g.chirp)
    ch = np.ascontiguousarray(g.channel, dtype=np.int64)
    p = plan(t, s, sample_rate, n_samples, n_channels)
    lo, hi, order, bounds, span_lo, offsets, span_len = p
    return kernels.forward(t, f, s, c, _f64(g.amp_cos), _f64(g.amp_sin), ch, lo, hi, float(sample_rate), order,
                           bounds, span_lo, offsets, span_len, int(n_channels), int(n_samples))


def _stack(x, rows):
    if isinstance(x, np.ndarray):
        return np.stack(rows)
    import torch  # x is a tensor, so torch is already loaded

    return torch.stack(rows)


def to_output_channels(x, stereo_mode: str):
    """Model channels to output channels: mid/side [2, N] -> left/right; otherwise unchanged.
    Works on numpy arrays and torch tensors."""
    if stereo_mode == "ms" and x.shape[0] == 2:
        return _stack(x, [x[0] + x[1], x[0] - x[1]])
    return x


def to_model_channels(x, stereo_mode: str):
    """Output channels to model channels: left/right [2, N] -> mid/side; otherwise unchanged.
    Works on numpy arrays and torch tensors."""
    if stereo_mode == "ms" and x.shape[0] == 2:
        return _stack(x, [(x[0] + x[1]) / 2, (x[0] - x[1]) / 2])
    return x


def render_model_channels(model: Model) -> np.ndarray:
    """Waveform float64 [n_channels, n_samples] of a Model's Gaussians of both kinds, in model channels."""
    y = render_gabor(model.gabor, model.sample_rate, model.n_samples, model.n_channels)
    if len(model.noise):
        from audio_gs.codec.noise import render_noise

        y += render_noise(model.noise, model.sample_rate, model.n_samples, model.n_channels, model.noise_seed)
    return y


def render(model: Model) -> np.ndarray:
    """Waveform float64 [channels, n_samples] of a Model, in output (left/right) channels."""
    return to_output_channels(render_model_channels(model), model.stereo_mode)
