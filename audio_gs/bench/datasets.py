"""Benchmark datasets: fetch the clips listed in datasets/sources.yaml, cut excerpts, find user files.

A clip listed in sources.yaml is read from a mirror directory (env ``AUDIO_GS_MIRROR``, else the
``mirror`` key of sources.yaml) or downloaded from its URL into a cache, checked against its sha256,
decoded, cut to [offset, offset + duration) seconds and written to ``datasets/<category>/<id>.flac``
(16-bit FLAC at the source's rate and channels).

Any other audio file a user drops into ``datasets/<category>/`` is picked up by ``discover``;
a file that cannot be decoded is reported on stderr and skipped. Its licence is read from a sidecar
``<name>.txt`` beside it when there is one.

``make_reference`` turns a dataset file into the benchmark's reference signal (resampled, mono,
shortened): every codec in the benchmark is compared against that same file.

Command line (used by the Snakefile)::

    python -m audio_gs.bench.datasets fetch --sources datasets/sources.yaml --id ID -o datasets/speech/ID.flac
    python -m audio_gs.bench.datasets reference IN -o OUT.wav --sample_rate 16000 --duration 3
    python -m audio_gs.bench.datasets list [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml

from audio_gs.audio_io import SUPPORTED_EXTS, atomic_write, load_audio, save_audio
from audio_gs.errors import AudioGSError, exits_2_on_user_error

MIRROR_ENV = "AUDIO_GS_MIRROR"
CACHE_ENV = "AUDIO_GS_CACHE"
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
REQUIRED_KEYS = ("id", "category", "file", "sha256")


@dataclass
class Clip:
    """One benchmark clip: where it comes from, where its dataset file lives, and its licence."""

    id: str
    category: str
    path: str  # the dataset file (datasets/<category>/<id>.flac for listed sources, the user's file otherwise)
    source: str = "sources.yaml"  # "sources.yaml" or "user"
    file: str | None = None
    url: str | None = None
    sha256: str | None = None
    bytes: int | None = None
    offset: float = 0.0
    duration: float | None = None
    title: str = ""
    attribution: str = ""
    licence: str = "unknown"
    licence_url: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


# ---- sources.yaml -------------------------------------------------------------------------------
def load_sources(path: str | os.PathLike) -> dict:
    """Read and check sources.yaml; returns {"mirror": str|None, "clips": [dict, ...]}.

    Raises AudioGSError naming the clip and key for a malformed entry or a repeated id.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioGSError(f"sources {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise AudioGSError(f"sources {path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("clips", []), list):
        raise AudioGSError(f"sources {path}: expected a mapping with a 'clips' list")
    seen = set()
    clips = []
    for i, c in enumerate(data.get("clips") or []):
        if not isinstance(c, dict):
            raise AudioGSError(f"sources {path}: clip #{i} is not a mapping")
        missing = [k for k in REQUIRED_KEYS if not c.get(k)]
        if missing:
            raise AudioGSError(f"sources {path}: clip #{i} ({c.get('id', '?')}) lacks {', '.join(missing)}")
        if not ID_RE.match(str(c["id"])) or not ID_RE.match(str(c["category"])):
            raise AudioGSError(f"sources {path}: clip id/category {c['id']!r}/{c['category']!r} must match {ID_RE.pattern}")
        if c["id"] in seen:
            raise AudioGSError(f"sources {path}: clip id {c['id']!r} appears twice")
        if not re.fullmatch(r"[0-9a-f]{64}", str(c["sha256"]).lower()):
            raise AudioGSError(f"sources {path}: clip {c['id']}: sha256 must be 64 hex digits")
        seen.add(c["id"])
        clips.append(dict(c))
    return {"mirror": data.get("mirror"), "clips": clips}


def resolve_mirror(configured: str | os.PathLike | None = None, base: str | os.PathLike | None = None) -> Path | None:
    """The mirror directory: env AUDIO_GS_MIRROR, else `configured` (relative to base); None if absent."""
    env = os.environ.get(MIRROR_ENV)
    candidate = env if env else configured
    if not candidate:
        return None
    p = Path(candidate).expanduser()
    if not p.is_absolute() and base is not None and not env:
        p = Path(base) / p
    return p if p.is_dir() else None


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "audio_gs" / "downloads")


