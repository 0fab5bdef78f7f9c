# audio_gs benchmark: fit -> quantize (.ags) -> decode -> metrics, against Opus / MP3 / Vorbis,
# aggregated into results/metrics.csv and published as reports/index.html.
#
#   snakemake --cores 2                           # default grid (params/benchmark.yaml)
#   snakemake --cores 2 --config profile=smoke    # tiny grid (tests)
#   snakemake --cores 1 publish --config publish_dir=/path/to/folder
#   snakemake --profile profiles/slurm            # same grid on a Slurm cluster
#
# Every rule is a few lines calling `audio-gs` or an audio_gs module; the logic lives in the package.
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
FIT = P["fit"]
CONDA_ENV = "envs/audio_gs.yaml"  # used with --use-conda / --sdm conda only
CATS = sorted({c.category for c in CLIPS.values()})
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
    """The benchmark's reference excerpt of a dataset file: resampled, mono, shortened (per category)."""
    input:
        lambda w: CLIPS[w.clip].path,
    output:
        wav=f"{R}/ref/{{clip}}.wav",
        info=f"{R}/ref/{{clip}}.json",
    params:
        py=PY,
        sr=lambda w: P["categories"][CLIPS[w.clip].category]["sample_rate"],
        dur=lambda w: P["categories"][CLIPS[w.clip].category]["excerpt_s"],
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
        "--duration {params.dur:q} --info_json {output.info:q} --clip_id {wildcards.clip:q} "
        "--sources {params.sources:q} --datasets_dir {params.datasets:q} > {log:q} 2>&1"


# ---- audio_gs -------------------------------------------------------------------------------------
rule fit:
    """`audio-gs fit` on the reference excerpt: the encoder (its wall time is the encode time)."""
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
        steps=FIT["steps"],
        seed=FIT.get("seed", 0),
        add=(
            "--add_gaussians_steps " + " ".join(shlex.quote(str(s)) for s in FIT["add_gaussians_steps"])
            if FIT.get("add_gaussians_steps")
            else ""
        ),
    log:
        f"{LOGS}/fit/{{clip}}/{{config}}/n{{ngauss}}.log",
    benchmark:
        f"{BENCH}/fit/{{clip}}/{{config}}/n{{ngauss}}.tsv"
    threads: FIT.get("threads", 1)
    priority: 10  # long jobs first, so the short ones fill the tail
    resources:
        mem_mb=FIT.get("mem_mb", 3000),
        runtime=FIT.get("runtime_min", 60),
    conda:
        CONDA_ENV
    shell:
        "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} "
        "{params.ags} fit --input_path {input.ref:q} --config {input.config:q} --num_gaussians {wildcards.ngauss:q} "
        "--num_steps {params.steps:q} --sample_rate {params.sr:q} --seed {params.seed:q} "
        "{params.add} "
        "--log_dir {params.log_dir:q} --no-progress > {log:q} 2>&1"


rule quantize:
    """`audio-gs quantize`: the fitted Gaussians as an .ags file at a given bits per parameter."""
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
    """`audio-gs decode`: the .ags file alone back to audio; then its decode time, measured in-process."""
    input:
        f"{R}/coded/{{clip}}/gs-{{config}}/n{{ngauss}}_b{{bits}}.ags",
    output:
        wav=f"{R}/decoded/{{clip}}/gs-{{config}}/n{{ngauss}}_b{{bits}}.wav",
        timing=f"{R}/decoded/{{clip}}/gs-{{config}}/n{{ngauss}}_b{{bits}}.timing.json",
    params:
        py=PY,
        ags=AGS,
    log:
        f"{LOGS}/decode/{{clip}}/gs-{{config}}/n{{ngauss}}_b{{bits}}.log",
    benchmark:
        f"{BENCH}/decode/{{clip}}/gs-{{config}}/n{{ngauss}}_b{{bits}}.tsv"
    resources:
        mem_mb=1500,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "(OMP_NUM_THREADS=1 {params.ags} decode {input:q} -o {output.wav:q} && "
        "OMP_NUM_THREADS=1 {params.py} audio_gs.bench.benchmark time-decode {input:q} -o {output.timing:q}) > {log:q} 2>&1"


