"""Baseline codecs (Opus, MP3, Vorbis, AAC, Codec 2) coded as their users run them, decoded and aligned.

CODECS is the one list of codecs. Each is run at the reference's rate when the codec supports it
(Opus: 8/12/16/24/48 kHz, else 48 kHz; Codec 2: always 8 kHz), resampled in and back out otherwise.

* opus, mp3, vorbis: libsndfile (through soundfile). It has no bitrate knob, only a compression
  level in [0, 1] that it maps to each encoder's setting; the level is searched by bisection so that
  the *file size* is as near the target as it gets.
* aac: FFmpeg's native ``aac`` encoder through PyAV, in an .m4a (MP4) container; its requested
  bit_rate is searched the same way, so the file size (MP4 boxes included) meets the target.
* codec2: ``pycodec2``, 8 kHz mono, fixed modes; the mode nearest the target (log ratio) is used.
  The file is the .c2 format of codec2's own c2enc: a 7-byte header, then the raw frames.

The bitrate reported is always 8 * file bytes / duration. Decoding aligns the decoded signal to the
reference: the signed delay (lead or lag, sub-sample) is found by cross-correlation at the coding
rate, its integer part is removed there, the fraction after resampling back, and the result is
padded / trimmed to the reference length. Signals are float32 [channels, samples] at sr (Hz).

Command line (used by the Snakefile)::

    python -m audio_gs.bench.baselines encode REF.wav -o OUT.opus --codec opus --kbps 16 --info enc.json
    python -m audio_gs.bench.baselines decode OUT.opus -o DEC.wav --codec opus --reference REF.wav --info dec.json
    python -m audio_gs.bench.baselines roundtrip REF.wav -o OUT.opus --decoded DEC.wav --codec opus --kbps 16 --info info.json
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import struct
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.fft import next_fast_len
from scipy.optimize import minimize_scalar

from audio_gs.audio_io import atomic_write, load_audio, resample, save_audio
from audio_gs.errors import AudioGSError, exits_2_on_user_error

AAC_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
CODECS: dict[str, dict] = {
    # backend: who codes it; rates: native rates (None: any), else fallback_rate; container: how
    # overhead is measured; header_packets: Ogg packets before the audio.
    "opus": {"backend": "sndfile", "format": "OGG", "subtype": "OPUS", "ext": ".opus",
             "rates": (8000, 12000, 16000, 24000, 48000), "fallback_rate": 48000, "container": "ogg",
             "header_packets": 2},
    "mp3": {"backend": "sndfile", "format": "MP3", "subtype": "MPEG_LAYER_III", "ext": ".mp3",
            "rates": MP3_RATES, "fallback_rate": 48000, "bitrate_mode": "CONSTANT", "container": "mp3"},
    "vorbis": {"backend": "sndfile", "format": "OGG", "subtype": "VORBIS", "ext": ".ogg", "rates": None,
               "container": "ogg", "header_packets": 3},
    "aac": {"backend": "pyav", "encoder": "aac", "format": "ipod", "demuxer": "mp4", "ext": ".m4a",
            "rates": AAC_RATES, "fallback_rate": 48000, "container": "mp4"},
    "codec2": {"backend": "codec2", "ext": ".c2", "rates": (8000,), "fallback_rate": 8000, "container": "c2",
               "modes": {3200: 0, 2400: 1, 1600: 2, 1400: 3, 1300: 4, 1200: 5, 700: 8}},  # bps: c2 header id
}
MAX_LEVEL = 0.999  # libsndfile rejects 1.0 for MP3
MAX_DELAY = 4096  # samples at the coding rate, either sign
MIN_FRACTION = 0.01  # fractional delays (reference-rate samples) below this are left alone
C2_MAGIC = b"\xc0\xde\xc2"


# ---- codec facts ---------------------------------------------------------------------------------
def codec_spec(codec: str) -> dict:
    """The CODECS entry; AudioGSError if the codec is unknown or its library is missing here."""
    if codec not in CODECS:
        raise AudioGSError(f"unknown baseline codec {codec!r} (choose from {', '.join(CODECS)})")
    spec = CODECS[codec]
    if spec["backend"] == "sndfile":
        try:
            available = sf.available_subtypes(spec["format"])
        except Exception:
            available = {}
        if spec["subtype"] not in available:
            raise AudioGSError(f"libsndfile {sf.__libsndfile_version__} has no {spec['format']}/{spec['subtype']} encoder")
    elif spec["backend"] == "codec2":
        try:
            import pycodec2  # noqa: F401
        except ImportError:
            raise AudioGSError("codec2 needs the pycodec2 package (pip install pycodec2)") from None
    return spec


def encode_rate(codec: str, sr: int) -> int:
    """The sample rate (Hz) the codec runs at for a signal at sr."""
    spec = codec_spec(codec)
    return sr if spec["rates"] is None or sr in spec["rates"] else spec["fallback_rate"]


def library(codec: str, data: bytes = b"") -> str:
    """Library and version that code `codec`; the encoder's vendor string is read from data when it carries one."""
    spec = codec_spec(codec)
    if spec["backend"] == "sndfile":
        vendor = _ogg_vendor(data) if spec["container"] == "ogg" else _lame_vendor(data)
        return f"libsndfile {sf.__libsndfile_version__} / {vendor or spec['subtype'].lower()}"
    if spec["backend"] == "pyav":
        import av

        return f"PyAV {av.__version__} / FFmpeg {av.ffmpeg_version_info} {spec['encoder']}"
    from importlib.metadata import version

    major, minor = _codec2_version()
    return f"pycodec2 {version('pycodec2')} / libcodec2 {major}.{minor}"


