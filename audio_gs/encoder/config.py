"""Fit configuration: defaults < YAML config file < command-line flags, merged in one place."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from audio_gs.codec.bitstream import MAX_ATOMS, SAMPLE_RATE_RANGE
from audio_gs.codec.quantize import ALLOWED_BITS
from audio_gs.errors import AudioGSError

LOSS_TYPES = ("l2", "l1", "spectral", "masked", "segmental")  # audio_gs.encoder.losses.make_loss

DEFAULTS: dict = {
    # what to fit
    "input_path": None,
    "sample_rate": None,  # Hz; None keeps the file's rate
    "offset": 0.0,  # seconds into the file
    "duration": None,  # seconds; None = to the end
    "channels": "keep",  # keep | mono | stereo
    "stereo_mode": "lr",  # lr (per channel) | ms (mid/side)
    "normalize": False,  # peak-normalise the input to -headroom_db dBFS (the gain is reported)
    "headroom_db": 1.0,  # dB below full scale for normalize
    # model size and initialisation
    "num_gaussians": 500,
    "init_method": "mp",  # mp | peaks | random | uniform
    "init_fraction": 1.0,  # share of num_gaussians placed by the init (the rest by adaptive_add)
    "scales_ms": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],  # atom widths (sigma) the init searches
    "mp_atoms_per_round": 40,
    "mp_max_rounds": 0,  # matching pursuit places its atoms in at most this many rounds (larger rounds; 0 = no cap)
    # optimisation
    "num_steps": 5000,
    "lr": 0.01,
    "lr_final_ratio": 0.1,  # cosine decay of the learning rate to this share of lr
    "loss_type": "l2",  # l2 | l1 | spectral | masked | segmental
    "masking_exponent": 0.5,  # masked / segmental loss: error weighted by (smoothed target power / frame power) ** -this
    "perceptual_weight": 0.0,  # weight of the log-mel term
    "ls_every": 250,  # re-solve amplitudes by least squares every N steps (0 = never)
    "adaptive_add": False,
    "add_gaussians_steps": [],  # steps at which atoms are added where the residual is largest
    "prune_db": -70.0,  # atoms whose energy is below this (dB re. the signal) are pruned at add steps
    "min_sigma_ms": 0.25,
    "max_sigma_ms": 250.0,
    "seed": 0,
    "device": "cpu",
    # logging
    "log_every": 50,
    "save_every": 1000,
    "render_backend": "auto",
    # bitstream
    "quantize": False,
    "bits_per_param": 8,
    "bit_allocation": None,  # optional {param kind: bits}
    "qat_steps": 200,  # quantization-aware fine-tuning steps
    # perceptual codec: noise Gaussians and rate control
    "noise_per_second": 0.0,  # noise Gaussians per second of audio fitted to the tonal residual (0 = none)
    "noise_steps": 400,  # Adam steps of the noise fit
    "noise_estimate_steps": None,  # steps of the rate control's first noise fit, which only sizes the layer (None: noise_steps)
    "noise_gain_db": -3.0,  # the noise layer's energy relative to the hole it fills
    "noise_bands_per_erb": 2.0,  # frequency resolution of the noise fit's target
    "noise_smooth_frames": 1.5,  # time smoothing of the noise fit's target (Gaussian sigma, noise-grid hops)
    "noise_env_weight": 0.0,  # weight of the noise fit's envelope term (single frames, 4-ERB bands)
    "noise_gate": True,  # the decoder removes the noise where the tonal part carries the cell (.ags version 6)
    "envelope_ms": 0.0,  # noise envelope: a gain on the noise above envelope_hz every this many ms (0 = none)
    "envelope_hz": 4000.0,  # its band edge (Hz)
    "envelope_gain_db": 0.0,  # the band's energy it aims at, relative to what the tonal part leaves of the original's
    "envelope_step_db": 3.0,  # its quantizer step (dB)
    "noise_max_erb": 12.0,  # widest noise Gaussian the fit's steps allow (frequency sigma, ERB)
    "noise_min_ms": 2.0,  # shortest noise Gaussian (time sigma, ms): below ~5 ms a wide one is a click
    "tonal_max_hz": None,  # no tonal atom above this frequency (Hz): the noise Gaussians carry the band above
    "kbps": None,  # target bitrate: choose the number of atoms so that the .ags file lands on it
    "importance_exponent": 0.5,  # rate control drops atoms by energy / local level ** this
    "rate_surplus": 0.08,  # atoms fitted beyond the estimate, for the rate control to choose from
    # speed and scale (audio_gs.encoder.presets, audio_gs.encoder.windows)
    "preset": None,  # fast | default | best: speed/quality settings applied over the config file
    "window_seconds": 0.0,  # fit signals longer than 1.5 x this in windows of about this length (0 = never)
    "jobs": 1,  # processes fitting windows at once (the result does not depend on it)
    "rate_scope": "window",  # windowed rate control: every window keeps its share of the bits, or "file"
}

CHOICES = {
    "channels": ("keep", "mono", "stereo"),
    "stereo_mode": ("lr", "ms"),
    "init_method": ("mp", "peaks", "random", "uniform"),
    "loss_type": LOSS_TYPES,
    "bits_per_param": tuple(ALLOWED_BITS),
    "render_backend": ("auto", "fast", "reference"),
    "rate_scope": ("window", "file"),
}


def load_config_file(path: str | Path) -> dict:
    """Read a YAML mapping of config keys; unknown keys are an error."""
    path = Path(path)
    if not path.is_file():
        raise AudioGSError(f"config {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise AudioGSError(f"config {path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise AudioGSError(f"config {path}: expected a mapping of keys to values")
    return data


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def validate(cfg: dict) -> dict:
    """cfg itself when every key is known and every value usable; else AudioGSError naming the key."""
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise AudioGSError(f"unknown config key(s): {', '.join(unknown)}")
    for key, allowed in CHOICES.items():
        if cfg[key] not in allowed:
            raise AudioGSError(f"config {key}={cfg[key]!r} is not one of {', '.join(map(str, allowed))}")
    if not _is_int(cfg["num_gaussians"]) or not 1 <= cfg["num_gaussians"] <= MAX_ATOMS:
        raise AudioGSError(f"config num_gaussians must be an integer from 1 to {MAX_ATOMS} (the .ags limit)")
    if not _is_int(cfg["num_steps"]) or cfg["num_steps"] < 0:
        raise AudioGSError("config num_steps must be a non-negative integer")
    for key, least in (("log_every", 1), ("save_every", 0), ("ls_every", 0), ("qat_steps", 0),
                       ("mp_atoms_per_round", 1), ("mp_max_rounds", 0), ("jobs", 1),
                       ("noise_steps", 0)):
        if not _is_int(cfg[key]) or cfg[key] < least:
            raise AudioGSError(f"config {key} must be an integer >= {least}")
    if not (_is_number(cfg["lr"]) and cfg["lr"] > 0):
        raise AudioGSError("config lr must be a positive number")
    if not (_is_number(cfg["init_fraction"]) and 0 < cfg["init_fraction"] <= 1):
        raise AudioGSError("config init_fraction must be in (0, 1]")
    lo, hi = SAMPLE_RATE_RANGE
    if cfg["sample_rate"] is not None and (not _is_int(cfg["sample_rate"]) or not lo <= cfg["sample_rate"] <= hi):
        raise AudioGSError(f"config sample_rate must be an integer from {lo} to {hi} Hz (the .ags range)")
    if not isinstance(cfg["normalize"], bool):
        raise AudioGSError("config normalize must be true or false")
    if not (_is_number(cfg["headroom_db"]) and 0 <= cfg["headroom_db"] <= 60):
        raise AudioGSError("config headroom_db must be a number from 0 to 60 (dB below full scale)")
    if cfg["kbps"] is not None and not (_is_number(cfg["kbps"]) and 0.5 <= cfg["kbps"] <= 1000):
        raise AudioGSError("config kbps must be a number of kbit/s from 0.5 to 1000")
    if cfg["tonal_max_hz"] is not None and not (_is_number(cfg["tonal_max_hz"]) and cfg["tonal_max_hz"] > 0):
        raise AudioGSError("config tonal_max_hz must be a positive frequency in Hz (or null for none)")
    if not (_is_number(cfg["noise_per_second"]) and 0 <= cfg["noise_per_second"] <= 1000):
        raise AudioGSError("config noise_per_second must be a number from 0 to 1000")
    if cfg["noise_estimate_steps"] is not None and not (_is_int(cfg["noise_estimate_steps"])
                                                        and cfg["noise_estimate_steps"] >= 0):
        raise AudioGSError("config noise_estimate_steps must be an integer >= 0 (or null: noise_steps)")
    if not (_is_number(cfg["noise_smooth_frames"]) and 0 <= cfg["noise_smooth_frames"] <= 16):
        raise AudioGSError("config noise_smooth_frames must be a number of frames from 0 to 16")
    if not (_is_number(cfg["noise_env_weight"]) and 0 <= cfg["noise_env_weight"] <= 10):
        raise AudioGSError("config noise_env_weight must be a number from 0 to 10")
    if not isinstance(cfg["noise_gate"], bool):
        raise AudioGSError("config noise_gate must be true or false")
    if not (_is_number(cfg["envelope_ms"]) and (cfg["envelope_ms"] == 0 or 1 <= cfg["envelope_ms"] <= 1000)):
        raise AudioGSError("config envelope_ms must be 0 (no noise envelope) or a number of milliseconds from 1 to 1000")
    if not (_is_number(cfg["envelope_hz"]) and cfg["envelope_hz"] >= 0):
        raise AudioGSError("config envelope_hz must be a frequency in Hz >= 0")
    if not (_is_number(cfg["envelope_gain_db"]) and -30 <= cfg["envelope_gain_db"] <= 12):
        raise AudioGSError("config envelope_gain_db must be a number of dB from -30 to 12")
    if not (_is_number(cfg["envelope_step_db"]) and 0.25 <= cfg["envelope_step_db"] <= 12):
        raise AudioGSError("config envelope_step_db must be a number of dB from 0.25 to 12")
    if not (_is_number(cfg["noise_max_erb"]) and 0.5 <= cfg["noise_max_erb"] <= 40):
        raise AudioGSError("config noise_max_erb must be a number of ERB from 0.5 to 40")
    if not (_is_number(cfg["noise_min_ms"]) and 0.5 <= cfg["noise_min_ms"] <= 100):
        raise AudioGSError("config noise_min_ms must be a number of milliseconds from 0.5 to 100")
    if not (_is_number(cfg["window_seconds"]) and 0 <= cfg["window_seconds"] <= 3600):
        raise AudioGSError("config window_seconds must be a number of seconds from 0 (no windows) to 3600")
    if cfg["preset"] is not None:
        from audio_gs.encoder.presets import preset_values

        preset_values(cfg["preset"])  # names the choices when the preset is unknown
    if str(cfg.get("device") or "cpu") != "cpu":
        fit_device(cfg)  # a device this machine cannot use is refused before any work (cpu needs no torch here)
    steps = cfg["add_gaussians_steps"]
    if not isinstance(steps, list) or not all(_is_int(s) and s >= 0 for s in steps):
        raise AudioGSError("config add_gaussians_steps must be a list of non-negative step numbers")
    return cfg


def fit_device(cfg: dict):
    """The torch device of cfg["device"] ("cpu", "cuda", "cuda:1", ...); AudioGSError when it is unusable here."""
    import torch

    name = str(cfg.get("device") or "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise AudioGSError(f"device '{name}' is not a torch device (cpu, cuda, cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AudioGSError(f"device '{name}': CUDA is not available (torch {torch.__version__}, no usable GPU)")
    if device.type not in ("cpu", "cuda"):
        raise AudioGSError(f"device '{name}': only cpu and cuda are supported")
    return device


def resolve_config(config_path: str | Path | None = None, overrides: dict | None = None) -> dict:
    """defaults < config file < preset < overrides (None values in overrides mean 'not given'). The
    preset (audio_gs.encoder.presets) is named by overrides["preset"] or else the config file's."""
    cfg = copy.deepcopy(DEFAULTS)
    if config_path:
        cfg.update(load_config_file(config_path))
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    name = given.get("preset", cfg.get("preset"))
    if name is not None:
        from audio_gs.encoder.presets import preset_values

        cfg.update(preset_values(name))
        cfg["preset"] = name
    cfg.update(given)
    return validate(cfg)


def dump_config(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=True)
