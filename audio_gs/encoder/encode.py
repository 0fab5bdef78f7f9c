"""Audio to .ags bytes: fit the tonal atoms, quantize them (amplitudes re-solved on the original),
fit noise Gaussians to what the decoded atoms leave, pack both; with a target bitrate, choose the
number of atoms so that the file lands on it.

Rate control (cfg["kbps"]): the noise layer gets cfg["noise_per_second"] Gaussians; the tonal
atoms get the rest of the bits. The atom count to fit is estimated from the bits per atom of the
quantizer (``atoms_for_rate``, with a small surplus); after the fit, atoms are added by matching
pursuit while the file is clearly short of the target, or the least important ones are dropped
(importance = energy / local level of the signal, see ``importance``) until it fits, and the
amplitudes are re-solved. The file lands between 6 % and 0 % below the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from audio_gs.codec import bitstream
from audio_gs.codec.model import Model, Noise, NoiseEnvelope
from audio_gs.codec.quantize import NoiseSteps, dequantize, dequantize_noise, quantize, quantize_envelope, quantize_noise
from audio_gs.codec.render import render_gabor
from audio_gs.encoder.atoms import Atoms
from audio_gs.encoder.coding import amplitude_solver
from audio_gs.encoder.noise_fit import NoiseFitOptions, fit_noise

HEADER_BYTES = 64  # allowance for the header when sizing a file
RATE_TOLERANCE = 0.03  # aim within this share below the target (the promise is 5 %)


@dataclass
class Encoded:
    """An encoded file and how it was made."""

    data: bytes
    model: Model  # what the decoder will read (dequantized)
    atoms: Atoms  # the float tonal atoms that were quantized
    noise: Noise  # the float noise Gaussians that were quantized
    info: dict = field(default_factory=dict)


def noise_options(cfg: dict) -> NoiseFitOptions:
    return NoiseFitOptions(steps=int(cfg["noise_steps"]), gain_db=float(cfg["noise_gain_db"]),
                           bands_per_erb=float(cfg["noise_bands_per_erb"]), min_st_ms=float(cfg["noise_min_ms"]),
                           max_se_erb=float(cfg["noise_max_erb"]),
                           smooth_frames=float(cfg["noise_smooth_frames"]),
                           env_weight=float(cfg["noise_env_weight"]))


def noise_count(cfg: dict, n_samples: int, sample_rate: int) -> int:
    return int(round(float(cfg["noise_per_second"]) * n_samples / sample_rate))


def pack_model(atoms: Atoms, target: torch.Tensor, n_samples: int, cfg: dict, noise: Noise | None = None,
               resolve: bool = True, scope=None, envelope: NoiseEnvelope | None = None) -> tuple[bytes, Model, Noise]:
    """Quantize atoms (amplitudes re-solved on target when resolve), fit noise Gaussians to the residual
    of the decoded atoms unless `noise` is given, set their envelope (cfg["envelope_ms"] > 0) unless
    `envelope` is given, and pack them all. Returns (bytes, decoded Model, float noise).
    scope: a windowed fit's audio_gs.encoder.windows.WindowScope (the noise fitted window by window)."""
    sr, nc = atoms.sample_rate, atoms.n_channels
    solver = None
    if resolve:
        from audio_gs.encoder.fit import fit_norm

        solver = amplitude_solver(target, n_samples, sr, nc, atoms.stereo_mode, norm=fit_norm(target, sr, cfg))
    q = quantize(atoms.to_gabor(), sample_rate=sr, n_channels=nc, stereo_mode=atoms.stereo_mode,
                 bits_per_param=cfg["bits_per_param"], bit_allocation=cfg["bit_allocation"],
                 resolve_amplitudes=solver)
    gabor = dequantize(q)
    tonal = None
    if noise is None:
        k = noise_count(cfg, n_samples, sr)
        noise = Noise.empty()
        if k:
            tonal = render_gabor(gabor, sr, n_samples, nc)
            fit = scope.fit_noise if scope is not None else fit_noise
            noise = fit(np.asarray(target.detach().double().numpy()) - tonal, sr, k, noise_options(cfg), tonal=tonal)
    qn = quantize_noise(noise, n_channels=nc, steps=NoiseSteps()) if len(noise) else None
    seed = int(cfg["seed"]) % (1 << 63)
    qe = None
    if qn is not None and float(cfg["envelope_ms"]) > 0:
        if envelope is None:
            tonal = render_gabor(gabor, sr, n_samples, nc) if tonal is None else tonal
            envelope = envelope_for(target, tonal, dequantize_noise(qn), seed, sr, cfg)
        qe = quantize_envelope(envelope, sample_rate=sr, n_samples=n_samples, step_db=float(cfg["envelope_step_db"]))
    data = bitstream.pack(q, n_samples, noise=qn, noise_seed=seed, envelope=qe, noise_gate=bool(cfg["noise_gate"]))
    from audio_gs.codec.compress import decode

    return data, decode(data), noise


