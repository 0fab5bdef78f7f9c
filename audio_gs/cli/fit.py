"""`audio-gs fit` (the training guide's command: fit one file, write the log folder) and `eval`
(reconstruct from a checkpoint)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from audio_gs.cli.common import add_fit_arguments, compression_summary, config_from_args, dashed
from audio_gs.errors import AudioGSError


def cmd_fit(args: argparse.Namespace) -> int:
    if getattr(args, "eval", False):
        return cmd_eval(args)
    if not args.input_path:
        raise AudioGSError("fit needs --input_path (or --eval --ckpt_file)")
    from audio_gs.audio_io import save_audio
    from audio_gs.encoder.checkpoint import save_checkpoint
    from audio_gs.encoder.coding import read_atoms, write_ags
    from audio_gs.encoder.config import dump_config
    from audio_gs.encoder.fit import fit_signal, load_target
    from audio_gs.encoder.losses import snr_db
    from audio_gs.encoder.qat import qat_finetune
    from audio_gs.encoder.render import render, render_model
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
    coded_atoms = atoms
    if cfg["quantize"] and cfg["qat_steps"]:
        coded_atoms = qat_finetune(atoms, result.target, result.n_samples, cfg, cfg["qat_steps"])
    n_bytes = write_ags(log_dir / "model.ags", coded_atoms, result.n_samples, bits_per_param=cfg["bits_per_param"],
                        bit_allocation=cfg["bit_allocation"], target=result.target)
    decoded_atoms, _ = read_atoms(log_dir / "model.ags")
    decoded = render(decoded_atoms, result.n_samples)
    snr_coded = snr_db(x, decoded)
    recon = decoded if cfg["quantize"] else render(atoms, result.n_samples)
    snr_out = snr_db(x, recon)
    save_audio(log_dir / "train" / "reconstructed.wav", recon.detach().numpy(), sr)
    residual = result.target - render_model(atoms, result.n_samples)
    plot_gaussians(result.target.numpy(), atoms.to_gabor(), sr, log_dir / "train" / "gaussians_visualization.png",
                   residual=residual.detach().numpy(),
                   title=f"{Path(args.input_path).name}: {len(atoms)} Gaussians, SNR {result.snr_db:.2f} dB")
    summary = {
        "input_path": str(args.input_path), "n_gaussians": len(atoms), "steps": cfg["num_steps"],
        "sample_rate": sr, "n_samples": result.n_samples, "n_channels": int(x.shape[0]),
        "snr_db": result.snr_db, "snr_db_output": snr_out, "snr_db_decoded": snr_coded,
        "fit_seconds": result.fit_seconds, "bytes": n_bytes, "bytes_is_estimate": False,
        "kbps": n_bytes * 8 / (result.n_samples / sr) / 1000, "pcm_bytes": result.n_samples * x.shape[0] * 2,
    }
    (log_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log_file.close()
    if writer:
        writer.close()
    print(f"fitted {len(atoms)} Gaussians in {result.fit_seconds:.1f} s; outputs in {log_dir}")
    print(compression_summary(result.n_samples, x.shape[0], sr, n_bytes, snr_coded))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Reconstruct from a checkpoint; SNR against the original when it can be read."""
    import torch

    from audio_gs.audio_io import save_audio
    from audio_gs.encoder.checkpoint import load_checkpoint
    from audio_gs.encoder.fit import load_target
    from audio_gs.encoder.losses import snr_db
    from audio_gs.encoder.render import render

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


def register(sub) -> None:
    """Add fit and eval to the `audio-gs` subparsers."""
    p = sub.add_parser("fit", help="fit Gaussians to one audio file (WAV, FLAC, OGG, MP3, M4A)")
    p.add_argument(*dashed("input_path"), dest="input_path", help="audio file to fit")
    p.add_argument(*dashed("log_dir"), dest="log_dir", help="output folder (default logs/<file stem>)")
    add_fit_arguments(p)
    p.add_argument("--eval", action="store_true", help="reconstruct from --ckpt_file instead of fitting")
    p.add_argument(*dashed("ckpt_file"), dest="ckpt_file", help="checkpoint for --eval")
    p.set_defaults(func=cmd_fit)
    e = sub.add_parser("eval", help="reconstruct audio from a checkpoint")
    e.add_argument(*dashed("ckpt_file"), dest="ckpt_file", required=True)
    e.add_argument(*dashed("input_path"), dest="input_path", help="original, for the SNR (default: from the checkpoint)")
    e.add_argument(*dashed("log_dir"), dest="log_dir", help="output folder (default: the checkpoint's folder)")
    e.set_defaults(func=cmd_eval)
