"""Rendering a Model to a waveform, block by block, with the C kernels (audio_gs.codec.kernels).

The signal is cut into a fixed grid of ``BLOCK_SIZE``-sample blocks. A block is the sum of the atoms
whose support meets it, each evaluated from an exact anchor at the block's first sample, so a block
depends on nothing but its own index: blocks can be rendered in any order, by any number of
threads, one at a time (bounded memory), and the result is the same to the bit.

- ``GaborPlan``: Gabor atoms laid out for the kernel (per-atom constants, the atoms of each block);
  ``GaborPlan.render(amp_cos, amp_sin)`` is the one forward sum the encoder uses too (float64).
- ``BlockRenderer``: a Model ready to render block by block; ``block(j)`` is where every Gaussian kind
  is summed (the Gabor atoms, and the noise Gaussians of audio_gs.codec.noise).
- ``render_block``, ``iter_blocks``, ``render``: the decoder's view (float32 inner loop by default,
  below -100 dB of a float64 evaluation), in model or output channels.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from audio_gs.codec.model import SUPPORT, Gabor, Model
from audio_gs.errors import AgsFormatError

BLOCK_SIZE = 1 << 15  # samples per block of the fixed grid
PRECISIONS = {"float32": np.float32, "float64": np.float64}
DECODE_PRECISION = "float32"  # the decoder's inner loop (see docs/ags_format.md, Rendering)


def support_bounds(time: np.ndarray, sigma: np.ndarray, sample_rate: int, n_samples: int):
    """First and last sample index (inclusive) of each atom's support, clipped to the signal."""
    t = np.asarray(time, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    lo = np.ceil((t - SUPPORT * s) * sample_rate)
    hi = np.floor((t + SUPPORT * s) * sample_rate)
    lo = np.clip(lo, 0, n_samples).astype(np.int64)
    hi = np.clip(hi, -1, n_samples - 1).astype(np.int64)
    return lo, hi


def render_work(log_sigma: np.ndarray, sample_rate: int, n_samples: int) -> float:
    """Samples the renderer evaluates at most: sum over atoms of min(support length, n_samples)."""
    width = np.minimum(2 * SUPPORT * np.exp(np.asarray(log_sigma, np.float64)) * sample_rate + 1, n_samples)
    return float(width.sum())


def default_threads() -> int:
    """Threads for rendering: $OMP_NUM_THREADS when set, else the CPUs this process may use."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}  # (process id, threads): a forked child makes its own


def _map_ordered(fn, items, threads: int | None, window: int | None = None):
    """fn over items, results in order; at most `window` in flight (threads only distribute the work)."""
    threads = default_threads() if threads is None else max(1, int(threads))
    if threads == 1:
        yield from map(fn, items)
        return
    key = (os.getpid(), threads)
    pool = _POOLS.get(key)
    if pool is None:
        pool = _POOLS[key] = ThreadPoolExecutor(threads, thread_name_prefix="audio_gs-render")
    window = window or 2 * threads
    pending: deque = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for f in pending:
            f.cancel()


def _f64(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


class GaborPlan:
    """Gabor atoms (numpy [K] arrays; sigma in seconds) laid out for kernels.gabor_block over
    n_samples samples in n_channels channels, cut into blocks of block_size samples."""

    def __init__(self, time, freq, sigma, chirp, channel, *, sample_rate: int, n_samples: int, n_channels: int = 1,
                 block_size: int = BLOCK_SIZE):
        from audio_gs.codec import kernels

        t, f, s, c = _f64(time), _f64(freq), _f64(sigma), _f64(chirp)
        self.sample_rate, self.n_samples, self.n_channels = int(sample_rate), int(n_samples), int(n_channels)
        self.block_size = int(block_size)
        self.lo, self.hi = support_bounds(t, s, self.sample_rate, self.n_samples)
        self.prm = np.ascontiguousarray(np.stack([t, -0.5 / (s * s), np.pi * c, 2 * np.pi * f], axis=1))
        self.ints = np.ascontiguousarray(np.stack([self.lo, self.hi, np.asarray(channel, np.int64)], axis=1))
        kernels.check_tables(self.ints, self.n_channels)
        self.n_blocks = -(-self.n_samples // self.block_size)
        self.starts, self.atoms = kernels.block_index(self.ints, self.block_size, self.n_blocks)

    def __len__(self) -> int:
        return self.prm.shape[0]

    def block_bounds(self, j: int) -> tuple[int, int]:
        """[start, stop) samples of block j."""
        start = j * self.block_size
        return start, min(start + self.block_size, self.n_samples)

    def atoms_in(self, start: int, stop: int) -> np.ndarray:
        """Indices (int64, ascending) of the atoms whose support meets samples [start, stop)."""
        j = start // self.block_size
        if start == j * self.block_size and stop == min(start + self.block_size, self.n_samples):
            return self.atoms[self.starts[j]:self.starts[j + 1]]
        return np.flatnonzero((self.lo < stop) & (self.hi >= start) & (self.hi >= self.lo)).astype(np.int64)

    def add_range(self, amp_cos: np.ndarray, amp_sin: np.ndarray, start: int, stop: int, buf: np.ndarray) -> None:
        """Add the atoms into buf (float32/float64 [C, >= stop - start + kernels.PAD]) for samples [start, stop);
        amp_cos, amp_sin: float64 [K]. The buffer's dtype picks the kernel's precision."""
        from audio_gs.codec import kernels

        kernels.gabor_block(self.prm, amp_cos, amp_sin, self.ints, self.atoms_in(start, stop), self.sample_rate,
                            start, stop - start, buf, checked=True)

    def render_range(self, amp_cos, amp_sin, start: int, stop: int, *, precision: str = "float64") -> np.ndarray:
        """Sum of the atoms over samples [start, stop): float64 [C, stop - start]."""
        from audio_gs.codec.kernels import PAD

        a, b = _f64(amp_cos), _f64(amp_sin)
        buf = np.zeros((self.n_channels, stop - start + PAD), PRECISIONS[precision])
        self.add_range(a, b, start, stop, buf)
        return buf[:, :stop - start].astype(np.float64)

    def render(self, amp_cos, amp_sin, *, precision: str = "float64", threads: int | None = None) -> np.ndarray:
        """Sum of the atoms, float64 [C, n_samples]: every block of the grid, rendered by `threads` threads."""
        a, b = _f64(amp_cos), _f64(amp_sin)
        out = np.empty((self.n_channels, self.n_samples), np.float64)

        def one(j):
            start, stop = self.block_bounds(j)
            out[:, start:stop] = self.render_range(a, b, start, stop, precision=precision)

        for _ in _map_ordered(one, range(self.n_blocks), threads):
            pass
        return out


class BlockRenderer:
    """A Model prepared to render block by block on the fixed grid (model channels, float64 blocks)."""

    def __init__(self, model: Model, *, precision: str = DECODE_PRECISION, block_size: int = BLOCK_SIZE):
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision '{precision}' ({', '.join(PRECISIONS)})")
        g = model.gabor
        self.model, self.precision = model, precision
        self.gabor = GaborPlan(g.time, g.freq, g.sigma, g.chirp, g.channel, sample_rate=model.sample_rate,
                               n_samples=model.n_samples, n_channels=model.n_channels, block_size=block_size)
        self.amp_cos, self.amp_sin = _f64(g.amp_cos), _f64(g.amp_sin)
        self.n_blocks = self.gabor.n_blocks
        self.noise = model.noise if len(model.noise) else None

    def block_bounds(self, j: int) -> tuple[int, int]:
        return self.gabor.block_bounds(j)

    def render_range(self, start: int, stop: int) -> np.ndarray:
        """Model-channel samples [start, stop), float64 [C, stop - start]: the sum of every Gaussian kind."""
        m = self.model
        gated = self.noise is not None and m.noise_exact and m.noise_gate
        a, b = start, stop
        if gated:  # the gate reads the tonal part over the noise's analysis margins too
            from audio_gs.codec.noise import exact_span

            a, b = exact_span(m.sample_rate, m.n_samples, start, stop)
        tonal = self.gabor.render_range(self.amp_cos, self.amp_sin, a, b, precision=self.precision)
        y = tonal[:, start - a:stop - a]
        if self.noise is not None:
            from audio_gs.codec.noise import render_noise_block

            y = y + render_noise_block(self.noise, m.sample_rate, m.n_samples, m.n_channels, m.noise_seed, start,
                                       stop, m.noise_env, m.noise_exact, tonal if gated else None)
        return y

    def block(self, j: int) -> np.ndarray:
        """Block j of the grid, float64 [C, block length], model channels."""
        return self.render_range(*self.block_bounds(j))


def render_block(model: Model, start: int, stop: int, *, precision: str = DECODE_PRECISION) -> np.ndarray:
    """Samples [start, stop) of a Model in model channels, float64 [C, stop - start]. A range that is a
    block of the grid (BLOCK_SIZE) gives exactly the samples that ``render`` gives there."""
    if not 0 <= start <= stop <= model.n_samples:
        raise ValueError(f"range [{start}, {stop}) outside the model's {model.n_samples} samples")
    return BlockRenderer(model, precision=precision).render_range(start, stop)


def _stack(x, rows):
    if isinstance(x, np.ndarray):
        return np.stack(rows)
    import torch  # x is a tensor, so torch is already loaded

    return torch.stack(rows)


def to_output_channels(x, stereo_mode: str):
    """Model channels to output channels: mid/side [2, N] -> left/right; otherwise unchanged.
    Works on numpy arrays and torch tensors."""
    if stereo_mode == "ms" and x.shape[0] == 2:
        return _stack(x, [x[0] + x[1], x[0] - x[1]])
    return x


def to_model_channels(x, stereo_mode: str):
    """Output channels to model channels: left/right [2, N] -> mid/side; otherwise unchanged.
    Works on numpy arrays and torch tensors."""
    if stereo_mode == "ms" and x.shape[0] == 2:
        return _stack(x, [(x[0] + x[1]) / 2, (x[0] - x[1]) / 2])
    return x


def iter_blocks(model: Model, *, precision: str = DECODE_PRECISION, threads: int | None = None,
                renderer: BlockRenderer | None = None):
    """The waveform block by block, in order: (start sample, float64 [channels, length]) in output
    (left/right) channels. At most 2 x threads blocks are held at once. AgsFormatError when a rendered
    sample is not finite."""
    r = renderer or BlockRenderer(model, precision=precision)

    def one(j):
        y = to_output_channels(r.block(j), model.stereo_mode)
        if not np.isfinite(y).all():
            start = r.block_bounds(j)[0]
            raise AgsFormatError(f"rendered audio is not finite near {start / model.sample_rate:.3f} s "
                                 "(the file's amplitudes are out of range)")
        return r.block_bounds(j)[0], y

    yield from _map_ordered(one, range(r.n_blocks), threads)


def render(model: Model, *, precision: str = DECODE_PRECISION, threads: int | None = None,
           renderer: BlockRenderer | None = None) -> np.ndarray:
    """Waveform float64 [channels, n_samples] of a Model, in output (left/right) channels: the blocks of
    ``iter_blocks`` put together (the same samples for any number of threads)."""
    out = np.empty((model.n_channels, model.n_samples), np.float64)
    for start, y in iter_blocks(model, precision=precision, threads=threads, renderer=renderer):
        out[:, start:start + y.shape[1]] = y
    return out


def render_gabor(g: Gabor, sample_rate: int, n_samples: int, n_channels: int = 1, *, precision: str = "float64",
                 threads: int | None = None) -> np.ndarray:
    """Sum of Gabor atoms, float64 [n_channels, n_samples], in model channels."""
    plan = GaborPlan(g.time, g.freq, g.sigma, g.chirp, g.channel, sample_rate=sample_rate, n_samples=n_samples,
                     n_channels=n_channels)
    return plan.render(g.amp_cos, g.amp_sin, precision=precision, threads=threads)


def render_model_channels(model: Model, *, precision: str = DECODE_PRECISION, threads: int | None = None) -> np.ndarray:
    """Waveform float64 [n_channels, n_samples] of a Model's Gaussians of both kinds, in model channels."""
    r = BlockRenderer(model, precision=precision)
    out = np.empty((model.n_channels, model.n_samples), np.float64)

    def one(j):
        start, stop = r.block_bounds(j)
        out[:, start:stop] = r.block(j)

    for _ in _map_ordered(one, range(r.n_blocks), threads):
        pass
    return out
