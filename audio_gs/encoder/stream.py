"""Streaming encode: audio read block by block (a WAV stream on standard input, or any iterator of
sample blocks), fitted window by window in time order, and written as the streamable .ags layout
(audio_gs.codec.stream) as each window finishes.

Window w fits its segment [core_lo - margin, core_hi + margin) against the signal minus the decoded
atoms of the windows before it (closed loop: what the decoder renders), keeps the atoms centred in its
core, rate-controls and quantizes them with a noise layer for the core, and writes one block. So the
encoder needs core_hi + margin samples before it can write window w: its latency is one window plus
one margin (2.5 s + 0.4 s with `--window_seconds 2.5` and the configs' widest scale). Unlike the
file encoder's two phases and joint least-squares pass (audio_gs.encoder.windows), each window sees
only the past, so the quality is a little lower at the same rate (README, Encoder at scale).
"""

from __future__ import annotations

import io
import math
import struct
from typing import BinaryIO, Iterable, Iterator

import numpy as np

from audio_gs.codec import stream as layout
from audio_gs.codec.bitstream import MAX_SECONDS, SAMPLE_RATE_RANGE
from audio_gs.errors import AudioGSError

DEFAULT_WINDOW_SECONDS = 2.5  # when the config asks for no windows (window_seconds 0)
READ_FRAMES = 4096
SILENCE = 10 ** (-100 / 20)  # a window whose residual peaks below -100 dBFS is coded as an empty block
_PCM = {(1, 8): "u1", (1, 16): "<i2", (1, 24): None, (1, 32): "<i4", (3, 32): "<f4", (3, 64): "<f8"}


def read_wav_stream(f: BinaryIO, name: str = "standard input"):
    """(sample rate, channels, iterator of float32 [channels, n] blocks) of a WAV stream read from f
    without seeking: PCM 8/16/24/32-bit or float; a data size of 0 or 0xFFFFFFFF (what tools write to a
    pipe) means 'until the end of the stream'. AudioGSError on anything else."""

    def need(n: int, what: str) -> bytes:
        b = f.read(n)
        if len(b) != n:
            raise AudioGSError(f"{name}: not a WAV stream (ends inside the {what})")
        return b

    riff = need(12, "RIFF header")
    if riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
        raise AudioGSError(f"{name}: not a WAV stream (pipe WAV, e.g. `ffmpeg -i song.mp3 -f wav -`)")
    fmt = None
    for _ in range(64):  # chunks before 'data'
        cid, size = struct.unpack("<4sI", need(8, "chunk header"))
        if cid == b"data":
            break
        if size > 1 << 20:
            raise AudioGSError(f"{name}: WAV chunk {cid!r} of {size} bytes before the audio")
        body = need(size + (size & 1), f"{cid!r} chunk")
        if cid == b"fmt ":
            if size < 16:
                raise AudioGSError(f"{name}: WAV fmt chunk of {size} bytes")
            tag, ch, sr, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == 0xFFFE and size >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format's tag
                tag = struct.unpack("<H", body[24:26])[0]
            fmt = (tag, ch, sr, bits)
    else:
        raise AudioGSError(f"{name}: no audio data in the first 64 WAV chunks")
    if fmt is None:
        raise AudioGSError(f"{name}: WAV stream without a fmt chunk before its data")
    tag, ch, sr, bits = fmt
    if (tag, bits) not in _PCM:
        raise AudioGSError(f"{name}: WAV format {tag} with {bits} bits is not read from a stream "
                           "(PCM 8/16/24/32-bit or float 32/64)")
    if ch not in (1, 2):
        raise AudioGSError(f"{name}: {ch} channels; an .ags file holds 1 or 2")
    if not SAMPLE_RATE_RANGE[0] <= sr <= SAMPLE_RATE_RANGE[1]:
        raise AudioGSError(f"{name}: sample rate {sr} Hz is outside the {SAMPLE_RATE_RANGE[0]}-"
                           f"{SAMPLE_RATE_RANGE[1]} Hz an .ags file holds")
    width = bits // 8
    left = None if size in (0, 0xFFFFFFFF) else size  # bytes of audio still to come (None: to the end)

    read = getattr(f, "read1", f.read)  # what has arrived, not a full buffer (a pipe's writer may be waiting)

    def blocks() -> Iterator[np.ndarray]:
        nonlocal left
        carry = b""
        while left is None or left > 0:
            want = READ_FRAMES * ch * width
            b = read(want if left is None else min(want, left))
            if not b:
                break
            if left is not None:
                left -= len(b)
            b = carry + b
            usable = len(b) - len(b) % (ch * width)
            b, carry = b[:usable], b[usable:]
            if b:
                yield _to_float(b, tag, bits).reshape(-1, ch).T

    return sr, ch, blocks()


