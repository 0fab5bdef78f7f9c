"""The benchmark report: rate-distortion plots, BD-rate / BD-SNR, the training guide's claims beside
what we measure, Gaussian-ellipse figures and audio players, as a self-contained reports/index.html
(images and audio embedded) plus a Markdown version, summary.json (DVC metrics) and RD-curve CSVs
(DVC plots).

Input is results/metrics.csv (audio_gs.benchmark.aggregate): one row per decoded file with columns
category, clip, system (audio_gs or a codec), series, gaussians, bits, target_kbps, kbps, snr_db,
pesq_wb, ... and missing_<metric> (the reason a metric is absent).

Command line (used by the Snakefile)::

    python -m audio_gs.bench.report build --metrics results/metrics.csv --benchmark params/benchmark.yaml \
        --profile default --results results -o reports
    python -m audio_gs.bench.report publish reports /path/to/folder
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from audio_gs.errors import AudioGSError, exits_2_on_user_error

CODEC_COLORS = {"opus": "#1f77b4", "mp3": "#ff7f0e", "vorbis": "#2ca02c"}
GS_COLORS = ["#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
QUALITY = [("snr_db", "SNR (dB)"), ("pesq_wb", "PESQ-WB (MOS-LQO)"), ("visqol", "ViSQOL (MOS-LQO)")]
TABLE_METRICS = ["kbps", "compression_ratio", "snr_db", "segsnr_db", "si_sdr_db", "sdr_db", "pesq_wb", "stoi",
                 "visqol", "lsd_db", "mel_distance"]


# ---- Bjontegaard deltas --------------------------------------------------------------------------
def rd_front(rate, quality) -> tuple[np.ndarray, np.ndarray]:
    """The points of a curve that are not dominated (quality rises with rate), sorted by rate.

    A point with no more quality than a cheaper one is dropped (e.g. a codec that cannot go below a
    bitrate and returns the same file twice, or a PESQ outlier), so that both axes are monotonic.
    """
    r, q = np.asarray(rate, float), np.asarray(quality, float)
    ok = np.isfinite(r) & np.isfinite(q) & (r > 0)
    r, q = r[ok], q[ok]
    order = np.lexsort((-q, r))
    keep_r, keep_q = [], []
    for ri, qi in zip(r[order], q[order]):
        if not keep_q or (qi > keep_q[-1] and ri > keep_r[-1]):
            keep_r.append(ri)
            keep_q.append(qi)
    return np.array(keep_r), np.array(keep_q)


def _pchip_mean(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    from scipy.interpolate import PchipInterpolator

    return float(PchipInterpolator(x, y).integrate(lo, hi) / (hi - lo))


def bd_rate(rate_ref, q_ref, rate_test, q_test) -> float:
    """Bjontegaard delta rate (%): average bitrate change of test vs ref at equal quality.

    Negative: test needs fewer bits. log(rate) is interpolated as a function of quality with a
    monotone piecewise cubic (PCHIP, as in current BD-rate practice) through each curve's
    non-dominated points, and averaged over the overlapping quality interval. Raises ValueError when
    it cannot be computed (fewer than 2 points, no overlap).
    """
    r1, q1 = rd_front(rate_ref, q_ref)
    r2, q2 = rd_front(rate_test, q_test)
    if len(r1) < 2 or len(r2) < 2:
        raise ValueError("fewer than 2 non-dominated points on a curve")
    lo, hi = max(q1.min(), q2.min()), min(q1.max(), q2.max())
    if not hi > lo:
        raise ValueError("quality ranges do not overlap")
    avg = _pchip_mean(q2, np.log(r2), lo, hi) - _pchip_mean(q1, np.log(r1), lo, hi)
    return float((math.exp(avg) - 1) * 100)


def bd_quality(rate_ref, q_ref, rate_test, q_test) -> float:
    """Bjontegaard delta quality (e.g. BD-SNR in dB): average quality change of test vs ref at equal
    rate; quality interpolated (PCHIP) against log(rate) over the overlapping rate interval."""
    r1, q1 = rd_front(rate_ref, q_ref)
    r2, q2 = rd_front(rate_test, q_test)
    if len(r1) < 2 or len(r2) < 2:
        raise ValueError("fewer than 2 non-dominated points on a curve")
    l1, l2 = np.log(r1), np.log(r2)
    lo, hi = max(l1.min(), l2.min()), min(l1.max(), l2.max())
    if not hi > lo:
        raise ValueError("bitrate ranges do not overlap")
    return _pchip_mean(l2, q2, lo, hi) - _pchip_mean(l1, q1, lo, hi)


# ---- tables from the metrics ---------------------------------------------------------------------
def load_metrics(path):
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise AudioGSError(f"{p}: no such metrics file (run the pipeline first)")
    df = pd.read_csv(p)
    for col in ("gaussians", "bits", "target_kbps", "config", "codec", "series"):
        if col not in df.columns:
            df[col] = np.nan
    return df


def grid_key(df):
    """The grid coordinate of each row: Gaussian count for audio_gs, target kbps for a codec."""
    return np.where(df["system"] == "audio_gs", df["gaussians"], df["target_kbps"])


def rd_means(df):
    """Per (category, series, grid point): mean kbps and quality over the category's clips."""
    d = df.assign(grid=grid_key(df))
    agg = {c: "mean" for c in ("kbps", "snr_db", "pesq_wb", "visqol", "stoi", "compression_ratio") if c in d.columns}
    out = d.groupby(["category", "series", "system", "grid"], dropna=False).agg(agg)
    out["n_clips"] = d.groupby(["category", "series", "system", "grid"], dropna=False)["clip"].nunique()
    return out.reset_index().sort_values(["category", "series", "kbps"])


