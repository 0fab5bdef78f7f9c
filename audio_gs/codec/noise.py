"""Noise Gaussians rendered as seeded noise: the decoder's half of the second Gaussian kind.

A noise Gaussian (audio_gs.codec.model.Noise) is a 2-D Gaussian of energy on the (time, ERB-rate)
plane. Its energy density is separable,

    D(t, e) = E * N(t; time, st) * N(e; erb, se)        [squared samples / (s * Cam)],

with the ERB-rate scale of Glasberg & Moore (1990), e(f) = 21.4 log10(1 + 0.00437 f). The decoder
integrates the sum of all densities over the cells of a fixed STFT grid (erf differences, so a
narrow Gaussian keeps its energy), draws complex Gaussian coefficients with that expected energy
per cell, and overlap-adds inverse FFTs with a tight-frame window (sum_m w^2(n - m hop) = 1). So
E ||render||^2 = sum of the energies, for Gaussians inside the signal and the band [0, sr/2].
A noise envelope (audio_gs.codec.model.NoiseEnvelope) then scales each frame's coefficients above its
band edge by its gain at the frame's centre.

Energy-exact rendering (``exact=True``, files of version 5): a random realisation's energy in a cell
scatters around its expectation (a band of a few bins in one 32 ms frame by tens of percent), and the
ear (and PESQ's loudness per band and frame) hears that scatter as a wrong level. So the decoder
analyses the noise it drew on a second, coarser tight frame (``ExactGrid``: sqrt-Hann frames twice
the synthesis frame, half overlapping), sets each coefficient's magnitude to the square root of the
cell's *expected* energy (known from the Gaussians through a fixed kernel, ``exact_kernel``), keeps
its phase, and resynthesises. Older files (versions 2 and 4) render as drawn (``exact=False``).

Gated noise (files of version 6): one more pass on the same frame removes the noise from every cell
where the decoded tonal part carries more than GATE_DB dB above the cell's expected noise energy, so
the noise fills the holes the tonal atoms leave instead of roughening what they already carry
(``tonal`` given; the renderer passes its own tonal part over ``exact_span``).

The random numbers come from numpy's PCG64 raw stream (stable across numpy versions) seeded by the
file: frame m uses draws [2 B m, 2 B (m + 1)) (B = bins per frame), turned into normals by
Box-Muller, so any block of output is rendered without the frames before it (the samples agree with
the whole-signal render to rounding). Numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from audio_gs.codec.model import Noise, NoiseEnvelope

ERB_A = 21.4
ERB_B = 0.00437
FRAME_MS = 16.0  # STFT frame of the noise grid (rounded to a power of two in samples)
OVERLAP = 4  # frames per hop: hop = n_fft / OVERLAP
SUPPORT_SIGMAS = 4.0  # a noise Gaussian is cut at +- this many widths (mass outside: 6e-5)


def hz_to_erb(f):
    """ERB-rate (Cams) of frequency f (Hz)."""
    return ERB_A * np.log10(1.0 + ERB_B * np.asarray(f, np.float64))


def erb_to_hz(e):
    """Frequency (Hz) of ERB-rate e (Cams)."""
    return (10.0 ** (np.asarray(e, np.float64) / ERB_A) - 1.0) / ERB_B


def ndtr(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF (relative error of the tails < 1.2e-7; Numerical Recipes' erfc)."""
    x = np.abs(np.asarray(z, np.float64)) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * x)
    poly = (-1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (
        0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
    erfc = t * np.exp(-x * x + poly)
    return np.where(np.asarray(z) >= 0, 1.0 - 0.5 * erfc, 0.5 * erfc)


@dataclass(frozen=True)
class Grid:
    """The fixed STFT grid of the noise: frame m is centred at sample (m - n_pre) * hop, for
    m = 0 .. n_frames - 1 (every frame whose window reaches the signal); rfft bins k = 0 .. n_fft/2."""

    sample_rate: int
    n_fft: int
    hop: int
    n_samples: int

    @classmethod
    def for_signal(cls, sample_rate: int, n_samples: int) -> "Grid":
        n_fft = 1 << int(round(math.log2(sample_rate * FRAME_MS / 1000)))
        return cls(int(sample_rate), n_fft, n_fft // OVERLAP, int(n_samples))

    @property
    def n_pre(self) -> int:
        return self.n_fft // (2 * self.hop) - 1

    @property
    def n_frames(self) -> int:
        return (self.n_samples - 1) // self.hop + 1 + 2 * self.n_pre + 1 if self.n_samples > 0 else 0

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def window(self) -> np.ndarray:
        """sqrt of a periodic Hann scaled so that sum_m w^2(n - m hop) = 1."""
        n = np.arange(self.n_fft)
        return np.sqrt((0.5 - 0.5 * np.cos(2 * np.pi * n / self.n_fft)) * 2 * self.hop / self.n_fft)

    def frame_start(self, m):
        """First output sample index of frame m's window (may be negative)."""
        return (np.asarray(m) - self.n_pre) * self.hop - self.n_fft // 2

    def time_edges(self, m0: int = 0, m1: int | None = None) -> np.ndarray:
        """Cell edges (s) of frames m0..m1-1: frame m owns [(m - n_pre - 1/2) hop, (m - n_pre + 1/2) hop)."""
        m1 = self.n_frames if m1 is None else m1
        return (np.arange(m0, m1 + 1) - self.n_pre - 0.5) * self.hop / self.sample_rate

    def erb_edges(self) -> np.ndarray:
        """Cell edges (Cams) in frequency [n_bins + 1]: bin k owns [(k - 1/2) df, (k + 1/2) df], cut to [0, sr/2]."""
        df = self.sample_rate / self.n_fft
        return hz_to_erb(np.clip((np.arange(self.n_bins + 1) - 0.5) * df, 0.0, self.sample_rate / 2))


def cell_mass(centre: np.ndarray, log_width: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """[K, len(edges) - 1] share of each unit Gaussian (cut at +- SUPPORT_SIGMAS) inside each cell."""
    z = (edges[None, :] - np.asarray(centre, np.float64)[:, None]) / np.exp(np.asarray(log_width, np.float64))[:, None]
    return np.diff(ndtr(np.clip(z, -SUPPORT_SIGMAS, SUPPORT_SIGMAS)), axis=1)


def cell_energy(noise: Noise, grid: Grid, m0: int, m1: int, channel: int = 0) -> np.ndarray:
    """Expected energy per cell [m1 - m0, n_bins] of one channel's noise Gaussians in frames m0..m1-1."""
    out = np.zeros((max(m1 - m0, 0), grid.n_bins))
    if len(noise) == 0 or m1 <= m0:
        return out
    te = grid.time_edges(m0, m1)
    st = np.exp(np.asarray(noise.log_st, np.float64))
    t = np.asarray(noise.time, np.float64)
    sel = (np.asarray(noise.channel) == channel) & (t + SUPPORT_SIGMAS * st > te[0]) & (t - SUPPORT_SIGMAS * st < te[-1])
    if not sel.any():
        return out
    n = noise.select(sel)
    tm = cell_mass(n.time, n.log_st, te)  # [K, M]
    fm = cell_mass(n.erb, n.log_se, grid.erb_edges())  # [K, B]
    return (tm * np.exp(np.asarray(n.log_energy, np.float64))[:, None]).T @ fm


def _normals(seed: int, m0: int, m1: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(real, imag) standard normals [m1 - m0, n_bins] of frames m0..m1-1 (Box-Muller on PCG64 draws)."""
    bg = np.random.PCG64(seed)
    bg.advance(2 * n_bins * m0)
    raw = bg.random_raw(2 * n_bins * (m1 - m0)).reshape(m1 - m0, 2, n_bins)
    u = ((raw >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53  # in (0, 1)
    r = np.sqrt(-2.0 * np.log(u[:, 0]))
    phase = 2.0 * math.pi * u[:, 1]
    return r * np.cos(phase), r * np.sin(phase)


def frames_touching(grid: Grid, start: int, stop: int) -> tuple[int, int]:
    """Frames [m0, m1) whose windows overlap output samples [start, stop)."""
    m0 = max(0, (start + grid.n_fft // 2) // grid.hop + grid.n_pre - OVERLAP)
    m1 = min(grid.n_frames, (stop + grid.n_fft // 2) // grid.hop + grid.n_pre + 1)
    return m0, max(m0, m1)


def envelope_gains(env: NoiseEnvelope, grid: Grid, m0: int, m1: int, channel: int = 0) -> np.ndarray:
    """Amplitude gains [m1 - m0] of frames m0..m1-1 of the noise grid: the envelope's dB points
    interpolated linearly at each frame's centre (held beyond the first and last point)."""
    centre = (np.arange(m0, m1) - grid.n_pre) * grid.hop / env.hop  # in envelope points
    g = np.asarray(env.gain_db, np.float64)[channel]
    return 10.0 ** (np.interp(centre, np.arange(g.size), g) / 20.0)


def envelope_bins(env: NoiseEnvelope, grid: Grid) -> np.ndarray:
    """Boolean [n_bins]: the grid's bins the envelope scales (centre frequency >= its band edge)."""
    return np.arange(grid.n_bins) * grid.sample_rate / grid.n_fft >= env.band_hz


EXACT_FRAMES = 2  # the energy-exact analysis frame: this many synthesis frames long (32 ms at 16 kHz)
EXACT_BAND = 8  # kernel kept for analysis bins within this many bins of a synthesis bin's image (2 j)
EXACT_MAX_GAIN = 16.0  # a drawn coefficient is raised by at most this factor (24 dB) per pass
EXACT_PASSES = 4  # magnitude-setting passes (energy within about 3 % of the expected; 1 pass: about 10 % low)
GATE_DB = 6.0  # gated noise (version 6): removed where the tonal part exceeds its expected energy by this many dB


@dataclass(frozen=True)
class ExactGrid:
    """The analysis frame of energy-exact rendering: periodic sqrt-Hann frames of n samples, frame q
    covering samples [(q - 1) hop, (q + 1) hop) with hop = n / 2 (a tight frame: sum_q w^2 = 1)."""

    grid: Grid

    @property
    def n(self) -> int:
        return EXACT_FRAMES * self.grid.n_fft

    @property
    def hop(self) -> int:
        return self.n // 2

    @property
    def n_bins(self) -> int:
        return self.n // 2 + 1

    @property
    def n_frames(self) -> int:
        return (self.grid.n_samples - 1) // self.hop + 2 if self.grid.n_samples > 0 else 0

    def window(self) -> np.ndarray:
        k = np.arange(self.n)
        return np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * k / self.n))

    @property
    def ratio(self) -> int:
        """Synthesis hops per analysis hop."""
        return self.hop // self.grid.hop

    @property
    def reach(self) -> int:
        """Synthesis frames l with |centre_l - centre_q| < reach * synthesis hop touch analysis frame q."""
        return (self.grid.n_fft // 2 + self.n // 2) // self.grid.hop


_KERNELS: dict = {}


def exact_kernel(grid: Grid) -> np.ndarray:
    """K [2 reach - 1, 2 EXACT_BAND + 1, synthesis bins]: the expected energy in analysis bin 2 j + b of
    analysis frame q from unit energy in synthesis cell (frame l, bin j) with random phase, for
    l's centre (l - n_pre) hop_s = q hop_a + d hop_s, d = -(reach - 1) .. reach - 1."""
    key = (grid.sample_rate, grid.n_fft, grid.hop)
    if key in _KERNELS:
        return _KERNELS[key]
    ex = ExactGrid(grid)
    n_s, h_s, n_a = grid.n_fft, grid.hop, ex.n
    bins = grid.n_bins
    eye = np.eye(bins)
    eye[0, 0] = eye[-1, -1] = 0.0  # the synthesis never draws DC or Nyquist
    scale = n_s * n_s / (4.0 * h_s)  # coefficient variance per real part, per unit energy (render_noise_block)
    frames = [np.fft.irfft(eye, n=n_s, axis=1) * grid.window()[None, :],
              np.fft.irfft(1j * eye, n=n_s, axis=1) * grid.window()[None, :]]
    wa = ex.window()
    band = np.arange(-EXACT_BAND, EXACT_BAND + 1)
    k_idx = 2 * np.arange(bins)[None, :] + band[:, None]  # [B, bins]
    valid = (k_idx >= 0) & (k_idx < ex.n_bins)
    out = np.zeros((2 * ex.reach - 1, band.size, bins))
    for i, d in enumerate(range(-(ex.reach - 1), ex.reach)):
        e = np.zeros((bins, ex.n_bins))
        for fr in frames:  # cos and sin parts of the coefficient
            seg = np.zeros((bins, n_a))
            lo = n_a // 2 + d * h_s - n_s // 2  # the synthesis frame's first sample in the analysis frame
            a, b = max(lo, 0), min(lo + n_s, n_a)
            if b > a:
                seg[:, a:b] = fr[:, a - lo:b - lo]
            e += np.abs(np.fft.rfft(seg * wa[None, :], axis=1)) ** 2
        out[i] = np.where(valid, np.take_along_axis(e * scale, np.clip(k_idx, 0, ex.n_bins - 1).T, axis=1).T, 0.0)
    _KERNELS[key] = out
    return out


def expected_energy(energy: np.ndarray, grid: Grid, l0: int, q0: int, q1: int) -> np.ndarray:
    """Expected |coefficient|^2 [q1 - q0, analysis bins] of analysis frames q0..q1-1 (ExactGrid) of the
    noise whose synthesis cells l0, l0 + 1, ... have the expected energies `energy` [frames, bins]
    (envelope gains included); cells outside `energy` count as empty."""
    ex = ExactGrid(grid)
    kern = exact_kernel(grid)
    out = np.zeros((max(q1 - q0, 0), ex.n_bins))
    bins = grid.n_bins
    for i, d in enumerate(range(-(ex.reach - 1), ex.reach)):
        ls = np.arange(q0, q1) * ex.ratio + grid.n_pre + d - l0  # row of `energy` for each analysis frame
        ok = (ls >= 0) & (ls < energy.shape[0])
        if not ok.any():
            continue
        e = np.zeros((ls.size, bins))
        e[ok] = energy[ls[ok]]
        for bi, b in enumerate(range(-EXACT_BAND, EXACT_BAND + 1)):
            j0 = max(0, -(b // 2) if b < 0 else 0)
            j1 = min(bins, (ex.n_bins - 1 - b) // 2 + 1)
            if j1 > j0:
                out[:, 2 * j0 + b:2 * (j1 - 1) + b + 1:2] += e[:, j0:j1] * kern[i, bi, j0:j1][None, :]
    return out


def exact_span(sample_rate: int, n_samples: int, start: int, stop: int) -> tuple[int, int]:
    """Samples [a, b) of the tonal part that gated rendering of output samples [start, stop) reads."""
    return _exact_frames(sample_rate, n_samples, start, stop, True)[2:]


def _exact_frames(sample_rate: int, n_samples: int, start: int, stop: int, gated: bool) -> tuple[int, int, int, int]:
    """(q0, q1, a, b): the ExactGrid frames q0..q1-1 that energy-exact rendering of samples [start, stop)
    works on (a pass reaches one frame further, so EXACT_PASSES - 1 more on each side, one more when
    gated) and the samples [a, b) they cover, cut to the signal."""
    ex = ExactGrid(Grid.for_signal(sample_rate, n_samples))
    margin = EXACT_PASSES - 1 + int(gated)
    q0 = max(0, start // ex.hop - margin)
    q1 = min(ex.n_frames, (stop - 1) // ex.hop + 2 + margin)
    return q0, q1, max(0, (q0 - 1) * ex.hop), min(n_samples, q1 * ex.hop)


def _exact_block(noise: Noise, sample_rate: int, n_samples: int, n_channels: int, seed: int, start: int,
                 stop: int, envelope: NoiseEnvelope | None, tonal: np.ndarray | None = None) -> np.ndarray:
    """render_noise_block with each ExactGrid coefficient's magnitude set to its expected value, in
    EXACT_PASSES passes (each resynthesis loses the part of the change that no signal has; the next pass
    restores most of it), then gated when the tonal part over exact_span is given. A pass reaches one
    frame further (_exact_frames); samples outside the signal are zeroed after every pass."""
    grid = Grid.for_signal(sample_rate, n_samples)
    ex = ExactGrid(grid)
    n_a, h_a = ex.n, ex.hop
    q0, q1, a, b = _exact_frames(sample_rate, n_samples, start, stop, tonal is not None)
    base = (q0 - 1) * h_a  # sample index of buffer position 0; the buffer holds frames q0..q1-1
    size = (q1 - q0 + 1) * h_a
    raw = render_noise_block(noise, sample_rate, n_samples, n_channels, seed, a, b, envelope, exact=False)
    inside = np.zeros(size, bool)
    inside[a - base:b - base] = True
    idx = np.arange(q1 - q0)[:, None] * h_a + np.arange(n_a)[None, :]
    w = ex.window()
    l0 = max(0, q0 * ex.ratio + grid.n_pre - ex.reach + 1)  # synthesis frames touching these analysis frames
    l1 = min(grid.n_frames, (q1 - 1) * ex.ratio + grid.n_pre + ex.reach)
    out = np.zeros((n_channels, stop - start))
    for c in range(n_channels):
        energy = cell_energy(noise, grid, l0, l1, c)
        if envelope is not None and energy.size:
            energy[:, envelope_bins(envelope, grid)] *= envelope_gains(envelope, grid, l0, l1, c)[:, None] ** 2
        energy[:, 0] = energy[:, -1] = 0.0
        want = expected_energy(energy, grid, l0, q0, q1)
        buf = np.zeros(size)
        buf[a - base:b - base] = raw[c]
        for _ in range(EXACT_PASSES):
            spec = np.fft.rfft(buf[idx] * w[None, :], axis=1)
            gain = np.sqrt(np.minimum(want / np.maximum(np.abs(spec) ** 2, 1e-300), EXACT_MAX_GAIN ** 2))
            buf = _resynthesise(spec * gain, w, h_a, inside)
        if tonal is not None:  # gated: one more pass, keeping the cells where the tonal part leaves a hole
            tbuf = np.zeros(size)
            tbuf[a - base:b - base] = tonal[c]
            spec = np.fft.rfft(buf[idx] * w[None, :], axis=1)
            carried = np.abs(np.fft.rfft(tbuf[idx] * w[None, :], axis=1)) ** 2 > want * 10.0 ** (GATE_DB / 10.0)
            buf = _resynthesise(np.where(carried, 0.0, spec), w, h_a, inside)
        out[c] = buf[start - base:stop - base]
    return out


def _resynthesise(spec: np.ndarray, w: np.ndarray, h_a: int, inside: np.ndarray) -> np.ndarray:
    """Samples of ExactGrid coefficients spec [frames, bins]: inverse FFT, window, overlap-add at hop
    h_a, zero where `inside` is False (outside the signal)."""
    frames = np.fft.irfft(spec, n=w.size, axis=1) * w[None, :]
    buf = np.zeros(inside.size)
    buf[:inside.size - h_a] += frames[:, :h_a].reshape(-1)
    buf[h_a:] += frames[:, h_a:].reshape(-1)
    buf[~inside] = 0.0
    return buf


def render_noise_block(noise: Noise, sample_rate: int, n_samples: int, n_channels: int, seed: int,
                       start: int, stop: int, envelope: NoiseEnvelope | None = None, exact: bool = True,
                       tonal: np.ndarray | None = None) -> np.ndarray:
    """Samples [start, stop) of the noise Gaussians, float64 [n_channels, stop - start] (model channels),
    their coefficients above the envelope's band edge scaled frame by frame when an envelope is given;
    energy-exact (module docstring) unless exact is False; gated (module docstring) when the tonal part
    over exact_span(...) is given as `tonal` [n_channels, b - a] (energy-exact only)."""
    out = np.zeros((n_channels, max(stop - start, 0)))
    if len(noise) == 0 or stop <= start:
        return out
    if exact:
        return _exact_block(noise, sample_rate, n_samples, n_channels, seed, start, stop, envelope, tonal)
    grid = Grid.for_signal(sample_rate, n_samples)
    m0, m1 = frames_touching(grid, start, stop)
    if m1 <= m0:
        return out
    n, h = grid.n_fft, grid.hop
    win = grid.window()
    for c in range(n_channels):
        energy = cell_energy(noise, grid, m0, m1, c)
        if not energy.any():
            continue
        re, im = _normals(seed + 7919 * c, m0, m1, grid.n_bins)
        std = np.sqrt(np.maximum(energy, 0.0) * n * n / (4.0 * h))
        coef = (re + 1j * im) * std
        coef[:, 0] = 0.0
        coef[:, -1] = 0.0
        if envelope is not None:
            coef[:, envelope_bins(envelope, grid)] *= envelope_gains(envelope, grid, m0, m1, c)[:, None]
        frames = (np.fft.irfft(coef, n=n, axis=1) * win[None, :]).reshape(m1 - m0, OVERLAP, h)
        first = int(grid.frame_start(m0))
        buf = np.zeros((m1 - m0 + OVERLAP - 1, h))
        for r in range(OVERLAP):  # overlap-add: quarter r of frame j lands in hop slot j + r
            buf[r:r + m1 - m0] += frames[:, r]
        buf = buf.reshape(-1)
        lo, hi = max(start, first), min(stop, first + len(buf))
        if hi > lo:
            out[c, lo - start:hi - start] = buf[lo - first:hi - first]
    return out


def render_noise(noise: Noise, sample_rate: int, n_samples: int, n_channels: int = 1, seed: int = 0,
                 block: int = 1 << 16, envelope: NoiseEnvelope | None = None, exact: bool = True,
                 tonal: np.ndarray | None = None) -> np.ndarray:
    """The whole signal of the noise Gaussians, float64 [n_channels, n_samples] (model channels),
    rendered block by block (scaled by the envelope when one is given; gated by the tonal part
    [n_channels, n_samples] when one is given, energy-exact only)."""
    out = np.zeros((n_channels, n_samples))
    tonal = np.asarray(tonal, np.float64).reshape(n_channels, -1) if tonal is not None and exact else None
    for start in range(0, n_samples, block):
        stop = min(start + block, n_samples)
        t = None
        if tonal is not None:
            a, b = exact_span(sample_rate, n_samples, start, stop)
            t = tonal[:, a:b]
        out[:, start:stop] = render_noise_block(noise, sample_rate, n_samples, n_channels, seed, start, stop,
                                                envelope, exact, t)
    return out


def analyse(x: np.ndarray, grid: Grid) -> np.ndarray:
    """Energy per cell [n_frames, n_bins] of a signal x [samples] on the grid (sums to ||x||^2)."""
    x = np.asarray(x, np.float64)
    n, h = grid.n_fft, grid.hop
    off = -int(grid.frame_start(0))
    pad = np.zeros(grid.n_frames * h + n)
    pad[off:off + x.size] = x
    idx = np.arange(grid.n_frames)[:, None] * h + np.arange(n)[None, :]
    spec = np.fft.rfft(pad[idx] * grid.window()[None, :], axis=1)
    e = np.abs(spec) ** 2 / n
    e[:, 1:n // 2] *= 2  # the negative-frequency half of a real frame
    return e


def noise_work(noise: Noise, sample_rate: int, n_samples: int, n_channels: int = 1, block_size: int = 1 << 15) -> float:
    """Cell evaluations rendering the noise Gaussians costs at most (for the decoder's budget): the
    synthesis grid (frames x bins x channels) plus, per Gaussian, its support in frames (cut to the
    signal) plus one block of frames, times the bins, plus the energy-exact kernel's taps."""
    grid = Grid.for_signal(sample_rate, n_samples)
    span = np.minimum(2 * SUPPORT_SIGMAS * np.exp(np.asarray(noise.log_st, np.float64)) * sample_rate / grid.hop + 1,
                      grid.n_frames)
    per_gaussian = (span + block_size / grid.hop) * grid.n_bins
    ex = ExactGrid(grid)  # energy-exact rendering: the expected energies through the kernel
    exact = n_channels * ex.n_frames * (2 * ex.reach - 1) * (2 * EXACT_BAND + 1) * grid.n_bins
    return float(n_channels * grid.n_frames * grid.n_bins + per_gaussian.sum() + exact)
