"""audio_gs.encoder.checkpoint: checkpoints round-trip; damaged or hostile ones are one error naming
the checkpoint and the field; finding the checkpoint a fit resumes from."""

import math

import pytest
import torch

from audio_gs.encoder.checkpoint import find_resume, latest_checkpoint, load_checkpoint, save_checkpoint
from audio_gs.encoder.config import resolve_config
from audio_gs.errors import AudioGSError
from synth import random_atoms


def _payload(k=8, n_channels=1):
    a = random_atoms(k, sr=8000, seconds=0.25, n_channels=n_channels, dtype=torch.float32)
    return {"atoms": a.state_dict(), "n_samples": 2000, "config": {"num_gaussians": k}, "step": 10}


def test_checkpoint_round_trips(tmp_path):
    a = random_atoms(12, sr=8000, seconds=0.25, n_channels=2, dtype=torch.float32)
    a.stereo_mode = "ms"
    save_checkpoint(tmp_path / "c.pth", a, 2000, {"lr": 0.1}, 7, seconds=1.5)
    b, n, payload = load_checkpoint(tmp_path / "c.pth")
    assert n == 2000 and payload["step"] == 7 and payload["seconds"] == 1.5 and payload["config"] == {"lr": 0.1}
    assert (b.sample_rate, b.n_channels, b.stereo_mode) == (8000, 2, "ms")
    for name in ("time", "freq", "log_sigma", "chirp", "amp_cos", "amp_sin", "channel"):
        assert torch.equal(getattr(a, name), getattr(b, name))


def _set(path, value):
    def edit(p):
        d = p
        for key in path[:-1]:
            d = d[key]
        if value is KeyError:
            del d[path[-1]]
        else:
            d[path[-1]] = value(d[path[-1]]) if callable(value) else value
        return p
    return edit