def bd_table(df):
    """BD-rate (SNR and PESQ) and BD-SNR / BD-PESQ of every audio_gs series vs every codec, per clip and
    averaged per category. A value that cannot be computed is None with its reason in `reason`."""
    import pandas as pd

    rows = []
    gs_series = sorted(df.loc[df["system"] == "audio_gs", "series"].dropna().unique())
    codecs = sorted(df.loc[df["system"] != "audio_gs", "system"].dropna().unique())
    for (cat, clip), g in df.groupby(["category", "clip"]):
        for s in gs_series:
            t = g[g["series"] == s]
            if t.empty:
                continue
            for c in codecs:
                a = g[g["system"] == c]
                if a.empty:
                    continue
                row = {"category": cat, "clip": clip, "series": s, "codec": c}
                reasons = []
                for name, fn, metric in (("bd_rate_snr_pct", bd_rate, "snr_db"), ("bd_snr_db", bd_quality, "snr_db"),
                                         ("bd_rate_pesq_pct", bd_rate, "pesq_wb"), ("bd_pesq", bd_quality, "pesq_wb")):
                    if metric not in g.columns:
                        row[name] = None
                        reasons.append(f"{name}: no {metric} column")
                        continue
                    try:
                        row[name] = fn(a["kbps"], a[metric], t["kbps"], t[metric])
                    except ValueError as exc:
                        row[name] = None
                        reasons.append(f"{name} of {s} vs {c} on {clip}: {exc}")
                row["reason"] = "; ".join(reasons)
                rows.append(row)
    per_clip = pd.DataFrame(rows, columns=["category", "clip", "series", "codec", "bd_rate_snr_pct", "bd_snr_db",
                                           "bd_rate_pesq_pct", "bd_pesq", "reason"])
    if per_clip.empty:
        return per_clip, per_clip
    vals = ["bd_rate_snr_pct", "bd_snr_db", "bd_rate_pesq_pct", "bd_pesq"]
    num = per_clip.copy()
    num[vals] = num[vals].apply(pd.to_numeric, errors="coerce")
    grp = num.groupby(["category", "series", "codec"])
    cat = grp[vals].mean().reset_index()
    counts = grp[vals].count().values  # clips with a value, per delta
    cat["n_clips"] = [", ".join(str(int(c)) for c in row) for row in counts]
    return per_clip, cat


