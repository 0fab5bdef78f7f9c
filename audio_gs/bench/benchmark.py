"""The benchmark grid and its bookkeeping, for the Snakefile: which clips, which jobs, where their
files go; timing of .ags decoding; and aggregation of the per-job metric rows into one CSV.

Paths (R = the profile's results_dir)::

    R/ref/<clip>.wav                                  reference excerpt (what every codec is scored on)
    R/fit/<clip>/<config>/n<count>/final.pth          `audio-gs fit` log dir (summary.json, train/*.png ...)
    R/coded/<clip>/gs-<config>/n<count>_b<bits>.ags   `audio-gs quantize`
    R/coded/<clip>/<codec>/k<kbps>.<ext>              baseline codec file
    R/decoded/<clip>/<system>/<point>.wav             decoded audio (system: gs-<config> or a codec)
    R/rows/<clip>/<system>/<point>.json               one metrics row
    R/metrics.csv                                     every row (aggregate)

Command line::

    python -m audio_gs.bench.benchmark time-decode IN.ags -o timing.json [--repeat 3]
    python -m audio_gs.bench.benchmark aggregate --rows R/rows --output R/metrics.csv [--benchmarks R/benchmarks]
    python -m audio_gs.bench.benchmark grid [--config params/benchmark.yaml] [--profile NAME]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from pathlib import Path

from audio_gs.audio_io import atomic_write
from audio_gs.errors import AudioGSError, exits_2_on_user_error

BASELINE_EXT = {"opus": "opus", "mp3": "mp3", "vorbis": "ogg"}
WILDCARDS = {  # regexes the Snakefile constrains its wildcards to
    "clip": r"[A-Za-z0-9][A-Za-z0-9_.+-]*",
    "config": r"[A-Za-z0-9][A-Za-z0-9_]*",
    "ngauss": r"[0-9]+",
    "bits": r"[0-9]+",
    "codec": "|".join(BASELINE_EXT),
    "kbps": r"[0-9]+(?:\.[0-9]+)?",
    "system": r"gs-[A-Za-z0-9][A-Za-z0-9_]*|" + "|".join(BASELINE_EXT),
    "point": r"n[0-9]+_b[0-9]+|k[0-9]+(?:\.[0-9]+)?",
}


# ---- the grid ------------------------------------------------------------------------------------
def active_profile(config: dict) -> tuple[str, dict]:
    """(name, profile) selected by config['profile']; AudioGSError naming the choices if unknown."""
    name = config.get("profile", "default")
    profiles = config.get("profiles") or {}
    if name not in profiles:
        raise AudioGSError(f"params/benchmark.yaml: profile {name!r} is not defined "
                           f"(profiles: {', '.join(sorted(profiles))})")
    return name, profiles[name]


def kbps_label(k: float) -> str:
    """'16' for 16.0, '12.5' for 12.5 (the {kbps} wildcard)."""
    return f"{float(k):g}"


def select_clips(profile: dict, sources_path: str | os.PathLike, datasets_dir: str | os.PathLike,
                 report=None) -> dict:
    """{clip id: Clip} of the profile: its categories, and its `clips` list unless that is 'all'.

    Listed sources are included whether or not their dataset file exists yet (the prepare rule
    fetches them); user files that do not decode are reported on `report` and skipped.
    """
    from audio_gs.bench.datasets import discover, load_sources

    report = report or sys.stderr
    sources = load_sources(sources_path) if Path(sources_path).is_file() else None
    cats = list(profile["categories"])
    clips = discover(datasets_dir, sources, categories=cats, report=report)
    wanted = profile.get("clips", "all")
    if wanted != "all":
        known = {c.id for c in clips}
        for cid in wanted:
            if cid not in known:
                print(f"audio_gs.benchmark: clip {cid!r} named in the profile is not in sources.yaml "
                      f"nor in datasets/<category>/ for categories {', '.join(cats)}; skipped", file=report)
        clips = [c for c in clips if c.id in set(wanted)]
    return {c.id: c for c in clips}


def ags_points(profile: dict, clips: dict) -> list[dict]:
    """One dict per audio_gs job: clip, category, config, count, bits, system, point."""
    out = []
    for cid, clip in clips.items():
        cat = profile["categories"][clip.category]
        for config in cat["configs"]:
            for count in cat["counts"]:
                for bits in profile["bits"]:
                    out.append({"clip": cid, "category": clip.category, "config": config, "count": int(count),
                                "bits": int(bits), "system": f"gs-{config}", "point": f"n{int(count)}_b{int(bits)}"})
    return out


def baseline_points(profile: dict, clips: dict) -> list[dict]:
    """One dict per baseline job: clip, category, codec, kbps (label), system, point."""
    out = []
    for cid, clip in clips.items():
        for codec, rates in (profile.get("baselines") or {}).items():
            for k in rates or []:
                lab = kbps_label(k)
                out.append({"clip": cid, "category": clip.category, "codec": codec, "kbps": lab,
                            "system": codec, "point": f"k{lab}"})
    return out


def parse_point(system: str, point: str) -> dict:
    """Grid coordinates of a row from its {system}/{point} wildcards."""
    if system.startswith("gs-"):
        m = re.fullmatch(r"n([0-9]+)_b([0-9]+)", point)
        if not m:
            raise AudioGSError(f"bad audio_gs point {point!r}")
        return {"system": "audio_gs", "config": system[3:], "gaussians": int(m.group(1)), "bits": int(m.group(2)),
                "series": f"audio_gs-{system[3:]}-b{m.group(2)}"}
    m = re.fullmatch(r"k([0-9.]+)", point)
    if not m:
        raise AudioGSError(f"bad baseline point {point!r}")
    return {"system": system, "codec": system, "target_kbps": float(m.group(1)), "series": system}


# ---- decoding time -------------------------------------------------------------------------------
def time_decode(ags_path: str | os.PathLike, repeat: int = 3) -> dict:
    """Wall time of decoding an .ags file in-process (codec.compress.read_ags + codec.render.render),
    best of `repeat` runs after one warm-up, so interpreter start-up and JIT compilation are not counted."""
    from audio_gs.codec.compress import read_ags
    from audio_gs.codec.render import render

    def once():
        model = read_ags(ags_path)
        return model, render(model)

    model, _ = once()
    best = math.inf
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        once()
        best = min(best, time.perf_counter() - t0)
    return {"decode_seconds": best, "decode_repeat": int(repeat), "n_gaussians_coded": len(model),
            "n_samples": int(model.n_samples), "sample_rate": int(model.sample_rate)}


# ---- aggregation ---------------------------------------------------------------------------------
def read_benchmark_tsv(path: str | os.PathLike) -> dict:
    """Snakemake's benchmark file: {'s': wall seconds, 'max_rss': MB, ...} (first data row)."""
    lines = Path(path).read_text().splitlines()
    if len(lines) < 2:
        return {}
    head, vals = lines[0].split("\t"), lines[1].split("\t")
    out = {}
    for k, v in zip(head, vals):
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = None
    return out


