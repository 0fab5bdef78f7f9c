"""audio_gs.codec.bitstream (with codec.compress composing it): .ags round trips, payload methods,
and decoding of damaged files."""

import struct
import zlib

import numpy as np
import pytest
from synth import random_gabor

from audio_gs.codec import bitstream as bs
from audio_gs.codec.compress import decode, encode
from audio_gs.codec.model import GABOR_FIELDS, NOISE_FIELDS, Gabor, Model, Noise, NoiseEnvelope
from audio_gs.codec.quantize import dequantize, dequantize_noise, quantize, quantize_envelope, quantize_noise
from audio_gs.codec.render import render
from audio_gs.errors import AgsFormatError, AudioGSError

CASES = [(1, 16000, "lr"), (2, 44100, "lr"), (2, 48000, "ms")]


def _model(n_channels, sr, mode, k=120, seed=0, seconds=0.3):
    g = random_gabor(k, sr=sr, seconds=seconds, n_channels=n_channels, seed=seed)
    return Model(sample_rate=sr, n_samples=int(seconds * sr), gabor=g, n_channels=n_channels, stereo_mode=mode)


def _quantize(m: Model, bits=8, alloc=None):
    return quantize(m.gabor, sample_rate=m.sample_rate, n_channels=m.n_channels, stereo_mode=m.stereo_mode,
                    bits_per_param=bits, bit_allocation=alloc)


def _same_gabor(a: Gabor, b: Gabor) -> bool:
    return all(np.array_equal(getattr(a, n), getattr(b, n)) for n in GABOR_FIELDS + ("channel",))


@pytest.fixture(scope="module")
def valid_file():
    m = _model(2, 16000, "ms", k=60, seed=11)
    data = encode(m, bits_per_param=8)
    return data, decode(data)


@pytest.mark.parametrize("n_channels, sr, mode", CASES)
@pytest.mark.parametrize("method", [bs.METHOD_RANGE, bs.METHOD_ZLIB, bs.METHOD_LZMA])
def test_decode_gives_the_dequantized_atoms_bit_for_bit(n_channels, sr, mode, method):
    m = _model(n_channels, sr, mode)
    q = _quantize(m)
    data = bs.pack(q, m.n_samples, method)
    assert data[7] == method  # payload method byte
    got = decode(data)
    assert got.n_samples == m.n_samples and _same_gabor(got.gabor, dequantize(q))
    assert (got.sample_rate, got.n_channels, got.stereo_mode) == (sr, n_channels, mode)
    assert np.array_equal(render(got), render(decode(encode(m))))


def test_zero_atoms_round_trip():
    data = encode(Model(sample_rate=16000, n_samples=1600, gabor=Gabor.empty()))
    got = decode(data)
    assert len(got) == 0 and got.n_samples == 1600
    assert np.array_equal(render(got), np.zeros((1, 1600)))


def test_the_smallest_payload_is_kept():
    q = _quantize(_model(1, 16000, "lr", k=300))
    sizes = [len(bs.pack(q, 4800, m)) for m in bs.METHOD_NAMES]
    assert len(bs.pack(q, 4800)) == min(sizes)


def test_entropy_coding_beats_fixed_length_on_peaked_symbols():
    m = _model(1, 16000, "lr", k=400, seed=2)
    rng = np.random.default_rng(0)  # one width; heavy-tailed frequencies and amplitudes
    g = m.gabor
    g.log_sigma[:] = np.log(0.004)
    g.freq[:] = 1000 + 20 * rng.standard_normal(400) ** 3
    g.amp_cos[:] = 0.1 * rng.standard_normal(400) ** 3
    g.amp_sin[:] = 0.1 * rng.standard_normal(400) ** 3
    q = _quantize(m)
    coded_bits = 8 * len(bs.pack(q, 4800)) / len(g)
    assert coded_bits < 0.8 * sum(bs.raw_bits(q).values())
    assert sum(bs.stream_bits(q).values()) / len(g) < coded_bits  # header excluded


def test_writer_refuses_formats_limits():
    m = Model(sample_rate=500, n_samples=100, gabor=random_gabor(5, sr=500))
    with pytest.raises(AudioGSError, match="sample rate"):
        encode(m)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"RIFF\x00\x00\x00\x00WAVE", "wrong magic"),
    (b"\x89AG", "truncated"),
    (b"\x89AGS\x01\x00", "truncated"),
])
def test_bad_files_raise_one_line_errors(data, message):
    with pytest.raises(AgsFormatError, match=message) as exc:
        decode(data)
    assert "\n" not in str(exc.value)


