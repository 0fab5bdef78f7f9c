"""audio_gs.bench.benchmark: the grid a profile describes, wildcards, score plans, aggregation of rows into one
CSV and the grid's wall time."""

import json
from pathlib import Path

import pytest
import yaml

from audio_gs.bench import benchmark as BM
from audio_gs.errors import AudioGSError

REPO = Path(__file__).resolve().parents[2]


def cfg():
    return yaml.safe_load((REPO / "params" / "benchmark.yaml").read_text())


def test_unknown_profile_names_the_choices():
    c = cfg()
    c["profile"] = "nope"
    with pytest.raises(AudioGSError, match="default"):
        BM.active_profile(c)


def test_default_grid_takes_two_clips_per_category_at_rate_points(tmp_path):
    name, prof = BM.active_profile(cfg())
    clips = BM.select_clips(prof, REPO / "datasets" / "sources.yaml", tmp_path / "none")
    cats = [c.category for c in clips.values()]
    assert name == "default" and {cats.count(c) for c in set(cats)} == {2}
    assert set(cats) == {"speech", "piano", "pop", "symphony", "other"}
    gs = BM.ags_points(prof, clips)
    assert gs and all(p["kind"] == "rate" and p["point"] == f"k{p['kbps']}" for p in gs)
    bl = BM.baseline_points(prof, clips)
    codec2 = {p["category"] for p in bl if p["codec"] == "codec2"}
    assert codec2 == {"speech"}  # Codec 2 only where the speech category asks for it
    per_clip = {c: sum(len(r) for r in BM.category_baselines(prof, clips[c].category).values()) for c in clips}
    assert len(bl) == sum(per_clip.values())


def test_wide_grid_takes_every_listed_clip_and_at_least_four_per_category(tmp_path):
    c = cfg()
    c["profile"] = "wide"
    _, prof = BM.active_profile(c)
    clips = BM.select_clips(prof, REPO / "datasets" / "sources.yaml", tmp_path / "none")
    listed = yaml.safe_load((REPO / "datasets" / "sources.yaml").read_text())["clips"]
    assert set(clips) == {x["id"] for x in listed}
    cats = [x.category for x in clips.values()]
    assert min(cats.count(k) for k in set(cats)) >= 4


def test_category_baselines_add_to_and_drop_from_the_profile_codecs():
    prof = {"baselines": {"opus": [8, 16], "mp3": [16]},
            "categories": {"speech": {"baselines": {"codec2": [1.2], "mp3": []}}, "music": {}}}
    assert BM.category_baselines(prof, "speech") == {"opus": [8, 16], "codec2": [1.2]}
    assert BM.category_baselines(prof, "music") == {"opus": [8, 16], "mp3": [16]}


def test_a_clips_list_still_takes_dropped_user_files_unless_told_not_to(tmp_path):
    import soundfile as sf

    from synth import tone

    (tmp_path / "d" / "speech").mkdir(parents=True)
    sf.write(str(tmp_path / "d" / "speech" / "mine.wav"), tone(16000, 1.0, 300), 16000)
    prof = {"clips": ["libri-198-209-0000"], "categories": {"speech": {}}}
    clips = BM.select_clips(prof, REPO / "datasets" / "sources.yaml", tmp_path / "d")
    assert set(clips) == {"libri-198-209-0000", "mine"}
    prof["user_files"] = False
    assert set(BM.select_clips(prof, REPO / "datasets" / "sources.yaml", tmp_path / "d")) == {"libri-198-209-0000"}


def test_baseline_extensions_come_from_the_codec_table():
    from audio_gs.bench.baselines import CODECS

    assert BM.BASELINE_EXT == {c: spec["ext"] for c, spec in CODECS.items()}
    p = {"clip": "c", "category": "speech", "codec": "aac", "kbps": "16", "ext": BM.BASELINE_EXT["aac"],
         "system": "aac", "point": "k16"}
    assert BM.point_files("R", p)["coded"] == "R/coded/c/aac/k16.m4a"