def _to_float(b: bytes, tag: int, bits: int) -> np.ndarray:
    if bits == 24:
        u = np.frombuffer(b, np.uint8).reshape(-1, 3).astype(np.int32)
        v = (u[:, 0] | (u[:, 1] << 8) | (u[:, 2] << 16))
        return (np.where(v >= 1 << 23, v - (1 << 24), v) / float(1 << 23)).astype(np.float32)
    v = np.frombuffer(b, _PCM[(tag, bits)])
    if tag == 3:
        return v.astype(np.float32)
    if bits == 8:
        return ((v.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    return (v / float(1 << (bits - 1))).astype(np.float32)


def window_samples(cfg: dict, sample_rate: int) -> int:
    seconds = float(cfg.get("window_seconds") or 0) or DEFAULT_WINDOW_SECONDS
    return max(1, int(round(seconds * sample_rate)))


def latency_seconds(cfg: dict, sample_rate: int) -> float:
    """Audio the encoder holds before it can write a window: one window and one margin."""
    from audio_gs.encoder.windows import margin_seconds

    return window_samples(cfg, sample_rate) / sample_rate + margin_seconds(cfg)


class _Buffer:
    """The input so far, as one growing array from sample `lo` on (older samples are dropped)."""

    def __init__(self, blocks: Iterable[np.ndarray], n_channels: int):
        self.it, self.lo, self.ended = iter(blocks), 0, False
        self.x = np.zeros((n_channels, 0), np.float32)

    @property
    def hi(self) -> int:
        return self.lo + self.x.shape[1]

    def fill(self, upto: int) -> None:
        parts = [self.x]
        have = self.hi
        while have < upto and not self.ended:
            b = next(self.it, None)
            if b is None:
                self.ended = True
                break
            b = np.asarray(b, np.float32)
            if b.ndim != 2 or b.shape[0] != self.x.shape[0]:
                raise AudioGSError(f"stream block of shape {b.shape}; expected [{self.x.shape[0]}, n]")
            parts.append(b)
            have += b.shape[1]
        self.x = np.concatenate(parts, axis=1) if len(parts) > 1 else self.x

    def drop_before(self, sample: int) -> None:
        if sample > self.lo:
            self.x, self.lo = self.x[:, sample - self.lo:], sample

    def span(self, lo: int, hi: int) -> np.ndarray:
        return self.x[:, lo - self.lo:hi - self.lo]


def encode_stream(blocks: Iterable[np.ndarray], sample_rate: int, n_channels: int, cfg: dict, write,
                  *, on_window=None) -> dict:
    """Encode a signal given as blocks (float32 [n_channels, n]) window by window, calling write(bytes)
    with the stream header, one block record per window (as soon as it is coded) and the end record.
    cfg needs "kbps" (the bitrate of every window). Returns totals: windows, samples, bytes, kbps.
    on_window(index, core_lo, core_hi, info) is called after each window is written."""
    import torch

    from audio_gs.codec.render import render_gabor, to_model_channels
    from audio_gs.encoder.windows import Window, margin_seconds

    if not cfg.get("kbps"):
        raise AudioGSError("a streamed encode needs a target bitrate (--kbps)")
    if n_channels not in (1, 2):
        raise AudioGSError(f"{n_channels} channels; an .ags file holds 1 or 2")
    sr = int(sample_rate)
    core = window_samples(cfg, sr)
    margin = int(math.ceil(margin_seconds(cfg) * sr))
    mode = cfg["stereo_mode"] if n_channels == 2 else "lr"
    buf = _Buffer(blocks, n_channels)
    written = 0

    def out(b: bytes) -> None:
        nonlocal written
        write(b)
        written += len(b)

    out(layout.stream_header(sr, n_channels))
    past: list = []  # (first sample, decoded tonal waveform [C, n]) of windows that may reach later segments
    core_lo, index = 0, 0
    while True:
        buf.fill(core_lo + core + margin + 1)  # this window's segment, and whether more follows
        end = buf.hi if buf.ended else None
        if end is not None and core_lo >= end:
            break
        last = end is not None and end - core_lo <= core + margin  # the rest is one window
        core_hi = end if last else core_lo + core
        seg_lo, seg_hi = max(0, core_lo - margin), core_hi if last else core_hi + margin
        if seg_hi > MAX_SECONDS * sr:
            raise AudioGSError(f"the stream is longer than the {MAX_SECONDS} s an .ags file holds")
        n = seg_hi - seg_lo
        fixed = np.zeros((n_channels, n))
        for start, y in past:  # the decoded tonal atoms of earlier windows, on this segment
            a, b = max(seg_lo, start), min(seg_hi, start + y.shape[1])
            if b > a:
                fixed[:, a - seg_lo:b - seg_lo] += y[:, a - start:b - start]
        x = buf.span(seg_lo, seg_hi)
        target = to_model_channels(torch.from_numpy(np.asarray(x, np.float64)), mode) - torch.from_numpy(fixed)
        w = Window(index, core_lo, core_hi, seg_lo, seg_hi)
        if float(target.abs().max()) < SILENCE:  # nothing left to code here (a pause in the stream)
            body, tonal = _empty_body(sr, n, n_channels, mode), None
            info = {"atoms_kept": 0, "noise_gaussians": 0, "silent": True}
        else:
            enc = _code_window(x, fixed, target, w, sr, n_channels, mode, margin, index, cfg)
            body, info = enc.data, enc.info
            tonal = render_gabor(enc.model.gabor, sr, enc.model.n_samples, n_channels)
        out(layout.block_record(seg_lo, core_hi, body))
        if on_window:
            on_window(index, core_lo, core_hi, info)
        past = [(s, y) for s, y in past if s + y.shape[1] > core_hi - margin]
        if tonal is not None:
            past.append((seg_lo, tonal))
        buf.drop_before(max(0, core_hi - margin))
        core_lo, index = core_hi, index + 1
        if last:
            break
    if core_lo == 0:
        raise AudioGSError("the stream holds no audio")
    out(layout.end_record(core_lo))
    return {"windows": index, "samples": core_lo, "bytes": written,
            "kbps": 8 * written / (core_lo / sr) / 1000}


def _code_window(x, fixed, target, w, sr: int, n_channels: int, mode: str, margin: int, index: int, cfg: dict):
    """Fit window w's segment x against target = x - fixed (model channels), keep its core's atoms,
    rate-control them to the window's share of cfg["kbps"] with a noise layer that does not see the
    look-ahead; the Encoded of the segment (atom times from its first sample)."""
    import torch

    from audio_gs.encoder.atoms import Atoms
    from audio_gs.encoder.encode import atoms_for_rate, fit_to_rate
    from audio_gs.encoder.windows import Window, WindowJob, WindowPlan, WindowScope, fit_window, shifted, window_config

    n, share = w.seg_hi - w.seg_lo, w.core_hi - w.core_lo
    wcfg = dict(cfg, kbps=float(cfg["kbps"]) * share / n,  # no noise envelope: the blocks overlap
                noise_per_second=float(cfg["noise_per_second"]) * share / n, seed=int(cfg["seed"]) + index,
                envelope_ms=0.0)
    fit_count = int(round(atoms_for_rate(cfg, share, sr, n_channels) * (w.seg_hi - w.core_lo) / share))
    plan = WindowPlan(w.seg_hi, sr, margin, (w,))
    r = fit_window(WindowJob(x=np.ascontiguousarray(x), fixed=fixed.astype(np.float32), sample_rate=sr,
                             cfg=window_config(cfg, plan, w, fit_count), window=w))
    atoms = shifted(Atoms.from_state_dict(r.atoms), -w.seg_lo / sr)
    atoms.n_channels, atoms.stereo_mode = n_channels, mode
    local = Window(0, w.core_lo - w.seg_lo, w.core_hi - w.seg_lo, 0, n)
    return fit_to_rate(atoms.to(dtype=torch.float32), target.float().contiguous(), n, wcfg,
                       scope=WindowScope(WindowPlan(n, sr, margin, (local,)), wcfg, noise_end=local.core_hi))


def _empty_body(sample_rate: int, n_samples: int, n_channels: int, stereo_mode: str) -> bytes:
    """A version-2 body with no Gaussians (a silent window)."""
    from audio_gs.codec.compress import encode
    from audio_gs.codec.model import Gabor, Model

    return encode(Model(sample_rate=sample_rate, n_samples=n_samples, gabor=Gabor.empty(), n_channels=n_channels,
                        stereo_mode=stereo_mode))


def iter_file_blocks(x: np.ndarray, frames: int = READ_FRAMES) -> Iterator[np.ndarray]:
    """x [channels, samples] as blocks of `frames` samples (a file fed to encode_stream)."""
    for i in range(0, x.shape[1], frames):
        yield np.ascontiguousarray(x[:, i:i + frames], np.float32)


def wav_bytes(x: np.ndarray, sample_rate: int) -> bytes:
    """x [channels, samples] float as a 16-bit WAV (for tests and pipes)."""
    import wave

    from audio_gs.codec.output import pcm16

    b = io.BytesIO()
    with wave.open(b, "wb") as w:
        w.setnchannels(x.shape[0])
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm16(x))
    return b.getvalue()
