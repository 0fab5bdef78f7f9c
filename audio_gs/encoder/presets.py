"""Speed presets: named sets of config values applied over the config file and under the command-line
flags (audio_gs.encoder.config.resolve_config). They set how hard the encoder works, not what it
models: rates, channels, losses and the noise layer stay the config file's.

- fast: matching pursuit in rounds of 300 (larger at high rates: at most 20 rounds, and the rate
  control's added atoms in rounds of about that size) and least squares, no Adam steps on the tonal atoms; the
  rate control sizes the noise layer from its greedy start (no fit) and fits it once, for the kept
  atoms; windows of 10 s. About real time on two cores for 10 s of speech at 16 kbit/s
  (benchmarks/bench_encode.py presets).
- default: the config file as it is; only signals longer than 1.5 x 5 s are fitted in windows.
- best: a longer Adam run with error-guided adding, smaller matching-pursuit rounds.

Measured figures are in the README (Encoder at scale; benchmarks/bench_encode.py).
"""

from __future__ import annotations

from audio_gs.errors import AudioGSError

PRESETS: dict[str, dict] = {
    "fast": {
        "window_seconds": 10.0,
        "num_steps": 0,
        "adaptive_add": False,
        "init_fraction": 1.0,
        "add_gaussians_steps": [],
        "mp_atoms_per_round": 300,
        "mp_max_rounds": 20,
        "qat_steps": 0,
        "noise_steps": 150,
        "noise_estimate_steps": 0,
        "log_every": 50,
        "save_every": 0,
    },
    "default": {
        "window_seconds": 5.0,
    },
    "best": {
        "window_seconds": 5.0,
        "num_steps": 8000,
        "ls_every": 250,
        "adaptive_add": True,
        "init_fraction": 0.85,
        "add_gaussians_steps": [1500, 3000, 4500],
        "mp_atoms_per_round": 20,
    },
}


def preset_values(name: str) -> dict:
    """The config values of a preset (a copy); AudioGSError naming the choices for an unknown name."""
    if name not in PRESETS:
        raise AudioGSError(f"preset {name!r} is not one of {', '.join(PRESETS)}")
    return {k: (list(v) if isinstance(v, list) else v) for k, v in PRESETS[name].items()}
