"""Fitted Atoms into the codec: the Model they make, the least-squares amplitude re-solve that the
quantizer calls, and .ags files written from (and read back into) Atoms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from audio_gs.codec import compress
from audio_gs.codec.model import Gabor
from audio_gs.codec.quantize import AmplitudeSolver
from audio_gs.encoder.atoms import Atoms
from audio_gs.encoder.lstsq import solve_amplitudes

LS_ITERATIONS = 20  # conjugate-gradient iterations of the re-solve after quantization


def amplitude_solver(target, n_samples: int, sample_rate: int, n_channels: int = 1,
                     stereo_mode: str = "lr", norm=None) -> AmplitudeSolver:
    """A resolve_amplitudes callable for audio_gs.codec.quantize: least squares against target
    (model channels [C, N]) for atoms whose other parameters are already quantized (in the fit's
    weighted norm when one is given)."""
    tgt = torch.as_tensor(np.asarray(target.detach().cpu() if isinstance(target, torch.Tensor) else target),
                          dtype=torch.float64)

    def solve(moved: Gabor):
        atoms = Atoms.from_gabor(moved, sample_rate, n_channels, stereo_mode, dtype=torch.float64)
        solved = solve_amplitudes(atoms, tgt, n_samples, iterations=LS_ITERATIONS, norm=norm)
        return solved.amp_cos.numpy(), solved.amp_sin.numpy()

    return solve


def encode_atoms(atoms: Atoms, n_samples: int, *, bits_per_param: int = 8, bit_allocation: dict | None = None,
                 target=None, method: int | None = None) -> bytes:
    """.ags bytes of fitted atoms; with target (model channels) the amplitudes are re-solved after
    the other parameters are quantized."""
    solver = None if target is None else amplitude_solver(target, n_samples, atoms.sample_rate, atoms.n_channels,
                                                          atoms.stereo_mode)
    return compress.encode(atoms.to_model(n_samples), bits_per_param=bits_per_param, bit_allocation=bit_allocation,
                           resolve_amplitudes=solver, method=method)


def write_ags(path: str | Path, atoms: Atoms, n_samples: int, **options) -> int:
    """encode_atoms written to path atomically; returns the byte size."""
    from audio_gs.audio_io import atomic_write

    data = encode_atoms(atoms, n_samples, **options)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return len(data)


def read_atoms(path: str | Path) -> tuple[Atoms, int]:
    """(Atoms, n_samples) of an .ags file (float32, sorted by time)."""
    m = compress.read_ags(path)
    return Atoms.from_model(m), m.n_samples


def decode_atoms(data: bytes) -> tuple[Atoms, int]:
    """(Atoms, n_samples) of .ags bytes."""
    m = compress.decode(data)
    return Atoms.from_model(m), m.n_samples
