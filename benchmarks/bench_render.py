"""Forward+backward time of the plain windowed torch renderer vs the numba fast path, in one run.

    python benchmarks/bench_render.py [--atoms 2000] [--seconds 10] [--rates 16000 44100] [--repeats 3]

Atoms are random with widths log-uniform in 1..64 ms (the init's scales). Prints the median time of
each path, the speed-up ratio (target >= 10x) and the difference between the two outputs in dB.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from audio_gs.encoder.atoms import Atoms
from audio_gs.encoder.render import render_fast, render_reference


def random_atoms(k: int, sr: int, seconds: float, seed: int = 0) -> Atoms:
    g = torch.Generator().manual_seed(seed)
    r = lambda: torch.rand(k, generator=g, dtype=torch.float32)  # noqa: E731
    return Atoms(time=r() * seconds, freq=r() * sr / 2, log_sigma=math.log(1e-3) + r() * math.log(64),
                 chirp=(r() - 0.5) * 2000, amp_cos=(r() - 0.5) * 0.1, amp_sin=(r() - 0.5) * 0.1,
                 channel=torch.zeros(k, dtype=torch.long), sample_rate=sr)


def fwd_bwd(fn, atoms: Atoms, n: int, target: torch.Tensor) -> tuple[float, torch.Tensor]:
    leaves = [getattr(atoms, f).detach().clone().requires_grad_(True) for f in
              ("time", "freq", "log_sigma", "chirp", "amp_cos", "amp_sin")]
    a = Atoms(*leaves, channel=atoms.channel, sample_rate=atoms.sample_rate)
    t0 = time.perf_counter()
    y = fn(a, n)
    ((y - target) ** 2).sum().backward()
    return time.perf_counter() - t0, y.detach()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rates", type=int, nargs="+", default=[16000, 44100])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"{args.atoms} atoms, {args.seconds:g} s, forward+backward, median of {args.repeats}, "
          f"{torch.get_num_threads()} torch threads")
    print(f"{'rate':>6} {'reference s':>12} {'fast s':>9} {'speed-up':>9} {'fast vs ref dB':>15}")
    for sr in args.rates:
        n = int(args.seconds * sr)
        atoms = random_atoms(args.atoms, sr, args.seconds)
        target = torch.zeros(1, n)
        fwd_bwd(render_fast, atoms, n, target)  # compile the numba kernels outside the timing
        ref = [fwd_bwd(render_reference, atoms, n, target) for _ in range(args.repeats)]
        fast = [fwd_bwd(render_fast, atoms, n, target) for _ in range(args.repeats)]
        t_ref = statistics.median(t for t, _ in ref)
        t_fast = statistics.median(t for t, _ in fast)
        y_ref, y_fast = ref[0][1].double(), fast[0][1].double()
        err_db = 10 * math.log10(((y_fast - y_ref) ** 2).sum() / (y_ref**2).sum())
        print(f"{sr:>6} {t_ref:>12.3f} {t_fast:>9.3f} {t_ref / t_fast:>8.1f}x {err_db:>15.1f}")


if __name__ == "__main__":
    main()
