"""The benchmark report: rate-distortion plots (per category and per clip), BD-rate with its spread
across clips, the codecs' libraries and container overheads, the training guide's claims beside what
we measure, Gaussian figures, audio players and credits.

One document model, two renderings: each ``section_*`` function turns the measured tables into a
Section (a title and a list of blocks: text, table, figures, players, list), and two Jinja2 templates
(templates/report.html.j2, templates/report.md.j2) render the same sections as a self-contained
reports/index.html (images and audio embedded) and reports/report.md (links to the files beside it).
``build`` also writes summary.json (the headline figures, DVC metrics), rd/*.csv (RD curves, DVC
plots) and bd_per_clip.csv / bd_category.csv (every Bjontegaard delta).

Input is results/metrics.csv (audio_gs.bench.benchmark.aggregate): one row per decoded file with
category, clip, system (audio_gs or a codec), series, point, target_kbps, gaussians, kbps, snr_db,
pesq_wb, visqol, ..., codec_library, container_overhead_bytes and missing_<metric> (the reason a
metric is absent).

Command line (used by the Snakefile)::

    python -m audio_gs.bench.report build --metrics results/metrics.csv --benchmark params/benchmark.yaml \
        --profile default --results results -o reports
    python -m audio_gs.bench.report publish reports /path/to/folder
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import math
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audio_gs.bench.bd import bd_quality, bd_rate, library_version
from audio_gs.errors import AudioGSError, exits_2_on_user_error

CODEC_COLORS = {"opus": "#1f77b4", "mp3": "#ff7f0e", "vorbis": "#2ca02c", "aac": "#8c564b", "codec2": "#7f7f7f"}
GS_COLORS = ["#d62728", "#9467bd", "#e377c2", "#17becf", "#bcbd22"]
QUALITY = [("snr_db", "SNR (dB)"), ("pesq_wb", "PESQ-WB (MOS-LQO)"), ("visqol", "ViSQOL (MOS-LQO)")]
BD_METRICS = [("snr_db", "SNR", "snr", "dB"), ("pesq_wb", "PESQ", "pesq", ""), ("visqol", "ViSQOL", "visqol", "")]
TABLE_METRICS = ["kbps", "compression_ratio", "snr_db", "segsnr_db", "si_sdr_db", "sdr_db", "pesq_wb", "stoi",
                 "visqol", "lsd_db", "mel_distance"]
TEMPLATES = Path(__file__).parent / "templates"


# ---- the document model --------------------------------------------------------------------------
@dataclass
class Section:
    """One part of the report: a title and blocks, each a dict with a `kind`:

    text {text} / table {headers, rows, note?, collapsed?} / figures {items: [{alt, file, uri, caption}]} /
    players {rows: [{clip, category, items: [{label, caption, file, uri}]}]} / list {items}.
    """

    id: str
    title: str
    blocks: list = field(default_factory=list)

    def text(self, text: str) -> "Section":
        self.blocks.append({"kind": "text", "text": text})
        return self

    def table(self, headers, rows, *, note: str | None = None, collapsed: bool = False) -> "Section":
        self.blocks.append({"kind": "table", "headers": list(headers), "rows": [list(r) for r in rows],
                            "note": note, "collapsed": collapsed})
        return self


@dataclass
class Context:
    """What every section reads: the rows, the grid, the derived tables and where files go."""

    df: object  # pandas DataFrame of results/metrics.csv
    cfg: dict  # params/benchmark.yaml
    profile: str
    prof: dict
    results: Path
    out: Path
    means: object
    per_clip_bd: object
    cat_bd: object
    clip_meta: dict
    times: dict


# ---- tables from the metrics ---------------------------------------------------------------------
def load_metrics(path):
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise AudioGSError(f"{p}: no such metrics file (run the pipeline first)")
    df = pd.read_csv(p)
    for col in ("gaussians", "bits", "target_kbps", "config", "codec", "series", "point", "visqol", "pesq_wb",
                "codec_library", "container_overhead_bytes"):
        if col not in df.columns:
            df[col] = np.nan
    if df["point"].isna().any():  # older tables: the grid coordinate from count / target
        pts = np.where(df["system"] == "audio_gs", "n" + df["gaussians"].astype("Int64").astype(str)
                       + "_b" + df["bits"].astype("Int64").astype(str),
                       "k" + df["target_kbps"].map(lambda v: f"{v:g}" if v == v else ""))
        df["point"] = df["point"].fillna(pd.Series(pts, index=df.index))
    return df


def rd_means(df):
    """Per (category, series, point): mean kbps and quality over the category's clips, and n_clips."""
    cols = [c for c in ("kbps", "snr_db", "pesq_wb", "visqol", "stoi", "compression_ratio", "target_kbps",
                        "gaussians") if c in df.columns]
    g = df.groupby(["category", "series", "system", "point"], dropna=False)
    out = g[cols].mean()
    out["n_clips"] = g["clip"].nunique()
    return out.reset_index().sort_values(["category", "series", "kbps"])


