"""audio_gs.baselines: Opus / MP3 / Vorbis through libsndfile at a target bitrate, decoded and aligned."""

import json

import numpy as np
import pytest
import soundfile as sf

from audio_gs.bench import baselines as B
from audio_gs.errors import AudioGSError
from audio_gs.bench.metrics import snr_db

from synth import chirp, tone

SR = 16000


def music(seconds=2.0, sr=SR):
    x = tone(sr, seconds, 220, 0.3) + tone(sr, seconds, 330, 0.2, 1.0) + chirp(sr, seconds, 500, 2000, 0.1)
    return x[None, :].astype(np.float32)


@pytest.mark.parametrize("codec, kbps", [("opus", 16), ("mp3", 32), ("vorbis", 24)])
def test_real_bitrate_is_near_the_target_and_equals_the_file_size(codec, kbps):
    x = music()
    data, info = B.encode_at_bitrate(x, SR, codec, kbps)
    assert info["kbps"] == pytest.approx(len(data) * 8 / 2.0 / 1000)
    assert info["bytes"] == len(data)
    assert abs(info["kbps"] / kbps - 1) < 0.35, info


@pytest.mark.parametrize("codec", ["opus", "mp3", "vorbis"])
def test_decoded_signal_has_the_reference_length_rate_and_is_aligned(tmp_path, codec):
    x = music()
    data, _ = B.encode_at_bitrate(x, SR, codec, 64)
    f = tmp_path / f"x{B.CODECS[codec]['ext']}"
    f.write_bytes(data)
    y, info = B.decode_file(f, codec, SR, x)
    assert y.shape == x.shape
    assert snr_db(x, y) > 10, f"{codec} at 64 kbps should match a tone mix once aligned (delay {info['delay_samples']})"


def test_more_bits_give_a_higher_snr_for_mp3():
    x = music()
    snrs = []
    for k in (16, 64):
        data, info = B.encode_at_bitrate(x, SR, "mp3", k)
        path = f"/tmp/_t_{k}.mp3"
        open(path, "wb").write(data)
        y, _ = B.decode_file(path, "mp3", SR, x)
        snrs.append(snr_db(x, y))
    assert snrs[1] > snrs[0]


def test_find_delay_recovers_a_known_lag():
    x = music(1.0)
    y = np.concatenate([np.zeros((1, 1105), np.float32), x], axis=1)
    assert B.find_delay(x, y) == 1105


def test_unknown_codec_is_a_user_error():
    with pytest.raises(AudioGSError, match="unknown baseline codec"):
        B.codec_spec("aac")


def test_roundtrip_cli_writes_coded_decoded_and_info(tmp_path):
    sf.write(str(tmp_path / "ref.wav"), music()[0], SR)
    rc = B.main(["roundtrip", str(tmp_path / "ref.wav"), "-o", str(tmp_path / "c.opus"), "--decoded",
                 str(tmp_path / "d.wav"), "--codec", "opus", "--kbps", "24", "--info", str(tmp_path / "i.json")])
    info = json.loads((tmp_path / "i.json").read_text())
    assert rc == 0 and info["bytes"] == (tmp_path / "c.opus").stat().st_size
    assert info["encode_rate"] == 48000 and "decode_seconds" in info
    y, sr = sf.read(str(tmp_path / "d.wav"))
    assert sr == SR and len(y) == 2 * SR
