"""Codec subcommands of `audio-gs`: encode (fit + quantize + write), quantize (checkpoint -> .ags),
decode (.ags -> audio) and info. Errors are AudioGSError (one line, exit 2).

decode and info import only the codec (audio_gs.codec) and audio I/O: no torch, no fitter. decode
renders and writes block by block; `-o -` writes a WAV stream to standard output.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audio_gs.cli.common import BITS_HELP, add_fit_arguments, compression_summary, config_from_args, report_input
from audio_gs.errors import AudioGSError



def _encode_and_report(atoms, target_out, target_model, n_samples, cfg, out_path, qat_steps):
    """QAT (when qat_steps > 0 and a target is known), write out_path, print sizes and SNRs. With the
    original known, the file is made as `encode` makes it (amplitudes re-solved, noise Gaussians
    and rate control as cfg says); without it, the atoms alone are quantized."""
    from audio_gs.audio_io import atomic_write
    from audio_gs.encoder.coding import write_ags
    from audio_gs.encoder.encode import encode_fitted
    from audio_gs.encoder.losses import snr_db
    from audio_gs.encoder.qat import qat_finetune
    from audio_gs.encoder.render import render

    if target_model is None:
        n_bytes = write_ags(out_path, atoms, n_samples, bits_per_param=cfg["bits_per_param"],
                            bit_allocation=cfg["bit_allocation"])
        print(f"wrote {out_path}: {len(atoms)} Gaussians, {n_bytes:,} bytes "
              f"({8 * n_bytes / max(len(atoms), 1):.1f} bits per Gaussian)")
        return n_bytes
    coded = qat_finetune(atoms, target_model, n_samples, cfg, qat_steps) if qat_steps else atoms
    enc = encode_fitted(coded, target_model, n_samples, cfg)
    atomic_write(out_path, lambda tmp: Path(tmp).write_bytes(enc.data))
    report_encoded(enc, target_out, out_path)
    print(f"SNR before quantization {snr_db(target_out, render(atoms, n_samples)):.2f} dB "
          f"({'with' if qat_steps else 'without'} quantization-aware fine-tuning)")
    return len(enc.data)


def report_encoded(enc, x, out_path) -> None:
    """Print what an encode wrote: size, Gaussians of each kind, SNR of the decoded file, the summary."""
    from audio_gs.codec.render import render
    from audio_gs.encoder.losses import snr_db

    m = enc.model
    n_bytes = len(enc.data)
    print(f"wrote {out_path}: {len(m.gabor)} tonal + {len(m.noise)} noise Gaussians, {n_bytes:,} bytes "
          f"({8 * n_bytes / m.duration / 1000:.2f} kbps"
          + (f", target {enc.info['target_kbps']:g}" if "target_kbps" in enc.info else "") + ")")
    print(compression_summary(m.n_samples, x.shape[0], m.sample_rate, n_bytes, snr_db(x, render(m))))


def _encode_streamed(args: argparse.Namespace, cfg: dict) -> int:
    """encode with the streamable layout: from a WAV stream on standard input (input '-') or from a file
    (--stream); blocks are written as windows finish, to <output>.part (renamed at the end) or to
    standard output (-o -)."""
    import os
    import sys

    from audio_gs.encoder import stream

    to_stdout = args.output == "-"
    if args.input == "-":
        if args.output is None:
            raise AudioGSError("encoding standard input needs -o FILE.ags (or -o - for standard output)")
        bad = [f"--{k}" for k in ("offset", "duration") if cfg.get(k)] + (
            ["--normalize"] if cfg.get("normalize") else [])
        if bad:
            raise AudioGSError(f"{', '.join(bad)}: not applied to a stream (cut or scale before the pipe)")
        sr, channels, blocks = stream.read_wav_stream(sys.stdin.buffer)
        if cfg.get("sample_rate") and int(cfg["sample_rate"]) != sr:
            raise AudioGSError(f"standard input is {sr} Hz but the config asks for {cfg['sample_rate']} Hz "
                               "(resample before the pipe)")
        if cfg["channels"] == "mono" and channels == 2:
            blocks, channels = (b.mean(axis=0, keepdims=True) for b in blocks), 1
        elif cfg["channels"] == "stereo" and channels == 1:
            raise AudioGSError("standard input is mono; --channels stereo needs a stereo stream")
    else:
        from audio_gs.encoder.inputs import load_input

        inp = load_input(cfg)
        report_input(inp, cfg)
        sr, channels, blocks = inp.sample_rate, inp.x.shape[0], stream.iter_file_blocks(inp.x)
    log = sys.stderr if to_stdout else sys.stdout
    print(f"streaming: windows of {stream.window_samples(cfg, sr) / sr:g} s, latency "
          f"{stream.latency_seconds(cfg, sr):.2f} s", file=log)

    def said(i, lo, hi, info):
        print(f"window {i}: {lo / sr:.2f}-{hi / sr:.2f} s, {info['atoms_kept']} tonal + {info['noise_gaussians']} noise "
              "Gaussians", file=log, flush=True)

    if to_stdout:
        def write(b):
            sys.stdout.buffer.write(b)
            sys.stdout.buffer.flush()

        res = stream.encode_stream(blocks, sr, channels, cfg, write, on_window=said)
        print(f"wrote standard output: {res['bytes']:,} bytes, {res['kbps']:.2f} kbps", file=log)
        return 0
    out = Path(args.output or Path(args.input).with_suffix(".ags"))
    part = out.with_name(out.name + ".part")
    try:
        with open(part, "wb") as f:
            def write(b):
                f.write(b)
                f.flush()

            res = stream.encode_stream(blocks, sr, channels, cfg, write, on_window=said)
        os.replace(part, out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    print(f"wrote {out}: {res['windows']} windows, {res['bytes']:,} bytes, {res['kbps']:.2f} kbps "
          f"({res['samples'] / sr:.2f} s)")
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    from audio_gs.audio_io import atomic_write
    from audio_gs.encoder.inputs import load_input

    cfg = config_from_args(args)
    cfg["input_path"] = str(args.input)
    if args.input == "-" or args.stream:
        return _encode_streamed(args, cfg)
    if args.output == "-":
        raise AudioGSError("-o - (standard output) needs the streamed layout: add --stream")
    inp = load_input(cfg)  # every input error is raised here, before any fitting (and before torch loads)
    x, sr = inp.x, inp.sample_rate
    report_input(inp, cfg)
    from audio_gs.encoder.encode import encode_signal

    out = Path(args.output or Path(args.input).with_suffix(".ags"))
    enc, result = encode_signal(x, sr, cfg, progress=args.progress)
    print(f"fitted {len(result.atoms)} Gaussians in {result.fit_seconds:.1f} s (SNR {result.snr_db:.2f} dB)")
    atomic_write(out, lambda tmp: Path(tmp).write_bytes(enc.data))
    report_encoded(enc, x, out)
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    from audio_gs.encoder.checkpoint import load_checkpoint
    from audio_gs.encoder.config import load_config_file, resolve_config, validate

    atoms, n_samples, payload = load_checkpoint(args.ckpt)
    try:
        cfg = resolve_config(None, dict(payload.get("config", {})))  # checkpoint < --config < flags
    except AudioGSError as exc:
        raise AudioGSError(f"checkpoint {args.ckpt}: invalid config: {exc}") from None
    if args.config:
        cfg.update(load_config_file(args.config))
    cfg.update({k: v for k, v in (("bits_per_param", args.bits_per_param), ("input_path", args.input_path))
                if v is not None})
    cfg = validate(cfg)
    target_out = target_model = None
    if args.input_path or args.qat_steps:
        import torch

        from audio_gs.codec.render import to_model_channels
        from audio_gs.encoder.fit import load_target

        if not cfg.get("input_path"):
            raise AudioGSError("--qat_steps needs the original audio (--input_path)")
        target_out, sr = load_target(cfg)
        if target_out.shape[1] < n_samples:
            raise AudioGSError(f"{cfg['input_path']}: shorter than the checkpoint's {n_samples} samples")
        if (sr, target_out.shape[0]) != (atoms.sample_rate, atoms.n_channels):
            raise AudioGSError(f"{cfg['input_path']}: {target_out.shape[0]} ch at {sr} Hz, but the checkpoint holds "
                               f"{atoms.n_channels} ch at {atoms.sample_rate} Hz")
        target_out = target_out[:, :n_samples]
        target_model = to_model_channels(torch.from_numpy(target_out), atoms.stereo_mode).contiguous()
    out = Path(args.output or Path(args.ckpt).with_suffix(".ags"))
    _encode_and_report(atoms, target_out, target_model, n_samples, cfg, out, args.qat_steps or 0)
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    import sys

    from audio_gs.codec.compress import decode_to_file

    to_stdout = args.output == "-"
    out = "-" if to_stdout else Path(args.output or Path(args.input).with_suffix(".wav"))
    res = decode_to_file(args.input, out)
    model = res["model"]
    print(f"decoded {len(model)} Gaussians, {model.duration:.2f} s at {model.sample_rate} Hz -> "
          f"{'standard output (WAV)' if to_stdout else out}", file=sys.stderr if to_stdout else sys.stdout)
    if res.get("partial"):
        print("audio-gs: warning: the streamed file ends inside a block (still being written, or cut short): "
              f"decoded its complete blocks, {model.duration:.2f} s", file=sys.stderr)
    if res["clipped"]:
        print(f"audio-gs: warning: {100 * res['clipped'] / res['samples']:.3g} % of samples clipped to [-1, 1]",
              file=sys.stderr)
    return 0


def _info_stream(path, data: bytes) -> int:
    """info of a streamed (version 3) file: its blocks and totals."""
    from audio_gs.codec import stream
    from audio_gs.codec.compress import read_stream
    from audio_gs.errors import AgsFormatError

    try:
        sf = read_stream(data)
    except AgsFormatError as exc:
        raise AgsFormatError(f"{path}: {exc}") from None
    seconds = max(sf.duration, 1e-9)
    tonal = sum(len(m.gabor) for _, _, m in sf.blocks)
    noise = sum(len(m.noise) for _, _, m in sf.blocks)
    lines = [f"{path}: streamed .ags (version 3), {len(data):,} bytes, "
             f"{'complete' if sf.complete else 'cut short: decodes its complete blocks'}",
             f"  audio: {sf.n_channels} channel(s), {sf.sample_rate} Hz, {sf.n_samples} samples ({sf.duration:.3f} s)",
             f"  blocks: {len(sf.blocks)}; Gaussians: {tonal + noise} ({tonal} tonal, {noise} noise)",
             f"  bitrate: {8 * len(data) / seconds / 1000:.3f} kbps (stream and block headers "
             f"{stream.HEADER_BYTES + stream.BLOCK_HEADER_BYTES * (len(sf.blocks) + sf.complete)} bytes)"]
    for start, done, m in sf.blocks:
        lines.append(f"    block at {start / sf.sample_rate:8.3f} s, final to {done / sf.sample_rate:8.3f} s: "
                     f"{len(m.gabor)} tonal + {len(m.noise)} noise")
    print("\n".join(lines))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from audio_gs.codec import bitstream, budget, stream
    from audio_gs.codec.compress import OUT_OF_MEMORY, read_bytes
    from audio_gs.codec.quantize import ENV_STREAM, STREAM_KIND, dequantize
    from audio_gs.codec.render import render_work

    data = read_bytes(args.input)
    if stream.is_stream(data):
        return _info_stream(args.input, data)
    try:
        q, n_samples, info = bitstream.unpack(data)  # header, budget, symbols; nothing is rendered
    except AudioGSError as exc:
        raise type(exc)(f"{args.input}: {exc}") from None
    except MemoryError:
        raise AudioGSError(f"{args.input}: {OUT_OF_MEMORY}") from None
    k = len(q)
    noise = info["noise"]
    kn = len(noise) if noise is not None else 0
    seconds = n_samples / q.sample_rate
    try:
        work = render_work(dequantize(q).log_sigma, q.sample_rate, n_samples) if k else 0.0
        if kn:
            from audio_gs.codec.noise import noise_work
            from audio_gs.codec.quantize import dequantize_noise

            work += noise_work(dequantize_noise(noise), q.sample_rate, n_samples, q.n_channels)
    except ValueError as exc:
        raise AudioGSError(f"{args.input}: corrupt payload ({exc})") from None
    allowed = budget.max_work(len(data))
    env = info.get("envelope")
    symbols = {**q.symbols, **(noise.symbols if kn else {}), **({ENV_STREAM: env.symbols} if env is not None else {})}
    kinds: dict[str, float] = {}
    for s, code in info["codes"].items():  # the file's own stream codes: one pass over each stream
        v = symbols[s]
        kind = STREAM_KIND.get(s, s)
        kinds[kind] = kinds.get(kind, 0.0) + (code.cost(v) if v.size else 0.0)
    env_bits = kinds.pop(ENV_STREAM, 0.0)
    tonal_bits = sum(b for kind, b in kinds.items() if not kind.startswith("noise_"))
    noise_bits = sum(b for kind, b in kinds.items() if kind.startswith("noise_"))
    rendering = ("energy-exact, gated by the tonal part" if info["noise_gate"] else "energy-exact") \
        if info["noise_exact"] else "as drawn"
    seed = f", noise seed {info['noise_seed']}, {rendering}" if kn else ""
    lines = [
        f"{args.input}: .ags version {info['version']}, {len(data):,} bytes",
        f"  audio: {q.n_channels} channel(s){' (mid/side)' if q.stereo_mode == 'ms' else ''}, "
        f"{q.sample_rate} Hz, {n_samples} samples ({seconds:.3f} s)",
        f"  Gaussians: {k + kn} ({k} tonal, {kn} noise{seed})",
        f"  bitrate: {8 * len(data) / max(seconds, 1e-9) / 1000:.3f} kbps "
        f"(tonal {tonal_bits / 1000 / max(seconds, 1e-9):.3f}, noise {noise_bits / 1000 / max(seconds, 1e-9):.3f}, "
        f"{f'noise envelope {env_bits / 1000 / max(seconds, 1e-9):.3f}, ' if env is not None else ''}"
        f"header {8 * info['header_bytes'] / 1000 / max(seconds, 1e-9):.3f})",
        f"  bits per tonal Gaussian: {tonal_bits / max(k, 1):.2f}; per noise Gaussian: {noise_bits / max(kn, 1):.2f} "
        f"(model code length); fixed-length symbols: {sum(bitstream.raw_bits(q).values())} per tonal Gaussian",
        "  quantizer bits: " + ", ".join(f"{kind} {b}" for kind, b in q.bits.items()),
        f"  payload: {info['payload_bytes']:,} bytes, {info['method']}; header and CRC: {info['header_bytes']} bytes",
        f"  render work: {work:.3g} sample evaluations (decoder budget {allowed:.3g}"
        f"{'; decode refuses this file' if work > allowed else ''})",
        "  bits per Gaussian by parameter kind (model code length):",
    ]
    for kind, bits in kinds.items():
        lines.append(f"    {kind:<14} {bits / max(kn if kind.startswith('noise_') else k, 1):7.2f}")
    if env is not None:
        points = len(env.symbols)
        lines.append(f"  noise envelope: a gain every {env.hop} samples ({1000 * env.hop / q.sample_rate:.2f} ms) on the "
                     f"noise above {env.band_hz} Hz, step {env.step_db:g} dB, {points} points, "
                     f"{env_bits / max(points, 1):.2f} bits per point")
    print("\n".join(lines))
    return 0


def register(sub) -> None:
    """Add encode, quantize, decode and info to the `audio-gs` subparsers."""
    e = sub.add_parser("encode", help="fit Gaussians to an audio file and write a quantized .ags file")
    e.add_argument("input", help="audio file to encode, or - for a WAV stream on standard input (streamed layout)")
    e.add_argument("-o", "--output", help="output .ags file (default: input with .ags), or - for standard output "
                                          "(streamed layout only)")
    e.add_argument("--stream", action="store_true",
                   help="write the streamable layout (format version 3): one block per window, written as the "
                        "window finishes (to OUTPUT.part, renamed when done); needs --kbps")
    add_fit_arguments(e)
    e.set_defaults(func=cmd_encode)

    q = sub.add_parser("quantize", help="quantize a fitted checkpoint (.pth) into an .ags file")
    q.add_argument("ckpt", help="checkpoint written by audio-gs fit")
    q.add_argument("-o", "--output", help="output .ags file (default: checkpoint with .ags)")
    q.add_argument("--bits_per_param", "--bits-per-param", dest="bits_per_param", type=int, default=None,
                   help=BITS_HELP + "; default: the checkpoint's config")
    q.add_argument("--config", help="YAML config (for bit_allocation and fine-tuning settings)")
    q.add_argument("--input_path", "--input-path", dest="input_path",
                   help="original audio: re-solves amplitudes on it and reports SNR")
    q.add_argument("--qat_steps", "--qat-steps", dest="qat_steps", type=int, default=None,
                   help="quantization-aware fine-tuning steps on --input_path (default 0)")
    q.set_defaults(func=cmd_quantize)

    d = sub.add_parser("decode", help="render an .ags file to audio")
    d.add_argument("input", help=".ags file")
    d.add_argument("-o", "--output", help="output audio file: .wav, .flac or .ogg, or - for WAV on standard output "
                                          "(default: input with .wav)")
    d.set_defaults(func=cmd_decode)

    i = sub.add_parser("info", help="describe an .ags file: atoms, bitrate, bits per atom by parameter kind")
    i.add_argument("input", help=".ags file")
    i.set_defaults(func=cmd_info)
