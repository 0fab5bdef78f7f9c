"""audio_gs.datasets: sources.yaml checking, mirror fetch with sha256, excerpts, discovery of user files."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from audio_gs.bench import datasets as D
from audio_gs.errors import AudioGSError

from synth import tone

REPO = Path(__file__).resolve().parents[2]
MIRROR = (REPO / "../shared/datasets/librosa-data").resolve()
OPEN_CLIPS = (REPO / "../shared/datasets/open-clips").resolve()


def _write_tone(path, sr=16000, seconds=1.0, freq=440.0, channels=1):
    x = tone(sr, seconds, freq)
    sf.write(str(path), np.stack([x] * channels, axis=1) if channels > 1 else x, sr)
    return path


def _sources(tmp_path, clips, mirror=None):
    p = tmp_path / "sources.yaml"
    p.write_text(yaml.safe_dump({"mirror": mirror, "clips": clips}))
    return p


def _clip(path, cid="c1", category="speech", **kw):
    d = {"id": cid, "category": category, "file": Path(path).name,
         "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}
    d.update(kw)
    return d


def test_repo_sources_are_valid_and_credit_every_clip():
    src = D.load_sources(REPO / "datasets" / "sources.yaml")
    assert len(src["clips"]) == 34
    cats = [c["category"] for c in src["clips"]]
    assert set(cats) == {"speech", "piano", "pop", "symphony", "other"} and min(map(cats.count, set(cats))) >= 4
    for c in src["clips"]:
        assert c["title"] and c["licence"] and c["attribution"] and c["url"].startswith("https://")
        assert c.get("duration") is None or c["duration"] <= 10.0  # 10 s excerpts, or the whole (shorter) clip


@pytest.mark.parametrize("mirror", [MIRROR, OPEN_CLIPS])
def test_repo_sources_match_the_mirror_manifests(mirror):
    if not (mirror / "MANIFEST.tsv").is_file():
        pytest.skip(f"mirror {mirror} absent")
    lines = (mirror / "MANIFEST.tsv").read_text().splitlines()
    head = lines[0].split("\t")
    rows = [dict(zip(head, ln.split("\t"))) for ln in lines[1:] if ln.strip()]
    manifest = {Path(r["file"]).name: r for r in rows}
    listed = {c["file"]: c for c in D.load_sources(REPO / "datasets" / "sources.yaml")["clips"]}
    for name, r in manifest.items():  # every file of the mirror is listed, with its hash, size and category
        c = listed[name]
        assert (c["category"], c["sha256"]) == (r["category"], r["sha256"])
        assert c["url"] == r["url"] and (c.get("bytes") is None or c["bytes"] == int(r["bytes"]))


@pytest.mark.parametrize("bad, message", [
    ({"id": "a", "category": "speech", "file": "x.wav"}, "lacks sha256"),
    ({"id": "a b", "category": "speech", "file": "x.wav", "sha256": "0" * 64}, "must match"),
    ({"id": "a", "category": "speech", "file": "x.wav", "sha256": "xyz"}, "64 hex digits"),
])
def test_malformed_sources_entry_is_one_clear_error(tmp_path, bad, message):
    with pytest.raises(AudioGSError, match=message):
        D.load_sources(_sources(tmp_path, [bad]))


def test_repeated_clip_id_is_an_error(tmp_path):
    c = {"id": "a", "category": "speech", "file": "x.wav", "sha256": "0" * 64}
    with pytest.raises(AudioGSError, match="appears twice"):
        D.load_sources(_sources(tmp_path, [c, dict(c)]))


def test_fetch_from_mirror_checks_hash_and_cuts_the_excerpt(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    src = _write_tone(mirror / "t.wav", sr=8000, seconds=2.0, channels=2)
    clip = _clip(src, offset=0.5, duration=1.0)
    out = D.fetch_clip(clip, tmp_path / "datasets" / "speech" / "c1.flac", mirror=mirror)
    info = sf.info(str(out))
    assert info.samplerate == 8000 and info.channels == 2 and info.frames == 8000
    assert info.subtype == "PCM_16"


def test_mirror_file_with_wrong_hash_is_refused_not_replaced(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    src = _write_tone(mirror / "t.wav")
    clip = _clip(src)
    clip["sha256"] = "0" * 64
    with pytest.raises(AudioGSError, match="sha256 mismatch"):
        D.fetch_source(clip, mirror=mirror)


def test_missing_file_without_url_says_where_it_looked(tmp_path):
    clip = {"id": "c1", "category": "speech", "file": "nope.wav", "sha256": "0" * 64}
    with pytest.raises(AudioGSError, match="not found"):
        D.fetch_source(clip, mirror=tmp_path)


class FakeResponse:
    """What urllib's opener returns, streaming `body` (bytes, or None for an endless stream)."""

    def __init__(self, body=None, headers=None, log=None):
        self.body, self.headers, self.pos, self.log = body, headers or {}, 0, log if log is not None else []

    def read(self, n=-1):
        self.log.append(n)
        if self.body is None:
            return b"\0" * max(1, min(n, 1 << 16))
        block = self.body[self.pos:self.pos + (n if n >= 0 else len(self.body))]
        self.pos += len(block)
        return block

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _serve(monkeypatch, response):
    opened = []

    def fake_open(url, timeout):
        opened.append((url, timeout))
        return response

    monkeypatch.setattr(D, "_open_url", fake_open)
    return opened


