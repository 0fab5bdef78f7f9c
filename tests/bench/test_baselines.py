"""audio_gs.bench.baselines: every codec at a target bitrate, coded at its own rate, decoded and aligned."""

import io
import json

import av
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import firwin, resample_poly

from audio_gs.bench import baselines as B
from audio_gs.errors import AudioGSError

SECONDS = 2.0


def signal(sr, seconds=SECONDS, seed=0):
    """Harmonic tones (gliding fundamental) + noise bursts below 0.35 sr, mono float32 [1, samples]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    f0 = 180 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(0.25 / h * np.sin(h * phase) for h in range(1, 9))
    burst = np.zeros_like(t)
    for start in (0.15, 0.45, 0.75):
        i, n = int(start * seconds * sr), int(0.04 * seconds * sr)
        burst[i:i + n] = np.convolve(rng.standard_normal(n), firwin(63, 0.7), "same") * np.hanning(n) * 0.2
    return (x * (0.6 + 0.4 * np.sin(2 * np.pi * 1.3 * t)) + burst)[None, :].astype(np.float32)


def fine_lag_and_snrs(ref, deg, up=16, span=1):
    """(lag of deg behind ref in samples, SNR at lag 0, best SNR over lags) on a x16 upsampled grid."""
    r = resample_poly(np.asarray(ref[0], np.float64), up, 1)
    d = resample_poly(np.asarray(deg[0], np.float64), up, 1)
    m = 64 * up  # skip the edges
    rr = r[m:r.size - m]
    lags = np.arange(-span * up, span * up + 1)
    corr = np.array([rr @ d[m + k:m + k + rr.size] for k in lags])
    d2 = np.concatenate([[0.0], np.cumsum(d * d)])
    energy = np.array([d2[m + k + rr.size] - d2[m + k] for k in lags])
    snrs = 10 * np.log10(rr @ rr / (rr @ rr - 2 * corr + energy))
    i = int(np.argmax(corr))
    assert 0 < i < lags.size - 1, "lag outside the searched span"
    a, b, c = corr[i - 1], corr[i], corr[i + 1]
    lag = (lags[i] + 0.5 * (a - c) / (a - 2 * b + c)) / up
    return lag, float(snrs[lags == 0][0]), float(snrs.max())


def roundtrip(tmp_path, x, sr, codec, level):
    data = B.encode_bytes(x, sr, codec, level)
    f = tmp_path / f"x{B.CODECS[codec]['ext']}"
    f.write_bytes(data)
    y, info = B.decode_file(f, codec, sr, x)
    return y, info


LEVEL = {"opus": 0.95, "codec2": 3200}  # opus: about 20 kbit/s, where it leads its input; codec2: a mode (bit/s)
CASES = [(c, sr) for c in B.CODECS for sr in (16000, 22050)]


@pytest.mark.parametrize("codec, sr", CASES)
def test_round_trip_leaves_no_lag_and_plain_snr_is_the_best_aligned_snr(tmp_path, codec, sr):
    x = signal(sr)
    y, info = roundtrip(tmp_path, x, sr, codec, LEVEL.get(codec, 0.5))
    assert y.shape == x.shape
    lag, plain, best = fine_lag_and_snrs(x, y)
    assert abs(lag) < 0.1, (lag, info["delay_coding_samples"])
    assert best - plain <= 0.1, (plain, best)
    if codec != "codec2":  # a vocoder: its waveform is not the input's
        assert plain > 5, info


@pytest.mark.parametrize("codec, kbps", [("opus", 16), ("mp3", 32), ("vorbis", 48), ("aac", 24), ("codec2", 1.2)])
def test_real_bitrate_is_the_file_size_and_near_the_target(codec, kbps):
    x = signal(16000)
    data, info = B.encode_at_bitrate(x, 16000, codec, kbps, iters=6)
    assert info["bytes"] == len(data)
    assert info["kbps"] == pytest.approx(len(data) * 8 / SECONDS / 1000)
    assert abs(info["kbps"] / kbps - 1) < 0.35, info


def test_opus_codes_a_16k_signal_at_16k_and_a_22k_signal_at_48k(tmp_path):
    data, info = B.encode_at_bitrate(signal(16000), 16000, "opus", 16, iters=4)
    assert info["encode_rate"] == 16000
    assert int.from_bytes(data[28 + 12:28 + 16], "little") == 16000  # OpusHead's input sample rate
    f = tmp_path / "x.opus"
    f.write_bytes(data)
    assert B.decode_file(f, "opus", 16000, signal(16000))[1]["decoded_rate"] == 16000
    assert B.encode_rate("opus", 22050) == 48000


def test_codec2_uses_the_nearest_mode_and_stores_raw_frames_after_a_c2_header():
    assert [B.codec2_mode(k) for k in (0.5, 1.2, 1.42, 1.7, 2.5, 8.0)] == [700, 1200, 1400, 1600, 2400, 3200]
    import pycodec2

    x = signal(16000)
    data, info = B.encode_at_bitrate(x, 16000, "codec2", 2.4)
    c2 = pycodec2.Codec2(2400)
    frames = -(-int(SECONDS * 8000) // c2.samples_per_frame())
    assert data[:3] == b"\xc0\xde\xc2" and data[5] == 1  # CODEC2_MODE_2400
    assert len(data) == 7 + frames * c2.bytes_per_frame()
    assert info["encode_rate"] == 8000 and info["mode"] == 2400 and info["container_overhead_bytes"] == 7


def test_find_delay_finds_a_lead_and_align_removes_it():
    x = signal(16000)
    early = np.concatenate([x[:, 3:], np.zeros((1, 3), np.float32)], axis=1)  # leads x by 3 samples
    assert B.find_delay(x, early) == pytest.approx(-3, abs=0.01)
    y, info = B.align(x, 16000, early, 16000)
    assert info["delay_integer_removed"] == -3
    np.testing.assert_allclose(y[:, 3:], x[:, 3:], atol=1e-6)
    assert not np.any(y[:, :3])


def test_find_delay_recovers_a_trailing_integer_and_a_fractional_delay():
    x = signal(16000, 1.0)
    late = np.concatenate([np.zeros((1, 1105), np.float32), x], axis=1)
    assert B.find_delay(x, late) == pytest.approx(1105, abs=0.01)
    assert B.find_delay(x, B.shift_fraction(x, -0.4)) == pytest.approx(0.4, abs=0.02)


def test_align_removes_a_fraction_after_resampling_back():
    x = signal(22050)
    at48 = resample_poly(x, 320, 147, axis=-1)
    late = B.shift_fraction(np.concatenate([np.zeros((1, 7)), at48], axis=1), -0.4)  # 7.4 samples late at 48 kHz
    y, info = B.align(x, 22050, late, 48000)
    assert info["delay_coding_samples"] == pytest.approx(7.4, abs=0.02)
    assert info["delay_integer_removed"] == 7
    assert info["delay_fraction_removed"] == pytest.approx(0.4 * 22050 / 48000, abs=0.01)
    lag, plain, _ = fine_lag_and_snrs(x, y)
    _, resampled_only, _ = fine_lag_and_snrs(x, resample_poly(at48, 147, 320, axis=-1)[:, :x.shape[1]])
    assert abs(lag) < 0.02 and plain > resampled_only - 0.1, (plain, resampled_only)


@pytest.mark.parametrize("codec, level", [("opus", 0.5), ("vorbis", 0.5), ("mp3", 0.1), ("aac", 0.5)])
def test_container_overhead_is_what_the_demuxer_does_not_hand_the_decoder(codec, level):
    x = signal(16000)
    data = B.encode_bytes(x, 16000, codec, level)
    ov = B.container_overhead(codec, data)
    assert ov["container_overhead_bytes"] > 0
    with av.open(io.BytesIO(data)) as c:
        payload = sum(p.size for p in c.demux(c.streams.audio[0]) if p.size)
    assert payload == len(data) - ov["container_overhead_bytes"] - ov["container_framing_bytes"]


@pytest.mark.parametrize("codec, part", [("opus", "libopus"), ("vorbis", "libVorbis"), ("mp3", "libsndfile"),
                                         ("aac", "FFmpeg"), ("codec2", "pycodec2")])
def test_info_names_the_library_that_made_the_file(codec, part):
    x = signal(16000, 0.5)
    data, info = B.encode_at_bitrate(x, 16000, codec, 16, iters=2)
    assert part in info["library"]


def test_roundtrip_cli_writes_coded_decoded_and_info(tmp_path):
    sf.write(str(tmp_path / "ref.wav"), signal(16000)[0], 16000)
    rc = B.main(["roundtrip", str(tmp_path / "ref.wav"), "-o", str(tmp_path / "c.m4a"), "--decoded",
                 str(tmp_path / "d.wav"), "--codec", "aac", "--kbps", "24", "--info", str(tmp_path / "i.json")])
    info = json.loads((tmp_path / "i.json").read_text())
    assert rc == 0 and info["bytes"] == (tmp_path / "c.m4a").stat().st_size
    for key in ("codec", "library", "encode_rate", "target_kbps", "kbps", "container_overhead_bytes",
                "encode_seconds", "decode_seconds", "delay_samples", "delay_coding_samples"):
        assert key in info, key
    y, sr = sf.read(str(tmp_path / "d.wav"))
    assert sr == 16000 and len(y) == int(SECONDS * 16000)
    rc = B.main(["decode", str(tmp_path / "c.m4a"), "-o", str(tmp_path / "d2.wav"), "--codec", "aac",
                 "--reference", str(tmp_path / "ref.wav")])
    assert rc == 0 and np.allclose(sf.read(str(tmp_path / "d2.wav"))[0], y, atol=1e-4)


def test_unknown_codec_and_a_corrupt_file_are_user_errors(tmp_path, capsys):
    with pytest.raises(AudioGSError, match="unknown baseline codec"):
        B.codec_spec("flac")
    bad = tmp_path / "bad.c2"
    bad.write_bytes(b"not codec2")
    with pytest.raises(AudioGSError, match="not a .c2 file"):
        B.decode_file(bad, "codec2", 16000)
    sf.write(str(tmp_path / "ref.wav"), signal(16000, 0.5)[0], 16000)
    assert B.main(["decode", str(tmp_path / "ref.wav"), "-o", str(tmp_path / "d.wav"), "--codec", "aac",
                   "--reference", str(tmp_path / "ref.wav")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
