"""Figures: the Gaussians drawn as time-frequency ellipses over the spectrogram, and the residual."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audio_gs.codec.model import Gabor, Noise, NoiseEnvelope
from audio_gs.audio_io import atomic_write


def _spectrogram_db(x: np.ndarray, sr: int, n_fft: int):
    from scipy.signal import stft

    f, t, Z = stft(x, fs=sr, nperseg=n_fft, noverlap=3 * n_fft // 4)
    return f, t, 20 * np.log10(np.abs(Z) + 1e-9)


def ellipse_polygons(g: Gabor, n_points: int = 24) -> np.ndarray:
    """One-sigma outline of each atom in (seconds, Hz), sheared by its chirp: [K, n_points, 2]."""
    t = np.asarray(g.time, np.float64)[:, None]
    f = np.asarray(g.freq, np.float64)[:, None]
    s = g.sigma[:, None]
    c = np.asarray(g.chirp, np.float64)[:, None]
    th = np.linspace(0, 2 * np.pi, n_points)[None, :]
    dt = s * np.cos(th)
    df = np.sin(th) / (2 * np.pi * s) + c * dt
    return np.stack([t + dt, f + df], axis=-1)


def noise_polygons(noise: Noise, n_points: int = 24) -> np.ndarray:
    """One-width outline of each noise Gaussian in (seconds, Hz): an ellipse on the (time, ERB-rate)
    plane mapped to Hz, [K, n_points, 2]."""
    from audio_gs.codec.noise import erb_to_hz

    th = np.linspace(0, 2 * np.pi, n_points)[None, :]
    t = np.asarray(noise.time, np.float64)[:, None] + np.exp(np.asarray(noise.log_st, np.float64))[:, None] * np.cos(th)
    e = np.asarray(noise.erb, np.float64)[:, None] + np.exp(np.asarray(noise.log_se, np.float64))[:, None] * np.sin(th)
    return np.stack([t, erb_to_hz(np.maximum(e, 0.0))], axis=-1)


def plot_gaussians(signal: np.ndarray, g: Gabor, sample_rate: int, path: str | Path,
                   residual: np.ndarray | None = None, title: str = "", max_atoms: int = 4000,
                   channel: int = 0, noise: Noise | None = None, envelope: NoiseEnvelope | None = None) -> Path:
    """Write a PNG: spectrogram of signal [C, N] (model channel `channel`) with the tonal atoms as cyan
    ellipses (shade = amplitude, strongest max_atoms drawn), the noise Gaussians as orange ellipses
    (shade = energy density) and the noise envelope's gains as an orange line (right axis, dB), and
    below it the residual's spectrogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    sr = int(sample_rate)
    x = np.asarray(signal)[channel]
    n_fft = int(2 ** np.round(np.log2(sr * 0.032)))
    rows = 2 if residual is not None else 1
    fig, axes = plt.subplots(rows, 1, figsize=(11, 4.2 * rows), sharex=True, squeeze=False)
    f, t, S = _spectrogram_db(x, sr, n_fft)
    vmax = S.max()
    vmin = vmax - 80
    ax = axes[0, 0]
    ax.pcolormesh(t, f, S, shading="auto", cmap="magma", vmin=vmin, vmax=vmax)
    sel = g.select(np.asarray(g.channel) == channel)
    amp = np.hypot(np.asarray(sel.amp_cos, np.float64), np.asarray(sel.amp_sin, np.float64))
    order = np.argsort(-amp)[:max_atoms]
    if len(order):
        polys = ellipse_polygons(sel.select(order))
        a = amp[order]
        shade = np.clip(1 + np.log10(a / a.max() + 1e-12) / 3, 0.15, 1.0)  # 60 dB range
        colors = np.zeros((len(order), 4))
        colors[:, :3] = (0.3, 0.9, 1.0)
        colors[:, 3] = shade
        ax.add_collection(PolyCollection(polys, facecolors="none", edgecolors=colors, linewidths=0.6))
    if noise is not None and len(noise):
        sel_n = noise.select(np.asarray(noise.channel) == channel)
        if len(sel_n):
            level = np.asarray(sel_n.log_energy, np.float64) - np.asarray(sel_n.log_st) - np.asarray(sel_n.log_se)
            shade_n = np.clip(1 + (level - level.max()) / np.log(10) / 6, 0.1, 0.7)  # 60 dB range
            face = np.zeros((len(sel_n), 4))
            face[:, :3] = (1.0, 0.55, 0.1)
            face[:, 3] = shade_n * 0.35
            edge = face.copy()
            edge[:, 3] = shade_n
            ax.add_collection(PolyCollection(noise_polygons(sel_n), facecolors=face, edgecolors=edge,
                                             linewidths=0.5, linestyles="dashed"))
    if envelope is not None:
        ax_env = ax.twinx()
        gains = np.asarray(envelope.gain_db, np.float64)[channel]
        ax_env.plot(np.arange(gains.size) * envelope.hop / sr, gains, color=(1.0, 0.55, 0.1), linewidth=0.7)
        ax_env.set_ylim(-60, 60)
        ax_env.set_ylabel(f"noise envelope above {envelope.band_hz:g} Hz (dB)")
    ax.set_ylim(0, sr / 2)
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title or f"{len(g)} Gaussians over the input spectrogram (1-sigma ellipses)")
    if residual is not None:
        fr, tr, R = _spectrogram_db(np.asarray(residual)[channel], sr, n_fft)
        ax2 = axes[1, 0]
        im = ax2.pcolormesh(tr, fr, R, shading="auto", cmap="magma", vmin=vmin, vmax=vmax)
        ax2.set_ylabel("frequency (Hz)")
        ax2.set_title("residual (input - reconstruction), same colour scale")
        fig.colorbar(im, ax=axes[:, 0].tolist(), label="dB", shrink=0.8, pad=0.1 if envelope is not None else 0.05)
    axes[-1, 0].set_xlim(0, x.shape[-1] / sr)
    axes[-1, 0].set_xlabel("time (s)")
    return atomic_write(path, lambda tmp: (fig.savefig(tmp, dpi=110, format="png"), plt.close(fig)))
