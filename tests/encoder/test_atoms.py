"""audio_gs.atoms: the dataclass, its state dict and its preconditioned optimiser form."""

import pytest
import torch

from audio_gs.encoder.atoms import Atoms
from synth import random_atoms


def test_state_dict_round_trip_keeps_every_field():
    a = random_atoms(10, n_channels=2, seed=1)
    a.stereo_mode = "ms"
    b = Atoms.from_state_dict(a.state_dict())
    for name in ("time", "freq", "log_sigma", "chirp", "amp_cos", "amp_sin", "channel"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert (b.sample_rate, b.n_channels, b.stereo_mode) == (a.sample_rate, 2, "ms")


def test_shape_mismatch_is_rejected():
    a = random_atoms(3)
    with pytest.raises(ValueError):
        Atoms(a.time, a.freq[:2], a.log_sigma, a.chirp, a.amp_cos, a.amp_sin, a.channel, 8000)


def test_unconstrained_form_is_identity_at_zero_and_moves_in_resolution_units():
    a = random_atoms(5, seed=2)
    u = a.unconstrained()
    p = u.physical()
    for name in ("time", "freq", "log_sigma", "chirp", "amp_cos", "amp_sin"):
        assert torch.allclose(getattr(p, name), getattr(a, name))
    with torch.no_grad():
        u.offsets["time"] += 1.0
        u.offsets["freq"] += 1.0
    p = u.physical()
    assert torch.allclose(p.time - a.time, a.sigma)  # one unit of time = one sigma
    assert torch.allclose((p.freq - a.freq) * 2 * torch.pi * a.sigma, torch.ones(5, dtype=a.time.dtype))


def test_physical_clamps_frequency_and_width():
    a = random_atoms(4, seed=3)
    u = a.unconstrained()
    with torch.no_grad():
        u.offsets["freq"] += 1e9
        u.offsets["log_sigma"] -= 100
    p = u.physical(max_freq=4000.0, sigma_range=(1e-3, 0.1))
    assert torch.all(p.freq <= 4000.0) and torch.allclose(p.sigma.min(), torch.tensor(1e-3, dtype=p.time.dtype))


def test_select_concat_and_sorting():
    a = random_atoms(6, seed=4)
    s = a.sorted_by_time()
    assert torch.all(s.time[1:] >= s.time[:-1])
    both = a.concat(a.select(torch.tensor([0, 1])))
    assert len(both) == 8 and torch.equal(both.freq[6:], a.freq[:2])
