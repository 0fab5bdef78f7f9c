"""audio_gs.bench.report: the report built from a small synthetic metrics table (sections through both
templates, per-clip panels, BD spread and its sentence, codec libraries and overheads, credits, players,
headline summary.json, RD CSVs, publish)."""

import html as htmllib
import json
import math
import re

import pandas as pd
import pytest
import soundfile as sf
import yaml

from audio_gs.bench import report as RP
from audio_gs.errors import AudioGSError

from synth import tone

SR = 16000


def _png(path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    plt.figure(figsize=(2, 1))
    plt.savefig(path)
    plt.close()


def _fake_results(tmp_path, gs_snr_c2=(5.0, 8.0, 11.0)):
    """Two speech clips: audio_gs at 8/16/32 kbps, Opus and MP3 at 4 rates; on c1 audio_gs beats Opus on
    SNR, on c2 (SNR gs_snr_c2) it does not; ViSQOL missing on every row."""
    res = tmp_path / "results"
    (res / "ref").mkdir(parents=True)
    x = tone(SR, 1.0, 300)
    rows = []
    for clip, gs_snr in (("c1", (12.0, 16.0, 20.0)), ("c2", gs_snr_c2)):
        sf.write(str(res / "ref" / f"{clip}.wav"), x, SR)
        (res / "ref" / f"{clip}.json").write_text(json.dumps({"sample_rate": SR, "duration_s": 1.0, "clip": {
            "id": clip, "category": "speech", "title": f"title of {clip}", "attribution": f"recorded by {clip}-author",
            "licence": "CC BY 4.0", "licence_url": "https://creativecommons.org/licenses/by/4.0/",
            "url": f"https://example.org/{clip}.wav", "source": "sources.yaml"}}))
        for k, real, s in zip((8, 16, 32), (7.9, 15.6, 31.0), gs_snr):
            d = res / "decoded" / clip / "gs-speech"
            d.mkdir(parents=True, exist_ok=True)
            sf.write(str(d / f"k{k}.wav"), x * 0.9, SR)
            _png(res / "fit" / clip / "speech" / f"k{k}" / "train" / "gaussians_visualization.png")
            rows.append({"category": "speech", "clip": clip, "system": "audio_gs", "series": "audio_gs-speech",
                         "point": f"k{k}", "config": "speech", "target_kbps": float(k), "gaussians": 100 * k,
                         "kbps": real, "snr_db": s, "pesq_wb": 1 + s / 10, "compression_ratio": 256 / real,
                         "encode_seconds": 3.0, "decode_rtf": 0.01, "fit_steps": 20, "codec_library": "audio_gs 0.1.0",
                         "container_overhead_bytes": 60, "decoded_path": str(d / f"k{k}.wav"),
                         "missing_visqol": "ViSQOL failed: test"})
        for codec, lib, over in (("opus", "libsndfile 1.2.2 / libopus 1.5", 250), ("mp3", "libsndfile 1.2.2 / LAME3.100", 417)):
            for t, real, s in ((8, 8.5, 6.0), (16, 16.2, 10.0), (32, 32.1, 15.0), (64, 64.0, 21.0)):
                d = res / "decoded" / clip / codec
                d.mkdir(parents=True, exist_ok=True)
                sf.write(str(d / f"k{t}.wav"), x * 0.8, SR)
                rows.append({"category": "speech", "clip": clip, "system": codec, "series": codec, "codec": codec,
                             "point": f"k{t}", "target_kbps": float(t), "kbps": real, "snr_db": s,
                             "pesq_wb": 1.5 + s / 10, "compression_ratio": 256 / real, "encode_seconds": 0.1,
                             "decode_rtf": 0.001, "codec_library": lib, "container_overhead_bytes": over,
                             "decoded_path": str(d / f"k{t}.wav"), "missing_visqol": "ViSQOL failed: test"})
    pd.DataFrame(rows).to_csv(res / "metrics.csv", index=False)
    bench = {"profile": "t", "profiles": {"t": {"report": {"player_kbps": 16}}},
             "claims": [{"category": "speech", "gaussians": 300, "compression": 100, "snr_db": 20, "kbps": 8},
                        {"category": "piano", "gaussians": 500, "compression": 60, "snr_db": 25, "kbps": 16}]}
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(bench))
    bdir = res / "benchmarks" / "fit_rate" / "c1" / "speech"
    bdir.mkdir(parents=True)
    (bdir / "k8.tsv").write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t300.0\n")
    return res


@pytest.fixture
def built(tmp_path):
    res = _fake_results(tmp_path)
    out = tmp_path / "reports"
    summary = RP.build(res / "metrics.csv", tmp_path / "bench.yaml", "t", res, out)
    return {"out": out, "summary": summary, "html": htmllib.unescape((out / "index.html").read_text()),
            "md": (out / "report.md").read_text()}


def test_report_is_self_contained_with_plots_players_and_honest_gaps(built):
    html, md, out = built["html"], built["md"], built["out"]
    # images and audio embedded, no links to local files
    assert html.count("data:image/png;base64,") >= 4 and html.count("data:audio/flac;base64,") == 6
    assert "src='figures/" not in html and 'src="figures/' not in html
    # missing metric listed with its reason; SNR beside the perceptual metrics
    assert "ViSQOL failed: test" in html and "ViSQOL failed: test" in md
    assert "SNR" in html and "PESQ" in html and "ViSQOL" in html
    assert (out / "figures" / "rd_speech.png").stat().st_size > 10000
    assert len(list((out / "audio").glob("*.flac"))) == 6
    assert "![speech RD](figures/rd_speech.png)" in md


