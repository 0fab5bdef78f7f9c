"""audio_gs.codec.compress: the codec composed (encode/decode, files), and a decode path without torch."""

import subprocess
import sys

import numpy as np
import pytest
from synth import random_gabor

from audio_gs.codec import bitstream as bs
from audio_gs.codec.compress import decode, decode_file, decode_to_file, encode, read_ags, write_ags
from audio_gs.codec.model import GABOR_FIELDS, Model
from audio_gs.codec.quantize import dequantize, quantize
from audio_gs.errors import AgsFormatError


def _model(seed=0, n_channels=2, sr=48000, mode="lr"):
    g = random_gabor(120, sr=sr, seconds=0.3, n_channels=n_channels, seed=seed)
    return Model(sample_rate=sr, n_samples=int(0.3 * sr), gabor=g, n_channels=n_channels, stereo_mode=mode)


def test_write_and_read_a_file(tmp_path):
    m = _model()
    path = tmp_path / "x.ags"
    size = write_ags(path, m, bits_per_param=6, bit_allocation={"amp": 8})
    assert size == path.stat().st_size
    got = read_ags(path)
    q = quantize(m.gabor, sample_rate=m.sample_rate, n_channels=2, bits_per_param=6, bit_allocation={"amp": 8})
    expect = dequantize(q)
    assert got.n_samples == m.n_samples
    assert all(np.array_equal(getattr(got.gabor, n), getattr(expect, n)) for n in GABOR_FIELDS + ("channel",))
    q2, _, _ = bs.unpack(path.read_bytes())
    assert q2.bits == q.bits and q2.ranges == q.ranges


def test_encoding_twice_gives_the_same_bytes_and_decoding_the_same_samples(tmp_path):
    m = _model(seed=3, mode="ms")
    assert encode(m) == encode(m)
    path = tmp_path / "x.ags"
    write_ags(path, m)
    y1, sr = decode_file(path)
    y2, _ = decode_file(path)
    assert sr == 48000 and y1.shape == (2, m.n_samples) and np.array_equal(y1, y2)


def test_the_amplitude_solver_is_called_on_the_quantized_atoms():
    m = _model(seed=4, n_channels=1)
    seen = {}

    def solver(moved):
        seen["k"] = len(moved)
        return np.zeros(len(moved)), np.zeros(len(moved))

    got = decode(encode(m, resolve_amplitudes=solver))
    assert seen["k"] == len(m.gabor) and not np.any(got.gabor.amp_cos) and not np.any(got.gabor.amp_sin)


def test_a_missing_file_is_named():
    with pytest.raises(AgsFormatError, match="no such file"):
        read_ags("/nonexistent/x.ags")


def _modules_after(fn: str, args: str) -> set[str]:
    """Modules loaded by a fresh interpreter that calls audio_gs.codec.compress.<fn>(<args>)."""
    code = f"import sys; from audio_gs.codec.compress import {fn}; {fn}({args}); print(' '.join(sys.modules))"
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())


def test_decoding_imports_neither_torch_nor_the_fitter(tmp_path):
    path = tmp_path / "x.ags"
    write_ags(path, _model(seed=5))
    mods = _modules_after("decode_file", repr(str(path)))
    assert "audio_gs.codec.compress" in mods
    assert "torch" not in mods
    assert not {m for m in mods if m.startswith(("audio_gs.encoder", "audio_gs.bench", "audio_gs.cli"))}


def test_decode_to_file_streams_the_rendered_samples(tmp_path):
    import soundfile as sf

    from audio_gs.codec.render import BLOCK_SIZE

    m = Model(sample_rate=8000, n_samples=2 * BLOCK_SIZE + 100,
              gabor=random_gabor(300, sr=8000, seconds=8.3, n_channels=2, seed=6), n_channels=2, stereo_mode="ms")
    path = tmp_path / "x.ags"
    write_ags(path, m)
    res = decode_to_file(path, tmp_path / "x.flac", threads=2)
    y, sr = decode_file(path, threads=1)
    z, sr2 = sf.read(tmp_path / "x.flac", always_2d=True)
    assert sr == sr2 == 8000 and z.shape == (m.n_samples, 2)
    assert np.abs(z - np.clip(y, -1, 1).T).max() <= 1 / 32768 + 1e-9
    assert res["clipped"] == int(np.count_nonzero(np.abs(y) > 1)) and res["samples"] == 2 * m.n_samples


def test_running_out_of_memory_is_a_one_line_format_error(tmp_path, monkeypatch):
    from audio_gs.codec import render

    path = tmp_path / "x.ags"
    write_ags(path, _model(seed=7))

    def no_memory(*a, **k):
        raise MemoryError

    monkeypatch.setattr(bs, "unpack", no_memory)
    with pytest.raises(AgsFormatError, match="not enough memory"):
        read_ags(path)
    monkeypatch.undo()
    monkeypatch.setattr(render.GaborPlan, "__init__", no_memory)
    for call in (lambda: decode_file(path), lambda: decode_to_file(path, tmp_path / "o.wav")):
        with pytest.raises(AgsFormatError, match="not enough memory") as exc:
            call()
        assert "\n" not in str(exc.value)
    assert not (tmp_path / "o.wav").exists()


def test_decoding_imports_neither_numba_nor_scipy(tmp_path):
    path = tmp_path / "x.ags"
    write_ags(path, _model(seed=8))
    mods = _modules_after("decode_to_file", f"{str(path)!r}, {str(tmp_path / 'x.wav')!r}")
    assert "audio_gs.codec.render" in mods
    assert not {m for m in mods if m.split(".")[0] in ("numba", "scipy")}
