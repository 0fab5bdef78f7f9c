"""Fitting Atoms to a signal: initialisation, Adam on preconditioned parameters, least-squares
amplitude re-solves, and error-guided adding/pruning of atoms."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from audio_gs.audio_io import load_audio, require_audible
from audio_gs.encoder.atoms import Atoms
from audio_gs.encoder.init import initialise, pursue
from audio_gs.encoder.losses import make_loss, snr_db
from audio_gs.encoder.lstsq import solve_amplitudes
from audio_gs.encoder.render import render_model, to_model_channels

# callback(step, atoms, loss, rendered) -> None, or new Atoms to continue from (restarts Adam)
StepCallback = Callable[[int, Atoms, float, torch.Tensor], "Atoms | None"]


@dataclass
class FitResult:
    atoms: Atoms
    n_samples: int
    target: torch.Tensor  # model channels [C, N]
    cfg: dict
    snr_db: float
    fit_seconds: float
    history: list = field(default_factory=list)  # (step, loss, snr_db, n_atoms, seconds)


def _bounds(cfg: dict, sample_rate: int) -> dict:
    return {"max_freq": sample_rate / 2,
            "sigma_range": (max(cfg["min_sigma_ms"] / 1000, 1.0 / sample_rate), cfg["max_sigma_ms"] / 1000)}


def optimize(atoms: Atoms, target: torch.Tensor, cfg: dict, num_steps: int, transform=None,
             callback: StepCallback | None = None, start_step: int = 0) -> Atoms:
    """Adam on all atom parameters (preconditioned, see atoms.Unconstrained) for num_steps.

    transform maps physical Atoms to the Atoms that are rendered (for example a fake quantizer);
    callback runs after every step and may return new Atoms, which restarts the optimiser from them.
    """
    n = target.shape[-1]
    loss_fn = make_loss(cfg["loss_type"], atoms.sample_rate, cfg["perceptual_weight"], cfg["masking_exponent"])
    bounds = _bounds(cfg, atoms.sample_rate)
    backend = cfg.get("render_backend", "auto")

    def start(a: Atoms):
        unc = a.unconstrained()
        return unc, torch.optim.Adam(unc.parameters(), lr=cfg["lr"])

    unc, opt = start(atoms)
    end = start_step + num_steps
    for step in range(start_step + 1, end + 1):
        for group in opt.param_groups:  # cosine decay to lr_final_ratio x lr
            r = cfg["lr_final_ratio"]
            group["lr"] = cfg["lr"] * (r + (1 - r) * 0.5 * (1 + math.cos(math.pi * (step - 1) / max(end, 1))))
        phys = unc.physical(**bounds)
        rendered = render_model(transform(phys) if transform else phys, n, backend=backend)
        loss = loss_fn(rendered, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if callback is not None:
            new = callback(step, phys.detach(), float(loss.detach()), rendered.detach())
            if new is not None:
                unc, opt = start(new)
    return unc.physical(**bounds).detach()


def prune(atoms: Atoms, target: torch.Tensor, threshold_db: float) -> Atoms:
    """Drop atoms whose energy is below threshold_db relative to the target's energy."""
    sig = float((target.double() ** 2).sum())
    keep = atoms.energy.detach().double() > sig * 10 ** (threshold_db / 10)
    return atoms.select(keep)


def fit_norm(target: torch.Tensor, sample_rate: int, cfg: dict):
    """The weighted norm of the masked loss (for least squares and matching pursuit), or None for plain L2."""
    if cfg["loss_type"] != "masked":
        return None
    from audio_gs.encoder.losses import MaskedNorm

    return MaskedNorm(target, sample_rate, cfg["masking_exponent"])


def add_atoms(atoms: Atoms, target: torch.Tensor, n_new: int, cfg: dict, norm=None) -> Atoms:
    """Error-guided densification: matching pursuit on the residual, where its energy is highest."""
    if n_new <= 0:
        return atoms
    n = target.shape[-1]
    residual = target.double() - render_model(atoms.to(dtype=torch.float64).detach(), n)
    new = pursue(residual, atoms.sample_rate, n_new, [s / 1000 for s in cfg["scales_ms"]],
                 per_round=cfg["mp_atoms_per_round"], dtype=atoms.time.dtype, norm=norm)
    return atoms.detach().concat(new)


