"""Windowed fitting of long signals: memory bounded by the window, time linear in the length, the
windows independent jobs where possible.

The signal is cut into cores of about ``window_seconds``; window w fits its *segment* (its core plus
a margin on each side) and keeps the atoms whose centre lies in its core. Atom widths are capped at
margin / SUPPORT, so an atom kept by a window has its whole support inside that window's segment.
The fit runs in two phases:

1. even windows (0, 2, 4, ...) fit the signal itself, each on its own;
2. odd windows fit the signal minus the kept atoms of phase 1 that reach into their segment
   (``fixed``, see audio_gs.encoder.fit.fit_signal), so every seam is fitted by one window that
   sees the exact residual on both of its sides.

The windows of a phase share nothing, so they run as separate processes (``jobs``) or, on a cluster,
as separate jobs (README, Encoder at scale). Then all amplitudes are re-solved jointly by least squares
over the whole signal (a sparse linear solve, linear in the length): the result is one set of atoms
whose sum is the rendered signal, with no crossfade or window function anywhere.

``WindowScope`` gives the rate control and the noise fit (audio_gs.encoder.encode) their windowed
forms: matching pursuit and the noise fit run window by window, and with ``rate_scope: window`` every
window keeps the same share of its atoms (its share of the bits: a constant bitrate over time).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from audio_gs.codec.model import SUPPORT, Noise
from audio_gs.codec.render import render_gabor, to_model_channels
from audio_gs.encoder.atoms import Atoms

MARGIN_FACTOR = 1.25  # margin = this x SUPPORT x the widest matching-pursuit scale
ODD_SURPLUS = 0.1  # phase-2 windows fit this share more than their core's atoms (some land in margins)
ROUND_SECONDS = 10.0  # in a window, mp_atoms_per_round counts per this much audio (so that a window's
# pursuit places atoms as densely per round as a pursuit over a 10 s signal: fewer per round in a short
# window; a round of 40 atoms in a 2.5 s window costs about 1 dB of SNR against 10 in the same window)


@dataclass(frozen=True)
class Window:
    """One window, in samples: atoms centred in [core_lo, core_hi) belong to it; it fits [seg_lo, seg_hi)."""

    index: int
    core_lo: int
    core_hi: int
    seg_lo: int
    seg_hi: int

    @property
    def phase(self) -> int:
        return self.index % 2


@dataclass(frozen=True)
class WindowPlan:
    """The windows of a signal of n_samples at sample_rate; margin in samples."""

    n_samples: int
    sample_rate: int
    margin: int
    windows: tuple[Window, ...]

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def max_sigma_s(self) -> float:
        """Widest atom (sigma, seconds) whose support fits in a margin."""
        return self.margin / self.sample_rate / SUPPORT

    def owner(self, times_s) -> np.ndarray:
        """Index of the window whose core holds each time (seconds) [K]."""
        starts = np.array([w.core_lo for w in self.windows[1:]], np.float64) / self.sample_rate
        return np.searchsorted(starts, np.asarray(times_s, np.float64), side="right")

    def shares(self, total: int) -> np.ndarray:
        """total split over the windows in proportion to their core lengths (largest remainders)."""
        core = np.array([w.core_hi - w.core_lo for w in self.windows], np.float64)
        exact = total * core / core.sum()
        out = np.floor(exact).astype(int)
        out[np.argsort(-(exact - out), kind="stable")[:total - out.sum()]] += 1
        return out


def margin_seconds(cfg: dict) -> float:
    """The margin of a config's windows: MARGIN_FACTOR x SUPPORT x its widest matching-pursuit scale."""
    return MARGIN_FACTOR * SUPPORT * max(float(s) for s in cfg["scales_ms"]) / 1000


def plan_windows(n_samples: int, sample_rate: int, *, window_seconds: float, margin_s: float) -> WindowPlan:
    """Cores of equal length near window_seconds covering n_samples (one window, without margins,
    when window_seconds is 0 or the signal is shorter than 1.5 windows)."""
    margin = int(math.ceil(margin_s * sample_rate))
    core = int(round(window_seconds * sample_rate))
    count = 1 if core <= 0 or n_samples < 1.5 * core else int(round(n_samples / core))
    edges = np.round(np.linspace(0, n_samples, count + 1)).astype(int)
    if count == 1:
        return WindowPlan(n_samples, sample_rate, 0, (Window(0, 0, n_samples, 0, n_samples),))
    wins = tuple(Window(i, int(a), int(b), max(0, int(a) - margin), min(n_samples, int(b) + margin))
                 for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])))
    return WindowPlan(n_samples, sample_rate, margin, wins)


