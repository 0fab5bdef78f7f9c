"""Least-squares amplitudes: the (amp_cos, amp_sin) pairs are linear in the waveform, so for fixed
times, frequencies and widths the best amplitudes solve a sparse linear system. Solved by
Jacobi-preconditioned conjugate gradients on the normal equations, using the codec's forward sum
(audio_gs.codec.render.GaborPlan, planned once) for A x and the analytic backward for A^T r.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from audio_gs.codec.render import GaborPlan
from audio_gs.encoder import backward as bk
from audio_gs.encoder.atoms import Atoms


class _Operator:
    """A: amplitudes [2, K] -> waveform [C, N] for fixed nonlinear parameters (float64 numpy)."""

    def __init__(self, atoms: Atoms, n_samples: int):
        a = atoms.detach().to(device="cpu", dtype=torch.float64)
        self.t = a.time.numpy().copy()
        self.f = a.freq.numpy().copy()
        self.s = np.exp(a.log_sigma.numpy())
        self.c = a.chirp.numpy().copy()
        self.ch = a.channel.numpy().astype(np.int64)
        self.sr = float(atoms.sample_rate)
        self.n = int(n_samples)
        self.nc = int(atoms.n_channels)
        self.plan = GaborPlan(self.t, self.f, self.s, self.c, self.ch, sample_rate=atoms.sample_rate,
                              n_samples=self.n, n_channels=self.nc)

    def apply(self, amps: np.ndarray) -> np.ndarray:
        return self.plan.render(amps[0], amps[1], precision="float64")

    def adjoint(self, r: np.ndarray) -> np.ndarray:
        zeros = np.zeros_like(self.t)
        g = bk.backward(np.ascontiguousarray(r), self.t, self.f, self.s, self.c, zeros, zeros, self.ch, self.plan.lo,
                        self.plan.hi, self.sr)
        return g[4:6]

    def diag(self) -> np.ndarray:
        """Diagonal of A^T A (each atom's cos and sin energy), by the Gaussian integral."""
        lo, hi = self.plan.lo, self.plan.hi
        e = self.s * self.sr * np.sqrt(np.pi) / 2
        # near DC and Nyquist the sin part vanishes and the cos part doubles
        x = 2 * np.pi * self.s * np.minimum(self.f, self.sr / 2 - self.f)
        rho = np.exp(-x * x)
        cut = (hi >= lo).astype(np.float64)
        return np.stack([e * (1 + rho), e * (1 - rho)]) * cut + 1e-9


def solve_amplitudes(atoms: Atoms, target: torch.Tensor | np.ndarray, n_samples: int | None = None,
                     iterations: int = 20, warm_start: bool = True, tol: float = 1e-6, norm=None) -> Atoms:
    """Atoms with amplitudes minimising ||target - render(atoms)||^2 (target in model channels [C, N]),
    or the weighted norm r^T G r when `norm` is given (an object with gram(r) -> G r and
    weight_at(atoms) -> the weight near each atom, as audio_gs.encoder.losses.MaskedNorm)."""
    if len(atoms) == 0:
        return atoms
    y = target.detach().cpu().double().numpy() if isinstance(target, torch.Tensor) else np.asarray(target, np.float64)
    n_samples = y.shape[-1] if n_samples is None else n_samples
    op = _Operator(atoms, n_samples)
    d = op.diag()
    gram = (lambda v: v) if norm is None else norm.gram
    if norm is not None:
        d = d * norm.weight_at(atoms)[None, :]
    if warm_start:
        x = np.stack([atoms.amp_cos.detach().cpu().double().numpy(), atoms.amp_sin.detach().cpu().double().numpy()])
    else:
        x = np.zeros((2, len(atoms)))
    r = y - op.apply(x)
    g = op.adjoint(gram(r))
    z = g / d
    p = z.copy()
    gz = float(np.sum(g * z))
    g0 = gz
    for _ in range(iterations):
        if gz <= tol * tol * g0 or gz == 0:
            break
        q = op.apply(p)
        qq = float(np.sum(q * gram(q)))
        if qq <= 0:
            break
        alpha = gz / qq
        x += alpha * p
        r -= alpha * q
        g = op.adjoint(gram(r))
        z = g / d
        gz_new = float(np.sum(g * z))
        p = z + (gz_new / gz) * p
        gz = gz_new
    dtype, device = atoms.amp_cos.dtype, atoms.amp_cos.device
    return replace(atoms, amp_cos=torch.as_tensor(x[0], dtype=dtype, device=device),
                   amp_sin=torch.as_tensor(x[1], dtype=dtype, device=device))
