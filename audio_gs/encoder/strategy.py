"""The refinement schedule of a fit, as a small strategy object (after gsplat's DefaultStrategy).

The optimiser loop (audio_gs.encoder.fit) asks the strategy two things: how many atoms the
initialisation places (``initial_count``), and, after every gradient step, whether the atoms are
to be replaced (``step``: new Atoms, which restart Adam, or None). At the end it calls ``finish``.
The loop knows nothing of what the strategy does; the strategy knows nothing of Adam.

DefaultStrategy does three things between steps:
- at each add step, prune atoms below ``prune_db`` and add atoms by matching pursuit on the
  residual (where its energy is highest), so that the budget is reached at the last add step;
- every ``ls_every`` steps (not at add steps, which re-solve anyway, nor at the last step, which
  ``finish`` covers), re-solve all amplitudes by least squares (audio_gs.encoder.lstsq);
- ``finish`` re-solves the amplitudes once more, whatever ``ls_every`` is.
It draws no random numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from audio_gs.encoder.atoms import Atoms
from audio_gs.encoder.init import pursue
from audio_gs.encoder.lstsq import solve_amplitudes
from audio_gs.encoder.render import render_model


def prune(atoms: Atoms, target: torch.Tensor, threshold_db: float) -> Atoms:
    """Atoms whose energy exceeds threshold_db (dB) relative to the energy of target [C, N]."""
    sig = float((target.double() ** 2).sum())
    keep = atoms.energy.detach().double() > sig * 10 ** (threshold_db / 10)
    return atoms.select(keep)


def add_atoms(atoms: Atoms, target: torch.Tensor, n_new: int, *, scales_ms, per_round: int = 40,
              norm=None, max_freq: float | None = None, max_rounds: int = 0) -> Atoms:
    """atoms plus n_new atoms placed by matching pursuit on the residual target - render(atoms),
    at widths scales_ms (milliseconds), in the fit's weighted norm when given; the new atoms come last."""
    if n_new <= 0:
        return atoms
    n = target.shape[-1]
    residual = target.double() - render_model(atoms.to(dtype=torch.float64).detach(), n)
    new = pursue(residual, atoms.sample_rate, n_new, [s / 1000 for s in scales_ms], per_round=per_round,
                 dtype=atoms.time.dtype, norm=norm, max_freq=max_freq, max_rounds=max_rounds)
    return atoms.detach().concat(new)


@dataclass(frozen=True)
class DefaultStrategy:
    """Error-guided adding, pruning and least-squares re-solves on a fixed schedule.

    budget: atoms at the end of the fit (config num_gaussians).
    num_steps: length of the fit in steps; add steps outside (0, num_steps] are dropped.
    add_steps: steps after which atoms are pruned and added (config add_gaussians_steps, used when
        adaptive_add is on); empty means the initialisation places the whole budget.
    init_fraction: share of the budget the initialisation places when there are add steps.
    prune_db: atoms whose energy is below this (dB relative to the target's energy) are pruned at add steps.
    ls_every: re-solve amplitudes by least squares every this many steps (0 = only in finish).
    ls_iterations: conjugate-gradient iterations of each re-solve.
    scales_ms: atom widths (sigma, ms) the matching pursuit of add steps searches.
    per_round: atoms per matching-pursuit round.
    max_rounds: the pursuit places its atoms in at most this many rounds (config mp_max_rounds; 0 = no cap).
    max_freq: no atom is added above this frequency (Hz; config tonal_max_hz); None: Nyquist.
    norm: the weighted norm of the fit's loss for least squares and matching pursuit
        (audio_gs.encoder.losses.MaskedNorm for the masked loss; None: plain L2).
    """

    budget: int
    num_steps: int
    add_steps: tuple[int, ...] = ()
    init_fraction: float = 1.0
    prune_db: float = -70.0
    ls_every: int = 250
    ls_iterations: int = 10
    scales_ms: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
    per_round: int = 40
    max_rounds: int = 0
    norm: object = field(default=None, repr=False, compare=False)
    max_freq: float | None = None
    _schedule: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        steps = tuple(sorted({int(s) for s in self.add_steps if 0 < s <= self.num_steps}))
        object.__setattr__(self, "_schedule", steps)

    @classmethod
    def from_config(cls, cfg: dict, norm=None) -> "DefaultStrategy":
        """The strategy a fit config describes (keys num_gaussians, num_steps, adaptive_add,
        add_gaussians_steps, init_fraction, prune_db, ls_every, scales_ms, mp_atoms_per_round, mp_max_rounds)."""
        return cls(budget=int(cfg["num_gaussians"]), num_steps=int(cfg["num_steps"]),
                   add_steps=tuple(cfg["add_gaussians_steps"]) if cfg["adaptive_add"] else (),
                   init_fraction=float(cfg["init_fraction"]), prune_db=float(cfg["prune_db"]),
                   ls_every=int(cfg["ls_every"] or 0), scales_ms=tuple(float(s) for s in cfg["scales_ms"]),
                   per_round=int(cfg["mp_atoms_per_round"]), max_rounds=int(cfg.get("mp_max_rounds") or 0), norm=norm,
                   max_freq=None if cfg.get("tonal_max_hz") is None else float(cfg["tonal_max_hz"]))

    @property
    def schedule(self) -> tuple[int, ...]:
        """The add steps that run: sorted, unique, within (0, num_steps]."""
        return self._schedule

    def initial_count(self) -> int:
        """Atoms the initialisation places: init_fraction x budget when add steps run, else the budget."""
        return max(1, int(round(self.budget * (self.init_fraction if self._schedule else 1.0))))

    def step(self, step: int, atoms: Atoms, target: torch.Tensor) -> Atoms | None:
        """After gradient step `step` (1-based) on atoms, fitting target [C, N] (model channels):
        the atoms to continue from, or None to keep going with the optimiser as it is."""
        n = target.shape[-1]
        if step in self._schedule:
            remaining = len(self._schedule) - self._schedule.index(step)
            kept = prune(atoms, target, self.prune_db)
            n_new = math.ceil((self.budget - len(kept)) / remaining)
            grown = add_atoms(kept, target, n_new, scales_ms=self.scales_ms, per_round=self.per_round,
                              norm=self.norm, max_freq=self.max_freq, max_rounds=self.max_rounds)
            return solve_amplitudes(grown, target, n, iterations=self.ls_iterations, norm=self.norm)
        if self.ls_every and step % self.ls_every == 0 and step < self.num_steps:
            return solve_amplitudes(atoms, target, n, iterations=self.ls_iterations, norm=self.norm)
        return None

    def finish(self, atoms: Atoms, target: torch.Tensor) -> Atoms:
        """The atoms a fit returns: amplitudes re-solved by least squares."""
        return solve_amplitudes(atoms, target, target.shape[-1], iterations=self.ls_iterations, norm=self.norm)
