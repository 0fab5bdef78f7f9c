"""audio_gs.encoder.coding: fitted Atoms to .ags files, with the least-squares amplitude re-solve."""

import torch
from synth import mixture, random_atoms

from audio_gs.encoder.coding import decode_atoms, encode_atoms, read_atoms, write_ags
from audio_gs.encoder.lstsq import solve_amplitudes
from audio_gs.encoder.render import render_model

N = 4000


def _err_db(ref, est) -> float:
    return float(10 * torch.log10(((ref - est) ** 2).sum() / (ref**2).sum()))


def test_least_squares_amplitudes_reduce_the_error_to_the_target():
    x = torch.from_numpy(mixture(8000, 0.5)).double()[None]
    a = solve_amplitudes(random_atoms(80, seed=8), x, N, iterations=20)
    plain, _ = decode_atoms(encode_atoms(a, N, bits_per_param=5))
    solved, _ = decode_atoms(encode_atoms(a, N, bits_per_param=5, target=x))
    assert _err_db(x, render_model(solved.to(dtype=torch.float64), N)) < _err_db(x, render_model(plain.to(dtype=torch.float64), N))


def test_written_atoms_read_back_with_their_format(tmp_path):
    a = random_atoms(30, sr=16000, n_channels=2, seed=2)
    a.stereo_mode = "ms"
    size = write_ags(tmp_path / "a.ags", a, 8000, bits_per_param=8)
    got, n = read_atoms(tmp_path / "a.ags")
    assert size == (tmp_path / "a.ags").stat().st_size and n == 8000
    assert (got.sample_rate, got.n_channels, got.stereo_mode, len(got)) == (16000, 2, "ms", 30)
    assert _err_db(render_model(a, n), render_model(got.to(dtype=torch.float64), n)) < -30