def sha256_of(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_hash(path: Path, expected: str, what: str) -> None:
    got = sha256_of(path)
    if got != expected.lower():
        raise AudioGSError(f"{what}: sha256 mismatch (expected {expected[:12]}..., got {got[:12]}...); "
                           "the file is corrupt or not the listed one")


def fetch_source(clip: dict, mirror: Path | None = None, cache_dir: Path | None = None, timeout: float = 60.0) -> Path:
    """Path of the verified source bytes of a listed clip: from the mirror, else downloaded from its URL.

    A mirror file whose hash does not match is an error (it is not silently replaced by a download).
    """
    name = clip["file"]
    if mirror is not None:
        p = Path(mirror) / name
        if p.is_file():
            _check_hash(p, clip["sha256"], f"{clip['id']}: mirror file {p}")
            return p
    url = clip.get("url")
    if not url:
        where = f"mirror {mirror}" if mirror else f"no mirror (set {MIRROR_ENV})"
        raise AudioGSError(f"{clip['id']}: {name} not found ({where}) and no url to download it from")
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    cached = cache_dir / clip["sha256"][:16] / name
    if cached.is_file() and sha256_of(cached) == clip["sha256"].lower():
        return cached

    def _download(tmp: Path) -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
                shutil.copyfileobj(r, f)
        except Exception as exc:  # network, HTTP or file:// errors
            raise AudioGSError(f"{clip['id']}: cannot download {url} ({type(exc).__name__}: {exc})") from None
        _check_hash(tmp, clip["sha256"], f"{clip['id']}: download from {url}")

    return atomic_write(cached, _download)


def fetch_clip(clip: dict, out_path: str | os.PathLike, mirror: Path | None = None, cache_dir: Path | None = None) -> Path:
    """Fetch, verify, decode and cut a listed clip; write it as 16-bit FLAC to out_path."""
    src = fetch_source(clip, mirror, cache_dir)
    x, sr = load_audio(src, offset=float(clip.get("offset") or 0.0),
                       duration=None if clip.get("duration") is None else float(clip["duration"]))
    return save_audio(out_path, x, sr, subtype="PCM_16")


# ---- discovery ----------------------------------------------------------------------------------
def clip_id_for(path: Path) -> str:
    """A wildcard-safe id for a user file: its stem with other characters replaced by '_'."""
    stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", path.stem).strip("._") or "clip"
    return stem if stem[0].isalnum() else "x" + stem


def _sidecar_licence(path: Path) -> tuple[str, str]:
    for side in (path.with_suffix(".txt"), path.with_suffix(path.suffix + ".txt"), path.with_suffix(".licence")):
        if side.is_file():
            lines = [ln.strip() for ln in side.read_text(errors="replace").splitlines() if ln.strip()]
            return (lines[-1] if lines else "unknown"), " / ".join(lines[:-1])
    return "unknown (user-provided file, no sidecar .txt)", ""


def check_audio_file(path: Path) -> str | None:
    """None when the file decodes to audible audio, else the reason it cannot be used."""
    try:
        x, _ = load_audio(path, duration=30.0)
    except AudioGSError as exc:
        msg = str(exc)
        return msg[len(f"{path}: "):] if msg.startswith(f"{path}: ") else msg
    if float(np.max(np.abs(x))) <= 0.0:
        return "signal is all zeros"
    return None


def discover(datasets_dir: str | os.PathLike, sources: dict | None = None, categories=None,
             report=None) -> list[Clip]:
    """Every benchmark clip: the listed sources plus user files found in datasets_dir/<category>/.

    categories limits the result (None = all). A user file that does not decode, or a folder that is
    not a known category, is reported on `report` and skipped. Listed clips are returned whether or
    not their dataset file exists yet (the pipeline fetches them).
    """
    report = report or sys.stderr
    datasets_dir = Path(datasets_dir)
    cats = None if categories is None else set(categories)
    clips: list[Clip] = []
    listed_paths = set()
    for c in (sources or {}).get("clips", []):
        path = datasets_dir / c["category"] / f"{c['id']}.flac"
        listed_paths.add(path.resolve())
        if cats is not None and c["category"] not in cats:
            continue
        known = {k: c.get(k) for k in Clip.__dataclass_fields__ if k in c and k not in ("path", "source", "extra")}
        extra = {k: v for k, v in c.items() if k not in Clip.__dataclass_fields__}
        clips.append(Clip(path=str(path), source="sources.yaml", extra=extra, **known))
    ids = {c.id for c in clips}
    if not datasets_dir.is_dir():
        return clips
    for folder in sorted(p for p in datasets_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in SUPPORTED_EXTS
                       and f.resolve() not in listed_paths and not f.name.startswith("."))
        if not files:
            continue
        if cats is not None and folder.name not in cats:
            print(f"audio_gs.datasets: skipping {folder}/: '{folder.name}' is not a benchmark category "
                  f"({', '.join(sorted(cats))}); add it to params/benchmark.yaml", file=report)
            continue
        for f in files:
            cid = clip_id_for(f)
            if cid in ids:
                print(f"audio_gs.datasets: skipping {f}: id '{cid}' is already used by another clip", file=report)
                continue
            problem = check_audio_file(f)
            if problem:
                print(f"audio_gs.datasets: skipping {f}: {problem}", file=report)
                continue
            licence, attribution = _sidecar_licence(f)
            clips.append(Clip(id=cid, category=folder.name, path=str(f), source="user", file=f.name,
                              title=f.stem, attribution=attribution, licence=licence))
            ids.add(cid)
    return clips


# ---- reference signal ---------------------------------------------------------------------------
def make_reference(in_path: str | os.PathLike, out_path: str | os.PathLike, sample_rate: int,
                   duration: float | None = None, offset: float = 0.0, channels: str = "mono") -> dict:
    """Write the benchmark reference (16-bit WAV at sample_rate, mono by default); returns its facts."""
    x, sr = load_audio(in_path, sample_rate=int(sample_rate), offset=offset, duration=duration, channels=channels)
    peak = float(np.max(np.abs(x)))
    if peak <= 0.0:
        raise AudioGSError(f"{in_path}: excerpt is silent")
    if peak > 1.0:  # resampling can overshoot full scale a little; scale rather than clip
        x = x / peak
    save_audio(out_path, x, sr, subtype="PCM_16")
    return {"path": str(out_path), "sample_rate": sr, "channels": int(x.shape[0]), "n_samples": int(x.shape[1]),
            "duration_s": x.shape[1] / sr}


# ---- command line -------------------------------------------------------------------------------
def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@exits_2_on_user_error
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m audio_gs.bench.datasets", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="fetch one listed clip (or all) into datasets/<category>/<id>.flac")
    f.add_argument("--sources", default="datasets/sources.yaml")
    f.add_argument("--id", help="clip id (default: every clip)")
    f.add_argument("-o", "--output", help="output FLAC (default datasets/<category>/<id>.flac)")
    f.add_argument("--datasets_dir", default="datasets")
    f.add_argument("--mirror", help=f"mirror directory (default: ${MIRROR_ENV}, else sources.yaml 'mirror')")
    f.add_argument("--cache_dir", help=f"download cache (default ${CACHE_ENV} or ~/.cache/audio_gs/downloads)")
    r = sub.add_parser("reference", help="write the benchmark reference excerpt of a dataset file")
    r.add_argument("input")
    r.add_argument("-o", "--output", required=True)
    r.add_argument("--sample_rate", type=int, required=True)
    r.add_argument("--duration", type=float)
    r.add_argument("--offset", type=float, default=0.0)
    r.add_argument("--channels", default="mono", choices=("mono", "keep"))
    r.add_argument("--info_json", help="also write the reference's facts and clip metadata here")
    r.add_argument("--clip_json", help="JSON of the clip's metadata to copy into --info_json")
    ls = sub.add_parser("list", help="list listed and user-provided clips")
    ls.add_argument("--sources", default="datasets/sources.yaml")
    ls.add_argument("--datasets_dir", default="datasets")
    ls.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "fetch":
        src = load_sources(args.sources)
        base = Path(args.sources).resolve().parent.parent
        mirror = Path(args.mirror) if args.mirror else resolve_mirror(src["mirror"], base)
        clips = [c for c in src["clips"] if args.id in (None, c["id"])]
        if not clips:
            raise AudioGSError(f"no clip with id {args.id!r} in {args.sources}")
        for c in clips:
            out = args.output if (args.output and args.id) else Path(args.datasets_dir) / c["category"] / f"{c['id']}.flac"
            fetch_clip(c, out, mirror, Path(args.cache_dir) if args.cache_dir else None)
            print(f"{c['id']}: wrote {out} (from {'mirror ' + str(mirror) if mirror else c.get('url')})")
    elif args.cmd == "reference":
        info = make_reference(args.input, args.output, args.sample_rate, args.duration, args.offset, args.channels)
        if args.info_json:
            clip = json.loads(Path(args.clip_json).read_text()) if args.clip_json else {}
            info["clip"] = clip
            Path(args.info_json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.info_json).write_text(json.dumps(info, indent=2))
        print(json.dumps(info))
    elif args.cmd == "list":
        src = load_sources(args.sources) if Path(args.sources).is_file() else None
        clips = discover(args.datasets_dir, src)
        if args.json:
            print(json.dumps([c.to_dict() for c in clips], indent=2))
        else:
            for c in clips:
                print(f"{c.category:10s} {c.id:40s} {c.source:12s} {c.licence}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
