"""audio_gs.codec.output: block-by-block writers (WAV by the standard library, also to a pipe; FLAC/OGG
by soundfile), clipping counted, nothing left behind on failure."""

import io
import wave

import numpy as np
import pytest
import soundfile as sf

from audio_gs.codec.output import output_format, pcm16, write_blocks
from audio_gs.errors import AudioGSError


def _blocks(x, size):
    return (x[:, i:i + size] for i in range(0, x.shape[1], size))


def test_wav_blocks_read_back_within_half_a_step_and_clipped_samples_are_counted(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.3, 1.3, (2, 5000))
    clipped = write_blocks(tmp_path / "a.wav", _blocks(x, 777), sample_rate=8000, n_channels=2, n_frames=5000)
    y, sr = sf.read(tmp_path / "a.wav", always_2d=True)
    assert sr == 8000 and y.shape == (5000, 2)
    inside = np.abs(x.T) < 32767 / 32768
    assert np.abs(y - x.T)[inside].max() <= 0.5 / 32768 + 1e-12
    assert np.array_equal(y[~inside], np.where(x.T[~inside] > 0, 32767, -32768) / 32768)
    assert clipped == int(np.count_nonzero(np.abs(x) > 1))


@pytest.mark.parametrize("ext", [".flac", ".ogg"])
def test_flac_and_ogg_are_written_block_by_block(tmp_path, ext):
    t = np.arange(8000) / 8000
    x = 0.5 * np.stack([np.sin(2 * np.pi * 440 * t)])
    assert write_blocks(tmp_path / f"a{ext}", _blocks(x, 1000), sample_rate=8000, n_channels=1, n_frames=8000) == 0
    y, sr = sf.read(tmp_path / f"a{ext}", always_2d=True)
    assert sr == 8000 and y.shape == (8000, 1)
    if ext == ".flac":
        assert np.abs(y[:, 0] - x[0]).max() < 1e-4


def test_pcm16_rounds_to_the_nearest_step_and_interleaves_channels():
    x = np.array([[-1.5, -1.0, -0.5, 0.0, 1e-5, 0.5, 1.0, 2.0], [0, 0, 0, 0, 0, 0, 0, 0.25]])
    assert np.frombuffer(pcm16(x), "<i2").tolist()[::2] == [-32768, -32768, -16384, 0, 0, 16384, 32767, 32767]
    assert np.frombuffer(pcm16(x), "<i2").tolist()[-1] == 8192


def test_a_wav_stream_needs_no_seek(monkeypatch):
    class Pipe(io.RawIOBase):
        def __init__(self):
            self.data = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.data += bytes(b)
            return len(b)

        def seek(self, *a):
            raise OSError("illegal seek")

        def tell(self):
            raise OSError("illegal seek")

    pipe = Pipe()
    monkeypatch.setattr("sys.stdout", type("S", (), {"buffer": pipe})())
    x = np.linspace(-0.9, 0.9, 3000)[None]
    write_blocks("-", _blocks(x, 1000), sample_rate=16000, n_channels=1, n_frames=3000)
    with wave.open(io.BytesIO(bytes(pipe.data))) as w:
        assert (w.getnframes(), w.getframerate(), w.getnchannels()) == (3000, 16000, 1)
        assert w.readframes(3000) == pcm16(x)


def test_a_failure_leaves_no_file(tmp_path):
    def failing():
        yield np.zeros((1, 100))
        raise AudioGSError("boom")

    with pytest.raises(AudioGSError, match="boom"):
        write_blocks(tmp_path / "a.wav", failing(), sample_rate=8000, n_channels=1, n_frames=200)
    assert list(tmp_path.iterdir()) == []


def test_unknown_formats_and_oversized_wavs_are_refused(tmp_path):
    assert output_format("-") == "WAV" and output_format("x.FLAC") == "FLAC"
    with pytest.raises(AudioGSError, match="not supported"):
        output_format(tmp_path / "a.mp3")
    with pytest.raises(AudioGSError, match="too long for a WAV"):
        write_blocks(tmp_path / "a.wav", iter(()), sample_rate=48000, n_channels=2, n_frames=1 << 30)
    assert list(tmp_path.iterdir()) == []
