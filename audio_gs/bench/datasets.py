"""Benchmark datasets: fetch the clips listed in datasets/sources.yaml, cut excerpts, find user files.

A clip listed in sources.yaml is read from a mirror (env ``AUDIO_GS_MIRROR``: one or more directories
separated by ``os.pathsep``, else the ``mirror`` key of sources.yaml: a directory or a list of them),
looked up as ``<mirror>/<file>`` then ``<mirror>/<category>/<file>`` in each directory in turn, or
downloaded from its URL into a cache; either way it is checked against its sha256,
decoded, cut to [offset, offset + duration) seconds and written to ``datasets/<category>/<id>.flac``
(16-bit FLAC at the source's rate and channels).

Any other audio file a user drops into ``datasets/<category>/`` is picked up by ``discover``;
a file that cannot be decoded is reported on stderr and skipped. Its licence is read from a sidecar
``<name>.txt`` beside it when there is one.

Hostile inputs (see docs/security.md): ``file`` in sources.yaml must be a bare file name, and the
mirror and cache lookups stay inside their folders; downloads are https only, capped by the declared
``bytes`` (DEFAULT_MAX_BYTES when absent) and by a wall-clock deadline; user file names and sidecar
text are data, never shell: the pipeline passes the clip id and paths quoted, and the reference
command looks the clip's metadata up itself.

``make_reference`` turns a dataset file into the benchmark's reference signal (resampled, mono,
shortened): every codec in the benchmark is compared against that same file.

Command line (used by the Snakefile)::

    python -m audio_gs.bench.datasets fetch --sources datasets/sources.yaml --id ID -o datasets/speech/ID.flac
    python -m audio_gs.bench.datasets reference IN -o OUT.wav --sample_rate 16000 --duration 3 \
        [--info_json OUT.json --clip_id ID --sources datasets/sources.yaml --datasets_dir datasets]
    python -m audio_gs.bench.datasets list [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import time
import urllib.error
import urllib.parse
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
DEFAULT_MAX_BYTES = 200_000_000  # download cap for an entry without `bytes`
DOWNLOAD_DEADLINE_S = 600.0  # wall-clock limit of one download, all reads together
READ_TIMEOUT_S = 30.0  # limit of one network read (and of connecting)
SIDECAR_MAX_BYTES = 65536  # only the start of a sidecar licence file is read
CHECK_SECONDS = 30.0  # discovery decodes at most this much of a user file


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
        problem = file_name_problem(c["file"])
        if problem:
            raise AudioGSError(f"sources {path}: clip {c['id']}: file {str(c['file'])!r} {problem}")
        _check_numbers(c, f"sources {path}: clip {c['id']}")
        seen.add(c["id"])
        clips.append(dict(c))
    mirror = data.get("mirror")
    if mirror is not None and not (isinstance(mirror, str) or
                                   (isinstance(mirror, list) and all(isinstance(m, str) and m for m in mirror))):
        raise AudioGSError(f"sources {path}: mirror must be a directory or a list of directories")
    return {"mirror": mirror, "clips": clips}


def file_name_problem(name) -> str | None:
    """None when name is a bare file name (no folder part, not hidden), else what is wrong with it."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty file name"
    if any(ch in name for ch in "/\\:") or os.path.isabs(name):
        return "must be a bare file name (no '/', '\\', ':' or absolute path)"
    if name.startswith("."):
        return "must not start with '.' (no '..', no hidden files)"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "must not contain control characters (NUL, newline ...)"
    return None


def _check_numbers(c: dict, what: str) -> None:
    for key, lo, strict in (("offset", 0, False), ("duration", 0, True), ("bytes", 0, True)):
        v = c.get(key)
        if v is None:
            continue
        ok = isinstance(v, int) if key == "bytes" else isinstance(v, (int, float)) and math.isfinite(v)
        if isinstance(v, bool) or not ok or (v <= lo if strict else v < lo):
            kind = "an integer" if key == "bytes" else "a number of seconds"
            raise AudioGSError(f"{what}: {key} must be {kind} {'>' if strict else '>='} {lo}, not {v!r}")
    if c.get("url") is not None and not isinstance(c["url"], str):
        raise AudioGSError(f"{what}: url must be a string")


def _inside(folder: Path, name: str, what: str) -> Path:
    """folder/name, resolved; AudioGSError when it (a symlink, say) leads outside folder."""
    root = Path(folder).resolve()
    p = (root / name).resolve()
    if not p.is_relative_to(root):
        raise AudioGSError(f"{what}: {root / name} leads outside {root} (to {p}); refused")
    return p


