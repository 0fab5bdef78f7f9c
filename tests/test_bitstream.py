"""audio_gs.bitstream: .ags round trips, payload methods, and decoding of damaged files."""

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import torch
from conftest import random_atoms

from audio_gs import bitstream as bs
from audio_gs.atoms import PARAM_NAMES, Atoms
from audio_gs.errors import AgsFormatError, AudioGSError
from audio_gs.quantize import dequantize, quantize
from audio_gs.render import render

CASES = [(1, 16000, "lr"), (2, 44100, "lr"), (2, 48000, "ms")]


def _atoms(n_channels, sr, mode, k=120, seed=0):
    a = random_atoms(k, sr=sr, seconds=0.3, n_channels=n_channels, seed=seed)
    a.stereo_mode = mode
    return a


def _same_atoms(a: Atoms, b: Atoms) -> bool:
    return all(torch.equal(getattr(a, n), getattr(b, n)) for n in PARAM_NAMES + ("channel",)) and (
        (a.sample_rate, a.n_channels, a.stereo_mode) == (b.sample_rate, b.n_channels, b.stereo_mode))


@pytest.fixture(scope="module")
def valid_file():
    a = _atoms(2, 16000, "ms", k=60, seed=11)
    data = bs.encode(a, 4800, 8)
    return data, bs.decode(data)


@pytest.mark.parametrize("n_channels, sr, mode", CASES)
@pytest.mark.parametrize("method", [bs.METHOD_RANGE, bs.METHOD_ZLIB, bs.METHOD_LZMA])
def test_decode_renders_the_dequantized_atoms_bit_for_bit(n_channels, sr, mode, method):
    a = _atoms(n_channels, sr, mode)
    n = int(0.3 * sr)
    q = quantize(a, 8)
    data = bs.pack(q, n, method)
    assert data[7] == method  # payload method byte
    atoms, n2 = bs.decode(data)
    assert n2 == n and _same_atoms(atoms, dequantize(q))
    assert torch.equal(render(atoms, n), render(dequantize(quantize(a, 8)), n))


def test_write_and_read_a_file(tmp_path):
    a = _atoms(2, 48000, "lr")
    path = tmp_path / "x.ags"
    size = bs.write_ags(path, a, 14400, bits_per_param=6, bit_allocation={"amp": 8})
    assert size == path.stat().st_size
    atoms, n = bs.read_ags(path)
    q = quantize(a, 6, {"amp": 8})
    assert n == 14400 and _same_atoms(atoms, dequantize(q))
    q2, _, _ = bs.unpack(path.read_bytes())
    assert q2.bits == q.bits and q2.ranges == q.ranges


def test_zero_atoms_round_trip():
    data = bs.encode(Atoms.empty(16000), 1600)
    atoms, n = bs.decode(data)
    assert len(atoms) == 0 and n == 1600
    assert torch.equal(render(atoms, n), torch.zeros(1, 1600))


def test_the_smallest_payload_is_kept():
    q = quantize(_atoms(1, 16000, "lr", k=300), 8)
    sizes = [len(bs.pack(q, 4800, m)) for m in bs.METHOD_NAMES]
    assert len(bs.pack(q, 4800)) == min(sizes)


def test_entropy_coding_beats_fixed_length_on_peaked_symbols():
    a = _atoms(1, 16000, "lr", k=400, seed=2)
    g = torch.Generator().manual_seed(0)  # one width; heavy-tailed frequencies and amplitudes
    a.log_sigma[:] = np.log(0.004)
    a.freq[:] = 1000 + 20 * torch.randn(400, generator=g, dtype=torch.float64) ** 3
    a.amp_cos[:] = 0.1 * torch.randn(400, generator=g, dtype=torch.float64) ** 3
    a.amp_sin[:] = 0.1 * torch.randn(400, generator=g, dtype=torch.float64) ** 3
    q = quantize(a, 8)
    coded_bits = 8 * len(bs.pack(q, 4800)) / len(a)
    assert coded_bits < 0.8 * sum(bs.raw_bits(q).values())
    assert sum(bs.stream_bits(q).values()) / len(a) < coded_bits  # header excluded


def test_writer_refuses_formats_limits():
    a = random_atoms(5, sr=500)
    with pytest.raises(AudioGSError, match="sample rate"):
        bs.encode(a, 100)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"RIFF\x00\x00\x00\x00WAVE", "wrong magic"),
    (b"\x89AG", "truncated"),
    (b"\x89AGS\x01\x00", "truncated"),
])
def test_bad_files_raise_one_line_errors(data, message):
    with pytest.raises(AgsFormatError, match=message) as exc:
        bs.decode(data)
    assert "\n" not in str(exc.value)


