"""Writing decoded audio block by block: WAV (16-bit PCM) with the standard library's ``wave``, which
also writes to a pipe, and FLAC / OGG (Vorbis) with soundfile. Samples are clipped to [-1, 1];
the writer counts how many were clipped.
"""

from __future__ import annotations

import os
import sys
import wave
from pathlib import Path

import numpy as np

from audio_gs.errors import AudioGSError

FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}
STDOUT = "-"  # output name for a WAV stream on standard output
MAX_WAV_BYTES = (1 << 32) - 1 - 36  # RIFF sizes are 32-bit


def pcm16(block: np.ndarray) -> bytes:
    """Float [channels, n] -> interleaved little-endian int16 bytes: the nearest k / 32768 (how readers such
    as soundfile scale int16 back), k clipped to [-32768, 32767]."""
    k = np.rint(np.asarray(block, np.float64).T * 32768.0)
    return np.clip(k, -32768, 32767).astype("<i2").tobytes()


class _Wav:
    def __init__(self, f, sample_rate: int, n_channels: int, n_frames: int):
        if n_frames * n_channels * 2 > MAX_WAV_BYTES:
            raise AudioGSError(f"{n_frames} samples x {n_channels} channels is too long for a WAV file "
                               "(4 GiB at most); write .flac instead")
        self.w = wave.open(f, "wb")
        self.w.setnchannels(n_channels)
        self.w.setsampwidth(2)
        self.w.setframerate(sample_rate)
        self.w.setnframes(n_frames)  # set up front, so nothing is patched afterwards (pipes cannot seek)

    def write(self, block: np.ndarray) -> None:
        self.w.writeframesraw(pcm16(block))

    def close(self) -> None:
        self.w.close()


class _Soundfile:
    def __init__(self, path: Path, fmt: str, sample_rate: int, n_channels: int):
        import soundfile as sf

        self.f = sf.SoundFile(str(path), "w", samplerate=sample_rate, channels=n_channels, format=fmt)

    def write(self, block: np.ndarray) -> None:
        self.f.write(np.clip(block, -1.0, 1.0).T.astype(np.float32))

    def close(self) -> None:
        self.f.close()


def output_format(path: str | Path) -> str:
    """'WAV', 'FLAC' or 'OGG' from the extension ('-' is WAV on standard output); AudioGSError otherwise."""
    if str(path) == STDOUT:
        return "WAV"
    ext = Path(path).suffix.lower()
    if ext not in FORMATS:
        raise AudioGSError(f"{path}: output format '{ext or '(none)'}' not supported ({', '.join(FORMATS)})")
    return FORMATS[ext]


def write_blocks(dest: str | Path, blocks, *, sample_rate: int, n_channels: int, n_frames: int) -> int:
    """Write blocks (float [n_channels, n] arrays, n_frames samples in all) to dest, a .wav/.flac/.ogg path
    (written to a temporary file and renamed) or '-' (WAV on standard output). Returns the number of
    samples (all channels) clipped to [-1, 1]."""
    fmt = output_format(dest)
    clipped = 0

    def pump(writer) -> None:
        nonlocal clipped
        written = 0
        try:
            for y in blocks:
                clipped += int(np.count_nonzero(np.abs(y) > 1.0))
                writer.write(y)
                written += y.shape[1]
        finally:
            try:
                writer.close()
            except OSError:  # an unfinished WAV header cannot be patched on a pipe; the error is on its way
                if written == n_frames:
                    raise
        if written != n_frames:
            raise AudioGSError(f"internal error: wrote {written} of {n_frames} samples")

    if str(dest) == STDOUT:
        out = sys.stdout.buffer
        try:
            pump(_Wav(out, sample_rate, n_channels, n_frames))
            out.flush()
        except BrokenPipeError:  # the reader went away: say so once, and keep Python quiet about stdout at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise AudioGSError("standard output was closed before all the audio was written") from None
        return clipped
    from audio_gs.audio_io import atomic_write

    def write(tmp: Path) -> None:
        if fmt == "WAV":
            with open(tmp, "wb") as f:
                pump(_Wav(f, sample_rate, n_channels, n_frames))
        else:
            pump(_Soundfile(tmp, fmt, sample_rate, n_channels))

    atomic_write(dest, write, suffix=Path(dest).suffix)
    return clipped