def resolve_mirrors(configured: str | os.PathLike | list | None = None,
                    base: str | os.PathLike | None = None) -> list[Path]:
    """The mirror directories that exist, in lookup order.

    Env AUDIO_GS_MIRROR (directories separated by os.pathsep) wins; else `configured`, a directory or a
    list of them, relative ones taken from `base`. Directories that do not exist are left out.
    """
    env = os.environ.get(MIRROR_ENV)
    if env:
        candidates = [Path(c).expanduser() for c in env.split(os.pathsep) if c]
    else:
        items = [] if configured is None else [configured] if isinstance(configured, (str, os.PathLike)) else configured
        candidates = []
        for c in items:
            p = Path(c).expanduser()
            candidates.append(Path(base) / p if not p.is_absolute() and base is not None else p)
    return [p for p in candidates if p.is_dir()]


def _mirror_candidates(mirror, clip: dict) -> list[Path]:
    """Every place a listed clip may lie in the mirror(s): <m>/<file>, then <m>/<category>/<file>.

    Each is resolved and must stay inside its mirror directory (a symlink leading out is refused).
    """
    mirrors = [] if mirror is None else [mirror] if isinstance(mirror, (str, os.PathLike)) else list(mirror)
    names = [clip["file"]]
    cat = clip.get("category")
    if isinstance(cat, str) and ID_RE.match(cat):  # a category is a plain name: never a path
        names.append(f"{cat}/{clip['file']}")
    return [_inside(Path(m), n, f"{clip['id']}: mirror file") for m in mirrors for n in names]


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


def _check_size(path: Path, clip: dict, what: str) -> None:
    want = clip.get("bytes")
    if want is not None and path.stat().st_size != want:
        raise AudioGSError(f"{what}: {path.stat().st_size} bytes, sources.yaml declares {want}; "
                           "the file is corrupt or not the listed one")


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to another https URL."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme.lower() != "https":
            raise urllib.error.URLError(f"redirect to a non-https URL refused ({newurl})")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open_url(url: str, timeout: float):
    """The response of GET url (redirects only to https); timeout (s) limits connecting and each read."""
    return urllib.request.build_opener(_HttpsOnlyRedirects).open(url, timeout=timeout)


def download(url: str, dest: str | os.PathLike, *, sha256: str, max_bytes: int, deadline_s: float = DOWNLOAD_DEADLINE_S,
             read_timeout_s: float = READ_TIMEOUT_S, what: str = "download") -> Path:
    """Stream an https URL into dest (atomically), at most max_bytes and deadline_s seconds, and check its sha256.

    Raises AudioGSError for another scheme, a larger body (declared or sent), a slower transfer,
    a network error or a hash mismatch; dest is then left untouched.
    """
    if urllib.parse.urlsplit(url).scheme.lower() != "https":
        raise AudioGSError(f"{what}: only https:// URLs are downloaded, not {url!r} (a local copy belongs in the mirror folder)")
    t_end = time.monotonic() + deadline_s

    def _fetch(tmp: Path) -> None:
        h = hashlib.sha256()
        got = 0
        try:
            with _open_url(url, min(read_timeout_s, deadline_s)) as r, open(tmp, "wb") as f:
                declared = r.headers.get("Content-Length") if getattr(r, "headers", None) else None
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise AudioGSError(f"{what}: {url} announces {int(declared)} bytes, more than the cap of {max_bytes}")
                while True:
                    block = r.read(min(1 << 20, max_bytes + 1 - got))
                    if not block:
                        break
                    got += len(block)
                    if got > max_bytes:
                        raise AudioGSError(f"{what}: {url} sent more than the cap of {max_bytes} bytes; stopped")
                    if time.monotonic() > t_end:
                        raise AudioGSError(f"{what}: {url} took longer than {deadline_s:g} s; stopped after {got} bytes")
                    h.update(block)
                    f.write(block)
        except AudioGSError:
            raise
        except Exception as exc:  # network, HTTP, TLS and timeout errors
            raise AudioGSError(f"{what}: cannot download {url} ({type(exc).__name__}: {exc})") from None
        if h.hexdigest() != sha256.lower():
            raise AudioGSError(f"{what}: sha256 mismatch for {url} (expected {sha256[:12]}..., got "
                               f"{h.hexdigest()[:12]}..., {got} bytes); the file is corrupt or not the listed one")

    return atomic_write(dest, _fetch)