def plan_for(cfg: dict, n_samples: int, sample_rate: int) -> WindowPlan | None:
    """The window plan of a config (cfg["window_seconds"]), or None when the signal is one window."""
    plan = plan_windows(n_samples, sample_rate, window_seconds=float(cfg.get("window_seconds") or 0),
                        margin_s=margin_seconds(cfg))
    return plan if len(plan) > 1 else None


def shifted(atoms: Atoms, seconds: float) -> Atoms:
    """Atoms moved by `seconds` in time (float64 when the result is far from zero)."""
    return replace(atoms, time=atoms.time + seconds)


def render_span(atoms: Atoms, lo: int, hi: int) -> np.ndarray:
    """Atoms (absolute times) rendered on samples [lo, hi): float64 [C, hi - lo], model channels."""
    sr = atoms.sample_rate
    a = atoms.detach().to(dtype=torch.float64)
    reach = SUPPORT * torch.exp(a.log_sigma)
    near = ((a.time + reach) * sr >= lo) & ((a.time - reach) * sr < hi)
    local = shifted(a.select(near), -lo / sr)
    return render_gabor(local.to_gabor(), sr, hi - lo, atoms.n_channels)


def in_core(atoms: Atoms, w: Window, sample_rate: int, t0: float = 0.0) -> torch.Tensor:
    """Mask of atoms (times relative to t0 seconds) centred in w's core."""
    t = atoms.time.detach().double() + t0
    return (t * sample_rate >= w.core_lo) & (t * sample_rate < w.core_hi)


def round_size(cfg: dict, samples: int, sample_rate: int) -> int:
    """Matching-pursuit atoms per round in a stretch of `samples`: cfg["mp_atoms_per_round"] per ROUND_SECONDS."""
    return max(1, int(round(int(cfg["mp_atoms_per_round"]) * samples / sample_rate / ROUND_SECONDS)))


def window_config(cfg: dict, plan: WindowPlan, w: Window, count: int) -> dict:
    """The fit config of one window: its atom count, its pursuit's round size, widths capped by the
    margin, one process."""
    out = dict(cfg, num_gaussians=max(1, int(count)), window_seconds=0, jobs=1, kbps=None)
    out["max_sigma_ms"] = min(float(cfg["max_sigma_ms"]), 1000 * plan.max_sigma_s)
    out["mp_atoms_per_round"] = round_size(cfg, w.seg_hi - w.seg_lo, plan.sample_rate)
    return out


def window_count(plan: WindowPlan, w: Window, share: int) -> int:
    """Atoms window w fits for `share` atoms kept in its core: phase-1 windows fill their whole segment
    at the core's density, phase-2 windows (whose margins are already fitted) a little more than the core's."""
    if w.phase == 0:
        return int(round(share * (w.seg_hi - w.seg_lo) / max(w.core_hi - w.core_lo, 1)))
    return int(round(share * (1 + ODD_SURPLUS)))


@dataclass
class WindowJob:
    """Everything one window's fit needs (picklable): the segment in output channels, the fixed part in
    model channels (or None), and where the segment lies."""

    x: np.ndarray
    fixed: np.ndarray | None
    sample_rate: int
    cfg: dict
    window: Window


@dataclass
class WindowResult:
    """The atoms a window keeps (absolute times, float64) and how its fit went."""

    index: int
    atoms: dict  # Atoms.state_dict()
    fitted: int
    snr_db: float  # of the segment, fixed part included
    seconds: float


def fit_window(job: WindowJob) -> WindowResult:
    """Fit one window (audio_gs.encoder.fit.fit_signal on its segment) and keep its core's atoms."""
    from audio_gs.encoder.fit import fit_signal

    t0 = time.perf_counter()
    w, sr = job.window, job.sample_rate
    r = fit_signal(job.x, sr, job.cfg, progress=False, fixed=job.fixed)
    keep = r.atoms.select(in_core(r.atoms, w, sr, w.seg_lo / sr))
    kept = shifted(keep.to(dtype=torch.float64), w.seg_lo / sr)
    return WindowResult(index=w.index, atoms=kept.state_dict(), fitted=len(r.atoms), snr_db=r.snr_db,
                        seconds=time.perf_counter() - t0)


@dataclass
class NoiseJob:
    """One window's noise fit: its segment of the residual (and of the decoded tonal part)."""

    residual: np.ndarray
    sample_rate: int
    count: int
    opts: object  # audio_gs.encoder.noise_fit.NoiseFitOptions
    tonal: np.ndarray | None


def fit_noise_job(job: NoiseJob) -> Noise:
    """audio_gs.encoder.noise_fit.fit_noise on one window's segment (times relative to the segment)."""
    from audio_gs.encoder.noise_fit import fit_noise

    return fit_noise(job.residual, job.sample_rate, job.count, job.opts, tonal=job.tonal)


