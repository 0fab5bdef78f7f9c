"""Reading and writing audio: WAV, FLAC, OGG, MP3 through soundfile, M4A/AAC through PyAV.

Signals are float32 arrays of shape [channels, samples] in [-1, 1].
"""

from __future__ import annotations

import math
import os
import secrets
from fractions import Fraction
from pathlib import Path

import numpy as np

from audio_gs.errors import AudioGSError

SOUNDFILE_EXTS = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif"}
PYAV_EXTS = {".m4a", ".aac", ".mp4", ".opus", ".webm"}
SUPPORTED_EXTS = SOUNDFILE_EXTS | PYAV_EXTS


MAX_ABS_SAMPLE = 1e4  # a float file's full scale is +-1; beyond this (80 dB over) it is not audio
MIN_RATE, MAX_RATE = 1000, 768000  # Hz accepted for resampling
EXACT_SEEK_FORMATS = {"WAV", "WAVEX", "RF64", "W64", "FLAC", "OGG", "AIFF"}  # libsndfile seeks these exactly


def _excerpt_frames(sr: int, offset: float, duration: float | None) -> tuple[int, int | None]:
    """[start, stop) in frames of the excerpt at rate sr; stop None = to the end."""
    start = int(round(offset * sr))
    return start, None if duration is None else start + int(round(duration * sr))


def _past_end(path: Path, offset: float, frames: int, sr: int) -> AudioGSError:
    return AudioGSError(f"{path}: offset {offset}s is past the end ({frames / sr:.2f}s)")