def test_future_version_and_corruption_are_named(valid_file):
    data, _ = valid_file
    newer = bytearray(data)
    newer[4] = bs.VERSION + 1
    with pytest.raises(AgsFormatError, match="newer than this decoder"):
        decode(bytes(newer))
    with pytest.raises(AgsFormatError, match="CRC32"):
        decode(data[:-1])


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_header_counts_are_bounded_before_allocating(valid_file):
    data, _ = valid_file
    body = bytearray(data[:-4])
    huge = bs._uvarint(1 << 40)
    n_samples_at = 12  # magic 4, version, flags, channels, method, sample rate 4
    bad_len = _with_crc(bytes(body[:n_samples_at]) + huge + bytes(body[n_samples_at + len(bs._uvarint(4800)):]))
    with pytest.raises(AgsFormatError, match="length"):
        decode(bad_len)
    k_at = n_samples_at + len(bs._uvarint(4800))
    bad_k = _with_crc(bytes(body[:k_at]) + huge + bytes(body[k_at + 1:]))
    with pytest.raises(AgsFormatError, match="atom count"):
        decode(bad_k)


def test_fuzzed_files_decode_identically_or_fail_cleanly(valid_file):
    """Flip bits, overwrite bytes and truncate a valid file (seeded): every case either decodes to the
    same atoms or raises AgsFormatError."""
    data, model = valid_file
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
            got = decode(bytes(d))
        except AgsFormatError as exc:
            assert "\n" not in str(exc)
            failed += 1
            continue
        assert got.n_samples == model.n_samples and _same_gabor(got.gabor, model.gabor)
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
            got = decode(_with_crc(bytes(d)))
            assert all(np.isfinite(getattr(got.gabor, n)).all() for n in GABOR_FIELDS)
            outcomes["decoded"] += 1
        except AgsFormatError as exc:
            assert "\n" not in str(exc)
            outcomes["error"] += 1
    assert outcomes["error"] > 50


# ---- version 2: noise Gaussians --------------------------------------------------------------------

# a version-1 file written by the previous release (3 atoms, 400 samples at 8 kHz, 8 bits)
V1_FILE = bytes.fromhex(
    "8941475301000100401f00009003030808080808050eb502c8020a2b5d3d3a46f13c4fe0143d00bd04bd030000c80200010000ee05"
    "ea4f00295e1087011c101102f4d38dc3984a6502000913327e1285c0d7409aab")


def _noise(k, seconds=0.3, n_channels=1, seed=0) -> Noise:
    rng = np.random.default_rng(seed)
    return Noise(time=rng.random(k) * seconds, erb=rng.random(k) * 30, log_st=np.log(0.005 + rng.random(k) * 0.05),
                 log_se=np.log(0.3 + rng.random(k) * 3), log_energy=np.log(rng.random(k)),
                 channel=rng.integers(0, n_channels, k).astype(np.int64))


def test_a_version_1_file_still_decodes():
    m = decode(V1_FILE)
    assert (m.sample_rate, m.n_samples, len(m.gabor), len(m.noise)) == (8000, 400, 3, 0)
    assert np.allclose(m.gabor.freq, [440.357452, 1000.492188, 2999.715088])
    y = render(m)
    assert float((y**2).sum()) == pytest.approx(9.0823175, rel=1e-6)  # what the previous release rendered


@pytest.mark.parametrize("n_channels, mode", [(1, "lr"), (2, "ms")])
@pytest.mark.parametrize("method", [bs.METHOD_RANGE, bs.METHOD_ZLIB, bs.METHOD_LZMA])
def test_noise_gaussians_round_trip_with_their_seed(n_channels, mode, method):
    m = _model(n_channels, 16000, mode, k=50)
    m.noise, m.noise_seed = _noise(70, n_channels=n_channels, seed=3), 987654321
    q = _quantize(m)
    qn = quantize_noise(m.noise, n_channels=n_channels)
    got = decode(bs.pack(q, m.n_samples, method, noise=qn, noise_seed=m.noise_seed))
    expect = dequantize_noise(qn)
    assert got.noise_seed == 987654321 and len(got.noise) == 70
    assert all(np.array_equal(getattr(got.noise, f), getattr(expect, f)) for f in NOISE_FIELDS + ("channel",))
    assert np.array_equal(render(got), render(decode(encode(m))))


