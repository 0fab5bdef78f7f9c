"""The Slurm profile on a live Slurm cluster: the smoke profile submitted through
snakemake-executor-plugin-slurm (profiles/slurm) gives the same results table as the local run.

Runs where `sbatch` exists and `sinfo` answers with a usable node; skips otherwise (CI has no
cluster). `profiles/slurm/local-cluster.sh install && profiles/slurm/local-cluster.sh start` makes a
single-node one on this machine (docs/cluster.md). On a multi-node cluster, set AUDIO_GS_SLURM_WORKDIR
to a folder on a filesystem the nodes share (the default is pytest's tmp folder, node-local)."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
MIRROR = Path(os.environ.get("AUDIO_GS_MIRROR", REPO / "../shared/datasets/librosa-data")).resolve()
SMOKE_FILE = MIRROR / "198-209-0000.hq.ogg"
TIMING = re.compile(r"(_seconds|_rtf|_rss_mb)$")  # wall times and memory: differ between runs
USABLE = {"idle", "mixed", "allocated", "completing"}


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def slurm_cluster() -> str | None:
    """None where a Slurm cluster takes jobs here, else why not (one line)."""
    if shutil.which("sbatch") is None:
        return "no sbatch on PATH (no Slurm client; profiles/slurm/local-cluster.sh install && start)"
    try:
        r = _run(["sinfo", "--noheader", "--format=%T"], timeout=30)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer in 30 s"
    if r.returncode != 0:
        err = (r.stderr.strip().splitlines() or ["no message"])[-1]
        return f"no Slurm cluster answers ({err}); profiles/slurm/local-cluster.sh start makes one"
    states = {s.strip().rstrip("*~#$@^-") for s in r.stdout.split()}
    if not states & USABLE:
        return f"no usable Slurm node (node states: {', '.join(sorted(states)) or 'none'})"
    return None


def status_flags() -> list[str]:
    """`--slurm-status-command squeue` where sacct cannot answer (no accounting database, as on the
    local cluster, whose MinJobAge keeps finished jobs in squeue); nothing where it can."""
    r = _run(["sacct", "-X", "--noheader", "--starttime", "now"], timeout=30) if shutil.which("sacct") else None
    return [] if r is not None and r.returncode == 0 else ["--slurm-status-command", "squeue"]


def copy_workflow(dst: Path) -> Path:
    for name in ("Snakefile", "params", "report", "envs", "profiles"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copyfile)(src, dst / name)
    (dst / "datasets").mkdir()
    shutil.copyfile(REPO / "datasets" / "sources.yaml", dst / "datasets" / "sources.yaml")
    return dst


def snakemake(*args, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """Snakemake in cwd with this interpreter (the Snakefile runs jobs with it) and this checkout's
    package first on PYTHONPATH, so that the jobs, wherever they run, import the code under test."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, AUDIO_GS_MIRROR=str(MIRROR), PYTHONPATH=path)
    t0 = time.perf_counter()
    r = _run([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=env, timeout=1800)
    return r, time.perf_counter() - t0


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    why = slurm_cluster()
    if why:
        pytest.skip(why)
    if not SMOKE_FILE.is_file():
        pytest.skip(f"dataset mirror {MIRROR} absent")
    base = os.environ.get("AUDIO_GS_SLURM_WORKDIR")
    root = Path(base) if base else tmp_path_factory.mktemp("slurm")
    out = {}
    for name, args in {
        "local": ["--cores", "2"],
        # the first status check 5 s after a submission instead of 40 s: the smoke jobs are short
        "slurm": ["--profile", "profiles/slurm", *status_flags(), "--slurm-init-seconds-before-status-checks", "5"],
    }.items():
        wd = root / name
        if wd.exists():
            shutil.rmtree(wd)
        wd.mkdir(parents=True)
        copy_workflow(wd)
        r, seconds = snakemake(*args, "--config", "profile=smoke", cwd=wd)
        assert r.returncode == 0, f"{name} run failed:\n{(r.stdout + r.stderr)[-4000:]}"
        print(f"smoke profile, {name}: {seconds:.0f} s")  # reported, not asserted (shared machines)
        out[name] = {"dir": wd, "run": r, "seconds": seconds}
    return out


def table(run) -> pd.DataFrame:
    df = pd.read_csv(run["dir"] / "results" / "smoke" / "metrics.csv")
    return df.sort_values("decoded_path").reset_index(drop=True)


def job_counts(output: str) -> dict:
    """{rule: count} from the 'Job stats' table of a run."""
    m = re.search(r"Job stats:\n(.*?)\n\s*\n", output, re.S)
    rows = (line.split() for line in (m.group(1).splitlines() if m else []))
    return {p[0]: int(p[1]) for p in rows if len(p) == 2 and p[1].isdigit() and p[0] != "total"}


def test_every_non_local_job_went_through_sbatch(runs):
    out = runs["slurm"]["run"].stdout + runs["slurm"]["run"].stderr
    counts = job_counts(out)
    local_rules = {"all", "datasets", "aggregate", "publish"}  # the Snakefile's localrules
    expected = sum(n for rule, n in counts.items() if rule not in local_rules)
    submitted = set(re.findall(r"Job (\d+) has been submitted with SLURM jobid \S+", out))
    assert counts.get("fit") == 2 and len(submitted) == expected, out[-3000:]


def test_slurm_run_gives_the_local_results_table(runs):
    local, slurm = table(runs["local"]), table(runs["slurm"])
    assert list(slurm.columns) == list(local.columns)
    assert slurm["decoded_path"].tolist() == local["decoded_path"].tolist()
    assert len(local) == 5  # two .ags points, one each of Opus / MP3 / Vorbis
    same = [c for c in local.columns if not TIMING.search(c)]
    assert {"kbps", "bytes", "snr_db", "pesq_wb", "stoi", "visqol", "fit_snr_db"} <= set(same)
    pd.testing.assert_frame_equal(slurm[same], local[same], check_exact=True)


def test_slurm_run_writes_the_same_ags_files(runs):
    files = sorted((runs["local"]["dir"] / "results" / "smoke" / "coded").rglob("*.ags"))
    assert len(files) == 2
    for f in files:
        twin = runs["slurm"]["dir"] / f.relative_to(runs["local"]["dir"])
        assert twin.read_bytes() == f.read_bytes(), f.name
