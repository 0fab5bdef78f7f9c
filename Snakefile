# audio_gs benchmark: fit at a target bitrate (.ags) or fit -> quantize at a Gaussian count, decode,
# score, against Opus / MP3 / Vorbis / AAC / Codec 2, aggregated into results/metrics.csv and published
# as reports/index.html.
#
#   snakemake --cores 2                           # default grid (params/benchmark.yaml)
#   snakemake --cores 2 --config profile=smoke    # tiny grid (tests)
#   snakemake --cores 1 publish --config publish_dir=/path/to/folder
#   snakemake --profile profiles/slurm            # same grid on a Slurm cluster
#
# Every rule is a few lines calling `audio-gs` or an audio_gs module; the logic lives in the package.
# Short work is batched to spare interpreter start-ups: one baseline job codes every rate of a codec
# for a clip, one score job scores every point of one system (a codec, or an audio_gs config) for a clip.
# Every path and value in a shell command is quoted ({x:q}, or shlex.quote in a params function):
# dataset file names come from users (spaces, quotes, `$(...)`), so they are data, never shell.
# Clip metadata (titles, licences) never enters a command line: the reference command looks it up.

import json
import os
import shlex
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from audio_gs.bench import benchmark as B

min_version("8.0")


configfile: "params/benchmark.yaml"


try:
    validate(config, "params/benchmark.schema.yaml")
except WorkflowError as exc:  # one line naming the key, instead of the whole schema
    import jsonschema

    cause = exc.__context__
    if not isinstance(cause, jsonschema.exceptions.ValidationError):
        raise
    where = ".".join(str(p) for p in cause.absolute_path) or "(top level)"
    raise WorkflowError(
        f"params/benchmark.yaml is invalid at {where}: {cause.message} "
        "(see params/benchmark.schema.yaml)"
    ) from None

PROFILE, P = B.active_profile(config)
R = P["results_dir"]
REPORTS = P["reports_dir"]
LOGS = f"{R}/logs"
BENCH = f"{R}/benchmarks"
SOURCES = "datasets/sources.yaml"
CLIPS = B.select_clips(P, SOURCES, "datasets")
LISTED = [c for c in CLIPS.values() if c.source == "sources.yaml"]
GS = B.ags_points(P, CLIPS)
BL = B.baseline_points(P, CLIPS)
SYSTEM_POINTS = {}  # (clip, system) -> the points one score job scores
for _p in GS + BL:
    SYSTEM_POINTS.setdefault((_p["clip"], _p["system"]), []).append(_p)
FIT = P["fit"]
CONDA_ENV = "envs/audio_gs.yaml"  # used with --use-conda / --sdm conda only
CATS = sorted({c.category for c in CLIPS.values()})
_BENCH_DIR = os.path.dirname(B.__file__)
REPORT_CODE = [os.path.join(_BENCH_DIR, f) for f in ("report.py", "bd.py")] + sorted(
    os.path.join(_BENCH_DIR, "templates", f) for f in os.listdir(os.path.join(_BENCH_DIR, "templates"))
)
# the interpreter running Snakemake runs the jobs too (no need to activate the venv); a venv inside
# the repository is named by its relative path, so a clone elsewhere records the same job params
def _here(path):
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


PY = f"{shlex.quote(_here(sys.executable))} -m"
_ags = os.path.join(os.path.dirname(sys.executable), "audio-gs")
AGS = shlex.quote(_here(_ags)) if os.path.exists(_ags) else f"{PY} audio_gs"


def _alt(ids):
    import re

    return "|".join(re.escape(i) for i in ids) if ids else "(?!x)x"


wildcard_constraints:
    listed=_alt([c.id for c in LISTED]),
    category="|".join(P["categories"]),
    **B.WILDCARDS,


localrules:
    all,
    datasets,
    aggregate,
    publish,


rule all:
    input:
        f"{REPORTS}/index.html",
        f"{REPORTS}/summary.json",


# ---- data -----------------------------------------------------------------------------------------
rule datasets:
    """Fetch every listed clip of the profile's categories (the DVC `datasets` stage runs this)."""
    input:
        [c.path for c in LISTED],