def bd_table(df):
    """Every Bjontegaard delta of each audio_gs series against each codec, on SNR, PESQ and ViSQOL:
    (per clip, per category). Per clip: bd_rate_<m>_pct and bd_<m> (the quality delta); a delta that
    cannot be computed is None with its reason in `reason`. Per category: mean, min, max over the clips
    that have a value, and how many clips that is."""
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
                for metric, label, key, _ in BD_METRICS:
                    for name, fn in ((f"bd_rate_{key}_pct", bd_rate), (f"bd_{key}", bd_quality)):
                        try:
                            row[name] = fn(a["kbps"], a[metric], t["kbps"], t[metric])
                        except ValueError as exc:
                            row[name] = None
                            reasons.append(f"{name}: {exc}")
                row["reason"] = "; ".join(reasons)
                rows.append(row)
    vals = [f"{p}{key}{q}" for _, _, key, _ in BD_METRICS for p, q in (("bd_rate_", "_pct"), ("bd_", ""))]
    per_clip = pd.DataFrame(rows, columns=["category", "clip", "series", "codec", *vals, "reason"])
    if per_clip.empty:
        return per_clip, pd.DataFrame(columns=["category", "series", "codec"])
    num = per_clip.copy()
    num[vals] = num[vals].apply(pd.to_numeric, errors="coerce")
    grp = num.groupby(["category", "series", "codec"])
    cat = grp[vals].mean()
    for v in vals:
        cat[f"{v}_min"] = grp[v].min()
        cat[f"{v}_max"] = grp[v].max()
        cat[f"{v}_n"] = grp[v].count()
    cat["clips"] = grp["clip"].nunique()
    return per_clip, cat.reset_index()


def spread_sentence(cat_bd, key: str, label: str) -> str:
    """Whether the sign of each category mean of BD-rate on `label` holds on every clip, in one paragraph."""
    col = f"bd_rate_{key}_pct"
    if cat_bd.empty or col not in cat_bd:
        return f"No BD-rate on {label} could be computed."
    held, broken, partial = [], [], []
    for _, r in cat_bd.iterrows():
        if not r[f"{col}_n"]:
            continue
        pair = f"{r['category']} vs {r['codec']}" + ("" if _one_series(cat_bd, r["category"]) else f" ({r['series']})")
        lo, hi = r[f"{col}_min"], r[f"{col}_max"]
        if (lo < 0) == (hi < 0) and lo != 0 and hi != 0:
            held.append(pair)
        else:
            broken.append(f"{pair} (mean {_pct(r[col])}, clips {_pct(lo)} to {_pct(hi)})")
        if r[f"{col}_n"] < r["clips"]:
            partial.append(f"{pair} ({int(r[f'{col}_n'])} of {int(r['clips'])} clips)")
    n = len(held) + len(broken)
    if not n:
        return f"No BD-rate on {label} could be computed on any clip (reasons below)."
    where = " where it could be computed" if partial else ""
    if not broken:
        s = f"On {label}, the sign of every category mean holds on every clip{where} ({n} of {n} category-codec pairs)."
    else:
        s = (f"On {label}, the sign of the category mean holds on every clip{where} for {len(held)} of {n} "
             f"category-codec pairs; it does not for {'; '.join(broken)}.")
    if partial:
        s += f" Computed on fewer clips than the category has (no overlap on the others): {'; '.join(partial)}."
    return s


def _one_series(cat_bd, category) -> bool:
    return cat_bd.loc[cat_bd["category"] == category, "series"].nunique() <= 1