def test_download_streams_https_into_the_cache_and_checks_the_hash(tmp_path, monkeypatch):
    remote = _write_tone(tmp_path / "remote.wav")
    body = remote.read_bytes()
    opened = _serve(monkeypatch, FakeResponse(body, {"Content-Length": str(len(body))}))
    clip = _clip(remote, url="https://example.org/remote.wav", bytes=len(body))
    got = D.fetch_source(clip, mirror=None, cache_dir=tmp_path / "cache")
    assert got.read_bytes() == body and got.parent.parent == (tmp_path / "cache").resolve()
    assert opened[0][0] == "https://example.org/remote.wav" and opened[0][1] <= D.READ_TIMEOUT_S


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://example.org/a.wav", "ftp://example.org/a.wav",
                                 "data:,hello", "/etc/passwd"])
def test_download_refuses_every_scheme_but_https(tmp_path, monkeypatch, url):
    opened = _serve(monkeypatch, FakeResponse(b"x"))
    clip = {"id": "c1", "category": "speech", "file": "a.wav", "sha256": "0" * 64, "url": url}
    with pytest.raises(AudioGSError, match="only https:// URLs") as info:
        D.fetch_source(clip, mirror=None, cache_dir=tmp_path / "cache")
    assert "c1" in str(info.value) and "\n" not in str(info.value)
    assert opened == [] and not (tmp_path / "cache").exists()


def test_endless_download_stops_at_the_default_cap_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "DEFAULT_MAX_BYTES", 300_000)
    log = []
    _serve(monkeypatch, FakeResponse(None, log=log))
    clip = {"id": "c1", "category": "speech", "file": "a.wav", "sha256": "0" * 64, "url": "https://example.org/a"}
    with pytest.raises(AudioGSError, match="more than the cap of 300000 bytes"):
        D.fetch_source(clip, mirror=None, cache_dir=tmp_path / "cache")
    assert sum(min(n, 1 << 16) for n in log) <= 300_000 + (1 << 16)  # it stopped reading at the cap
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []  # no partial file


def test_download_larger_than_the_declared_bytes_is_refused(tmp_path, monkeypatch):
    _serve(monkeypatch, FakeResponse(b"y" * 5000))
    clip = {"id": "c1", "category": "speech", "file": "a.wav", "sha256": "0" * 64, "url": "https://example.org/a",
            "bytes": 4000}
    with pytest.raises(AudioGSError, match="more than the cap of 4000 bytes"):
        D.fetch_source(clip, mirror=None, cache_dir=tmp_path / "cache")


def test_announced_oversize_download_is_refused_before_reading(tmp_path, monkeypatch):
    log = []
    _serve(monkeypatch, FakeResponse(b"z" * 10, {"Content-Length": str(10 ** 12)}, log=log))
    clip = {"id": "c1", "category": "speech", "file": "a.wav", "sha256": "0" * 64, "url": "https://example.org/a",
            "bytes": 10}
    with pytest.raises(AudioGSError, match="announces 1000000000000 bytes"):
        D.fetch_source(clip, mirror=None, cache_dir=tmp_path / "cache")
    assert log == []