rule prepare:
    """Fetch a clip listed in datasets/sources.yaml (mirror or URL), check its sha256, cut the excerpt."""
    output:
        "datasets/{category}/{listed}.flac",
    params:
        py=PY,
        sources=SOURCES,
        entry=lambda w: json.dumps(
            {k: v for k, v in CLIPS[w.listed].to_dict().items() if k in ("file", "sha256", "offset", "duration")},
            sort_keys=True,
        ),
    priority: 20  # data first, so that every fit can start early
    log:
        f"{LOGS}/prepare/{{category}}/{{listed}}.log",
    benchmark:
        f"{BENCH}/prepare/{{category}}/{{listed}}.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "{params.py} audio_gs.bench.datasets fetch --sources {params.sources:q} --id {wildcards.listed:q} -o {output:q} "
        "> {log:q} 2>&1"


rule reference:
    """The benchmark's reference excerpt of a dataset file: resampled, mono (or stereo), shortened (per category)."""
    input:
        lambda w: CLIPS[w.clip].path,
    output:
        wav=f"{R}/ref/{{clip}}.wav",
        info=f"{R}/ref/{{clip}}.json",
    params:
        py=PY,
        sr=lambda w: P["categories"][CLIPS[w.clip].category]["sample_rate"],
        dur=lambda w: P["categories"][CLIPS[w.clip].category]["excerpt_s"],
        ch=lambda w: "keep" if P["categories"][CLIPS[w.clip].category].get("channels") == "stereo" else "mono",
        sources=SOURCES,
        datasets="datasets",
        # not used by the command (which looks the metadata up itself): a changed title or licence
        # reruns this job through Snakemake's params trigger, so the report shows the new one
        meta=lambda w: json.dumps(CLIPS[w.clip].to_dict(), sort_keys=True),
    priority: 20
    log:
        f"{LOGS}/reference/{{clip}}.log",
    benchmark:
        f"{BENCH}/reference/{{clip}}.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "{params.py} audio_gs.bench.datasets reference {input:q} -o {output.wav:q} --sample_rate {params.sr:q} "
        "--duration {params.dur:q} --channels {params.ch:q} --info_json {output.info:q} --clip_id {wildcards.clip:q} "
        "--sources {params.sources:q} --datasets_dir {params.datasets:q} > {log:q} 2>&1"


# ---- audio_gs -------------------------------------------------------------------------------------
def _fit_flags():
    """The profile's fit settings as `audio-gs fit` flags: preset, steps, adding steps (each when given)."""
    flags = []
    if FIT.get("preset"):
        flags += ["--preset", shlex.quote(FIT["preset"])]
    if FIT.get("steps") is not None:
        flags += ["--num_steps", shlex.quote(str(FIT["steps"]))]
    if FIT.get("add_gaussians_steps"):
        flags += ["--add_gaussians_steps"] + [shlex.quote(str(s)) for s in FIT["add_gaussians_steps"]]
    return " ".join(flags)


rule fit_rate:
    """`audio-gs fit --kbps`: the encoder picks the Gaussian count, fits, adds noise Gaussians and
    rate-controls; its model.ags (copied into coded/) is the file scored. Its wall time is the encode time."""
    input:
        ref=f"{R}/ref/{{clip}}.wav",
        config="params/configs/{config}.yaml",
    output:
        ags=f"{R}/fit/{{clip}}/{{config}}/k{{kbps}}/model.ags",
        summary=f"{R}/fit/{{clip}}/{{config}}/k{{kbps}}/summary.json",
        figure=f"{R}/fit/{{clip}}/{{config}}/k{{kbps}}/train/gaussians_visualization.png",
        coded=f"{R}/coded/{{clip}}/gs-{{config}}/k{{kbps}}.ags",
    params:
        ags=AGS,
        log_dir=lambda w, output: os.path.dirname(output.ags),
        sr=lambda w: P["categories"][CLIPS[w.clip].category]["sample_rate"],
        seed=FIT.get("seed", 0),
        fit=_fit_flags(),
    log:
        f"{LOGS}/fit_rate/{{clip}}/{{config}}/k{{kbps}}.log",
    benchmark:
        f"{BENCH}/fit_rate/{{clip}}/{{config}}/k{{kbps}}.tsv"
    threads: FIT.get("threads", 1)
    priority: 10  # long jobs first, so the short ones fill the tail
    resources:
        mem_mb=FIT.get("mem_mb", 3000),
        runtime=FIT.get("runtime_min", 60),
    conda:
        CONDA_ENV
    shell:
        "(OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} "
        "{params.ags} fit --input_path {input.ref:q} --config {input.config:q} --kbps {wildcards.kbps:q} "
        "{params.fit} --sample_rate {params.sr:q} --seed {params.seed:q} "
        "--log_dir {params.log_dir:q} --no-progress && cp {output.ags:q} {output.coded:q}) > {log:q} 2>&1"


