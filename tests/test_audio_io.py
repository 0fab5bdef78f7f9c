"""audio_gs.audio_io: decoding every supported format, excerpts and resampling, clear errors on bad input."""

import numpy as np
import pytest
import soundfile as sf

from audio_gs.audio_io import atomic_write, load_audio, require_audible, save_audio
from audio_gs.errors import AudioGSError
from synth import tone


def _stereo(sr=8000):
    return np.stack([tone(sr, 0.5, 440), tone(sr, 0.5, 660, 0.3)])


@pytest.mark.parametrize("ext,subtype,tol", [(".wav", "PCM_16", 1e-4), (".flac", "PCM_24", 1e-6), (".ogg", "VORBIS", None),
                                             (".mp3", "MPEG_LAYER_III", None)])
def test_soundfile_formats_decode_to_float32_channels_first(tmp_path, ext, subtype, tol):
    x = _stereo(16000 if ext == ".mp3" else 8000)
    sr = 16000 if ext == ".mp3" else 8000
    p = tmp_path / f"a{ext}"
    sf.write(p, x.T, sr, subtype=subtype)
    y, sr2 = load_audio(p)
    assert sr2 == sr and y.dtype == np.float32 and y.shape[0] == 2
    if tol is not None:
        np.testing.assert_allclose(y, x, atol=tol)
    else:  # lossy: length may be padded; each channel's tone must survive
        assert abs(y.shape[1] - x.shape[1]) < 3000
        for ch, f0 in ((0, 440), (1, 660)):
            spec = np.abs(np.fft.rfft(y[ch]))
            assert abs(np.argmax(spec) * sr / (2 * (spec.size - 1)) - f0) < 5


def test_m4a_through_pyav(tmp_path):
    av = pytest.importorskip("av")
    p = tmp_path / "a.m4a"
    sr = 16000
    x = tone(sr, 1.0, 440, 0.5)
    with av.open(str(p), "w") as out:
        stream = out.add_stream("aac", rate=sr)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(x[None].astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    y, sr2 = load_audio(p)
    assert sr2 == sr and y.shape[0] == 1
    assert abs(y.shape[1] - x.size) < 4096
    spec = np.abs(np.fft.rfft(y[0]))
    assert abs(np.argmax(spec) * sr / (2 * (spec.size - 1)) - 440) < 5  # the tone survives AAC


def test_excerpt_channels_and_resampling(tmp_path):
    p = tmp_path / "a.wav"
    sf.write(p, _stereo().T, 8000, subtype="FLOAT")
    y, sr = load_audio(p, offset=0.1, duration=0.2, channels="mono", sample_rate=16000)
    assert sr == 16000 and y.shape == (1, 3200)
    x = _stereo()
    np.testing.assert_allclose(load_audio(p, channels="mono")[0][0], x.mean(0), atol=1e-6)
    assert load_audio(p, channels="stereo")[0].shape[0] == 2


def test_bad_inputs_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"fLaC" + bytes(range(256)) * 4)
    unsupported = tmp_path / "notes.txt"
    unsupported.write_text("hello")
    cases = {tmp_path / "missing.wav": "no such file", empty: "empty", corrupt: "cannot decode",
             unsupported: "unsupported format", tmp_path: "directory"}
    for path, fragment in cases.items():
        with pytest.raises(AudioGSError, match=fragment) as info:
            load_audio(path)
        assert "\n" not in str(info.value)


def test_offset_past_end_and_silence(tmp_path):
    p = tmp_path / "a.wav"
    sf.write(p, tone(8000, 0.5), 8000)
    with pytest.raises(AudioGSError, match="past the end"):
        load_audio(p, offset=2.0)
    with pytest.raises(AudioGSError, match="silent"):
        require_audible(np.zeros((1, 100), np.float32), p)
    require_audible(tone(8000, 0.1)[None], p)


def test_atomic_write_keeps_old_file_when_writer_fails(tmp_path):
    p = tmp_path / "out.wav"
    save_audio(p, tone(8000, 0.1), 8000)
    before = p.read_bytes()

    def fail(tmp):
        tmp.write_bytes(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(p, fail)
    assert p.read_bytes() == before
    assert [q.name for q in tmp_path.iterdir()] == ["out.wav"]  # no temp file left behind


def test_save_audio_round_trip_16_bit(tmp_path):
    x = _stereo()
    p = save_audio(tmp_path / "sub" / "x.wav", x, 8000)
    y, sr = load_audio(p)
    assert sr == 8000 and sf.info(p).subtype == "PCM_16"
    np.testing.assert_allclose(y, x, atol=2 / 32768)


def test_clipping_counts_samples_beyond_full_scale():
    from audio_gs.audio_io import clipping

    x = np.array([[0.5, -1.0, 1.0, 1.5], [-2.0, 0.0, 0.1, 0.2]], np.float32)
    assert clipping(x) == (2 / 8, 2.0)  # exactly +-1 is full scale, not beyond it
    assert clipping(np.zeros((1, 0))) == (0.0, 0.0)


@pytest.mark.parametrize("kwargs,fragment", [({"offset": -0.1}, "offset"), ({"duration": 0}, "duration"),
                                             ({"duration": -1.0}, "duration"), ({"offset": float("nan")}, "offset"),
                                             ({"duration": 1e-6}, "no samples")])
def test_bad_excerpts_are_one_line_errors(tmp_path, kwargs, fragment):
    p = tmp_path / "a.wav"
    sf.write(p, tone(8000, 0.5), 8000)
    with pytest.raises(AudioGSError, match=fragment):
        load_audio(p, **kwargs)