BAD = {
    "sample rate 0": (_set(["atoms", "sample_rate"], 0), "atoms.sample_rate"),
    "sample rate 2 MHz": (_set(["atoms", "sample_rate"], 2_000_000), "atoms.sample_rate"),
    "sample rate as text": (_set(["atoms", "sample_rate"], "8000"), "atoms.sample_rate"),
    "length 1e12": (_set(["n_samples"], 10**12), "n_samples"),
    "length 0": (_set(["n_samples"], 0), "n_samples"),
    "length a float": (_set(["n_samples"], 2000.0), "n_samples"),
    "3 channels": (_set(["atoms", "n_channels"], 3), "atoms.n_channels"),
    "unknown stereo mode": (_set(["atoms", "stereo_mode"], "xy"), "atoms.stereo_mode"),
    "mid/side on mono": (_set(["atoms", "stereo_mode"], "ms"), "atoms.stereo_mode"),
    "NaN amplitude": (_set(["atoms", "amp_cos"], lambda t: t.index_fill(0, torch.tensor([2]), math.nan)),
                      "atoms.amp_cos"),
    "infinite time": (_set(["atoms", "time"], lambda t: t.index_fill(0, torch.tensor([0]), math.inf)), "atoms.time"),
    "2-D tensor": (_set(["atoms", "freq"], lambda t: t[None]), "atoms.freq"),
    "lengths differ": (_set(["atoms", "chirp"], lambda t: t[:-1]), "atoms.chirp"),
    "channel out of range": (_set(["atoms", "channel"], lambda t: t + 1), "atoms.channel"),
    "negative channel": (_set(["atoms", "channel"], lambda t: t - 1), "atoms.channel"),
    "integer times": (_set(["atoms", "time"], lambda t: t.long()), "atoms.time"),
    "float channels": (_set(["atoms", "channel"], lambda t: t.double()), "atoms.channel"),
    "list instead of tensor": (_set(["atoms", "amp_sin"], lambda t: t.tolist()), "atoms.amp_sin"),
    "frequency above Nyquist": (_set(["atoms", "freq"], lambda t: t + 8000), "atoms.freq"),
    "missing field": (_set(["atoms", "log_sigma"], KeyError), "atoms.log_sigma"),
    "missing length": (_set(["n_samples"], KeyError), "n_samples"),
    "negative step": (_set(["step"], -1), "step"),
    "config not a dict": (_set(["config"], [1, 2]), "config"),
    "atoms not a dict": (_set(["atoms"], 5), "atoms"),
    "not a dict": (lambda p: [p], "payload"),
    "render work beyond the decoder's budget": (
        lambda p: {**p, "n_samples": 3600 * 8000,
                   "atoms": {**p["atoms"],
                             **{n: torch.zeros(4000) for n in ("time", "freq", "chirp", "amp_cos", "amp_sin")},
                             "log_sigma": torch.full((4000,), 8.0), "channel": torch.zeros(4000, dtype=torch.long)}},
        "atoms.log_sigma"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_invalid_checkpoint_is_one_error_naming_the_file_and_field(tmp_path, name):
    edit, field = BAD[name]
    path = tmp_path / "bad.pth"
    torch.save(edit(_payload()), path)
    with pytest.raises(AudioGSError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert msg.startswith(f"checkpoint {path}: invalid {field}") and "\n" not in msg, msg


def test_valid_crafted_payload_loads(tmp_path):
    torch.save(_payload(n_channels=2), tmp_path / "ok.pth")
    atoms, n, _ = load_checkpoint(tmp_path / "ok.pth")
    assert len(atoms) == 8 and n == 2000 and atoms.n_channels == 2


def test_not_a_checkpoint_and_missing_file(tmp_path):
    (tmp_path / "x.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(AudioGSError, match="not a valid audio_gs checkpoint"):
        load_checkpoint(tmp_path / "x.pth")
    with pytest.raises(AudioGSError, match="no such file"):
        load_checkpoint(tmp_path / "none.pth")


def _save(path, step, k=8, cfg=None, **extra):
    a = random_atoms(k, sr=8000, seconds=0.25, dtype=torch.float32)
    save_checkpoint(path, a, 2000, cfg or resolve_config(None, {"num_gaussians": k, "num_steps": 100}), step, **extra)


def test_latest_checkpoint_is_the_highest_step_and_final_wins_a_tie(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    for step in (10, 30, 20):
        _save(tmp_path / "checkpoints" / f"checkpoint_{step:06d}.pth", step)
    (tmp_path / "checkpoints" / "checkpoint_x.pth").write_bytes(b"")  # not a checkpoint name: ignored
    assert latest_checkpoint(tmp_path).name == "checkpoint_000030.pth"
    _save(tmp_path / "final.pth", 30)
    assert latest_checkpoint(tmp_path).name == "final.pth"
    _save(tmp_path / "checkpoints" / "checkpoint_000040.pth", 40)
    assert latest_checkpoint(tmp_path).name == "checkpoint_000040.pth"


def test_find_resume_refuses_what_would_not_continue_the_same_fit(tmp_path):
    cfg = resolve_config(None, {"num_gaussians": 8, "num_steps": 100, "input_path": "a.wav"})
    _save(tmp_path / "checkpoints" / "checkpoint_000050.pth", 50, cfg=cfg, input_sha256="abc", seconds=2.0)
    r = find_resume(tmp_path, dict(cfg, lr=0.5, num_steps=200), 2000, "abc")
    assert r.step == 50 and r.seconds == 2.0 and len(r.atoms) == 8
    assert any(c.startswith("lr ") for c in r.changed) and any(c.startswith("num_steps ") for c in r.changed)
    refusals = [
        (dict(cfg, num_gaussians=9), 2000, "abc", "num_gaussians"),
        (dict(cfg, stereo_mode="ms"), 2000, "abc", "stereo_mode"),
        (dict(cfg, normalize=True), 2000, "abc", "normalize"),
        (cfg, 2000, "other", "other audio"),
        (cfg, 2001, "abc", "other audio"),
        (dict(cfg, num_steps=40), 2000, "abc", "past num_steps"),
    ]
    for c, n, sha, fragment in refusals:
        with pytest.raises(AudioGSError, match=fragment) as info:
            find_resume(tmp_path, c, n, sha)
        assert "\n" not in str(info.value)
    with pytest.raises(AudioGSError, match="no checkpoint"):
        find_resume(tmp_path / "empty", cfg, 2000, "abc")