def claims_table(df, claims: list[dict], default_bits: int = 8):
    """The guide's claimed figures beside the mean measured values: at the same Gaussian count when the
    grid has count points for the category, else at the audio_gs rate point whose target is the claimed kbps."""
    out = []
    gs = df[df["system"] == "audio_gs"]
    for c in claims or []:
        bits = int(c.get("bits", default_bits))
        cat = gs[gs["category"] == c["category"]]
        by_count = cat[(cat["point"].astype(str).str.startswith("n")) & (cat["gaussians"] == c["gaussians"])
                       & (cat["bits"] == bits)]
        by_rate = cat[(cat["point"].astype(str).str.startswith("k")) & (cat["target_kbps"] == c.get("kbps"))]
        sel, how = (by_count, f"{int(c['gaussians'])} Gaussians, {bits} bits") if not by_count.empty else (
            by_rate, f"target {c.get('kbps')} kbps")
        row = {"category": c["category"], "gaussians": int(c["gaussians"]), "bits": bits,
               "claimed_compression": c.get("compression"), "claimed_snr_db": c.get("snr_db"),
               "claimed_kbps": c.get("kbps")}
        if sel.empty:
            row.update(measured_at=None, measured_compression=None, measured_snr_db=None, measured_kbps=None,
                       measured_pesq_wb=None, measured_gaussians=None, n_clips=0,
                       note="not measured: neither this count nor this rate is in the profile's grid")
        else:
            row.update(measured_at=how, measured_compression=float(sel["compression_ratio"].mean()),
                       measured_snr_db=float(sel["snr_db"].mean()), measured_kbps=float(sel["kbps"].mean()),
                       measured_pesq_wb=float(sel["pesq_wb"].mean()) if sel["pesq_wb"].notna().any() else None,
                       measured_gaussians=float(sel["gaussians"].mean()) if sel["gaussians"].notna().any() else None,
                       n_clips=int(sel["clip"].nunique()),
                       note=f"mean over {sel['clip'].nunique()} clip(s) at {how}")
        out.append(row)
    return out


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


def _log_kbps_axis(ax, kbps):
    """Log kbit/s axis with plain tick labels over the rates in `kbps` (also when nothing is plotted)."""
    import matplotlib

    k = np.asarray(kbps, float)
    k = k[np.isfinite(k) & (k > 0)]
    ax.set_xscale("log")
    if k.size:
        ax.set_xlim(k.min() / 1.2, k.max() * 1.2)
    ticks = [0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256]
    lo, hi = ax.get_xlim()
    ax.set_xticks([t for t in ticks if lo <= t <= hi] or ticks[:1])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.get_xaxis().set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.grid(True, which="both", alpha=0.3)


def plot_rd(df, category: str, path) -> Path:
    """SNR, PESQ and ViSQOL vs real kbps for one category: category means (lines) and single clips (dots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = df[df["category"] == category]
    means = rd_means(d)
    gs_list = sorted(d.loc[d["system"] == "audio_gs", "series"].dropna().unique())
    fig, axes = plt.subplots(1, len(QUALITY), figsize=(6 * len(QUALITY), 4.6))
    n_clips = d["clip"].nunique()
    for ax, (metric, label) in zip(axes, QUALITY):
        for series, g in d.groupby("series"):
            st = _series_style(series, gs_list)
            m = means[means["series"] == series].sort_values("kbps")
            ax.scatter(g["kbps"], g[metric], s=10, alpha=0.35, color=st["color"])
            ax.plot(m["kbps"], m[metric], label=series, linewidth=2, markersize=5, **st)
        _log_kbps_axis(ax, d["kbps"])
        ax.set_xlabel("bitrate (kbit/s, from file size)")
        ax.set_ylabel(label)
        name = label.split(" ")[0]
        ax.set_title(f"{category}: {name} vs bitrate ({n_clips} clip{'s' if n_clips != 1 else ''})"
                     if d[metric].notna().any() else f"{category}: no {name} values (see Missing metrics)")
    axes[0].legend(fontsize=8, loc="best")
    return _save(fig, path, dpi=100)


def plot_clip(df, clip: str, path) -> Path:
    """One small panel per clip: PESQ, ViSQOL and SNR against the real kbps of every point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = df[df["clip"] == clip]
    gs_list = sorted(d.loc[d["system"] == "audio_gs", "series"].dropna().unique())
    order = [QUALITY[1], QUALITY[2], QUALITY[0]]
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.6))
    for ax, (metric, label) in zip(axes, order):
        for series, g in d.groupby("series"):
            g = g.sort_values("kbps")
            ax.plot(g["kbps"], g[metric], label=series, linewidth=1.3, markersize=3.5,
                    **_series_style(series, gs_list))
        _log_kbps_axis(ax, d["kbps"])
        ax.set_title(label.split(" ")[0] if d[metric].notna().any() else f"no {label.split(' ')[0]}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("kbit/s", fontsize=7)
    axes[0].legend(fontsize=6, loc="best")
    fig.suptitle(f"{clip} ({d['category'].iloc[0]})", fontsize=9)
    return _save(fig, path, dpi=80)


def _save(fig, path, dpi) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _flac_bytes(wav_path) -> bytes | None:
    import soundfile as sf

    try:
        x, sr = sf.read(str(wav_path), dtype="int16")
    except Exception:
        return None
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _figure(ctx: Context, path: Path, alt: str, caption: str = "") -> dict:
    return {"alt": alt, "caption": caption, "file": path.relative_to(ctx.out).as_posix(),
            "uri": _data_uri(path.read_bytes(), "image/png")}


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


def _pct(v) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:+.0f} %"


