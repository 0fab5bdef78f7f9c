"""Decode speed and memory of .ags files: in process (real-time factor, render share), as a fresh
`audio-gs decode` process against a fresh process that decodes the same clip's Opus file with
soundfile, and the peak memory of decoding a long (default 60-minute) file.

    python benchmarks/bench_decode.py [--atoms 10000] [--seconds 10] [--rate 44100] [--threads 2] [--repeats 5]
                                      [--fresh 3] [--long-minutes 60] [--long-density 200] [--no-long]

Atoms are random with widths log-uniform in 1..64 ms, quantized at 8 bits. Targets (issues 9, 10):
>= 500x real time in process on 2 threads for the default case; a fresh `audio-gs decode` at most
1.5x the fresh soundfile Opus -> WAV process (best of --fresh each, same run); peak memory of the
long decode below 300 MB (its atoms: --long-density per second).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPUS_TO_WAV = ("import sys, soundfile as sf; x, sr = sf.read(sys.argv[1], dtype='float32'); "
               "sf.write(sys.argv[2], x, sr, subtype='PCM_16')")
# the child's own peak: VmHWM belongs to its address space (ru_maxrss would carry the parent's peak across exec)
PEAK_RSS = ("import sys; from audio_gs.cli import main; rc = main(['decode', sys.argv[1], '-o', sys.argv[2]]); "
            "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')]; "
            "print('maxrss_kb', hwm[0], file=sys.stderr); sys.exit(rc)")


def random_model(k: int, seconds: float, sr: int, seed: int = 0):
    import numpy as np

    from audio_gs.codec.model import Gabor, Model

    rng = np.random.default_rng(seed)
    r = lambda: rng.random(k)  # noqa: E731
    g = Gabor(time=r() * seconds, freq=r() * sr / 2, log_sigma=math.log(1e-3) + r() * math.log(64),
              chirp=(r() - 0.5) * 2000, amp_cos=(r() - 0.5) * 0.1, amp_sin=(r() - 0.5) * 0.1,
              channel=np.zeros(k, np.int64))
    return Model(sample_rate=sr, n_samples=int(seconds * sr), gabor=g)


def best_of(cmd: list[str], n: int, env: dict) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t0)
    return min(times)


def audio_gs_command() -> list[str]:
    script = Path(sys.executable).with_name("audio-gs")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "audio_gs"]


def in_process(path: Path, threads: int, repeats: int) -> dict:
    from audio_gs.codec.bitstream import unpack
    from audio_gs.codec.compress import read_bytes
    from audio_gs.codec.model import Model
    from audio_gs.codec.quantize import dequantize
    from audio_gs.codec.render import BlockRenderer, render

    stages = {"read+entropy decode": [], "dequantize": [], "plan (block lists)": [], "render": [], "total": [],
              "cpu": []}
    for i in range(repeats + 1):
        c0 = time.process_time()
        t0 = time.perf_counter()
        q, n, _ = unpack(read_bytes(path))
        t1 = time.perf_counter()
        m = Model(sample_rate=q.sample_rate, n_samples=n, gabor=dequantize(q))
        t2 = time.perf_counter()
        r = BlockRenderer(m)
        t3 = time.perf_counter()
        out = render(m, threads=threads, renderer=r)
        t4 = time.perf_counter()
        c4 = time.process_time()
        if i:  # the first run warms caches and the thread pool
            for name, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0, c4 - c0)):
                stages[name].append(dt)
    assert out.shape == (m.n_channels, m.n_samples)
    return {name: statistics.median(v) for name, v in stages.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=44100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fresh", type=int, default=3, help="fresh-process runs of each command (best is kept)")
    ap.add_argument("--long-minutes", type=float, default=60.0)
    ap.add_argument("--long-density", type=float, default=200.0, help="atoms per second of the long file")
    ap.add_argument("--no-long", action="store_true", help="skip the long-file memory measurement")
    args = ap.parse_args()

    import numpy as np

    from audio_gs.bench.baselines import encode_at_bitrate
    from audio_gs.codec.bitstream import METHOD_RANGE
    from audio_gs.codec.compress import decode, encode, read_bytes, write_ags
    from audio_gs.codec.render import render

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), NUMBA_NUM_THREADS=str(args.threads))
    model = random_model(args.atoms, args.seconds, args.rate)
    tmp = Path(tempfile.mkdtemp(prefix="bench_decode_"))
    try:
        path = tmp / "bench.ags"
        size = write_ags(path, model, bits_per_param=8)
        med = in_process(path, args.threads, args.repeats)
        print(f"{args.atoms} atoms, {args.seconds:g} s at {args.rate} Hz, {args.threads} threads, "
              f"median of {args.repeats}")
        print(f"file: {size:,} bytes ({8 * size / args.atoms:.1f} bits per atom, "
              f"{8 * size / args.seconds / 1000:.1f} kbps)")
        for name, t in med.items():
            print(f"  {name if name != 'cpu' else 'CPU time (all threads)':<22} {1000 * t:8.2f} ms")
        share = (med["plan (block lists)"] + med["render"]) / med["total"]
        print(f"real-time factor: {args.seconds / med['total']:.0f}x (decode in process, wall); "
              f"render share {100 * share:.0f} %; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

        wav = tmp / "out.wav"
        cmd = audio_gs_command() + ["decode", str(path), "-o", str(wav)]
        y = render(decode(read_bytes(path)))
        peak = float(np.abs(y).max())
        opus, info = encode_at_bitrate(y / max(peak, 1.0), args.rate, "opus", 8 * size / args.seconds / 1000)
        opus_path = tmp / "bench.opus"
        opus_path.write_bytes(opus)
        t_ags = best_of(cmd, args.fresh, env)
        t_opus = best_of([sys.executable, "-c", OPUS_TO_WAV, str(opus_path), str(tmp / "opus.wav")], args.fresh, env)
        label = "audio-gs" if cmd[0].endswith("audio-gs") else "python -m audio_gs"
        print(f"fresh process, best of {args.fresh}: `{label} decode` "
              f"{t_ags:.3f} s; soundfile Opus ({info['kbps']:.0f} kbps) -> WAV {t_opus:.3f} s; "
              f"ratio {t_ags / t_opus:.2f} (target <= 1.5)")

        if not args.no_long:
            seconds = 60 * args.long_minutes
            k = int(args.long_density * seconds)
            t0 = time.perf_counter()
            data = encode(random_model(k, seconds, args.rate, seed=1), bits_per_param=8, method=METHOD_RANGE)
            long_path = tmp / "long.ags"
            long_path.write_bytes(data)
            made = time.perf_counter() - t0
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-c", PEAK_RSS, str(long_path), str(tmp / "long.wav")],
                                 capture_output=True, text=True, env=env)
            wall = time.perf_counter() - t0
            if res.returncode:
                print(f"long decode failed: {res.stderr.strip().splitlines()[-1]}")
            else:
                kb = int(res.stderr.split("maxrss_kb")[-1].split()[0])
                print(f"{args.long_minutes:g}-minute file ({k:,} atoms, {len(data):,} bytes, made in {made:.0f} s): "
                      f"fresh `audio-gs decode` peak RSS {kb / 1024:.0f} MB, {wall:.1f} s "
                      f"({seconds / wall:.0f}x real time; target < 300 MB)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