def _init_worker(torch_threads: int, numba_threads: int) -> None:
    torch.set_num_threads(torch_threads)
    try:
        import numba

        numba.set_num_threads(max(1, min(numba_threads, numba.config.NUMBA_NUM_THREADS)))
    except Exception:  # numba threading layer not available: keep its default
        pass


class _Runner:
    """Runs window jobs in this process (jobs=1) or in a pool of spawned processes, each with this
    process's torch and numba threads divided by jobs (more would oversubscribe the cores: on 2 cores
    two workers of 2 threads each took 2.3x as long). The file does not depend on jobs (tested)."""

    def __init__(self, jobs: int):
        self.jobs, self.pool = max(1, int(jobs)), None

    def map(self, jobs: list[WindowJob], fn=None) -> list:
        fn = fn or fit_window
        if self.jobs == 1 or len(jobs) < 2:
            return [fn(j) for j in jobs]
        if self.pool is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            self.pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=mp.get_context("spawn"),
                                            initializer=_init_worker,
                                            initargs=(max(1, torch.get_num_threads() // self.jobs), max(1, cores // self.jobs)))
        return list(self.pool.map(fn, jobs))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def merge(results: list[WindowResult]) -> Atoms:
    """The kept atoms of all windows, in window order."""
    parts = [Atoms.from_state_dict(r.atoms) for r in sorted(results, key=lambda r: r.index)]
    out = parts[0]
    for p in parts[1:]:
        out = out.concat(p)
    return out


def fit_windowed(x: np.ndarray, sample_rate: int, cfg: dict, *, plan: WindowPlan | None = None, jobs: int = 1,
                 progress: bool = False, on_window=None):
    """Fit x [channels, samples] (output channels) window by window (see the module docstring) with
    cfg["num_gaussians"] atoms in all; a FitResult (audio_gs.encoder.fit) whose atoms are float64 with
    absolute times, amplitudes re-solved jointly over the whole signal.

    on_window(WindowResult) is called as each window finishes (in window order within a phase)."""
    from audio_gs.encoder.fit import FitResult, fit_norm
    from audio_gs.encoder.losses import snr_db
    from audio_gs.encoder.lstsq import solve_amplitudes
    from audio_gs.encoder.render import render_model

    t_start = time.perf_counter()
    x = np.asarray(x, np.float32)
    n_channels, n = x.shape
    plan = plan or plan_windows(n, sample_rate, window_seconds=float(cfg["window_seconds"]),
                                margin_s=margin_seconds(cfg))
    mode = cfg["stereo_mode"] if n_channels == 2 else "lr"
    target = to_model_channels(torch.from_numpy(x), mode).contiguous()
    total = int(cfg["num_gaussians"])
    runner = _Runner(jobs)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(plan), desc="windows", unit="window", dynamic_ncols=True, leave=False)
    results: list[WindowResult] = []

    def done(rs):
        for r in rs:
            results.append(r)
            if bar is not None:
                bar.update(1)
            if on_window:
                on_window(r)

    try:
        def job(w: Window, fixed, count: int) -> WindowJob:
            return WindowJob(x=x[:, w.seg_lo:w.seg_hi], fixed=fixed, sample_rate=sample_rate,
                             cfg=window_config(cfg, plan, w, count), window=w)

        shares = plan.shares(total)

        done(runner.map([job(w, None, window_count(plan, w, shares[w.index])) for w in plan.windows
                         if w.phase == 0]))
        first = merge(results)
        jobs2 = []
        for w in plan.windows:
            if w.phase == 1:
                fixed = render_span(first, w.seg_lo, w.seg_hi).astype(np.float32)
                jobs2.append(job(w, fixed, window_count(plan, w, shares[w.index])))
        done(runner.map(jobs2))
    finally:
        runner.close()
        if bar is not None:
            bar.close()
    atoms = merge(results)
    atoms.n_channels, atoms.stereo_mode = n_channels, mode
    norm = fit_norm(target, sample_rate, cfg)
    atoms = solve_amplitudes(atoms, target, n, iterations=10, norm=norm)  # the joint pass
    budget = int(cfg["num_gaussians"])
    if len(atoms) > budget:  # keep the budget: drop the weakest, then re-solve
        keep = torch.argsort(atoms.energy, descending=True, stable=True)[:budget]
        atoms = solve_amplitudes(atoms.select(torch.sort(keep).values), target, n, iterations=10, norm=norm)
    final = render_model(atoms, n)
    result = FitResult(atoms=atoms, n_samples=n, target=target, cfg=cfg, snr_db=snr_db(target, final),
                       fit_seconds=time.perf_counter() - t_start)
    result.windows = sorted(results, key=lambda r: r.index)
    return result


class WindowScope:
    """The windowed forms of what the rate control and the noise fit do over a whole file
    (audio_gs.encoder.encode): matching pursuit and the noise fit window by window; the importance
    order either global (rate_scope "file") or within each window, so that every window keeps the
    same share of its atoms (rate_scope "window")."""

    def __init__(self, plan: WindowPlan, cfg: dict, noise_end: int | None = None):
        """noise_end: samples from here on are hidden from the noise fit (a streamed window's look-ahead:
        a noise Gaussian of up to 400 ms fitted to an onset there would spread its energy back over the
        window, a pre-echo no later window can take back)."""
        self.plan, self.cfg, self.noise_end = plan, cfg, noise_end

    def add_atoms(self, atoms: Atoms, target: torch.Tensor, n_new: int, *, scales_ms, per_round: int = 40,
                  norm=None, max_freq: float | None = None, max_rounds: int = 0) -> Atoms:
        """atoms plus about n_new atoms placed by matching pursuit on each window's residual (its share
        by core length), window after window; the new atoms come last."""
        from audio_gs.encoder.fit import fit_norm
        from audio_gs.encoder.init import pursue

        if n_new <= 0:
            return atoms
        sr, plan = atoms.sample_rate, self.plan
        dtype = atoms.time.dtype
        out = atoms.detach().to(dtype=torch.float64)
        tgt = target.detach().double()
        for w, share in zip(plan.windows, plan.shares(int(n_new))):
            if share <= 0:
                continue
            seg = tgt[:, w.seg_lo:w.seg_hi]
            residual = seg - torch.from_numpy(render_span(out, w.seg_lo, w.seg_hi))
            count = int(round(share * (w.seg_hi - w.seg_lo) / max(w.core_hi - w.core_lo, 1)))
            new = pursue(residual, sr, count, [s / 1000 for s in scales_ms],
                         per_round=round_size(dict(self.cfg, mp_atoms_per_round=per_round), w.seg_hi - w.seg_lo, sr),
                         dtype=torch.float64, norm=fit_norm(seg, sr, self.cfg) if norm is not None else None,
                         max_freq=max_freq, max_rounds=max_rounds)
            new.n_channels = atoms.n_channels
            new = new.select(in_core(new, w, sr, w.seg_lo / sr))
            out = out.concat(shifted(new, w.seg_lo / sr))
        return out.to(dtype=dtype)

    def fit_noise(self, residual: np.ndarray, sample_rate: int, k: int, opts, tonal: np.ndarray | None = None) -> Noise:
        """k noise Gaussians (audio_gs.encoder.noise_fit.fit_noise) fitted window by window to residual
        [C, N] (tonal: the decoded atoms, for the 'total' target): each window's share by core length,
        fitted on its segment, those centred in its core kept."""
        if self.noise_end is not None:
            residual = np.array(residual, np.float64)
            residual[:, self.noise_end:] = 0.0
            if tonal is not None:
                tonal = np.array(tonal, np.float64)
                tonal[:, self.noise_end:] = 0.0
        tasks, kept = [], []
        for w, share in zip(self.plan.windows, self.plan.shares(int(k))):
            if share <= 0:
                continue
            count = int(round(share * (w.seg_hi - w.seg_lo) / max(w.core_hi - w.core_lo, 1)))
            tasks.append(NoiseJob(residual=residual[:, w.seg_lo:w.seg_hi], sample_rate=sample_rate, count=count,
                                  opts=opts, tonal=None if tonal is None else tonal[:, w.seg_lo:w.seg_hi]))
            kept.append(w)
        runner = _Runner(int(self.cfg.get("jobs") or 1))
        try:
            fitted = runner.map(tasks, fit_noise_job)
        finally:
            runner.close()
        parts = []
        for w, nz in zip(kept, fitted):
            t = nz.time * sample_rate + w.seg_lo
            nz = nz.select((t >= w.core_lo) & (t < w.core_hi))
            nz.time = nz.time + w.seg_lo / sample_rate
            parts.append(nz)
        if not parts:
            return Noise.empty()
        return Noise(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                       ("time", "erb", "log_st", "log_se", "log_energy", "channel")))

    def ranks(self, atoms: Atoms, score: np.ndarray) -> np.ndarray:
        """Scores whose descending order is the order in which atoms are kept: `score` itself (the
        global importance, audio_gs.encoder.encode.importance) with rate_scope "file", or with
        rate_scope "window" each atom's rank within its window scaled to [0, 1], so that every prefix
        of the order holds the same share of each window's atoms."""
        if self.cfg.get("rate_scope", "window") != "window" or len(atoms) == 0:
            return score
        owner = self.plan.owner(atoms.time.detach().double().cpu().numpy())
        out = np.zeros(len(atoms))
        for i in np.unique(owner):
            idx = np.nonzero(owner == i)[0]
            order = idx[np.argsort(-score[idx], kind="stable")]
            out[order] = 1.0 - (np.arange(len(order)) + 0.5) / len(order)
        return out