def _point_label(r) -> str:
    """'16 kbps' for a rate point, '300 Gaussians' for a count point."""
    if str(r.get("point", "")).startswith("k"):
        return f"{float(r['target_kbps']):g} kbps"
    return f"{int(r['gaussians'])} Gaussians"


# ---- sections ------------------------------------------------------------------------------------
def section_glance(ctx: Context) -> Section:
    rows = []
    for (cat, series), g in ctx.means.groupby(["category", "series"], sort=True):
        g = g.sort_values("kbps")
        pts = "; ".join(f"{_fmt(r['kbps'], 1)}: {_fmt(r['snr_db'], 1)} / {_fmt(r.get('pesq_wb'), 2)} / "
                        f"{_fmt(r.get('visqol'), 2)}" for _, r in g.iterrows())
        rows.append([cat, series, pts])
    return (Section("glance", "At a glance")
            .text("Category means at each grid point, as real kbps: SNR dB / PESQ-WB / ViSQOL.")
            .table(["category", "series", "points (kbps: SNR / PESQ / ViSQOL)"], rows))


def section_bd(ctx: Context) -> Section:
    sec = Section("bd", "BD-rate against each codec, with its spread across clips")
    sec.text("BD-rate: average bitrate change of audio_gs against the codec at equal quality (negative = audio_gs "
             "needs fewer bits); BD-quality: average quality change at equal bitrate (positive = audio_gs better). "
             f"Computed per clip with the `{library_version()}` package (PCHIP interpolation, as in the JCT-VC common "
             "test conditions) through each curve's non-dominated points, over the overlapping range only (no "
             "extrapolation); the category mean is the mean over its clips, shown with the smallest and largest "
             "clip value.")
    if ctx.cat_bd.empty:
        return sec.text("No audio_gs series and codec share a clip: nothing to compare.")
    for metric, label, key, unit in BD_METRICS:
        col, qcol = f"bd_rate_{key}_pct", f"bd_{key}"
        rows = []
        for _, r in ctx.cat_bd.iterrows():
            if not r[f"{col}_n"] and not r[f"{qcol}_n"]:
                continue  # nothing computed for this pair: listed with its reason below
            rows.append([r["category"], r["series"], r["codec"], _pct(r[col]), _pct(r[f"{col}_min"]),
                         _pct(r[f"{col}_max"]), f"{_fmt(r[qcol], 2)} {unit}".strip(),
                         f"{_fmt(r[f'{qcol}_min'], 2)} to {_fmt(r[f'{qcol}_max'], 2)}",
                         f"{int(r[f'{col}_n'])} of {int(r['clips'])}"])
        sentence = spread_sentence(ctx.cat_bd, key, label)
        if not rows:
            sec.text(sentence)
            continue
        sec.table(["category", "audio_gs series", "vs codec", f"BD-rate ({label}) mean", "min clip", "max clip",
                   f"BD-{label} mean", "clip range", "clips"], rows, note=sentence)
    per_clip = [[r["category"], r["clip"], r["series"], r["codec"]]
                + [_pct(r[f"bd_rate_{key}_pct"]) for _, _, key, _ in BD_METRICS]
                for _, r in ctx.per_clip_bd.iterrows()]
    sec.text("Every clip's BD-rate (the rows behind the means; also in bd_per_clip.csv with the BD-quality values):")
    sec.table(["category", "clip", "audio_gs series", "vs codec"] + [f"BD-rate ({lb})" for _, lb, _, _ in BD_METRICS],
              per_clip, collapsed=True)
    gaps: dict = {}  # reason -> {pair: [metrics]}
    for _, r in ctx.per_clip_bd.iterrows():
        pair = f"{r['clip']} vs {r['codec']}" + ("" if _one_series(ctx.cat_bd, r["category"]) else f" ({r['series']})")
        for part in filter(None, (r["reason"] or "").split("; ")):
            name, _, why = part.partition(": ")
            label = next((lb for _, lb, key, _ in BD_METRICS if name in (f"bd_rate_{key}_pct", f"bd_{key}")), name)
            metrics = gaps.setdefault(why, {}).setdefault(pair, [])
            if label not in metrics:
                metrics.append(label)
    if gaps:
        sec.text("Not computed (left out of the means), by reason:")
        sec.blocks.append({"kind": "list", "items": [
            f"{why}: " + ", ".join(f"{pair} ({'/'.join(m)})" for pair, m in pairs.items())
            for why, pairs in sorted(gaps.items())]})
    return sec


