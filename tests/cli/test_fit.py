"""audio_gs.cli: fit/eval on a synthetic file, both flag spellings, one-line errors with exit code 2."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import soundfile as sf

from audio_gs.cli import main
from synth import mixture

FAST = ["--num_gaussians", "60", "--num_steps", "60", "--no-progress", "--log_every", "20", "--save_every", "30"]


@pytest.fixture
def wav(tmp_path):
    p = tmp_path / "mix.wav"
    sf.write(p, mixture(8000, 0.5), 8000, subtype="FLOAT")
    return p


def test_fit_writes_the_log_dir_and_prints_the_summary(tmp_path, wav, capsys):
    log = tmp_path / "run"
    assert main(["fit", "--input_path", str(wav), "--log_dir", str(log), "--init_method", "peaks", *FAST]) == 0
    for rel in ("cfg_train.yaml", "log_train.txt", "final.pth", "summary.json", "train/reconstructed.wav",
                "train/gaussians_visualization.png", "checkpoints/checkpoint_000030.pth",
                "checkpoints/checkpoint_000060.pth"):
        assert (log / rel).is_file(), rel
    assert list((log / "tensorboard").iterdir())
    summary = json.loads((log / "summary.json").read_text())
    assert summary["n_gaussians"] <= 60 and summary["snr_db"] > 5
    out = capsys.readouterr().out
    assert "compression ratio" in out and "bitrate" in out and "SNR" in out
    y, sr = sf.read(log / "train" / "reconstructed.wav")
    assert sr == 8000 and y.shape == (4000,)
    lines = (log / "log_train.txt").read_text().splitlines()
    assert lines[1].startswith("step") and len(lines) >= 5
    cfg = (log / "cfg_train.yaml").read_text()
    assert "init_method: peaks" in cfg and "num_steps: 60" in cfg


def test_guide_spelling_dashed_flags_and_eval(tmp_path, wav, capsys):
    log = tmp_path / "run"
    # `audio-gs --input_path ...` (no subcommand) and --dashed-spellings both work
    assert main(["--input-path", str(wav), "--log-dir", str(log), "--num-gaussians", "40", "--num-steps", "20",
                 "--no-progress"]) == 0
    ref, _ = sf.read(log / "train" / "reconstructed.wav")
    assert main(["fit", "--eval", "--ckpt_file", str(log / "final.pth")]) == 0
    assert "SNR vs" in capsys.readouterr().out
    y, _ = sf.read(log / "eval" / "reconstructed.wav")
    np.testing.assert_array_equal(y, ref)  # eval renders the same audio as fit wrote (16-bit WAV both)
    assert main(["eval", "--ckpt_file", str(log / "final.pth"), "--log_dir", str(tmp_path / "e")]) == 0
    assert (tmp_path / "e" / "eval" / "reconstructed.wav").is_file()


def test_config_file_and_flag_override(tmp_path, wav):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("num_gaussians: 30\nnum_steps: 10\nloss_type: spectral\nperceptual_weight: 0.1\n")
    log = tmp_path / "run"
    assert main(["fit", "--input_path", str(wav), "--config", str(cfg), "--num_steps", "12", "--log_dir", str(log),
                 "--no-progress"]) == 0
    text = (log / "cfg_train.yaml").read_text()
    assert "num_steps: 12" in text and "loss_type: spectral" in text and "num_gaussians: 30" in text


def _write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make,fragment", [
    (lambda d: d / "missing.wav", "no such file"),
    (lambda d: _write(d / "empty.wav", b""), "empty"),
    (lambda d: _write(d / "bad.ogg", b"OggS" + b"\x00" * 300), "cannot decode"),
    (lambda d: _write(d / "x.xyz", b"123"), "unsupported"),
    (lambda d: sf.write(d / "quiet.wav", np.zeros(800), 8000) or d / "quiet.wav", "silent"),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, make, fragment):
    path = make(tmp_path)
    log = tmp_path / "logdir"
    assert main(["fit", "--input_path", str(path), "--log_dir", str(log), *FAST]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err
    assert not log.exists()


@pytest.mark.parametrize("argv,fragment", [
    (["fit", "--num_gaussians", "x"], "invalid int"),
    (["fit", "--loss_type", "l3", "--input_path", "a.wav"], "loss_type"),
    (["fit", "--bits_per_param", "17", "--input_path", "a.wav"], "bits_per_param"),
    (["fit"], "--input_path"),
    (["eval", "--ckpt_file", "nope.pth"], "no such file"),
    (["fit", "--frobnicate"], "unrecognized"),
    (["fit", "--preset", "turbo", "--input_path", "a.wav"], "preset"),
    (["fit", "--jobs", "0", "--input_path", "a.wav"], "jobs"),
    (["fit", "--window_seconds", "-1", "--input_path", "a.wav"], "window_seconds"),
    (["fit", "--device", "abacus", "--input_path", "a.wav"], "device"),
])
def test_bad_flags_exit_2(tmp_path, capsys, argv, fragment):
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def _exit_code(argv):
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return exc.code


def test_corrupt_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    assert main(["eval", "--ckpt_file", str(bad)]) == 2
    assert "not a valid audio_gs checkpoint" in capsys.readouterr().err


def test_console_script_module_entry_point(tmp_path):
    r = subprocess.run([sys.executable, "-m", "audio_gs", "fit", "--input_path", str(tmp_path / "none.wav")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().startswith("audio-gs: error:") and "Traceback" not in r.stderr


# ---- inputs the .ags format cannot hold are refused before any work ------------------------------
def _no_fitting(monkeypatch):
    import audio_gs.encoder.fit as fit_module

    def fail(*a, **k):
        raise AssertionError("fit_signal was called")

    monkeypatch.setattr(fit_module, "fit_signal", fail)


@pytest.mark.parametrize("sr,channels,fragment", [
    (500, 1, "sample rate 500 Hz"),
    (2_000_000, 1, "sample rate 2000000 Hz"),
    (8000, 3, "3 channels"),
])
def test_unsupported_input_is_refused_before_fitting_and_nothing_is_written(tmp_path, capsys, monkeypatch, sr,
                                                                           channels, fragment):
    import time

    path = tmp_path / "a.wav"
    sf.write(path, np.tile(mixture(8000, 0.5)[:, None], (1, channels))[: int(0.5 * sr)], sr)
    _no_fitting(monkeypatch)
    log = tmp_path / "logdir"
    t0 = time.perf_counter()
    assert main(["fit", "--input_path", str(path), "--log_dir", str(log), *FAST]) == 2
    print(f"refused in {time.perf_counter() - t0:.3f} s")  # reported, not asserted (shared machines)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err
    assert not log.exists()


def test_three_channels_fit_when_mixed_to_mono(tmp_path):
    path = tmp_path / "a.wav"
    x = mixture(8000, 0.25)
    sf.write(path, np.stack([x, 0.5 * x, 0.25 * x], 1), 8000)
    log = tmp_path / "run"
    assert main(["fit", "--input_path", str(path), "--log_dir", str(log), "--channels", "mono",
                 "--num_gaussians", "20", "--num_steps", "2", "--no-progress"]) == 0
    assert json.loads((log / "summary.json").read_text())["n_channels"] == 1


# ---- loud inputs ---------------------------------------------------------------------------------
@pytest.fixture
def loud_wav(tmp_path):
    p = tmp_path / "loud.wav"
    sf.write(p, 15 * mixture(8000, 0.5) / np.abs(mixture(8000, 0.5)).max(), 8000, subtype="FLOAT")  # peak +23.5 dBFS
    return p


def test_loud_input_warns_once_and_its_reconstruction_warns_about_clipping(tmp_path, loud_wav, capsys):
    log = tmp_path / "run"
    assert main(["fit", "--input_path", str(loud_wav), "--log_dir", str(log), *FAST]) == 0
    err = capsys.readouterr().err.splitlines()
    x, _ = sf.read(loud_wav)
    share = 100 * np.mean(np.abs(x) > 1)
    inp = [e for e in err if "loud.wav:" in e and "beyond full scale [-1, 1]" in e]
    assert len(inp) == 1 and f"{share:.3g} %" in inp[0] and "--normalize" in inp[0]
    y, _ = sf.read(log / "train" / "reconstructed.wav")
    rec = [e for e in err if "reconstructed.wav" in e and "clipped" in e]
    assert len(rec) == 1 and np.mean(np.abs(y) >= 32767 / 32768) > 0.1


def test_normalize_records_the_gain_and_nothing_clips(tmp_path, loud_wav, capsys):
    log = tmp_path / "run"
    assert main(["fit", "--input_path", str(loud_wav), "--log_dir", str(log), "--normalize", "--headroom_db", "2",
                 *FAST]) == 0
    out, err = capsys.readouterr()
    assert "beyond full scale" not in err
    summary = json.loads((log / "summary.json").read_text())
    x, _ = sf.read(loud_wav)
    expect = -2 - 20 * np.log10(np.abs(x).max())
    assert summary["normalize"] is True and abs(summary["input_gain_db"] - expect) < 1e-3
    assert f"gain {expect:+.2f} dB" in out
    cfg = (log / "cfg_train.yaml").read_text()
    assert "normalize: true" in cfg and "headroom_db: 2.0" in cfg and f"{expect:+.3f} dB" in cfg
    y, _ = sf.read(log / "train" / "reconstructed.wav")
    assert summary["snr_db"] > 5 and np.abs(y).max() < 1


# ---- resume --------------------------------------------------------------------------------------
RESUME = ["--num_gaussians", "30", "--num_steps", "40", "--no-progress", "--log_every", "5", "--save_every", "10",
          "--init_method", "peaks"]


def _log_rows(log):
    return [line.split("\t") for line in (log / "log_train.txt").read_text().splitlines() if line[:1].isdigit()]


def test_a_killed_fit_resumes_from_its_last_checkpoint(tmp_path, wav, monkeypatch, capsys):
    import audio_gs.encoder.checkpoint as ckpt

    full = tmp_path / "full"
    assert main(["fit", "--input_path", str(wav), "--log_dir", str(full), "--config", str(_ls10(tmp_path)),
                 *RESUME]) == 0
    save = ckpt.save_checkpoint

    def save_then_die(path, atoms, n, cfg, step, **extra):  # the process is killed right after step 20's checkpoint
        save(path, atoms, n, cfg, step, **extra)
        if step == 20:
            raise KeyboardInterrupt

    run = tmp_path / "run"
    monkeypatch.setattr(ckpt, "save_checkpoint", save_then_die)
    assert main(["fit", "--input_path", str(wav), "--log_dir", str(run), "--config", str(_ls10(tmp_path)),
                 *RESUME]) == 130
    monkeypatch.setattr(ckpt, "save_checkpoint", save)
    assert not (run / "final.pth").exists() and [r[0] for r in _log_rows(run)] == ["5", "10", "15", "20"]
    capsys.readouterr()
    assert main(["fit", "--resume", "--input_path", str(wav), "--log_dir", str(run), "--config",
                 str(_ls10(tmp_path)), *RESUME]) == 0
    assert "resuming from" in capsys.readouterr().out
    rows, ref = _log_rows(run), _log_rows(full)
    assert [r[0] for r in rows] == [r[0] for r in ref] == [str(s) for s in range(5, 41, 5)]
    assert [r[1:4] for r in rows] == [r[1:4] for r in ref]  # loss, SNR and atom count step by step
    a = torch.load(run / "final.pth", weights_only=True)
    b = torch.load(full / "final.pth", weights_only=True)
    assert a["step"] == 40 and all(torch.equal(a["atoms"][k], b["atoms"][k]) for k in ("time", "freq", "amp_cos"))
    assert json.loads((run / "summary.json").read_text())["resumed_from_step"] == 20


def _ls10(tmp_path):
    p = tmp_path / "ls10.yaml"
    p.write_text("ls_every: 10\n")
    return p


def test_resume_with_more_steps_continues_and_refuses_a_different_fit(tmp_path, wav, capsys):
    log = tmp_path / "run"
    assert main(["fit", "--input_path", str(wav), "--log_dir", str(log), *RESUME[:2], "--num_steps", "20",
                 *RESUME[4:]]) == 0
    capsys.readouterr()
    assert main(["fit", "--resume", "--input_path", str(wav), "--log_dir", str(log), *RESUME[:2], "--num_steps",
                 "30", *RESUME[4:]]) == 0
    assert "at step 20 of 30" in capsys.readouterr().out
    assert [r[0] for r in _log_rows(log)] == [str(s) for s in range(5, 31, 5)]
    for argv, fragment in ((["--num_gaussians", "31"], "num_gaussians=30"), (["--sample_rate", "16000"], "sample_rate"),
                           (["--num_steps", "10"], "past num_steps")):
        assert main(["fit", "--resume", "--input_path", str(wav), "--log_dir", str(log), *RESUME, *argv]) == 2
        err = capsys.readouterr().err
        assert fragment in err and err.count("\n") == 1
    assert main(["fit", "--resume", "--input_path", str(wav), "--log_dir", str(tmp_path / "none"), *RESUME]) == 2
    assert "no checkpoint" in capsys.readouterr().err and not (tmp_path / "none").exists()


def test_a_new_fit_removes_the_checkpoints_of_an_earlier_one(tmp_path, wav, capsys):
    log = tmp_path / "run"
    assert main(["fit", "--input_path", str(wav), "--log_dir", str(log), *RESUME]) == 0
    assert main(["fit", "--input_path", str(wav), "--log_dir", str(log), *RESUME[:2], "--num_steps", "10",
                 *RESUME[4:]]) == 0
    assert sorted(p.name for p in (log / "checkpoints").iterdir()) == ["checkpoint_000010.pth"]
    assert "removed 5 checkpoint(s)" in capsys.readouterr().out


# ---- eval of damaged checkpoints -----------------------------------------------------------------
@pytest.mark.parametrize("field,value,fragment", [
    ("sample_rate", 0, "atoms.sample_rate"),
    ("n_samples", 10**12, "n_samples"),
    ("amp_cos", float("nan"), "atoms.amp_cos"),
])
def test_eval_of_a_damaged_checkpoint_is_one_line_and_writes_nothing(tmp_path, capsys, field, value, fragment):
    from synth import random_atoms

    from audio_gs.encoder.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "c.pth", random_atoms(5, sr=8000, seconds=0.25, dtype=torch.float32), 2000, {}, 1)
    payload = torch.load(tmp_path / "c.pth", weights_only=True)
    if field == "n_samples":
        payload["n_samples"] = value
    elif field == "sample_rate":
        payload["atoms"]["sample_rate"] = value
    else:
        payload["atoms"][field][0] = value
    torch.save(payload, tmp_path / "c.pth")
    assert main(["eval", "--ckpt_file", str(tmp_path / "c.pth")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err
    assert not (tmp_path / "eval").exists()
