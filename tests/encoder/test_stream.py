"""Streaming encode: WAV streams read without seeking, window-by-window encoding, and an encode fed from
a pipe whose partial output decodes after its first window."""

import io
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from synth import chirp, tone

from audio_gs.codec import stream as layout
from audio_gs.codec.compress import read_stream
from audio_gs.encoder.config import resolve_config
from audio_gs.encoder.losses import snr_db
from audio_gs.encoder.stream import encode_stream, iter_file_blocks, read_wav_stream, wav_bytes
from audio_gs.errors import AudioGSError

SR = 8000
SMALL = {"window_seconds": 0.5, "scales_ms": [2, 4, 8], "mp_atoms_per_round": 400, "num_steps": 10,
         "noise_per_second": 20, "noise_steps": 30, "add_gaussians_steps": [], "ls_every": 0, "kbps": 16}


def signal(seconds=1.5):
    return (tone(SR, seconds, 440, 0.3) + chirp(SR, seconds, 300, 1500, 0.2))[None]


class Pipe(io.RawIOBase):
    """A read-only, non-seekable stream that hands out at most `step` bytes per read."""

    def __init__(self, data, step=1000):
        self.b, self.pos, self.step = data, 0, step

    def readable(self):
        return True

    def read(self, n=-1):
        n = self.step if n < 0 else min(n, self.step)
        out = self.b[self.pos:self.pos + n]
        self.pos += len(out)
        return out


def test_wav_stream_read_without_seeking_and_unknown_size():
    x = signal(0.3)
    data = bytearray(wav_bytes(x, SR))
    data[40:44] = struct.pack("<I", 0xFFFFFFFF)  # what a tool piping WAV writes as the data size
    sr, ch, blocks = read_wav_stream(Pipe(bytes(data), step=777))
    y = np.concatenate(list(blocks), axis=1)
    assert (sr, ch) == (SR, 1) and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1 / 32767)


def test_wav_stream_float_and_24_bit():
    import soundfile as sf

    x = signal(0.1)
    for subtype, tol in (("FLOAT", 1e-7), ("PCM_24", 2 ** -22)):
        b = io.BytesIO()
        sf.write(b, x.T, SR, format="WAV", subtype=subtype)
        _, _, blocks = read_wav_stream(io.BytesIO(b.getvalue()))
        np.testing.assert_allclose(np.concatenate(list(blocks), axis=1), x, atol=tol)


@pytest.mark.parametrize("data, msg", [(b"RIFF\0\0\0\0WAVEfmt ", "ends inside"), (b"OggS" + bytes(40), "not a WAV"),
                                       (b"RIFF\0\0\0\0WAVEdata\0\0\0\0", "without a fmt")])
def test_bad_wav_streams_are_refused(data, msg):
    with pytest.raises(AudioGSError, match=msg):
        read_wav_stream(io.BytesIO(data))


def test_encode_stream_windows_rate_and_quality():
    x = signal()
    cfg = resolve_config(None, SMALL)
    out, seen = io.BytesIO(), []
    res = encode_stream(iter_file_blocks(x, 700), SR, 1, cfg, out.write, on_window=lambda *a: seen.append(a[1:3]))
    assert seen == [(0, 4000), (4000, 8000), (8000, 12000)]  # 0.5 s cores; the rest (0.5 s) is the last
    sf = read_stream(out.getvalue())
    assert sf.complete and sf.n_samples == x.shape[1] and res["bytes"] == len(out.getvalue())
    y = layout.render_stream(sf)
    assert snr_db(x, y) > 10.0
    assert abs(res["kbps"] / 16 - 1) < 0.15  # per-window rate control, block headers included


def test_encode_stream_needs_a_rate():
    with pytest.raises(AudioGSError, match="kbps"):
        encode_stream(iter_file_blocks(signal()), SR, 1, resolve_config(None, dict(SMALL, kbps=None)), print)


def test_encode_from_a_pipe_decodes_after_the_first_window(tmp_path):
    x = signal(2.0)
    wav = wav_bytes(x, SR)
    cfg = tmp_path / "small.yaml"
    cfg.write_text(yaml.safe_dump({k: v for k, v in SMALL.items() if k != "kbps"}))
    out = tmp_path / "piped.ags"
    part = tmp_path / "piped.ags.part"
    p = subprocess.Popen([sys.executable, "-m", "audio_gs", "encode", "-", "-o", str(out), "--config", str(cfg),
                          "--kbps", "16"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = 44 + 2 * (4000 + 400 + 1)  # header, then the first window's core, its margin and a sample more
    p.stdin.write(wav[:first])
    p.stdin.flush()
    sf, deadline = None, time.time() + 240
    while time.time() < deadline and p.poll() is None:
        if part.exists() and part.stat().st_size > layout.HEADER_BYTES:
            sf = read_stream(part.read_bytes())
            if sf.blocks:
                break
        time.sleep(0.2)
    assert sf is not None and sf.blocks, p.stderr.read().decode() if p.poll() is not None else "no block in time"
    assert not sf.complete and sf.n_samples == 4000 and not out.exists()  # the rest has not been sent yet
    y = layout.render_stream(sf)
    assert snr_db(x[:, :4000], y) > 10.0  # the partial file decodes the first window
    rest, err = p.communicate(wav[first:], timeout=240)
    assert p.returncode == 0, err.decode()
    assert out.exists() and not part.exists()
    full = read_stream(out.read_bytes())
    assert full.complete and full.n_samples == x.shape[1]
    assert snr_db(x, layout.render_stream(full)) > 10.0


def test_a_pause_in_the_stream_stays_silent():
    """Silent windows become empty blocks; the look-ahead does not spread the next onset back into the pause."""
    x = np.concatenate([tone(SR, 1.0, 440, 0.3), np.zeros(2 * SR, np.float32), chirp(SR, 1.0, 300, 1500, 0.2)])[None]
    out, seen = io.BytesIO(), []
    encode_stream(iter_file_blocks(x, 700), SR, 1, resolve_config(None, SMALL), out.write,
                  on_window=lambda i, lo, hi, info: seen.append(info.get("silent", False)))
    assert sum(seen) >= 2  # 1.5-2.5 s: nothing left to code
    y = layout.render_stream(read_stream(out.getvalue()))
    onset = 3 * SR
    assert np.abs(y[:, SR + 2000:onset - 2000]).max() < 5e-3  # the pause, away from its two edges
    assert np.abs(y[:, onset - 2000:onset - 800]).max() < 0.02  # no pre-echo of the chirp (0.2) beyond the atoms' reach