# ---- encoders / decoders per backend --------------------------------------------------------------
def _encode_sndfile(y: np.ndarray, rate: int, spec: dict, level: float) -> tuple[bytes, dict]:
    buf = io.BytesIO()
    kwargs = {"compression_level": float(min(max(level, 0.0), MAX_LEVEL))}
    if spec.get("bitrate_mode"):
        kwargs["bitrate_mode"] = spec["bitrate_mode"]
    sf.write(buf, np.clip(y, -1, 1).T, rate, format=spec["format"], subtype=spec["subtype"], **kwargs)
    return buf.getvalue(), {}


def _decode_sndfile(path: Path, spec: dict) -> tuple[np.ndarray, int]:
    y, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return y.T.copy(), int(rate)


def _aac_bit_rate(level: float, rate: int, channels: int) -> int:
    """Requested AAC bit rate (bit/s) for level in [0, 1]: log scale from the format's maximum
    (6144 bits per channel per 1024-sample frame) at 0 down to 1 kbit/s at 1."""
    hi, lo = 6.0 * rate * channels, 1000.0
    return int(round(hi * (lo / hi) ** min(max(level, 0.0), 1.0)))


def _encode_pyav(y: np.ndarray, rate: int, spec: dict, level: float) -> tuple[bytes, dict]:
    import av

    layout = {1: "mono", 2: "stereo"}.get(y.shape[0])
    if layout is None:
        raise AudioGSError(f"aac: {y.shape[0]} channels not supported (mono or stereo)")
    bit_rate = _aac_bit_rate(level, rate, y.shape[0])
    y = np.ascontiguousarray(np.clip(y, -1, 1), dtype=np.float32)
    buf = io.BytesIO()
    with av.open(buf, "w", format=spec["format"]) as out:
        st = out.add_stream(spec["encoder"], rate=rate, layout=layout)
        st.bit_rate = bit_rate
        step = st.codec_context.frame_size or 1024
        for i in range(0, y.shape[1], step):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(y[:, i:i + step]), format="fltp", layout=layout)
            frame.sample_rate, frame.pts = rate, i
            for pkt in st.encode(frame):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    return buf.getvalue(), {"requested_bit_rate": bit_rate}


