"""The codec composed: Model -> quantized symbols -> .ags bytes, and back, and files on disk.

encode = quantize (audio_gs.codec.quantize) + pack (audio_gs.codec.bitstream);
decode = unpack + dequantize, after checking that the file's claims fit the decoder's budget.
Nothing here imports torch, the fitter or the command line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audio_gs.codec import bitstream
from audio_gs.codec.model import Model, Noise
from audio_gs.codec.quantize import (AmplitudeSolver, NoiseSteps, dequantize, dequantize_noise, quantize,
                                     quantize_noise)
from audio_gs.codec.render import render_work
from audio_gs.errors import AgsFormatError


def encode(model: Model, *, bits_per_param: int = 8, bit_allocation: dict | None = None,
           resolve_amplitudes: AmplitudeSolver | None = None, noise_steps: NoiseSteps | None = None,
           method: int | None = None) -> bytes:
    """.ags bytes of a Model (see quantize for resolve_amplitudes; method None keeps the smallest payload)."""
    q = quantize(model.gabor, sample_rate=model.sample_rate, n_channels=model.n_channels,
                 stereo_mode=model.stereo_mode, bits_per_param=bits_per_param, bit_allocation=bit_allocation,
                 resolve_amplitudes=resolve_amplitudes)
    qn = None
    if len(model.noise):
        qn = quantize_noise(model.noise, n_channels=model.n_channels, steps=noise_steps or NoiseSteps())
    return bitstream.pack(q, model.n_samples, method, noise=qn, noise_seed=model.noise_seed)


def decode(data: bytes) -> Model:
    """Model from .ags bytes; AgsFormatError on anything invalid or beyond the decoder's budget."""
    q, n_samples, info = bitstream.unpack(data)
    try:
        g = dequantize(q)
        noise = dequantize_noise(info["noise"]) if info["noise"] is not None else Noise.empty(np.float32)
    except ValueError as exc:
        raise AgsFormatError(f"corrupt payload ({exc})") from None
    if len(g) and render_work(g.log_sigma, q.sample_rate, n_samples) > bitstream.MAX_RENDER_WORK:
        raise AgsFormatError("corrupt file: atoms too long to render")
    return Model(sample_rate=q.sample_rate, n_samples=n_samples, gabor=g, n_channels=q.n_channels,
                 stereo_mode=q.stereo_mode, noise=noise, noise_seed=int(info["noise_seed"]))


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


def read_ags(path: str | Path) -> Model:
    """Model of an .ags file; AgsFormatError (one line, with the path) on a bad file."""
    try:
        return decode(read_bytes(path))
    except AgsFormatError as exc:
        msg = str(exc)
        raise AgsFormatError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None


def decode_file(path: str | Path) -> tuple[np.ndarray, int]:
    """(waveform float64 [channels, samples], sample rate) of an .ags file."""
    from audio_gs.codec.render import render

    model = read_ags(path)
    return render(model), model.sample_rate
