"""Decode speed of .ags files: read + entropy-decode + dequantize + render, as a real-time factor.

    python benchmarks/bench_decode.py [--atoms 10000] [--seconds 10] [--rate 44100] [--threads 2] [--repeats 5]

Atoms are random with widths log-uniform in 1..64 ms, quantized at 8 bits and written to a temporary
.ags file. Prints the file size, the median time of each decode stage and the real-time factor
(audio seconds per decode second; target >= 500x on 2 cores for 10 s at 44.1 kHz with 10,000 atoms),
plus the wall time of a fresh `audio-gs decode` process (imports and WAV writing included).
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=44100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    import numba
    import numpy as np

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    from audio_gs.codec.bitstream import unpack
    from audio_gs.codec.compress import decode, read_bytes, write_ags
    from audio_gs.codec.model import Gabor, Model
    from audio_gs.codec.quantize import dequantize
    from audio_gs.codec.render import render

    k, sr, n = args.atoms, args.rate, int(args.seconds * args.rate)
    rng = np.random.default_rng(0)
    r = lambda: rng.random(k)  # noqa: E731
    g = Gabor(time=r() * args.seconds, freq=r() * sr / 2, log_sigma=math.log(1e-3) + r() * math.log(64),
              chirp=(r() - 0.5) * 2000, amp_cos=(r() - 0.5) * 0.1, amp_sin=(r() - 0.5) * 0.1,
              channel=np.zeros(k, np.int64))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.ags"
        size = write_ags(path, Model(sample_rate=sr, n_samples=n, gabor=g), bits_per_param=8)
        render(decode(read_bytes(path)))  # compile the numba kernels outside the timing
        stages = {"read+entropy decode": [], "dequantize": [], "render": [], "total": []}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            q, n2, _ = unpack(read_bytes(path))
            t1 = time.perf_counter()
            m = Model(sample_rate=q.sample_rate, n_samples=n2, gabor=dequantize(q))
            t2 = time.perf_counter()
            render(m)
            t3 = time.perf_counter()
            for name, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                stages[name].append(dt)
        wav = Path(tmp) / "out.wav"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "audio_gs", "decode", str(path), "-o", str(wav)], check=True,
                       capture_output=True, env={"NUMBA_NUM_THREADS": str(args.threads),
                                                 "OMP_NUM_THREADS": str(args.threads), "PATH": ""})
        cold = time.perf_counter() - t0
    med = {name: statistics.median(v) for name, v in stages.items()}
    print(f"{k} atoms, {args.seconds:g} s at {sr} Hz, {args.threads} threads, median of {args.repeats}")
    print(f"file: {size:,} bytes ({8 * size / k:.1f} bits per atom, {8 * size / args.seconds / 1000:.1f} kbps)")
    for name, t in med.items():
        print(f"  {name:<20} {1000 * t:8.1f} ms")
    print(f"real-time factor: {args.seconds / med['total']:.0f}x (decode in process)")
    print(f"fresh process `audio-gs decode` incl. imports and WAV write: {cold:.2f} s "
          f"({args.seconds / cold:.0f}x real time)")


if __name__ == "__main__":
    main()
