"""The codec composed: Model -> quantized symbols -> .ags bytes, and back, and files on disk.

encode = quantize (audio_gs.codec.quantize) + pack (audio_gs.codec.bitstream);
decode = unpack + dequantize, after checking that the file's claims fit the decoder's budget
(audio_gs.codec.budget); decode_to_file renders block by block into a WAV/FLAC/OGG file or a pipe.
Nothing here imports torch, the fitter or the command line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audio_gs.codec import bitstream, budget, stream
from audio_gs.codec.model import Model, Noise
from audio_gs.codec.quantize import (AmplitudeSolver, NoiseSteps, dequantize, dequantize_envelope, dequantize_noise,
                                     quantize, quantize_envelope, quantize_noise)
from audio_gs.codec.render import render_work
from audio_gs.errors import AgsFormatError, AudioGSError

OUT_OF_MEMORY = "not enough memory to decode this file"


def encode(model: Model, *, bits_per_param: int = 8, bit_allocation: dict | None = None,
           resolve_amplitudes: AmplitudeSolver | None = None, noise_steps: NoiseSteps | None = None,
           envelope_step_db: float = 3.0, method: int | None = None) -> bytes:
    """.ags bytes of a Model (see quantize for resolve_amplitudes; method None keeps the smallest payload;
    the noise envelope, if any, quantized in steps of envelope_step_db).
    AudioGSError when the file would be beyond the decoder's budget (the decoder would refuse it)."""
    q = quantize(model.gabor, sample_rate=model.sample_rate, n_channels=model.n_channels,
                 stereo_mode=model.stereo_mode, bits_per_param=bits_per_param, bit_allocation=bit_allocation,
                 resolve_amplitudes=resolve_amplitudes)
    qn = None
    if len(model.noise):
        qn = quantize_noise(model.noise, n_channels=model.n_channels, steps=noise_steps or NoiseSteps())
    qe = None
    if model.noise_env is not None:
        qe = quantize_envelope(model.noise_env, sample_rate=model.sample_rate, n_samples=model.n_samples,
                               step_db=envelope_step_db)
    return pack_checked(q, model.n_samples, method=method, noise=qn, noise_seed=model.noise_seed, envelope=qe,
                        noise_exact=model.noise_exact, noise_gate=model.noise_gate)


def pack_checked(q, n_samples: int, *, method: int | None = None, noise=None, noise_seed: int = 0,
                 envelope=None, noise_exact: bool = True, noise_gate: bool = True) -> bytes:
    """bitstream.pack, refusing (AudioGSError) a file the decoder's budget would refuse."""
    data = bitstream.pack(q, n_samples, method, noise=noise, noise_seed=noise_seed, envelope=envelope,
                          noise_exact=noise_exact, noise_gate=noise_gate)
    n_gauss = len(q) + (len(noise) if noise is not None else 0)
    try:
        if n_gauss <= budget.max_atoms(max(len(data) - bitstream.MAX_HEADER_BYTES, 0)):  # the payload is larger
            budget.check_header(file_bytes=len(data), payload_bytes=len(data), n_samples=n_samples,
                                sample_rate=q.sample_rate, n_atoms=n_gauss)
        else:
            bitstream.unpack(data)  # near the atom bound: the decoder's own verdict
        _check_work(len(data), dequantize(q), dequantize_noise(noise) if noise is not None else None, q.sample_rate,
                    n_samples, q.n_channels)
    except AgsFormatError as exc:
        raise AudioGSError(f"cannot write .ags: {exc}") from None
    return data


def _check_work(file_bytes: int, g, noise, sample_rate: int, n_samples: int, n_channels: int) -> None:
    work = render_work(g.log_sigma, sample_rate, n_samples) if len(g) else 0.0
    if noise is not None and len(noise):
        from audio_gs.codec.noise import noise_work

        work += noise_work(noise, sample_rate, n_samples, n_channels)
    if work:
        budget.check_work(file_bytes=file_bytes, work=work)


def decode(data: bytes) -> Model:
    """Model from .ags bytes; AgsFormatError on anything invalid, beyond the decoder's budget, or too
    large for the memory available."""
    try:
        q, n_samples, info = bitstream.unpack(data)
        try:
            g = dequantize(q)
            noise = dequantize_noise(info["noise"]) if info["noise"] is not None else Noise.empty(np.float32)
            env = dequantize_envelope(info["envelope"]) if info["envelope"] is not None else None
        except ValueError as exc:
            raise AgsFormatError(f"corrupt payload ({exc})") from None
        _check_work(len(data), g, noise, q.sample_rate, n_samples, q.n_channels)
    except MemoryError:
        raise AgsFormatError(OUT_OF_MEMORY) from None
    return Model(sample_rate=q.sample_rate, n_samples=n_samples, gabor=g, n_channels=q.n_channels,
                 stereo_mode=q.stereo_mode, noise=noise, noise_seed=int(info["noise_seed"]), noise_env=env,
                 noise_exact=bool(info["noise_exact"]), noise_gate=bool(info["noise_gate"]))


