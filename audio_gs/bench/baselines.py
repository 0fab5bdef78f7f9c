"""Baseline codecs (Opus, MP3, Vorbis) through soundfile / libsndfile, at chosen bitrates.

libsndfile has no "bitrate" knob: it maps a compression level in [0, 1] to each encoder's own
setting (Opus: target bitrate; MP3: CBR bitrate table; Vorbis: VBR quality). ``encode_at_bitrate``
searches that level by bisection so that the *real* size of the written file is as close as it can
get to the target; the bitrate reported is always 8 * file bytes / duration, whatever the target.

Opus only runs at 48 kHz (and a few lower rates): the signal is resampled to 48 kHz before encoding
and back to the reference rate after decoding. MP3 decoders add the encoder delay (1105 samples
for LAME) when the file carries no gapless header, which libsndfile omits at low CBR rates;
``decode`` finds such a delay by cross-correlation with the reference (at most 4096 samples) and
removes it, and reports it, so that sample-wise metrics compare aligned signals.

Signals are float arrays [channels, samples] at sample rate sr (Hz).

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
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from audio_gs.audio_io import atomic_write, load_audio, resample, save_audio
from audio_gs.errors import AudioGSError, exits_2_on_user_error

CODECS: dict[str, dict] = {
    "opus": {"format": "OGG", "subtype": "OPUS", "ext": ".opus", "rates": (8000, 12000, 16000, 24000, 48000),
             "encode_rate": 48000, "bitrate_mode": None},
    "mp3": {"format": "MP3", "subtype": "MPEG_LAYER_III", "ext": ".mp3", "rates": None, "encode_rate": None,
            "bitrate_mode": "CONSTANT"},
    "vorbis": {"format": "OGG", "subtype": "VORBIS", "ext": ".ogg", "rates": None, "encode_rate": None,
               "bitrate_mode": None},
}
MAX_LEVEL = 0.999  # libsndfile rejects 1.0 for MP3
MAX_DELAY = 4096


def codec_spec(codec: str) -> dict:
    if codec not in CODECS:
        raise AudioGSError(f"unknown baseline codec {codec!r} (choose from {', '.join(CODECS)})")
    spec = CODECS[codec]
    try:
        available = sf.available_subtypes(spec["format"])
    except Exception:
        available = {}
    if spec["subtype"] not in available:
        raise AudioGSError(f"libsndfile {sf.__libsndfile_version__} has no {spec['format']}/{spec['subtype']} encoder")
    return spec


def encode_rate(codec: str, sr: int) -> int:
    """The sample rate the codec is run at for a signal at sr."""
    spec = codec_spec(codec)
    return spec["encode_rate"] or sr


def encode_bytes(x: np.ndarray, sr: int, codec: str, level: float) -> bytes:
    """Encode [channels, samples] at compression level (0 = best quality, ~1 = smallest) to bytes."""
    spec = codec_spec(codec)
    rate = encode_rate(codec, sr)
    y = resample(np.asarray(x, np.float32), sr, rate) if rate != sr else np.asarray(x, np.float32)
    buf = io.BytesIO()
    kwargs = {"compression_level": float(min(max(level, 0.0), MAX_LEVEL))}
    if spec["bitrate_mode"]:
        kwargs["bitrate_mode"] = spec["bitrate_mode"]
    try:
        sf.write(buf, np.clip(y, -1, 1).T, rate, format=spec["format"], subtype=spec["subtype"], **kwargs)
    except Exception as exc:
        raise AudioGSError(f"{codec} encode at level {level:.3f} failed: {exc}") from None
    return buf.getvalue()


def encode_at_bitrate(x: np.ndarray, sr: int, codec: str, target_kbps: float, iters: int = 12) -> tuple[bytes, dict]:
    """Encode so that the real bitrate is as close as possible (in log ratio) to target_kbps.

    Returns (file bytes, info) where info has level, kbps (real), target_kbps, target_reached
    (within 10 %) and encode_seconds (the final encode, resampling included).
    """
    duration = x.shape[-1] / sr
    cache: dict[float, int] = {}

    def size_at(level: float) -> int:
        if level not in cache:
            cache[level] = len(encode_bytes(x, sr, codec, level))
        return cache[level]

    def kbps(level: float) -> float:
        return size_at(level) * 8 / duration / 1000

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
    data = encode_bytes(x, sr, codec, best)
    seconds = time.perf_counter() - t0
    real = len(data) * 8 / duration / 1000
    info = {"codec": codec, "target_kbps": float(target_kbps), "level": best, "kbps": real,
            "bytes": len(data), "encode_seconds": seconds, "encode_rate": encode_rate(codec, sr),
            "target_reached": abs(real / target_kbps - 1) <= 0.10, "levels_tried": len(cache)}
    return data, info


def find_delay(ref: np.ndarray, deg: np.ndarray, max_delay: int = MAX_DELAY) -> int:
    """Lag in samples (0..max_delay) by which deg trails ref, by cross-correlation of the mono mixes."""
    r = np.asarray(ref, np.float64).mean(axis=0)
    d = np.asarray(deg, np.float64).mean(axis=0)
    if r.size == 0 or d.size == 0:
        return 0
    d = d[: r.size + max_delay]
    size = 1 << int(math.ceil(math.log2(r.size + d.size)))
    c = np.fft.irfft(np.fft.rfft(d, size) * np.conj(np.fft.rfft(r, size)), size)
    return int(np.argmax(c[: max_delay + 1]))


def decode_file(path: str | os.PathLike, codec: str, sr_out: int, reference: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Decode a baseline file to [channels, samples] at sr_out; remove a codec delay found against reference.

    info has decode_seconds (decode + resampling) and delay_samples (at sr_out).
    """
    codec_spec(codec)
    t0 = time.perf_counter()
    try:
        y, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioGSError(f"{path}: cannot decode {codec} ({exc})") from None
    y = y.T.copy()
    if rate != sr_out:
        y = resample(y, rate, sr_out)
    seconds = time.perf_counter() - t0
    delay = 0
    if reference is not None:
        if y.shape[0] != reference.shape[0]:
            y = np.repeat(y.mean(axis=0, keepdims=True), reference.shape[0], axis=0) if reference.shape[0] > 1 else y.mean(axis=0, keepdims=True)
        if y.shape[1] > reference.shape[1]:
            delay = find_delay(reference, y, min(MAX_DELAY, y.shape[1] - reference.shape[1]))
            y = y[:, delay:]
        y = y[:, : reference.shape[1]]
    return y, {"decode_seconds": seconds, "delay_samples": int(delay), "decoded_rate": int(rate)}