def fit_signal(x: np.ndarray | torch.Tensor, sample_rate: int, cfg: dict, on_log=None, on_checkpoint=None,
               progress: bool = True) -> FitResult:
    """Fit cfg["num_gaussians"] atoms to x [channels, samples] (output channels) by the config's settings.

    on_log(step, loss, snr, n_atoms, seconds) is called every cfg["log_every"] steps;
    on_checkpoint(step, atoms) every cfg["save_every"] steps.
    """
    torch.manual_seed(cfg["seed"])
    np.random.seed(cfg["seed"])
    t0 = time.perf_counter()
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    n_channels, n = x.shape
    mode = cfg["stereo_mode"] if n_channels == 2 else "lr"
    target = to_model_channels(x, mode).contiguous()
    budget = int(cfg["num_gaussians"])
    # Add steps outside (0, num_steps] never run; without any, the whole budget is placed at init.
    add_steps = sorted(s for s in cfg["add_gaussians_steps"] if 0 < s <= cfg["num_steps"]) \
        if cfg["adaptive_add"] else []
    n_init = max(1, int(round(budget * (cfg["init_fraction"] if add_steps else 1.0))))
    norm = fit_norm(target, sample_rate, cfg)
    atoms = initialise(target, sample_rate, n_init, method=cfg["init_method"], scales_ms=cfg["scales_ms"],
                       per_round=cfg["mp_atoms_per_round"], seed=cfg["seed"], norm=norm)
    atoms.n_channels, atoms.stereo_mode = n_channels, mode
    history: list = []
    bar = None
    if progress and cfg["num_steps"] > 0:
        from tqdm import tqdm

        bar = tqdm(total=cfg["num_steps"], desc="fit", unit="step", dynamic_ncols=True, leave=False)

    def log(step: int, loss: float, rendered: torch.Tensor, a: Atoms) -> None:
        snr = snr_db(target, rendered)
        history.append((step, loss, snr, len(a), time.perf_counter() - t0))
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.4g}", snr=f"{snr:.2f}dB", atoms=len(a))
        if on_log:
            on_log(step, loss, snr, len(a), time.perf_counter() - t0)

    def callback(step: int, a: Atoms, loss: float, rendered: torch.Tensor):
        if bar is not None:
            bar.update(1)
        if step % cfg["log_every"] == 0 or step == cfg["num_steps"]:
            log(step, loss, rendered, a)
        new = None
        if step in add_steps:
            remaining = len(add_steps) - add_steps.index(step)
            kept = prune(a, target, cfg["prune_db"])
            n_new = math.ceil((budget - len(kept)) / remaining)
            new = solve_amplitudes(add_atoms(kept, target, n_new, cfg, norm), target, n, iterations=10, norm=norm)
        elif cfg["ls_every"] and step % cfg["ls_every"] == 0 and step < cfg["num_steps"]:
            new = solve_amplitudes(a, target, n, iterations=10, norm=norm)
        if on_checkpoint and cfg["save_every"] and step % cfg["save_every"] == 0:
            on_checkpoint(step, new if new is not None else a)
        return new

    atoms = optimize(atoms, target, cfg, cfg["num_steps"], callback=callback)
    if bar is not None:
        bar.close()
    atoms = solve_amplitudes(atoms, target, n, iterations=10, norm=norm)
    final = render_model(atoms, n)
    result = FitResult(atoms=atoms, n_samples=n, target=target, cfg=cfg, snr_db=snr_db(target, final),
                       fit_seconds=time.perf_counter() - t0, history=history)
    return result


def load_target(cfg: dict) -> tuple[np.ndarray, int]:
    """The signal a config describes: input_path, excerpt, channels and rate applied."""
    x, sr = load_audio(cfg["input_path"], sample_rate=cfg["sample_rate"], offset=cfg["offset"],
                       duration=cfg["duration"], channels=cfg["channels"])
    if x.shape[0] > 2:
        x = x.mean(axis=0, keepdims=True)
    require_audible(x, cfg["input_path"])
    return x, sr


def fit_file(input_path: str | Path, cfg: dict, **kwargs) -> FitResult:
    """Load input_path as cfg says and fit it (see fit_signal)."""
    cfg = dict(cfg, input_path=str(input_path))
    x, sr = load_target(cfg)
    return fit_signal(x, sr, cfg, **kwargs)