def fetch_source(clip: dict, mirror: Path | list[Path] | None = None, cache_dir: Path | None = None, *,
                 deadline_s: float = DOWNLOAD_DEADLINE_S) -> Path:
    """Path of the verified source bytes of a listed clip: from a mirror directory (one or a list, each
    searched as <m>/<file> then <m>/<category>/<file>), else downloaded from its URL.

    A mirror file whose size or hash does not match is an error (it is not silently replaced by a
    download). Downloads are https only, capped at the entry's `bytes` (DEFAULT_MAX_BYTES without it).
    """
    name = clip["file"]
    problem = file_name_problem(name)
    if problem:
        raise AudioGSError(f"{clip['id']}: file {str(name)!r} {problem}")
    for p in _mirror_candidates(mirror, clip):
        if p.is_file():
            _check_size(p, clip, f"{clip['id']}: mirror file {p}")
            _check_hash(p, clip["sha256"], f"{clip['id']}: mirror file {p}")
            return p
    url = clip.get("url")
    if not url:
        looked = [str(m) for m in ([] if mirror is None else [mirror] if isinstance(mirror, (str, os.PathLike))
                                   else mirror)]
        where = f"mirror {', '.join(looked)}" if looked else f"no mirror (set {MIRROR_ENV})"
        raise AudioGSError(f"{clip['id']}: {name} not found ({where}) and no url to download it from")
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    cached = _inside(cache_dir, f"{clip['sha256'].lower()[:16]}/{name}", f"{clip['id']}: cache file")
    if cached.is_file() and sha256_of(cached) == clip["sha256"].lower():
        return cached
    cap = clip.get("bytes") or DEFAULT_MAX_BYTES
    download(url, cached, sha256=clip["sha256"], max_bytes=cap, deadline_s=deadline_s,
             what=f"{clip['id']}: download")
    _check_size(cached, clip, f"{clip['id']}: download from {url}")
    return cached


def fetch_clip(clip: dict, out_path: str | os.PathLike, mirror: Path | list[Path] | None = None,
               cache_dir: Path | None = None) -> Path:
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


def _clean(line: str) -> str:
    return "".join(ch for ch in line if ch.isprintable()).strip()


def _sidecar_licence(path: Path) -> tuple[str, str]:
    """(licence, attribution) from <name>.txt beside path: its last line, and the lines before it.

    Only a regular file (not a symlink) is read, and only its first SIDECAR_MAX_BYTES; control
    characters are dropped. The text is metadata: it is never passed through a shell.
    """
    for side in (path.with_suffix(".txt"), path.with_suffix(path.suffix + ".txt"), path.with_suffix(".licence")):
        if side.is_file() and not side.is_symlink():
            with open(side, "rb") as f:
                text = f.read(SIDECAR_MAX_BYTES).decode("utf-8", errors="replace")
            lines = [ln for ln in (_clean(x) for x in text.splitlines()) if ln]
            return (lines[-1] if lines else "unknown"), " / ".join(lines[:-1])
    return "unknown (user-provided file, no sidecar .txt)", ""


def user_clip(path: str | os.PathLike) -> Clip:
    """The Clip of a user file datasets/<category>/<name>: id from its name, licence from its sidecar."""
    f = Path(path)
    licence, attribution = _sidecar_licence(f)
    return Clip(id=clip_id_for(f), category=f.parent.name, path=str(f), source="user", file=f.name,
                title=f.stem, attribution=attribution, licence=licence)


def listed_clip(c: dict, datasets_dir: str | os.PathLike) -> Clip:
    """The Clip of a sources.yaml entry; its dataset file is datasets_dir/<category>/<id>.flac."""
    path = Path(datasets_dir) / c["category"] / f"{c['id']}.flac"
    known = {k: c.get(k) for k in Clip.__dataclass_fields__ if k in c and k not in ("path", "source", "extra")}
    extra = {k: v for k, v in c.items() if k not in Clip.__dataclass_fields__}
    return Clip(path=str(path), source="sources.yaml", extra=extra, **known)


def clip_for(clip_id: str, path: str | os.PathLike, sources: dict | None = None,
             datasets_dir: str | os.PathLike = "datasets") -> Clip:
    """The metadata of one clip, as `discover` gives it, without scanning every dataset file."""
    for c in (sources or {}).get("clips", []):
        if c["id"] == clip_id:
            return listed_clip(c, datasets_dir)
    clip = user_clip(path)
    if clip.id != clip_id:
        raise AudioGSError(f"{path}: its clip id is {clip.id!r}, not {clip_id!r}")
    return clip


