"""Quality, rate and speed metrics for one (reference, decoded) pair, and the row of the benchmark built
from them with the facts of the files beside the decoded one (score_item; audio_gs.bench.scoring scores
many files in one process).

Signals are float arrays [samples] or [channels, samples] at the same rate (Hz); multichannel
signals are averaged to mono for the perceptual metrics. Every metric is computed on its own:
one that cannot be computed (library missing, signal too short, silent, ...) is recorded as
missing, with its reason, in the row's ``missing`` mapping, and its value is None. Nothing is
filled in or guessed.

Metric                       unit / range        better
snr_db                       dB                  higher   10 log10(sum ref^2 / sum (ref - deg)^2)
segsnr_db                    dB                  higher   mean of 20 ms frame SNRs clamped to [-10, 35] dB, silent frames skipped
si_sdr_db                    dB                  higher   scale-invariant SDR (Le Roux et al. 2019)
sdr_db                       dB                  higher   BSS-eval SDR (mir_eval, 512-tap distortion filter allowed)
pesq_wb                      MOS-LQO 1.0-4.64    higher   ITU-T P.862.2 wide-band, both signals resampled to 16 kHz
stoi                         0-1                 higher   short-time objective intelligibility (pystoi, 10 kHz inside)
visqol                       MOS-LQO 1-5         higher   ViSQOL v3 (visqol-python): speech mode at 16 kHz or audio mode at 48 kHz
lsd_db                       dB                  lower    log-spectral distance, 32 ms frames
mel_distance                 log10 units         lower    multi-resolution log-mel L1 distance (FFT 512/1024/2048, 64 mels)
kbps                         kbit/s              lower    8 * size of the coded file in bytes / duration
compression_ratio            x                   higher   size of 16-bit PCM of the reference / size of the coded file
encode_seconds, decode_seconds, decode_rtf (decode seconds / audio seconds: < 1 is faster than real time)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from audio_gs.errors import AudioGSError
from audio_gs.mel import mel_filterbank

QUALITY_METRICS = ("snr_db", "segsnr_db", "si_sdr_db", "sdr_db", "pesq_wb", "stoi", "visqol", "lsd_db", "mel_distance")
EPS = 1e-12


class MetricUnavailable(Exception):
    """A metric cannot be computed for this input; the message is the reason recorded."""


# ---- helpers ------------------------------------------------------------------------------------
def _mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if x.ndim != 1:
        raise ValueError(f"expected [samples] or [channels, samples], got shape {x.shape}")
    return x


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return x
    g = math.gcd(int(sr_in), int(sr_out))
    return resample_poly(x, sr_out // g, sr_in // g)


def match_length(ref: np.ndarray, deg: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Cut both to the shorter length; returns (ref, deg, length difference deg - ref in samples)."""
    n = min(ref.shape[-1], deg.shape[-1])
    return ref[..., :n], deg[..., :n], int(deg.shape[-1] - ref.shape[-1])


def _frames(x: np.ndarray, size: int, hop: int) -> np.ndarray:
    if x.shape[-1] < size:
        x = np.pad(x, (0, size - x.shape[-1]))
    n = 1 + (x.shape[-1] - size) // hop
    idx = np.arange(size)[None, :] + hop * np.arange(n)[:, None]
    return x[idx]