def aggregate(row_files, output: str | os.PathLike, benchmarks_dir: str | os.PathLike | None = None):
    """Collect metric rows (JSON) into one tidy CSV (pandas); returns the DataFrame.

    `missing` (metric -> reason) becomes one column per metric, `missing_<metric>`, so a missing value
    always carries its reason. When benchmarks_dir is given, the encode job's Snakemake benchmark
    (fit for audio_gs, baseline for codecs) adds encode_job_seconds and encode_max_rss_mb.
    """
    import pandas as pd

    records = []
    for f in row_files:
        row = json.loads(Path(f).read_text())
        missing = row.pop("missing", {}) or {}
        notes = row.pop("notes", {}) or {}
        for k, v in missing.items():
            row[f"missing_{k}"] = v
        for k, v in notes.items():
            row[f"note_{k}"] = v if isinstance(v, str) else json.dumps(v)
        if benchmarks_dir is not None:
            b = Path(benchmarks_dir)
            if row.get("system") == "audio_gs":
                tsv = b / "fit" / row["clip"] / row["config"] / f"n{row['gaussians']}.tsv"
            else:
                tsv = b / "baseline" / row["clip"] / row["codec"] / f"k{kbps_label(row['target_kbps'])}.tsv"
            if tsv.is_file():
                bench = read_benchmark_tsv(tsv)
                row["encode_job_seconds"] = bench.get("s")
                row["encode_max_rss_mb"] = bench.get("max_rss")
            else:
                row["encode_job_seconds"] = row["encode_max_rss_mb"] = None
                row["missing_encode_max_rss_mb"] = f"no Snakemake benchmark file {tsv}"
        records.append(row)
    df = pd.DataFrame.from_records(records)
    lead = ["category", "clip", "system", "series", "config", "codec", "gaussians", "bits", "target_kbps", "kbps",
            "bytes", "compression_ratio", "snr_db", "segsnr_db", "si_sdr_db", "sdr_db", "pesq_wb", "stoi",
            "visqol", "lsd_db", "mel_distance", "encode_seconds", "decode_seconds", "decode_rtf"]
    cols = [c for c in lead if c in df.columns] + sorted(c for c in df.columns if c not in lead)
    df = df.reindex(columns=cols)
    if len(df):
        df = df.sort_values([c for c in ("category", "clip", "system", "config", "codec", "gaussians", "bits",
                                         "target_kbps") if c in df.columns], na_position="last")
    atomic_write(output, lambda tmp: df.to_csv(tmp, index=False))
    return df


