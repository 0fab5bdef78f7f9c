"""audio_gs.audio_io: decoding every supported format, excerpts and resampling, clear errors on bad input."""

import os
import stat

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


def write_m4a(path, x, sr):
    """Mono AAC in an .m4a container, written with PyAV."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=sr)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(x[None].astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def test_m4a_through_pyav(tmp_path):
    pytest.importorskip("av")
    p = tmp_path / "a.m4a"
    sr = 16000
    x = tone(sr, 1.0, 440, 0.5)
    write_m4a(p, x, sr)
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


@pytest.mark.parametrize("kw, fragment", [({"offset": -1.0}, "offset"), ({"offset": float("nan")}, "offset"),
                                          ({"duration": 0.0}, "duration"), ({"duration": float("inf")}, "duration"),
                                          ({"sample_rate": 0}, "sample rate"), ({"channels": "quad"}, "channels")])
def test_bad_excerpt_options_are_one_line_errors(tmp_path, kw, fragment):
    p = tmp_path / "a.wav"
    sf.write(p, tone(8000, 0.5), 8000)
    with pytest.raises(AudioGSError, match=fragment) as info:
        load_audio(p, **kw)
    assert "\n" not in str(info.value)


def test_float_file_far_beyond_full_scale_is_refused_not_turned_into_nan(tmp_path):
    p = tmp_path / "huge.wav"
    x = np.full((800, 2), 3e38, np.float32)
    x[::2] *= -1
    sf.write(p, x, 8000, subtype="FLOAT")
    with np.errstate(all="raise"), pytest.raises(AudioGSError, match="far outside full scale"):
        load_audio(p, channels="mono")  # and no overflow warning on the way (errstate would raise it)


@pytest.mark.parametrize("ext, subtype", [(".wav", "PCM_16"), (".flac", "PCM_16"), (".mp3", "MPEG_LAYER_III")])
def test_an_excerpt_of_a_long_file_decodes_only_the_excerpt(tmp_path, ext, subtype):
    import tracemalloc

    sr, minutes = 8000, 10
    p = tmp_path / f"long{ext}"
    with sf.SoundFile(p, "w", sr, 1, subtype=subtype) as f:
        block = tone(sr, 60.0, 440, 0.3)
        for _ in range(minutes):
            f.write(block)
    whole = sr * 60 * minutes * 4  # bytes of the whole file as float32
    tracemalloc.start()
    try:
        y, _ = load_audio(p, offset=1.0, duration=1.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert y.shape == (1, sr)
    assert peak < whole / 20  # the whole file would have been decoded into ~19 MB


def test_excerpt_is_the_same_samples_as_cutting_the_whole_file(tmp_path):
    x = np.stack([tone(8000, 3.0, 440, 0.5), tone(8000, 3.0, 660, 0.3)], axis=1)
    for ext, subtype in ((".flac", "PCM_24"), (".ogg", "VORBIS"), (".mp3", "MPEG_LAYER_III")):
        p = tmp_path / f"a{ext}"
        sf.write(p, x, 8000, subtype=subtype)
        whole, _ = load_audio(p)
        part, _ = load_audio(p, offset=1.3, duration=0.7)
        np.testing.assert_allclose(part, whole[:, 10400:10400 + 5600], atol=1e-6)


def test_m4a_excerpt_stops_decoding_at_its_end(tmp_path):
    pytest.importorskip("av")
    p = tmp_path / "a.m4a"
    sr = 16000
    x = tone(sr, 4.0, 440, 0.5)
    write_m4a(p, x, sr)
    whole, _ = load_audio(p)
    part, _ = load_audio(p, offset=1.0, duration=0.5)
    np.testing.assert_array_equal(part, whole[:, sr:sr + sr // 2])
    with pytest.raises(AudioGSError, match="past the end"):
        load_audio(p, offset=10.0)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002], ids=oct)
def test_atomic_write_gives_the_files_mode_of_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        p = atomic_write(tmp_path / f"out{umask:o}.txt", lambda tmp: tmp.write_text("x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask

def test_clipping_counts_samples_beyond_full_scale():
    from audio_gs.audio_io import clipping

    x = np.array([[0.5, -1.0, 1.0, 1.5], [-2.0, 0.0, 0.1, 0.2]], np.float32)
    assert clipping(x) == (2 / 8, 2.0)  # exactly +-1 is full scale, not beyond it
    assert clipping(np.zeros((1, 0))) == (0.0, 0.0)


@pytest.mark.parametrize("kwargs,fragment", [({"offset": -0.1}, "offset"), ({"duration": 0}, "duration"),
                                             ({"duration": -1.0}, "duration"), ({"offset": float("nan")}, "offset"),
                                             ({"duration": 1e-6}, "no audio samples")])
def test_bad_excerpts_are_one_line_errors(tmp_path, kwargs, fragment):
    p = tmp_path / "a.wav"
    sf.write(p, tone(8000, 0.5), 8000)
    with pytest.raises(AudioGSError, match=fragment):
        load_audio(p, **kwargs)
