"""The benchmark grid and its bookkeeping, for the Snakefile: which clips, which jobs, where their
files go; in-process decoding of .ags files (with its time), every rate of one baseline codec in one
process, and aggregation of the metric rows into one CSV.

Paths (R = the profile's results_dir)::

    R/ref/<clip>.wav                                  reference excerpt (what every codec is scored on)
    R/fit/<clip>/<config>/k<kbps>/model.ags           `audio-gs fit --kbps` log dir (rate point)
    R/fit/<clip>/<config>/n<count>/final.pth          `audio-gs fit --num_gaussians` log dir (count point)
    R/coded/<clip>/gs-<config>/k<kbps>.ags            the rate point's model.ags, copied
    R/coded/<clip>/gs-<config>/n<count>_b<bits>.ags   `audio-gs quantize` of a count point
    R/coded/<clip>/<codec>/k<kbps><ext>               baseline codec file (ext from baselines.CODECS)
    R/decoded/<clip>/<system>/<point>.wav             decoded audio (system: gs-<config> or a codec)
    R/rows/<clip>/<system>.json                       the metric rows of every point of one system
    R/metrics.csv                                     every row (aggregate)

Command line::

    python -m audio_gs.bench.benchmark decode IN.ags -o OUT.wav --timing timing.json [--repeat 3]
    python -m audio_gs.bench.benchmark baselines REF.wav --codec opus --kbps 8 16 32 --coded_dir D --decoded_dir E
    python -m audio_gs.bench.benchmark aggregate ROWS.json ... -o R/metrics.csv [--benchmarks R/benchmarks]
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
from audio_gs.bench.baselines import CODECS
from audio_gs.errors import AudioGSError, exits_2_on_user_error

BASELINE_EXT = {codec: spec["ext"] for codec, spec in CODECS.items()}  # with the dot: ".opus", ".c2" ...
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
    fetches them); user files that do not decode are reported on `report` and skipped. With a
    `clips` list, files dropped into datasets/<category>/ join too unless the profile says
    `user_files: false`.
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
        users = profile.get("user_files", True)
        clips = [c for c in clips if c.id in set(wanted) or (users and c.source == "user")]
    return {c.id: c for c in clips}


def category_baselines(profile: dict, category: str) -> dict[str, list]:
    """{codec: target kbps} for one category: the profile's `baselines`, updated by the category's own
    (a codec listed there with [] is left out for that category)."""
    merged = {c: list(r or []) for c, r in (profile.get("baselines") or {}).items()}
    merged.update({c: list(r or []) for c, r in (profile["categories"][category].get("baselines") or {}).items()})
    return {c: r for c, r in merged.items() if r}


def ags_points(profile: dict, clips: dict) -> list[dict]:
    """One dict per audio_gs point: clip, category, config, kind ('rate' or 'count'), system, point, series,
    and kbps (rate points: `audio-gs fit --kbps`) or count and bits (count points: fit, then quantize)."""
    out = []
    for cid, clip in clips.items():
        cat = profile["categories"][clip.category]
        for config in cat["configs"]:
            base = {"clip": cid, "category": clip.category, "config": config, "system": f"gs-{config}"}
            for k in cat.get("rates") or []:
                lab = kbps_label(k)
                out.append({**base, "kind": "rate", "kbps": lab, "point": f"k{lab}", "series": f"audio_gs-{config}"})
            for count in cat.get("counts") or []:
                for bits in profile.get("bits") or [8]:
                    out.append({**base, "kind": "count", "count": int(count), "bits": int(bits),
                                "point": f"n{int(count)}_b{int(bits)}", "series": f"audio_gs-{config}-b{int(bits)}"})
    return out


def baseline_points(profile: dict, clips: dict) -> list[dict]:
    """One dict per baseline point: clip, category, codec, kbps (label), ext, system, point."""
    out = []
    for cid, clip in clips.items():
        for codec, rates in category_baselines(profile, clip.category).items():
            for k in rates:
                lab = kbps_label(k)
                out.append({"clip": cid, "category": clip.category, "codec": codec, "kbps": lab,
                            "ext": BASELINE_EXT[codec], "system": codec, "point": f"k{lab}"})
    return out


def fit_dir(results: str, p: dict) -> str:
    """The `audio-gs fit` log folder of an audio_gs point."""
    sub = f"k{p['kbps']}" if p["kind"] == "rate" else f"n{p['count']}"
    return f"{results}/fit/{p['clip']}/{p['config']}/{sub}"


def point_files(results: str, p: dict) -> dict:
    """The files one point is scored from: coded, decoded, timing (audio_gs: decode timing; codecs: the
    encode/decode info JSON) and, for audio_gs, the fit's summary.json."""
    if p["system"].startswith("gs-"):
        stem = f"{results}/decoded/{p['clip']}/{p['system']}/{p['point']}"
        return {"coded": f"{results}/coded/{p['clip']}/{p['system']}/{p['point']}.ags", "decoded": f"{stem}.wav",
                "timing": f"{stem}.timing.json", "fit_summary": f"{fit_dir(results, p)}/summary.json"}
    stem = f"{results}/decoded/{p['clip']}/{p['codec']}/{p['point']}"
    return {"coded": f"{results}/coded/{p['clip']}/{p['codec']}/{p['point']}{p['ext']}", "decoded": f"{stem}.wav",
            "timing": f"{stem}.info.json", "codec_info": f"{stem}.info.json"}