def claims_table(df, claims: list[dict], default_bits: int = 8):
    """The guide's claimed figures beside the mean measured values at the same Gaussian count."""
    out = []
    for c in claims or []:
        bits = int(c.get("bits", default_bits))
        sel = df[(df["system"] == "audio_gs") & (df["category"] == c["category"]) & (df["gaussians"] == c["gaussians"])
                 & (df["bits"] == bits)]
        row = {"category": c["category"], "gaussians": int(c["gaussians"]), "bits": bits,
               "claimed_compression": c.get("compression"), "claimed_snr_db": c.get("snr_db"),
               "claimed_kbps": c.get("kbps")}
        if sel.empty:
            row.update(measured_compression=None, measured_snr_db=None, measured_kbps=None, measured_pesq_wb=None,
                       n_clips=0, note="not measured: this count/bits is not in the profile's grid")
        else:
            row.update(measured_compression=float(sel["compression_ratio"].mean()),
                       measured_snr_db=float(sel["snr_db"].mean()), measured_kbps=float(sel["kbps"].mean()),
                       measured_pesq_wb=float(sel["pesq_wb"].mean()) if sel["pesq_wb"].notna().any() else None,
                       n_clips=int(sel["clip"].nunique()),
                       note=f"mean over {sel['clip'].nunique()} clip(s), {', '.join(sorted(sel['series'].unique()))}")
        out.append(row)
    return out


def headline_rows(means) -> list[list]:
    """One row per (category, series): its grid points as 'kbps: SNR dB / PESQ', for a compact table."""
    rows = []
    for (cat, series), g in means.groupby(["category", "series"], sort=True):
        g = g.sort_values("kbps")
        pts = "; ".join(f"{_fmt(r['kbps'], 1)}: {_fmt(r['snr_db'], 1)} / {_fmt(r.get('pesq_wb'), 2)}"
                        for _, r in g.iterrows())
        rows.append([cat, series, pts])
    return rows


def missing_table(df):
    """(metric, reason, count) for every metric recorded as missing."""
    out = []
    for col in sorted(c for c in df.columns if c.startswith("missing_")):
        vals = df[col].dropna()
        for reason, n in vals.value_counts().items():
            out.append({"metric": col[len("missing_"):], "reason": str(reason), "rows": int(n)})
    return out


# ---- figures -------------------------------------------------------------------------------------
def _series_style(series: str, gs_list: list[str]) -> dict:
    if series in CODEC_COLORS:
        return {"color": CODEC_COLORS[series], "marker": "s", "linestyle": "--"}
    i = gs_list.index(series) if series in gs_list else 0
    return {"color": GS_COLORS[i % len(GS_COLORS)], "marker": "o", "linestyle": "-"}


