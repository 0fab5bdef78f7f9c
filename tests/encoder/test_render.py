"""audio_gs.encoder.render: the fast path and the torch reference agree with a dense float64 evaluation."""

import math

import numpy as np
import pytest
import torch

from synth import random_atoms

from audio_gs.codec.render import support_bounds, to_model_channels, to_output_channels
from audio_gs.encoder.atoms import Atoms
from audio_gs.encoder.render import render, render_dense, render_fast, render_reference


def err_db(y, ref):
    y, ref = y.double(), ref.double()
    return 10 * math.log10(float(((y - ref) ** 2).sum()) / float((ref**2).sum()))


@pytest.mark.parametrize("sr,n_channels,seed", [(8000, 1, 0), (16000, 2, 1), (44100, 1, 2), (48000, 2, 3)])
def test_every_renderer_matches_dense_float64_below_minus_80_db(sr, n_channels, seed):
    atoms = random_atoms(60, sr=sr, seconds=0.4, n_channels=n_channels, seed=seed)
    n = int(0.4 * sr)
    dense = render_dense(atoms, n)
    assert err_db(render_fast(atoms, n), dense) < -80
    assert err_db(render_reference(atoms, n), dense) < -80
    # float32 parameters, float32 output: still far below -80 dB
    a32 = atoms.to(dtype=torch.float32)
    assert err_db(render_fast(a32, n), render_dense(a32, n)) < -80


def test_long_atoms_stay_accurate_over_many_recurrence_blocks():
    atoms = random_atoms(5, sr=44100, seconds=2.0, seed=4, max_sigma=0.25)
    n = 2 * 44100
    assert err_db(render_fast(atoms, n), render_dense(atoms, n)) < -80


def test_fast_path_is_deterministic_and_independent_of_atom_order():
    atoms = random_atoms(300, sr=16000, seconds=1.0, seed=5)
    a = render_fast(atoms, 16000)
    b = render_fast(atoms, 16000)
    assert torch.equal(a, b)
    perm = torch.randperm(len(atoms), generator=torch.Generator().manual_seed(0))
    c = render_fast(atoms.select(perm), 16000)
    assert torch.allclose(a, c, atol=1e-12)


def test_single_atom_has_the_documented_shape():
    sr = 8000
    atoms = Atoms(time=torch.tensor([0.1], dtype=torch.float64), freq=torch.tensor([500.0], dtype=torch.float64),
                  log_sigma=torch.log(torch.tensor([0.01], dtype=torch.float64)),
                  chirp=torch.tensor([0.0], dtype=torch.float64), amp_cos=torch.tensor([0.6], dtype=torch.float64),
                  amp_sin=torch.tensor([-0.8], dtype=torch.float64), channel=torch.tensor([0]), sample_rate=sr)
    y = render_fast(atoms, 1600)[0]
    peak = int(0.1 * sr)
    assert y[peak].item() == pytest.approx(0.6, abs=1e-9)  # tau = 0: the cos amplitude
    tau = (peak + 3) / sr - 0.1
    expect = math.exp(-0.5 * (tau / 0.01) ** 2) * (0.6 * math.cos(2 * math.pi * 500 * tau)
                                                   - 0.8 * math.sin(2 * math.pi * 500 * tau))
    assert y[peak + 3].item() == pytest.approx(expect, abs=1e-9)
    lo, hi = support_bounds(np.array([0.1]), np.array([0.01]), sr, 1600)
    assert torch.all(y[: lo[0]] == 0) and torch.all(y[hi[0] + 1:] == 0)


def test_fast_backward_passes_gradcheck():
    atoms = random_atoms(4, sr=4000, seconds=0.08, n_channels=2, seed=6, max_sigma=0.01)
    names = ("time", "freq", "log_sigma", "chirp", "amp_cos", "amp_sin")
    params = [getattr(atoms, n).clone().requires_grad_(True) for n in names]

    def f(*p):
        return render_fast(Atoms(*p, channel=atoms.channel, sample_rate=4000, n_channels=2), 320)

    assert torch.autograd.gradcheck(f, params, eps=1e-7, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("sr, seconds, k, max_sigma", [(8000, 0.3, 40, 0.03), (16000, 1.0, 6, 0.2)])
def test_fast_gradients_match_reference_autograd(sr, seconds, k, max_sigma):
    # the second case has atoms over many recurrence blocks and lanes
    atoms = random_atoms(k, sr=sr, seconds=seconds, seed=7, max_sigma=max_sigma)
    n = int(sr * seconds)
    w = torch.randn(1, n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    grads = []
    for fn in (render_fast, render_reference):
        ps = {name: v.clone().requires_grad_(True) for name, v in atoms.params().items()}
        a = Atoms.from_dict(ps, sr)
        (fn(a, n) * w).sum().backward()
        grads.append(torch.cat([ps[name].grad for name in ps]))
    scale = grads[1].abs().max()
    assert torch.allclose(grads[0], grads[1], rtol=1e-6, atol=1e-9 * float(scale))


def test_mid_side_round_trip_and_stereo_render():
    x = torch.randn(2, 100, dtype=torch.float64)
    assert torch.allclose(to_output_channels(to_model_channels(x, "ms"), "ms"), x)
    atoms = random_atoms(20, sr=8000, seconds=0.2, n_channels=2, seed=8)
    atoms.stereo_mode = "ms"
    y = render(atoms, 1600)
    m = render_fast(atoms, 1600)
    assert torch.allclose(y[0], m[0] + m[1]) and torch.allclose(y[1], m[0] - m[1])


def test_atoms_outside_the_signal_render_nothing_and_empty_atoms_render_silence():
    atoms = random_atoms(3, sr=8000, seconds=0.1, seed=9)
    atoms.time = atoms.time + 10.0
    assert torch.count_nonzero(render_fast(atoms, 800)) == 0
    assert render_fast(Atoms.empty(8000), 800).abs().sum() == 0


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError):
        render(random_atoms(2), 100, backend="gpu-magic")
