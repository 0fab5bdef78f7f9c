"""audio_gs.codec.budget: crafted .ags files (valid CRCs) that claim far more than their size can hold
are refused before allocating, quickly, in one line, with exit code 2, under a small memory limit;
honest files pass and the encoder never writes a file the decoder would refuse."""

import math
import os
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from synth import random_gabor

from audio_gs.codec import bitstream as bs
from audio_gs.codec import budget
from audio_gs.codec.compress import decode, encode
from audio_gs.codec.model import Gabor, Model
from audio_gs.codec.quantize import quantize
from audio_gs.errors import AgsFormatError, AudioGSError

LENGTH_AT = 12  # magic 4, version, flags, channels, method, sample rate 4


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    v, shift = 0, 0
    while True:
        b = data[pos]
        v |= (b & 0x7F) << shift
        pos += 1
        shift += 7
        if not b & 0x80:
            return v, pos


def patch_header(data: bytes, *, n_samples: int | None = None, n_atoms: int | None = None) -> bytes:
    """The file with its length and/or atom count replaced, and a recomputed (valid) CRC32."""
    old_n, pos_k = _read_uvarint(data, LENGTH_AT)
    old_k, rest = _read_uvarint(data, pos_k)
    head = data[:LENGTH_AT] + bs._uvarint(old_n if n_samples is None else n_samples)
    head += bs._uvarint(old_k if n_atoms is None else n_atoms)
    return _with_crc(head + data[rest:-4])


def _pack(g: Gabor, sr: int, n_samples: int, n_channels: int = 1) -> bytes:
    q = quantize(g, sample_rate=sr, n_channels=n_channels, bits_per_param=8)
    return bs.pack(q, n_samples, bs.METHOD_RANGE)


def _identical(k: int, sigma: float, t: float = 0.5) -> Gabor:
    return Gabor(time=np.full(k, t), freq=np.full(k, 1000.0), log_sigma=np.full(k, math.log(sigma)),
                 chirp=np.zeros(k), amp_cos=np.full(k, 0.1), amp_sin=np.full(k, 0.1), channel=np.zeros(k, np.int64))


def hour_at_768k_stereo() -> bytes:
    """A 67-byte file (no atoms) claiming one hour of 768 kHz stereo: 41 GiB as one float64 buffer."""
    return _pack(Gabor.empty(), 768_000, 3600 * 768_000, n_channels=2)


def million_identical_atoms() -> bytes:
    """A 70-byte file claiming 2^22 identical atoms: every stream has one symbol, so the payload is empty
    whatever the count (the old decoder spent 28 s and 1.9 GB on it, `info` 20 s)."""
    return patch_header(_pack(_identical(3, 0.01), 16000, 32000), n_atoms=1 << 22)


def widest_atoms() -> bytes:
    """A few hundred bytes of atoms as wide as the format allows (sigma 2 s) at 768 kHz over 60 s: each
    asks for 15 million sample evaluations (the old decoder's kernel buffer for it was 63.5 GiB)."""
    rng = np.random.default_rng(0)
    k = 100
    g = Gabor(time=rng.random(k) * 60, freq=rng.random(k) * 300_000, log_sigma=np.full(k, math.log(2.0)),
              chirp=np.zeros(k), amp_cos=rng.random(k) * 0.01, amp_sin=rng.random(k) * 0.01,
              channel=np.zeros(k, np.int64))
    return _pack(g, 768_000, 60 * 768_000)


BOMBS = {"hour at 768 kHz stereo": (hour_at_768k_stereo, "s of audio"),
         "2^22 identical atoms": (million_identical_atoms, "Gaussians in a"),
         "widest atoms at 768 kHz": (widest_atoms, "sample evaluations")}
HEADER_BOMBS = ("hour at 768 kHz stereo", "2^22 identical atoms")  # refused from the header alone


@pytest.mark.parametrize("name", BOMBS)
def test_a_bomb_is_refused_by_the_budget_in_one_line(name):
    make, message = BOMBS[name]
    data = make()
    t0 = time.perf_counter()
    with pytest.raises(AgsFormatError, match=message) as exc:
        decode(data)
    print(f"{name}: {len(data)} bytes, refused in {1000 * (time.perf_counter() - t0):.1f} ms")
    assert "\n" not in str(exc.value) and "decoder budget" in str(exc.value)


LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
from audio_gs.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("name, command", [(n, "decode") for n in BOMBS] + [(n, "info") for n in HEADER_BOMBS])
def test_the_command_line_refuses_a_bomb_under_a_small_memory_limit(tmp_path, name, command):
    path = tmp_path / "bomb.ags"
    path.write_bytes(BOMBS[name][0]())
    args = [command, str(path)] + (["-o", str(tmp_path / "out.wav")] if command == "decode" else [])
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="2")
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", LIMITED] + args, capture_output=True, text=True, env=env, timeout=120)
    print(f"{command} {name}: exit {res.returncode} in {time.perf_counter() - t0:.2f} s (fresh process, 1.5 GB limit)")
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("audio-gs: error: ") and res.stderr.count("\n") == 1, res.stderr
    assert "decoder budget" in res.stderr
    assert not (tmp_path / "out.wav").exists()


def test_info_describes_a_file_over_the_render_budget_without_rendering_it(tmp_path, capsys, monkeypatch):
    from audio_gs.cli import main
    from audio_gs.codec import render

    path = tmp_path / "wide.ags"
    path.write_bytes(widest_atoms())
    monkeypatch.setattr(render, "BlockRenderer", lambda *a, **k: pytest.fail("info rendered"))
    assert main(["info", str(path)]) == 0
    assert "decode refuses this file" in capsys.readouterr().out


def test_budget_bounds_scale_with_the_file_size():
    assert budget.max_seconds(0) == budget.FLOOR_SECONDS
    assert budget.max_seconds(3600) == budget.FLOOR_SECONDS + 3600 * budget.SECONDS_PER_BYTE
    assert budget.max_atoms(100) == budget.FLOOR_ATOMS + 100 * budget.ATOMS_PER_BYTE
    assert budget.max_work(1000) > budget.max_work(10)
    ok = dict(file_bytes=100, payload_bytes=50, sample_rate=1000)
    budget.check_header(n_samples=int(budget.max_seconds(100) * 1000), n_atoms=budget.max_atoms(50), **ok)
    with pytest.raises(AgsFormatError, match="s of audio"):
        budget.check_header(n_samples=int(budget.max_seconds(100) * 1000) + 1, n_atoms=0, **ok)
    with pytest.raises(AgsFormatError, match="Gaussians"):
        budget.check_header(n_samples=0, n_atoms=budget.max_atoms(50) + 1, **ok)
    budget.check_work(file_bytes=10, work=budget.max_work(10))
    with pytest.raises(AgsFormatError, match="sample evaluations"):
        budget.check_work(file_bytes=10, work=budget.max_work(10) + 1)


def test_honest_files_are_within_budget():
    for k, seconds, sr in ((1, 0.1, 8000), (300, 2.0, 44100), (2000, 10.0, 16000)):
        m = Model(sample_rate=sr, n_samples=int(seconds * sr), gabor=random_gabor(k, sr=sr, seconds=seconds, seed=k))
        got = decode(encode(m, bits_per_param=6))
        assert len(got) == k and got.n_samples == m.n_samples


def test_the_encoder_refuses_to_write_what_the_decoder_would_refuse():
    silence = Model(sample_rate=16000, n_samples=16000 * 600, gabor=Gabor.empty())  # 10 minutes of nothing
    with pytest.raises(AudioGSError, match="cannot write .ags: .*decoder budget"):
        encode(silence)
    same = Model(sample_rate=16000, n_samples=32000, gabor=_identical(500, 0.01))
    with pytest.raises(AudioGSError, match="cannot write .ags: .*Gaussians"):
        encode(same)


def test_a_header_claim_over_budget_is_refused_before_the_payload_is_decoded(monkeypatch):
    data = million_identical_atoms()
    monkeypatch.setattr(bs, "_decode_range", lambda *a: pytest.fail("payload decoded"))
    with pytest.raises(AgsFormatError, match="decoder budget"):
        bs.unpack(data)


def test_wide_noise_gaussians_count_in_the_render_work():
    """Noise Gaussians cost cell evaluations too: many 10 s wide ones in a small file are refused."""
    import numpy as np

    from audio_gs.codec.compress import encode
    from audio_gs.codec.model import Gabor, Model, Noise
    from audio_gs.codec.noise import noise_work
    from audio_gs.errors import AudioGSError

    k, sr, n = 3000, 48000, 48000 * 600
    noise = Noise(time=np.full(k, 300.0), erb=np.full(k, 20.0), log_st=np.full(k, np.log(10.0)),
                  log_se=np.full(k, np.log(2.0)), log_energy=np.zeros(k), channel=np.zeros(k, np.int64))
    none = noise_work(noise.select(np.arange(0)), sr, n)  # the grids' own cost, whatever the Gaussians
    assert noise_work(noise, sr, n) - none > (noise_work(noise.select(np.arange(10)), sr, n) - none) * 100
    with pytest.raises(AudioGSError, match="decoder budget"):
        encode(Model(sample_rate=sr, n_samples=n, gabor=Gabor.empty(), noise=noise))