def write_ags(path: str | Path, model: Model, **options) -> int:
    """Encode model (options as for encode) and write it to path atomically; returns the byte size."""
    from audio_gs.audio_io import atomic_write

    data = encode(model, **options)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return len(data)


def read_bytes(path: str | Path) -> bytes:
    """The bytes of an .ags file, refusing what is not a readable file of plausible size."""
    path = Path(path)
    if not path.exists():
        raise AgsFormatError(f"{path}: no such file")
    if not path.is_file():
        raise AgsFormatError(f"{path}: not a file")
    try:
        size = path.stat().st_size
        if size > bitstream.MAX_FILE_BYTES:
            raise AgsFormatError(f"{path}: {size} bytes is larger than any .ags file this decoder reads")
        return path.read_bytes()
    except OSError as exc:
        raise AgsFormatError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None


def _named(path, exc: AgsFormatError) -> AgsFormatError:
    msg = str(exc)
    return AgsFormatError(msg if msg.startswith(str(path)) else f"{path}: {msg}")


def _decode_named(path, data: bytes) -> Model:
    try:
        return decode(data)
    except AgsFormatError as exc:
        raise _named(path, exc) from None


def read_stream(data: bytes) -> stream.StreamFile:
    """A streamed (version 3) .ags file's blocks, each body decoded (audio_gs.codec.stream)."""
    return stream.parse(data, decode)


def _read_stream(path, data: bytes) -> stream.StreamFile:
    try:
        return read_stream(data)
    except AgsFormatError as exc:
        raise _named(path, exc) from None
    except MemoryError:
        raise AgsFormatError(f"{path}: {OUT_OF_MEMORY}") from None


def read_ags(path: str | Path) -> Model:
    """Model of an .ags file; AgsFormatError (one line, with the path) on a bad file. A streamed
    (version 3) file has no single Model: read it with decode_file, decode_to_file or codec.stream."""
    data = read_bytes(path)
    if stream.is_stream(data):
        raise AgsFormatError(f"{path}: a streamed .ags file (version 3): decode it with decode_file or decode_to_file")
    return _decode_named(path, data)


def decode_file(path: str | Path, *, threads: int | None = None) -> tuple[np.ndarray, int]:
    """(waveform float64 [channels, samples], sample rate) of an .ags file (the whole signal in memory;
    decode_to_file streams)."""
    from audio_gs.codec.render import render

    data = read_bytes(path)
    if stream.is_stream(data):
        sf = _read_stream(path, data)
        try:
            return stream.render_stream(sf, threads=threads), sf.sample_rate
        except AgsFormatError as exc:
            raise _named(path, exc) from None
    model = _decode_named(path, data)
    try:
        return render(model, threads=threads), model.sample_rate
    except MemoryError:
        raise AgsFormatError(f"{path}: {OUT_OF_MEMORY}") from None


def decode_to_file(path: str | Path, out: str | Path, *, threads: int | None = None) -> dict:
    """Decode an .ags file into out (.wav, .flac, .ogg, or '-' for WAV on standard output), rendering and
    writing block by block (memory bounded by the atom count, not the length). Returns model (the
    decoded Model, or the codec.stream.StreamFile of a streamed file), partial (a streamed file cut
    short: decoded up to its last complete block), clipped (samples clipped to [-1, 1], all channels) and samples (n_samples x channels)."""
    from audio_gs.codec.output import output_format, write_blocks
    from audio_gs.codec.render import iter_blocks

    output_format(out)  # refuse an unknown format before decoding
    data = read_bytes(path)
    if stream.is_stream(data):
        model = _read_stream(path, data)
        chunks = stream.iter_stream(model, threads=threads)
    else:
        model = _decode_named(path, data)
        chunks = (y for _, y in iter_blocks(model, threads=threads))
    try:
        clipped = write_blocks(out, chunks, sample_rate=model.sample_rate, n_channels=model.n_channels,
                               n_frames=model.n_samples)
    except MemoryError:
        raise AgsFormatError(f"{path}: {OUT_OF_MEMORY}") from None
    except AgsFormatError as exc:
        raise AgsFormatError(f"{path}: {exc}") from None
    return {"model": model, "clipped": clipped, "samples": model.n_samples * model.n_channels,
            "partial": isinstance(model, stream.StreamFile) and not model.complete}