def _power_spec(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT|^2 with a Hann window, frames x bins."""
    win = np.hanning(n_fft + 1)[:-1]
    fr = _frames(np.pad(x, (n_fft // 2, n_fft // 2), mode="reflect" if x.size > n_fft // 2 else "constant"), n_fft, hop)
    return np.abs(np.fft.rfft(fr * win, axis=-1)) ** 2


# ---- quality metrics ----------------------------------------------------------------------------
def snr_db(ref: np.ndarray, deg: np.ndarray) -> float:
    """Signal-to-noise ratio in dB over the whole signal (any shape, same shape)."""
    ref = np.asarray(ref, np.float64)
    err = ref - np.asarray(deg, np.float64)
    num, den = float(np.sum(ref**2)), float(np.sum(err**2))
    if num <= 0:
        raise MetricUnavailable("reference is silent")
    if den <= 0:
        return float("inf")
    return 10 * math.log10(num / den)


def segmental_snr_db(ref: np.ndarray, deg: np.ndarray, sr: int, frame_ms: float = 20.0,
                     clamp=(-10.0, 35.0), silence_db: float = -50.0) -> float:
    """Mean of per-frame SNRs (dB, non-overlapping frame_ms frames) clamped to `clamp`.

    Frames whose reference energy is more than |silence_db| below the loudest frame are skipped.
    """
    ref, deg = _mono(ref), _mono(deg)
    size = max(1, int(round(sr * frame_ms / 1000)))
    n = ref.size // size
    if n < 1:
        raise MetricUnavailable(f"signal shorter than one {frame_ms:g} ms frame")
    r = ref[: n * size].reshape(n, size)
    e = r - deg[: n * size].reshape(n, size)
    pr, pe = np.sum(r**2, axis=1), np.sum(e**2, axis=1)
    if pr.max() <= 0:
        raise MetricUnavailable("reference is silent")
    keep = pr > pr.max() * 10 ** (silence_db / 10)
    seg = 10 * np.log10((pr[keep] + EPS) / (pe[keep] + EPS))
    return float(np.mean(np.clip(seg, *clamp)))


def si_sdr_db(ref: np.ndarray, deg: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (zero-mean signals, optimal scaling of ref)."""
    ref, deg = _mono(ref), _mono(deg)
    ref = ref - ref.mean()
    deg = deg - deg.mean()
    rr = float(np.dot(ref, ref))
    if rr <= 0:
        raise MetricUnavailable("reference is silent")
    target = (np.dot(deg, ref) / rr) * ref
    noise = deg - target
    tt, nn = float(np.dot(target, target)), float(np.dot(noise, noise))
    if nn <= 0:
        return float("inf")
    if tt <= 0:
        return float("-inf")
    return 10 * math.log10(tt / nn)


def sdr_mir_eval(ref: np.ndarray, deg: np.ndarray) -> float:
    """BSS-eval v3 SDR in dB from mir_eval.separation (one source)."""
    try:
        import mir_eval
    except ImportError as exc:
        raise MetricUnavailable(f"mir_eval not installed ({exc})") from None
    ref, deg = _mono(ref), _mono(deg)
    if not np.any(ref) or not np.any(deg):
        raise MetricUnavailable("reference or decoded signal is all zeros (mir_eval rejects silent sources)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sdr, _sir, _sar, _perm = mir_eval.separation.bss_eval_sources(ref[None], deg[None], compute_permutation=False)
    return float(sdr[0])


def pesq_wb(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """Wide-band PESQ (P.862.2) MOS-LQO; both signals resampled to 16 kHz first."""
    try:
        from pesq import pesq
    except ImportError as exc:
        raise MetricUnavailable(f"pesq not installed ({exc})") from None
    r = _resample(_mono(ref), sr, 16000)
    d = _resample(_mono(deg), sr, 16000)
    if r.size < 16000 // 4:
        raise MetricUnavailable(f"signal too short for PESQ ({r.size / 16000:.2f} s < 0.25 s)")
    try:
        return float(pesq(16000, r, d, "wb"))
    except Exception as exc:  # pesq raises NoUtterancesError, BufferTooShortError, ...
        raise MetricUnavailable(f"PESQ failed: {type(exc).__name__}: {exc}") from None


def stoi_score(ref: np.ndarray, deg: np.ndarray, sr: int) -> float:
    """STOI intelligibility in [0, 1] (pystoi; resamples to 10 kHz inside)."""
    try:
        from pystoi import stoi
    except ImportError as exc:
        raise MetricUnavailable(f"pystoi not installed ({exc})") from None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        val = float(stoi(_mono(ref), _mono(deg), sr, extended=False))
    for w in caught:
        if "Not enough STFT frames" in str(w.message):
            raise MetricUnavailable("signal too short for STOI (fewer than 30 non-silent 25.6 ms frames)")
    return val


_VISQOL_APIS: dict = {}


def visqol_score(ref: np.ndarray, deg: np.ndarray, sr: int, mode: str = "audio") -> tuple[float, str]:
    """ViSQOL MOS-LQO and a note on how it was run.

    mode "speech": both signals at 16 kHz (speech model; deep-lattice mapper when ai-edge-litert is
    installed, else the polynomial mapping, which the note says). mode "audio": both at 48 kHz.
    """
    if mode not in ("speech", "audio"):
        raise ValueError(f"visqol mode must be speech or audio, got {mode!r}")
    try:
        from visqol import VisqolApi
    except ImportError as exc:
        raise MetricUnavailable(f"visqol-python not installed ({exc})") from None
    target = 16000 if mode == "speech" else 48000
    r = _resample(_mono(ref), sr, target)
    d = _resample(_mono(deg), sr, target)
    if mode not in _VISQOL_APIS:
        api = VisqolApi()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            api.create(mode=mode)
        _VISQOL_APIS[mode] = api
    api = _VISQOL_APIS[mode]
    note = f"{mode} mode at {target} Hz"
    if mode == "speech":
        try:
            import ai_edge_litert  # noqa: F401

            note += ", lattice mapper"
        except ImportError:
            note += ", polynomial mapper (ai-edge-litert not installed)"
    try:
        res = api.measure_from_arrays(r, d, target)
    except Exception as exc:
        raise MetricUnavailable(f"ViSQOL failed: {type(exc).__name__}: {exc}") from None
    val = float(res.moslqo)
    if not math.isfinite(val):
        raise MetricUnavailable("ViSQOL returned a non-finite score")
    return val, note


def log_spectral_distance(ref: np.ndarray, deg: np.ndarray, sr: int, frame_ms: float = 32.0) -> float:
    """Mean over frames of the RMS over frequency of 10 log10(P_ref / P_deg), in dB (power floor 1e-10)."""
    ref, deg = _mono(ref), _mono(deg)
    n_fft = 1 << int(round(math.log2(max(16, sr * frame_ms / 1000))))
    pr = _power_spec(ref, n_fft, n_fft // 4)
    pd = _power_spec(deg, n_fft, n_fft // 4)
    diff = 10 * np.log10(pr + 1e-10) - 10 * np.log10(pd + 1e-10)
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=1))))


def multires_mel_distance(ref: np.ndarray, deg: np.ndarray, sr: int, n_ffts=(512, 1024, 2048), n_mels: int = 64) -> float:
    """Mean over FFT sizes of mean |log10 mel_ref - log10 mel_deg| (magnitude mel, floor 1e-5), hop n_fft/4."""
    ref, deg = _mono(ref), _mono(deg)
    out = []
    for n_fft in n_ffts:
        fb = mel_filterbank(sr, n_fft, n_mels, unit_area=True)
        mr = np.sqrt(_power_spec(ref, n_fft, n_fft // 4)) @ fb.T
        md = np.sqrt(_power_spec(deg, n_fft, n_fft // 4)) @ fb.T
        out.append(np.mean(np.abs(np.log10(np.maximum(mr, 1e-5)) - np.log10(np.maximum(md, 1e-5)))))
    return float(np.mean(out))


# ---- rate and speed -----------------------------------------------------------------------------
def file_bitrate_kbps(path: str | os.PathLike, duration_s: float) -> float:
    """8 * (real size of the file in bytes) / duration, in kbit/s."""
    if duration_s <= 0:
        raise ValueError("duration must be positive")
    return os.path.getsize(path) * 8 / duration_s / 1000.0


def compression_ratio(path: str | os.PathLike, duration_s: float, sample_rate: int, channels: int = 1) -> float:
    """Size of 16-bit PCM of the reference (sample_rate * channels * 2 bytes per second) / the file's size."""
    size = os.path.getsize(path)
    if size <= 0:
        raise MetricUnavailable(f"{path} is empty")
    return duration_s * sample_rate * channels * 2 / size


# ---- one row ------------------------------------------------------------------------------------
def evaluate(ref: np.ndarray, deg: np.ndarray, sr: int, *, visqol_mode: str = "audio", coded_file=None,
             channels: int | None = None, encode_seconds: float | None = None,
             decode_seconds: float | None = None, metrics=None) -> dict:
    """All metrics for one pair, as a flat dict; `missing` maps each metric not computed to its reason.

    ref and deg are cut to the shorter length (the difference is recorded as length_diff_samples).
    coded_file is the file whose real size gives kbps and compression_ratio.
    """
    ref = np.asarray(ref, np.float64)
    deg = np.asarray(deg, np.float64)
    if ref.ndim == 1:
        ref = ref[None]
    if deg.ndim == 1:
        deg = deg[None]
    if deg.shape[0] != ref.shape[0]:
        deg = np.repeat(deg.mean(axis=0, keepdims=True), ref.shape[0], axis=0)
    n_ref = ref.shape[-1]
    ref, deg, diff = match_length(ref, deg)
    duration = n_ref / sr
    row: dict = {"duration_s": duration, "sample_rate": sr, "length_diff_samples": diff}
    missing: dict = {}
    notes: dict = {}
    wanted = set(metrics or QUALITY_METRICS)

    def _do(name, fn):
        if name not in wanted:
            return
        try:
            val = fn()
            if isinstance(val, tuple):
                val, notes[name] = val
            if val is None or (isinstance(val, float) and math.isnan(val)):
                raise MetricUnavailable("metric returned NaN")
            row[name] = float(val)
        except MetricUnavailable as exc:
            row[name] = None
            missing[name] = str(exc)
        except Exception as exc:  # a bug or a library failure: still recorded, never invented
            row[name] = None
            missing[name] = f"{type(exc).__name__}: {exc}"

    _do("snr_db", lambda: snr_db(ref, deg))
    _do("segsnr_db", lambda: segmental_snr_db(ref, deg, sr))
    _do("si_sdr_db", lambda: si_sdr_db(ref, deg))
    _do("sdr_db", lambda: sdr_mir_eval(ref, deg))
    _do("pesq_wb", lambda: pesq_wb(ref, deg, sr))
    _do("stoi", lambda: stoi_score(ref, deg, sr))
    _do("visqol", lambda: visqol_score(ref, deg, sr, visqol_mode))
    _do("lsd_db", lambda: log_spectral_distance(ref, deg, sr))
    _do("mel_distance", lambda: multires_mel_distance(ref, deg, sr))

    if coded_file is not None:
        row["bytes"] = os.path.getsize(coded_file)
        row["kbps"] = file_bitrate_kbps(coded_file, duration)
        try:
            row["compression_ratio"] = compression_ratio(coded_file, duration, sr, channels or ref.shape[0])
        except MetricUnavailable as exc:
            row["compression_ratio"] = None
            missing["compression_ratio"] = str(exc)
    for name, val in (("encode_seconds", encode_seconds), ("decode_seconds", decode_seconds)):
        row[name] = None if val is None else float(val)
        if val is None:
            missing[name] = "not measured for this codec"
    row["decode_rtf"] = None if decode_seconds is None else float(decode_seconds) / duration
    row["missing"] = missing
    row["notes"] = notes
    return row


# ---- one row: a decoded file with the facts of its side files --------------------------------------
CODEC_INFO_FIELDS = (("level", "codec_level"), ("target_reached", "target_reached"), ("encode_rate", "encode_rate"),
                     ("delay_samples", "delay_samples"), ("levels_tried", "levels_tried"),
                     ("library", "codec_library"), ("container_overhead_bytes", "container_overhead_bytes"),
                     ("container_framing_bytes", "container_framing_bytes"), ("mode", "codec2_mode"))
FIT_SUMMARY_FIELDS = (("n_gaussians", "gaussians_fitted"), ("n_noise_gaussians", "noise_gaussians"),
                      ("snr_db", "fit_snr_db"), ("fit_seconds", "fit_seconds"), ("steps", "fit_steps"))


def _read_json(path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise AudioGSError(f"{p}: no such file")
    try:
        return json.loads(p.read_text())
    except ValueError as exc:
        raise AudioGSError(f"{p}: not valid JSON ({exc})") from None


def ags_overhead(coded) -> dict:
    """Bytes of an .ags file that are not atom payload: its header (magic, version, rate, quantizer
    ranges) and CRC32, as the codec's own parser counts them."""
    from audio_gs import __version__
    from audio_gs.codec.bitstream import unpack

    _, _, info = unpack(Path(coded).read_bytes())
    return {"codec_library": f"audio_gs {__version__}", "container_overhead_bytes": int(info["header_bytes"]) + 4,
            "container_framing_bytes": 0}


def item_facts(item: dict) -> tuple[dict, float | None, float | None]:
    """(row fields, encode seconds, decode seconds) read from an item's side files."""
    row: dict = {}
    timing: dict = {}
    for key in ("timing", "codec_info"):
        if item.get(key) and Path(item[key]).is_file():
            timing.update(_read_json(item[key]))
    if item.get("codec_info"):
        info = _read_json(item["codec_info"])
        for src, dst in CODEC_INFO_FIELDS:
            if src in info:
                row[dst] = info[src]
    enc = timing.get("encode_seconds")
    if item.get("fit_summary"):
        fs = _read_json(item["fit_summary"])
        if enc is None and fs.get("fit_seconds") is not None:  # the fit is audio_gs's encoder
            enc = float(fs["fit_seconds"]) + float(timing.get("quantize_seconds") or 0.0)
        for src, dst in FIT_SUMMARY_FIELDS:
            row[dst] = fs.get(src)
        if fs.get("target_kbps") and row.get("gaussians") is None:
            row["gaussians"] = fs.get("n_gaussians")  # rate point: the count the fit chose
    if item.get("coded") and str(item["coded"]).endswith(".ags"):
        row.update(ags_overhead(item["coded"]))
    return row, enc, timing.get("decode_seconds")


def score_item(ref: np.ndarray, sr: int, item: dict, *, visqol_mode: str = "audio", metrics=None) -> dict:
    """One row: item['meta'], the facts of its side files and every metric of its decoded file vs ref."""
    from audio_gs.audio_io import load_audio

    row: dict = dict(item.get("meta") or {})
    facts, enc, dec = item_facts(item)
    row.update(facts)
    deg, sr_d = load_audio(item["decoded"])
    if sr_d != sr:
        deg = np.stack([_resample(c, sr_d, sr) for c in deg.astype(np.float64)])
    res = evaluate(ref, deg, sr, visqol_mode=visqol_mode, coded_file=item.get("coded"), encode_seconds=enc,
                   decode_seconds=dec, metrics=metrics)
    if sr_d != sr:
        res["notes"]["resampled"] = f"decoded file at {sr_d} Hz resampled to the reference's {sr} Hz"
    row.update(res)
    return finite_or_none(row)


def finite_or_none(row: dict) -> dict:
    """JSON has no inf: an infinite SNR (bit-exact) is written as +-999.0 with a note."""
    for k, v in list(row.items()):
        if isinstance(v, float) and math.isinf(v):
            row[k] = 999.0 if v > 0 else -999.0
            row.setdefault("notes", {})[k] = "infinite (identical signals), written as +-999"
    return row


def json_default(o):
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    raise TypeError(type(o).__name__)



# ---- command line -------------------------------------------------------------------------------
def main(argv=None) -> int:
    """One decoded file scored against its reference (the pipeline scores many at once with
    audio_gs.bench.scoring, which builds each row the same way)."""
    ap = argparse.ArgumentParser(prog="python -m audio_gs.bench.metrics", description="Metrics of one decoded file against its reference.")
    ap.add_argument("--reference", required=True, help="reference audio (the benchmark excerpt)")
    ap.add_argument("--decoded", required=True, help="decoded audio to score")
    ap.add_argument("--coded_file", help="the compressed file (.ags, .opus, ...): its real size gives kbps")
    ap.add_argument("--visqol_mode", default="audio", choices=("audio", "speech"))
    ap.add_argument("--timing_json", help="JSON file with encode_seconds / decode_seconds")
    ap.add_argument("--meta", action="append", default=[], help="KEY=VALUE copied into the row (repeatable)")
    ap.add_argument("--fit_summary", help="summary.json of `audio-gs fit`: adds gaussians_fitted, fit_snr_db, fit_seconds, fit_steps")
    ap.add_argument("--codec_info", help="baseline encode/decode info JSON: adds codec_level, codec_library, "
                    "container_overhead_bytes, target_reached, encode_rate, delay_samples")
    ap.add_argument("--metrics", help="comma-separated subset of " + ",".join(QUALITY_METRICS))
    ap.add_argument("-o", "--output", required=True, help="row as JSON")
    args = ap.parse_args(argv)

    from audio_gs.audio_io import load_audio

    meta: dict = {}
    for kv in args.meta:
        k, _, v = kv.partition("=")
        try:  # numbers and booleans keep their type; anything else is a string
            meta[k] = json.loads(v)
        except ValueError:
            meta[k] = v
    item = {"decoded": args.decoded, "coded": args.coded_file, "timing": args.timing_json,
            "fit_summary": args.fit_summary, "codec_info": args.codec_info, "meta": meta}
    try:
        ref, sr = load_audio(args.reference)
        row = score_item(ref, sr, item, visqol_mode=args.visqol_mode,
                         metrics=args.metrics.split(",") if args.metrics else None)
    except AudioGSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(row, indent=2, default=json_default))
    for k, v in (row.get("missing") or {}).items():
        print(f"metric {k} missing: {v}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
