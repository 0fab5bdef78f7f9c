"""What the `audio-gs` commands share: the fit flags, the config they resolve to, the compression
summary. Imports nothing heavy (argparse only), so `decode` and `info` start fast."""

from __future__ import annotations

import argparse
import math
import sys

from audio_gs.errors import AudioGSError

BITS_HELP = "quantizer bits per parameter, 2-16 (default 8; 6 is smaller, 16 near lossless)"

FIT_FLAGS = {  # flag -> (type, help); both --snake_case and --dashed-case spellings are accepted
    "config": (str, "YAML config file (params/configs/*.yaml); flags override its values"),
    "preset": (str, "fast | default | best: how hard the encoder works (applied over --config; flags override "
                    "it; see the README, Encoder at scale)"),
    "jobs": (int, "processes fitting windows of a long signal at once (default 1; the result is the same)"),
    "window_seconds": (float, "fit signals longer than 1.5 x this many seconds in overlapping windows of about "
                              "this length (0 = never)"),
    "device": (str, "where the fit's gradient steps run: cpu (default), cuda, cuda:N"),
    "num_gaussians": (int, "number of tonal Gaussians (default 500; --kbps chooses it instead)"),
    "kbps": (float, "target bitrate in kbit/s: the encoder picks the number of Gaussians so that the .ags "
                    "file lands within 5 %% of it"),
    "noise_per_second": (float, "noise Gaussians per second fitted to the tonal residual (0 = none)"),
    "num_steps": (int, "optimisation steps (default 5000)"),
    "lr": (float, "Adam learning rate (default 0.01)"),
    "init_method": (str, "mp | peaks | random | uniform (default mp: matching pursuit)"),
    "loss_type": (str, "l2 | l1 | spectral | masked | segmental (default l2; masked: L2 weighted by the "
                       "inverse smoothed target power; segmental: by each frame's power ** -masking_exponent)"),
    "perceptual_weight": (float, "weight of the log-mel loss term (default 0)"),
    "add_gaussians_steps": (int, "steps at which atoms are added where the residual is largest"),
    "sample_rate": (int, "resample the input to this rate (Hz)"),
    "offset": (float, "start of the excerpt in seconds"),
    "duration": (float, "length of the excerpt in seconds"),
    "channels": (str, "keep | mono | stereo"),
    "stereo_mode": (str, "lr (per channel) | ms (mid/side)"),
    "headroom_db": (float, "with --normalize: the input's peak is set this many dB below full scale (default 1)"),
    "seed": (int, "random seed (default 0)"),
    "bits_per_param": (int, BITS_HELP),
    "qat_steps": (int, "quantization-aware fine-tuning steps with --quantize (default 200)"),
    "log_every": (int, "log every N steps"),
    "save_every": (int, "write a checkpoint every N steps"),
}


def dashed(name: str) -> list[str]:
    """--snake_case and --dashed-case spellings of a flag."""
    flags = [f"--{name}"]
    if "_" in name:
        flags.append(f"--{name.replace('_', '-')}")
    return flags


def add_fit_arguments(p: argparse.ArgumentParser) -> None:
    """Fit options shared by `fit` and `encode` (values left None fall back to config/defaults)."""
    for name, (typ, help_) in FIT_FLAGS.items():
        if name == "add_gaussians_steps":
            p.add_argument(*dashed(name), dest=name, type=typ, nargs="+", default=None, help=help_)
        else:
            p.add_argument(*dashed(name), dest=name, type=typ, default=None, help=help_)
    p.add_argument(*dashed("adaptive_add"), dest="adaptive_add", action="store_true", default=None,
                   help="add Gaussians during fitting (at --add_gaussians_steps) and prune negligible ones")
    p.add_argument(*dashed("quantize"), dest="quantize", action="store_true", default=None,
                   help="quantization-aware fine-tuning before writing the .ags file")
    p.add_argument(*dashed("normalize"), dest="normalize", action="store_true", default=None,
                   help="peak-normalise the input to -headroom_db dBFS before fitting (inputs beyond full scale "
                        "would clip when decoded); the gain is printed and written to the summary, and the "
                        "decoded audio keeps it")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> dict:
    """defaults < --config file < flags."""
    from audio_gs.encoder.config import DEFAULTS, resolve_config

    overrides = {k: getattr(args, k) for k in DEFAULTS if hasattr(args, k)}
    return resolve_config(getattr(args, "config", None), overrides)


def warn(message: str) -> None:
    """One warning line on stderr."""
    print(f"audio-gs: warning: {message}", file=sys.stderr)


def dbfs(peak: float) -> str:
    return f"{20 * math.log10(peak):+.1f} dBFS" if peak > 0 else "-inf dBFS"


def report_input(inp, cfg: dict) -> None:
    """Say what --normalize did to the input (inp: audio_gs.encoder.fit.FitInput), or warn when the
    input has samples beyond full scale, which the decoded audio cannot hold."""
    name = cfg["input_path"]
    if cfg.get("normalize"):
        print(f"normalised {name}: peak {dbfs(inp.peak)} -> {dbfs(inp.peak * 10 ** (inp.gain_db / 20))} "
              f"(gain {inp.gain_db:+.2f} dB)")
    elif inp.clipped > 0:
        warn(f"{name}: {100 * inp.clipped:.3g} % of samples are beyond full scale [-1, 1] (peak {dbfs(inp.peak)}); "
             "they will clip when decoded (--normalize scales the input to fit)")


def warn_if_clipped(x, name: str) -> None:
    """Warn when audio written to name has samples beyond full scale (clipped in the file)."""
    from audio_gs.audio_io import clipping

    share, peak = clipping(x)
    if share > 0:
        warn(f"{name}: {100 * share:.3g} % of samples are beyond full scale and were clipped (peak {dbfs(peak)})")


def compression_summary(n_samples: int, n_channels: int, sample_rate: int, n_bytes: int, snr: float) -> str:
    """The lines printed after an encode: PCM size, .ags size, ratio, bitrate, SNR."""
    pcm = n_samples * n_channels * 2
    seconds = n_samples / sample_rate
    return "\n".join([
        "compression summary",
        f"  original size (16-bit PCM): {pcm:,} bytes",
        f"  compressed size (.ags file): {n_bytes:,} bytes",
        f"  compression ratio: {pcm / max(n_bytes, 1):.1f}x",
        f"  bitrate: {n_bytes * 8 / seconds / 1000:.2f} kbps",
        f"  SNR: {snr:.2f} dB",
    ])


__all__ = ["AudioGSError", "FIT_FLAGS", "add_fit_arguments", "compression_summary", "config_from_args", "dashed",
           "report_input", "warn", "warn_if_clipped"]