def test_noise_quantization_keeps_energy_and_place():
    n = _noise(200, seed=4)
    q = quantize_noise(n)
    d = dequantize_noise(q).select(np.argsort(q.order))
    assert np.abs(d.time - n.time).max() <= 0.002 + 1e-6
    assert np.abs(d.erb - n.erb).max() <= 0.125 + 1e-5
    assert np.abs(d.log_energy - n.log_energy).max() < 0.5  # level step 1.5 dB, widths step 0.25


def test_fuzzed_noise_files_with_valid_crc_fail_cleanly():
    m = _model(1, 16000, "lr", k=20)
    m.noise = _noise(40)
    body = encode(m)[:-4]
    rng = np.random.default_rng(5)
    errors = 0
    for i in range(300):
        d = bytearray(body)
        for pos in rng.integers(5, len(d), size=int(rng.integers(1, 4))):
            d[int(pos)] ^= 1 << int(rng.integers(8))
        try:
            got = decode(_with_crc(bytes(d)))
            assert all(np.isfinite(getattr(got.noise, f)).all() for f in NOISE_FIELDS)
        except AgsFormatError as exc:
            assert "\n" not in str(exc)
            errors += 1
    assert errors > 30


# ---- versions 4 to 6: the noise envelope, energy-exact noise, gated noise ---------------------------

def _enveloped(n_channels=1, mode="lr", hop=128, band=4000.0, seed=6) -> Model:
    m = _model(n_channels, 16000, mode, k=40, seed=seed)
    m.noise, m.noise_seed = _noise(50, n_channels=n_channels, seed=seed), 42
    rng = np.random.default_rng(seed)
    gains = np.cumsum(rng.normal(0, 3, (n_channels, NoiseEnvelope.n_points(m.n_samples, hop))), axis=1)
    m.noise_env = NoiseEnvelope(band_hz=band, hop=hop, gain_db=np.clip(gains, -30, 30))
    return m


@pytest.mark.parametrize("n_channels, mode", [(1, "lr"), (2, "ms")])
@pytest.mark.parametrize("method", [bs.METHOD_RANGE, bs.METHOD_ZLIB, bs.METHOD_LZMA])
@pytest.mark.parametrize("exact, gate, version", [(True, True, 6), (True, False, 5), (False, False, 4)])
def test_noise_envelope_round_trips_in_versions_4_to_6(n_channels, mode, method, exact, gate, version):
    m = _enveloped(n_channels, mode)
    qe = quantize_envelope(m.noise_env, sample_rate=m.sample_rate, n_samples=m.n_samples, step_db=2.0)
    data = bs.pack(_quantize(m), m.n_samples, method, noise=quantize_noise(m.noise, n_channels=n_channels),
                   noise_seed=42, envelope=qe, noise_exact=exact, noise_gate=gate)
    got = decode(data)
    assert data[4] == version and got.noise_env is not None and got.noise_exact is exact and got.noise_gate is gate
    assert (got.noise_env.hop, got.noise_env.band_hz) == (128, 4000.0)
    assert got.noise_env.gain_db.shape == m.noise_env.gain_db.shape
    assert np.abs(got.noise_env.gain_db - m.noise_env.gain_db).max() <= 1.0 + 1e-9  # half a step
    assert np.array_equal(render(got), render(decode(data)))  # deterministic


def test_the_version_follows_what_the_file_holds():
    """No noise: version 2. Noise: version 6 (energy-exact, gated), with or without an envelope; a model
    whose noise is not gated (read from a version 5 file) is written back as version 5, one whose noise
    renders as drawn (read from a version 2 or 4 file) as version 2 or 4."""
    m = _model(1, 16000, "lr", k=20)
    assert encode(m)[4] == 2
    m.noise = _noise(30)
    data = encode(m)
    assert data[4] == 6 and decode(data).noise_env is None and decode(data).noise_exact and decode(data).noise_gate
    m.noise_gate = False
    v5 = encode(m)
    assert v5[4] == 5 and decode(v5).noise_exact and not decode(v5).noise_gate and encode(decode(v5))[4] == 5
    assert not np.array_equal(render(decode(v5)), render(decode(data)))  # the gate changes the noise
    m.noise_exact = False
    old = encode(m)
    assert old[4] == 2 and not decode(old).noise_exact
    assert encode(decode(old))[4] == 2  # a re-encoded old file keeps its rendering
    e = _enveloped()
    e.noise_exact = False
    assert encode(e)[4] == 4 and not decode(encode(e)).noise_exact


