"""Adam steps per second of the fit on the CPU and, where one is at hand, on a CUDA device, measured in
one run on the same atoms and target (the fit's step: render, loss, backward, update).

    python benchmarks/bench_fit_device.py [--atoms 4000] [--seconds 10] [--rate 16000] [--steps 50]
    python benchmarks/bench_fit_device.py --encode speech.wav [--config params/configs/speech.yaml]
        [--kbps 16] [--fit_steps 300]     # a whole encode on each device instead

On the CPU the step uses the numba renderer with analytic gradients; on CUDA the plain-torch
renderer. Prints ms per step for each device and the ratio; without CUDA it says so and prints the
CPU figure only.
"""

from __future__ import annotations

import argparse
import time

import torch

from audio_gs.encoder.atoms import Atoms
from audio_gs.encoder.config import resolve_config
from audio_gs.encoder.fit import optimize
from audio_gs.encoder.render import render_model


def random_atoms(k: int, seconds: float, sr: int, seed: int) -> Atoms:
    """k random float32 atoms: widths 0.5-30 ms, any frequency, small amplitudes."""
    g = torch.Generator().manual_seed(seed)
    r = lambda: torch.rand(k, generator=g)  # noqa: E731
    return Atoms(time=r() * seconds, freq=r() * sr / 2, log_sigma=torch.log(0.0005 + r() * 0.03),
                 chirp=(r() - 0.5) * 200, amp_cos=(r() - 0.5) * 0.1, amp_sin=(r() - 0.5) * 0.1,
                 channel=torch.zeros(k, dtype=torch.long), sample_rate=sr, n_channels=1)


def ms_per_step(atoms, target, cfg, steps: int, device: str) -> float:
    a, t = atoms.to(device=device), target.to(device=device)
    optimize(a, t, cfg, 3)  # warm-up: compilation, allocator, kernels
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    optimize(a, t, cfg, steps)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - t0) / steps


def encode_seconds(path: str, config: str, kbps: float, steps: int, device: str) -> tuple[float, float, float]:
    """(wall seconds, real kbps, SNR dB) of one whole encode (audio_gs.encoder.encode.encode_signal) on device."""
    from audio_gs.audio_io import load_audio
    from audio_gs.codec.compress import decode
    from audio_gs.codec.render import render
    from audio_gs.encoder.encode import encode_signal
    from audio_gs.encoder.losses import snr_db

    x, sr = load_audio(path)
    cfg = resolve_config(config, {"kbps": kbps, "num_steps": steps, "device": device, "seed": 0,
                                  "add_gaussians_steps": [steps // 5, 2 * steps // 5, 3 * steps // 5]})
    t0 = time.perf_counter()
    enc, _ = encode_signal(x, sr, cfg, progress=False)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    return seconds, enc.info["kbps"], snr_db(x, render(decode(enc.data)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--atoms", type=int, default=4000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=16000)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--encode", help="time a whole encode of this audio file on each device instead")
    ap.add_argument("--config", default="params/configs/speech.yaml")
    ap.add_argument("--kbps", type=float, default=16.0)
    ap.add_argument("--fit_steps", type=int, default=300)
    a = ap.parse_args()
    if a.encode:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for dev in devices:
            sec, kbps, snr = encode_seconds(a.encode, a.config, a.kbps, a.fit_steps, dev)
            print(f"{dev}: encode {sec:.1f} s, {kbps:.2f} kbit/s, SNR {snr:.2f} dB ({torch.get_num_threads()} CPU threads)")
        if len(devices) == 1:
            print("cuda: not available here (no GPU or a CPU-only torch); no GPU figure")
        return
    n = int(a.seconds * a.rate)
    truth = random_atoms(a.atoms, a.seconds, a.rate, seed=1)
    target = render_model(truth.to(dtype=torch.float64), n).float().detach()
    start = random_atoms(a.atoms, a.seconds, a.rate, seed=2)
    cfg = resolve_config(None, {"ls_every": 0, "log_every": 10**9})
    print(f"{a.atoms} atoms, {a.seconds:g} s at {a.rate} Hz, {a.steps} steps, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads")
    cpu = ms_per_step(start, target, cfg, a.steps, "cpu")
    print(f"cpu: {cpu:.1f} ms/step")
    if not torch.cuda.is_available():
        print("cuda: not available here (no GPU or a CPU-only torch); no GPU figure")
        return
    gpu = ms_per_step(start, target, cfg, a.steps, "cuda")
    print(f"cuda ({torch.cuda.get_device_name(0)}): {gpu:.1f} ms/step; cpu / cuda = {cpu / gpu:.2f}x")


if __name__ == "__main__":
    main()