def _decode_pyav(path: Path, spec: dict) -> tuple[np.ndarray, int]:
    import av

    chunks = []
    with av.open(str(path), format=spec["demuxer"]) as container:
        stream = container.streams.audio[0]
        rate, n_ch = int(stream.codec_context.sample_rate), stream.codec_context.channels
        for frame in container.decode(stream):
            a = frame.to_ndarray()
            chunks.append(a.reshape(n_ch, -1) if frame.format.is_planar else a.reshape(-1, n_ch).T)
    y = np.concatenate(chunks, axis=1) if chunks else np.zeros((n_ch, 0))
    return y.astype(np.float32), rate


def _codec2_version() -> tuple[int, int]:
    """(major, minor) of the libcodec2 bundled with pycodec2, from its soname; (0, 0) if unknown."""
    import pycodec2

    libs = Path(pycodec2.__file__).parent.parent / "pycodec2.libs"
    for p in sorted(libs.glob("libcodec2*.so.*")):
        parts = p.name.split(".so.")[-1].split(".")
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            return int(parts[0]), int(parts[1])
    return 0, 0


def codec2_mode(target_kbps: float) -> int:
    """The Codec 2 mode (nominal bit/s) nearest target_kbps in log ratio."""
    return min(CODECS["codec2"]["modes"], key=lambda bps: abs(math.log(bps / (1000 * target_kbps))))


def _encode_codec2(y: np.ndarray, rate: int, spec: dict, mode: int) -> tuple[bytes, dict]:
    import pycodec2

    if mode not in spec["modes"]:
        raise AudioGSError(f"codec2 has no {mode} bit/s mode (modes: {', '.join(map(str, spec['modes']))})")
    c2 = pycodec2.Codec2(mode)
    n = c2.samples_per_frame()
    x = y.mean(axis=0)
    x = np.concatenate([x, np.zeros((-x.size) % n, x.dtype)])
    pcm = np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)
    major, minor = _codec2_version()
    head = C2_MAGIC + bytes([major, minor, spec["modes"][mode], 0])
    frames = b"".join(c2.encode(np.ascontiguousarray(pcm[i:i + n])) for i in range(0, pcm.size, n))
    return head + frames, {"mode": mode}


def _decode_codec2(path: Path, spec: dict) -> tuple[np.ndarray, int]:
    import pycodec2

    data = Path(path).read_bytes()
    ids = {v: k for k, v in spec["modes"].items()}
    if len(data) < 7 or data[:3] != C2_MAGIC or data[5] not in ids:
        raise AudioGSError(f"{path}: not a .c2 file of a supported Codec 2 mode")
    c2 = pycodec2.Codec2(ids[data[5]])
    k = c2.bytes_per_frame()
    frames = data[7:]
    pcm = [c2.decode(frames[i:i + k]) for i in range(0, len(frames) - k + 1, k)]
    y = np.concatenate(pcm).astype(np.float32) / 32768 if pcm else np.zeros(0, np.float32)
    return y[None, :], 8000


BACKENDS = {"sndfile": (_encode_sndfile, _decode_sndfile), "pyav": (_encode_pyav, _decode_pyav),
            "codec2": (_encode_codec2, _decode_codec2)}


# ---- container overhead --------------------------------------------------------------------------
def _ogg_pages(data: bytes):
    """(page bytes, page header bytes, lacing values, body) of each Ogg page."""
    pos = 0
    while pos + 27 <= len(data) and data[pos:pos + 4] == b"OggS":
        nseg = data[pos + 26]
        lacing = data[pos + 27:pos + 27 + nseg]
        head = 27 + nseg
        body = data[pos + head:pos + head + sum(lacing)]
        yield head + len(body), head, lacing, body
        pos += head + len(body)


