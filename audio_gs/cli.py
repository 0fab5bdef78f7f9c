"""The `audio-gs` command line: fit one file, evaluate a checkpoint, and the codec commands
(encode, quantize, decode, info) from audio_gs.cli_codec. A thin layer over library functions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from audio_gs.errors import AudioGSError

FIT_FLAGS = {  # flag -> (type, help); both --snake_case and --dashed-case spellings are accepted
    "config": (str, "YAML config file (params/configs/*.yaml); flags override its values"),
    "num_gaussians": (int, "number of Gaussians (default 500)"),
    "num_steps": (int, "optimisation steps (default 5000)"),
    "lr": (float, "Adam learning rate (default 0.01)"),
    "init_method": (str, "mp | peaks | random | uniform (default mp: matching pursuit)"),
    "loss_type": (str, "l2 | l1 | spectral (default l2)"),
    "perceptual_weight": (float, "weight of the log-mel loss term (default 0)"),
    "add_gaussians_steps": (int, "steps at which atoms are added where the residual is largest"),
    "sample_rate": (int, "resample the input to this rate (Hz)"),
    "offset": (float, "start of the excerpt in seconds"),
    "duration": (float, "length of the excerpt in seconds"),
    "channels": (str, "keep | mono | stereo"),
    "stereo_mode": (str, "lr (per channel) | ms (mid/side)"),
    "seed": (int, "random seed (default 0)"),
    "bits_per_param": (int, "quantizer bits per parameter: 6 | 8 | 16 (default 8)"),
    "qat_steps": (int, "quantization-aware fine-tuning steps with --quantize (default 200)"),
    "device": (str, "torch device for code paths that can use it (default cpu)"),
    "log_every": (int, "log every N steps"),
    "save_every": (int, "write a checkpoint every N steps"),
}


def _dashed(name: str) -> list[str]:
    flags = [f"--{name}"]
    if "_" in name:
        flags.append(f"--{name.replace('_', '-')}")
    return flags


def add_fit_arguments(p: argparse.ArgumentParser) -> None:
    """Fit options shared by `fit` and `encode` (values left None fall back to config/defaults)."""
    for name, (typ, help_) in FIT_FLAGS.items():
        if name == "add_gaussians_steps":
            p.add_argument(*_dashed(name), dest=name, type=typ, nargs="+", default=None, help=help_)
        else:
            p.add_argument(*_dashed(name), dest=name, type=typ, default=None, help=help_)
    p.add_argument(*_dashed("adaptive_add"), dest="adaptive_add", action="store_true", default=None,
                   help="add Gaussians during fitting (at --add_gaussians_steps) and prune negligible ones")
    p.add_argument(*_dashed("quantize"), dest="quantize", action="store_true", default=None,
                   help="quantization-aware fine-tuning before writing the .ags file")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> dict:
    from audio_gs.config import DEFAULTS, resolve_config

    overrides = {k: getattr(args, k) for k in DEFAULTS if hasattr(args, k)}
    return resolve_config(getattr(args, "config", None), overrides)


def compression_summary(n_samples: int, n_channels: int, sample_rate: int, n_bytes: int, snr: float,
                        estimate: bool = False) -> str:
    pcm = n_samples * n_channels * 2
    seconds = n_samples / sample_rate
    label = "estimated size (parameters x bits, no file)" if estimate else "compressed size (.ags file)"
    return "\n".join([
        "compression summary",
        f"  original size (16-bit PCM): {pcm:,} bytes",
        f"  {label}: {n_bytes:,} bytes",
        f"  compression ratio: {pcm / max(n_bytes, 1):.1f}x",
        f"  bitrate: {n_bytes * 8 / seconds / 1000:.2f} kbps",
        f"  SNR: {snr:.2f} dB",
    ])


def _bitstream():
    try:
        from audio_gs import bitstream
    except ImportError:
        return None
    return bitstream


def cmd_fit(args: argparse.Namespace) -> int:
    if getattr(args, "eval", False):
        return cmd_eval(args)
    if not args.input_path:
        raise AudioGSError("fit needs --input_path (or --eval --ckpt_file)")
    import numpy as np

    from audio_gs.audio_io import save_audio
    from audio_gs.checkpoint import save_checkpoint
    from audio_gs.config import dump_config
    from audio_gs.fit import fit_signal, load_target
    from audio_gs.losses import snr_db
    from audio_gs.render import render, render_model
    from audio_gs.visualize import plot_gaussians

    cfg = config_from_args(args)
    cfg["input_path"] = str(args.input_path)
    x, sr = load_target(cfg)  # every input error is raised here, before anything is written
    log_dir = Path(args.log_dir or Path("logs") / Path(args.input_path).stem)
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "cfg_train.yaml").write_text(dump_config(cfg))
    log_file = open(log_dir / "log_train.txt", "w")
    log_file.write(f"# audio-gs fit {args.input_path}: {x.shape[0]} ch, {x.shape[1]} samples at {sr} Hz\n")
    log_file.write("step\tloss\tsnr_db\tn_atoms\tseconds\n")
    writer = None
    try:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(log_dir / "tensorboard"))
    except Exception:  # tensorboard is optional at run time
        writer = None

    def on_log(step, loss, snr, n_atoms, seconds):
        log_file.write(f"{step}\t{loss:.6g}\t{snr:.3f}\t{n_atoms}\t{seconds:.2f}\n")
        log_file.flush()
        if writer:
            writer.add_scalar("train/loss", loss, step)
            writer.add_scalar("train/snr_db", snr, step)
            writer.add_scalar("train/n_gaussians", n_atoms, step)

    def on_checkpoint(step, atoms):
        save_checkpoint(log_dir / "checkpoints" / f"checkpoint_{step:06d}.pth", atoms, x.shape[1], cfg, step)

    result = fit_signal(x, sr, cfg, on_log=on_log, on_checkpoint=on_checkpoint, progress=args.progress)
    atoms = result.atoms
    save_checkpoint(log_dir / "final.pth", atoms, result.n_samples, cfg, cfg["num_steps"])
    recon = render(atoms, result.n_samples)
    bs = _bitstream()
    n_bytes, estimate, snr_coded = None, True, None
    if bs is not None:
        coded_atoms = atoms
        if cfg["quantize"] and cfg["qat_steps"]:
            from audio_gs.quantize import qat_finetune

            coded_atoms = qat_finetune(atoms, result.target, result.n_samples, cfg, cfg["qat_steps"])
        n_bytes = bs.write_ags(log_dir / "model.ags", coded_atoms, result.n_samples,
                               bits_per_param=cfg["bits_per_param"], bit_allocation=cfg["bit_allocation"],
                               target=result.target)
        decoded_atoms, _ = bs.read_ags(log_dir / "model.ags")
        decoded = render(decoded_atoms, result.n_samples)
        snr_coded = snr_db(x, decoded)
        estimate = False
        if cfg["quantize"]:
            recon = decoded
    else:
        n_bytes = int(np.ceil(len(atoms) * 6 * cfg["bits_per_param"] / 8))
    snr_out = snr_db(x, recon)
    save_audio(log_dir / "train" / "reconstructed.wav", recon.detach().numpy(), sr)
    residual = result.target - render_model(atoms, result.n_samples)
    plot_gaussians(result.target.numpy(), atoms, log_dir / "train" / "gaussians_visualization.png",
                   residual=residual.detach().numpy(),
                   title=f"{Path(args.input_path).name}: {len(atoms)} Gaussians, SNR {result.snr_db:.2f} dB")
    summary = {
        "input_path": str(args.input_path), "n_gaussians": len(atoms), "steps": cfg["num_steps"],
        "sample_rate": sr, "n_samples": result.n_samples, "n_channels": int(x.shape[0]),
        "snr_db": result.snr_db, "snr_db_output": snr_out, "snr_db_decoded": snr_coded,
        "fit_seconds": result.fit_seconds, "bytes": n_bytes, "bytes_is_estimate": estimate,
        "kbps": n_bytes * 8 / (result.n_samples / sr) / 1000, "pcm_bytes": result.n_samples * x.shape[0] * 2,
    }
    (log_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log_file.close()
    if writer:
        writer.close()
    print(f"fitted {len(atoms)} Gaussians in {result.fit_seconds:.1f} s; outputs in {log_dir}")
    snr_report = snr_coded if snr_coded is not None else result.snr_db
    print(compression_summary(result.n_samples, x.shape[0], sr, n_bytes, snr_report, estimate))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Reconstruct from a checkpoint; SNR against the original when it can be read."""
    import torch

    from audio_gs.audio_io import save_audio
    from audio_gs.checkpoint import load_checkpoint
    from audio_gs.fit import load_target
    from audio_gs.losses import snr_db
    from audio_gs.render import render

    if not args.ckpt_file:
        raise AudioGSError("eval needs --ckpt_file")
    atoms, n_samples, payload = load_checkpoint(args.ckpt_file)
    cfg = dict(payload.get("config", {}))
    if args.input_path:
        cfg["input_path"] = str(args.input_path)
    with torch.no_grad():
        y = render(atoms, n_samples)
    out_dir = Path(args.log_dir) if args.log_dir else Path(args.ckpt_file).resolve().parent
    out = save_audio(out_dir / "eval" / "reconstructed.wav", y.numpy(), atoms.sample_rate)
    print(f"{len(atoms)} Gaussians, {n_samples / atoms.sample_rate:.2f} s at {atoms.sample_rate} Hz -> {out}")
    if cfg.get("input_path"):
        x, _ = load_target(cfg)
        print(f"SNR vs {cfg['input_path']}: {snr_db(x, y):.2f} dB")
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        self.exit(2, f"audio-gs: error: {message} (see audio-gs --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="audio-gs", description="Gaussian-splatting audio codec")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    p = sub.add_parser("fit", help="fit Gaussians to one audio file (WAV, FLAC, OGG, MP3, M4A)")
    p.add_argument(*_dashed("input_path"), dest="input_path", help="audio file to fit")
    p.add_argument(*_dashed("log_dir"), dest="log_dir", help="output folder (default logs/<file stem>)")
    add_fit_arguments(p)
    p.add_argument("--eval", action="store_true", help="reconstruct from --ckpt_file instead of fitting")
    p.add_argument(*_dashed("ckpt_file"), dest="ckpt_file", help="checkpoint for --eval")
    p.set_defaults(func=cmd_fit)
    e = sub.add_parser("eval", help="reconstruct audio from a checkpoint")
    e.add_argument(*_dashed("ckpt_file"), dest="ckpt_file", required=True)
    e.add_argument(*_dashed("input_path"), dest="input_path", help="original, for the SNR (default: from the checkpoint)")
    e.add_argument(*_dashed("log_dir"), dest="log_dir", help="output folder (default: the checkpoint's folder)")
    e.set_defaults(func=cmd_eval)
    try:
        from audio_gs import cli_codec
    except ImportError:
        cli_codec = None
    if cli_codec is not None:
        cli_codec.register(sub, add_fit_arguments)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("--") and argv[0] not in ("--help", "-h"):
        argv = ["fit"] + argv  # the training guide's spelling: audio-gs --input_path X ...
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AudioGSError as exc:
        print(f"audio-gs: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("audio-gs: interrupted", file=sys.stderr)
        return 130