def test_writer_refuses_an_envelope_without_noise_or_of_the_wrong_length():
    m = _enveloped()
    qe = quantize_envelope(m.noise_env, sample_rate=m.sample_rate, n_samples=m.n_samples)
    with pytest.raises(AudioGSError, match="needs noise Gaussians"):
        bs.pack(_quantize(m), m.n_samples, envelope=qe)
    with pytest.raises(AudioGSError, match="needs noise Gaussians"):
        bs.pack(_quantize(m), m.n_samples + 500, noise=quantize_noise(m.noise), envelope=qe)
    with pytest.raises(AudioGSError, match="envelope gains of shape"):
        quantize_envelope(m.noise_env, sample_rate=m.sample_rate, n_samples=m.n_samples + 500)
    with pytest.raises(AudioGSError, match="band edge"):
        quantize_envelope(NoiseEnvelope(9000.0, 128, m.noise_env.gain_db), sample_rate=16000, n_samples=m.n_samples)


def _envelope_header_at(data: bytes) -> int:
    """Offset of the envelope hop field: just before the first stream header (code byte)."""
    q, n, info = bs.unpack(data)
    hop, band = info["envelope"].hop, info["envelope"].band_hz
    tail = bs._uvarint(hop) + bs._uvarint(band)
    at = data.index(tail)
    assert data.count(tail) == 1
    return at


@pytest.mark.parametrize("field", ["hop", "band"])
@pytest.mark.parametrize("value", [0x00, 0x01, 0x7F])
def test_damaged_envelope_header_fails_cleanly(field, value):  # another hop: the stream length no longer matches
    m = _enveloped()
    data = encode(m)
    at = _envelope_header_at(data)
    d = bytearray(data)
    d[at + (0 if field == "hop" else 2)] = value
    try:
        got = decode(_with_crc(bytes(d[:-4])))
        assert np.isfinite(got.noise_env.gain_db).all()
    except AgsFormatError as exc:
        assert "\n" not in str(exc)


def test_envelope_header_values_are_checked():
    m = _enveloped()
    body = bytearray(encode(m)[:-4])
    at = _envelope_header_at(encode(m))
    step_at = at + len(bs._uvarint(128)) + len(bs._uvarint(4000))
    for step, msg in [(0.0, "envelope step"), (float("nan"), "envelope step"), (100.0, "envelope step")]:
        d = bytearray(body)
        d[step_at:step_at + 4] = struct.pack("<f", step)
        with pytest.raises(AgsFormatError, match=msg):
            decode(_with_crc(bytes(d)))
    d = bytearray(body)
    d[at + 2:at + 4] = bs._uvarint(8000)  # band edge at Nyquist (same varint length as 4000)
    with pytest.raises(AgsFormatError, match="band edge"):
        decode(_with_crc(bytes(d)))


def test_fuzzed_envelope_files_with_valid_crc_fail_cleanly():
    data = encode(_enveloped())
    body, at = data[:-4], _envelope_header_at(data)
    rng = np.random.default_rng(7)
    errors = 0
    for i in range(300):
        d = bytearray(body)
        lo = at if i % 2 else 5  # half the cases from the envelope's header on
        for pos in rng.integers(lo, len(d), size=int(rng.integers(1, 4))):
            d[int(pos)] ^= 1 << int(rng.integers(8))
        try:
            got = decode(_with_crc(bytes(d)))
            if got.noise_env is not None:
                g = got.noise_env.gain_db
                assert np.isfinite(g).all() and np.abs(g).max() <= 60
                assert g.shape == (got.n_channels, NoiseEnvelope.n_points(got.n_samples, got.noise_env.hop))
        except AgsFormatError as exc:
            assert "\n" not in str(exc)
            errors += 1
    assert errors > 30