def _ogg_packets(data: bytes, count: int) -> tuple[list[bytes], int, int]:
    """The first `count` packets, and the bytes and number of the pages they fill (headers end a page)."""
    packets, cur, used, pages = [], b"", 0, 0
    for size, _, lacing, body in _ogg_pages(data):
        used, pages = used + size, pages + 1
        off = 0
        for lv in lacing:
            cur += body[off:off + lv]
            off += lv
            if lv < 255:
                packets.append(cur)
                cur = b""
        if len(packets) >= count:
            break
    return packets[:count], used, pages


def _ogg_vendor(data: bytes) -> str | None:
    packets, _, _ = _ogg_packets(data, 2)
    if len(packets) < 2:
        return None
    tag = packets[1]
    skip = 8 if tag.startswith(b"OpusTags") else 7 if tag.startswith(b"\x03vorbis") else None
    if skip is None or len(tag) < skip + 4:
        return None
    n = struct.unpack("<I", tag[skip:skip + 4])[0]
    return tag[skip + 4:skip + 4 + n].decode("utf-8", "replace")


def _mp3_first_frame(data: bytes) -> tuple[int, int, bytes]:
    """(ID3v2 tag bytes, first frame bytes, first frame) of an MPEG audio stream."""
    start = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        size = sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(data[6:10]))
        start = 10 + size + (10 if data[5] & 0x10 else 0)
    h = data[start:start + 4]
    if len(h) < 4 or h[0] != 0xFF or h[1] & 0xE0 != 0xE0 or (h[1] >> 1) & 3 != 1:
        return start, 0, b""
    ver = (h[1] >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    kbps = ((0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320) if ver == 3 else
            (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160))[h[2] >> 4]
    rates = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}.get(ver)
    if not kbps or rates is None or (h[2] >> 2) & 3 == 3:
        return start, 0, b""
    length = (144 if ver == 3 else 72) * kbps * 1000 // rates[(h[2] >> 2) & 3] + ((h[2] >> 1) & 1)
    return start, length, data[start:start + length]


def _mp3_info_frame(data: bytes) -> bytes:
    """The LAME/Xing 'Info' or 'Xing' frame that opens the stream, or b'' if there is none."""
    _, _, frame = _mp3_first_frame(data)
    if not frame:
        return b""
    mono, mpeg1 = frame[3] >> 6 == 3, (frame[1] >> 3) & 3 == 3
    side = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    off = 4 + side + (0 if frame[1] & 1 else 2)
    return frame if frame[off:off + 4] in (b"Xing", b"Info") else b""


def _lame_vendor(data: bytes) -> str | None:
    frame = _mp3_info_frame(data)
    i = frame.find(b"LAME")
    return frame[i:i + 9].decode("ascii", "replace") if i >= 0 else "libmp3lame"


def _mp4_boxes(data: bytes):
    """(type, total bytes, header bytes) of each top-level MP4 box."""
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        head = 8
        if size == 1:
            size, head = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = len(data) - pos
        if size < head:
            return
        yield kind.decode("latin-1"), size, head
        pos += size


def container_overhead(codec: str, data: bytes) -> dict:
    """Container bytes measured in a coded file.

    container_overhead_bytes: fixed part (Ogg: the pages of the header packets; MP4: every box but
    mdat's payload; MP3: ID3 tags and the Xing/Info frame; .c2: the 7-byte header).
    container_framing_bytes: per-page Ogg headers of the audio pages (0 for the others).
    """
    kind = codec_spec(codec)["container"]
    fixed, framing = 0, 0
    if kind == "ogg":
        _, fixed, n_pages = _ogg_packets(data, CODECS[codec]["header_packets"])
        framing = sum(head for i, (_, head, _, _) in enumerate(_ogg_pages(data)) if i >= n_pages)
    elif kind == "mp4":
        fixed = sum(head if kind_ == "mdat" else size for kind_, size, head in _mp4_boxes(data))
    elif kind == "mp3":
        id3v2, _, _ = _mp3_first_frame(data)
        fixed = id3v2 + len(_mp3_info_frame(data)) + (128 if data[-128:-125] == b"TAG" else 0)
    elif kind == "c2":
        fixed = 7
    return {"container_overhead_bytes": int(fixed), "container_framing_bytes": int(framing)}


