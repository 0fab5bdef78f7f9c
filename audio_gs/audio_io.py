"""Reading and writing audio: WAV, FLAC, OGG, MP3 through soundfile, M4A/AAC through PyAV.

Signals are float32 arrays of shape [channels, samples] in [-1, 1].
"""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf

from audio_gs.errors import AudioGSError

SOUNDFILE_EXTS = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif"}
PYAV_EXTS = {".m4a", ".aac", ".mp4", ".opus", ".webm"}
SUPPORTED_EXTS = SOUNDFILE_EXTS | PYAV_EXTS


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return data.T.copy(), int(sr)


def _read_pyav(path: Path) -> tuple[np.ndarray, int]:
    import av

    chunks = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise AudioGSError(f"{path}: no audio stream")
        stream = container.streams.audio[0]
        sr = int(stream.rate or stream.codec_context.sample_rate)
        n_ch = stream.codec_context.channels
        resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=sr)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(n_ch, -1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(n_ch, -1))
    if not chunks:
        return np.zeros((n_ch, 0), np.float32), sr
    return np.concatenate(chunks, axis=1).astype(np.float32), sr


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling of [channels, samples] from sr_in to sr_out (Hz)."""
    if sr_in == sr_out:
        return x
    from scipy.signal import resample_poly

    frac = Fraction(sr_out, sr_in).limit_denominator(1000)
    return resample_poly(x, frac.numerator, frac.denominator, axis=-1).astype(np.float32)


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    offset: float = 0.0,
    duration: float | None = None,
    channels: str = "keep",
) -> tuple[np.ndarray, int]:
    """Decode an audio file to float32 [channels, samples] and its rate (Hz).

    sample_rate resamples when given; offset/duration (seconds) cut an excerpt;
    channels is "keep", "mono" (mean of channels) or "stereo" (mono is duplicated).
    Raises AudioGSError for a missing, empty, corrupt or unsupported file.
    """
    path = Path(path)
    if not (np.isfinite(offset) and offset >= 0):
        raise AudioGSError(f"{path}: offset must be a non-negative number of seconds, got {offset}")
    if duration is not None and not (np.isfinite(duration) and duration > 0):
        raise AudioGSError(f"{path}: duration must be a positive number of seconds, got {duration}")
    if not path.exists():
        raise AudioGSError(f"{path}: no such file")
    if path.is_dir():
        raise AudioGSError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioGSError(f"{path}: file is empty")
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTS:
        raise AudioGSError(
            f"{path}: unsupported format '{ext or '(none)'}' (supported: {', '.join(sorted(SUPPORTED_EXTS))})"
        )
    try:
        x, sr = _read_pyav(path) if ext in PYAV_EXTS else _read_soundfile(path)
    except AudioGSError:
        raise
    except Exception as exc:  # libsndfile / FFmpeg report corrupt data in many ways
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioGSError(f"{path}: cannot decode audio ({msg})") from None
    if x.shape[1] == 0:
        raise AudioGSError(f"{path}: contains no audio samples")
    if not np.all(np.isfinite(x)):
        raise AudioGSError(f"{path}: contains non-finite samples")
    start = int(round(offset * sr))
    if start >= x.shape[1]:
        raise AudioGSError(f"{path}: offset {offset}s is past the end ({x.shape[1] / sr:.2f}s)")
    stop = x.shape[1] if duration is None else min(x.shape[1], start + int(round(duration * sr)))
    x = x[:, start:stop]
    if x.shape[1] == 0:
        raise AudioGSError(f"{path}: the excerpt ({duration} s from {offset} s) holds no samples")
    if channels == "mono" and x.shape[0] > 1:
        x = x.mean(axis=0, keepdims=True)
    elif channels == "stereo" and x.shape[0] == 1:
        x = np.repeat(x, 2, axis=0)
    elif channels not in ("keep", "mono", "stereo"):
        raise AudioGSError(f"unknown channels option '{channels}' (keep, mono, stereo)")
    if sample_rate is not None and sample_rate != sr:
        x = resample(x, sr, int(sample_rate))
        sr = int(sample_rate)
    return np.ascontiguousarray(x, dtype=np.float32), sr


def require_audible(x: np.ndarray, path: str | os.PathLike = "input", floor_db: float = -90.0) -> None:
    """Raise AudioGSError when the signal is silent (RMS below floor_db dBFS)."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    if rms <= 10 ** (floor_db / 20):
        raise AudioGSError(f"{path}: signal is silent (RMS below {floor_db:.0f} dBFS), nothing to fit")


def clipping(x: np.ndarray) -> tuple[float, float]:
    """(share of samples beyond full scale [-1, 1], peak |x|) of a signal; (0, 0) when empty."""
    x = np.asarray(x)
    if x.size == 0:
        return 0.0, 0.0
    a = np.abs(x)
    return float(np.count_nonzero(a > 1.0)) / a.size, float(a.max())


def atomic_write(path: str | os.PathLike, write_fn, suffix: str | None = None) -> Path:
    """Call write_fn(tmp_path) on a temporary file beside path, then rename it onto path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix)
    os.close(fd)
    try:
        write_fn(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_audio(path: str | os.PathLike, x: np.ndarray, sample_rate: int, subtype: str | None = None) -> Path:
    """Write float [channels, samples] audio atomically; format from the extension (WAV 16-bit by default)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    clipped = np.clip(x, -1.0, 1.0).T
    ext = Path(path).suffix.lower()
    if subtype is None and ext == ".wav":
        subtype = "PCM_16"

    def _write(tmp: Path) -> None:
        sf.write(str(tmp), clipped, int(sample_rate), subtype=subtype, format=ext.lstrip(".").upper() if ext in (".wav", ".flac", ".ogg") else None)

    return atomic_write(path, _write)
