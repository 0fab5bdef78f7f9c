"""audio_gs.report: Bjontegaard deltas on curves with known answers, and the report built from a small
synthetic metrics table (plots, tables, embedded players, summary.json, RD CSVs, publish)."""

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from audio_gs.bench import report as RP
from audio_gs.errors import AudioGSError

from synth import tone

RATES = np.array([8.0, 16.0, 32.0, 64.0])
SNR = np.array([10.0, 14.0, 17.0, 19.0])


def test_bd_rate_is_zero_for_the_same_curve_and_100_percent_for_double_rates():
    assert RP.bd_rate(RATES, SNR, RATES, SNR) == pytest.approx(0.0, abs=1e-9)
    assert RP.bd_rate(RATES, SNR, 2 * RATES, SNR) == pytest.approx(100.0, rel=1e-6)
    assert RP.bd_rate(RATES, SNR, RATES / 2, SNR) == pytest.approx(-50.0, rel=1e-6)


def test_bd_quality_is_the_constant_offset():
    assert RP.bd_quality(RATES, SNR, RATES, SNR + 1.5) == pytest.approx(1.5)
    assert RP.bd_quality(RATES, SNR, RATES[:3], SNR[:3] - 2.0) == pytest.approx(-2.0, abs=0.02)  # over the overlap only


def test_bd_without_overlap_raises():
    with pytest.raises(ValueError, match="overlap"):
        RP.bd_rate(RATES, SNR, RATES, SNR + 50)
    with pytest.raises(ValueError, match="fewer than 2"):
        RP.bd_quality(RATES, SNR, RATES[:1], SNR[:1])


def _fake_results(tmp_path):
    """A results folder with 1 clip: audio_gs at 3 counts, Opus at 4 rates; one metric missing."""
    res = tmp_path / "results"
    (res / "ref").mkdir(parents=True)
    sr = 16000
    x = tone(sr, 1.0, 300)
    sf.write(str(res / "ref" / "c1.wav"), x, sr)
    (res / "ref" / "c1.json").write_text(json.dumps({"sample_rate": sr, "duration_s": 1.0, "clip": {
        "id": "c1", "category": "speech", "title": "a tone", "attribution": "me", "licence": "CC0"}}))
    rows = []
    for n, k, s in ((100, 4.0, 8.0), (300, 9.0, 13.0), (900, 25.0, 18.0)):
        d = res / "decoded" / "c1" / "gs-speech"
        d.mkdir(parents=True, exist_ok=True)
        sf.write(str(d / f"n{n}_b8.wav"), x * 0.9, sr)
        fig = res / "fit" / "c1" / "speech" / f"n{n}" / "train"
        fig.mkdir(parents=True)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        plt.figure(figsize=(2, 1))
        plt.savefig(fig / "gaussians_visualization.png")
        plt.close()
        rows.append({"category": "speech", "clip": "c1", "system": "audio_gs", "series": "audio_gs-speech-b8",
                     "config": "speech", "gaussians": n, "bits": 8, "kbps": k, "snr_db": s, "pesq_wb": 1 + s / 10,
                     "compression_ratio": 256 / k, "encode_seconds": 3.0, "decode_rtf": 0.01, "fit_steps": 20,
                     "decoded_path": str(d / f"n{n}_b8.wav"), "missing_visqol": "ViSQOL failed: test"})
    for t, k, s in ((8, 8.5, 6.0), (16, 16.2, 10.0), (32, 32.1, 15.0), (64, 64.0, 21.0)):
        d = res / "decoded" / "c1" / "opus"
        d.mkdir(parents=True, exist_ok=True)
        sf.write(str(d / f"k{t}.wav"), x * 0.8, sr)
        rows.append({"category": "speech", "clip": "c1", "system": "opus", "series": "opus", "codec": "opus",
                     "target_kbps": float(t), "kbps": k, "snr_db": s, "pesq_wb": 1.5 + s / 10,
                     "compression_ratio": 256 / k, "encode_seconds": 0.1, "decode_rtf": 0.001,
                     "decoded_path": str(d / f"k{t}.wav"), "missing_visqol": "ViSQOL failed: test"})
    pd.DataFrame(rows).to_csv(res / "metrics.csv", index=False)
    bench = {"profile": "t", "profiles": {"t": {"report": {"player_count": "max"}}},
             "claims": [{"category": "speech", "gaussians": 300, "compression": 100, "snr_db": 20, "kbps": 8},
                        {"category": "piano", "gaussians": 500, "compression": 60, "snr_db": 25, "kbps": 16}]}
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(bench))
    return res


