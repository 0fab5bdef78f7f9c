"""Quantizing Gabor atoms (audio_gs.codec.model.Gabor) to integer symbols and back.

Precision knob. ``bits`` b for a parameter kind sets its step so that the kind adds about the error
of a phase quantized to 2^b levels (step theta_b = 2 pi / 2^b radians) to an atom; a per-kind
``bit_allocation`` overrides b kind by kind. Steps live in each atom's own resolution cell (the
preconditioning of audio_gs.atoms.Unconstrained), where one step costs the same error everywhere:

================  ==================================================================  ===========
kind              symbol                                                              step
================  ==================================================================  ===========
``log_sigma``     round(log2(sigma) * 2^r): a grid of 2^-r octaves                    2^-r ~ theta/ln 2
``time``          sorted by quantized time; delta of N/2^e (N: time in 2^-U s units)  2^e ~ 1.41 theta sigma
``chirp``         round(2 pi chirp sigma^2 / step)  (chirp in units of 1/(2 pi sigma^2))  2.2 theta
``freq``          round(2 pi freq sigma / step)     (freq in units of 1/(2 pi sigma))    1.2 theta
``amp``           round(amp_cos sqrt(sigma fs) / step), same for amp_sin                  0.8 theta rms
================  ==================================================================  ===========

Choices made by measurement (500 fitted atoms, 10 s speech at 16 kHz, same entropy coder):

- Amplitude as the cos/sin pair scaled by sqrt(sigma fs) (so that a step is the same error
  energy for every atom) beats log-amplitude + phase angle: 7.1 vs 7.6 bits per atom for the pair
  at the same 18 dB quantization SNR (and 5.0 vs 5.5 bits at 12 dB). The pair is kept.
- Frequency in units of the atom's bandwidth beats a mel grid: 9.7 vs 10.0 bits at equal error
  (a mel grid spends its levels evenly, while a 30 ms atom needs ~1 Hz and a 1 ms atom ~30 Hz).
- Time is re-referenced before the amplitudes are quantized: moving an atom by d seconds is undone,
  up to the envelope shift, by turning its phase by 2 pi (f d + c d^2 / 2) and setting f += c d, so
  the time step only has to be small next to sigma, not next to 1/freq.
- Steps scaled by each atom's energy (coarser for weak atoms) saved only 0.2-0.4 bits per kind
  and are not used; nor are per-sigma contexts in the entropy coder (no gain).
- Re-solving the amplitudes by least squares after the other kinds are quantized (``resolve_amplitudes``)
  recovers 0.1-1.1 dB of the loss at 4-6 bits. Quantization-aware fine-tuning (audio_gs.encoder.qat,
  200 steps) on top of it changed the loss by less than 0.05 dB on 500- and 2000-atom fits; at
  the fit's own learning rate it lost 0.1-0.7 dB (hence its lower learning rate).
- Operating points on that clip (first 10 s, 16 kHz; amplitudes re-solved): 8 bits costs 0.01 dB
  (500 atoms) / 0.02 dB (2000 atoms) at 51 / 49 bits per atom; 6 bits 0.09 / 0.31 dB at 39 / 37;
  5 bits 0.35 / 1.2 dB at 33 / 31; 4 bits 1.25 / 3.5 dB at 27 / 26.

Time coding. N_k (int64, time in units of 2^-U s) is a multiple of 2^e_k, where
e_k = max(floor((s_k + L) / 2^r) + U, 0) comes from atom k's log_sigma symbol s_k by integer
arithmetic only, so the parse never depends on floating point. Atoms are sorted by N; the time
symbol is d_k = (N_k >> e_k) - (N_{k-1} >> e_k) >= 0 with N_{-1} = origin.

Dequantization is float64 numpy arithmetic cast to float32: the same symbols give the same atoms
bit for bit. Numpy only: the encoder's amplitude re-solve is passed in (``resolve_amplitudes``), and
quantization-aware training lives on the encoder side (audio_gs.encoder.qat).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from typing import Callable

import numpy as np

from audio_gs.codec.kernels import undelta as _undelta  # C: N_k = ((N_{k-1} >> e_k) + d_k) << e_k
from audio_gs.codec.model import GABOR_FIELDS, NOISE_FIELDS, STEREO_MODES, Gabor, Noise, NoiseEnvelope
from audio_gs.errors import AudioGSError

KINDS = ("log_sigma", "time", "chirp", "freq", "amp")
# streams in payload order; "channel" only for two-channel atoms
STREAMS = ("channel", "log_sigma", "time", "chirp", "freq", "amp_cos", "amp_sin")
STREAM_KIND = {"channel": "channel", "log_sigma": "log_sigma", "time": "time", "chirp": "chirp", "freq": "freq",
               "amp_cos": "amp", "amp_sin": "amp"}
ALLOWED_BITS = range(2, 17)  # bits per parameter: the one list the CLI, configs and benchmark schema use
# step = STEP_SCALE[kind] * theta_b, calibrated so that each kind alone costs about the same error
STEP_SCALE = {"log_sigma": 1.0, "time": 1.41, "chirp": 2.2, "freq": 1.2, "amp": 0.8}
LOG2_SIGMA_RANGE = (-20.0, 1.0)  # sigma kept within [~1 us, 2 s]
MAX_SIGMA_SHIFT = 24  # r <= 24 (sigma grid no finer than 2^-24 octave)
MAX_TIME_UNIT = 40  # U <= 40
MAX_ABS_TIME = 2.0**20  # seconds; larger |time| is refused
MAX_SYMBOL = 2**40  # |symbol| bound (keeps every stream well inside int64)
TWO_PI = 2.0 * math.pi
LN2 = math.log(2.0)
# resolve_amplitudes(moved Gabor atoms) -> (amp_cos, amp_sin): the encoder's least-squares re-solve
AmplitudeSolver = Callable[[Gabor], "tuple[np.ndarray, np.ndarray]"]


@dataclass
class QuantizedAtoms:
    """Integer symbols of atoms sorted by time, plus what dequantization needs (the header).

    symbols: stream name -> int64 array [K] (see STREAMS); ranges: stream name -> (min, max).
    order: index of each symbol row in the atoms given to quantize (encoder side only; not stored).
    """

    sample_rate: int
    n_channels: int
    stereo_mode: str
    bits: dict[str, int]
    sigma_shift: int  # r: log2(sigma) grid of 2^-r octave
    time_unit: int  # U: time counted in 2^-U s
    time_offset: int  # L: time exponent offset (see module docstring)
    time_origin: int  # N before the first atom
    chirp_step: float  # float32 values (steps in natural units, see table)
    freq_step: float
    amp_step: float
    symbols: dict[str, np.ndarray]
    order: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.symbols["log_sigma"].shape[0])

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(s for s in STREAMS if s != "channel" or self.n_channels > 1)

    @property
    def ranges(self) -> dict[str, tuple[int, int]]:
        return {s: ((int(v.min()), int(v.max())) if v.size else (0, 0)) for s, v in self.symbols.items()}


def theta(bits: int) -> float:
    """Phase-equivalent step (radians) of a b-bit quantizer: 2 pi / 2^b."""
    return TWO_PI / float(2**bits)


def resolve_bits(bits_per_param: int, bit_allocation: dict | None = None) -> dict[str, int]:
    """Bits per kind: bits_per_param everywhere, overridden by bit_allocation {kind: bits}."""
    out = {k: bits_per_param for k in KINDS}
    for k, v in (bit_allocation or {}).items():
        if k not in KINDS:
            raise AudioGSError(f"bit_allocation: unknown parameter kind '{k}' (kinds: {', '.join(KINDS)})")
        out[k] = v
    for k, v in out.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) not in ALLOWED_BITS:
            raise AudioGSError(f"bits for '{k}' must be an integer from {ALLOWED_BITS.start} to "
                               f"{ALLOWED_BITS.stop - 1}, got {v!r}")
        out[k] = int(v)
    return out


# ---- shared symbol -> value maps (used by both quantize and dequantize, so they agree bit for bit) ----

def _f32(x) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):  # a value beyond float32 becomes inf, refused by the caller
        return np.asarray(x, dtype=np.float64).astype(np.float32)


def _log_sigma32(s: np.ndarray, r: int) -> np.ndarray:
    return _f32(s.astype(np.float64) * (2.0**-r) * LN2)


def _sigma_of(ls32: np.ndarray) -> np.ndarray:
    return np.exp(ls32.astype(np.float64))


def _time_exponents(s: np.ndarray, r: int, L: int, U: int) -> np.ndarray:
    return np.maximum((s + L) // (1 << r) + U, 0).astype(np.int64)


def _time32(n: np.ndarray, U: int) -> np.ndarray:
    return _f32(n.astype(np.float64) * (2.0**-U))


def _chirp32(q: np.ndarray, step: float, sigma: np.ndarray) -> np.ndarray:
    return _f32(q.astype(np.float64) * step / (TWO_PI * sigma * sigma))


def _freq32(q: np.ndarray, step: float, sigma: np.ndarray) -> np.ndarray:
    return _f32(q.astype(np.float64) * step / (TWO_PI * sigma))


def _amp32(q: np.ndarray, step: float, sigma: np.ndarray, sr: int) -> np.ndarray:
    return _f32(q.astype(np.float64) * step / np.sqrt(sigma * sr))


# ---- quantize ----------------------------------------------------------------------------------

def _check_atoms(g: Gabor, n_channels: int, stereo_mode: str) -> None:
    for name in GABOR_FIELDS:
        if not np.all(np.isfinite(np.asarray(getattr(g, name), np.float64))):
            raise AudioGSError(f"cannot quantize: atoms have non-finite {name}")
    if len(g) and float(np.abs(np.asarray(g.time, np.float64)).max()) > MAX_ABS_TIME:
        raise AudioGSError(f"cannot quantize: atom times beyond {MAX_ABS_TIME:.0f} s")
    if n_channels not in (1, 2):
        raise AudioGSError(f"cannot quantize: {n_channels} channels (1 or 2 supported)")
    if stereo_mode not in STEREO_MODES:
        raise AudioGSError(f"cannot quantize: unknown stereo mode '{stereo_mode}'")
    if len(g) and (int(np.min(g.channel)) < 0 or int(np.max(g.channel)) >= n_channels):
        raise AudioGSError("cannot quantize: atom channel out of range")


def quantize(g: Gabor, *, sample_rate: int, n_channels: int = 1, stereo_mode: str = "lr", bits_per_param: int = 8,
             bit_allocation: dict | None = None, resolve_amplitudes: AmplitudeSolver | None = None) -> QuantizedAtoms:
    """Integer symbols for Gabor atoms at the given precision (see module docstring).

    resolve_amplitudes, when given, is called with the atoms whose widths, times, chirps and
    frequencies are already quantized and returns new (amp_cos, amp_sin) for them (the encoder
    re-solves them by least squares on the original, so they absorb part of the other errors).
    """
    bits = resolve_bits(bits_per_param, bit_allocation)
    _check_atoms(g, n_channels, stereo_mode)
    sr = int(sample_rate)
    k = len(g)
    t = np.array(g.time, np.float64)
    f = np.array(g.freq, np.float64)
    c = np.array(g.chirp, np.float64)
    w = np.asarray(g.amp_cos, np.float64) - 1j * np.asarray(g.amp_sin, np.float64)  # atom = Re(w exp(i phi))
    sigma0 = np.exp(np.asarray(g.log_sigma, np.float64))

    # widths: grid of 2^-r octave
    r = int(np.clip(round(-math.log2(STEP_SCALE["log_sigma"] * theta(bits["log_sigma"]) / LN2)), 0, MAX_SIGMA_SHIFT))
    lo, hi = (int(math.ceil(v * 2**r)) for v in LOG2_SIGMA_RANGE)
    s_sig = np.clip(np.round(np.log2(sigma0) * 2**r), lo, hi).astype(np.int64)
    ls32 = _log_sigma32(s_sig, r)
    sigma = _sigma_of(ls32)
    w = w * np.sqrt(2.0) * sigma0 / np.sqrt(sigma0**2 + sigma**2)  # projection onto the new width

    # times: per-atom power-of-two steps ~ 1.41 theta sigma, in units of 2^-U s
    L = int(round(math.log2(STEP_SCALE["time"] * theta(bits["time"])) * 2**r))
    raw_e = (s_sig + L) // (1 << r)
    U = int(np.clip(-raw_e.min(), 0, MAX_TIME_UNIT)) if k else 0
    e = _time_exponents(s_sig, r, L, U)
    n = (np.round(t * 2.0**U / 2.0**e) * 2.0**e).astype(np.int64)
    t32 = _time32(n, U)
    d = t32.astype(np.float64) - t
    w = w * np.exp(1j * TWO_PI * (f * d + 0.5 * c * d * d))  # re-reference the phase to the new centre
    f = f + c * d
    order = np.lexsort((np.arange(k), n)).astype(np.int64)
    n_sorted = n[order]
    origin = int(n_sorted[0]) if k else 0
    prev = np.concatenate([[origin], n_sorted[:-1]]).astype(np.int64)
    e_sorted = e[order]
    d_sym = (n_sorted >> e_sorted) - (prev >> e_sorted)

    # chirps in units of 1/(2 pi sigma^2)
    chirp_step = float(np.float32(STEP_SCALE["chirp"] * theta(bits["chirp"])))
    q_chirp = np.round(TWO_PI * c * sigma**2 / chirp_step).astype(np.int64)
    c32 = _chirp32(q_chirp, chirp_step, sigma)
    w = w * np.exp(1j * math.pi * (c - c32.astype(np.float64)) * sigma**2 / 2)  # mean phase error

    # frequencies in units of 1/(2 pi sigma)
    freq_step = float(np.float32(STEP_SCALE["freq"] * theta(bits["freq"])))
    q_freq = np.round(TWO_PI * f * sigma / freq_step).astype(np.int64)
    f32 = _freq32(q_freq, freq_step, sigma)

    if resolve_amplitudes is not None and k:
        moved = Gabor(t32.astype(np.float64), f32.astype(np.float64), ls32.astype(np.float64),
                      c32.astype(np.float64), w.real.copy(), -w.imag, np.asarray(g.channel, np.int64))
        amp_cos, amp_sin = resolve_amplitudes(moved)
        w = np.asarray(amp_cos, np.float64) - 1j * np.asarray(amp_sin, np.float64)

    # amplitude pair scaled by sqrt(sigma fs): one step is the same error energy for every atom
    u = w * np.sqrt(sigma * sr)
    rms = float(np.sqrt(np.mean(np.abs(u) ** 2))) if k else 0.0
    amp_step = float(np.float32(STEP_SCALE["amp"] * theta(bits["amp"]) * rms)) if rms > 0 else 1.0
    if not np.isfinite(amp_step) or amp_step <= 0:
        amp_step = 1.0
    q_cos = np.round(u.real / amp_step).astype(np.int64)
    q_sin = np.round(-u.imag / amp_step).astype(np.int64)

    symbols = {"log_sigma": s_sig, "time": d_sym, "chirp": q_chirp, "freq": q_freq, "amp_cos": q_cos,
               "amp_sin": q_sin}
    if n_channels > 1:
        symbols["channel"] = np.asarray(g.channel, np.int64)
    symbols = {s: np.ascontiguousarray(symbols[s][order] if s != "time" else symbols[s], dtype=np.int64)
               for s in STREAMS if s in symbols}
    for s, v in symbols.items():
        if v.size and int(np.abs(v).max()) >= MAX_SYMBOL:
            raise AudioGSError(f"cannot quantize: {s} symbols out of range (atoms far outside the format's limits)")
    return QuantizedAtoms(sample_rate=sr, n_channels=int(n_channels), stereo_mode=stereo_mode, bits=bits,
                          sigma_shift=r, time_unit=U, time_offset=L, time_origin=origin, chirp_step=chirp_step,
                          freq_step=freq_step, amp_step=amp_step, symbols=symbols, order=order)


def dequantize(q: QuantizedAtoms) -> Gabor:
    """Gabor atoms (float32 arrays, sorted by time) from symbols; ValueError on inconsistent symbols."""
    sy = q.symbols
    k = len(q)
    r, U, L = q.sigma_shift, q.time_unit, q.time_offset
    ls32 = _log_sigma32(sy["log_sigma"], r)
    sigma = _sigma_of(ls32)
    e = _time_exponents(sy["log_sigma"], r, L, U)
    if k and int(e.max()) > 62:
        raise ValueError("time step exponent out of range")
    if k and int(sy["time"].min()) < 0:
        raise ValueError("negative time delta")
    n, ok = _undelta(np.ascontiguousarray(sy["time"], dtype=np.int64), e, np.int64(q.time_origin))
    if not ok:
        raise ValueError("time out of range")
    t32 = _time32(n, U)
    c32 = _chirp32(sy["chirp"], q.chirp_step, sigma)
    f32 = _freq32(sy["freq"], q.freq_step, sigma)
    ac32 = _amp32(sy["amp_cos"], q.amp_step, sigma, q.sample_rate)
    as32 = _amp32(sy["amp_sin"], q.amp_step, sigma, q.sample_rate)
    ch = sy["channel"] if q.n_channels > 1 else np.zeros(k, np.int64)
    vals = [t32, f32, ls32, c32, ac32, as32]
    if k and not all(np.isfinite(v).all() for v in vals):
        raise ValueError("non-finite parameter")
    return Gabor(*(np.ascontiguousarray(v) for v in vals), channel=np.array(ch, np.int64))


# ---- noise Gaussians ---------------------------------------------------------------------------------

NOISE_STREAMS = ("noise_channel", "noise_time", "noise_erb", "noise_log_st", "noise_log_se", "noise_level")
NOISE_LOG_ST_RANGE = (math.log(1e-4), math.log(10.0))  # time widths 0.1 ms .. 10 s
NOISE_LOG_SE_RANGE = (math.log(0.01), math.log(64.0))  # frequency widths 0.01 .. 64 Cams
NOISE_ERB_RANGE = (0.0, 64.0)  # centres in Cams (768 kHz / 2 is 57 Cams)
NOISE_LEVEL_RANGE_DB = (-300.0, 300.0)  # peak energy density


@dataclass(frozen=True)
class NoiseSteps:
    """Uniform quantizer steps of the noise Gaussians: time (s), erb (Cams), both log widths (natural
    log) and level, the peak energy density 10 log10(E / (2 pi st se)) in dB."""

    time: float = 0.004
    erb: float = 0.25
    log_width: float = 0.25
    level_db: float = 1.5

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.time, self.erb, self.log_width, self.level_db)


@dataclass
class QuantizedNoise:
    """Integer symbols of noise Gaussians sorted by time (NOISE_STREAMS), the steps and the time origin.
    order: index of each symbol row in the Gaussians given to quantize_noise (encoder side only)."""

    steps: NoiseSteps
    n_channels: int
    time_origin: int
    symbols: dict[str, np.ndarray]
    order: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.symbols["noise_time"].shape[0])

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(s for s in NOISE_STREAMS if s != "noise_channel" or self.n_channels > 1)


def _noise_level_db(log_energy, log_st, log_se) -> np.ndarray:
    return 10.0 / math.log(10.0) * (np.asarray(log_energy, np.float64) - math.log(TWO_PI) - log_st - log_se)


def quantize_noise(noise: Noise, *, n_channels: int = 1, steps: NoiseSteps = NoiseSteps()) -> QuantizedNoise:
    """Integer symbols of noise Gaussians (widths and centres clipped to the format's ranges)."""
    for name in NOISE_FIELDS:
        if not np.all(np.isfinite(np.asarray(getattr(noise, name), np.float64))):
            raise AudioGSError(f"cannot quantize: noise Gaussians have non-finite {name}")
    if not all(np.isfinite(s) and s > 0 for s in steps.as_tuple()):
        raise AudioGSError(f"cannot quantize: noise steps must be positive, got {steps}")
    steps = NoiseSteps(*(float(np.float32(v)) for v in steps.as_tuple()))  # as the file stores them
    k = len(noise)
    if k and (int(np.min(noise.channel)) < 0 or int(np.max(noise.channel)) >= n_channels):
        raise AudioGSError("cannot quantize: noise Gaussian channel out of range")
    if k and float(np.abs(np.asarray(noise.time, np.float64)).max()) > MAX_ABS_TIME:
        raise AudioGSError(f"cannot quantize: noise Gaussian times beyond {MAX_ABS_TIME:.0f} s")
    s_st = np.round(np.clip(noise.log_st, *NOISE_LOG_ST_RANGE) / steps.log_width).astype(np.int64)
    s_se = np.round(np.clip(noise.log_se, *NOISE_LOG_SE_RANGE) / steps.log_width).astype(np.int64)
    s_erb = np.round(np.clip(noise.erb, *NOISE_ERB_RANGE) / steps.erb).astype(np.int64)
    level = _noise_level_db(noise.log_energy, np.asarray(noise.log_st, np.float64), np.asarray(noise.log_se, np.float64))
    s_level = np.round(np.clip(level, *NOISE_LEVEL_RANGE_DB) / steps.level_db).astype(np.int64)
    tq = np.round(np.asarray(noise.time, np.float64) / steps.time).astype(np.int64)
    order = np.lexsort((np.arange(k), tq)).astype(np.int64)
    tq_sorted = tq[order]
    origin = int(tq_sorted[0]) if k else 0
    symbols = {"noise_time": np.diff(np.concatenate([[origin], tq_sorted])).astype(np.int64),
               "noise_erb": s_erb[order], "noise_log_st": s_st[order], "noise_log_se": s_se[order],
               "noise_level": s_level[order]}
    if n_channels > 1:
        symbols["noise_channel"] = np.asarray(noise.channel, np.int64)[order]
    symbols = {s: np.ascontiguousarray(symbols[s], np.int64) for s in NOISE_STREAMS if s in symbols}
    for s, v in symbols.items():
        if v.size and int(np.abs(v).max()) >= MAX_SYMBOL:
            raise AudioGSError(f"cannot quantize: {s} symbols out of range")
    return QuantizedNoise(steps=steps, n_channels=int(n_channels), time_origin=origin, symbols=symbols, order=order)


def noise_symbol_limits(steps: NoiseSteps) -> dict[str, tuple[int, int]]:
    """The range every symbol of a noise stream must lie in (the decoder refuses others)."""
    def lim(lo, hi, step):
        return int(math.floor(lo / step)) - 1, int(math.ceil(hi / step)) + 1

    return {"noise_channel": (0, 1), "noise_erb": lim(*NOISE_ERB_RANGE, steps.erb),
            "noise_log_st": lim(*NOISE_LOG_ST_RANGE, steps.log_width),
            "noise_log_se": lim(*NOISE_LOG_SE_RANGE, steps.log_width),
            "noise_level": lim(*NOISE_LEVEL_RANGE_DB, steps.level_db),
            "noise_time": (0, MAX_SYMBOL - 1)}


def dequantize_noise(q: QuantizedNoise) -> Noise:
    """Noise Gaussians (float32 arrays, sorted by time) from symbols; ValueError on inconsistent symbols."""
    sy, st = q.symbols, q.steps
    k = len(q)
    if k and int(sy["noise_time"].min()) < 0:
        raise ValueError("negative noise time delta")
    tq = np.cumsum(sy["noise_time"]) + q.time_origin
    if k and int(np.abs(tq).max()) * st.time > MAX_ABS_TIME:
        raise ValueError("noise time out of range")
    lst = sy["noise_log_st"].astype(np.float64) * st.log_width
    lse = sy["noise_log_se"].astype(np.float64) * st.log_width
    level = sy["noise_level"].astype(np.float64) * st.level_db
    ls32, le32 = _f32(lst), _f32(lse)
    log_energy = level * math.log(10.0) / 10.0 + math.log(TWO_PI) + ls32.astype(np.float64) + le32.astype(np.float64)
    vals = [_f32(tq.astype(np.float64) * st.time), _f32(sy["noise_erb"].astype(np.float64) * st.erb), ls32, le32,
            _f32(log_energy)]
    if k and not all(np.isfinite(v).all() for v in vals):
        raise ValueError("non-finite noise parameter")
    ch = sy["noise_channel"] if q.n_channels > 1 else np.zeros(k, np.int64)
    return Noise(*(np.ascontiguousarray(v) for v in vals), channel=np.array(ch, np.int64))


# ---- the noise envelope ------------------------------------------------------------------------

ENV_STREAM = "noise_env"
ENV_GAIN_RANGE_DB = (-60.0, 60.0)  # every decoded gain lies here
ENV_STEP_RANGE_DB = (0.01, 12.0)  # the quantizer step (dB) a file may state
ENV_HOP_RANGE = (1, 1 << 16)  # samples between envelope points
MAX_ENV_POINTS = 1 << 20  # envelope points of all channels together


@dataclass
class QuantizedEnvelope:
    """A noise envelope as integer symbols: per channel, the differences of round(gain / step_db)
    from the previous point (the first from 0), channel after channel."""

    band_hz: int
    hop: int
    step_db: float
    n_channels: int
    symbols: np.ndarray

    def __len__(self) -> int:
        return int(self.symbols.shape[0])


def check_envelope_header(band_hz: int, hop: int, step_db: float, sample_rate: int, n_samples: int,
                          n_channels: int) -> str | None:
    """Why an envelope's header values are invalid for this signal, or None when they are valid."""
    if not ENV_HOP_RANGE[0] <= hop <= ENV_HOP_RANGE[1]:
        return f"envelope hop {hop} samples outside {ENV_HOP_RANGE}"
    if not 0 <= band_hz < sample_rate / 2:
        return f"envelope band edge {band_hz} Hz outside [0, {sample_rate / 2:g})"
    if not (np.isfinite(step_db) and ENV_STEP_RANGE_DB[0] <= step_db <= ENV_STEP_RANGE_DB[1]):
        return f"envelope step {step_db} dB outside {ENV_STEP_RANGE_DB}"
    if n_channels * NoiseEnvelope.n_points(n_samples, hop) > MAX_ENV_POINTS:
        return f"envelope of more than {MAX_ENV_POINTS} points"
    return None


def env_symbol_limits(step_db: float) -> tuple[int, int]:
    """The range every envelope symbol must lie in: one step from the lowest gain to the highest."""
    span = int(math.ceil((ENV_GAIN_RANGE_DB[1] - ENV_GAIN_RANGE_DB[0]) / step_db))
    return -span, span


def quantize_envelope(env: NoiseEnvelope, *, sample_rate: int, n_samples: int, step_db: float = 3.0) -> QuantizedEnvelope:
    """Integer symbols of a noise envelope (gains clipped to ENV_GAIN_RANGE_DB, band edge to whole Hz)."""
    g = np.asarray(env.gain_db, np.float64)
    step_db = float(np.float32(step_db))
    band_hz, hop = int(round(env.band_hz)), int(env.hop)
    c = g.shape[0] if g.ndim == 2 else 0
    why = check_envelope_header(band_hz, hop, step_db, sample_rate, n_samples, max(c, 1))
    if why or g.ndim != 2 or g.shape[1] != NoiseEnvelope.n_points(n_samples, hop):
        raise AudioGSError(f"cannot quantize: {why or f'envelope gains of shape {g.shape}'}")
    if not np.isfinite(g).all():
        raise AudioGSError("cannot quantize: non-finite envelope gains")
    q = np.round(np.clip(g, *ENV_GAIN_RANGE_DB) / step_db).astype(np.int64)
    q = np.clip(q, math.ceil(ENV_GAIN_RANGE_DB[0] / step_db), math.floor(ENV_GAIN_RANGE_DB[1] / step_db))
    d = np.diff(np.concatenate([np.zeros((c, 1), np.int64), q], axis=1), axis=1)
    return QuantizedEnvelope(band_hz=band_hz, hop=hop, step_db=step_db, n_channels=c,
                             symbols=np.ascontiguousarray(d.reshape(-1), np.int64))


def dequantize_envelope(q: QuantizedEnvelope) -> NoiseEnvelope:
    """The envelope (float64 dB) from its symbols; ValueError when a gain leaves ENV_GAIN_RANGE_DB."""
    d = np.asarray(q.symbols, np.int64).reshape(q.n_channels, -1)
    g = np.cumsum(d, axis=1).astype(np.float64) * q.step_db
    if g.size and not (ENV_GAIN_RANGE_DB[0] - 1e-9 <= g.min() and g.max() <= ENV_GAIN_RANGE_DB[1] + 1e-9):
        raise ValueError("noise envelope gain out of range")
    return NoiseEnvelope(band_hz=float(q.band_hz), hop=int(q.hop), gain_db=g)