def test_slow_download_stops_at_the_total_deadline(tmp_path, monkeypatch):
    clock = iter(range(0, 10 ** 6, 7))  # every look at the clock: 7 s later (each read within its timeout)
    monkeypatch.setattr(D.time, "monotonic", lambda: next(clock))
    _serve(monkeypatch, FakeResponse(None))
    with pytest.raises(AudioGSError, match="took longer than 60 s"):
        D.download("https://example.org/a", tmp_path / "a.wav", sha256="0" * 64, max_bytes=10 ** 9, deadline_s=60)
    assert not (tmp_path / "a.wav").exists()


def test_downloaded_bytes_with_the_wrong_hash_are_not_kept(tmp_path, monkeypatch):
    _serve(monkeypatch, FakeResponse(b"not the listed file"))
    with pytest.raises(AudioGSError, match="sha256 mismatch"):
        D.download("https://example.org/a", tmp_path / "a.wav", sha256="0" * 64, max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


def test_redirects_are_followed_only_to_https():
    import urllib.error
    import urllib.request

    handler = D._HttpsOnlyRedirects()
    req = urllib.request.Request("https://example.org/a")
    for target in ("http://example.org/a", "file:///etc/passwd"):
        with pytest.raises(urllib.error.URLError, match="non-https"):
            handler.redirect_request(req, None, 302, "Found", {}, target)
    assert handler.redirect_request(req, None, 302, "Found", {}, "https://cdn.example.org/a").full_url.startswith("https:")


@pytest.mark.parametrize("name", ["../../../x", "/home/u/.bashrc", "a/b.ogg", "a\\b.ogg", ".bashrc", "..", ".",
                                  "x\0y.ogg", "x\ny.ogg", "C:x.ogg", ""])
def test_sources_file_must_be_a_bare_file_name(tmp_path, name):
    c = {"id": "evil1", "category": "speech", "file": name, "sha256": "0" * 64}
    with pytest.raises(AudioGSError, match="evil1") as info:
        D.load_sources(_sources(tmp_path, [c]))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["../outside.wav", "/tmp/outside.wav", "sub/../../outside.wav"])
def test_fetch_never_reads_or_writes_outside_the_mirror_and_cache(tmp_path, monkeypatch, name):
    outside = _write_tone(tmp_path / "outside.wav")
    (tmp_path / "mirror").mkdir()
    opened = _serve(monkeypatch, FakeResponse(outside.read_bytes()))
    clip = _clip(outside, file=name, url="https://example.org/x")
    with pytest.raises(AudioGSError, match="bare file name|must not start"):
        D.fetch_source(clip, mirror=tmp_path / "mirror", cache_dir=tmp_path / "cache")
    assert opened == [] and not (tmp_path / "cache").exists()


def test_mirror_symlink_leading_outside_the_mirror_is_refused(tmp_path):
    outside = _write_tone(tmp_path / "outside.wav")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "t.wav").symlink_to(outside)
    with pytest.raises(AudioGSError, match="leads outside"):
        D.fetch_source(_clip(outside, file="t.wav"), mirror=mirror)


def test_mirror_file_of_another_size_than_declared_is_refused(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    src = _write_tone(mirror / "t.wav")
    with pytest.raises(AudioGSError, match="sources.yaml declares 12"):
        D.fetch_source(_clip(src, bytes=12), mirror=mirror)


@pytest.mark.parametrize("key, value", [("bytes", -1), ("bytes", "big"), ("bytes", 1.5), ("offset", -2),
                                        ("duration", 0), ("duration", "long"), ("url", 3)])
def test_numeric_fields_of_sources_are_checked(tmp_path, key, value):
    c = {"id": "a", "category": "speech", "file": "x.wav", "sha256": "0" * 64, key: value}
    with pytest.raises(AudioGSError, match=f"clip a: {key}"):
        D.load_sources(_sources(tmp_path, [c]))


def test_mirror_env_variable_wins_over_configured_path(tmp_path, monkeypatch):
    monkeypatch.setenv(D.MIRROR_ENV, str(tmp_path))
    assert D.resolve_mirrors("does/not/exist", base=tmp_path) == [tmp_path]
    monkeypatch.delenv(D.MIRROR_ENV)
    assert D.resolve_mirrors("does/not/exist", base=tmp_path) == []


def test_several_mirrors_from_the_env_or_a_list_missing_ones_left_out(tmp_path, monkeypatch):
    import os

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.setenv(D.MIRROR_ENV, os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "gone"), str(tmp_path / "b")]))
    assert D.resolve_mirrors(None) == [tmp_path / "a", tmp_path / "b"]
    monkeypatch.delenv(D.MIRROR_ENV)
    assert D.resolve_mirrors(["a", "gone", "b"], base=tmp_path) == [tmp_path / "a", tmp_path / "b"]


