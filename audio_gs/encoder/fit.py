"""Fitting Atoms to a signal: initialisation, Adam on preconditioned parameters, and a refinement
strategy (audio_gs.encoder.strategy: adding, pruning, least-squares re-solves) between steps.

No global random state is read or set: the only random draw of a fit is the "random" initialisation,
which uses its own torch.Generator seeded by cfg["seed"]; everything else is deterministic.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from audio_gs.encoder.atoms import Atoms
from audio_gs.encoder.init import initialise
from audio_gs.encoder.config import fit_device
from audio_gs.encoder.inputs import FitInput, load_input, load_target  # noqa: F401  (the fitter's inputs)
from audio_gs.encoder.losses import make_loss, snr_db
from audio_gs.encoder.render import render_model, to_model_channels
from audio_gs.encoder.strategy import DefaultStrategy
from audio_gs.errors import AudioGSError

# callback(step, atoms, loss, rendered) -> None, or new Atoms to continue from (restarts Adam)
StepCallback = Callable[[int, Atoms, float, torch.Tensor], "Atoms | None"]


@dataclass
class FitResult:
    atoms: Atoms
    n_samples: int
    target: torch.Tensor  # model channels [C, N]
    cfg: dict
    snr_db: float
    fit_seconds: float  # including the seconds of the run a resumed fit continues
    history: list = field(default_factory=list)  # (step, loss, snr_db, n_atoms, seconds)
    windows: list = field(default_factory=list)  # windowed fits: one audio_gs.encoder.windows.WindowResult each


@dataclass
class Start:
    """Where a resumed fit continues: the atoms after `step` steps and the seconds spent so far."""

    atoms: Atoms
    step: int
    seconds: float = 0.0


def _bounds(cfg: dict, sample_rate: int) -> dict:
    top = sample_rate / 2 if cfg.get("tonal_max_hz") is None else min(float(cfg["tonal_max_hz"]), sample_rate / 2)
    return {"max_freq": top,
            "sigma_range": (max(cfg["min_sigma_ms"] / 1000, 1.0 / sample_rate), cfg["max_sigma_ms"] / 1000)}


def learning_rate(cfg: dict, step: int, end: int) -> float:
    """Learning rate of step (1-based) in a run of end steps: cosine decay from lr to lr_final_ratio x lr."""
    r = cfg["lr_final_ratio"]
    return cfg["lr"] * (r + (1 - r) * 0.5 * (1 + math.cos(math.pi * (step - 1) / max(end, 1))))


def optimize(atoms: Atoms, target: torch.Tensor, cfg: dict, num_steps: int, transform=None,
             callback: StepCallback | None = None, start_step: int = 0,
             on_state: Callable[[int, Atoms], None] | None = None, state_every: int = 0,
             fixed: torch.Tensor | None = None) -> Atoms:
    """Adam on all atom parameters (preconditioned, see atoms.Unconstrained) for steps start_step + 1
    .. start_step + num_steps, the learning rate following learning_rate() over that whole range.

    transform maps physical Atoms to the Atoms that are rendered (for example a fake quantizer);
    callback runs after every step with the atoms that were rendered and may return new Atoms, which
    restart the optimiser from them; on_state(step, atoms) runs every state_every steps with the
    atoms the next step starts from (for checkpoints).
    """
    bounds = _bounds(cfg, atoms.sample_rate)
    if num_steps <= 0:  # no loss and no optimiser (building one loads torch._dynamo: about 1.4 s)
        return atoms.unconstrained().physical(**bounds).detach()
    n = target.shape[-1]
    loss_fn = make_loss(cfg["loss_type"], atoms.sample_rate, cfg["perceptual_weight"], cfg["masking_exponent"])
    backend = cfg.get("render_backend", "auto")

    def start(a: Atoms):
        unc = a.unconstrained()
        return unc, torch.optim.Adam(unc.parameters(), lr=cfg["lr"])

    unc, opt = start(atoms)
    end = start_step + num_steps
    for step in range(start_step + 1, end + 1):
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, step, end)
        phys = unc.physical(**bounds)
        rendered = render_model(transform(phys) if transform else phys, n, backend=backend)
        if fixed is not None:
            rendered = rendered + fixed
        loss = loss_fn(rendered, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if callback is not None:
            new = callback(step, phys.detach(), float(loss.detach()), rendered.detach())
            if new is not None:
                unc, opt = start(new)
        if on_state is not None and state_every and step % state_every == 0:
            on_state(step, unc.physical(**bounds).detach())
    return unc.physical(**bounds).detach()


def fit_norm(target: torch.Tensor, sample_rate: int, cfg: dict):
    """The weighted norm of a weighted loss (masked, segmental) for least squares and matching pursuit,
    or None for plain L2."""
    from audio_gs.encoder.losses import WEIGHTED_LOSSES, MaskedNorm

    if cfg["loss_type"] not in WEIGHTED_LOSSES:
        return None
    return MaskedNorm(target, sample_rate, cfg["masking_exponent"], cfg["loss_type"])


def fit_signal(x: np.ndarray | torch.Tensor, sample_rate: int, cfg: dict, on_log=None, on_checkpoint=None,
               progress: bool = True, strategy: DefaultStrategy | None = None, start: Start | None = None,
               fixed: np.ndarray | torch.Tensor | None = None) -> FitResult:
    """Fit cfg["num_gaussians"] atoms to x [channels, samples] (output channels) by the config's settings.

    strategy: the refinement schedule (default DefaultStrategy.from_config(cfg)).
    start: continue a fit from these atoms after start.step steps (no initialisation; the Adam state
    restarts, the learning-rate schedule and the strategy continue at start.step + 1).
    on_log(step, loss, snr, n_atoms, seconds) is called every cfg["log_every"] steps and at the last;
    on_checkpoint(step, atoms, seconds) every cfg["save_every"] steps, with the atoms to resume from.
    fixed: a part of the signal modelled elsewhere, in model channels [C, N] (the atoms of neighbouring
    windows, see audio_gs.encoder.windows): the atoms are fitted to target - fixed, while the loss's
    weights and the reported SNR see the whole target.
    cfg["device"]: where the Adam steps run (render, loss, gradients); matching pursuit and least
    squares run on the CPU, atoms moving between the two at each refinement step.
    """
    t0 = time.perf_counter()
    seconds0 = start.seconds if start else 0.0
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    n_channels, n = x.shape
    mode = cfg["stereo_mode"] if n_channels == 2 else "lr"
    target = to_model_channels(x, mode).contiguous()
    fixed = None if fixed is None else torch.as_tensor(np.asarray(fixed), dtype=torch.float32).reshape(target.shape)
    resid = target if fixed is None else (target - fixed).contiguous()  # what the atoms model
    device = fit_device(cfg)
    norm = fit_norm(target, sample_rate, cfg)
    strategy = strategy or DefaultStrategy.from_config(cfg, norm=norm)
    num_steps = int(cfg["num_steps"])
    first = start.step if start else 0
    if first > num_steps:
        raise AudioGSError(f"cannot resume at step {first}: the fit has {num_steps} steps")
    if start is not None:
        atoms = start.atoms.detach()
        if (atoms.sample_rate, atoms.n_channels, atoms.stereo_mode) != (sample_rate, n_channels, mode):
            raise AudioGSError("cannot resume: the checkpoint's rate, channels or stereo mode differ from the input's")
    else:
        atoms = initialise(resid, sample_rate, strategy.initial_count(), method=cfg["init_method"],
                           scales_ms=cfg["scales_ms"], per_round=cfg["mp_atoms_per_round"], seed=cfg["seed"],
                           norm=norm, max_freq=cfg.get("tonal_max_hz"), max_rounds=int(cfg.get("mp_max_rounds") or 0))
        atoms.n_channels, atoms.stereo_mode = n_channels, mode
    history: list = []
    bar = None
    if progress and num_steps > first:
        from tqdm import tqdm

        bar = tqdm(total=num_steps, initial=first, desc="fit", unit="step", dynamic_ncols=True, leave=False)

    def elapsed() -> float:
        return seconds0 + time.perf_counter() - t0

    def callback(step: int, a: Atoms, loss: float, rendered: torch.Tensor):
        if not math.isfinite(loss):
            raise AudioGSError(f"the fit diverged at step {step} (loss is {loss}); try a lower --lr")
        if bar is not None:
            bar.update(1)
        if step % cfg["log_every"] == 0 or step == num_steps:
            snr = snr_db(target, rendered)
            history.append((step, loss, snr, len(a), elapsed()))
            if bar is not None:
                bar.set_postfix(loss=f"{loss:.4g}", snr=f"{snr:.2f}dB", atoms=len(a))
            if on_log:
                on_log(step, loss, snr, len(a), elapsed())
        if device.type == "cpu":
            return strategy.step(step, a, resid)
        new = strategy.step(step, a.to(device="cpu"), resid)  # least squares and matching pursuit: CPU
        return None if new is None else new.to(device=device)

    def on_state(step: int, a: Atoms) -> None:
        on_checkpoint(step, a.to(device="cpu"), elapsed())

    def on_dev(t):
        return t if t is None or device.type == "cpu" else t.to(device=device)

    atoms = optimize(on_dev(atoms), on_dev(target), cfg, num_steps - first, callback=callback, start_step=first,
                     on_state=on_state if on_checkpoint else None, state_every=int(cfg["save_every"] or 0),
                     fixed=on_dev(fixed))
    if bar is not None:
        bar.close()
    atoms = strategy.finish(atoms.to(device="cpu"), resid)
    final = render_model(atoms, n) + (0 if fixed is None else fixed)
    return FitResult(atoms=atoms, n_samples=n, target=target, cfg=cfg, snr_db=snr_db(target, final),
                     fit_seconds=elapsed(), history=history)


def fit_file(input_path: str | Path, cfg: dict, **kwargs) -> FitResult:
    """Load input_path as cfg says and fit it (see fit_signal)."""
    cfg = dict(cfg, input_path=str(input_path))
    x, sr = load_target(cfg)
    return fit_signal(x, sr, cfg, **kwargs)