@exits_2_on_user_error
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m audio_gs.bench.baselines", description="Opus / MP3 / Vorbis baselines via libsndfile.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("encode", help="encode a reference at a target bitrate (real size is measured)")
    e.add_argument("input")
    e.add_argument("-o", "--output", required=True)
    e.add_argument("--codec", required=True, choices=sorted(CODECS))
    e.add_argument("--kbps", type=float, required=True, help="target bitrate (kbit/s)")
    e.add_argument("--info", help="write encode facts as JSON here")
    d = sub.add_parser("decode", help="decode a baseline file to WAV at the reference's rate")
    d.add_argument("input")
    d.add_argument("-o", "--output", required=True)
    d.add_argument("--codec", required=True, choices=sorted(CODECS))
    d.add_argument("--reference", required=True, help="reference audio (its rate and length; delay alignment)")
    d.add_argument("--info", help="write decode facts as JSON here")
    rt = sub.add_parser("roundtrip", help="encode at a target bitrate and decode back (one process)")
    rt.add_argument("input", help="reference audio")
    rt.add_argument("-o", "--output", required=True, help="coded file")
    rt.add_argument("--decoded", required=True, help="decoded WAV at the reference's rate")
    rt.add_argument("--codec", required=True, choices=sorted(CODECS))
    rt.add_argument("--kbps", type=float, required=True, help="target bitrate (kbit/s)")
    rt.add_argument("--info", help="write encode + decode facts as JSON here")
    args = ap.parse_args(argv)
    if args.cmd == "roundtrip":
        x, sr = load_audio(args.input)
        data, info = encode_at_bitrate(x, sr, args.codec, args.kbps)
        atomic_write(args.output, lambda tmp: Path(tmp).write_bytes(data))
        y, dinfo = decode_file(args.output, args.codec, sr, x)
        save_audio(args.decoded, y, sr)
        info.update(dinfo)
    elif args.cmd == "encode":
        x, sr = load_audio(args.input)
        data, info = encode_at_bitrate(x, sr, args.codec, args.kbps)
        atomic_write(args.output, lambda tmp: Path(tmp).write_bytes(data))
    else:
        ref, sr = load_audio(args.reference)
        y, info = decode_file(args.input, args.codec, sr, ref)
        save_audio(args.output, y, sr)
    if args.info:
        Path(args.info).parent.mkdir(parents=True, exist_ok=True)
        Path(args.info).write_text(json.dumps(info, indent=2))
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