# ---- command line --------------------------------------------------------------------------------
@exits_2_on_user_error
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m audio_gs.bench.benchmark", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("time-decode", help="time decoding an .ags file in-process (best of --repeat)")
    t.add_argument("input")
    t.add_argument("-o", "--output", required=True)
    t.add_argument("--repeat", type=int, default=3)
    a = sub.add_parser("aggregate", help="collect metric rows into one CSV")
    a.add_argument("rows", nargs="*", help="row JSON files (default: every *.json under --rows_dir)")
    a.add_argument("--rows_dir")
    a.add_argument("--benchmarks", help="Snakemake benchmark folder (adds encode job time and memory)")
    a.add_argument("-o", "--output", required=True)
    g = sub.add_parser("grid", help="print the jobs of a profile")
    g.add_argument("--config", default="params/benchmark.yaml")
    g.add_argument("--profile")
    g.add_argument("--sources", default="datasets/sources.yaml")
    g.add_argument("--datasets_dir", default="datasets")
    args = ap.parse_args(argv)
    if args.cmd == "time-decode":
        info = time_decode(args.input, args.repeat)
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(info, indent=2))
        print(json.dumps(info))
    elif args.cmd == "aggregate":
        rows = list(args.rows)
        if args.rows_dir:
            rows += sorted(str(p) for p in Path(args.rows_dir).rglob("*.json"))
        df = aggregate(rows, args.output, args.benchmarks)
        print(f"{len(df)} rows -> {args.output}")
    elif args.cmd == "grid":
        import yaml

        cfg = yaml.safe_load(Path(args.config).read_text())
        if args.profile:
            cfg["profile"] = args.profile
        name, prof = active_profile(cfg)
        clips = select_clips(prof, args.sources, args.datasets_dir)
        gs, bl = ags_points(prof, clips), baseline_points(prof, clips)
        fits = {(p["clip"], p["config"], p["count"]) for p in gs}
        print(f"profile {name}: {len(clips)} clips, {len(fits)} fits, {len(gs)} .ags points, {len(bl)} baseline points")
        for c in clips.values():
            print(f"  {c.category:10s} {c.id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