def section_rd(ctx: Context) -> Section:
    sec = Section("rd", "Rate-distortion per category")
    sec.text("Waveform SNR beside the perceptual scores: Opus, MP3, Vorbis and AAC do not aim at waveform match, "
             "so their SNR understates how they sound. Lines: category means at each grid point; dots: single clips.")
    items = []
    for c in sorted(ctx.df["category"].dropna().unique()):
        items.append(_figure(ctx, plot_rd(ctx.df, c, ctx.out / "figures" / f"rd_{c}.png"), f"{c} RD", c))
    sec.blocks.append({"kind": "figures", "items": items})
    return sec


def section_clip_panels(ctx: Context) -> Section:
    sec = Section("clips-rd", "Every clip: PESQ, ViSQOL and SNR against the real bitrate")
    sec.text("One panel per clip, so that the spread behind each category mean shows.")
    items = [_figure(ctx, plot_clip(ctx.df, clip, ctx.out / "figures" / "clips" / f"rd_{clip}.png"), f"{clip} RD")
             for clip in sorted(ctx.df["clip"].dropna().unique())]
    sec.blocks.append({"kind": "figures", "items": items, "small": True})
    return sec


def section_codecs(ctx: Context) -> Section:
    rows = []
    for system, g in ctx.df.groupby("system"):
        libs = sorted({str(x) for x in g["codec_library"].dropna()}) or ["—"]
        over = g["container_overhead_bytes"].dropna()
        targets = sorted(g["target_kbps"].dropna().unique())
        lo = g.loc[g["kbps"].idxmin()] if g["kbps"].notna().any() else None
        real_lo = "—" if lo is None else f"{_fmt(lo['kbps'], 1)} kbps" + (
            f" (target {float(lo['target_kbps']):g})" if lo["target_kbps"] == lo["target_kbps"] else "")
        missed = g[(g["target_kbps"].notna()) & ((g["kbps"] / g["target_kbps"] - 1).abs() > 0.10)]
        rows.append([system, "; ".join(libs),
                     "—" if over.empty else (f"{int(over.min())}" if over.min() == over.max()
                                             else f"{int(over.min())} to {int(over.max())}"),
                     ", ".join(f"{t:g}" for t in targets) or "(Gaussian counts)", real_lo,
                     f"{len(missed)} of {len(g)}"])
    return (Section("codecs", "Codecs: library, version and container overhead")
            .text("Which library and version produced each codec's points, and the container's fixed bytes in each "
                  "coded file (Ogg header pages, MP4 boxes, MP3 tag/Xing frame, .c2 header, .ags header and CRC): "
                  "they count in the bitrate, which is always 8 x file bytes / duration. A codec that cannot reach a "
                  "target returns its nearest rate; the table shows the lowest real rate reached and how many points "
                  "are more than 10 % off their target.")
            .table(["system", "library (version)", "container overhead bytes", "targets kbps",
                    "lowest real rate", "points > 10 % off target"], rows))


def _player_rows(ctx: Context, clip: str):
    """(audio_gs row, Opus row) played for a clip: the points nearest player_kbps (count-only grids: the
    player_count point), either None when absent."""
    rep = ctx.prof.get("report") or {}
    g = ctx.df[ctx.df["clip"] == clip]
    gs = g[g["system"] == "audio_gs"].dropna(subset=["kbps"])
    opus = g[g["system"] == "opus"].dropna(subset=["kbps"])
    target = float(rep.get("player_kbps", 16))
    rate = gs[gs["point"].astype(str).str.startswith("k")]
    pick = None
    if not rate.empty:
        pick = rate.loc[(np.log(rate["target_kbps"]) - math.log(target)).abs().idxmin()]
    elif not gs.empty:
        counts = sorted(gs["gaussians"].dropna().unique())
        want = rep.get("player_count", "max")
        n = counts[0] if want == "min" else counts[-1] if want == "max" or want not in counts else want
        cand = gs[gs["gaussians"] == n]
        pick = cand.loc[(cand["bits"] - 8).abs().idxmin()]
    near_to = target if pick is None or not rate.empty else float(pick["kbps"])
    near = None if opus.empty else opus.loc[(np.log(opus["target_kbps"]) - math.log(near_to)).abs().idxmin()]
    return pick, near