def plot_rd(df, category: str, path) -> Path:
    """SNR, PESQ and ViSQOL vs kbps for one category: category means (lines) and single clips (dots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = df[df["category"] == category]
    means = rd_means(d)
    gs_list = sorted(d.loc[d["system"] == "audio_gs", "series"].dropna().unique())
    fig, axes = plt.subplots(1, len(QUALITY), figsize=(6 * len(QUALITY), 4.6))
    n_clips = d["clip"].nunique()
    for ax, (metric, label) in zip(axes, QUALITY):
        if metric not in d.columns:
            ax.set_title(f"{category}: no {metric} column")
            continue
        for series, g in d.groupby("series"):
            st = _series_style(series, gs_list)
            ax.scatter(g["kbps"], g[metric], s=10, alpha=0.35, color=st["color"])
            m = means[means["series"] == series].sort_values("kbps")
            ax.plot(m["kbps"], m[metric], label=series, linewidth=2, markersize=5, **st)
        ax.set_xscale("log")
        ax.set_xlabel("bitrate (kbit/s, from file size)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ticks = [1, 2, 4, 8, 16, 32, 64, 128, 256]
        lo, hi = ax.get_xlim()
        ax.set_xticks([t for t in ticks if lo <= t <= hi] or ticks[:1])
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.get_xaxis().set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(f"{category}: {label.split(' ')[0]} vs bitrate ({n_clips} clip{'s' if n_clips != 1 else ''})")
    axes[0].legend(fontsize=8, loc="best")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _flac_data_uri(wav_path) -> str | None:
    import soundfile as sf

    try:
        x, sr = sf.read(str(wav_path), dtype="int16")
    except Exception:
        return None
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="FLAC", subtype="PCM_16")
    return "data:audio/flac;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img_data_uri(png_path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(png_path).read_bytes()).decode("ascii")


# ---- formatting ----------------------------------------------------------------------------------
def _fmt(v, digits=2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    try:
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        f = float(v)
        if math.isnan(f):
            return "—"
        return f"{f:.{digits}f}"
    except (TypeError, ValueError):
        return str(v)


def md_table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(out)


def html_table(headers: list[str], rows: list[list], cls: str = "") -> str:
    h = "".join(f"<th>{html.escape(str(x))}</th>" for x in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>'


# ---- the report ----------------------------------------------------------------------------------
def _pick_player_rows(df, clip: str, player_count):
    g = df[df["clip"] == clip]
    gs = g[g["system"] == "audio_gs"].dropna(subset=["kbps"])
    if gs.empty:
        return None, None
    counts = sorted(gs["gaussians"].unique())
    if player_count == "min":
        n = counts[0]
    elif player_count == "max" or player_count not in counts:
        n = counts[-1]
    else:
        n = player_count
    cand = gs[gs["gaussians"] == n]
    pick = cand.loc[(cand["bits"] - 8).abs().idxmin()]  # 8 bits when present
    opus = g[(g["system"] == "opus")].dropna(subset=["kbps"])
    near = None
    if not opus.empty:
        near = opus.loc[(np.log(opus["kbps"]) - math.log(pick["kbps"])).abs().idxmin()]
    return pick, near


def build(metrics_csv, benchmark_yaml, profile: str, results_dir, out_dir) -> dict:
    """Write the report into out_dir; returns summary.json's content."""
    import pandas as pd
    import yaml

    df = load_metrics(metrics_csv)
    cfg = yaml.safe_load(Path(benchmark_yaml).read_text())
    prof = (cfg.get("profiles") or {}).get(profile, {})
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    rd_dir = out / "rd"
    if rd_dir.exists():
        shutil.rmtree(rd_dir)
    rd_dir.mkdir(parents=True)
    results = Path(results_dir)
    cats = sorted(df["category"].dropna().unique())

    # RD CSVs (DVC plots) and plots
    means = rd_means(df)
    for (cat, series), g in means.groupby(["category", "series"]):
        g[["kbps", "snr_db", "pesq_wb", "grid", "n_clips"]].to_csv(rd_dir / f"{cat}__{series}.csv", index=False)
    plots = {c: plot_rd(df, c, out / "figures" / f"rd_{c}.png") for c in cats}

    per_clip_bd, cat_bd = bd_table(df)
    claims = claims_table(df, cfg.get("claims", []))
    missing = missing_table(df)

    # Gaussian figures: per clip, at the claimed count of its category when measured, else the largest
    claim_n = {c["category"]: int(c["gaussians"]) for c in cfg.get("claims", [])}
    gauss_figs = []
    for clip, g in df[df["system"] == "audio_gs"].groupby("clip"):
        cat = g["category"].iloc[0]
        counts = sorted(g["gaussians"].dropna().astype(int).unique())
        n = claim_n.get(cat) if claim_n.get(cat) in counts else counts[-1]
        conf = g.loc[g["gaussians"] == n, "config"].iloc[0]
        src = results / "fit" / clip / str(conf) / f"n{n}" / "train" / "gaussians_visualization.png"
        if src.is_file():
            dst = out / "figures" / f"gaussians_{clip}_n{n}.png"
            shutil.copyfile(src, dst)
            gauss_figs.append({"clip": clip, "category": cat, "gaussians": n, "config": conf, "path": dst})

    # clip metadata (licence, attribution) from the reference JSONs
    clip_meta = {}
    for clip in df["clip"].dropna().unique():
        j = results / "ref" / f"{clip}.json"
        if j.is_file():
            info = json.loads(j.read_text())
            clip_meta[clip] = {**(info.get("clip") or {}), "sample_rate": info.get("sample_rate"),
                               "duration_s": info.get("duration_s")}

    # audio players
    player_count = (prof.get("report") or {}).get("player_count", "max")
    players = []
    audio_dir = out / "audio"
    if audio_dir.exists():
        shutil.rmtree(audio_dir)
    audio_dir.mkdir()
    import soundfile as sf

    for clip in sorted(df["clip"].dropna().unique()):
        pick, near = _pick_player_rows(df, clip, player_count)
        entry = {"clip": clip, "category": df.loc[df["clip"] == clip, "category"].iloc[0], "items": []}
        ref_wav = results / "ref" / f"{clip}.wav"
        items = [("original", ref_wav, None)]
        if pick is not None:
            items.append((f"{pick['series']}, {int(pick['gaussians'])} Gaussians", pick.get("decoded_path"), pick))
        if near is not None:
            items.append((f"Opus, target {near['target_kbps']:g} kbps", near.get("decoded_path"), near))
        for label, wav, row in items:
            if not isinstance(wav, str) and not isinstance(wav, Path):
                continue
            uri = _flac_data_uri(wav)
            if uri is None:
                continue
            slug = "original" if row is None else f"{row['series']}_{row['point'] if 'point' in row else ''}"
            fname = f"{clip}__{'original' if row is None else Path(str(wav)).parent.name + '_' + Path(str(wav)).stem}.flac"
            x, sr = sf.read(str(wav), dtype="int16")
            sf.write(str(audio_dir / fname), x, sr, format="FLAC", subtype="PCM_16")
            entry["items"].append({"label": label, "uri": uri, "file": f"audio/{fname}", "slug": slug,
                                   "kbps": None if row is None else float(row["kbps"]),
                                   "snr_db": None if row is None else row.get("snr_db"),
                                   "pesq_wb": None if row is None else row.get("pesq_wb")})
        players.append(entry)

    # summary.json (DVC metrics): category means per audio_gs grid point, BD vs codecs, claims
    summary: dict = {"profile": profile, "rows": int(len(df)), "clips": int(df["clip"].nunique()), "categories": {}}
    for cat in cats:
        c: dict = {"audio_gs": {}, "codecs": {}, "bd": {}}
        for _, r in means[means["category"] == cat].iterrows():
            key = f"{r['series']}@{int(r['grid']) if r['system'] == 'audio_gs' else _fmt(r['grid'], 0) + 'k'}"
            target = c["audio_gs"] if r["system"] == "audio_gs" else c["codecs"]
            target[key] = {k: (None if pd.isna(r[k]) else round(float(r[k]), 4)) for k in ("kbps", "snr_db", "pesq_wb")
                           if k in r}
        if not cat_bd.empty:
            for _, r in cat_bd[cat_bd["category"] == cat].iterrows():
                c["bd"][f"{r['series']}_vs_{r['codec']}"] = {
                    k: (None if pd.isna(r[k]) else round(float(r[k]), 3))
                    for k in ("bd_rate_snr_pct", "bd_snr_db", "bd_rate_pesq_pct", "bd_pesq")}
        summary["categories"][cat] = c
    summary["claims"] = [{k: v for k, v in cl.items() if k != "note"} for cl in claims]
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")

    # ---- tables shared by HTML and Markdown
    claims_rows = [[c["category"], c["gaussians"], c["bits"], _fmt(c["claimed_compression"], 0) + "x",
                    _fmt(c["measured_compression"], 1) + ("x" if c["measured_compression"] is not None else ""),
                    _fmt(c["claimed_snr_db"], 1), _fmt(c["measured_snr_db"], 2), _fmt(c["claimed_kbps"], 0),
                    _fmt(c["measured_kbps"], 2), _fmt(c["measured_pesq_wb"], 2), c["note"]] for c in claims]
    claims_head = ["category", "Gaussians", "bits", "claimed ratio", "measured ratio", "claimed SNR dB",
                   "measured SNR dB", "claimed kbps", "measured kbps", "measured PESQ", "note"]
    bd_head = ["category", "audio_gs series", "vs codec", "BD-rate (SNR) %", "BD-SNR dB", "BD-rate (PESQ) %",
               "BD-PESQ", "clips per delta"]
    bd_rows = [] if cat_bd.empty else [[r["category"], r["series"], r["codec"], _fmt(r["bd_rate_snr_pct"], 1),
                                        _fmt(r["bd_snr_db"], 2), _fmt(r["bd_rate_pesq_pct"], 1), _fmt(r["bd_pesq"], 2),
                                        r["n_clips"]] for _, r in cat_bd.iterrows()]
    bd_reasons = sorted({x for r in per_clip_bd.get("reason", []) if r for x in r.split("; ")}) if not per_clip_bd.empty else []
    mean_head = ["category", "series", "Gaussians / target kbps", "kbps", "SNR dB", "PESQ", "ViSQOL", "STOI", "clips"]
    mean_rows = [[r["category"], r["series"], _fmt(r["grid"], 0), _fmt(r["kbps"], 2), _fmt(r["snr_db"], 2),
                  _fmt(r.get("pesq_wb"), 2), _fmt(r.get("visqol"), 2), _fmt(r.get("stoi"), 3), int(r["n_clips"])]
                 for _, r in means.iterrows()]
    speed = df.groupby(["category", "series"]).agg(
        encode_s=("encode_seconds", "mean"), decode_rtf=("decode_rtf", "mean"),
        **({"max_rss_mb": ("encode_max_rss_mb", "max")} if "encode_max_rss_mb" in df.columns else {})).reset_index()
    speed_head = ["category", "series", "mean encode s", "mean decode RTF"] + (
        ["max encode RSS MB"] if "max_rss_mb" in speed.columns else [])
    speed_rows = [[r["category"], r["series"], _fmt(r["encode_s"], 2), _fmt(r["decode_rtf"], 4)]
                  + ([_fmt(r["max_rss_mb"], 0)] if "max_rss_mb" in speed.columns else []) for _, r in speed.iterrows()]
    miss_head = ["metric", "reason", "rows"]
    miss_rows = [[m["metric"], m["reason"], m["rows"]] for m in missing]
    clip_head = ["category", "clip", "title", "attribution", "licence", "excerpt"]
    clip_rows = [[m.get("category", ""), cid, m.get("title", ""), m.get("attribution", ""), m.get("licence", ""),
                  f"{_fmt(m.get('duration_s'), 1)} s at {m.get('sample_rate')} Hz"] for cid, m in sorted(clip_meta.items())]
    all_cols = [c for c in ["category", "clip", "series", "gaussians", "bits", "target_kbps"] + TABLE_METRICS
                if c in df.columns]
    all_rows = [[_fmt(r[c], 0 if c in ("gaussians", "bits") else 2) if not isinstance(r[c], str) else r[c]
                 for c in all_cols] for _, r in df[all_cols].iterrows()]
    fit_t = df.loc[df["system"] == "audio_gs"].drop_duplicates(["clip", "config", "gaussians"])
    grid_note = (f"profile `{profile}`: {df['clip'].nunique()} clips, {len(df)} decoded files, "
                 f"{len(fit_t)} fits ({_fmt(fit_t['fit_steps'].iloc[0] if 'fit_steps' in fit_t and len(fit_t) else None, 0)} steps each)")

    intro = ("Every number below was measured by the pipeline on the reference excerpts (one decoded file per row of "
             "results/metrics.csv). Bitrates come from the real size of each coded file (.ags or codec output). "
             "Waveform SNR is shown beside PESQ because perceptual codecs (Opus, MP3, Vorbis) do not aim at "
             "waveform match: their SNR understates their perceived quality. A metric that could not be computed "
             "is shown as — and listed with its reason at the end.")
    bd_note = ("BD-rate: average bitrate change of audio_gs against the codec at equal quality (negative = audio_gs "
               "needs fewer bits); BD-SNR / BD-PESQ: average quality change at equal bitrate (positive = audio_gs "
               "better). Bjontegaard's method with monotone piecewise-cubic (PCHIP) interpolation through each "
               "curve's non-dominated points, per clip over the overlapping range only (no extrapolation), then "
               "averaged over the category's clips. A pair whose ranges do not overlap on a clip is left out of "
               "that average and listed below.")

    # ---- Markdown
    md = ["# audio_gs benchmark report", "", grid_note, "", intro, ""]
    md += ["## At a glance", "", "Category means at each grid point, as kbps: SNR dB / PESQ-WB.", "",
           md_table(["category", "series", "points (kbps: SNR dB / PESQ)"], headline_rows(means)), ""]
    md += ["## Rate-distortion", ""]
    for c in cats:
        md += [f"### {c}", "", f"![{c} RD](figures/rd_{c}.png)", ""]
    md += ["## BD-rate / BD-SNR", "", bd_note, "", md_table(bd_head, bd_rows) if bd_rows else "(no pairs)", ""]
    if bd_reasons:
        md += ["Not computed (left out of the averages):", ""] + [f"- {r}" for r in bd_reasons] + [""]
    md += ["## The training guide's claims beside our measurements", "",
           "Claimed: the original training guide's figures. Measured: mean over this category's clips at the same "
           "Gaussian count (reference excerpts of this profile, real .ags sizes).", "", md_table(claims_head, claims_rows), ""]
    md += ["## Category means per grid point", "", md_table(mean_head, mean_rows), ""]
    md += ["## Speed and memory", "", "Encode seconds: fit time for audio_gs (in-process), codec encode for the "
           "others. Decode RTF: decode seconds / audio seconds (in-process, best of 3 for .ags).", "",
           md_table(speed_head, speed_rows), ""]
    md += ["## Gaussians over the spectrogram", ""]
    for f in gauss_figs:
        md += [f"{f['clip']} ({f['category']}, {f['gaussians']} Gaussians, config {f['config']}, before quantization):", "",
               f"![{f['clip']}](figures/{f['path'].name})", ""]
    md += ["## Listen", ""]
    for p in players:
        md += [f"- **{p['clip']}** ({p['category']}): " + ", ".join(
            f"[{it['label']}]({it['file']})" + (f" ({_fmt(it['kbps'], 1)} kbps, SNR {_fmt(it['snr_db'], 1)} dB)" if it["kbps"] else "")
            for it in p["items"])]
    md += ["", "## Clips", "", md_table(clip_head, clip_rows), ""]
    md += ["## Missing metrics", "", md_table(miss_head, miss_rows) if miss_rows else "None: every metric was computed.", ""]
    md += ["## All rows", "", md_table(all_cols, all_rows), ""]
    (out / "report.md").write_text("\n".join(md))

    # ---- HTML (self-contained)
    css = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
           "table{border-collapse:collapse;margin:1em 0;font-size:0.85em}td,th{border:1px solid #ccc;padding:3px 6px;"
           "text-align:right}th{background:#f0f0f0}td:first-child,td:nth-child(2){text-align:left}"
           "img{max-width:100%}.players td{text-align:left}audio{width:260px}h2{border-bottom:1px solid #ddd}")
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>audio_gs benchmark</title><style>{css}</style></head><body>",
         "<h1>audio_gs benchmark report</h1>", f"<p>{html.escape(grid_note)}</p>", f"<p>{html.escape(intro)}</p>",
         "<h2>Rate-distortion</h2>"]
    for c in cats:
        h.append(f"<h3>{html.escape(c)}</h3><img alt='{c} RD' src='{_img_data_uri(plots[c])}'>")
    h += ["<h2>BD-rate / BD-SNR</h2>", f"<p>{html.escape(bd_note)}</p>", html_table(bd_head, bd_rows) if bd_rows else "<p>(no pairs)</p>"]
    if bd_reasons:
        h.append("<p>Not computed (left out of the averages):</p><ul>"
                 + "".join(f"<li>{html.escape(r)}</li>" for r in bd_reasons) + "</ul>")
    h += ["<h2>The training guide's claims beside our measurements</h2>",
          "<p>Claimed: the original training guide's figures. Measured: mean over this category's clips at the same "
          "Gaussian count.</p>", html_table(claims_head, claims_rows)]
    h += ["<h2>Listen</h2><p>Original reference, audio_gs and Opus at the nearest bitrate.</p>"]
    prow = []
    for p in players:
        cells = [html.escape(f"{p['clip']} ({p['category']})")]
        for it in p["items"]:
            cap = html.escape(it["label"]) + ("" if it["kbps"] is None else
                                              f"<br>{_fmt(it['kbps'], 1)} kbps, SNR {_fmt(it['snr_db'], 1)} dB, PESQ {_fmt(it['pesq_wb'], 2)}")
            cells.append(f"{cap}<br><audio controls preload='none' src='{it['uri']}'></audio>")
        prow.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    h.append("<table class='players'><thead><tr><th>clip</th><th>original</th><th>audio_gs</th><th>Opus</th></tr></thead>"
             f"<tbody>{''.join(prow)}</tbody></table>")
    h += ["<h2>Category means per grid point</h2>", html_table(mean_head, mean_rows)]
    h += ["<h2>Speed and memory</h2>", html_table(speed_head, speed_rows)]
    h.append("<h2>Gaussians over the spectrogram</h2>")
    for f in gauss_figs:
        h.append(f"<p>{html.escape(f['clip'])} ({f['category']}, {f['gaussians']} Gaussians, config {f['config']}, "
                 f"before quantization)</p><img alt='{html.escape(f['clip'])}' src='{_img_data_uri(f['path'])}'>")
    h += ["<h2>Clips</h2>", html_table(clip_head, clip_rows)]
    h += ["<h2>Missing metrics</h2>", html_table(miss_head, miss_rows) if miss_rows else "<p>None: every metric was computed.</p>"]
    h += ["<details><summary>All rows</summary>", html_table(all_cols, all_rows), "</details>", "</body></html>"]
    (out / "index.html").write_text("\n".join(h))
    return summary


