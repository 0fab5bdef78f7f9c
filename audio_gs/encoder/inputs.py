"""The signal a fit config describes, loaded and checked before any fitting: numpy only (no torch),
so that an input the .ags format cannot hold is refused in the time it takes to read it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from audio_gs.audio_io import clipping, load_audio, require_audible
from audio_gs.codec.bitstream import MAX_SECONDS, SAMPLE_RATE_RANGE
from audio_gs.errors import AudioGSError


@dataclass
class FitInput:
    """The signal to fit, as loaded for a config: x float32 [channels, samples] at sample_rate Hz,
    after any gain. peak and clipped describe the signal before the gain (peak |x|, share of
    samples beyond [-1, 1]); gain_db is what normalize applied (0 without it)."""

    x: np.ndarray
    sample_rate: int
    peak: float
    clipped: float
    gain_db: float = 0.0

    @property
    def sha256(self) -> str:
        """Digest of the samples and rate, to recognise the same input when resuming."""
        h = hashlib.sha256(np.ascontiguousarray(self.x, np.float32).tobytes())
        h.update(f"{self.x.shape}@{self.sample_rate}".encode())
        return h.hexdigest()


def check_fittable(x: np.ndarray, sample_rate: int, name: str = "input") -> None:
    """AudioGSError unless the .ags format can hold x [channels, samples] at sample_rate Hz:
    rate within SAMPLE_RATE_RANGE, 1 or 2 channels, at most MAX_SECONDS long."""
    lo, hi = SAMPLE_RATE_RANGE
    if not lo <= sample_rate <= hi:
        raise AudioGSError(f"{name}: sample rate {sample_rate} Hz is outside the {lo}-{hi} Hz an .ags file holds "
                           f"(resample with --sample_rate)")
    if x.shape[0] > 2:
        raise AudioGSError(f"{name}: {x.shape[0]} channels; an .ags file holds 1 or 2 "
                           f"(mix down with --channels mono)")
    if x.shape[1] > MAX_SECONDS * sample_rate:
        raise AudioGSError(f"{name}: {x.shape[1] / sample_rate:.0f} s is longer than the {MAX_SECONDS} s an .ags file "
                           f"holds (cut an excerpt with --offset/--duration)")


def peak_normalize(x: np.ndarray, headroom_db: float) -> tuple[np.ndarray, float]:
    """x scaled so its peak is at -headroom_db dBFS, and the gain applied (dB)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0:
        return x, 0.0
    gain = 10 ** (-headroom_db / 20) / peak
    return (x * np.float32(gain)).astype(np.float32), float(20 * np.log10(gain))


def load_input(cfg: dict) -> FitInput:
    """The signal a config describes (input_path, excerpt, channels, rate, normalize), checked to be
    something an .ags file can hold and not silent; AudioGSError otherwise, before any fitting."""
    x, sr = load_audio(cfg["input_path"], sample_rate=cfg["sample_rate"], offset=cfg["offset"],
                       duration=cfg["duration"], channels=cfg["channels"])
    check_fittable(x, sr, cfg["input_path"])
    require_audible(x, cfg["input_path"])
    clipped, peak = clipping(x)
    gain_db = 0.0
    if cfg.get("normalize"):
        x, gain_db = peak_normalize(x, float(cfg["headroom_db"]))
    return FitInput(x=x, sample_rate=sr, peak=peak, clipped=clipped, gain_db=gain_db)


def load_target(cfg: dict) -> tuple[np.ndarray, int]:
    """(x [channels, samples], rate) of load_input(cfg)."""
    inp = load_input(cfg)
    return inp.x, inp.sample_rate