# ---- encoding ------------------------------------------------------------------------------------
def _to_coding_rate(x: np.ndarray, sr: int, codec: str) -> tuple[np.ndarray, int]:
    rate = encode_rate(codec, sr)
    y = np.asarray(x, np.float32)
    return (resample(y, sr, rate) if rate != sr else y), rate


def encode_bytes(x: np.ndarray, sr: int, codec: str, level: float) -> bytes:
    """Encode [channels, samples] to file bytes at level: 0 = best quality .. ~1 = smallest
    (codec2: the mode in bit/s)."""
    y, rate = _to_coding_rate(x, sr, codec)
    return _encode(y, rate, codec, level)[0]


def _encode(y: np.ndarray, rate: int, codec: str, arg) -> tuple[bytes, dict]:
    spec = codec_spec(codec)
    try:
        return BACKENDS[spec["backend"]][0](y, rate, spec, arg)
    except AudioGSError:
        raise
    except Exception as exc:
        raise AudioGSError(f"{codec} encode ({arg}) failed: {exc}") from None


def encode_at_bitrate(x: np.ndarray, sr: int, codec: str, target_kbps: float, iters: int = 12) -> tuple[bytes, dict]:
    """Encode so that the real bitrate (file size) is as near as it gets (log ratio) to target_kbps.

    Returns (file bytes, info): codec, library, encode_rate, target_kbps, kbps (real), bytes,
    container_overhead_bytes, container_framing_bytes, level (the knob searched; codec2: the mode's
    bit/s), target_reached (within 10 %), levels_tried, encode_seconds (the final encode,
    resampling included).
    """
    spec = codec_spec(codec)
    if not target_kbps > 0:
        raise AudioGSError(f"target bitrate must be positive, got {target_kbps}")
    duration = x.shape[-1] / sr
    if duration <= 0:
        raise AudioGSError("cannot encode an empty signal")
    y, rate = _to_coding_rate(x, sr, codec)
    cache: dict[float, int] = {}

    def kbps(level: float) -> float:
        if level not in cache:
            cache[level] = len(_encode(y, rate, codec, level)[0])
        return cache[level] * 8 / duration / 1000

    if spec["backend"] == "codec2":
        best = codec2_mode(target_kbps)
    else:
        lo, hi = 0.0, MAX_LEVEL  # bitrate falls as level rises
        if kbps(hi) >= target_kbps:
            best = hi
        elif kbps(lo) <= target_kbps:
            best = lo
        else:
            for _ in range(iters):
                mid = 0.5 * (lo + hi)
                if kbps(mid) > target_kbps:
                    lo = mid
                else:
                    hi = mid
            best = min(cache, key=lambda lv: abs(math.log(kbps(lv) / target_kbps)))
    t0 = time.perf_counter()
    y, rate = _to_coding_rate(x, sr, codec)
    data, extra = _encode(y, rate, codec, best)
    seconds = time.perf_counter() - t0
    real = len(data) * 8 / duration / 1000
    info = {"codec": codec, "library": library(codec, data), "encode_rate": rate, "target_kbps": float(target_kbps),
            "kbps": real, "bytes": len(data), **container_overhead(codec, data), "level": best,
            "target_reached": abs(real / target_kbps - 1) <= 0.10, "levels_tried": max(len(cache), 1),
            "encode_seconds": seconds, **extra}
    return data, info


# ---- alignment -----------------------------------------------------------------------------------
def _mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x.mean(axis=0) if x.ndim == 2 else x


