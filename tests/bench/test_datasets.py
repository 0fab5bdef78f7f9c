"""audio_gs.datasets: sources.yaml checking, mirror fetch with sha256, excerpts, discovery of user files."""

import hashlib
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


def test_repo_sources_are_valid_and_list_eight_clips_in_four_categories():
    src = D.load_sources(REPO / "datasets" / "sources.yaml")
    assert len(src["clips"]) == 8
    assert {c["category"] for c in src["clips"]} == {"speech", "piano", "pop", "symphony"}
    for c in src["clips"]:
        assert c["licence"] and c["attribution"] and c["url"].startswith("https://")


@pytest.mark.skipif(not (MIRROR / "MANIFEST.tsv").is_file(), reason="mirror ../shared/datasets/librosa-data absent")
def test_repo_sources_match_the_mirror_manifest():
    rows = [ln.split("\t") for ln in (MIRROR / "MANIFEST.tsv").read_text().splitlines()[1:] if ln.strip()]
    manifest = {r[1]: (r[0], r[2]) for r in rows}
    for c in D.load_sources(REPO / "datasets" / "sources.yaml")["clips"]:
        assert manifest[c["file"]] == (c["category"], c["sha256"])


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


def test_download_uses_the_url_and_checks_the_hash(tmp_path):
    remote = _write_tone(tmp_path / "remote.wav")
    clip = _clip(remote, url=remote.as_uri())
    got = D.fetch_source(clip, mirror=None, cache_dir=tmp_path / "cache")
    assert got.read_bytes() == remote.read_bytes() and got.parent.parent == tmp_path / "cache"


def test_mirror_env_variable_wins_over_configured_path(tmp_path, monkeypatch):
    monkeypatch.setenv(D.MIRROR_ENV, str(tmp_path))
    assert D.resolve_mirror("does/not/exist", base=tmp_path) == tmp_path
    monkeypatch.delenv(D.MIRROR_ENV)
    assert D.resolve_mirror("does/not/exist", base=tmp_path) is None


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
