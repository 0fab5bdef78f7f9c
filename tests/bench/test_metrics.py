"""audio_gs.metrics: each metric on signals with known answers; failures recorded as missing with a reason."""

import json
import math

import numpy as np
import pytest
import soundfile as sf

from audio_gs.bench import metrics as M

from synth import chirp, tone

SR = 16000


def speechlike(seconds=2.0, sr=SR, seed=0):
    """Harmonic bursts with pauses: enough structure for PESQ / STOI / ViSQOL."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140 + 30 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = (np.sin(2 * np.pi * 2.0 * t) > -0.2).astype(float)
    env = np.convolve(env, np.hanning(400) / 200, mode="same")
    return (0.2 * x * env + 0.002 * rng.standard_normal(t.size)).astype(np.float64)


def test_snr_of_known_noise_level():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(SR)
    noise = rng.standard_normal(SR)
    noise *= np.sqrt(np.sum(ref**2) / np.sum(noise**2)) * 10 ** (-20 / 20)
    assert M.snr_db(ref, ref + noise) == pytest.approx(20.0, abs=1e-6)
    assert M.snr_db(ref, ref) == math.inf


def test_si_sdr_ignores_gain_but_snr_does_not():
    ref = speechlike(1.0)
    deg = 0.5 * ref + 0.001 * np.random.default_rng(0).standard_normal(ref.size)
    assert M.si_sdr_db(ref, deg) > 30
    assert M.snr_db(ref, deg) < 7


def test_segmental_snr_is_clamped_to_its_range():
    ref = speechlike(1.0)
    assert M.segmental_snr_db(ref, ref, SR) == pytest.approx(35.0)
    assert M.segmental_snr_db(ref, -4 * ref, SR) == pytest.approx(-10.0)  # error 5x the signal: -14 dB


def test_spectral_distances_are_zero_for_identical_signals_and_grow_with_noise():
    ref = speechlike(1.0)
    noisy = ref + 0.05 * np.random.default_rng(0).standard_normal(ref.size)
    assert M.log_spectral_distance(ref, ref, SR) == pytest.approx(0.0, abs=1e-9)
    assert M.multires_mel_distance(ref, ref, SR) == pytest.approx(0.0, abs=1e-9)
    assert M.log_spectral_distance(ref, noisy, SR) > 1.0
    assert M.multires_mel_distance(ref, noisy, SR) > 0.05


def test_perceptual_metrics_rank_clean_above_noisy():
    ref = speechlike(3.0)
    rng = np.random.default_rng(0)
    light = ref + 0.003 * rng.standard_normal(ref.size)
    heavy = ref + 0.05 * rng.standard_normal(ref.size)
    for fn in (lambda d: M.pesq_wb(ref, d, SR), lambda d: M.stoi_score(ref, d, SR)):
        assert fn(light) > fn(heavy)
    assert 1.0 <= M.pesq_wb(ref, light, SR) <= 4.65
    v_light, note = M.visqol_score(ref, light, SR, "speech")
    v_heavy, _ = M.visqol_score(ref, heavy, SR, "speech")
    assert v_light > v_heavy and "16000" in note
    a_light, note = M.visqol_score(ref, light, SR, "audio")
    assert 1.0 <= a_light <= 5.0 and "48000" in note


def test_mir_eval_sdr_close_to_snr_for_additive_noise():
    ref = speechlike(1.0)
    deg = ref + 0.01 * np.random.default_rng(0).standard_normal(ref.size)
    assert M.sdr_mir_eval(ref, deg) == pytest.approx(M.snr_db(ref, deg), abs=1.5)


def test_too_short_signal_records_missing_metrics_with_reasons_not_values():
    ref = speechlike(0.1)
    row = M.evaluate(ref, ref * 0.9, SR)
    assert row["pesq_wb"] is None and "too short" in row["missing"]["pesq_wb"]
    assert row["stoi"] is None and "STOI" in row["missing"]["stoi"]
    assert row["snr_db"] == pytest.approx(20.0, abs=1e-6)  # the computable ones are still there


def test_silent_reference_is_missing_everywhere_it_matters():
    row = M.evaluate(np.zeros(SR), np.zeros(SR), SR, metrics=["snr_db", "si_sdr_db", "sdr_db"])
    for k in ("snr_db", "si_sdr_db", "sdr_db"):
        assert row[k] is None and row["missing"][k]


def test_rate_from_real_file_size(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"\0" * 2000)
    assert M.file_bitrate_kbps(f, 2.0) == pytest.approx(8.0)
    assert M.compression_ratio(f, 2.0, 16000) == pytest.approx(32.0)
    row = M.evaluate(tone(SR, 1.0), tone(SR, 1.0) * 0.5, SR, coded_file=f, metrics=["snr_db"])
    assert row["kbps"] == pytest.approx(16.0) and row["bytes"] == 2000
    assert "encode_seconds" in row["missing"] and row["decode_rtf"] is None


def test_lengths_are_matched_and_the_difference_recorded():
    row = M.evaluate(chirp(SR, 1.0), np.concatenate([chirp(SR, 1.0), np.zeros(100)]), SR, metrics=["snr_db"])
    assert row["length_diff_samples"] == 100 and row["snr_db"] > 100


def test_cli_writes_one_row_with_typed_meta_and_timings(tmp_path):
    ref = speechlike(2.0)
    sf.write(str(tmp_path / "ref.wav"), ref, SR)
    sf.write(str(tmp_path / "deg.wav"), ref * 0.9, SR)
    (tmp_path / "coded.bin").write_bytes(b"\0" * 1000)
    (tmp_path / "t.json").write_text(json.dumps({"decode_seconds": 0.2}))
    (tmp_path / "s.json").write_text(json.dumps({"fit_seconds": 3.0, "n_gaussians": 40, "snr_db": 19.0, "steps": 5}))
    out = tmp_path / "row.json"
    rc = M.main(["--reference", str(tmp_path / "ref.wav"), "--decoded", str(tmp_path / "deg.wav"),
                 "--coded_file", str(tmp_path / "coded.bin"), "--timing_json", str(tmp_path / "t.json"),
                 "--fit_summary", str(tmp_path / "s.json"),
                 "--meta", "gaussians=40", "--meta", "clip=abc", "--metrics", "snr_db,lsd_db", "-o", str(out)])
    row = json.loads(out.read_text())
    assert rc == 0 and row["gaussians"] == 40 and row["clip"] == "abc"
    assert row["snr_db"] == pytest.approx(20.0, abs=0.1)
    assert row["encode_seconds"] == 3.0 and row["decode_rtf"] == pytest.approx(0.1)
    assert row["kbps"] == pytest.approx(4.0) and row["gaussians_fitted"] == 40 and row["fit_snr_db"] == 19.0
