"""audio_gs.init: every method places atoms; matching pursuit reads t, f and phase from the data."""

import math

import numpy as np
import pytest
import torch

from audio_gs.encoder.init import INIT_METHODS, analyse, initialise
from audio_gs.encoder.losses import snr_db
from audio_gs.encoder.render import render_fast, render_model
from synth import mixture, tone


def test_gaussian_stft_phase_is_referenced_at_the_frame_centre():
    sr = 8000
    x = torch.from_numpy(tone(sr, 0.5, freq=1000.0, amp=0.5, phase=0.7))[None]
    X, hop, n_fft, _ = analyse(x, sr, 0.01)
    m = 50  # a frame in the middle
    k = int(round(1000 * n_fft / sr))
    t_c = m * hop / sr
    expected_phase = 2 * math.pi * 1000 * t_c + 0.7  # cos phase of the tone at the frame centre
    got = float(torch.angle(X[0, m, k]))
    assert abs((got - expected_phase + math.pi) % (2 * math.pi) - math.pi) < 1e-3


def test_matching_pursuit_finds_a_single_atom_exactly():
    sr = 8000
    n = 4000
    from synth import random_atoms

    truth = random_atoms(1, sr=sr, seconds=0.5, seed=3, dtype=torch.float64)
    truth.time[:] = 0.25
    truth.freq[:] = 1234.5
    truth.log_sigma[:] = math.log(0.008)
    truth.chirp[:] = 0
    y = render_fast(truth, n)
    atoms = initialise(y.float(), sr, 1, method="mp", scales_ms=(2, 4, 8, 16))
    assert atoms.freq.item() == pytest.approx(1234.5, abs=2.0)
    assert atoms.time.item() == pytest.approx(0.25, abs=0.001)
    assert snr_db(y, render_fast(atoms, n)) > 25


@pytest.mark.parametrize("method", INIT_METHODS)
def test_every_method_returns_the_requested_count_with_ls_amplitudes(method):
    sr = 8000
    x = torch.from_numpy(mixture(sr, 0.5))[None]
    atoms = initialise(x, sr, 64, method=method, seed=0)
    assert 0 < len(atoms) <= 64
    assert torch.all(atoms.freq >= 0) and torch.all(atoms.freq <= sr / 2)
    assert snr_db(x, render_model(atoms, x.shape[1])) > 0  # least squares never makes it worse than silence


def test_matching_pursuit_beats_one_shot_peaks_and_random_on_a_mixture():
    sr = 8000
    x = torch.from_numpy(mixture(sr, 0.5))[None]
    snr = {m: snr_db(x, render_model(initialise(x, sr, 60, method=m), x.shape[1])) for m in ("mp", "peaks", "random")}
    assert snr["mp"] > snr["peaks"] > snr["random"]
    assert snr["mp"] > 10


def test_random_init_is_deterministic_for_a_seed():
    x = torch.from_numpy(mixture(8000, 0.25))[None]
    a = initialise(x, 8000, 20, method="random", seed=5)
    b = initialise(x, 8000, 20, method="random", seed=5)
    assert torch.equal(a.time, b.time) and torch.equal(a.amp_cos, b.amp_cos)


def test_stereo_atoms_go_to_the_channel_that_holds_the_sound():
    sr = 8000
    x = torch.from_numpy(np.stack([tone(sr, 0.5, 500, 0.5), np.zeros(4000, np.float32)]))
    atoms = initialise(x, sr, 5, method="mp")
    assert torch.all(atoms.channel == 0)


def test_matching_pursuit_places_no_atom_above_max_freq():
    sr = 8000
    x = torch.from_numpy(tone(sr, 0.5, 500, 0.3) + tone(sr, 0.5, 3000, 0.3))[None]
    atoms = initialise(x, sr, 40, method="mp", max_freq=1500.0)
    assert len(atoms) > 0 and torch.all(atoms.freq <= 1500.0)
    full = initialise(x, sr, 40, method="mp")
    assert torch.any(full.freq > 2500.0)  # without the cap the 3 kHz tone gets atoms


def test_max_rounds_caps_the_pursuit_rounds_with_larger_rounds(monkeypatch):
    import audio_gs.encoder.init as init

    sr = 8000
    x = torch.from_numpy(mixture(sr, 0.5))[None]
    calls = []
    search = init.candidates
    monkeypatch.setattr(init, "candidates", lambda *a, **k: calls.append(k["per_scale"]) or search(*a, **k))
    free = initialise(x, sr, 60, method="mp", per_round=5)
    assert len(calls) == 12 and len(free) == 60  # 60 atoms in rounds of 5
    calls.clear()
    capped = initialise(x, sr, 60, method="mp", per_round=5, max_rounds=3)
    assert len(calls) == 3 and calls[0] == 4 * 20  # three rounds of 20
    assert len(capped) == 60
    assert snr_db(x, render_model(capped, x.shape[1])) > 10


def test_a_weighted_norm_chooses_the_candidates_not_only_their_order():
    from audio_gs.encoder.init import candidates

    sr, n = 8000, 8000
    t = np.arange(n) / sr
    fade = np.clip((t - 0.45) / 0.1, 0, 1)  # loud 1 kHz, then a 3 kHz tone 60 dB down
    x = (1 - fade) * np.cos(2 * np.pi * 1000 * t) + fade * 0.001 * np.cos(2 * np.pi * 3000 * t)
    x = torch.from_numpy(x)[None]
    plain = candidates(x, sr, [0.004], per_scale=8)
    assert np.all(plain["time"].numpy() < 0.55)  # the loudest maxima are all in the loud half

    def quiet_half(tt, ff, ch):  # a weight that prefers the quiet half by 80 dB
        return np.where(np.asarray(tt) >= 0.6, 1e8, 1.0)

    weighted = candidates(x, sr, [0.004], per_scale=8, weight=quiet_half)
    tw, fw = weighted["time"].numpy(), weighted["freq"].numpy()
    assert np.all(tw >= 0.55) and np.all(np.abs(fw - 3000) < 200)
    assert np.all(weighted["score"].numpy() > 1e8 * 1e-7)  # score = energy x weight