def test_fetch_finds_a_clip_in_any_mirror_flat_or_in_its_category_folder(tmp_path):
    (tmp_path / "flat").mkdir()
    (tmp_path / "tree" / "piano").mkdir(parents=True)
    flat = _write_tone(tmp_path / "flat" / "f.wav")
    nested = _write_tone(tmp_path / "tree" / "piano" / "n.wav", freq=300.0)
    mirrors = [tmp_path / "flat", tmp_path / "tree"]
    assert D.fetch_source(_clip(flat), mirror=mirrors) == flat.resolve()
    assert D.fetch_source(_clip(nested, category="piano"), mirror=mirrors) == nested.resolve()
    with pytest.raises(AudioGSError, match="not found"):  # another category's folder is not searched
        D.fetch_source(_clip(nested, category="speech"), mirror=mirrors)


def test_category_folder_of_a_mirror_leading_outside_it_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    src = _write_tone(outside / "t.wav")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "speech").symlink_to(outside)
    with pytest.raises(AudioGSError, match="leads outside"):
        D.fetch_source(_clip(src, category="speech"), mirror=[mirror])
    # a category is a name, never a path: one with a separator is not looked up at all
    assert D._mirror_candidates([mirror], {"id": "x", "file": "t.wav", "category": "../outside"}) == [
        (mirror / "t.wav").resolve()]


def test_sources_mirror_key_must_be_a_folder_or_a_list_of_them(tmp_path):
    p = tmp_path / "sources.yaml"
    p.write_text(yaml.safe_dump({"mirror": {"a": 1}, "clips": []}))
    with pytest.raises(AudioGSError, match="mirror must be a directory or a list"):
        D.load_sources(p)
    p.write_text(yaml.safe_dump({"mirror": ["a", "b"], "clips": []}))
    assert D.load_sources(p)["mirror"] == ["a", "b"]


def test_discover_adds_user_files_and_skips_bad_ones_with_a_message(tmp_path, capsys):
    root = tmp_path / "datasets"
    (root / "speech").mkdir(parents=True)
    (root / "jazz").mkdir()
    _write_tone(root / "speech" / "my talk.wav")
    (root / "speech" / "my talk.txt").write_text("Recorded by me\nCC0")
    (root / "speech" / "broken.wav").write_bytes(b"RIFF not really a wav")
    sf.write(str(root / "speech" / "silent.flac"), np.zeros(8000, np.float32), 8000)
    _write_tone(root / "jazz" / "tune.wav")
    listed = {"clips": [{"id": "listed1", "category": "speech", "file": "a.ogg", "sha256": "0" * 64}]}
    clips = D.discover(root, listed, categories=["speech", "piano"])
    err = capsys.readouterr().err
    ids = {c.id: c for c in clips}
    assert set(ids) == {"listed1", "my_talk"}
    assert ids["my_talk"].source == "user" and ids["my_talk"].licence == "CC0"
    assert ids["my_talk"].attribution == "Recorded by me"
    assert "broken.wav" in err and "cannot decode" in err
    assert "silent.flac" in err and "all zeros" in err
    assert "jazz" in err and "not a benchmark category" in err


def test_user_file_ids_are_wildcard_safe():
    assert D.clip_id_for(Path("My Song (live) #2.mp3")) == "My_Song__live___2"
    assert D.ID_RE.match(D.clip_id_for(Path("_weird.wav")))


def test_reference_is_mono_resampled_shortened_and_below_full_scale(tmp_path):
    src = tmp_path / "in.wav"
    x = np.stack([tone(44100, 2.0, 440, 0.99), tone(44100, 2.0, 660, 0.99)], axis=1)
    sf.write(str(src), x, 44100)
    info = D.make_reference(src, tmp_path / "ref.wav", 22050, duration=1.5)
    y, sr = sf.read(str(tmp_path / "ref.wav"))
    assert sr == 22050 and y.ndim == 1 and len(y) == int(1.5 * 22050)
    assert info["n_samples"] == len(y) and np.max(np.abs(y)) <= 1.0


