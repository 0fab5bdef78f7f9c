"""Losses between a rendered waveform and the target, both torch [channels, samples].

Waveform losses are normalised by the target's power so their values read as inverse SNRs.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from audio_gs.mel import mel_filterbank

LOSS_TYPES = ("l2", "l1", "spectral")


def snr_db(reference, estimate) -> float:
    """10 log10(|ref|^2 / |ref - est|^2) in dB (torch or numpy inputs)."""
    ref = np.asarray(reference.detach().cpu() if isinstance(reference, torch.Tensor) else reference, np.float64)
    est = np.asarray(estimate.detach().cpu() if isinstance(estimate, torch.Tensor) else estimate, np.float64)
    n = min(ref.shape[-1], est.shape[-1])
    err = np.sum((ref[..., :n] - est[..., :n]) ** 2)
    sig = np.sum(ref[..., :n] ** 2)
    if sig == 0:
        return float("nan")
    return float("inf") if err == 0 else float(10 * np.log10(sig / err))


def l2_loss(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((y - target) ** 2).mean() / (target**2).mean().clamp_min(1e-12)


def l1_loss(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (y - target).abs().mean() / target.abs().mean().clamp_min(1e-12)


def _stft_mag(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    win = torch.hann_window(n_fft, dtype=x.dtype, device=x.device)
    return torch.stft(x, n_fft, n_fft // 4, window=win, return_complex=True).abs()


def fft_sizes(sample_rate: int) -> tuple[int, ...]:
    """Multi-resolution FFT sizes covering about 8 ms to 64 ms windows at this rate."""
    base = 1 << max(5, int(round(math.log2(sample_rate * 0.008))))
    return (base, base * 2, base * 4, base * 8)


def spectral_loss(y: torch.Tensor, target: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Multi-resolution STFT loss: spectral convergence + log-magnitude L1, averaged over resolutions."""
    total = 0.0
    sizes = fft_sizes(sample_rate)
    for n_fft in sizes:
        Y, T = _stft_mag(y, n_fft), _stft_mag(target, n_fft)
        sc = torch.linalg.norm(Y - T) / torch.linalg.norm(T).clamp_min(1e-8)
        lm = (torch.log(Y + 1e-5) - torch.log(T + 1e-5)).abs().mean()
        total = total + sc + lm
    return total / len(sizes)


def log_mel_loss(y: torch.Tensor, target: torch.Tensor, sample_rate: int, n_mels: int = 64) -> torch.Tensor:
    """L1 distance of log-mel spectrograms (a perceptual term)."""
    n_fft = fft_sizes(sample_rate)[2]
    fb = torch.tensor(mel_filterbank(sample_rate, n_fft, n_mels), dtype=y.dtype)
    my = torch.einsum("mf,cft->cmt", fb, _stft_mag(y, n_fft) ** 2)
    mt = torch.einsum("mf,cft->cmt", fb, _stft_mag(target, n_fft) ** 2)
    return (torch.log(my + 1e-8) - torch.log(mt + 1e-8)).abs().mean()


def make_loss(loss_type: str, sample_rate: int, perceptual_weight: float = 0.0):
    """loss(y, target) -> scalar tensor for the named loss plus perceptual_weight x log-mel."""
    if loss_type == "l2":
        base = l2_loss
    elif loss_type == "l1":
        base = l1_loss
    elif loss_type == "spectral":
        def base(y, t):
            return spectral_loss(y, t, sample_rate)
    else:
        raise ValueError(f"unknown loss_type '{loss_type}' (choose from {', '.join(LOSS_TYPES)})")
    if not perceptual_weight:
        return base

    def loss(y, t):
        return base(y, t) + perceptual_weight * log_mel_loss(y, t, sample_rate)

    return loss