def user_file_name_problem(name: str) -> str | None:
    """None when the pipeline can use a dropped file of this name, else why not (then it is skipped).

    Spaces, quotes, `;`, `$(...)`, backticks and non-ASCII letters are fine (paths are quoted);
    braces are not (Snakemake reads them as wildcards), nor are control characters such as newlines.
    """
    if "{" in name or "}" in name:
        return "its name contains '{' or '}', which Snakemake reads as a wildcard; rename the file"
    if any(not ch.isprintable() for ch in name):
        return "its name contains a control character (newline, tab ...); rename the file"
    return None


def check_audio_file(path: Path) -> str | None:
    """None when the file's first CHECK_SECONDS decode to audible audio, else the reason it cannot be used.

    Only those seconds are decoded, however long the file is.
    """
    try:
        x, _ = load_audio(path, duration=CHECK_SECONDS)
    except AudioGSError as exc:
        msg = str(exc)
        return msg[len(f"{path}: "):] if msg.startswith(f"{path}: ") else msg
    if float(np.max(np.abs(x))) <= 0.0:
        return f"signal is all zeros (first {CHECK_SECONDS:g} s)"
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
        clip = listed_clip(c, datasets_dir)
        listed_paths.add(Path(clip.path).resolve())
        if cats is not None and c["category"] not in cats:
            continue
        clips.append(clip)
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
            problem = user_file_name_problem(f.name) or check_audio_file(f)
            if problem:
                print(f"audio_gs.datasets: skipping {f}: {problem}", file=report)
                continue
            clips.append(user_clip(f))
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
    f.add_argument("--mirror", help=f"mirror directories separated by {os.pathsep!r} (default: ${MIRROR_ENV}, "
                   "else sources.yaml 'mirror')")
    f.add_argument("--cache_dir", help=f"download cache (default ${CACHE_ENV} or ~/.cache/audio_gs/downloads)")
    r = sub.add_parser("reference", help="write the benchmark reference excerpt of a dataset file")
    r.add_argument("input")
    r.add_argument("-o", "--output", required=True)
    r.add_argument("--sample_rate", type=int, required=True)
    r.add_argument("--duration", type=float)
    r.add_argument("--offset", type=float, default=0.0)
    r.add_argument("--channels", default="mono", choices=("mono", "keep"))
    r.add_argument("--info_json", help="also write the reference's facts and clip metadata here")
    r.add_argument("--clip_id", help="the clip's id: its metadata (sources.yaml entry, or the user file's "
                   "name and sidecar licence) goes into --info_json")
    r.add_argument("--sources", default="datasets/sources.yaml", help="sources.yaml, for --clip_id")
    r.add_argument("--datasets_dir", default="datasets", help="datasets folder, for --clip_id")
    r.add_argument("--clip_json", help="JSON of the clip's metadata to copy into --info_json (instead of --clip_id)")
    ls = sub.add_parser("list", help="list listed and user-provided clips")
    ls.add_argument("--sources", default="datasets/sources.yaml")
    ls.add_argument("--datasets_dir", default="datasets")
    ls.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "fetch":
        src = load_sources(args.sources)
        base = Path(args.sources).resolve().parent.parent
        mirror = ([Path(m) for m in args.mirror.split(os.pathsep) if m] if args.mirror
                  else resolve_mirrors(src["mirror"], base))
        clips = [c for c in src["clips"] if args.id in (None, c["id"])]
        if not clips:
            raise AudioGSError(f"no clip with id {args.id!r} in {args.sources}")
        for c in clips:
            out = args.output if (args.output and args.id) else Path(args.datasets_dir) / c["category"] / f"{c['id']}.flac"
            fetch_clip(c, out, mirror, Path(args.cache_dir) if args.cache_dir else None)
            where = "mirror " + os.pathsep.join(map(str, mirror)) if mirror else c.get("url")
            print(f"{c['id']}: wrote {out} (from {where})")
    elif args.cmd == "reference":
        info = make_reference(args.input, args.output, args.sample_rate, args.duration, args.offset, args.channels)
        if args.info_json:
            if args.clip_id:
                src = load_sources(args.sources) if Path(args.sources).is_file() else None
                clip = clip_for(args.clip_id, args.input, src, args.datasets_dir).to_dict()
            else:
                clip = json.loads(Path(args.clip_json).read_text()) if args.clip_json else {}
            info["clip"] = clip
            atomic_write(args.info_json, lambda tmp: tmp.write_text(json.dumps(info, indent=2)))
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