def envelope_for(target: torch.Tensor, tonal: np.ndarray, noise: Noise, seed: int, sample_rate: int,
                 cfg: dict) -> NoiseEnvelope:
    """The noise envelope (audio_gs.encoder.noise_env) for the decoded noise Gaussians `noise` as the
    decoder renders them with `seed` (gated by the decoded tonal part when cfg["noise_gate"]), given that
    tonal part and the original, at cfg's hop
    (envelope_ms), band edge (envelope_hz) and gain (envelope_gain_db)."""
    from audio_gs.codec.noise import render_noise
    from audio_gs.encoder.noise_env import fit_envelope

    x = np.asarray(target.detach().double().numpy())
    c, n = x.shape
    rendered = render_noise(noise, sample_rate, n, c, seed, tonal=tonal if cfg["noise_gate"] else None)
    hop = max(1, int(round(float(cfg["envelope_ms"]) * sample_rate / 1000)))
    band = min(float(cfg["envelope_hz"]), sample_rate / 2 - 1)
    return fit_envelope(x, tonal, rendered, sample_rate, hop, band, float(cfg["envelope_gain_db"]))


def importance(atoms: Atoms, target: torch.Tensor, exponent: float) -> np.ndarray:
    """Each atom's energy over the local level of the target at its time and frequency, raised to
    `exponent` (0: plain energy; 1: energy relative to what surrounds it, a crude masking model)."""
    g = atoms.to_gabor()
    energy = (g.amp_cos**2 + g.amp_sin**2) * g.sigma * atoms.sample_rate * math.sqrt(math.pi) / 2
    if exponent == 0 or len(g) == 0:
        return energy
    from scipy.ndimage import gaussian_filter

    from audio_gs.codec.noise import Grid, analyse

    x = np.asarray(target.detach().double().numpy())
    grid = Grid.for_signal(atoms.sample_rate, x.shape[-1])
    level = np.stack([analyse(x[c], grid) for c in range(x.shape[0])])  # [C, frames, bins]
    level = gaussian_filter(level, sigma=(0, 2.0, 3.0)) + 1e-12 * max(float(level.mean()), 1e-30)
    m = np.clip(np.round(g.time * atoms.sample_rate / grid.hop).astype(int) + grid.n_pre, 0, grid.n_frames - 1)
    k = np.clip(np.round(g.freq * grid.n_fft / atoms.sample_rate).astype(int), 0, grid.n_bins - 1)
    return energy / level[g.channel, m, k] ** exponent


