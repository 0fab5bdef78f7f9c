"""audio_gs.cli: fit/eval on a synthetic file, both flag spellings, one-line errors with exit code 2."""

import json
import subprocess
import sys

import numpy as np
import pytest
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