def parse_point(system: str, point: str) -> dict:
    """Grid coordinates of a row from its {system}/{point} wildcards."""
    if system.startswith("gs-"):
        config = system[3:]
        m = re.fullmatch(r"k([0-9]+(?:\.[0-9]+)?)", point)
        if m:
            return {"system": "audio_gs", "config": config, "target_kbps": float(m.group(1)), "point": point,
                    "series": f"audio_gs-{config}"}
        m = re.fullmatch(r"n([0-9]+)_b([0-9]+)", point)
        if not m:
            raise AudioGSError(f"bad audio_gs point {point!r}")
        return {"system": "audio_gs", "config": config, "gaussians": int(m.group(1)), "bits": int(m.group(2)),
                "point": point, "series": f"audio_gs-{config}-b{m.group(2)}"}
    m = re.fullmatch(r"k([0-9]+(?:\.[0-9]+)?)", point)
    if not m:
        raise AudioGSError(f"bad baseline point {point!r}")
    return {"system": system, "codec": system, "target_kbps": float(m.group(1)), "point": point, "series": system}


def score_plan(results: str, points: list[dict], *, extra: dict | None = None) -> list[dict]:
    """The items `audio_gs.bench.scoring` scores for a list of points (one clip, one system): the files of
    each point and the grid coordinates copied into its row."""
    items = []
    for p in points:
        files = point_files(results, p)
        meta = parse_point(p["system"], p["point"])
        meta.update(clip=p["clip"], category=p["category"], decoded_path=files["decoded"],
                    coded_path=files["coded"], reference_path=f"{results}/ref/{p['clip']}.wav", **(extra or {}))
        items.append({**files, "meta": meta})
    return items


# ---- decoding ------------------------------------------------------------------------------------
def time_decode(ags_path: str | os.PathLike, repeat: int = 3) -> dict:
    """Wall time of decoding an .ags file in-process (codec.compress.read_ags + codec.render.render),
    best of `repeat` runs after one warm-up, so interpreter start-up and JIT compilation are not counted."""
    return decode_ags(ags_path, None, repeat=repeat)


