"""Losses between a rendered waveform and the target, both torch [channels, samples].

Waveform losses are normalised by the target's power so their values read as inverse SNRs.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from audio_gs.encoder.config import LOSS_TYPES
from audio_gs.mel import mel_filterbank

WEIGHTED_LOSSES = ("masked", "segmental")  # STFT-domain L2 under a fixed weight W (MaskedLoss, MaskedNorm)


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


def _stft(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    win = torch.hann_window(n_fft, dtype=x.dtype, device=x.device)
    return torch.stft(x, n_fft, n_fft // 4, window=win, return_complex=True)


def _target_power(target: torch.Tensor, sample_rate: int) -> np.ndarray:
    """|STFT|^2 [C, bins, frames] of the target on the CPU, with the weighted losses' STFT."""
    return (_stft(target.detach().double().cpu(), fft_sizes(sample_rate)[2]).abs() ** 2).numpy()


def _inverse_power(p: np.ndarray, exponent: float, floor_db: float) -> np.ndarray:
    """(p + floor) ** -exponent, the floor floor_db below p's mean."""
    floor = max(float(p.mean()), 1e-30) * 10 ** (-floor_db / 10)
    return (p + floor) ** -exponent


def masking_weights(target: torch.Tensor, sample_rate: int, exponent: float, floor_db: float = 60.0,
                    smooth_frames: float = 1.5, smooth_bins: float = 2.0) -> torch.Tensor:
    """Weights W [C, bins, frames] of the masked loss: (smoothed target power + floor) ** -exponent,
    normalised to mean 1. exponent 0 gives plain L2; 1 equal error-to-signal ratio everywhere."""
    from scipy.ndimage import gaussian_filter

    p = gaussian_filter(_target_power(target, sample_rate), sigma=(0, smooth_bins, smooth_frames))
    w = _inverse_power(p, exponent, floor_db)
    return torch.as_tensor(w / w.mean())


def frame_weights(target: torch.Tensor, sample_rate: int, exponent: float, floor_db: float = 60.0,
                  smooth_frames: float = 3.0) -> torch.Tensor:
    """Weights W [C, bins, frames] of the segmental loss: each frame's (smoothed frame power + floor)
    ** -exponent, the same for every bin, normalised to mean 1. exponent 0 gives plain L2; 1 equal
    error-to-signal ratio in every frame (segmental SNR). Frames are the hops of the masked loss's STFT."""
    from scipy.ndimage import gaussian_filter1d

    p = _target_power(target, sample_rate)
    pt = p.sum(axis=-2, keepdims=True)
    if smooth_frames:
        pt = gaussian_filter1d(pt, smooth_frames, axis=-1)
    w = np.broadcast_to(_inverse_power(pt, exponent, floor_db), p.shape)
    return torch.as_tensor(np.ascontiguousarray(w / w.mean()))


WEIGHTS = {"masked": masking_weights, "segmental": frame_weights}  # loss type -> weights(target, sr, exponent)


class MaskedNorm:
    """A weighted loss's norm on numpy signals, for least squares and matching pursuit:
    gram(r) = S^T W S r (S the STFT of MaskedLoss), weight_at(atoms) = W near each atom's centre.
    weighting: a key of WEIGHTS (the loss type)."""

    def __init__(self, target, sample_rate: int, exponent: float, weighting: str = "masked"):
        t = torch.as_tensor(np.asarray(target.detach().cpu() if isinstance(target, torch.Tensor) else target),
                            dtype=torch.float64)
        self.sample_rate, self.n_fft = sample_rate, fft_sizes(sample_rate)[2]
        self.w = WEIGHTS[weighting](t, sample_rate, exponent)

    def gram(self, r: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(r, np.float64)).requires_grad_(True)
        e = _stft(x, self.n_fft)
        f = 0.5 * (self.w * (e.real**2 + e.imag**2)).sum()
        (g,) = torch.autograd.grad(f, x)
        return g.numpy()

    def weight_at(self, atoms) -> np.ndarray:
        return self.weight_at_points(atoms.time.detach().double().cpu().numpy(),
                                     atoms.freq.detach().double().cpu().numpy(), atoms.channel.cpu().numpy())

    def weight_at_points(self, t, f, ch) -> np.ndarray:
        """W at times t (s), frequencies f (Hz) and channels ch (arrays)."""
        hop = self.n_fft // 4
        t, f, ch = np.asarray(t, np.float64), np.asarray(f, np.float64), np.asarray(ch, np.int64)
        m = np.clip(np.round(t * self.sample_rate / hop).astype(int), 0, self.w.shape[2] - 1)
        k = np.clip(np.round(f * self.n_fft / self.sample_rate).astype(int), 0, self.w.shape[1] - 1)
        return self.w.numpy()[ch, k, m]


class MaskedLoss:
    """Weighted L2: sum W |STFT(y - target)|^2 / sum W |STFT(target)|^2, with W from WEIGHTS[weighting]
    (masking_weights or frame_weights; fixed for a target, computed on the first call)."""

    def __init__(self, sample_rate: int, exponent: float, weighting: str = "masked"):
        self.sample_rate, self.exponent, self.weights = sample_rate, exponent, WEIGHTS[weighting]
        self.n_fft = fft_sizes(sample_rate)[2]
        self._key, self._w, self._norm = None, None, None

    def __call__(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        key = (target.data_ptr(), tuple(target.shape))
        if key != self._key:
            self._w = self.weights(target, self.sample_rate, self.exponent).to(device=y.device, dtype=y.dtype)
            self._norm = float((self._w * _stft(target.detach().to(y.dtype), self.n_fft).abs() ** 2).sum())
            self._key = key
        e = _stft(y - target, self.n_fft)
        return (self._w * (e.real**2 + e.imag**2)).sum() / max(self._norm, 1e-30)


def make_loss(loss_type: str, sample_rate: int, perceptual_weight: float = 0.0, masking_exponent: float = 0.5):
    """loss(y, target) -> scalar tensor for the named loss plus perceptual_weight x log-mel."""
    if loss_type == "l2":
        base = l2_loss
    elif loss_type in WEIGHTED_LOSSES:
        base = MaskedLoss(sample_rate, masking_exponent, loss_type)
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
