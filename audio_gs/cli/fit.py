"""`audio-gs fit` (the training guide's command: fit one file, write the log folder) and `eval`
(reconstruct from a checkpoint)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from audio_gs.cli.common import (add_fit_arguments, compression_summary, config_from_args, dashed, report_input,
                               warn_if_clipped)
from audio_gs.errors import AudioGSError


def _prepare_log_dir(log_dir: Path, resume_step: int | None) -> None:
    """Make log_dir. A new fit removes the checkpoints of an earlier fit there (a later --resume would
    take them for its own); a resumed one keeps the log lines up to the step it continues from."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "log_train.txt"
    if resume_step is None:
        stale = sorted((log_dir / "checkpoints").glob("checkpoint_*.pth"))
        stale += [p for p in (log_dir / "final.pth",) if p.exists()]
        for p in stale:
            p.unlink()
        if stale:
            print(f"removed {len(stale)} checkpoint(s) of an earlier fit in {log_dir}")
        return
    if log.is_file():
        rows = [(line, re.match(r"(\d+)\t", line)) for line in log.read_text().splitlines()]
        keep = [line for line, m in rows if not m or int(m.group(1)) <= resume_step]
        log.write_text("".join(line + "\n" for line in keep))


def cmd_fit(args: argparse.Namespace) -> int:
    if getattr(args, "eval", False):
        return cmd_eval(args)
    if not args.input_path:
        raise AudioGSError("fit needs --input_path (or --eval --ckpt_file)")
    from audio_gs.encoder.inputs import load_input

    cfg = config_from_args(args)
    cfg["input_path"] = str(args.input_path)
    inp = load_input(cfg)  # every input error is raised here, before anything is written (and before torch loads)
    x, sr = inp.x, inp.sample_rate
    log_dir = Path(args.log_dir or Path("logs") / Path(args.input_path).stem)
    if cfg["kbps"]:
        from audio_gs.encoder.encode import atoms_for_rate

        cfg["num_gaussians"] = atoms_for_rate(cfg, x.shape[1], sr, x.shape[0])

    from audio_gs.encoder.windows import WindowScope, plan_for

    plan = plan_for(cfg, x.shape[1], sr)
    if plan is not None and args.resume:
        raise AudioGSError(f"--resume continues unwindowed fits only (a {x.shape[1] / sr:.1f} s input is fitted in "
                           f"windows of {cfg['window_seconds']:g} s; give --window_seconds 0 to fit it whole)")

    from audio_gs.audio_io import atomic_write, save_audio
    from audio_gs.encoder.checkpoint import find_resume, save_checkpoint
    from audio_gs.codec.render import render as render_file
    from audio_gs.encoder.config import dump_config
    from audio_gs.encoder.encode import encode_fitted
    from audio_gs.encoder.fit import Start, fit_signal
    from audio_gs.encoder.losses import snr_db
    from audio_gs.encoder.qat import qat_finetune
    from audio_gs.encoder.render import render
    from audio_gs.visualize import plot_gaussians

    start = None
    if args.resume:
        found = find_resume(log_dir, cfg, x.shape[1], inp.sha256)
        start = Start(atoms=found.atoms, step=found.step, seconds=found.seconds)
        print(f"resuming from {found.path} at step {found.step} of {cfg['num_steps']} (Adam state restarts)"
              + (f"; changed settings: {', '.join(found.changed)}" if found.changed else ""))
    report_input(inp, cfg)
    _prepare_log_dir(log_dir, start.step if start else None)
    (log_dir / "cfg_train.yaml").write_text(
        dump_config(cfg) + (f"# --normalize applied a gain of {inp.gain_db:+.3f} dB to the input\n"
                            if cfg["normalize"] else ""))
    extra = {"input_sha256": inp.sha256, "input_gain_db": inp.gain_db}
    resumed = start is not None and (log_dir / "log_train.txt").is_file()
    log_file = open(log_dir / "log_train.txt", "a" if resumed else "w")
    writer = None
    try:
        if not resumed:
            log_file.write(f"# audio-gs fit {args.input_path}: {x.shape[0]} ch, {x.shape[1]} samples at {sr} Hz\n")
            log_file.write("step\tloss\tsnr_db\tn_atoms\tseconds\n")
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(log_dir / "tensorboard"), purge_step=start.step + 1 if start else None)
        except Exception:  # tensorboard is optional at run time
            writer = None

        def on_log(step, loss, snr, n_atoms, seconds):
            log_file.write(f"{step}\t{loss:.6g}\t{snr:.3f}\t{n_atoms}\t{seconds:.2f}\n")
            log_file.flush()
            if writer:
                writer.add_scalar("train/loss", loss, step)
                writer.add_scalar("train/snr_db", snr, step)
                writer.add_scalar("train/n_gaussians", n_atoms, step)

        def on_checkpoint(step, atoms, seconds):
            save_checkpoint(log_dir / "checkpoints" / f"checkpoint_{step:06d}.pth", atoms, x.shape[1], cfg, step,
                            seconds=seconds, **extra)

        if plan is not None:  # a long signal: fitted window by window (no per-step log or checkpoints)
            from audio_gs.encoder.windows import fit_windowed

            def on_window(w):
                log_file.write(f"# window {w.index}: {w.fitted} Gaussians fitted, {len(w.atoms['time'])} kept, "
                               f"SNR {w.snr_db:.3f} dB, {w.seconds:.2f} s\n")
                log_file.flush()

            result = fit_windowed(x, sr, cfg, plan=plan, jobs=int(cfg["jobs"]), progress=args.progress,
                                  on_window=on_window)
            on_log(cfg["num_steps"], float("nan"), result.snr_db, len(result.atoms), result.fit_seconds)
        else:
            result = fit_signal(x, sr, cfg, on_log=on_log, on_checkpoint=on_checkpoint, progress=args.progress,
                                start=start)
    finally:
        log_file.close()
        if writer:
            writer.close()
    atoms = result.atoms
    save_checkpoint(log_dir / "final.pth", atoms, result.n_samples, cfg, cfg["num_steps"],
                    seconds=result.fit_seconds, **extra)
    coded_atoms = atoms
    if cfg["quantize"] and cfg["qat_steps"]:
        coded_atoms = qat_finetune(atoms, result.target, result.n_samples, cfg, cfg["qat_steps"])
    enc = encode_fitted(coded_atoms, result.target, result.n_samples, cfg,
                        scope=WindowScope(plan, cfg) if plan is not None else None)
    atomic_write(log_dir / "model.ags", lambda tmp: Path(tmp).write_bytes(enc.data))
    n_bytes = len(enc.data)
    decoded = render_file(enc.model)
    snr_coded = snr_db(x, decoded)
    recon = decoded if cfg["quantize"] or len(enc.model.noise) or cfg["kbps"] else render(atoms, result.n_samples).numpy()
    snr_out = snr_db(x, recon)
    wav = save_audio(log_dir / "train" / "reconstructed.wav", recon, sr)
    warn_if_clipped(recon, str(wav))
    from audio_gs.codec.render import render_model_channels

    residual = result.target.numpy() - render_model_channels(enc.model)
    plot_gaussians(result.target.numpy(), enc.model.gabor, sr, log_dir / "train" / "gaussians_visualization.png",
                   residual=residual, noise=enc.model.noise, envelope=enc.model.noise_env,
                   title=f"{Path(args.input_path).name}: {len(enc.model.gabor)} tonal + {len(enc.model.noise)} noise "
                         f"Gaussians, {8 * n_bytes / (result.n_samples / sr) / 1000:.1f} kbps, SNR {snr_coded:.2f} dB")
    summary = {
        "input_path": str(args.input_path), "n_gaussians": len(enc.model.gabor), "n_gaussians_fitted": len(atoms),
        "n_noise_gaussians": len(enc.model.noise), "target_kbps": cfg["kbps"], "steps": cfg["num_steps"],
        "sample_rate": sr, "n_samples": result.n_samples, "n_channels": int(x.shape[0]),
        "snr_db": result.snr_db, "snr_db_output": snr_out, "snr_db_decoded": snr_coded,
        "fit_seconds": result.fit_seconds, "bytes": n_bytes, "bytes_is_estimate": False,
        "kbps": n_bytes * 8 / (result.n_samples / sr) / 1000, "pcm_bytes": result.n_samples * x.shape[0] * 2,
        "input_peak": inp.peak, "input_clipped_share": inp.clipped, "normalize": cfg["normalize"],
        "input_gain_db": inp.gain_db, "resumed_from_step": start.step if start else None,
    }
    (log_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"fitted {len(atoms)} Gaussians in {result.fit_seconds:.1f} s; outputs in {log_dir}")
    print(compression_summary(result.n_samples, x.shape[0], sr, n_bytes, snr_coded))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Reconstruct from a checkpoint; SNR against the original when it can be read."""
    import torch

    from audio_gs.audio_io import save_audio
    from audio_gs.encoder.checkpoint import load_checkpoint
    from audio_gs.encoder.config import resolve_config
    from audio_gs.encoder.fit import load_target
    from audio_gs.encoder.losses import snr_db
    from audio_gs.encoder.render import render

    if not args.ckpt_file:
        raise AudioGSError("eval needs --ckpt_file")
    atoms, n_samples, payload = load_checkpoint(args.ckpt_file)
    try:
        cfg = resolve_config(None, dict(payload.get("config", {})))
    except AudioGSError as exc:
        raise AudioGSError(f"checkpoint {args.ckpt_file}: invalid config: {exc}") from None
    if args.input_path:
        cfg["input_path"] = str(args.input_path)
    try:
        with torch.no_grad():
            y = render(atoms, n_samples).numpy()
    except MemoryError:
        raise AudioGSError(f"checkpoint {args.ckpt_file}: not enough memory to render {n_samples} samples") from None
    out_dir = Path(args.log_dir) if args.log_dir else Path(args.ckpt_file).resolve().parent
    out = save_audio(out_dir / "eval" / "reconstructed.wav", y, atoms.sample_rate)
    warn_if_clipped(y, str(out))
    print(f"{len(atoms)} Gaussians, {n_samples / atoms.sample_rate:.2f} s at {atoms.sample_rate} Hz -> {out}")
    if cfg.get("input_path"):
        if not args.input_path and not Path(cfg["input_path"]).is_file():
            print(f"no SNR: the original {cfg['input_path']} is not there (give --input_path)")
            return 0
        x, sr = load_target(cfg)
        if (sr, x.shape[0], x.shape[1]) != (atoms.sample_rate, y.shape[0], n_samples):
            raise AudioGSError(f"{cfg['input_path']}: {x.shape[0]} ch, {x.shape[1]} samples at {sr} Hz, but the "
                               f"checkpoint holds {y.shape[0]} ch, {n_samples} samples at {atoms.sample_rate} Hz")
        print(f"SNR vs {cfg['input_path']}: {snr_db(x, y):.2f} dB")
    return 0


def register(sub) -> None:
    """Add fit and eval to the `audio-gs` subparsers."""
    p = sub.add_parser("fit", help="fit Gaussians to one audio file (WAV, FLAC, OGG, MP3, M4A)")
    p.add_argument(*dashed("input_path"), dest="input_path", help="audio file to fit")
    p.add_argument(*dashed("log_dir"), dest="log_dir", help="output folder (default logs/<file stem>)")
    add_fit_arguments(p)
    p.add_argument("--resume", action="store_true",
                   help="continue a stopped fit from the latest checkpoint in --log_dir: its atoms and step (the "
                        "learning-rate schedule and add steps continue from there; the Adam optimiser state is not "
                        "saved and restarts, so the result can differ slightly from an uninterrupted fit unless the "
                        "checkpoint fell on a least-squares or add step). Refused when the input audio, sample_rate, "
                        "offset, duration, channels, stereo_mode, normalize, headroom_db or num_gaussians differ; "
                        "num_steps may grow")
    p.add_argument("--eval", action="store_true", help="reconstruct from --ckpt_file instead of fitting")
    p.add_argument(*dashed("ckpt_file"), dest="ckpt_file", help="checkpoint for --eval")
    p.set_defaults(func=cmd_fit)
    e = sub.add_parser("eval", help="reconstruct audio from a checkpoint")
    e.add_argument(*dashed("ckpt_file"), dest="ckpt_file", required=True)
    e.add_argument(*dashed("input_path"), dest="input_path", help="original, for the SNR (default: from the checkpoint)")
    e.add_argument(*dashed("log_dir"), dest="log_dir", help="output folder (default: the checkpoint's folder)")
    e.set_defaults(func=cmd_eval)