# ---- standard codecs ------------------------------------------------------------------------------
rule baseline:
    """Opus / MP3 / Vorbis through libsndfile at a target bitrate (real size measured), decoded back."""
    input:
        f"{R}/ref/{{clip}}.wav",
    output:
        coded=f"{R}/coded/{{clip}}/{{codec}}/k{{kbps}}.{{codec}}",
        wav=f"{R}/decoded/{{clip}}/{{codec}}/k{{kbps}}.wav",
        info=f"{R}/decoded/{{clip}}/{{codec}}/k{{kbps}}.info.json",
    params:
        py=PY,
    log:
        f"{LOGS}/baseline/{{clip}}/{{codec}}/k{{kbps}}.log",
    benchmark:
        f"{BENCH}/baseline/{{clip}}/{{codec}}/k{{kbps}}.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "{params.py} audio_gs.bench.baselines roundtrip {input:q} -o {output.coded:q} --decoded {output.wav:q} "
        "--codec {wildcards.codec:q} --kbps {wildcards.kbps:q} --info {output.info:q} > {log:q} 2>&1"


# ---- scoring and report ---------------------------------------------------------------------------
def metrics_inputs(w):
    d = {"ref": f"{R}/ref/{w.clip}.wav", "decoded": f"{R}/decoded/{w.clip}/{w.system}/{w.point}.wav"}
    if w.system.startswith("gs-"):
        g = B.parse_point(w.system, w.point)
        d["coded"] = f"{R}/coded/{w.clip}/{w.system}/{w.point}.ags"
        d["timing"] = f"{R}/decoded/{w.clip}/{w.system}/{w.point}.timing.json"
        d["summary"] = f"{R}/fit/{w.clip}/{g['config']}/n{g['gaussians']}/summary.json"
    else:
        d["coded"] = f"{R}/coded/{w.clip}/{w.system}/{w.point}.{w.system}"
        d["timing"] = f"{R}/decoded/{w.clip}/{w.system}/{w.point}.info.json"
    return d


def metrics_meta(w):
    g = B.parse_point(w.system, w.point)
    g.update(clip=w.clip, category=CLIPS[w.clip].category, profile=PROFILE)
    return " ".join(f"--meta {shlex.quote(f'{k}={json.dumps(v)}')}" for k, v in g.items())


rule metrics:
    """Every metric of one decoded file against the reference (missing ones recorded with the reason)."""
    input:
        unpack(metrics_inputs),
    output:
        f"{R}/rows/{{clip}}/{{system}}/{{point}}.json",
    params:
        py=PY,
        meta=metrics_meta,
        mode=lambda w: P["categories"][CLIPS[w.clip].category].get("visqol_mode", "audio"),
        extra=lambda w, input: (
            f"--fit_summary {shlex.quote(input.summary)}"
            if w.system.startswith("gs-")
            else f"--codec_info {shlex.quote(input.timing)}"
        ),
    log:
        f"{LOGS}/metrics/{{clip}}/{{system}}/{{point}}.log",
    benchmark:
        f"{BENCH}/metrics/{{clip}}/{{system}}/{{point}}.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "OMP_NUM_THREADS=1 {params.py} audio_gs.bench.metrics --reference {input.ref:q} --decoded {input.decoded:q} "
        "--coded_file {input.coded:q} --visqol_mode {params.mode:q} --timing_json {input.timing:q} {params.extra} "
        "--meta decoded_path={input.decoded:q} --meta coded_path={input.coded:q} --meta reference_path={input.ref:q} "
        "{params.meta} -o {output:q} > {log:q} 2>&1"


rule aggregate:
    """All rows into results/metrics.csv (one row per decoded file; tidy columns)."""
    input:
        [f"{R}/rows/{p['clip']}/{p['system']}/{p['point']}.json" for p in GS + BL],
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
    """RD plots, BD-rate, claims table, figures, audio players: reports/index.html + report.md."""
    input:
        csv=f"{R}/metrics.csv",
        code=os.path.join(os.path.dirname(B.__file__), "report.py"),  # its code changed: rebuild the report
        refs=[f"{R}/ref/{c}.json" for c in CLIPS],
        figures=sorted(
            {f"{R}/fit/{p['clip']}/{p['config']}/n{p['count']}/train/gaussians_visualization.png" for p in GS}
        ),
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