rule fit:
    """`audio-gs fit --num_gaussians` (a count point; quantized by the next rule)."""
    input:
        ref=f"{R}/ref/{{clip}}.wav",
        config="params/configs/{config}.yaml",
    output:
        ckpt=f"{R}/fit/{{clip}}/{{config}}/n{{ngauss}}/final.pth",
        summary=f"{R}/fit/{{clip}}/{{config}}/n{{ngauss}}/summary.json",
        figure=f"{R}/fit/{{clip}}/{{config}}/n{{ngauss}}/train/gaussians_visualization.png",
    params:
        ags=AGS,
        log_dir=lambda w, output: os.path.dirname(output.ckpt),
        sr=lambda w: P["categories"][CLIPS[w.clip].category]["sample_rate"],
        seed=FIT.get("seed", 0),
        fit=_fit_flags(),
    log:
        f"{LOGS}/fit/{{clip}}/{{config}}/n{{ngauss}}.log",
    benchmark:
        f"{BENCH}/fit/{{clip}}/{{config}}/n{{ngauss}}.tsv"
    threads: FIT.get("threads", 1)
    priority: 10
    resources:
        mem_mb=FIT.get("mem_mb", 3000),
        runtime=FIT.get("runtime_min", 60),
    conda:
        CONDA_ENV
    shell:
        "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} "
        "{params.ags} fit --input_path {input.ref:q} --config {input.config:q} --num_gaussians {wildcards.ngauss:q} "
        "{params.fit} --sample_rate {params.sr:q} --seed {params.seed:q} "
        "--log_dir {params.log_dir:q} --no-progress > {log:q} 2>&1"


rule quantize:
    """`audio-gs quantize`: a count point's fitted Gaussians as an .ags file at given bits per parameter."""
    input:
        f"{R}/fit/{{clip}}/{{config}}/n{{ngauss}}/final.pth",
    output:
        f"{R}/coded/{{clip}}/gs-{{config}}/n{{ngauss}}_b{{bits}}.ags",
    params:
        ags=AGS,
    log:
        f"{LOGS}/quantize/{{clip}}/gs-{{config}}/n{{ngauss}}_b{{bits}}.log",
    benchmark:
        f"{BENCH}/quantize/{{clip}}/gs-{{config}}/n{{ngauss}}_b{{bits}}.tsv"
    resources:
        mem_mb=1500,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "OMP_NUM_THREADS=1 {params.ags} quantize {input:q} -o {output:q} --bits_per_param {wildcards.bits:q} "
        "> {log:q} 2>&1"


rule decode:
    """An .ags file decoded from the file alone (read_ags + render, as `audio-gs decode`), and the decode
    time measured in the same process (best of 3 after a warm-up)."""
    input:
        f"{R}/coded/{{clip}}/gs-{{config}}/{{point}}.ags",
    output:
        wav=f"{R}/decoded/{{clip}}/gs-{{config}}/{{point}}.wav",
        timing=f"{R}/decoded/{{clip}}/gs-{{config}}/{{point}}.timing.json",
    params:
        py=PY,
    log:
        f"{LOGS}/decode/{{clip}}/gs-{{config}}/{{point}}.log",
    benchmark:
        f"{BENCH}/decode/{{clip}}/gs-{{config}}/{{point}}.tsv"
    resources:
        mem_mb=1500,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "OMP_NUM_THREADS=1 {params.py} audio_gs.bench.benchmark decode {input:q} -o {output.wav:q} "
        "--timing {output.timing:q} > {log:q} 2>&1"


# ---- standard codecs ------------------------------------------------------------------------------
rule baseline:
    """Every target rate of one codec for one clip (Opus / MP3 / Vorbis through libsndfile, AAC through
    PyAV, Codec 2 through pycodec2): coded files with their real size, decoded and aligned WAVs, facts."""
    input:
        f"{R}/ref/{{clip}}.wav",
    output:
        coded=directory(f"{R}/coded/{{clip}}/{{codec}}"),
        decoded=directory(f"{R}/decoded/{{clip}}/{{codec}}"),
    params:
        py=PY,
        rates=lambda w: " ".join(
            shlex.quote(B.kbps_label(k)) for k in B.category_baselines(P, CLIPS[w.clip].category)[w.codec]
        ),
    log:
        f"{LOGS}/baseline/{{clip}}/{{codec}}.log",
    benchmark:
        f"{BENCH}/baseline/{{clip}}/{{codec}}.tsv"
    resources:
        mem_mb=1500,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "OMP_NUM_THREADS=1 {params.py} audio_gs.bench.benchmark baselines {input:q} --codec {wildcards.codec:q} "
        "--kbps {params.rates} --coded_dir {output.coded:q} --decoded_dir {output.decoded:q} > {log:q} 2>&1"