def publish(src, dest) -> Path:
    """Copy the report folder (index.html, report.md, figures, audio, CSVs) to dest."""
    src, dest = Path(src), Path(dest).expanduser()
    if not (src / "index.html").is_file():
        raise AudioGSError(f"{src}: no index.html (build the report first: snakemake report)")
    if dest.resolve() == src.resolve():
        raise AudioGSError("publish folder is the report folder itself")
    tmp = dest.with_name(f".{dest.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("smoke"))
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return dest


@exits_2_on_user_error
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m audio_gs.bench.report", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the report from results/metrics.csv")
    b.add_argument("--metrics", required=True)
    b.add_argument("--benchmark", default="params/benchmark.yaml")
    b.add_argument("--profile", default="default")
    b.add_argument("--results", required=True, help="results folder (references, fit figures)")
    b.add_argument("-o", "--output", required=True, help="report folder")
    p = sub.add_parser("publish", help="copy a built report folder to a folder you name")
    p.add_argument("src")
    p.add_argument("dest")
    args = ap.parse_args(argv)
    if args.cmd == "build":
        s = build(args.metrics, args.benchmark, args.profile, args.results, args.output)
        print(f"report: {args.output}/index.html ({s['rows']} rows, {s['clips']} clips)")
    else:
        print(f"published to {publish(args.src, args.dest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