def find_delay(ref: np.ndarray, deg: np.ndarray, max_delay: int = MAX_DELAY) -> float:
    """Signed delay in samples by which deg trails ref (negative: deg leads), sub-sample.

    The integer peak of the cross-correlation of the mono mixes within +-max_delay is refined by
    maximising the band-limited (DFT-interpolated) correlation within one sample of it.
    """
    r, d = _mono(ref), _mono(deg)
    if r.size == 0 or d.size == 0 or not np.any(r) or not np.any(d):
        return 0.0
    n = next_fast_len(r.size + d.size)
    spec = np.fft.rfft(d, n) * np.conj(np.fft.rfft(r, n))
    c = np.fft.irfft(spec, n)
    m = int(min(max_delay, n // 2 - 1))
    lags = np.concatenate([np.arange(0, min(m, d.size - 1) + 1), np.arange(-min(m, r.size - 1), 0)])
    peak = int(lags[np.argmax(c[lags % n])])
    k = np.arange(spec.size)
    w = np.full(spec.size, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0

    def neg_corr(tau: float) -> float:
        return -float(np.real(np.sum(w * spec * np.exp(2j * np.pi * k * tau / n))))

    res = minimize_scalar(neg_corr, bounds=(peak - 1.0, peak + 1.0), method="bounded", options={"xatol": 1e-4})
    tau = float(res.x)
    return tau if -res.fun >= c[peak % n] * n else float(peak)


def shift_integer(x: np.ndarray, k: int) -> np.ndarray:
    """x advanced by k samples (x[..., n + k]; k < 0 delays it), zero-filled, same shape."""
    y = np.zeros_like(x)
    n = x.shape[-1]
    if k >= 0:
        y[..., : max(n - k, 0)] = x[..., k:]
    else:
        y[..., -k:] = x[..., : max(n + k, 0)]
    return y


def shift_fraction(x: np.ndarray, f: float, pad: int = 1024) -> np.ndarray:
    """x advanced by f samples (x[..., n + f], band-limited) by a DFT phase ramp on a zero-padded copy."""
    n = x.shape[-1]
    L = next_fast_len(n + pad)
    X = np.fft.rfft(np.asarray(x, np.float64), L, axis=-1)
    ramp = np.exp(2j * np.pi * np.arange(X.shape[-1]) * f / L)
    if L % 2 == 0:
        ramp[-1] = math.cos(math.pi * f)
    return np.fft.irfft(X * ramp, L, axis=-1)[..., :n].astype(np.float32)


def align(reference: np.ndarray, sr: int, decoded: np.ndarray, rate: int, *, fractional: bool = True,
          max_delay: int = MAX_DELAY) -> tuple[np.ndarray, dict]:
    """Decoded [channels', samples'] at the coding rate -> [channels, samples] of the reference at sr, aligned.

    The delay is found at the coding rate against the reference resampled there; its integer part is
    removed at that rate, the result resampled to sr, the fraction (in sr samples) removed by a
    fractional shift when fractional and at least MIN_FRACTION; then padded / trimmed to the
    reference length. Channels: a mono decode is repeated, otherwise mixed down, to match.
    info: delay_coding_samples (float, coding rate), delay_samples (float, reference rate),
    delay_integer_removed (coding rate), delay_fraction_removed (reference rate), resample_seconds.
    """
    y = np.asarray(decoded, np.float32)
    ch = reference.shape[0]
    if y.shape[0] != ch:
        y = np.repeat(y.mean(axis=0, keepdims=True), ch, axis=0) if ch > 1 else y.mean(axis=0, keepdims=True)
    ref_c = resample(np.asarray(reference, np.float32), sr, rate) if rate != sr else reference
    delay = find_delay(ref_c, y, max_delay)
    k = int(round(delay))
    y = shift_integer(y, k)
    t0 = time.perf_counter()
    if rate != sr:
        y = resample(y, rate, sr)
    back = time.perf_counter() - t0
    frac = (delay - k) * sr / rate
    removed = frac if fractional and abs(frac) >= MIN_FRACTION else 0.0
    n = reference.shape[1]
    if y.shape[1] < n:
        y = np.concatenate([y, np.zeros((ch, n - y.shape[1]), np.float32)], axis=1)
    if removed:
        y = shift_fraction(y, removed)
    y = y[:, :n]
    return y, {"delay_coding_samples": delay, "delay_samples": delay * sr / rate, "delay_integer_removed": k,
               "delay_fraction_removed": removed, "resample_seconds": back}


def decode_file(path: str | os.PathLike, codec: str, sr_out: int, reference: np.ndarray | None = None,
                *, fractional: bool = True) -> tuple[np.ndarray, dict]:
    """Decode a baseline file to [channels, samples] at sr_out; with a reference, align it to it (see align).

    info has decode_seconds (decoding + resampling to sr_out), decoded_rate and, with a reference,
    align_seconds (delay search and shifts) and align's delay facts.
    """
    spec = codec_spec(codec)
    path = Path(path)
    if not path.is_file():
        raise AudioGSError(f"{path}: no such file")
    t0 = time.perf_counter()
    try:
        y, rate = BACKENDS[spec["backend"]][1](path, spec)
    except AudioGSError:
        raise
    except Exception as exc:
        raise AudioGSError(f"{path}: cannot decode {codec} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    seconds = time.perf_counter() - t0
    if reference is None:
        t0 = time.perf_counter()
        y = resample(y, rate, sr_out) if rate != sr_out else y
        return y, {"decode_seconds": seconds + time.perf_counter() - t0, "decoded_rate": int(rate)}
    t0 = time.perf_counter()
    y, info = align(reference, sr_out, y, rate, fractional=fractional)
    back = info.pop("resample_seconds")
    info.update(decode_seconds=seconds + back, decoded_rate=int(rate), align_seconds=time.perf_counter() - t0 - back)
    return y, info


# ---- command line --------------------------------------------------------------------------------
@exits_2_on_user_error
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m audio_gs.bench.baselines",
                                 description="Baseline codecs (" + ", ".join(CODECS) + ") at a target bitrate.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("encode", help="encode a reference at a target bitrate (real size is measured)")
    e.add_argument("input")
    e.add_argument("-o", "--output", required=True)
    e.add_argument("--codec", required=True, choices=list(CODECS))
    e.add_argument("--kbps", type=float, required=True, help="target bitrate (kbit/s)")
    e.add_argument("--info", help="write encode facts as JSON here")
    d = sub.add_parser("decode", help="decode a baseline file to WAV at the reference's rate")
    d.add_argument("input")
    d.add_argument("-o", "--output", required=True)
    d.add_argument("--codec", required=True, choices=list(CODECS))
    d.add_argument("--reference", required=True, help="reference audio (its rate and length; delay alignment)")
    d.add_argument("--info", help="write decode facts as JSON here")
    rt = sub.add_parser("roundtrip", help="encode at a target bitrate and decode back (one process)")
    rt.add_argument("input", help="reference audio")
    rt.add_argument("-o", "--output", required=True, help="coded file")
    rt.add_argument("--decoded", required=True, help="decoded WAV at the reference's rate")
    rt.add_argument("--codec", required=True, choices=list(CODECS))
    rt.add_argument("--kbps", type=float, required=True, help="target bitrate (kbit/s)")
    rt.add_argument("--info", help="write encode + decode facts as JSON here")
    args = ap.parse_args(argv)
    if args.cmd in ("roundtrip", "encode"):
        x, sr = load_audio(args.input)
        data, info = encode_at_bitrate(x, sr, args.codec, args.kbps)
        atomic_write(args.output, lambda tmp: Path(tmp).write_bytes(data))
        if args.cmd == "roundtrip":
            y, dinfo = decode_file(args.output, args.codec, sr, x)
            save_audio(args.decoded, y, sr)
            info.update(dinfo)
    else:
        ref, sr = load_audio(args.reference)
        y, info = decode_file(args.input, args.codec, sr, ref)
        info = {"codec": args.codec, **info}
        save_audio(args.output, y, sr)
    if args.info:
        text = json.dumps(info, indent=2)
        atomic_write(args.info, lambda tmp: Path(tmp).write_text(text))
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