def section_listen(ctx: Context) -> Section:
    audio_dir = ctx.out / "audio"
    if audio_dir.exists():
        shutil.rmtree(audio_dir)
    audio_dir.mkdir(parents=True)
    target = (ctx.prof.get("report") or {}).get("player_kbps", 16)
    rows = []
    for clip in sorted(ctx.df["clip"].dropna().unique()):
        pick, near = _player_rows(ctx, clip)
        entry = {"clip": clip, "category": ctx.df.loc[ctx.df["clip"] == clip, "category"].iloc[0], "items": []}
        for label, wav, row in (("original", ctx.results / "ref" / f"{clip}.wav", None),
                                ("audio_gs", None if pick is None else pick.get("decoded_path"), pick),
                                ("Opus", None if near is None else near.get("decoded_path"), near)):
            data = _flac_bytes(wav) if isinstance(wav, (str, Path)) else None
            if data is None:
                entry["items"].append({"label": label, "caption": "not in this grid", "file": None, "uri": None})
                continue
            name = f"{clip}__original.flac" if row is None else f"{clip}__{row['series']}_{row['point']}.flac"
            (audio_dir / name).write_bytes(data)
            caption = "reference excerpt" if row is None else (
                f"{row['series']} {_point_label(row)}: {_fmt(row['kbps'], 1)} kbps real, SNR {_fmt(row['snr_db'], 1)} dB, "
                f"PESQ {_fmt(row.get('pesq_wb'), 2)}, ViSQOL {_fmt(row.get('visqol'), 2)}")
            entry["items"].append({"label": label, "caption": caption, "file": f"audio/{name}",
                                   "uri": _data_uri(data, "audio/flac")})
        rows.append(entry)
    sec = Section("listen", "Listen")
    sec.text(f"For each clip: the original reference excerpt, audio_gs and Opus at their points nearest "
             f"{target} kbps (real rates in the captions).")
    sec.blocks.append({"kind": "players", "rows": rows})
    return sec


def section_gaussians(ctx: Context) -> Section:
    sec = Section("gaussians", "Gaussians over the spectrogram")
    sec.text("The fit's own figure (before the file is decoded): tonal Gaussians as ellipses, noise Gaussians in "
             "orange, the noise envelope's gains (where the file has one) as an orange line on the right-hand axis, "
             "with the residual; at the audio_gs point the players use.")
    items = []
    for clip in sorted(ctx.df["clip"].dropna().unique()):
        pick, _ = _player_rows(ctx, clip)
        if pick is None:
            continue
        sub = pick["point"] if str(pick["point"]).startswith("k") else f"n{int(pick['gaussians'])}"
        src = ctx.results / "fit" / clip / str(pick["config"]) / sub / "train" / "gaussians_visualization.png"
        if src.is_file():
            dst = ctx.out / "figures" / f"gaussians_{clip}_{sub}.png"
            shutil.copyfile(src, dst)
            items.append(_figure(ctx, dst, clip, f"{clip} ({pick['category']}), {pick['series']} {_point_label(pick)}"))
    sec.blocks.append({"kind": "figures", "items": items})
    return sec


def section_claims(ctx: Context, claims: list[dict]) -> Section:
    rows = [[c["category"], c["gaussians"], _fmt(c["claimed_compression"], 0) + "x", _fmt(c["claimed_snr_db"], 1),
             _fmt(c["claimed_kbps"], 0), c["measured_at"] or "—",
             _fmt(c["measured_compression"], 1) + ("x" if c["measured_compression"] is not None else ""),
             _fmt(c["measured_snr_db"], 2), _fmt(c["measured_kbps"], 2), _fmt(c["measured_pesq_wb"], 2),
             _fmt(c["measured_gaussians"], 0), c["note"]] for c in claims]
    return (Section("claims", "The training guide's claims beside our measurements")
            .text("Claimed: the original training guide's figures (a Gaussian count with its ratio, SNR and kbps). "
                  "Measured: the mean over the category's clips at the same count when the grid has count points, "
                  "else at the rate point of the claimed kbps (real .ags sizes; ratios against 16-bit PCM of the "
                  "excerpt at its benchmark rate).")
            .table(["category", "claimed Gaussians", "claimed ratio", "claimed SNR dB", "claimed kbps", "measured at",
                    "ratio", "SNR dB", "kbps", "PESQ", "Gaussians", "note"], rows))


def section_means(ctx: Context) -> Section:
    rows = [[r["category"], r["series"], r["point"], _fmt(r["kbps"], 2), _fmt(r["snr_db"], 2),
             _fmt(r.get("pesq_wb"), 2), _fmt(r.get("visqol"), 2), _fmt(r.get("stoi"), 3), int(r["n_clips"])]
            for _, r in ctx.means.iterrows()]
    return Section("means", "Category means per grid point").table(
        ["category", "series", "point", "kbps", "SNR dB", "PESQ", "ViSQOL", "STOI", "clips"], rows)