def test_cli_fetch_writes_the_dataset_file(tmp_path, monkeypatch):
    monkeypatch.delenv(D.MIRROR_ENV, raising=False)  # CI sets it; this test uses sources.yaml's mirror key
    mirror = tmp_path / "m"
    mirror.mkdir()
    src = _write_tone(mirror / "t.wav", sr=8000)
    sources = _sources(tmp_path, [_clip(src, cid="t1")], mirror=str(mirror))
    out = tmp_path / "d" / "speech" / "t1.flac"
    assert D.main(["fetch", "--sources", str(sources), "--id", "t1", "-o", str(out)]) == 0
    assert sf.info(str(out)).frames == 8000
    assert D.main(["fetch", "--sources", str(sources), "--id", "nope"]) == 2


def test_hostile_file_names_are_ids_and_sidecar_text_is_kept_verbatim(tmp_path, capsys):
    root = tmp_path / "datasets"
    (root / "speech").mkdir(parents=True)
    names = ["a;b.wav", "a$(touch PWNED)b.wav", "it's.wav", 'say "hi".wav', "tick`id`.wav", "sprache_über.wav"]
    for n in names:
        _write_tone(root / "speech" / n)
    (root / "speech" / "it's.txt").write_text("Recorded by O'Brien\n'$(touch PWNED)'\n")
    _write_tone(root / "speech" / "br{ace}s.wav")
    _write_tone(root / "speech" / "new\nline.wav")
    clips = {c.file: c for c in D.discover(root)}
    err = capsys.readouterr().err
    assert set(clips) == set(names)
    assert all(D.ID_RE.match(c.id) for c in clips.values())
    assert clips["it's.wav"].licence == "'$(touch PWNED)'" and clips["it's.wav"].attribution == "Recorded by O'Brien"
    assert "br{ace}s.wav" in err and "wildcard" in err and "control character" in err
    assert not list(tmp_path.rglob("PWNED"))


def test_sidecar_is_read_only_in_part_and_never_through_a_symlink(tmp_path):
    root = tmp_path / "speech"
    root.mkdir()
    _write_tone(root / "big.wav")
    head = b"CC0\x1b[31m\n"
    (root / "big.txt").write_bytes(head + b"x" * (D.SIDECAR_MAX_BYTES * 4) + b"\nhidden licence\n")
    assert D.user_clip(root / "big.wav").licence == "x" * (D.SIDECAR_MAX_BYTES - len(head))  # first 64 KiB only
    assert D.user_clip(root / "big.wav").attribution == "CC0[31m"  # the escape character dropped
    secret = tmp_path / "secret"
    secret.write_text("password\n")
    _write_tone(root / "link.wav")
    (root / "link.txt").symlink_to(secret)
    assert "password" not in D.user_clip(root / "link.wav").licence


def test_clip_for_gives_the_metadata_discover_gives(tmp_path):
    root = tmp_path / "datasets"
    (root / "speech").mkdir(parents=True)
    _write_tone(root / "speech" / "it's mine.wav")
    (root / "speech" / "it's mine.txt").write_text("by me\nCC0")
    sources = {"clips": [{"id": "listed1", "category": "speech", "file": "a.ogg", "sha256": "0" * 64,
                          "title": "Let's Go Fishin"}]}
    found = {c.id: c for c in D.discover(root, sources)}
    for cid, clip in found.items():
        assert D.clip_for(cid, clip.path, sources, root) == clip
    with pytest.raises(AudioGSError, match="not 'other'"):
        D.clip_for("other", root / "speech" / "it's mine.wav", sources, root)


def test_cli_reference_writes_the_clip_metadata_it_looks_up(tmp_path):
    root = tmp_path / "datasets"
    (root / "speech").mkdir(parents=True)
    src = _write_tone(root / "speech" / "Let's $(x) Go.wav")
    (root / "speech" / "Let's $(x) Go.txt").write_text("'$(touch PWNED)'")
    info = tmp_path / "ref.json"
    rc = D.main(["reference", str(src), "-o", str(tmp_path / "ref.wav"), "--sample_rate", "8000", "--duration", "0.5",
                 "--info_json", str(info), "--clip_id", "Let_s___x__Go", "--sources", str(tmp_path / "none.yaml"),
                 "--datasets_dir", str(root)])
    assert rc == 0
    meta = json.loads(info.read_text())["clip"]
    assert meta["licence"] == "'$(touch PWNED)'" and meta["title"] == "Let's $(x) Go" and meta["source"] == "user"
    assert not list(tmp_path.rglob("PWNED"))
