"""Checkpoint files (.pth): fitted atoms plus the signal length and the settings that made them."""

from __future__ import annotations

from pathlib import Path

import torch

from audio_gs.encoder.atoms import Atoms
from audio_gs.audio_io import atomic_write
from audio_gs.errors import AudioGSError


def save_checkpoint(path: str | Path, atoms: Atoms, n_samples: int, config: dict, step: int, **extra) -> Path:
    payload = {"atoms": atoms.state_dict(), "n_samples": int(n_samples), "config": dict(config), "step": int(step)}
    payload.update(extra)
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | Path) -> tuple[Atoms, int, dict]:
    """(atoms, n_samples, the whole checkpoint dict)."""
    path = Path(path)
    if not path.is_file():
        raise AudioGSError(f"checkpoint {path}: no such file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        atoms = Atoms.from_state_dict(payload["atoms"])
        return atoms, int(payload["n_samples"]), payload
    except Exception as exc:
        raise AudioGSError(f"checkpoint {path}: not a valid audio_gs checkpoint ({type(exc).__name__})") from None
