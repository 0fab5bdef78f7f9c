"""Quantization-aware fine-tuning: a short Adam run with the codec's quantizer in the loop
(straight-through estimator), at a lower learning rate than the fit."""

from __future__ import annotations

import numpy as np
import torch

from audio_gs.codec.quantize import dequantize, quantize, resolve_bits
from audio_gs.encoder.atoms import PARAM_NAMES, Atoms

QAT_LR_RATIO = 0.1  # fine-tuning restarts Adam on a converged fit: the fit's own lr first loses SNR


def fake_quantize(atoms: Atoms, bits_per_param: int = 8, bit_allocation: dict | None = None) -> Atoms:
    """Atoms whose values are the quantized ones (in the input's order) and whose gradient passes
    straight through to the input parameters (straight-through estimator)."""
    q = quantize(atoms.to_gabor(), sample_rate=atoms.sample_rate, n_channels=atoms.n_channels,
                 stereo_mode=atoms.stereo_mode, bits_per_param=bits_per_param, bit_allocation=bit_allocation)
    deq = dequantize(q)
    inv = np.empty(len(q), dtype=np.int64)
    inv[q.order] = np.arange(len(q))
    out = {}
    for name in PARAM_NAMES:
        x = getattr(atoms, name)
        hard = torch.as_tensor(getattr(deq, name)[inv]).to(dtype=x.dtype, device=x.device)
        out[name] = x + (hard - x).detach()
    return Atoms(**out, channel=atoms.channel, sample_rate=atoms.sample_rate, n_channels=atoms.n_channels,
                 stereo_mode=atoms.stereo_mode)


def qat_finetune(atoms: Atoms, signal: torch.Tensor | np.ndarray, n_samples: int, cfg: dict, steps: int) -> Atoms:
    """Short Adam fit (audio_gs.encoder.fit.optimize, at QAT_LR_RATIO x cfg["lr"]) of atoms to signal
    [C, N] (model channels) with the quantizer of cfg["bits_per_param"] / cfg["bit_allocation"] in
    the loop; returns float Atoms to be quantized."""
    if steps <= 0 or len(atoms) == 0:
        return atoms
    from audio_gs.encoder.config import DEFAULTS
    from audio_gs.encoder.fit import optimize

    cfg = {**DEFAULTS, **cfg}
    cfg["lr"] = cfg["lr"] * QAT_LR_RATIO
    bits, alloc = int(cfg["bits_per_param"]), cfg.get("bit_allocation")
    resolve_bits(bits, alloc)
    target = torch.as_tensor(np.asarray(signal.detach().cpu() if isinstance(signal, torch.Tensor) else signal),
                             dtype=atoms.time.dtype)
    if target.ndim == 1:
        target = target[None]
    if target.shape[-1] < n_samples:
        target = torch.nn.functional.pad(target, (0, n_samples - target.shape[-1]))
    target = target[..., :n_samples].contiguous()
    return optimize(atoms.detach(), target, cfg, steps, transform=lambda a: fake_quantize(a, bits, alloc))