def test_future_version_and_corruption_are_named(valid_file):
    data, _ = valid_file
    newer = bytearray(data)
    newer[4] = bs.VERSION + 1
    with pytest.raises(AgsFormatError, match="newer than this decoder"):
        bs.decode(bytes(newer))
    with pytest.raises(AgsFormatError, match="CRC32"):
        bs.decode(data[:-1])
    with pytest.raises(AgsFormatError, match="no such file"):
        bs.read_ags("/nonexistent/x.ags")


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_header_counts_are_bounded_before_allocating(valid_file):
    data, _ = valid_file
    body = bytearray(data[:-4])
    huge = bs._uvarint(1 << 40)
    n_samples_at = 12  # magic 4, version, flags, channels, method, sample rate 4
    bad_len = _with_crc(bytes(body[:n_samples_at]) + huge + bytes(body[n_samples_at + len(bs._uvarint(4800)):]))
    with pytest.raises(AgsFormatError, match="length"):
        bs.decode(bad_len)
    k_at = n_samples_at + len(bs._uvarint(4800))
    bad_k = _with_crc(bytes(body[:k_at]) + huge + bytes(body[k_at + 1:]))
    with pytest.raises(AgsFormatError, match="atom count"):
        bs.decode(bad_k)


def test_fuzzed_files_decode_identically_or_fail_cleanly(valid_file):
    """Flip bits, overwrite bytes and truncate a valid file (seeded): every case either decodes to the
    same atoms or raises AgsFormatError."""
    data, (atoms, n) = valid_file
    rng = np.random.default_rng(1234)
    failed = 0
    for i in range(400):
        d = bytearray(data)
        kind = i % 4
        if kind == 0:
            pos = int(rng.integers(len(d)))
            d[pos] ^= 1 << int(rng.integers(8))
        elif kind == 1:
            for pos in rng.integers(0, len(d), size=int(rng.integers(1, 6))):
                d[int(pos)] = int(rng.integers(256))
        elif kind == 2:
            d = d[:int(rng.integers(len(d)))]
        else:
            junk = rng.integers(0, 256, size=int(rng.integers(1, 20)), dtype=np.uint8)
            d = d[:int(rng.integers(len(d)))] + bytes(junk)
        try:
            got, n2 = bs.decode(bytes(d))
        except AgsFormatError as exc:
            assert "\n" not in str(exc)
            failed += 1
            continue
        assert n2 == n and _same_atoms(got, atoms)
    assert failed > 300


def test_fuzzed_files_with_valid_crc_fail_cleanly(valid_file):
    """Damage behind a recomputed CRC (a crafted file) reaches the parser: it must still only ever
    return atoms or raise AgsFormatError."""
    data, _ = valid_file
    body = data[:-4]
    rng = np.random.default_rng(99)
    outcomes = {"decoded": 0, "error": 0}
    for i in range(400):
        d = bytearray(body)
        lo = 5 if i % 2 else 5 + 60  # half the cases hit the header, half anywhere after the version
        for pos in rng.integers(lo if lo < len(d) else 5, len(d), size=int(rng.integers(1, 4))):
            d[int(pos)] ^= 1 << int(rng.integers(8))
        if i % 5 == 0:
            d = d[:int(rng.integers(5, len(d)))]
        try:
            atoms, _ = bs.decode(_with_crc(bytes(d)))
            assert all(bool(torch.isfinite(getattr(atoms, n)).all()) for n in PARAM_NAMES)
            outcomes["decoded"] += 1
        except AgsFormatError as exc:
            assert "\n" not in str(exc)
            outcomes["error"] += 1
    assert outcomes["error"] > 50


def test_decoder_path_imports_only_bitstream_quantize_render(tmp_path):
    path = tmp_path / "x.ags"
    bs.write_ags(path, random_atoms(20, sr=16000), 800)
    code = ("import sys; from audio_gs.bitstream import read_ags; from audio_gs.render import render; "
            f"a, n = read_ags({str(path)!r}); render(a, n); "
            "print(' '.join(m for m in sys.modules if m.startswith('audio_gs')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "audio_gs.bitstream" in out
    assert not {"audio_gs.fit", "audio_gs.metrics", "audio_gs.losses", "audio_gs.init", "audio_gs.lstsq",
                "audio_gs.cli"} & set(out), out
