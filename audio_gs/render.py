"""Rendering Atoms to a waveform [n_channels, n_samples].

Three implementations of the same sum (see audio_gs.atoms for the atom formula):
- ``render_dense``: every atom at every sample in float64, no support cut. For tests only.
- ``render_reference``: plain torch, each atom evaluated on its own window (|tau| <= SUPPORT sigma),
  scattered with index_add; autograd does the backward. Works on any torch device.
- ``render_fast``: numba kernels (audio_gs.render_kernels) with an analytic backward. CPU.
``render`` picks the fast path on CPU and the reference elsewhere. Stereo "ms" atoms render as
mid/side and are converted to left/right by ``to_output_channels``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from audio_gs.atoms import SUPPORT, Atoms

BACKENDS = ("auto", "fast", "reference", "dense")


def support_bounds(time: np.ndarray, sigma: np.ndarray, sample_rate: int, n_samples: int):
    """First and last sample index (inclusive) of each atom's support, clipped to the signal."""
    t = np.asarray(time, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    lo = np.ceil((t - SUPPORT * s) * sample_rate)
    hi = np.floor((t + SUPPORT * s) * sample_rate)
    lo = np.clip(lo, 0, n_samples).astype(np.int64)
    hi = np.clip(hi, -1, n_samples - 1).astype(np.int64)
    return lo, hi


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


def _fast_plan(time: np.ndarray, sigma: np.ndarray, channel: np.ndarray, sr: int, n_samples: int, n_channels: int):
    """Support bounds, visit order and per-chunk buffer layout for the forward kernel."""
    from audio_gs.render_kernels import CHUNK

    lo, hi = support_bounds(time, sigma, sr, n_samples)
    order = np.argsort(lo, kind="stable").astype(np.int64)
    k = len(order)
    bounds = np.arange(0, k + CHUNK, CHUNK, dtype=np.int64)
    bounds[-1] = k
    bounds = np.unique(bounds)
    if k == 0:
        bounds = np.zeros(1, dtype=np.int64)
    n_chunks = len(bounds) - 1
    span_lo = np.zeros(n_chunks, np.int64)
    span_len = np.zeros(n_chunks, np.int64)
    his = hi[order]
    los = lo[order]
    for ci in range(n_chunks):
        a, b = bounds[ci], bounds[ci + 1]
        span_lo[ci] = los[a]
        span_len[ci] = max(int(his[a:b].max()) - int(los[a]) + 1, 0)
    offsets = np.zeros(n_chunks + 1, np.int64)
    offsets[1:] = np.cumsum(span_len * n_channels)
    return lo, hi, order, bounds, span_lo, offsets, span_len


def _np64(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float64)


class _FastRender(torch.autograd.Function):
    @staticmethod
    def forward(ctx, time, freq, log_sigma, chirp, amp_cos, amp_sin, channel, sr, n_samples, n_channels):
        from audio_gs import render_kernels as rk

        arrs = [_np64(x) for x in (time, freq, log_sigma, chirp, amp_cos, amp_sin)]
        arrs[2] = np.exp(arrs[2])
        ch = np.ascontiguousarray(channel.detach().cpu().numpy(), dtype=np.int64)
        lo, hi, order, bounds, span_lo, offsets, span_len = _fast_plan(arrs[0], arrs[2], ch, sr, n_samples, n_channels)
        out = rk.forward(*arrs, ch, lo, hi, float(sr), order, bounds, span_lo, offsets, span_len, n_channels, n_samples)
        ctx.save_for_backward(time, freq, log_sigma, chirp, amp_cos, amp_sin, channel)
        ctx.plan = (arrs, ch, lo, hi, sr)
        return torch.from_numpy(out).to(dtype=time.dtype, device=time.device)

    @staticmethod
    def backward(ctx, grad_out):
        from audio_gs import render_kernels as rk

        arrs, ch, lo, hi, sr = ctx.plan
        g = np.ascontiguousarray(grad_out.detach().cpu().numpy(), dtype=np.float64)
        grads = rk.backward(g, *arrs, ch, lo, hi, float(sr))
        gt = torch.from_numpy(grads).to(dtype=grad_out.dtype, device=grad_out.device)
        need = ctx.needs_input_grad
        return tuple(gt[i] if need[i] else None for i in range(6)) + (None, None, None, None)


def render_fast(atoms: Atoms, n_samples: int) -> torch.Tensor:
    """Numba renderer with analytic gradients for all six parameter kinds (CPU tensors)."""
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


def to_output_channels(x: torch.Tensor, stereo_mode: str) -> torch.Tensor:
    """Model channels to output channels: mid/side [2, N] -> left/right; otherwise unchanged."""
    if stereo_mode == "ms" and x.shape[0] == 2:
        return torch.stack([x[0] + x[1], x[0] - x[1]])
    return x


def to_model_channels(x: torch.Tensor, stereo_mode: str) -> torch.Tensor:
    """Output channels to model channels: left/right [2, N] -> mid/side; otherwise unchanged."""
    if stereo_mode == "ms" and x.shape[0] == 2:
        return torch.stack([(x[0] + x[1]) / 2, (x[0] - x[1]) / 2])
    return x


def render(atoms: Atoms, n_samples: int, backend: str = "auto") -> torch.Tensor:
    """Waveform [channels, n_samples] of the atoms, in output (left/right) channels."""
    return to_output_channels(render_model(atoms, n_samples, backend), atoms.stereo_mode)
