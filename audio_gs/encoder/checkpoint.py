"""Checkpoint files (.pth): fitted atoms plus the signal length and the settings that made them.

A checkpoint is a torch.save'd dict: atoms (Atoms.state_dict), n_samples, config, step, and
optional extras (seconds of fitting so far, input_sha256 of the fitted signal, input_gain_db).
Loading validates every field before anything is built from it, so a damaged or hostile file is
one AudioGSError naming the checkpoint and the field, never a traceback, a huge allocation or NaN audio.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from audio_gs.audio_io import atomic_write
from audio_gs.codec.bitstream import MAX_ATOMS, MAX_SECONDS, SAMPLE_RATE_RANGE

MAX_RENDER_WORK = 1 << 34  # sample evaluations a checkpoint may ask for (a 10 s fit of 20,000 atoms needs ~2^31)
from audio_gs.codec.model import STEREO_MODES
from audio_gs.codec.render import render_work
from audio_gs.encoder.atoms import PARAM_NAMES, Atoms
from audio_gs.errors import AudioGSError

FLOAT_DTYPES = (torch.float32, torch.float64)
INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def save_checkpoint(path: str | Path, atoms: Atoms, n_samples: int, config: dict, step: int, **extra) -> Path:
    """Write atoms, n_samples, config, step and extra (plain values) to path atomically."""
    payload = {"atoms": atoms.state_dict(), "n_samples": int(n_samples), "config": dict(config), "step": int(step)}
    payload.update(extra)
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


class _Bad(Exception):
    """One invalid field: args (field, problem)."""


def _int(v, name: str, lo: int, hi: int) -> int:
    if isinstance(v, torch.Tensor) and v.ndim == 0 and not v.is_floating_point() and v.dtype != torch.bool:
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool):
        raise _Bad(name, f"expected an integer, got {type(v).__name__}")
    if not lo <= v <= hi:
        raise _Bad(name, f"{v} outside {lo}..{hi}")
    return v


def validate_payload(payload) -> None:
    """Raise _Bad(field, problem) unless payload is a checkpoint this package can use safely."""
    if not isinstance(payload, dict):
        raise _Bad("payload", f"expected a dict, got {type(payload).__name__}")
    for key in ("atoms", "n_samples", "step"):
        if key not in payload:
            raise _Bad(key, "missing")
    a = payload["atoms"]
    if not isinstance(a, dict):
        raise _Bad("atoms", f"expected a dict, got {type(a).__name__}")
    for key in ("sample_rate", "n_channels", "channel") + PARAM_NAMES:
        if key not in a:
            raise _Bad(f"atoms.{key}", "missing")
    sr = _int(a["sample_rate"], "atoms.sample_rate", *SAMPLE_RATE_RANGE)
    n_channels = _int(a["n_channels"], "atoms.n_channels", 1, 2)
    mode = a.get("stereo_mode", "lr")
    if mode not in STEREO_MODES:
        raise _Bad("atoms.stereo_mode", f"{mode!r} is not one of {', '.join(STEREO_MODES)}")
    if mode == "ms" and n_channels != 2:
        raise _Bad("atoms.stereo_mode", "mid/side needs 2 channels")
    n = _int(payload["n_samples"], "n_samples", 1, MAX_SECONDS * sr)
    _int(payload["step"], "step", 0, 1 << 62)
    if not isinstance(payload.get("config", {}), dict):
        raise _Bad("config", f"expected a dict, got {type(payload['config']).__name__}")
    k = None
    for key in PARAM_NAMES + ("channel",):
        t = a[key]
        if not isinstance(t, torch.Tensor):
            raise _Bad(f"atoms.{key}", f"expected a tensor, got {type(t).__name__}")
        if t.ndim != 1:
            raise _Bad(f"atoms.{key}", f"expected a 1-D tensor, got shape {tuple(t.shape)}")
        k = t.shape[0] if k is None else k
        if t.shape[0] != k:
            raise _Bad(f"atoms.{key}", f"{t.shape[0]} values, but atoms.time has {k}")
        allowed = INT_DTYPES if key == "channel" else FLOAT_DTYPES
        if t.dtype not in allowed:
            raise _Bad(f"atoms.{key}", f"dtype {t.dtype} (expected {', '.join(map(str, allowed))})")
        if key != "channel" and not bool(torch.isfinite(t).all()):
            raise _Bad(f"atoms.{key}", "non-finite values (NaN or infinity)")
    if k > MAX_ATOMS:
        raise _Bad("atoms", f"{k} atoms (at most {MAX_ATOMS})")
    ch = a["channel"]
    if k and (int(ch.min()) < 0 or int(ch.max()) >= n_channels):
        raise _Bad("atoms.channel", f"channel indices must be in 0..{n_channels - 1}")
    if k and (float(a["freq"].min()) < 0 or float(a["freq"].max()) > sr / 2):
        raise _Bad("atoms.freq", f"frequencies must be within 0..{sr / 2:g} Hz")
    work = render_work(a["log_sigma"].double().clamp(max=math.log(MAX_SECONDS)).numpy(), sr, n)
    if work > MAX_RENDER_WORK:
        raise _Bad("atoms.log_sigma", f"rendering would evaluate {work:.3g} samples (at most {MAX_RENDER_WORK:.3g})")


def load_checkpoint(path: str | Path) -> tuple[Atoms, int, dict]:
    """(atoms, n_samples, the whole checkpoint dict), after validating every field (AudioGSError
    naming the checkpoint and the field otherwise)."""
    path = Path(path)
    if not path.is_file():
        raise AudioGSError(f"checkpoint {path}: no such file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise AudioGSError(f"checkpoint {path}: not a valid audio_gs checkpoint ({type(exc).__name__})") from None
    try:
        validate_payload(payload)
    except _Bad as bad:
        field, problem = bad.args
        raise AudioGSError(f"checkpoint {path}: invalid {field}: {problem}") from None
    return Atoms.from_state_dict(payload["atoms"]), int(payload["n_samples"]), payload


# ---- resuming a fit ------------------------------------------------------------------------------
# Settings a resumed fit must share with its checkpoint: they define the signal or the model size.
RESUME_KEYS = ("sample_rate", "offset", "duration", "channels", "stereo_mode", "normalize", "headroom_db",
               "num_gaussians")
_CKPT_NAME = re.compile(r"checkpoint_(\d+)\.pth")


@dataclass
class Resume:
    """A checkpoint a fit can continue from: its atoms after `step` steps, the fitting seconds so far,
    and the settings that differ from the checkpoint's (allowed ones, as 'key old -> new')."""

    path: Path
    atoms: Atoms
    step: int
    seconds: float
    changed: list[str]


