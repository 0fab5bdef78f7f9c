"""audio_gs.bench.scoring (and metrics.score_item, the row it builds): many decoded files scored against one reference in one process, each row with
its side files' facts (fit summary, codec info, decode timing, .ags header) and the real file size; and
the in-process decode of audio_gs.bench.benchmark that the pipeline scores."""

import json

import numpy as np
import pytest
import soundfile as sf
from synth import random_gabor, tone

from audio_gs.bench import benchmark as BM
from audio_gs.bench import metrics as M
from audio_gs.bench import scoring as S
from audio_gs.codec.compress import write_ags
from audio_gs.codec.model import Model
from audio_gs.errors import AudioGSError

SR = 16000


def _ags(path):
    g = random_gabor(60, sr=SR, seconds=1.0, n_channels=1, seed=1)
    write_ags(path, Model(sample_rate=SR, n_samples=SR, gabor=g, n_channels=1, stereo_mode="lr"))
    return path


def test_decode_writes_the_file_alone_decoded_and_its_time(tmp_path):
    ags = _ags(tmp_path / "m.ags")
    info = BM.decode_ags(ags, tmp_path / "m.wav", repeat=2)
    y, sr = sf.read(str(tmp_path / "m.wav"))
    assert sr == SR and len(y) == SR and info["n_samples"] == SR and info["decode_seconds"] > 0
    assert BM.main(["decode", str(ags), "-o", str(tmp_path / "c.wav"), "--timing", str(tmp_path / "t.json")]) == 0
    assert json.loads((tmp_path / "t.json").read_text())["n_gaussians_coded"] == info["n_gaussians_coded"]
    assert np.array_equal(sf.read(str(tmp_path / "c.wav"))[0], y)  # decoding is deterministic


def test_one_process_scores_every_item_with_its_side_files(tmp_path):
    ref = tone(SR, 1.0, 300)
    sf.write(str(tmp_path / "ref.wav"), ref, SR)
    ags = _ags(tmp_path / "k16.ags")
    BM.decode_ags(ags, tmp_path / "gs.wav")
    (tmp_path / "gs.timing.json").write_text(json.dumps({"decode_seconds": 0.05}))
    (tmp_path / "summary.json").write_text(json.dumps({"fit_seconds": 3.0, "n_gaussians": 60, "n_noise_gaussians": 4,
                                                       "snr_db": 19.0, "steps": 5, "target_kbps": 16.0}))
    sf.write(str(tmp_path / "opus.wav"), ref * 0.5, SR)
    (tmp_path / "k8.opus").write_bytes(b"\0" * 1000)
    (tmp_path / "k8.info.json").write_text(json.dumps({
        "library": "libsndfile 1.2.2 / libopus 1.5", "container_overhead_bytes": 250, "container_framing_bytes": 30,
        "encode_seconds": 0.1, "decode_seconds": 0.01, "level": 0.4, "target_reached": True}))
    items = [{"decoded": str(tmp_path / "gs.wav"), "coded": str(ags), "timing": str(tmp_path / "gs.timing.json"),
              "fit_summary": str(tmp_path / "summary.json"), "meta": {"point": "k16", "system": "audio_gs"}},
             {"decoded": str(tmp_path / "opus.wav"), "coded": str(tmp_path / "k8.opus"),
              "timing": str(tmp_path / "k8.info.json"), "codec_info": str(tmp_path / "k8.info.json"),
              "meta": {"point": "k8", "system": "opus"}}]
    out = tmp_path / "rows.json"
    assert S.main(["--reference", str(tmp_path / "ref.wav"), "--plan", json.dumps(items), "--metrics", "snr_db",
                   "-o", str(out)]) == 0
    gs, opus = json.loads(out.read_text())
    assert gs["point"] == "k16" and gs["gaussians"] == 60 and gs["noise_gaussians"] == 4 and gs["fit_seconds"] == 3.0
    assert gs["bytes"] == ags.stat().st_size and gs["kbps"] == pytest.approx(ags.stat().st_size * 8 / 1000)
    assert gs["codec_library"].startswith("audio_gs ") and 0 < gs["container_overhead_bytes"] < gs["bytes"]
    assert gs["decode_seconds"] == 0.05 and gs["encode_seconds"] == 3.0
    assert opus["codec_library"] == "libsndfile 1.2.2 / libopus 1.5" and opus["container_overhead_bytes"] == 250
    assert opus["snr_db"] == pytest.approx(20 * np.log10(2), abs=1e-3) and opus["kbps"] == pytest.approx(8.0)
    assert opus["encode_seconds"] == 0.1 and opus["codec_level"] == 0.4


def test_a_bad_plan_is_one_clear_error(tmp_path, capsys):
    sf.write(str(tmp_path / "ref.wav"), tone(SR, 0.5, 300), SR)
    assert S.main(["--reference", str(tmp_path / "ref.wav"), "--plan", "{not json", "-o", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --plan is not valid JSON") and err.count("\n") == 1
    assert not (tmp_path / "o.json").exists()
    with pytest.raises(AudioGSError, match="no such file"):
        M.item_facts({"decoded": "x.wav", "fit_summary": str(tmp_path / "missing.json")})