def test_markdown_and_html_render_the_same_sections(built):
    h2_html = re.findall(r"<h2>(.*?)</h2>", built["html"])
    h2_md = re.findall(r"^## (.*)$", built["md"], re.M)
    assert h2_html == h2_md and len(h2_md) >= 10
    # a table renders as a Markdown table and an HTML table with the same cells
    assert "| category | audio_gs series | vs codec |" in built["md"]
    assert "<th>audio_gs series</th>" in built["html"]


def test_every_clip_has_its_own_rd_panel(built):
    out, md = built["out"], built["md"]
    panels = sorted(p.name for p in (out / "figures" / "clips").glob("*.png"))
    assert panels == ["rd_c1.png", "rd_c2.png"]
    assert "![c1 RD](figures/clips/rd_c1.png)" in md and "![c2 RD](figures/clips/rd_c2.png)" in md


def test_bd_table_shows_the_spread_and_says_when_a_result_does_not_hold_on_every_clip(built, tmp_path):
    per_clip = pd.read_csv(built["out"] / "bd_per_clip.csv")
    opus = per_clip[(per_clip["codec"] == "opus")].set_index("clip")
    assert opus.loc["c1", "bd_rate_snr_pct"] < 0 < opus.loc["c2", "bd_rate_snr_pct"]
    cat = pd.read_csv(built["out"] / "bd_category.csv").set_index("codec")
    assert cat.loc["opus", "bd_rate_snr_pct_min"] == pytest.approx(opus["bd_rate_snr_pct"].min(), abs=1e-3)
    assert cat.loc["opus", "bd_rate_snr_pct_max"] == pytest.approx(opus["bd_rate_snr_pct"].max(), abs=1e-3)
    assert cat.loc["opus", "bd_rate_snr_pct"] == pytest.approx(opus["bd_rate_snr_pct"].mean(), abs=1e-3)
    assert "On SNR, the sign of the category mean holds on every clip for" in built["md"]
    assert "it does not for" in built["md"] and "speech vs opus (mean" in built["md"]
    # when every clip agrees, the sentence says so
    res2 = _fake_results(tmp_path / "agree", gs_snr_c2=(11.0, 15.0, 19.0))
    RP.build(res2 / "metrics.csv", tmp_path / "agree" / "bench.yaml", "t", res2, tmp_path / "agree" / "rep")
    md2 = (tmp_path / "agree" / "rep" / "report.md").read_text()
    assert "On SNR, the sign of every category mean holds on every clip (2 of 2 category-codec pairs)." in md2
    assert "No BD-rate on ViSQOL could be computed on any clip" in md2  # ViSQOL missing everywhere: said, not invented


def test_codec_table_names_library_versions_and_container_overhead(built):
    md = built["md"]
    row = next(ln for ln in md.splitlines() if ln.startswith("| opus |"))
    assert "libsndfile 1.2.2 / libopus 1.5" in row and "| 250 |" in row and "8.5 kbps (target 8)" in row
    assert "audio_gs 0.1.0" in md and "LAME3.100" in md


def test_credits_table_credits_every_clip(built):
    md = built["md"]
    for clip in ("c1", "c2"):
        row = next(ln for ln in md.splitlines() if ln.startswith(f"| {clip} | speech | title of {clip}"))
        assert f"recorded by {clip}-author" in row and "CC BY 4.0" in row
        assert f"https://example.org/{clip}.wav" in row and "https://creativecommons.org/licenses/by/4.0/" in row


def test_players_play_original_audio_gs_and_opus_near_the_player_rate(built):
    md = built["md"]
    line = next(ln for ln in md.splitlines() if ln.startswith("- **c1**"))
    assert "[original](audio/c1__original.flac)" in line
    assert "[audio_gs](audio/c1__audio_gs-speech_k16.flac)" in line and "audio_gs-speech 16 kbps: 15.6 kbps real" in line
    assert "[Opus](audio/c1__opus_k16.flac)" in line


def test_claims_are_compared_at_the_claimed_rate_when_the_grid_has_rate_points(built):
    md = built["md"]
    row = next(ln for ln in md.splitlines() if ln.startswith("| speech | 300 |"))
    assert "target 8 kbps" in row and "| 7.90 |" in row  # mean real kbps of the two k8 points
    assert "not measured: neither this count nor this rate is in the profile's grid" in md


def test_summary_json_holds_only_the_headline_figures(built):
    s = json.loads((built["out"] / "summary.json").read_text())
    assert set(s) == {"profile", "clips", "decoded_files", "grid_wall_min", "bd_rate_pct"}
    assert set(s["bd_rate_pct"]["speech"]) == {"opus", "mp3"}
    opus = s["bd_rate_pct"]["speech"]["opus"]
    assert set(opus) == {"snr", "pesq", "visqol"} and opus["visqol"] is None
    assert opus["snr"] == round(opus["snr"], 1) and math.isfinite(opus["snr"])
    assert s["grid_wall_min"] >= 0
    assert {p.name for p in (built["out"] / "rd").iterdir()} == {"speech__audio_gs-speech.csv", "speech__opus.csv",
                                                                 "speech__mp3.csv"}


def test_publish_copies_the_report_and_refuses_an_unbuilt_one(built, tmp_path):
    dest = RP.publish(built["out"], tmp_path / "site" / "audio_gs")
    assert (dest / "index.html").read_text() == (built["out"] / "index.html").read_text()
    assert (dest / "figures" / "rd_speech.png").is_file()
    with pytest.raises(AudioGSError, match="no index.html"):
        RP.publish(tmp_path / "empty", tmp_path / "x")


def test_every_clips_bd_rate_is_listed_behind_the_means(built):
    md = built["md"]
    rows = [ln for ln in md.splitlines() if ln.startswith("| speech | c") and "| audio_gs-speech | opus |" in ln]
    assert len(rows) == 2  # one row per clip for this pair
    assert "<details><summary>" in built["html"]