def decode_ags(ags_path: str | os.PathLike, out_wav: str | os.PathLike | None, *, repeat: int = 3) -> dict:
    """Decode an .ags file from the file alone (what `audio-gs decode` does: read_ags + render) into
    out_wav, and time it: best of `repeat` decodes after the first (which pays for JIT compilation).

    Returns decode_seconds, decode_repeat, n_gaussians_coded, n_samples, sample_rate.
    """
    from audio_gs.audio_io import save_audio
    from audio_gs.codec.compress import read_ags
    from audio_gs.codec.render import render

    def once():
        model = read_ags(ags_path)
        return model, render(model)

    model, y = once()
    if out_wav is not None:
        save_audio(out_wav, y, model.sample_rate)
    best = math.inf
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        once()
        best = min(best, time.perf_counter() - t0)
    return {"decode_seconds": best, "decode_repeat": int(repeat), "n_gaussians_coded": len(model),
            "n_samples": int(model.n_samples), "sample_rate": int(model.sample_rate)}


# ---- baselines -----------------------------------------------------------------------------------
def code_baselines(reference: str | os.PathLike, codec: str, rates, coded_dir: str | os.PathLike,
                   decoded_dir: str | os.PathLike) -> list[dict]:
    """Every target rate of one codec in one process: for each rate (kbit/s) the coded file
    coded_dir/k<rate><ext>, the decoded and aligned WAV decoded_dir/k<rate>.wav and its facts
    decoded_dir/k<rate>.info.json (baselines.encode_at_bitrate + decode_file). Returns the facts."""
    from audio_gs.audio_io import load_audio, save_audio
    from audio_gs.bench import baselines as BL

    x, sr = load_audio(reference)
    coded_dir, decoded_dir = Path(coded_dir), Path(decoded_dir)
    coded_dir.mkdir(parents=True, exist_ok=True)
    decoded_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for k in rates:
        lab = kbps_label(k)
        data, info = BL.encode_at_bitrate(x, sr, codec, float(k))
        coded = coded_dir / f"k{lab}{BASELINE_EXT[codec]}"
        atomic_write(coded, lambda tmp: Path(tmp).write_bytes(data))
        y, dinfo = BL.decode_file(coded, codec, sr, x)
        save_audio(decoded_dir / f"k{lab}.wav", y, sr)
        info.update(dinfo)
        text = json.dumps(info, indent=2)
        atomic_write(decoded_dir / f"k{lab}.info.json", lambda tmp: Path(tmp).write_text(text))
        out.append(info)
    return out


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


def encode_benchmark_file(benchmarks_dir: str | os.PathLike, row: dict) -> Path:
    """The Snakemake benchmark file of the job that encoded a row's point: the fit of an audio_gs point
    (`fit_rate` or `fit`), or the baseline job of the codec (one job codes every rate of a codec)."""
    b = Path(benchmarks_dir)
    if row.get("system") == "audio_gs":
        if str(row.get("point", "")).startswith("k"):
            return b / "fit_rate" / row["clip"] / row["config"] / f"{row['point']}.tsv"
        return b / "fit" / row["clip"] / row["config"] / f"n{int(row['gaussians'])}.tsv"
    return b / "baseline" / row["clip"] / f"{row['codec']}.tsv"


def grid_times(benchmarks_dir: str | os.PathLike, exclude=()) -> dict:
    """Wall time of the grid from Snakemake's benchmark files: from the start of the earliest job
    (file time minus its seconds) to the end of the latest, and the jobs' summed seconds.

    On a fresh run this is the run's wall time; after a partial rerun it spans back to the oldest job
    still on disk. Files named in `exclude` (e.g. the report's own) are left out. Empty dict when there
    are no benchmark files.
    """
    starts, ends, total = [], [], 0.0
    for f in Path(benchmarks_dir).rglob("*.tsv"):
        if f.name in exclude:
            continue
        s = read_benchmark_tsv(f).get("s")
        if s is None:
            continue
        end = f.stat().st_mtime
        starts.append(end - s)
        ends.append(end)
        total += s
    if not ends:
        return {}
    return {"grid_wall_s": max(ends) - min(starts), "jobs_s": total, "jobs": len(ends)}


