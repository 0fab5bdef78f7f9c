"""Fitting noise Gaussians (audio_gs.codec.model.Noise) to what the tonal atoms leave: the residual's
smoothed energy on the (time, ERB-rate) plane, matched by a log-spectral loss.

Target: energy per cell of the decoder's noise grid (audio_gs.codec.noise.Grid), summed into bands
of 1 / ``bands_per_erb`` ERB, smoothed over a few frames, gathered into cells of ``loss_frames``
frames. With ``target`` "total" the decoded tonal part's band energies plus the noise's are matched
to the original's (noise goes where the tonal part leaves a hole); with "residual" the noise's are
matched to the residual's. Init ("hybrid"): a coarse grid of k/4 Gaussians for the background, the
rest placed greedily where the target most exceeds the model so far (on the loudness-like map
target^compress). Then Adam on every parameter (centre, log widths, log energy) minimising the mean
|log(model + floor) - log(target + floor)|, plus (``env_weight`` > 0) the same error on single
frames in bands of ``env_erb`` ERB, unsmoothed: the temporal envelope of onsets and fricatives.
Finally every energy is scaled by ``gain_db``: PESQ punishes added energy more than missing energy,
ViSQOL the reverse (README, Perceptual codec).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from audio_gs.codec.model import Noise
from audio_gs.codec.noise import Grid, analyse, cell_mass, erb_to_hz, hz_to_erb
from audio_gs.encoder.adam import Adam


@dataclass
class NoiseFitOptions:
    """Settings of fit_noise (defaults measured on speech and music, see README "Perceptual codec")."""

    steps: int = 400
    lr: float = 0.05
    gain_db: float = -3.0  # energies scaled by this after the fit
    target: str = "total"  # total | residual (see the module docstring)
    init: str = "hybrid"  # hybrid | greedy
    floor_db: float = 50.0  # target bands below (mean band energy - floor_db) count as the floor
    bands_per_erb: float = 2.0
    smooth_frames: float = 1.5
    loss_frames: int = 2
    init_st_ms: float = 12.0
    init_se_erb: float = 1.5
    min_st_ms: float = 2.0
    max_st_ms: float = 400.0
    min_se_erb: float = 0.3
    max_se_erb: float = 12.0
    compress: float = 0.3
    env_weight: float = 0.0  # weight of the envelope term: wide bands at one-frame resolution, unsmoothed
    env_erb: float = 4.0  # width of the envelope term's bands (ERB)


def erb_bands(grid: Grid, bands_per_erb: float = 1.0) -> np.ndarray:
    """Band edges as bin indices [B + 1] (band b = bins edges[b] .. edges[b+1] - 1), about
    1 / bands_per_erb ERB wide and at least one bin; DC excluded."""
    top = float(hz_to_erb(grid.sample_rate / 2))
    hz = erb_to_hz(np.arange(0.0, top, 1.0 / bands_per_erb))
    k = np.unique(np.clip(np.round(hz / (grid.sample_rate / grid.n_fft) + 0.5).astype(int), 1, grid.n_bins))
    if k[0] != 1:
        k = np.concatenate([[1], k])
    if k[-1] != grid.n_bins:
        k = np.concatenate([k, [grid.n_bins]])
    return k


def _smooth(e: np.ndarray, frames: float) -> np.ndarray:
    if frames <= 0:
        return e
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(e, frames, axis=0, mode="nearest")


def band_target(residual: np.ndarray, grid: Grid, opts: NoiseFitOptions):
    """(band edges in bins, target band energies [cells, B], log floor): the residual [samples]
    analysed on the grid, banded, smoothed and summed over loss_frames frames."""
    edges = erb_bands(grid, opts.bands_per_erb)
    cells = analyse(residual, grid)
    bands = np.add.reduceat(cells[:, 1:], edges[:-1] - 1, axis=1)[:, :len(edges) - 1]
    tgt = _smooth(bands, opts.smooth_frames)
    s = max(1, opts.loss_frames)
    n = tgt.shape[0] // s
    tgt = tgt[:n * s].reshape(n, s, -1).sum(1)
    floor = float(tgt.mean()) * 10 ** (-opts.floor_db / 10) if tgt.size else 1e-12
    return edges, tgt, max(floor, 1e-30)


def envelope_target(signal: np.ndarray, grid: Grid, opts: NoiseFitOptions):
    """(band edges in bins, band energies [frames, G] in bands of about env_erb ERB, one frame per
    cell, unsmoothed, log floor): the envelope term's target (or the tonal part's share of it)."""
    fine = replace(opts, bands_per_erb=1.0 / opts.env_erb, smooth_frames=0.0, loss_frames=1)
    return band_target(signal, grid, fine)


def grid_init(k: int, grid: Grid, cells: np.ndarray, opts: NoiseFitOptions, channel: int = 0) -> Noise:
    """About k Gaussians on a grid of ERB bands x frames (shaped like the init widths), each with the
    least-squares energy of the target under its footprint (neighbours' overlap ignored)."""
    dur = grid.n_samples / grid.sample_rate
    top = float(hz_to_erb(grid.sample_rate / 2))
    nb = max(1, int(round(math.sqrt(k * top / dur * (opts.init_st_ms / 1000) / opts.init_se_erb))))
    nt = max(1, int(round(k / nb)))
    t, e = np.meshgrid((np.arange(nt) + 0.5) * dur / nt, (np.arange(nb) + 0.5) * top / nb, indexing="ij")
    n = Noise(time=t.ravel(), erb=e.ravel(), log_st=np.full(t.size, math.log(dur / nt / 1.5)),
              log_se=np.full(t.size, math.log(top / nb / 1.5)), log_energy=np.zeros(t.size),
              channel=np.full(t.size, channel, np.int64))
    tm = cell_mass(n.time, n.log_st, grid.time_edges())
    fm = cell_mass(n.erb, n.log_se, grid.erb_edges())
    num = np.einsum("km,mf,kf->k", tm, cells, fm)
    den = (tm**2).sum(1) * (fm**2).sum(1)
    n.log_energy = np.log(np.maximum(num / np.maximum(den, 1e-30), 1e-30))
    return n


def hybrid_init(k: int, grid: Grid, cells: np.ndarray, opts: NoiseFitOptions, channel: int = 0) -> Noise:
    """A coarse grid of k // 4 Gaussians at half the target's energy for the background, then the rest
    placed greedily on top of it."""
    bg = grid_init(max(1, k // 4), grid, cells, opts, channel)
    bg.log_energy = bg.log_energy - math.log(2.0)
    return greedy_init(k - len(bg), grid, cells, opts, channel, start=bg)


def greedy_init(k: int, grid: Grid, cells: np.ndarray, opts: NoiseFitOptions, channel: int = 0,
                start: Noise | None = None) -> Noise:
    """start's Gaussians followed by k Gaussians of the init widths, each placed where cells^compress
    most exceeds the model so far, with the energy that makes the model equal the target at that cell."""
    a = opts.compress
    st, se = math.log(opts.init_st_ms / 1000), math.log(opts.init_se_erb)
    te, ee = grid.time_edges(), grid.erb_edges()
    tcen, ecen = 0.5 * (te[1:] + te[:-1]), 0.5 * (ee[1:] + ee[:-1])
    model = np.zeros_like(cells)
    if start is not None and len(start):
        model = (cell_mass(start.time, start.log_st, te) * np.exp(start.log_energy)[:, None]).T @ \
            cell_mass(start.erb, start.log_se, ee)
    tga = cells**a
    fm_all = cell_mass(ecen, np.full(len(ecen), se), ee)  # [B, B]: Gaussian centred on bin b
    excess = tga - model**a  # kept up to date row by row: a placement changes only its own rows
    out = np.zeros((k, 3))
    half = int(math.ceil(5 * opts.init_st_ms / 1000 * grid.sample_rate / grid.hop)) + 1
    for i in range(k):
        m, f = np.unravel_index(int(np.argmax(excess)), cells.shape)
        lo, hi = max(0, m - half), min(len(tcen), m + half + 1)
        tm = cell_mass(np.array([tcen[m]]), np.array([st]), te[lo:hi + 1])[0]
        fm = fm_all[f]
        need = max(cells[m, f] - model[m, f], 1e-30)
        energy = need / max(tm[m - lo] * fm[f], 1e-30)
        model[lo:hi] += energy * np.outer(tm, fm)
        excess[lo:hi] = tga[lo:hi] - model[lo:hi] ** a
        out[i] = (tcen[m], ecen[f], math.log(energy))
    new = Noise(time=out[:, 0], erb=out[:, 1], log_st=np.full(k, st), log_se=np.full(k, se), log_energy=out[:, 2],
                channel=np.full(k, channel, np.int64))
    if start is None or not len(start):
        return new
    return Noise(*(np.concatenate([getattr(start, f), getattr(new, f)]) for f in
                   ("time", "erb", "log_st", "log_se", "log_energy", "channel")))


def _mass(edges: torch.Tensor, centre: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """[K, len(edges) - 1] cell masses of unit Gaussians (tails taken from the near side, float32-safe)."""
    z = (edges[None, :] - centre[:, None]) / width[:, None]
    lo, hi = z[:, :-1], z[:, 1:]
    s = torch.where(lo + hi > 0, -1.0, 1.0).to(z.dtype)
    return s * (torch.special.ndtr(s * hi) - torch.special.ndtr(s * lo))


def _band_energy(te: torch.Tensor, t: torch.Tensor, st: torch.Tensor, energy: torch.Tensor, fm: torch.Tensor,
                 local: int = 64) -> torch.Tensor:
    """Model energies [cells, B]: Gaussians narrower than ~local/8 cells are integrated over a window
    of `local` cells around their centre, the others over every cell (te: cell edges, unit of t)."""
    n_cells, nb = te.numel() - 1, fm.shape[1]
    cell = float(te[1] - te[0])
    out = torch.zeros(n_cells, nb, dtype=fm.dtype)
    width = min(local, n_cells)
    narrow = (8 * st.detach() / cell + 2 <= width) if width < n_cells else torch.ones_like(st, dtype=torch.bool)
    wide = torch.nonzero(~narrow).flatten()
    if wide.numel():
        out = out + (_mass(te, t[wide], st[wide]) * energy[wide, None]).T @ fm[wide]
    nar = torch.nonzero(narrow).flatten()
    if nar.numel():
        c = torch.floor((t[nar].detach() - te[0]) / cell).long()
        start = torch.clamp(c - width // 2, 0, n_cells - width)
        idx = start[:, None] + torch.arange(width)[None, :]
        z_lo = (te[idx] - t[nar, None]) / st[nar, None]
        z_hi = (te[idx + 1] - t[nar, None]) / st[nar, None]
        sg = torch.where(z_lo + z_hi > 0, -1.0, 1.0).to(z_lo.dtype)
        tm = sg * (torch.special.ndtr(sg * z_hi) - torch.special.ndtr(sg * z_lo))
        contrib = (tm * energy[nar, None])[:, :, None] * fm[nar][:, None, :]
        out = out.index_add(0, idx.reshape(-1), contrib.reshape(-1, nb))
    return out


def fit_noise_channel(residual: np.ndarray, sample_rate: int, k: int, opts: NoiseFitOptions | None = None,
                      channel: int = 0, tonal: np.ndarray | None = None) -> Noise:
    """k noise Gaussians fitted to one channel's residual [samples] (energies not yet scaled by gain_db);
    tonal [samples], the decoded tonal part, is needed for the "total" target."""
    opts = opts or NoiseFitOptions()
    residual = np.asarray(residual, np.float64)
    grid = Grid.for_signal(sample_rate, residual.size)
    if k <= 0 or not np.any(residual):
        return Noise.empty()
    base = None
    total = residual
    if opts.target == "total" and tonal is not None:
        tonal = np.asarray(tonal, np.float64)
        _, base, _ = band_target(tonal, grid, opts)
        total = residual + tonal
    edges, tgt, floor = band_target(total, grid, opts)
    init = hybrid_init if opts.init == "hybrid" else greedy_init
    p0 = init(k, grid, _smooth(analyse(residual, grid), opts.smooth_frames), opts, channel)
    if opts.steps <= 0 or tgt.shape[0] < 2:
        return p0
    dt = grid.hop / sample_rate
    f32 = dict(dtype=torch.float32)
    t = torch.tensor(p0.time / dt, requires_grad=True, **f32)  # in frames
    e = torch.tensor(p0.erb, requires_grad=True, **f32)
    lst = torch.tensor(p0.log_st, requires_grad=True, **f32)
    lse = torch.tensor(p0.log_se, requires_grad=True, **f32)
    le = torch.tensor(p0.log_energy, requires_grad=True, **f32)
    s = max(1, opts.loss_frames)
    te = torch.tensor(grid.time_edges()[:tgt.shape[0] * s + 1:s] / dt, **f32)
    ee = grid.erb_edges()
    be = torch.tensor(ee[edges], **f32)
    tgt_log = torch.log(torch.tensor(tgt, **f32) + floor)
    base_t = torch.tensor(base, **f32) if base is not None else 0.0
    if opts.env_weight > 0:  # the same model on one-frame cells, in wide bands
        env_edges, env_tgt, env_floor = envelope_target(total, grid, opts)
        env_base = torch.tensor(envelope_target(tonal, grid, opts)[1], **f32) if base is not None else 0.0
        env_te = torch.tensor(grid.time_edges()[:env_tgt.shape[0] + 1] / dt, **f32)
        env_be = torch.tensor(ee[env_edges], **f32)
        env_log = torch.log(torch.tensor(env_tgt, **f32) + env_floor)
    opt = Adam([t, e, lst, lse, le], lr=opts.lr)
    lo_st, hi_st = math.log(opts.min_st_ms / 1000), math.log(opts.max_st_ms / 1000)
    lo_se, hi_se = math.log(opts.min_se_erb), math.log(opts.max_se_erb)
    for step in range(opts.steps):
        opt.lr = opts.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / opts.steps)))
        fm = _mass(be, e, torch.exp(lse))
        band = _band_energy(te, t, torch.exp(lst) / dt, torch.exp(le), fm)
        loss = (torch.log(band + base_t + floor) - tgt_log).abs().mean()
        if opts.env_weight > 0:
            env = _band_energy(env_te, t, torch.exp(lst) / dt, torch.exp(le), _mass(env_be, e, torch.exp(lse)))
            loss = loss + opts.env_weight * (torch.log(env + env_base + env_floor) - env_log).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            lst.clamp_(lo_st, hi_st)
            lse.clamp_(lo_se, hi_se)
            e.clamp_(0.0, float(ee[-1]))
            t.clamp_(0.0, residual.size / grid.hop)
    return Noise(time=t.detach().double().numpy() * dt, erb=e.detach().double().numpy(),
                 log_st=lst.detach().double().numpy(), log_se=lse.detach().double().numpy(),
                 log_energy=le.detach().double().numpy(), channel=np.full(k, channel, np.int64))


def fit_noise(residual: np.ndarray, sample_rate: int, k: int, opts: NoiseFitOptions | None = None,
              tonal: np.ndarray | None = None) -> Noise:
    """k noise Gaussians (split over channels by residual energy) fitted to residual [C, N] in model
    channels (tonal [C, N]: the decoded tonal part, for the "total" target), energies scaled by
    opts.gain_db."""
    opts = opts or NoiseFitOptions()
    residual = np.atleast_2d(np.asarray(residual, np.float64))
    energy = (residual**2).sum(axis=1)
    share = energy / energy.sum() if energy.sum() > 0 else np.full(len(energy), 1 / len(energy))
    counts = np.floor(share * k).astype(int)
    counts[int(np.argmax(share))] += k - counts.sum()
    tonal = None if tonal is None else np.atleast_2d(np.asarray(tonal, np.float64))
    parts = [fit_noise_channel(residual[c], sample_rate, int(counts[c]), opts, c,
                               None if tonal is None else tonal[c]) for c in range(residual.shape[0])]
    parts = [p for p in parts if len(p)]
    if not parts:
        return Noise.empty()
    noise = Noise(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                    ("time", "erb", "log_st", "log_se", "log_energy", "channel")))
    noise.log_energy = noise.log_energy + opts.gain_db * math.log(10) / 10
    return noise