def test_points_round_trip_through_wildcards():
    import re

    for system, point in (("gs-speech", "n300_b8"), ("gs-speech", "k16"), ("opus", "k16"), ("codec2", "k0.7"),
                          ("aac", "k12.5")):
        assert re.fullmatch(BM.WILDCARDS["system"], system) and re.fullmatch(BM.WILDCARDS["point"], point)
    g = BM.parse_point("gs-music", "n2000_b16")
    assert g == {"system": "audio_gs", "config": "music", "gaussians": 2000, "bits": 16, "point": "n2000_b16",
                 "series": "audio_gs-music-b16"}
    assert BM.parse_point("gs-music", "k16") == {"system": "audio_gs", "config": "music", "target_kbps": 16.0,
                                                 "point": "k16", "series": "audio_gs-music"}
    assert BM.parse_point("codec2", "k0.7")["target_kbps"] == 0.7
    assert BM.kbps_label(16.0) == "16" and BM.kbps_label(12.5) == "12.5"


def test_score_plan_names_the_files_of_each_point():
    rate = {"clip": "c", "category": "speech", "config": "speech", "system": "gs-speech", "kind": "rate",
            "kbps": "16", "point": "k16", "series": "audio_gs-speech"}
    count = {"clip": "c", "category": "speech", "config": "speech", "system": "gs-speech", "kind": "count",
             "count": 40, "bits": 8, "point": "n40_b8", "series": "audio_gs-speech-b8"}
    plan = BM.score_plan("R", [rate, count], extra={"profile": "smoke"})
    assert plan[0]["coded"] == "R/coded/c/gs-speech/k16.ags" and plan[0]["fit_summary"] == "R/fit/c/speech/k16/summary.json"
    assert plan[1]["fit_summary"] == "R/fit/c/speech/n40/summary.json"
    assert plan[0]["meta"]["profile"] == "smoke" and plan[0]["meta"]["reference_path"] == "R/ref/c.wav"


def test_aggregate_keeps_missing_reasons_beside_values(tmp_path):
    rows = [{"clip": "c", "category": "speech", "system": "audio_gs", "config": "speech", "point": "k16",
             "target_kbps": 16.0, "snr_db": 10.0, "pesq_wb": None, "missing": {"pesq_wb": "signal too short"},
             "notes": {"visqol": "speech mode"}},
            {"clip": "c", "category": "speech", "system": "opus", "codec": "opus", "point": "k16", "target_kbps": 16.0,
             "snr_db": 11.0, "pesq_wb": None, "missing": {"pesq_wb": "signal too short"}}]
    (tmp_path / "gs.json").write_text(json.dumps(rows[:1]))  # a score job writes a list of rows
    (tmp_path / "opus.json").write_text(json.dumps(rows[1]))  # a single row is accepted too
    bench = tmp_path / "b" / "fit_rate" / "c" / "speech"
    bench.mkdir(parents=True)
    (bench / "k16.tsv").write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t300.0\n")
    df = BM.aggregate([tmp_path / "gs.json", tmp_path / "opus.json"], tmp_path / "m.csv", tmp_path / "b")
    assert list(df["snr_db"]) == [10.0, 11.0]
    assert set(df["missing_pesq_wb"]) == {"signal too short"}
    gs = df[df["system"] == "audio_gs"].iloc[0]
    assert gs["encode_job_seconds"] == 12.5 and gs["encode_max_rss_mb"] == 300.0
    assert "no Snakemake benchmark file" in df[df["system"] == "opus"].iloc[0]["missing_baseline_job_seconds"]
    assert (tmp_path / "m.csv").read_text().startswith("category,clip,system")


def test_grid_times_span_the_first_start_to_the_last_end(tmp_path):
    import os

    for name, secs, end in (("a.tsv", 10.0, 1000.0), ("b.tsv", 5.0, 1100.0), ("report.tsv", 1.0, 2000.0)):
        f = tmp_path / name
        f.write_text(f"s\th:m:s\tmax_rss\n{secs}\t0:00:10\t1.0\n")
        os.utime(f, (end, end))
    t = BM.grid_times(tmp_path, exclude=("report.tsv",))
    assert t == {"grid_wall_s": 110.0, "jobs_s": 15.0, "jobs": 2}
    assert BM.grid_times(tmp_path / "none") == {}