# ---- scoring and report ---------------------------------------------------------------------------
def score_inputs(w):
    points = SYSTEM_POINTS[(w.clip, w.system)]
    d = {"ref": f"{R}/ref/{w.clip}.wav"}
    if w.system.startswith("gs-"):
        d["files"] = [f for p in points for f in B.point_files(R, p).values()]
    else:
        d["coded"] = f"{R}/coded/{w.clip}/{w.system}"
        d["decoded"] = f"{R}/decoded/{w.clip}/{w.system}"
    return d


rule score:
    """Every metric of every decoded file of one system (a codec, or an audio_gs config) for one clip,
    in one process; a metric that cannot be computed is recorded as missing with its reason."""
    input:
        unpack(score_inputs),
    output:
        f"{R}/rows/{{clip}}/{{system}}.json",
    params:
        py=PY,
        plan=lambda w: json.dumps(B.score_plan(R, SYSTEM_POINTS[(w.clip, w.system)], extra={"profile": PROFILE})),
        mode=lambda w: P["categories"][CLIPS[w.clip].category].get("visqol_mode", "audio"),
    log:
        f"{LOGS}/score/{{clip}}/{{system}}.log",
    benchmark:
        f"{BENCH}/score/{{clip}}/{{system}}.tsv"
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    shell:
        "OMP_NUM_THREADS=1 {params.py} audio_gs.bench.scoring --reference {input.ref:q} --plan {params.plan:q} "
        "--visqol_mode {params.mode:q} -o {output:q} > {log:q} 2>&1"


rule aggregate:
    """All rows into results/metrics.csv (one row per decoded file; tidy columns)."""
    input:
        [f"{R}/rows/{clip}/{system}.json" for clip, system in sorted(SYSTEM_POINTS)],
    output:
        f"{R}/metrics.csv",
    params:
        py=PY,
        bench=BENCH,
    log:
        f"{LOGS}/aggregate.log",
    benchmark:
        f"{BENCH}/aggregate.tsv"
    conda:
        CONDA_ENV
    shell:
        "{params.py} audio_gs.bench.benchmark aggregate {input:q} --benchmarks {params.bench:q} -o {output:q} > {log:q} 2>&1"


rule report:
    """RD plots (per category and per clip), BD-rate with its spread, codec libraries and overheads,
    claims, figures, players, credits: reports/index.html + report.md, summary.json (headline metrics)."""
    input:
        csv=f"{R}/metrics.csv",
        code=REPORT_CODE,  # its code or templates changed: rebuild the report
        refs=[f"{R}/ref/{c}.json" for c in CLIPS],
        figures=sorted({f"{B.fit_dir(R, p)}/train/gaussians_visualization.png" for p in GS}),
        benchmark_yaml="params/benchmark.yaml",
    output:
        html=f"{REPORTS}/index.html",
        md=f"{REPORTS}/report.md",
        summary=f"{REPORTS}/summary.json",
        rd=directory(f"{REPORTS}/rd"),
        plots=[
            report(
                f"{REPORTS}/figures/rd_{c}.png",
                category="Rate-distortion",
                caption="report/rd.rst",
            )
            for c in CATS
        ],
    params:
        py=PY,
        profile=PROFILE,
        out=lambda w, output: os.path.dirname(output.html),
        results=lambda w, input: os.path.dirname(input.csv),
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{BENCH}/report.tsv"
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "{params.py} audio_gs.bench.report build --metrics {input.csv:q} --benchmark {input.benchmark_yaml:q} "
        "--profile {params.profile:q} --results {params.results:q} -o {params.out:q} > {log:q} 2>&1"


rule publish:
    """Copy the finished report to a folder you name: --config publish_dir=/path/to/folder."""
    input:
        html=f"{REPORTS}/index.html",
        md=f"{REPORTS}/report.md",
    output:
        directory(config.get("publish_dir", "published")),
    log:
        f"{LOGS}/publish.log",
    benchmark:
        f"{BENCH}/publish.tsv"
    params:
        py=PY,
        src=lambda w, input: os.path.dirname(input.html),
    conda:
        CONDA_ENV
    shell:
        "{params.py} audio_gs.bench.report publish {params.src:q} {output:q} > {log:q} 2>&1"
