"""audio_gs.cli.codec: `audio-gs encode | quantize | decode | info`, and the .ags file written by `fit`."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from synth import mixture, random_atoms

from audio_gs.cli import main
from audio_gs.codec.compress import read_ags
from audio_gs.codec.render import render
from audio_gs.encoder.checkpoint import save_checkpoint
from audio_gs.encoder.coding import read_atoms, write_ags

SR = 8000
FAST = ["--num_gaussians", "16", "--num_steps", "4", "--no-progress", "--log_every", "2"]


@pytest.fixture(scope="module")
def stereo_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("codec") / "mix.wav"
    x = mixture(SR, 0.25)
    sf.write(path, np.stack([x, 0.5 * x[::-1]], 1), SR)
    return path


def test_encode_info_decode(stereo_wav, tmp_path, capsys):
    ags, wav = tmp_path / "m.ags", tmp_path / "m.wav"
    assert main(["encode", str(stereo_wav), "-o", str(ags), "--stereo_mode", "ms", "--bits_per_param", "6"] + FAST) == 0
    out = capsys.readouterr().out
    assert f"{ags.stat().st_size:,} bytes" in out and "compressed size (.ags file)" in out
    assert main(["info", str(ags)]) == 0
    info = capsys.readouterr().out
    assert "Gaussians: 16" in info and "(mid/side)" in info
    for kind in ("channel", "log_sigma", "time", "chirp", "freq", "amp"):
        assert f"    {kind} " in info
    assert main(["decode", str(ags), "-o", str(wav)]) == 0
    y, sr = sf.read(wav, dtype="float32", always_2d=True)
    model = read_ags(ags)
    expect = np.clip(render(model), -1, 1).T
    n = model.n_samples
    assert sr == SR and y.shape == (n, 2)
    assert np.abs(y - expect).max() <= 1.0 / 32768 + 1e-6  # 16-bit WAV of the rendered file


def test_quantize_a_checkpoint(tmp_path, capsys):
    a = random_atoms(30, sr=SR, seconds=0.25, dtype=torch.float32)
    ckpt = tmp_path / "c.pth"
    save_checkpoint(ckpt, a, 2000, {"bits_per_param": 8}, 0)
    assert main(["quantize", str(ckpt), "-o", str(tmp_path / "c.ags"), "--bits_per_param", "16"]) == 0
    atoms, n = read_atoms(tmp_path / "c.ags")
    assert n == 2000 and len(atoms) == 30
    assert torch.allclose(atoms.sorted_by_time().time, a.sorted_by_time().time, atol=1e-5)
    assert "bits per Gaussian" in capsys.readouterr().out


def test_quantize_with_the_original_reports_snr(tmp_path, capsys):
    x = mixture(SR, 0.25)
    wav = tmp_path / "x.wav"
    sf.write(wav, x, SR)
    a = random_atoms(20, sr=SR, seconds=0.25, dtype=torch.float32)
    save_checkpoint(tmp_path / "c.pth", a, len(x), {"input_path": str(wav)}, 0)
    assert main(["quantize", str(tmp_path / "c.pth"), "-o", str(tmp_path / "c.ags"), "--qat_steps", "2"]) == 0
    assert "SNR before quantization" in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"", b"not an ags file", None])
def test_bad_files_exit_2_with_one_line(tmp_path, capsys, content):
    path = tmp_path / "bad.ags"
    if content is None:  # a valid file cut short
        write_ags(path, random_atoms(10, sr=SR), 800)
        path.write_bytes(path.read_bytes()[:-7])
    else:
        path.write_bytes(content)
    for cmd in (["decode", str(path), "-o", str(tmp_path / "o.wav")], ["info", str(path)]):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert err.startswith("audio-gs: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o.wav").exists()


def test_fit_writes_the_ags_file_and_reports_its_size(tmp_path, capsys):
    x = mixture(SR, 0.25)
    wav = tmp_path / "x.wav"
    sf.write(wav, x, SR)
    log = tmp_path / "log"
    assert main(["fit", "--input_path", str(wav), "--log_dir", str(log), "--save_every", "100"] + FAST) == 0
    size = (log / "model.ags").stat().st_size
    summary = json.loads((log / "summary.json").read_text())
    assert summary["bytes"] == size and summary["bytes_is_estimate"] is False
    assert f"compressed size (.ags file): {size:,} bytes" in capsys.readouterr().out


def test_decode_refuses_an_unwritable_output_format(tmp_path, capsys):
    write_ags(tmp_path / "a.ags", random_atoms(5, sr=SR), 800)
    assert main(["decode", str(tmp_path / "a.ags"), "-o", str(tmp_path / "a.xyz")]) == 2
    assert "not supported" in capsys.readouterr().err


def test_decoding_imports_only_the_decoder_path(tmp_path):
    """The decoder sees only the bitstream: no torch, fitter, initialiser, loss or metric is even imported."""
    import subprocess
    import sys

    ags = tmp_path / "d.ags"
    write_ags(ags, random_atoms(20, sr=SR, seconds=0.25), int(0.25 * SR))
    code = ("import sys; from audio_gs.cli import main; "
            f"rc = main(['decode', {str(ags)!r}, '-o', {str(tmp_path / 'd.wav')!r}]); "
            "print(rc, ' '.join(sorted(m for m in sys.modules if m.startswith(('audio_gs.', 'torch')))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()[-1].split()
    assert out[0] == "0" and (tmp_path / "d.wav").is_file()
    loaded = set(out[1:])
    assert {"audio_gs.codec.bitstream", "audio_gs.codec.quantize", "audio_gs.codec.render"} <= loaded
    assert not {m for m in loaded if m.startswith(("torch", "audio_gs.encoder", "audio_gs.bench"))}, loaded


@pytest.mark.parametrize("sr,channels,fragment", [(500, 1, "sample rate 500 Hz"), (8000, 3, "3 channels")])
def test_encode_refuses_what_an_ags_file_cannot_hold_before_fitting(tmp_path, capsys, monkeypatch, sr, channels,
                                                                    fragment):
    import audio_gs.encoder.fit as fit_module

    monkeypatch.setattr(fit_module, "fit_signal", lambda *a, **k: pytest.fail("fit_signal was called"))
    wav = tmp_path / "a.wav"
    sf.write(wav, np.tile(mixture(SR, 0.25)[:, None], (1, channels))[: sr // 4], sr)
    assert main(["encode", str(wav), "-o", str(tmp_path / "a.ags")] + FAST) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err
    assert not (tmp_path / "a.ags").exists()


def test_encode_warns_about_a_loud_input_and_normalize_reports_the_gain(tmp_path, capsys):
    wav = tmp_path / "loud.wav"
    x = 4 * mixture(SR, 0.25) / np.abs(mixture(SR, 0.25)).max()
    sf.write(wav, x, SR, subtype="FLOAT")
    assert main(["encode", str(wav), "-o", str(tmp_path / "a.ags")] + FAST) == 0
    err = capsys.readouterr().err
    assert err.count("beyond full scale") == 1 and f"{100 * np.mean(np.abs(x) > 1):.3g} %" in err
    assert main(["encode", str(wav), "-o", str(tmp_path / "b.ags"), "--normalize"] + FAST) == 0
    out, err = capsys.readouterr()
    assert "beyond full scale" not in err and f"gain {-1 - 20 * np.log10(4):+.2f} dB" in out
    assert np.abs(render(read_ags(tmp_path / "b.ags"))).max() < 1.2  # the fit is of the normalised signal


def test_quantize_refuses_a_damaged_checkpoint_in_one_line(tmp_path, capsys):
    a = random_atoms(10, sr=SR, seconds=0.25, dtype=torch.float32)
    a.amp_sin[3] = float("nan")
    save_checkpoint(tmp_path / "c.pth", a, 2000, {}, 0)
    assert main(["quantize", str(tmp_path / "c.pth"), "-o", str(tmp_path / "c.ags")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid atoms.amp_sin" in err and not (tmp_path / "c.ags").exists()

def _ags(tmp_path, amp=0.1, k=40, seconds=0.5, name="s.ags"):
    from audio_gs.codec.compress import write_ags as write_model
    from audio_gs.codec.model import Model
    from synth import random_gabor

    g = random_gabor(k, sr=SR, seconds=seconds, n_channels=2, seed=3)
    g.amp_cos, g.amp_sin = g.amp_cos * amp, g.amp_sin * amp
    path = tmp_path / name
    write_model(path, Model(sample_rate=SR, n_samples=int(seconds * SR), gabor=g, n_channels=2))
    return path


def test_decode_to_standard_output_is_the_same_wav(tmp_path):
    import subprocess
    import sys

    ags = _ags(tmp_path)
    wav = tmp_path / "s.wav"
    assert main(["decode", str(ags), "-o", str(wav)]) == 0
    res = subprocess.run([sys.executable, "-m", "audio_gs", "decode", str(ags), "-o", "-"], capture_output=True,
                         check=True)
    assert res.stdout == wav.read_bytes()
    assert res.stdout[:4] == b"RIFF" and "decoded 40 Gaussians" in res.stderr.decode()


def test_decoding_twice_and_with_any_thread_count_gives_the_same_bytes(tmp_path):
    import os
    import subprocess
    import sys

    ags = _ags(tmp_path, k=300, seconds=9.0)
    outs = []
    for threads in ("1", "2", "3", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=threads)
        outs.append(subprocess.run([sys.executable, "-m", "audio_gs", "decode", str(ags), "-o", "-"],
                                   capture_output=True, check=True, env=env).stdout)
    assert len(set(outs)) == 1 and len(outs[0]) == 44 + 4 * 9 * SR


def test_clipping_is_reported_as_a_warning_with_its_share(tmp_path, capsys):
    ags = _ags(tmp_path, amp=40.0)
    assert main(["decode", str(ags), "-o", str(tmp_path / "loud.wav")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("audio-gs: warning: ") and err.endswith("% of samples clipped to [-1, 1]\n")
    share = float(err.split("warning: ")[1].split(" %")[0])
    y, _ = sf.read(tmp_path / "loud.wav")
    assert 0 < share <= 100 and abs(share - 100 * np.mean(np.abs(y) >= 32767 / 32768)) < 1.0
    assert main(["decode", str(_ags(tmp_path, name="quiet.ags")), "-o", str(tmp_path / "q.wav")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_non_finite_audio_and_exhausted_memory_exit_2_with_one_line(tmp_path, capsys, monkeypatch):
    from audio_gs.codec import render as codec_render

    ags = _ags(tmp_path, amp=2e38, k=300)  # float32 amplitudes near their limit overflow the block sum
    assert main(["decode", str(ags), "-o", str(tmp_path / "inf.wav")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("audio-gs: error: ") and "not finite" in err and err.count("\n") == 1
    assert not (tmp_path / "inf.wav").exists()

    def no_memory(*a, **k):
        raise MemoryError

    monkeypatch.setattr(codec_render.GaborPlan, "__init__", no_memory)
    assert main(["decode", str(_ags(tmp_path, name="ok.ags")), "-o", str(tmp_path / "m.wav")]) == 2
    err = capsys.readouterr().err
    assert "not enough memory" in err and err.count("\n") == 1


def test_decode_writes_flac_and_ogg(tmp_path):
    ags = _ags(tmp_path)
    for ext in (".flac", ".ogg"):
        assert main(["decode", str(ags), "-o", str(tmp_path / f"s{ext}")]) == 0
        y, sr = sf.read(tmp_path / f"s{ext}", always_2d=True)
        assert sr == SR and y.shape == (int(0.5 * SR), 2)


def test_a_reader_that_stops_early_gets_one_error_line(tmp_path):
    import subprocess
    import sys

    ags = _ags(tmp_path, k=300, seconds=9.0)
    p = subprocess.Popen([sys.executable, "-m", "audio_gs", "decode", str(ags), "-o", "-"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert p.stdout.read(100)[:4] == b"RIFF"
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 2
    assert err.startswith("audio-gs: error: ") and err.count("\n") == 1 and "closed" in err


def test_info_reports_the_noise_envelope_apart_from_the_noise_gaussians(tmp_path, capsys):
    from audio_gs.codec.compress import write_ags as write_model
    from audio_gs.codec.model import Model, Noise, NoiseEnvelope
    from synth import random_gabor

    n = 4000
    a = np.array
    noise = Noise(time=a([0.1, 0.3]), erb=a([25.0, 28.0]), log_st=np.log([0.05, 0.05]), log_se=np.log([1.0, 1.0]),
                  log_energy=np.log([1.0, 2.0]), channel=a([0, 0]))
    env = NoiseEnvelope(band_hz=2000.0, hop=64, gain_db=np.linspace(-12, 6, NoiseEnvelope.n_points(n, 64))[None])
    path = tmp_path / "e.ags"
    write_model(path, Model(sample_rate=SR, n_samples=n, gabor=random_gabor(10, sr=SR, seconds=0.5), noise=noise,
                            noise_env=env))
    assert main(["info", str(path)]) == 0
    info = capsys.readouterr().out
    assert ".ags version 6" in info and "noise envelope " in info and "energy-exact, gated by the tonal part" in info
    assert "a gain every 64 samples (8.00 ms) on the noise above 2000 Hz, step 3 dB, 63 points" in info
    assert "    noise_env " not in info  # not counted as a noise Gaussian's parameter