def fit_to_rate(atoms: Atoms, target: torch.Tensor, n_samples: int, cfg: dict, scope=None) -> Encoded:
    """Adjust the number of atoms until the packed file is within RATE_TOLERANCE below cfg["kbps"]:
    drop the least important atoms (bisection), or add atoms by matching pursuit on the residual
    when the file is short of the target; amplitudes re-solved, noise refitted for the kept atoms.
    scope: a windowed fit's audio_gs.encoder.windows.WindowScope (matching pursuit, noise fit and the
    importance order window by window); None: over the whole file."""
    from audio_gs.encoder.fit import fit_norm
    from audio_gs.encoder.lstsq import solve_amplitudes
    from audio_gs.encoder.strategy import add_atoms as add_whole

    def rank(a: Atoms, t: torch.Tensor, exponent: float) -> np.ndarray:
        score = importance(a, t, exponent)
        return score if scope is None else scope.ranks(a, score)

    add_atoms = add_whole if scope is None else scope.add_atoms

    sr = atoms.sample_rate
    seconds = n_samples / sr
    budget = float(cfg["kbps"]) * 1000 * seconds / 8  # bytes
    aim = budget * (1 - RATE_TOLERANCE)
    norm = fit_norm(target, sr, cfg)
    fitted = len(atoms)

    def size(a: Atoms, noise: Noise) -> int:  # with the sizing pass's envelope: its cost barely depends on a
        return len(pack_model(a, target, n_samples, cfg, noise=noise, resolve=False, envelope=env)[0])

    sizing = cfg if cfg.get("noise_estimate_steps") is None else dict(cfg, noise_steps=cfg["noise_estimate_steps"])
    _, sized, noise = pack_model(atoms, target, n_samples, sizing, resolve=False, scope=scope)  # sizes the noise layer
    env = sized.noise_env
    fixed = size(atoms.select(torch.zeros(0, dtype=torch.long)), noise)  # header + noise layer
    for _ in range(4):  # grow while clearly short of the target
        now = size(atoms, noise)
        if now >= aim * (1 - RATE_TOLERANCE) or now <= fixed:
            break
        per_atom = (now - fixed) / max(len(atoms), 1)
        more = int((aim - now) / per_atom)
        if more < 1:
            break
        rounds = int(cfg.get("mp_max_rounds") or 0)  # capped: about the first pursuit's round size
        atoms = add_atoms(atoms, target, more, scales_ms=cfg["scales_ms"], per_round=cfg["mp_atoms_per_round"],
                          norm=norm, max_freq=cfg.get("tonal_max_hz"),
                          max_rounds=max(1, math.ceil(rounds * more / max(fitted, 1))) if rounds else 0)
        atoms = solve_amplitudes(atoms, target, n_samples, iterations=10, norm=norm)
    if size(atoms, noise) > aim:  # drop the least important atoms (bisection to 0.25 % of the atoms)
        order = np.argsort(-rank(atoms, target, float(cfg["importance_exponent"])), kind="stable")
        lo, hi = 0, len(atoms)
        while hi - lo > max(1, len(atoms) // 400):
            mid = (lo + hi) // 2
            if size(atoms.select(torch.as_tensor(order[:mid])), noise) <= aim:
                lo = mid
            else:
                hi = mid
        atoms = atoms.select(torch.as_tensor(np.sort(order[:lo])))
        atoms = solve_amplitudes(atoms, target, n_samples, iterations=10, norm=norm)
    data, model, noise = pack_model(atoms, target, n_samples, cfg, scope=scope)
    while len(data) > budget and len(atoms) > 1:  # the re-solved amplitudes and the refitted noise cost a little more
        drop = max(1, int(len(atoms) * (len(data) - aim) / len(data)))
        keep = np.sort(np.argsort(-rank(atoms, target, 0.0), kind="stable")[:len(atoms) - drop])
        atoms = atoms.select(torch.as_tensor(keep))
        data, model, noise = pack_model(atoms, target, n_samples, cfg, noise=noise)
    info = {"target_kbps": float(cfg["kbps"]), "kbps": 8 * len(data) / seconds / 1000, "atoms_fitted": fitted,
            "atoms_kept": len(atoms), "noise_gaussians": len(noise)}
    return Encoded(data=data, model=model, atoms=atoms, noise=noise, info=info)


def encode_fitted(atoms: Atoms, target: torch.Tensor, n_samples: int, cfg: dict, scope=None) -> Encoded:
    """Bytes of fitted atoms (plus noise Gaussians when cfg asks for them), at cfg["kbps"] when set
    (scope: see fit_to_rate)."""
    if cfg.get("kbps"):
        return fit_to_rate(atoms, target, n_samples, cfg, scope=scope)
    data, model, noise = pack_model(atoms, target, n_samples, cfg, scope=scope)
    seconds = n_samples / atoms.sample_rate
    info = {"kbps": 8 * len(data) / seconds / 1000, "atoms_kept": len(atoms), "noise_gaussians": len(noise)}
    return Encoded(data=data, model=model, atoms=atoms, noise=noise, info=info)


def encode_signal(x: np.ndarray, sample_rate: int, cfg: dict, **fit_kwargs):
    """(Encoded, FitResult): fit x [channels, samples] by cfg (its atom count chosen for cfg["kbps"]
    when set) and encode it. fit_kwargs go to audio_gs.encoder.fit.fit_signal; a signal longer than
    cfg["window_seconds"] is fitted and encoded window by window (audio_gs.encoder.windows, with
    cfg["jobs"] processes; fit_kwargs other than progress do not apply there)."""
    from audio_gs.encoder.fit import fit_signal
    from audio_gs.encoder.windows import WindowScope, fit_windowed, plan_for

    if cfg.get("kbps"):
        cfg = dict(cfg, num_gaussians=atoms_for_rate(cfg, x.shape[-1], sample_rate, x.shape[0]))
    plan = plan_for(cfg, x.shape[-1], sample_rate)
    scope = None
    if plan is not None:
        result = fit_windowed(x, sample_rate, cfg, plan=plan, jobs=int(cfg.get("jobs") or 1),
                              progress=bool(fit_kwargs.get("progress", False)))
        scope = WindowScope(plan, cfg)
    else:
        result = fit_signal(x, sample_rate, cfg, **fit_kwargs)
    atoms = result.atoms
    if cfg["quantize"] and cfg["qat_steps"]:
        from audio_gs.encoder.qat import qat_finetune

        atoms = qat_finetune(atoms, result.target, result.n_samples, cfg, cfg["qat_steps"])
    return encode_fitted(atoms, result.target, result.n_samples, cfg, scope=scope), result


def bits_per_atom_estimate(bits_per_param: int) -> float:
    """Measured bits per tonal atom of the range-coded file at a given precision (speech and music
    fits, 500-6000 atoms): about 49 at 8 bits, 37 at 6, 31 at 5, 26 at 4; 6 more per bit above 8."""
    table = {4: 26.0, 5: 31.0, 6: 37.0, 7: 43.0, 8: 49.0}
    return table.get(int(bits_per_param), 49.0 + 6.0 * (int(bits_per_param) - 8))


def atoms_for_rate(cfg: dict, n_samples: int, sample_rate: int, n_channels: int = 1) -> int:
    """How many tonal atoms to fit for cfg["kbps"]: the bits left after the noise layer and the
    header, divided by the estimated bits per atom, plus cfg["rate_surplus"] for the pruning to choose from."""
    seconds = n_samples / sample_rate
    total = float(cfg["kbps"]) * 1000 * seconds - 8 * HEADER_BYTES
    noise_bits = noise_count(cfg, n_samples, sample_rate) * NOISE_BITS_ESTIMATE
    tonal = max(total - noise_bits, 0.0) / (bits_per_atom_estimate(cfg["bits_per_param"]) + (n_channels > 1))
    return max(1, int(round(tonal * (1 + float(cfg["rate_surplus"])))))


NOISE_BITS_ESTIMATE = 18.0  # bits per noise Gaussian of fitted speech and music layers (range coded)
