"""Rendering torch Atoms to a waveform [n_channels, n_samples], differentiably (the fitter's side).

Three implementations of the same sum (see audio_gs.codec.model for the atom formula):
- ``render_dense``: every atom at every sample in float64, no support cut. For tests only.
- ``render_reference``: plain torch, each atom evaluated on its own window (|tau| <= SUPPORT sigma),
  scattered with index_add; autograd does the backward. Works on any torch device.
- ``render_fast``: the decoder's forward sum (audio_gs.codec.render.GaborPlan, C kernel, float64 inner
  loop) with an analytic backward (audio_gs.encoder.backward, numba). CPU.
``render`` picks the fast path on CPU and the reference elsewhere. Stereo "ms" atoms render as
mid/side and are converted to left/right by ``to_output_channels``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from audio_gs.codec.render import GaborPlan, support_bounds, to_model_channels, to_output_channels
from audio_gs.encoder import backward as bk
from audio_gs.encoder.atoms import Atoms

BACKENDS = ("auto", "fast", "reference", "dense")
__all__ = ["render", "render_model", "render_fast", "render_reference", "render_dense", "to_model_channels",
           "to_output_channels", "BACKENDS"]


def render_dense(atoms: Atoms, n_samples: int) -> torch.Tensor:
    """Float64 evaluation of every atom at every sample (a K x N matrix): the ground truth for tests."""
    a = atoms.to(dtype=torch.float64)
    n = torch.arange(n_samples, dtype=torch.float64, device=a.time.device)
    tau = n[None, :] / atoms.sample_rate - a.time[:, None]
    sig = a.sigma[:, None]
    phi = 2 * math.pi * (a.freq[:, None] * tau + 0.5 * a.chirp[:, None] * tau**2)
    vals = torch.exp(-0.5 * (tau / sig) ** 2) * (a.amp_cos[:, None] * torch.cos(phi) + a.amp_sin[:, None] * torch.sin(phi))
    out = torch.zeros(atoms.n_channels, n_samples, dtype=torch.float64, device=a.time.device)
    out.index_add_(0, a.channel, vals)
    return out


def render_reference(atoms: Atoms, n_samples: int) -> torch.Tensor:
    """Plain-torch windowed renderer (float64 inside, differentiable by autograd).

    Atoms are grouped by window length (powers of two) so each group is one [atoms, window] batch.
    """
    dtype = atoms.time.dtype
    device = atoms.time.device
    sr = atoms.sample_rate
    t = atoms.time.to(torch.float64)
    sig = torch.exp(atoms.log_sigma.to(torch.float64))
    lo_np, hi_np = support_bounds(t.detach().cpu().numpy(), sig.detach().cpu().numpy(), sr, n_samples)
    length = np.maximum(hi_np - lo_np + 1, 0)
    bucket = np.ceil(np.log2(np.maximum(length, 1))).astype(np.int64)
    out = torch.zeros(atoms.n_channels * n_samples, dtype=torch.float64, device=device)
    lo = torch.as_tensor(lo_np, device=device)
    hi = torch.as_tensor(hi_np, device=device)
    for b in np.unique(bucket[length > 0]):
        sel = torch.as_tensor(np.nonzero((bucket == b) & (length > 0))[0], device=device)
        width = 1 << int(b)
        idx = lo[sel, None] + torch.arange(width, device=device)[None, :]
        valid = idx <= hi[sel, None]
        tau = idx.to(torch.float64) / sr - t[sel, None]
        s = sig[sel, None]
        phi = 2 * math.pi * (atoms.freq[sel, None].double() * tau + 0.5 * atoms.chirp[sel, None].double() * tau**2)
        vals = torch.exp(-0.5 * (tau / s) ** 2) * (
            atoms.amp_cos[sel, None].double() * torch.cos(phi) + atoms.amp_sin[sel, None].double() * torch.sin(phi)
        )
        vals = torch.where(valid, vals, torch.zeros((), dtype=vals.dtype, device=device))
        flat = (atoms.channel[sel, None] * n_samples + idx.clamp_max(n_samples - 1)).reshape(-1)
        out = out.index_add(0, flat, vals.reshape(-1))
    return out.view(atoms.n_channels, n_samples).to(dtype)


def _np64(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float64)


class _FastRender(torch.autograd.Function):
    @staticmethod
    def forward(ctx, time, freq, log_sigma, chirp, amp_cos, amp_sin, channel, sr, n_samples, n_channels):
        arrs = [_np64(x) for x in (time, freq, log_sigma, chirp, amp_cos, amp_sin)]
        arrs[2] = np.exp(arrs[2])
        ch = np.ascontiguousarray(channel.detach().cpu().numpy(), dtype=np.int64)
        plan = GaborPlan(arrs[0], arrs[1], arrs[2], arrs[3], ch, sample_rate=sr, n_samples=n_samples,
                         n_channels=n_channels)
        out = plan.render(arrs[4], arrs[5], precision="float64")
        ctx.save_for_backward(time, freq, log_sigma, chirp, amp_cos, amp_sin, channel)
        ctx.plan = (arrs, ch, plan.lo, plan.hi, sr)
        return torch.from_numpy(out).to(dtype=time.dtype, device=time.device)

    @staticmethod
    def backward(ctx, grad_out):
        arrs, ch, lo, hi, sr = ctx.plan
        g = np.ascontiguousarray(grad_out.detach().cpu().numpy(), dtype=np.float64)
        grads = bk.backward(g, *arrs, ch, lo, hi, float(sr))
        gt = torch.from_numpy(grads).to(dtype=grad_out.dtype, device=grad_out.device)
        need = ctx.needs_input_grad
        return tuple(gt[i] if need[i] else None for i in range(6)) + (None, None, None, None)


def render_fast(atoms: Atoms, n_samples: int) -> torch.Tensor:
    """C forward (float64) with numba analytic gradients for all six parameter kinds (CPU tensors)."""
    return _FastRender.apply(atoms.time, atoms.freq, atoms.log_sigma, atoms.chirp, atoms.amp_cos,
                             atoms.amp_sin, atoms.channel, int(atoms.sample_rate), int(n_samples),
                             int(atoms.n_channels))


def render_model(atoms: Atoms, n_samples: int, backend: str = "auto") -> torch.Tensor:
    """Sum of atoms in the model's own channels (mid/side for stereo_mode "ms")."""
    if backend == "auto":
        backend = "fast" if atoms.time.device.type == "cpu" else "reference"
    if backend == "fast":
        return render_fast(atoms, n_samples)
    if backend == "reference":
        return render_reference(atoms, n_samples)
    if backend == "dense":
        return render_dense(atoms, n_samples).to(atoms.time.dtype)
    raise ValueError(f"unknown render backend '{backend}' (choose from {', '.join(BACKENDS)})")


def render(atoms: Atoms, n_samples: int, backend: str = "auto") -> torch.Tensor:
    """Waveform [channels, n_samples] of the atoms, in output (left/right) channels."""
    return to_output_channels(render_model(atoms, n_samples, backend), atoms.stereo_mode)