def latest_checkpoint(log_dir: str | Path) -> Path | None:
    """The checkpoint of a fit's log folder with the highest step: checkpoints/checkpoint_<step>.pth
    or final.pth (preferred on a tie, since its amplitudes are re-solved); None when there is none."""
    log_dir = Path(log_dir)
    found = [(int(m.group(1)), 0, p) for p in (log_dir / "checkpoints").glob("checkpoint_*.pth")
             if (m := _CKPT_NAME.fullmatch(p.name)) and p.is_file()]
    final = log_dir / "final.pth"
    if final.is_file():
        _, _, payload = load_checkpoint(final)
        found.append((int(payload["step"]), 1, final))
    return max(found, key=lambda f: f[:2])[2] if found else None


def find_resume(log_dir: str | Path, cfg: dict, n_samples: int, input_sha256: str) -> Resume:
    """The latest checkpoint in log_dir, checked to continue the fit cfg describes on the input of
    n_samples samples with digest input_sha256; AudioGSError (one line) when it cannot."""
    path = latest_checkpoint(log_dir)
    if path is None:
        raise AudioGSError(f"--resume: no checkpoint in {log_dir} (checkpoints/checkpoint_*.pth or final.pth)")
    atoms, n, payload = load_checkpoint(path)
    saved = payload.get("config", {})
    for key in RESUME_KEYS:
        if key in saved and saved[key] != cfg.get(key):
            raise AudioGSError(f"--resume: {path} was fitted with {key}={saved[key]!r}, not {cfg.get(key)!r} "
                               "(start a new fit in another --log_dir)")
    digest = payload.get("input_sha256")
    if n != n_samples or (digest is not None and digest != input_sha256):
        raise AudioGSError(f"--resume: {path} was fitted to other audio than {cfg.get('input_path')} "
                           "(start a new fit in another --log_dir)")
    step = int(payload["step"])
    if step > cfg["num_steps"]:
        raise AudioGSError(f"--resume: {path} is at step {step}, past num_steps={cfg['num_steps']}")
    changed = [f"{k} {saved[k]!r} -> {cfg[k]!r}" for k in sorted(saved) if k in cfg and saved[k] != cfg[k]]
    seconds = payload.get("seconds", 0.0)
    seconds = float(seconds) if isinstance(seconds, (int, float)) and math.isfinite(seconds) else 0.0
    return Resume(path=path, atoms=atoms, step=step, seconds=seconds, changed=changed)