def test_report_has_tables_plots_players_and_honest_gaps(tmp_path):
    res = _fake_results(tmp_path)
    out = tmp_path / "reports"
    summary = RP.build(res / "metrics.csv", tmp_path / "bench.yaml", "t", res, out)
    import html as htmllib

    html = htmllib.unescape((out / "index.html").read_text())
    md = (out / "report.md").read_text()
    # self-contained: images and audio embedded, no links to local files
    assert html.count("data:image/png;base64,") >= 2 and html.count("data:audio/flac;base64,") == 3
    assert "src='figures/" not in html and 'src="figures/' not in html
    # claims beside measurements; unmeasured claim says so instead of inventing a number
    assert "not measured: this count/bits is not in the profile's grid" in html
    claim = [c for c in summary["claims"] if c["category"] == "speech"][0]
    assert claim["measured_snr_db"] == pytest.approx(13.0) and claim["measured_kbps"] == pytest.approx(9.0)
    # missing metric listed with its reason; SNR beside a perceptual metric
    assert "ViSQOL failed: test" in html and "ViSQOL failed: test" in md
    assert "SNR" in html and "PESQ" in html
    # BD-rate vs Opus: audio_gs needs fewer bits for the same SNR on these numbers
    bd = summary["categories"]["speech"]["bd"]["audio_gs-speech-b8_vs_opus"]
    assert bd["bd_rate_snr_pct"] < 0 and bd["bd_snr_db"] > 0
    # RD CSVs and figures on disk
    assert {p.name for p in (out / "rd").iterdir()} == {"speech__audio_gs-speech-b8.csv", "speech__opus.csv"}
    assert (out / "figures" / "rd_speech.png").stat().st_size > 10000
    assert (out / "figures" / "gaussians_c1_n300.png").is_file()
    assert len(list((out / "audio").glob("*.flac"))) == 3
    assert "![speech RD](figures/rd_speech.png)" in md


def test_publish_copies_the_report_and_refuses_an_unbuilt_one(tmp_path):
    res = _fake_results(tmp_path)
    RP.build(res / "metrics.csv", tmp_path / "bench.yaml", "t", res, tmp_path / "reports")
    dest = RP.publish(tmp_path / "reports", tmp_path / "site" / "audio_gs")
    assert (dest / "index.html").read_text() == (tmp_path / "reports" / "index.html").read_text()
    assert (dest / "figures" / "rd_speech.png").is_file()
    with pytest.raises(AudioGSError, match="no index.html"):
        RP.publish(tmp_path / "empty", tmp_path / "x")


def test_rd_front_drops_dominated_points_and_bd_stays_bounded():
    r, q = RP.rd_front([40.7, 40.7, 48, 64, 96], [18.2, 18.2, 17.0, 26.6, 33.9])
    assert list(r) == [40.7, 64, 96] and list(q) == [18.2, 26.6, 33.9]
    # a curve that saturates (PESQ-like) does not make the delta explode
    ref_r, ref_q = [9.6, 16, 32, 64, 96], [2.2, 3.9, 4.27, 4.24, 4.54]
    v = RP.bd_quality(ref_r, ref_q, [7.4, 18.5, 43.6], [1.2, 1.6, 3.0])
    assert -4 < v < 0
