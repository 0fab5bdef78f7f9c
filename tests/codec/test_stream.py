"""The streamable .ags layout (version 3): blocks placed and summed, cut-short files, damaged files."""

import numpy as np
import pytest

from audio_gs.codec import stream
from audio_gs.codec.compress import decode, encode, read_stream
from audio_gs.codec.model import Gabor, Model
from audio_gs.codec.render import render
from audio_gs.errors import AgsFormatError

SR = 8000


def _body(n, times, freq=440.0):
    k = len(times)
    g = Gabor(time=np.asarray(times, float), freq=np.full(k, freq), log_sigma=np.full(k, np.log(0.01)),
              chirp=np.zeros(k), amp_cos=np.full(k, 0.3), amp_sin=np.full(k, 0.1), channel=np.zeros(k, np.int64))
    return encode(Model(sample_rate=SR, n_samples=n, gabor=g), bits_per_param=8)


def _file(blocks, n_total, end=True):
    data = stream.stream_header(SR, 1)
    for start, done, body in blocks:
        data += stream.block_record(start, done, body)
    return data + (stream.end_record(n_total) if end else b"")


@pytest.fixture
def three_blocks():
    # each body is 3000 samples placed at 0, 2000, 4000 (1000 samples of overlap), finishing at 2000/4000/7000
    bodies = [_body(3000, [0.05, 0.2, 0.3]), _body(3000, [0.08, 0.2], 660.0), _body(3000, [0.1, 0.25, 0.33])]
    return [(0, 2000, bodies[0]), (2000, 4000, bodies[1]), (4000, 7000, bodies[2])]


def test_blocks_are_added_at_their_first_sample(three_blocks):
    sf = read_stream(_file(three_blocks, 7000))
    assert sf.complete and sf.n_samples == 7000 and len(sf.blocks) == 3
    y = stream.render_stream(sf)
    want = np.zeros((1, 7000))
    for start, _, body in three_blocks:
        r = render(decode(body))
        hi = min(7000, start + r.shape[1])
        want[:, start:hi] += r[:, :hi - start]
    np.testing.assert_allclose(y, want, atol=1e-12)


def test_a_cut_short_file_decodes_its_complete_blocks(three_blocks):
    data = _file(three_blocks, 7000)
    full = stream.render_stream(read_stream(data))
    cut = data[:len(_file(three_blocks[:2], 0, end=False)) + 10]  # inside the third block
    sf = read_stream(cut)
    assert not sf.complete and sf.n_samples == 4000
    y = stream.render_stream(sf)
    # samples before the third block's first sample are final; after it the third block is missing
    np.testing.assert_allclose(y[:, :4000], full[:, :4000], atol=1e-12)


def test_damage_is_refused(three_blocks):
    data = bytearray(_file(three_blocks, 7000))
    bad = bytes(data[:3]) + b"X" + bytes(data[4:])
    with pytest.raises(AgsFormatError):
        read_stream(bytes(data[:stream.HEADER_BYTES - 1]))
    hdr = bytearray(data)
    hdr[8] ^= 1  # the sample rate, under the header CRC
    with pytest.raises(AgsFormatError, match="CRC"):
        read_stream(bytes(hdr))
    blk = bytearray(data)
    blk[stream.HEADER_BYTES + 5] ^= 1  # a block's first sample, under its CRC
    with pytest.raises(AgsFormatError, match="CRC"):
        read_stream(bytes(blk))
    assert bad[:4] != stream.bitstream.MAGIC and not stream.is_stream(bad)
    with pytest.raises(AgsFormatError, match="after the end record"):
        read_stream(bytes(data) + b"\0")


def test_blocks_must_continue_the_stream(three_blocks):
    (a, b, c) = three_blocks
    with pytest.raises(AgsFormatError, match="continue"):  # a gap: starts after the samples made so far
        read_stream(_file([a, (2500, 4000, b[2])], 4000))
    with pytest.raises(AgsFormatError, match="continue"):  # goes back before the previous block's start
        read_stream(_file([a, b, (1000, 5000, c[2])], 5000))
    with pytest.raises(AgsFormatError, match="shorter"):  # completes samples its body does not hold
        read_stream(_file([(0, 3500, a[2])], 3500))
    with pytest.raises(AgsFormatError, match="end record"):
        read_stream(_file(three_blocks, 6000))


def test_a_block_of_another_rate_is_refused(three_blocks):
    g = Gabor.empty()
    other = encode(Model(sample_rate=16000, n_samples=100, gabor=g))
    with pytest.raises(AgsFormatError, match="Hz"):
        read_stream(_file([(0, 100, other)], 100))


def test_streamed_file_decodes_through_the_file_api(tmp_path, three_blocks):
    from audio_gs.codec.compress import decode_file, decode_to_file, read_ags

    p = tmp_path / "s.ags"
    p.write_bytes(_file(three_blocks, 7000))
    y, sr = decode_file(p)
    assert sr == SR and y.shape == (1, 7000)
    res = decode_to_file(p, tmp_path / "s.wav")
    import soundfile as sf

    w, _ = sf.read(tmp_path / "s.wav")
    assert len(w) == 7000 and not res["partial"]
    np.testing.assert_allclose(w, np.clip(y[0], -1, 1), atol=1 / 32768 + 1e-9)
    with pytest.raises(AgsFormatError, match="streamed"):
        read_ags(p)


def test_mutated_streams_fail_cleanly(three_blocks):
    """Random byte changes, cuts and insertions: a clean parse or AgsFormatError, nothing else."""
    data = _file(three_blocks, 7000)
    rng = np.random.default_rng(0)
    for i in range(300):
        b = bytearray(data)
        kind = i % 3
        if kind == 0:
            for j in rng.integers(0, len(b), size=int(rng.integers(1, 4))):
                b[j] = int(rng.integers(0, 256))
        elif kind == 1:
            b = b[:int(rng.integers(0, len(b)))]
        else:
            j = int(rng.integers(0, len(b)))
            b = b[:j] + bytes(rng.integers(0, 256, size=int(rng.integers(1, 30)), dtype=np.uint8)) + b[j:]
        try:
            sf = read_stream(bytes(b))
            y = stream.render_stream(sf)
            assert y.shape == (1, sf.n_samples) and np.isfinite(y).all()
        except AgsFormatError:
            pass
