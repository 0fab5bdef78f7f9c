"""Quantizing Atoms to integer symbols and back.

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
- Re-solving the amplitudes by least squares after the other kinds are quantized (``target``)
  recovers 0.1-1.1 dB of the loss at 4-6 bits. Quantization-aware fine-tuning (``qat_finetune``,
  200 steps) on top of it changed the loss by less than 0.05 dB on 500- and 2000-atom fits; at
  the fit's own learning rate it lost 0.1-0.7 dB, hence QAT_LR_RATIO.
- Operating points on that clip (first 10 s, 16 kHz; amplitudes re-solved): 8 bits costs 0.01 dB
  (500 atoms) / 0.02 dB (2000 atoms) at 51 / 49 bits per atom; 6 bits 0.09 / 0.31 dB at 39 / 37;
  5 bits 0.35 / 1.2 dB at 33 / 31; 4 bits 1.25 / 3.5 dB at 27 / 26.

Time coding. N_k (int64, time in units of 2^-U s) is a multiple of 2^e_k, where
e_k = max(floor((s_k + L) / 2^r) + U, 0) comes from atom k's log_sigma symbol s_k by integer
arithmetic only, so the parse never depends on floating point. Atoms are sorted by N; the time
symbol is d_k = (N_k >> e_k) - (N_{k-1} >> e_k) >= 0 with N_{-1} = origin.

Dequantization is float64 numpy arithmetic cast to float32: the same symbols give the same Atoms
bit for bit. ``fake_quantize`` is the straight-through version for quantization-aware training,
``qat_finetune`` runs it in the core fitter's loop (audio_gs.fit.optimize).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from numba import njit

from audio_gs.atoms import Atoms
from audio_gs.errors import AudioGSError

KINDS = ("log_sigma", "time", "chirp", "freq", "amp")
# streams in payload order; "channel" only for two-channel atoms
STREAMS = ("channel", "log_sigma", "time", "chirp", "freq", "amp_cos", "amp_sin")
STREAM_KIND = {"channel": "channel", "log_sigma": "log_sigma", "time": "time", "chirp": "chirp", "freq": "freq",
               "amp_cos": "amp", "amp_sin": "amp"}
ALLOWED_BITS = range(2, 17)
# step = STEP_SCALE[kind] * theta_b, calibrated so that each kind alone costs about the same error
STEP_SCALE = {"log_sigma": 1.0, "time": 1.41, "chirp": 2.2, "freq": 1.2, "amp": 0.8}
LOG2_SIGMA_RANGE = (-20.0, 1.0)  # sigma kept within [~1 us, 2 s]
MAX_SIGMA_SHIFT = 24  # r <= 24 (sigma grid no finer than 2^-24 octave)
MAX_TIME_UNIT = 40  # U <= 40
MAX_ABS_TIME = 2.0**20  # seconds; larger |time| is refused
MAX_SYMBOL = 2**40  # |symbol| bound (keeps every stream well inside int64)
TWO_PI = 2.0 * math.pi
LN2 = math.log(2.0)
QAT_LR_RATIO = 0.1  # fine-tuning restarts Adam on a converged fit: the fit's own lr first loses SNR


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


@njit(cache=True)
def _undelta(d, e, origin):  # pragma: no cover - numba
    """N_k = ((N_{k-1} >> e_k) + d_k) << e_k; returns (N, ok) with ok False on overflow."""
    n = np.empty(d.shape[0], dtype=np.int64)
    prev = origin
    limit = np.int64(1) << np.int64(60)
    for k in range(d.shape[0]):
        ek = e[k]
        v = (prev >> ek) + d[k]
        if v > (limit >> ek) or v < -(limit >> ek):
            return n, False
        prev = v << ek
        n[k] = prev
    return n, True


# ---- quantize ----------------------------------------------------------------------------------

def _check_atoms(atoms: Atoms) -> None:
    for name in ("time", "freq", "log_sigma", "chirp", "amp_cos", "amp_sin"):
        v = getattr(atoms, name)
        if not bool(torch.isfinite(v).all()):
            raise AudioGSError(f"cannot quantize: atoms have non-finite {name}")
    if len(atoms) and float(atoms.time.detach().abs().max()) > MAX_ABS_TIME:
        raise AudioGSError(f"cannot quantize: atom times beyond {MAX_ABS_TIME:.0f} s")
    if atoms.n_channels not in (1, 2):
        raise AudioGSError(f"cannot quantize: {atoms.n_channels} channels (1 or 2 supported)")
    if atoms.stereo_mode not in ("lr", "ms"):
        raise AudioGSError(f"cannot quantize: unknown stereo mode '{atoms.stereo_mode}'")
    if len(atoms) and (int(atoms.channel.min()) < 0 or int(atoms.channel.max()) >= atoms.n_channels):
        raise AudioGSError("cannot quantize: atom channel out of range")


def quantize(atoms: Atoms, bits_per_param: int = 8, bit_allocation: dict | None = None,
             target: torch.Tensor | np.ndarray | None = None, n_samples: int | None = None) -> QuantizedAtoms:
    """Integer symbols for atoms at the given precision (see module docstring).

    target (model channels [C, N]), when given, re-solves the amplitudes by least squares after
    widths, times, chirps and frequencies are quantized (encoder side only), so the amplitudes
    absorb part of their error.
    """
    bits = resolve_bits(bits_per_param, bit_allocation)
    _check_atoms(atoms)
    a = atoms.detach().to(device="cpu", dtype=torch.float64)
    sr = int(atoms.sample_rate)
    k = len(a)
    t = a.time.numpy().copy()
    f = a.freq.numpy().copy()
    c = a.chirp.numpy().copy()
    w = a.amp_cos.numpy() - 1j * a.amp_sin.numpy()  # atom = Re(w exp(i phi))
    sigma0 = np.exp(a.log_sigma.numpy())

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

    if target is not None and k:
        from audio_gs.lstsq import solve_amplitudes  # encoder only

        tgt = torch.as_tensor(np.asarray(target.detach().cpu() if isinstance(target, torch.Tensor) else target),
                              dtype=torch.float64)
        moved = Atoms(torch.as_tensor(t32.astype(np.float64)), torch.as_tensor(f32.astype(np.float64)),
                      torch.as_tensor(ls32.astype(np.float64)), torch.as_tensor(c32.astype(np.float64)),
                      torch.as_tensor(w.real.copy()), torch.as_tensor(-w.imag), a.channel, sr, a.n_channels,
                      a.stereo_mode)
        solved = solve_amplitudes(moved, tgt, n_samples or tgt.shape[-1], iterations=20)
        w = solved.amp_cos.numpy() - 1j * solved.amp_sin.numpy()

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
    if atoms.n_channels > 1:
        symbols["channel"] = a.channel.numpy().astype(np.int64)
    symbols = {s: np.ascontiguousarray(symbols[s][order] if s != "time" else symbols[s], dtype=np.int64)
               for s in STREAMS if s in symbols}
    for s, v in symbols.items():
        if v.size and int(np.abs(v).max()) >= MAX_SYMBOL:
            raise AudioGSError(f"cannot quantize: {s} symbols out of range (atoms far outside the format's limits)")
    return QuantizedAtoms(sample_rate=sr, n_channels=int(atoms.n_channels), stereo_mode=atoms.stereo_mode, bits=bits,
                          sigma_shift=r, time_unit=U, time_offset=L, time_origin=origin, chirp_step=chirp_step,
                          freq_step=freq_step, amp_step=amp_step, symbols=symbols, order=order)


def dequantize(q: QuantizedAtoms) -> Atoms:
    """Atoms (float32, sorted by time) from symbols; raises ValueError on inconsistent symbols."""
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
    return Atoms(*(torch.from_numpy(np.ascontiguousarray(v)) for v in vals), channel=torch.from_numpy(ch.copy()),
                 sample_rate=q.sample_rate, n_channels=q.n_channels, stereo_mode=q.stereo_mode)


# ---- quantization-aware training -----------------------------------------------------------------

def fake_quantize(atoms: Atoms, bits_per_param: int = 8, bit_allocation: dict | None = None) -> Atoms:
    """Atoms whose values are the quantized ones (in the input's order) and whose gradient passes
    straight through to the input parameters (straight-through estimator)."""
    q = quantize(atoms, bits_per_param, bit_allocation)
    deq = dequantize(q)
    inv = torch.empty(len(q), dtype=torch.long)
    inv[torch.from_numpy(q.order)] = torch.arange(len(q))
    out = {}
    for name in ("time", "freq", "log_sigma", "chirp", "amp_cos", "amp_sin"):
        x = getattr(atoms, name)
        hard = getattr(deq, name)[inv].to(dtype=x.dtype, device=x.device)
        out[name] = x + (hard - x).detach()
    return Atoms(**out, channel=atoms.channel, sample_rate=atoms.sample_rate, n_channels=atoms.n_channels,
                 stereo_mode=atoms.stereo_mode)


def qat_finetune(atoms: Atoms, signal: torch.Tensor | np.ndarray, n_samples: int, cfg: dict, steps: int) -> Atoms:
    """Short Adam fit (audio_gs.fit.optimize, at QAT_LR_RATIO x cfg["lr"]) of atoms to signal [C, N]
    (model channels) with the quantizer of cfg["bits_per_param"] / cfg["bit_allocation"] in the loop;
    returns float Atoms to be quantized."""
    if steps <= 0 or len(atoms) == 0:
        return atoms
    from audio_gs.config import DEFAULTS
    from audio_gs.fit import optimize

    cfg = {**DEFAULTS, **cfg}
    cfg["lr"] = cfg["lr"] * QAT_LR_RATIO
    bits, alloc = int(cfg["bits_per_param"]), cfg.get("bit_allocation")
    resolve_bits(bits, alloc)
    target = torch.as_tensor(np.asarray(signal.detach().cpu() if isinstance(signal, torch.Tensor) else signal),
                             dtype=atoms.time.dtype)
    if target.ndim == 1:
        target = target[None]
    if target.shape[-1] < n_samples:
        target = torch.nn.functional.pad(target, (0, n_samples - target.shape[-1]))
    target = target[..., :n_samples].contiguous()
    return optimize(atoms.detach(), target, cfg, steps, transform=lambda a: fake_quantize(a, bits, alloc))
