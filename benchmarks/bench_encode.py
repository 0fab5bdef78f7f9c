"""Encoder speed, memory and quality, each case one fresh `audio-gs encode` process (wall time, CPU
time and the child's own peak memory), decoded and scored in this process.

    python benchmarks/bench_encode.py presets   # 10 s of speech at 16 kbit/s: fast vs default vs best
    python benchmarks/bench_encode.py scaling   # 40 s of music (four 10 s clips) vs its first 10 s, fast, 24 kbit/s
    python benchmarks/bench_encode.py song      # a whole 44.1 kHz stereo song, fast, 32 and 64 kbit/s (--rates), and Opus
    options: --jobs N (windows fitted at once, default 1), --mirror DIR[:DIR] (default: ../shared/datasets/*)

Targets (issue 13, on 2 cores): `fast` at least real time on the speech clip and within 1 dB SNR of
`default`; 40 s cost per audio second <= 1.25x the 10 s cost, peak memory <= 1.5 GB, and the 40 s
fit within 0.5 dB SNR of the 10 s fit on the first 10 s. The script prints the measured ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
SPEECH = ("librosa-data", "198-209-0000.hq.ogg")
MUSIC = [("librosa-data", "Kevin_MacLeod_-_Vibe_Ace.hq.ogg", 14.0),
         ("open-clips", "symphony/smstools_orchestra.wav", 0.0),
         ("open-clips", "piano/freesound_lemoncreme_piano-melody.wav", 0.0),
         ("librosa-data", "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg", 0.0)]
SONG = ("open-clips", "pop/jamendo_yuanan_miedo.mp3")
# runs main(['encode', ...]) and prints the child's own peak (VmHWM) and CPU seconds
CHILD = ("import sys, resource; from audio_gs.cli import main; rc = main(sys.argv[1:]); "
         "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')]; "
         "r = resource.getrusage(resource.RUSAGE_SELF); "
         "print('BENCH', hwm[0], r.ru_utime + r.ru_stime, file=sys.stderr); sys.exit(rc)")


def find(mirrors: list[Path], folder: str, name: str) -> Path:
    for m in mirrors:
        for p in (m / name, m / folder / name):
            if p.is_file():
                return p
    sys.exit(f"bench_encode: {name} not found under {', '.join(map(str, mirrors))} (give --mirror)")


def encode(src: Path, out: Path, flags: list[str]) -> dict:
    """One fresh encode process: wall and CPU seconds (its threads and window workers included), peak MB."""
    t0 = time.perf_counter()
    before = os.times()
    p = subprocess.run([sys.executable, "-c", CHILD, "encode", str(src), "-o", str(out), "--no-progress", *flags],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = os.times()
    if p.returncode:
        sys.exit(f"bench_encode: encode failed: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
    line = [ln for ln in p.stderr.splitlines() if ln.startswith("BENCH ")][-1].split()
    return {"wall_s": wall, "cpu_s": (after.children_user - before.children_user)
            + (after.children_system - before.children_system), "peak_mb": int(line[1]) / 1024}


def decoded(path: Path):
    from audio_gs.codec.compress import decode
    from audio_gs.codec.render import render

    return render(decode(path.read_bytes()))


def scores(ref, y, sr: int, speech: bool) -> dict:
    from audio_gs.bench import metrics as M

    out = {"snr_db": M.snr_db(ref, y)}
    mono_r, mono_y = ref.mean(axis=0), y.mean(axis=0)
    for name, fn in (("pesq", lambda: M.pesq_wb(mono_r, mono_y, sr) if speech else None),
                     ("visqol", lambda: M.visqol_score(ref if ref.shape[0] == 1 else mono_r, y if y.shape[0] == 1
                                                       else mono_y, sr, "speech" if speech else "audio")[0])):
        try:
            v = fn()
        except Exception as exc:  # a metric that cannot run is reported as such, not as a number
            v = f"n/a ({str(exc)[:50]})"
        if v is not None:
            out[name] = v
    return out


def load(path: Path, sr: int, offset: float, duration: float | None, channels: str):
    from audio_gs.audio_io import load_audio

    x, _ = load_audio(str(path), sample_rate=sr, offset=offset, duration=duration, channels=channels)
    return x


def fmt(row: dict) -> str:
    return json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})


def case_presets(mirrors, jobs, tmp: Path, presets=("fast", "default"), rates=None) -> None:
    src = find(mirrors, *SPEECH)
    ref = load(src, 16000, 0.0, 10.0, "mono")
    rows = {}
    for preset in presets:
        out = tmp / f"speech_{preset}.ags"
        m = encode(src, out, ["--config", str(ROOT / "params/configs/speech.yaml"), "--kbps", "16",
                              "--preset", preset, "--jobs", str(jobs), "--sample_rate", "16000",
                              "--duration", "10", "--channels", "mono"])
        m.update(kbps=8 * out.stat().st_size / 10.0 / 1000, rtf=10.0 / m["wall_s"],
                 **scores(ref, decoded(out), 16000, speech=True))
        rows[preset] = m
        print(preset, fmt(m), flush=True)
    if not {"fast", "default"} <= set(rows):
        return
    f, d = rows["fast"], rows["default"]
    print(f"fast: {f['rtf']:.2f}x real time (target >= 1), SNR {f['snr_db'] - d['snr_db']:+.2f} dB against default "
          f"(target >= -1), default {d['rtf']:.2f}x real time")


def case_scaling(mirrors, jobs, tmp: Path, presets=None, rates=None) -> None:
    import numpy as np
    import soundfile as sf

    sr = 22050
    parts = [load(find(mirrors, folder, name), sr, off, 10.0, "mono") for folder, name, off in MUSIC]
    x = np.concatenate([np.pad(p, ((0, 0), (0, 10 * sr - p.shape[1]))) for p in parts], axis=1)
    long_wav = tmp / "music40.wav"
    sf.write(long_wav, x[0], sr, subtype="FLOAT")
    flags = ["--config", str(ROOT / "params/configs/music.yaml"), "--kbps", "24", "--preset", "fast",
             "--jobs", str(jobs), "--sample_rate", str(sr), "--channels", "mono"]
    short = encode(long_wav, tmp / "m10.ags", flags + ["--duration", "10"])
    long = encode(long_wav, tmp / "m40.ags", flags)
    y10, y40 = decoded(tmp / "m10.ags"), decoded(tmp / "m40.ags")
    short.update(kbps=8 * (tmp / "m10.ags").stat().st_size / 10 / 1000, snr_first10_db=scores(x[:, :10 * sr], y10, sr, False)["snr_db"])
    long.update(kbps=8 * (tmp / "m40.ags").stat().st_size / 40 / 1000, snr_first10_db=scores(x[:, :10 * sr], y40[:, :10 * sr], sr, False)["snr_db"],
                snr_db=scores(x, y40, sr, False)["snr_db"])
    print("10 s", fmt(short))
    print("40 s", fmt(long))
    print(f"cost per audio second, 40 s / 10 s: wall {long['wall_s'] / 4 / short['wall_s']:.2f}x, "
          f"CPU {long['cpu_s'] / 4 / short['cpu_s']:.2f}x (target <= 1.25); peak {long['peak_mb']:.0f} MB "
          f"(target <= 1536); SNR on the first 10 s {long['snr_first10_db'] - short['snr_first10_db']:+.2f} dB "
          f"(target >= -0.5)")


def case_song(mirrors, jobs, tmp: Path, presets=None, rates=(32, 64)) -> None:
    from audio_gs.bench.baselines import decode_file, encode_at_bitrate

    src = find(mirrors, *SONG)
    ref = load(src, 44100, 0.0, None, "stereo")
    seconds = ref.shape[1] / 44100
    for kbps in rates:
        out = tmp / f"song{kbps}.ags"
        m = encode(src, out, ["--config", str(ROOT / "params/configs/music.yaml"), "--kbps", str(kbps),
                              "--preset", "fast", "--jobs", str(jobs), "--sample_rate", "44100", "--channels", "stereo"])
        m.update(seconds=seconds, kbps=8 * out.stat().st_size / seconds / 1000, **scores(ref, decoded(out), 44100, False))
        print(f"audio_gs {kbps}", fmt(m), flush=True)
        data, info = encode_at_bitrate(ref, 44100, "opus", kbps)
        p = tmp / f"song{kbps}.opus"
        p.write_bytes(data)
        y, _ = decode_file(p, "opus", 44100, reference=ref)
        print(f"opus {kbps}", fmt({"kbps": info["kbps"], **scores(ref, y, 44100, False)}), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("case", choices=("presets", "scaling", "song"))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--presets", default="fast,default", help="presets compared by the presets case")
    ap.add_argument("--rates", default="32,64", help="kbit/s of the song case")
    ap.add_argument("--mirror", default=os.pathsep.join(str(SHARED / d) for d in ("librosa-data", "open-clips")))
    a = ap.parse_args()
    mirrors = [Path(m) for m in a.mirror.split(os.pathsep) if m]
    print(f"cores: {len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.2f}, jobs {a.jobs}")
    with tempfile.TemporaryDirectory() as tmp:
        {"presets": case_presets, "scaling": case_scaling, "song": case_song}[a.case](
            mirrors, a.jobs, Path(tmp), presets=tuple(a.presets.split(",")),
            rates=tuple(float(r) for r in a.rates.split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