def section_speed(ctx: Context) -> Section:
    df = ctx.df
    agg = {"encode_s": ("encode_seconds", "mean"), "decode_rtf": ("decode_rtf", "mean")}
    if "encode_max_rss_mb" in df.columns:
        agg["max_rss_mb"] = ("encode_max_rss_mb", "max")
    speed = df.groupby(["category", "series"]).agg(**agg).reset_index()
    rows = [[r["category"], r["series"], _fmt(r["encode_s"], 2), _fmt(r["decode_rtf"], 4)]
            + ([_fmt(r["max_rss_mb"], 0)] if "max_rss_mb" in speed.columns else []) for _, r in speed.iterrows()]
    t = ctx.times
    note = (f"Grid: {_fmt(t.get('grid_wall_s', float('nan')) / 60, 1)} min wall from the first job's start to the "
            f"last job's end ({t.get('jobs')} jobs, {_fmt(t.get('jobs_s', float('nan')) / 60, 1)} min of job time), "
            "from Snakemake's benchmark files." if t else "No Snakemake benchmark files: grid time unknown.")
    return (Section("speed", "Speed and memory")
            .text("Encode seconds: the fit (in-process) for audio_gs, the final encode for a codec. Decode RTF: "
                  "decode seconds / audio seconds (in-process, best of 3 for .ags). Max encode RSS: the fit job's "
                  "peak memory.")
            .table(["category", "series", "mean encode s", "mean decode RTF"]
                   + (["max encode RSS MB"] if "max_rss_mb" in speed.columns else []), rows, note=note))


def section_credits(ctx: Context) -> Section:
    rows = []
    for cid, m in sorted(ctx.clip_meta.items()):
        urls = [u for u in (m.get("url"), m.get("licence_url")) if u]
        rows.append([cid, m.get("category", ""), m.get("title", ""), m.get("attribution", ""), m.get("licence", ""),
                     " ".join(urls) or ("user-provided file" if m.get("source") == "user" else "—"),
                     f"{_fmt(m.get('duration_s'), 1)} s at {m.get('sample_rate')} Hz"])
    return (Section("credits", "Credits")
            .text("Every clip, with its title, attribution, licence and where it comes from (source URL, then the "
                  "licence's URL). The excerpt is what was scored.")
            .table(["clip", "category", "title", "attribution", "licence", "URL", "excerpt"], rows))


def section_missing(ctx: Context) -> Section:
    rows = [[m["metric"], m["reason"], m["rows"]] for m in missing_table(ctx.df)]
    sec = Section("missing", "Missing metrics")
    return sec.table(["metric", "reason", "rows"], rows) if rows else sec.text("None: every metric was computed.")


def section_all_rows(ctx: Context) -> Section:
    cols = [c for c in ["category", "clip", "series", "point", "target_kbps"] + TABLE_METRICS if c in ctx.df.columns]
    rows = [[r[c] if isinstance(r[c], str) else _fmt(r[c], 2) for c in cols] for _, r in ctx.df[cols].iterrows()]
    return Section("rows", "All rows").table(cols, rows, collapsed=True)


# ---- outputs -------------------------------------------------------------------------------------
def summary(ctx: Context) -> dict:
    """summary.json (DVC metrics): the headline figures only, so that `dvc metrics diff` reads like a
    changelog: BD-rate (%) per category and codec on SNR, PESQ and ViSQOL (mean over the clips, one
    decimal), and the grid's size and wall time. Every other number is in bd_category.csv / rd/*.csv."""
    out: dict = {"profile": ctx.profile, "clips": int(ctx.df["clip"].nunique()), "decoded_files": int(len(ctx.df))}
    if ctx.times:
        out["grid_wall_min"] = round(ctx.times["grid_wall_s"] / 60, 1)
    bd: dict = {}
    for _, r in ctx.cat_bd.iterrows():
        name = r["codec"] if _one_series(ctx.cat_bd, r["category"]) else f"{r['series']}_vs_{r['codec']}"
        bd.setdefault(r["category"], {})[name] = {
            key: (None if r[f"bd_rate_{key}_pct"] is None or math.isnan(r[f"bd_rate_{key}_pct"])
                  else round(float(r[f"bd_rate_{key}_pct"]), 1)) for _, _, key, _ in BD_METRICS}
    out["bd_rate_pct"] = bd
    return out


def write_tables(ctx: Context) -> None:
    """RD curves (rd/<category>__<series>.csv, DVC plots) and every BD delta (bd_per_clip.csv, bd_category.csv)."""
    rd_dir = ctx.out / "rd"
    if rd_dir.exists():
        shutil.rmtree(rd_dir)
    rd_dir.mkdir(parents=True)
    for (cat, series), g in ctx.means.groupby(["category", "series"]):
        cols = [c for c in ("point", "kbps", "snr_db", "pesq_wb", "visqol", "n_clips") if c in g.columns]
        g[cols].round(4).to_csv(rd_dir / f"{cat}__{series}.csv", index=False)
    ctx.per_clip_bd.round(3).to_csv(ctx.out / "bd_per_clip.csv", index=False)
    ctx.cat_bd.round(3).to_csv(ctx.out / "bd_category.csv", index=False)


