"""Initialisation of Atoms from a signal: matching pursuit, spectral peaks, random, uniform grid.

All methods place atoms and then solve their amplitudes by least squares (audio_gs.lstsq).
The analysis is a multi-scale Gaussian-window STFT: at scale sigma the coefficient X(t, f), phase
referenced at the frame centre, is the inner product of the signal with the atom at (t, f, sigma),
so |X|^2 / ||window||^2 is the energy that atom would explain. For Gaussian windows the
log-magnitude of a tone or an atom is a parabola, so three-point interpolation refines t and f.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from audio_gs.encoder.atoms import Atoms
from audio_gs.encoder.lstsq import solve_amplitudes
from audio_gs.encoder.render import render_model

INIT_METHODS = ("mp", "peaks", "random", "uniform")


def _scale_grid(sigma_s: float, sr: int) -> tuple[int, int, torch.Tensor]:
    """n_fft, hop and Gaussian window (cut at +-3 sigma) for analysis at width sigma_s seconds."""
    sn = sigma_s * sr
    half = max(int(math.ceil(3 * sn)), 2)
    n_fft = max(16, 1 << int(math.ceil(math.log2(2 * half + 1))))
    hop = max(1, int(round(sn / 2)))
    n = torch.arange(-half, half + 1, dtype=torch.float64)
    win = torch.exp(-0.5 * (n / sn) ** 2)
    win = F.pad(win, ((n_fft - win.numel()) // 2, n_fft - win.numel() - (n_fft - win.numel()) // 2))
    return n_fft, hop, win


def analyse(x: torch.Tensor, sr: int, sigma_s: float) -> tuple[torch.Tensor, int, int, float]:
    """Centre-referenced Gaussian STFT of x [C, N] at width sigma_s: (X [C, frames, bins], hop, n_fft, window energy)."""
    n_fft, hop, win = _scale_grid(sigma_s, sr)
    X = torch.stft(x.double(), n_fft, hop, window=win, center=True, pad_mode="constant", return_complex=True)
    X = X.transpose(1, 2)  # [C, frames, bins]
    sign = torch.ones(X.shape[-1], dtype=torch.float64)
    sign[1::2] = -1.0  # move the phase reference from the frame start to its centre
    return X * sign, hop, n_fft, float((win**2).sum())


def _parabola(lm: torch.Tensor, l0: torch.Tensor, lp: torch.Tensor) -> torch.Tensor:
    den = lm - 2 * l0 + lp
    d = torch.where(den < -1e-12, 0.5 * (lm - lp) / den, torch.zeros_like(den))
    return d.clamp(-0.5, 0.5)


def _local_max(P: torch.Tensor) -> torch.Tensor:
    """3 x 3 running maximum of P [C, bins, frames] (-inf outside), as two separable passes."""
    pad = F.pad(P, (1, 1, 1, 1), value=-math.inf)
    m = torch.maximum(torch.maximum(pad[:, :, :-2], pad[:, :, 1:-1]), pad[:, :, 2:])
    return torch.maximum(torch.maximum(m[:, :-2], m[:, 1:-1]), m[:, 2:])


def candidates(x: torch.Tensor, sr: int, scales_s, per_scale: int,
               max_freq: float | None = None, weight=None) -> dict[str, torch.Tensor]:
    """Local maxima of each scale's energy map, interpolated in t and f: score, t, f, sigma, channel
    (with max_freq, Hz: only maxima at or below it, so that per_scale of them are found there).
    weight(t, f, channel) -> array: the per_scale best maxima are chosen by energy x weight (a
    weighted norm's weight at each maximum, e.g. MaskedNorm.weight_at_points), which is their score.

    Works on the STFT's own [C, bins, frames] layout and touches the whole map only to find the
    peaks (the phase reference and the log-magnitude are needed only at the peaks)."""
    out = {k: [] for k in ("score", "time", "freq", "sigma", "channel")}
    x64 = x.double()
    for sig in scales_s:
        n_fft, hop, win = _scale_grid(sig, sr)
        wen = float((win**2).sum())
        X = torch.stft(x64, n_fft, hop, window=win, center=True, pad_mode="constant", return_complex=True)
        r = torch.view_as_real(X)
        P = (r[..., 0] ** 2 + r[..., 1] ** 2).contiguous()  # [C, bins, frames] (stft returns it strided)
        peak = (P >= _local_max(P)) & (P > 0)
        peak[:, 0, :] = False
        peak[:, -1, :] = False
        if max_freq is not None:
            peak[:, int(math.floor(max_freq * n_fft / sr)) + 1:, :] = False
        flat = torch.nonzero(peak.reshape(-1)).squeeze(1)
        k = min(per_scale, int(flat.numel()))
        if k == 0:
            continue
        val = P.reshape(-1)[flat] / wen
        n_bins, n_frames = P.shape[1], P.shape[2]
        if weight is not None:  # at the grid point of each maximum
            val = val * torch.as_tensor(weight(((flat % n_frames) * hop / sr).numpy(),
                                               ((flat // n_frames) % n_bins * sr / n_fft).numpy(),
                                               (flat // (n_frames * n_bins)).numpy()), dtype=val.dtype)
        val, j = torch.topk(val, k)
        idx = flat[j]
        c = idx // (n_frames * n_bins)
        b = (idx // n_frames) % n_bins
        m = idx % n_frames
        mp, mm = (m + 1).clamp_max(n_frames - 1), (m - 1).clamp_min(0)

        def L(cc, bb, ff):
            return torch.log(P[cc, bb, ff] + 1e-30)

        l0 = L(c, b, m)
        db = _parabola(L(c, b - 1, m), l0, L(c, b + 1, m))
        dm = _parabola(L(c, b, mm), l0, L(c, b, mp))
        dm = torch.where((m == 0) | (m == n_frames - 1), torch.zeros_like(dm), dm)
        out["score"].append(val)
        out["time"].append((m.double() + dm) * hop / sr)
        out["freq"].append(((b.double() + db) * sr / n_fft).clamp(0, sr / 2 if max_freq is None else min(max_freq, sr / 2)))
        out["sigma"].append(torch.full_like(val, sig))
        out["channel"].append(c)
    if not out["score"]:
        return {k: torch.zeros(0, dtype=torch.long if k == "channel" else torch.float64) for k in out}
    return {k: torch.cat(v) for k, v in out.items()}


def select_separated(cand: dict[str, torch.Tensor], k: int, overlap: float = 1.0) -> torch.Tensor:
    """Indices of up to k best candidates whose time-frequency cells do not overlap each other."""
    order = torch.argsort(cand["score"], descending=True).numpy()
    t, f, s, ch = (cand[n].numpy() for n in ("time", "freq", "sigma", "channel"))
    picked: list[int] = []
    pt, pf, ps, pc = (np.zeros(0) for _ in range(4))
    for i in order:
        if len(picked) >= k:
            break
        if picked:
            dt = np.abs(pt - t[i]) / (ps + s[i])
            df = np.abs(pf - f[i]) * 2 * np.pi / (1 / ps + 1 / s[i])
            if np.any((dt < overlap) & (df < overlap) & (pc == ch[i])):
                continue
        picked.append(int(i))
        pt, pf, ps, pc = np.append(pt, t[i]), np.append(pf, f[i]), np.append(ps, s[i]), np.append(pc, ch[i])
    return torch.as_tensor(picked, dtype=torch.long)


def _atoms_from(cand: dict[str, torch.Tensor], idx: torch.Tensor, sr: int, n_channels: int, dtype) -> Atoms:
    k = len(idx)
    z = torch.zeros(k, dtype=dtype)
    return Atoms(time=cand["time"][idx].to(dtype), freq=cand["freq"][idx].to(dtype),
                 log_sigma=torch.log(cand["sigma"][idx]).to(dtype), chirp=z.clone(), amp_cos=z.clone(),
                 amp_sin=z.clone(), channel=cand["channel"][idx].long(), sample_rate=sr, n_channels=n_channels)


def pursue(residual: torch.Tensor, sr: int, n_atoms: int, scales_s, per_round: int = 40,
           ls_iterations: int = 10, dtype=torch.float32, refit_every: int = 0,
           target: torch.Tensor | None = None, norm=None, max_freq: float | None = None,
           max_rounds: int = 0) -> Atoms:
    """Greedy matching pursuit on residual [C, N]: rounds of per_round separated best atoms (more when
    n_atoms would take more than max_rounds rounds; 0 = no cap), each round's
    amplitudes solved jointly by least squares, then subtracted. Returns the new atoms; with
    refit_every and target, all their amplitudes are re-solved against target every that many rounds.
    With a weighted norm (audio_gs.encoder.losses.MaskedNorm) the candidates' energies are weighted
    by the norm at their place and the least squares use it; with max_freq (Hz) no atom is placed above it."""
    n_channels, n = residual.shape
    if max_rounds:
        per_round = max(per_round, math.ceil(n_atoms / max_rounds))
    residual = residual.detach().double().clone()
    new = Atoms.empty(sr, n_channels, dtype=dtype)
    rounds = 0
    while len(new) < n_atoms:
        k = min(per_round, n_atoms - len(new))
        cand = candidates(residual, sr, scales_s, per_scale=4 * k, max_freq=max_freq,
                          weight=None if norm is None else norm.weight_at_points)
        idx = select_separated(cand, k)
        if len(idx) == 0:
            break
        batch = solve_amplitudes(_atoms_from(cand, idx, sr, n_channels, dtype), residual, n,
                                 iterations=ls_iterations, warm_start=False, norm=norm)
        residual -= render_model(batch.to(dtype=torch.float64), n)
        new = new.concat(batch)
        rounds += 1
        if refit_every and target is not None and rounds % refit_every == 0:
            new = solve_amplitudes(new, target, n, iterations=ls_iterations, norm=norm)
            residual = target.double() - render_model(new.to(dtype=torch.float64), n)
    return new


def initialise(x: torch.Tensor, sr: int, n_atoms: int, method: str = "mp", scales_ms=(1, 2, 4, 8, 16, 32, 64),
               per_round: int = 40, seed: int = 0, dtype=torch.float32, norm=None,
               max_freq: float | None = None, max_rounds: int = 0) -> Atoms:
    """Atoms for signal x [C, N] (model channels) by the named method, amplitudes by least squares
    (mp: at most max_rounds rounds when it is not 0, see pursue)."""
    n_channels, n = x.shape
    scales_s = [float(s) / 1000 for s in scales_ms]
    x64 = x.detach().double()
    if method == "mp":
        return pursue(x64, sr, n_atoms, scales_s, per_round=per_round, dtype=dtype, refit_every=10, target=x64,
                      norm=norm, max_freq=max_freq, max_rounds=max_rounds)
    if method == "peaks":
        cand = candidates(x64, sr, scales_s, per_scale=4 * n_atoms)
        atoms = _atoms_from(cand, select_separated(cand, n_atoms), sr, n_channels, dtype)
    elif method == "random":
        g = torch.Generator().manual_seed(seed)
        u = lambda: torch.rand(n_atoms, generator=g, dtype=torch.float64)  # noqa: E731
        lo, hi = math.log(min(scales_s)), math.log(max(scales_s))
        cand = {"time": u() * n / sr, "freq": u() * sr / 2, "sigma": torch.exp(lo + u() * (hi - lo)),
                "channel": torch.randint(0, n_channels, (n_atoms,), generator=g)}
        atoms = _atoms_from(cand, torch.arange(n_atoms), sr, n_channels, dtype)
    elif method == "uniform":
        sig = float(np.exp(np.mean(np.log(scales_s))))
        per_ch = max(1, n_atoms // n_channels)
        # cells of sigma x 1/(2 pi sigma) scaled so the grid has per_ch points over duration x Nyquist
        dur, nyq = n / sr, sr / 2
        aspect = (dur / sig) / (nyq * 2 * math.pi * sig)
        n_t = max(1, int(round(math.sqrt(per_ch * aspect))))
        n_f = max(1, per_ch // n_t)
        tt = (torch.arange(n_t, dtype=torch.float64) + 0.5) * dur / n_t
        ff = (torch.arange(n_f, dtype=torch.float64) + 0.5) * nyq / n_f
        T, Fq = torch.meshgrid(tt, ff, indexing="ij")
        T, Fq = T.reshape(-1), Fq.reshape(-1)
        cand = {"time": T.repeat(n_channels), "freq": Fq.repeat(n_channels), "sigma": torch.full((T.numel() * n_channels,), sig,
                dtype=torch.float64), "channel": torch.arange(n_channels).repeat_interleave(T.numel())}
        atoms = _atoms_from(cand, torch.arange(T.numel() * n_channels), sr, n_channels, dtype)
    else:
        raise ValueError(f"unknown init method '{method}' (choose from {', '.join(INIT_METHODS)})")
    return solve_amplitudes(atoms, x64, n, iterations=30, warm_start=False, norm=norm)