def _read_soundfile(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    """Decode only the excerpt: seek to its start and read its frames (libsndfile)."""
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        sr = int(f.samplerate)
        start, stop = _excerpt_frames(sr, offset, duration)
        if f.frames == 0:
            return np.zeros((f.channels, 0), np.float32), sr
        if start >= f.frames:
            raise _past_end(path, offset, f.frames, sr)
        n = -1 if stop is None else stop - start
        if f.format in EXACT_SEEK_FORMATS:
            if start:
                f.seek(start)
            data = f.read(n, dtype="float32", always_2d=True)
        else:  # libsndfile 1.2's MP3 seek and chunked reads give wrong samples; one read from 0 is exact
            data = f.read(-1 if stop is None else stop, dtype="float32", always_2d=True)[start:]
    return data.T.copy(), sr


def _read_pyav(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    """Decode from the start up to the end of the excerpt only (FFmpeg through PyAV)."""
    import av

    chunks = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise AudioGSError(f"{path}: no audio stream")
        stream = container.streams.audio[0]
        sr = int(stream.rate or stream.codec_context.sample_rate)
        n_ch = stream.codec_context.channels
        start, stop = _excerpt_frames(sr, offset, duration)
        resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=sr)
        pos = 0  # frames decoded so far

        def keep(out) -> None:
            nonlocal pos
            a = out.to_ndarray().reshape(n_ch, -1)
            lo, hi = max(0, start - pos), a.shape[1] if stop is None else max(0, stop - pos)
            if hi > lo:
                chunks.append(a[:, lo:hi])
            pos += a.shape[1]

        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                keep(out)
            if stop is not None and pos >= stop:
                break
        else:
            for out in resampler.resample(None):
                keep(out)
    if pos > 0 and start >= pos:
        raise _past_end(path, offset, pos, sr)
    if not chunks:
        return np.zeros((n_ch, 0), np.float32), sr
    return np.concatenate(chunks, axis=1).astype(np.float32), sr


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling of [channels, samples] from sr_in to sr_out (Hz)."""
    if sr_in == sr_out:
        return x
    from scipy.signal import resample_poly

    frac = Fraction(sr_out, sr_in).limit_denominator(1000)
    if frac.numerator == 0:
        raise AudioGSError(f"cannot resample from {sr_in} Hz to {sr_out} Hz")
    return resample_poly(x, frac.numerator, frac.denominator, axis=-1).astype(np.float32)


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    offset: float = 0.0,
    duration: float | None = None,
    channels: str = "keep",
) -> tuple[np.ndarray, int]:
    """Decode an audio file to float32 [channels, samples] and its rate (Hz).

    sample_rate resamples when given; offset/duration (seconds) cut an excerpt, and only the excerpt
    is decoded (a long file is not read whole); channels is "keep", "mono" (mean of channels) or
    "stereo" (mono is duplicated). Raises AudioGSError for a missing, empty, corrupt or unsupported
    file, bad options, non-finite samples, or samples beyond +-MAX_ABS_SAMPLE.
    """
    path = Path(path)
    if channels not in ("keep", "mono", "stereo"):
        raise AudioGSError(f"unknown channels option '{channels}' (keep, mono, stereo)")
    if not (math.isfinite(offset) and offset >= 0):
        raise AudioGSError(f"{path}: offset must be a finite number of seconds >= 0, not {offset}")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise AudioGSError(f"{path}: duration must be a finite number of seconds > 0, not {duration}")
    if sample_rate is not None and not (MIN_RATE <= sample_rate <= MAX_RATE):
        raise AudioGSError(f"{path}: sample rate must be {MIN_RATE}-{MAX_RATE} Hz, not {sample_rate}")
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
        read = _read_pyav if ext in PYAV_EXTS else _read_soundfile
        x, sr = read(path, float(offset), None if duration is None else float(duration))
    except AudioGSError:
        raise
    except Exception as exc:  # libsndfile / FFmpeg report corrupt data in many ways
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioGSError(f"{path}: cannot decode audio ({msg})") from None
    if x.shape[1] == 0:
        raise AudioGSError(f"{path}: contains no audio samples")
    if not np.all(np.isfinite(x)):
        raise AudioGSError(f"{path}: contains non-finite samples")
    peak = float(np.max(np.abs(x)))
    if peak > MAX_ABS_SAMPLE:
        raise AudioGSError(f"{path}: samples reach {peak:.3g}, far outside full scale (+-1); "
                           f"refused above +-{MAX_ABS_SAMPLE:g}")
    if channels == "mono" and x.shape[0] > 1:
        x = x.mean(axis=0, keepdims=True, dtype=np.float64)
    elif channels == "stereo" and x.shape[0] == 1:
        x = np.repeat(x, 2, axis=0)
    if sample_rate is not None and sample_rate != sr:
        x = resample(x, sr, int(sample_rate))
        sr = int(sample_rate)
    return np.ascontiguousarray(x, dtype=np.float32), sr


def require_audible(x: np.ndarray, path: str | os.PathLike = "input", floor_db: float = -90.0) -> None:
    """Raise AudioGSError when the signal is silent (RMS below floor_db dBFS)."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    if rms <= 10 ** (floor_db / 20):
        raise AudioGSError(f"{path}: signal is silent (RMS below {floor_db:.0f} dBFS), nothing to fit")


def _new_temp(parent: Path, prefix: str, suffix: str) -> Path:
    """Create an empty, new file in parent with mode 0666 less the umask (mkstemp would give 0600)."""
    for _ in range(100):
        tmp = parent / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file in {parent}")

def clipping(x: np.ndarray) -> tuple[float, float]:
    """(share of samples beyond full scale [-1, 1], peak |x|) of a signal; (0, 0) when empty."""
    x = np.asarray(x)
    if x.size == 0:
        return 0.0, 0.0
    a = np.abs(x)
    return float(np.count_nonzero(a > 1.0)) / a.size, float(a.max())


def atomic_write(path: str | os.PathLike, write_fn, suffix: str | None = None) -> Path:
    """Call write_fn(tmp_path) on a temporary file beside path, then rename it onto path.

    The file gets the usual permissions (0666 less the umask), like any file the user creates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp(path.parent, f".{path.name}.", suffix or path.suffix)
    try:
        write_fn(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
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
        import soundfile as sf

        sf.write(str(tmp), clipped, int(sample_rate), subtype=subtype, format=ext.lstrip(".").upper() if ext in (".wav", ".flac", ".ogg") else None)

    return atomic_write(path, _write)
