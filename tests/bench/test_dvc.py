"""dvc.yaml and dvc.lock: build and cache files inside the code folder are not dependencies, every declared
dependency exists, and the committed lock records exactly the stages, deps, params and outs of dvc.yaml."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DVC = [sys.executable, "-m", "dvc"]


def _dvc(*args):
    return subprocess.run([*DVC, *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_build_and_cache_files_in_the_code_folder_are_ignored_and_sources_are_not():
    artefacts = ["audio_gs/codec/_kernels.cpython-311-x86_64-linux-gnu.so",
                 "audio_gs/codec/__pycache__/kernels.forward-32.py311.nbi",
                 "audio_gs/codec/__pycache__/kernels.forward-32.py311.1.nbc",
                 "audio_gs/encoder/__pycache__/fit.cpython-311.pyc",
                 "audio_gs/codec/kernels.backward-94.py311.nbi",  # a numba cache outside __pycache__
                 "audio_gs.egg-info/PKG-INFO", "build/lib/audio_gs/codec/_kernels.so"]
    r = _dvc("check-ignore", "--details", "--non-matching", *artefacts)
    ignored = {line.split("\t")[-1] for line in r.stdout.splitlines() if not line.startswith("::")}
    assert ignored == set(artefacts), r.stdout + r.stderr
    sources = ["audio_gs/codec/kernels.py", "audio_gs/codec/_kernels.c", "audio_gs/bench/templates/report.html.j2"]
    r = _dvc("check-ignore", *sources)
    assert r.returncode == 1 and not r.stdout.strip(), r.stdout  # none of them is ignored


def test_every_declared_dependency_of_the_code_exists():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, st in stages.items():
        for dep in st["deps"]:
            if not dep.startswith("datasets/") or dep.endswith(".yaml"):  # dataset folders are outputs
                assert (REPO / dep).exists(), f"{name}: {dep}"


def test_the_committed_lock_records_what_dvc_yaml_declares():
    lock_path = REPO / "dvc.lock"
    if not lock_path.is_file():
        pytest.skip("no dvc.lock committed yet")
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    lock = yaml.safe_load(lock_path.read_text())["stages"]
    assert set(lock) == set(stages)
    for name, st in stages.items():
        assert lock[name]["cmd"] == st["cmd"]
        assert {d["path"] for d in lock[name]["deps"]} == set(st["deps"]), name
        declared = {(f, k) for p in st.get("params", []) for f, keys in p.items() for k in keys}
        recorded = {(f, k) for f, keys in lock[name].get("params", {}).items() for k in keys}
        assert recorded == declared, name
        outs = {next(iter(o)) if isinstance(o, dict) else o for key in ("outs", "metrics", "plots")
                for o in st.get(key, [])}
        assert {o["path"] for o in lock[name]["outs"]} == outs, name