def aggregate(row_files, output: str | os.PathLike, benchmarks_dir: str | os.PathLike | None = None):
    """Collect metric rows (JSON files, each one row or a list of rows) into one tidy CSV (pandas);
    returns the DataFrame.

    `missing` (metric -> reason) becomes one column per metric, `missing_<metric>`, so a missing value
    always carries its reason. When benchmarks_dir is given, the encode job's Snakemake benchmark adds
    encode_job_seconds and encode_max_rss_mb for audio_gs points (the fit), and baseline_job_seconds /
    baseline_job_max_rss_mb for codec points (one job codes every rate of a codec, so its time is not
    one point's).
    """
    import pandas as pd

    records = []
    for f in row_files:
        data = json.loads(Path(f).read_text())
        for row in data if isinstance(data, list) else [data]:
            missing = row.pop("missing", {}) or {}
            notes = row.pop("notes", {}) or {}
            for k, v in missing.items():
                row[f"missing_{k}"] = v
            for k, v in notes.items():
                row[f"note_{k}"] = v if isinstance(v, str) else json.dumps(v)
            if benchmarks_dir is not None:
                tsv = encode_benchmark_file(benchmarks_dir, row)
                bench = read_benchmark_tsv(tsv) if tsv.is_file() else {}
                secs, rss = (("encode_job_seconds", "encode_max_rss_mb") if row.get("system") == "audio_gs"
                             else ("baseline_job_seconds", "baseline_job_max_rss_mb"))
                row[secs], row[rss] = bench.get("s"), bench.get("max_rss")
                if not bench:
                    row[f"missing_{secs}"] = f"no Snakemake benchmark file {tsv}"
            records.append(row)
    df = pd.DataFrame.from_records(records)
    lead = ["category", "clip", "system", "series", "point", "config", "codec", "gaussians", "bits", "target_kbps",
            "kbps", "bytes", "compression_ratio", "snr_db", "segsnr_db", "si_sdr_db", "sdr_db", "pesq_wb", "stoi",
            "visqol", "lsd_db", "mel_distance", "encode_seconds", "decode_seconds", "decode_rtf"]
    cols = [c for c in lead if c in df.columns] + sorted(c for c in df.columns if c not in lead)
    df = df.reindex(columns=cols)
    if len(df):
        df = df.sort_values([c for c in ("category", "clip", "system", "config", "codec", "target_kbps", "gaussians",
                                         "bits") if c in df.columns], na_position="last")
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
    d = sub.add_parser("decode", help="decode an .ags file (the file alone) to WAV and time the decode")
    d.add_argument("input")
    d.add_argument("-o", "--output", required=True, help="decoded WAV")
    d.add_argument("--timing", required=True, help="decode timing JSON")
    d.add_argument("--repeat", type=int, default=3)
    b = sub.add_parser("baselines", help="code a reference with one codec at every target rate")
    b.add_argument("input", help="reference audio")
    b.add_argument("--codec", required=True, choices=list(CODECS))
    b.add_argument("--kbps", type=float, nargs="+", required=True, help="target bitrates (kbit/s)")
    b.add_argument("--coded_dir", required=True)
    b.add_argument("--decoded_dir", required=True)
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
    if args.cmd in ("time-decode", "decode"):
        info = decode_ags(args.input, args.output if args.cmd == "decode" else None, repeat=args.repeat)
        text = json.dumps(info, indent=2)
        atomic_write(args.timing if args.cmd == "decode" else args.output, lambda tmp: Path(tmp).write_text(text))
        print(json.dumps(info))
    elif args.cmd == "baselines":
        for info in code_baselines(args.input, args.codec, args.kbps, args.coded_dir, args.decoded_dir):
            print(f"{args.codec} target {info['target_kbps']:g} kbps: {info['kbps']:.2f} kbps real, "
                  f"{info['bytes']} bytes ({info['library']})")
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
        fits = {(p["clip"], p["config"], p.get("kbps"), p.get("count")) for p in gs}
        print(f"profile {name}: {len(clips)} clips, {len(fits)} fits, {len(gs)} .ags points, {len(bl)} baseline points")
        for c in clips.values():
            print(f"  {c.category:10s} {c.id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