def render(doc: dict, out: Path) -> None:
    """index.html (self-contained, autoescaped) and report.md from the document, through the two Jinja2
    templates in templates/."""
    import jinja2

    from audio_gs.audio_io import atomic_write

    loader = jinja2.FileSystemLoader(str(TEMPLATES))
    opts = {"trim_blocks": True, "lstrip_blocks": True, "undefined": jinja2.StrictUndefined, "keep_trailing_newline": True}
    html = jinja2.Environment(loader=loader, autoescape=True, **opts).get_template("report.html.j2").render(doc=doc)
    md_env = jinja2.Environment(loader=loader, autoescape=False, **opts)
    md_env.filters["cell"] = lambda v: str(v).replace("|", "\\|").replace("\n", " ")
    md = md_env.get_template("report.md.j2").render(doc=doc)
    atomic_write(out / "index.html", lambda tmp: Path(tmp).write_text(html))
    atomic_write(out / "report.md", lambda tmp: Path(tmp).write_text(md))


def build(metrics_csv, benchmark_yaml, profile: str, results_dir, out_dir) -> dict:
    """Write the report into out_dir; returns summary.json's content."""
    import yaml

    from audio_gs.bench.benchmark import grid_times

    df = load_metrics(metrics_csv)
    cfg = yaml.safe_load(Path(benchmark_yaml).read_text())
    prof = (cfg.get("profiles") or {}).get(profile, {})
    out, results = Path(out_dir), Path(results_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    clip_meta = {}
    for clip in df["clip"].dropna().unique():
        j = results / "ref" / f"{clip}.json"
        if j.is_file():
            info = json.loads(j.read_text())
            clip_meta[clip] = {**(info.get("clip") or {}), "sample_rate": info.get("sample_rate"),
                               "duration_s": info.get("duration_s")}
    per_clip_bd, cat_bd = bd_table(df)
    ctx = Context(df=df, cfg=cfg, profile=profile, prof=prof, results=results, out=out, means=rd_means(df),
                  per_clip_bd=per_clip_bd, cat_bd=cat_bd, clip_meta=clip_meta,
                  times=grid_times(results / "benchmarks", exclude=("report.tsv", "publish.tsv")))
    fits = df[df["system"] == "audio_gs"]
    steps = sorted({int(s) for s in fits.get("fit_steps", []) if s == s})
    doc = {
        "title": "audio_gs benchmark report",
        "lead": [f"Profile `{profile}`: {df['clip'].nunique()} clips in {df['category'].nunique()} categories, "
                 f"{len(df)} decoded files, {len(fits)} audio_gs files"
                 + (f" ({', '.join(map(str, steps))} fitting steps)" if steps else "") + ".",
                 "Every number below was measured by the pipeline on the reference excerpts (one decoded file per "
                 "row of results/metrics.csv). Bitrates come from the real size of each coded file (.ags or codec "
                 "output). A metric that could not be computed is shown as — and listed with its reason at the end."],
        "sections": [s for s in (
            section_glance(ctx), section_bd(ctx), section_rd(ctx), section_clip_panels(ctx), section_codecs(ctx),
            section_listen(ctx), section_gaussians(ctx), section_claims(ctx, claims_table(df, cfg.get("claims", []))),
            section_means(ctx), section_speed(ctx), section_credits(ctx), section_missing(ctx), section_all_rows(ctx),
        ) if s is not None],
    }
    write_tables(ctx)
    s = summary(ctx)
    (out / "summary.json").write_text(json.dumps(s, indent=2, sort_keys=True) + "\n")
    render(doc, out)
    return s


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
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("smoke", "full", "wide"))
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
    b.add_argument("--results", required=True, help="results folder (references, fit figures, benchmarks)")
    b.add_argument("-o", "--output", required=True, help="report folder")
    p = sub.add_parser("publish", help="copy a built report folder to a folder you name")
    p.add_argument("src")
    p.add_argument("dest")
    args = ap.parse_args(argv)
    if args.cmd == "build":
        s = build(args.metrics, args.benchmark, args.profile, args.results, args.output)
        print(f"report: {args.output}/index.html ({s['decoded_files']} rows, {s['clips']} clips)")
    else:
        print(f"published to {publish(args.src, args.dest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
