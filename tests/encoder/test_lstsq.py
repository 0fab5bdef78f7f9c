"""audio_gs.lstsq: amplitudes solved by least squares recover known amplitudes."""

import torch

from audio_gs.encoder.losses import snr_db
from audio_gs.encoder.lstsq import solve_amplitudes
from audio_gs.encoder.render import render_fast
from synth import random_atoms


def test_least_squares_recovers_the_amplitudes_of_a_rendered_signal():
    atoms = random_atoms(30, sr=8000, seconds=0.5, seed=11)
    y = render_fast(atoms, 4000)
    guess = atoms.map(lambda t: t.clone())
    guess.amp_cos = torch.zeros_like(atoms.amp_cos)
    guess.amp_sin = torch.zeros_like(atoms.amp_sin)
    solved = solve_amplitudes(guess, y, iterations=200, warm_start=False)
    assert snr_db(y, render_fast(solved, 4000)) > 60


def test_least_squares_never_increases_the_error():
    atoms = random_atoms(20, sr=8000, seconds=0.5, seed=12)
    target = torch.randn(1, 4000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    before = float(((target - render_fast(atoms, 4000)) ** 2).sum())
    after = float(((target - render_fast(solve_amplitudes(atoms, target, iterations=5), 4000)) ** 2).sum())
    assert after < before
