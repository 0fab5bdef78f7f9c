"""audio_gs.benchmark: the grid a profile describes, wildcards, and aggregation of rows into one CSV."""

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


def test_default_grid_covers_every_clip_and_the_claimed_counts(tmp_path):
    name, prof = BM.active_profile(cfg())
    clips = BM.select_clips(prof, REPO / "datasets" / "sources.yaml", tmp_path / "none")
    assert name == "default" and len(clips) == 8
    gs = BM.ags_points(prof, clips)
    counts = {(p["category"], p["count"]) for p in gs}
    for claim in cfg()["claims"]:
        assert (claim["category"], claim["gaussians"]) in counts
    fits = {(p["clip"], p["config"], p["count"]) for p in gs}
    assert len(gs) == len(fits) * len(prof["bits"])
    assert len(BM.baseline_points(prof, clips)) == 8 * sum(len(v) for v in prof["baselines"].values())


def test_points_round_trip_through_wildcards():
    import re

    for system, point in (("gs-speech", "n300_b8"), ("opus", "k16"), ("mp3", "k12.5")):
        assert re.fullmatch(BM.WILDCARDS["system"], system) and re.fullmatch(BM.WILDCARDS["point"], point)
    g = BM.parse_point("gs-music", "n2000_b16")
    assert g == {"system": "audio_gs", "config": "music", "gaussians": 2000, "bits": 16, "series": "audio_gs-music-b16"}
    assert BM.parse_point("mp3", "k12.5")["target_kbps"] == 12.5
    assert BM.kbps_label(16.0) == "16" and BM.kbps_label(12.5) == "12.5"


def test_aggregate_keeps_missing_reasons_beside_values(tmp_path):
    rows = []
    for i, (system, extra) in enumerate([("audio_gs", {"config": "speech", "gaussians": 40, "bits": 8}),
                                         ("opus", {"codec": "opus", "target_kbps": 16.0})]):
        r = {"clip": "c", "category": "speech", "system": system, "snr_db": 10.0 + i, "pesq_wb": None,
             "missing": {"pesq_wb": "signal too short"}, "notes": {"visqol": "speech mode"}, **extra}
        p = tmp_path / f"r{i}.json"
        p.write_text(json.dumps(r))
        rows.append(p)
    bench = tmp_path / "b" / "fit" / "c" / "speech"
    bench.mkdir(parents=True)
    (bench / "n40.tsv").write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t300.0\n")
    df = BM.aggregate(rows, tmp_path / "m.csv", tmp_path / "b")
    assert list(df["snr_db"]) == [10.0, 11.0]
    assert set(df["missing_pesq_wb"]) == {"signal too short"}
    gs = df[df["system"] == "audio_gs"].iloc[0]
    assert gs["encode_job_seconds"] == 12.5 and gs["encode_max_rss_mb"] == 300.0
    assert "no Snakemake benchmark file" in df[df["system"] == "opus"].iloc[0]["missing_encode_max_rss_mb"]
    assert (tmp_path / "m.csv").read_text().startswith("category,clip,system")
