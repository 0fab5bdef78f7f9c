"""audio_gs.encoder.fit: a short fit of a synthetic signal reaches a stated SNR; add/prune keeps the budget;
fits are deterministic and resumable; the signal a config describes is checked before any fitting."""

import numpy as np
import pytest
import torch

from audio_gs.encoder.atoms import Atoms
from audio_gs.encoder.config import resolve_config
from audio_gs.encoder.fit import Start, fit_signal, learning_rate, optimize
from audio_gs.encoder.losses import snr_db
from audio_gs.encoder.render import render_fast
from audio_gs.encoder.strategy import DefaultStrategy
from audio_gs.errors import AudioGSError
from synth import chirp, mixture, random_atoms, tone


def test_short_fit_of_a_synthetic_mixture_exceeds_20_db():
    x = mixture(8000, 0.5)[None]
    cfg = resolve_config(None, {"num_gaussians": 80, "num_steps": 150, "log_every": 50})
    r = fit_signal(x, 8000, cfg, progress=False)
    assert len(r.atoms) == 80
    assert r.snr_db > 20
    assert [h[0] for h in r.history] == [50, 100, 150]


def test_gradient_steps_improve_on_the_initialisation():
    x = mixture(8000, 0.5)[None]
    base = resolve_config(None, {"num_gaussians": 40, "num_steps": 0})
    tuned = resolve_config(None, {"num_gaussians": 40, "num_steps": 200})
    assert fit_signal(x, 8000, tuned, progress=False).snr_db > fit_signal(x, 8000, base, progress=False).snr_db + 0.5


def test_chirp_parameter_is_learned_for_a_chirp():
    x = chirp(8000, 0.5, 500, 1500)[None]
    cfg = resolve_config(None, {"num_gaussians": 30, "num_steps": 300, "scales_ms": [8, 16, 32]})
    r = fit_signal(x, 8000, cfg, progress=False)
    strongest = torch.argsort(r.atoms.amplitude, descending=True)[:5]
    assert torch.all(r.atoms.chirp[strongest] > 200)  # sweep rate is 2000 Hz/s, upward


def test_fit_is_deterministic_for_a_seed_whatever_the_global_random_state():
    x = mixture(8000, 0.25)[None]
    cfg = resolve_config(None, {"num_gaussians": 20, "num_steps": 30, "init_method": "random", "seed": 3})
    torch.manual_seed(1)
    np.random.seed(1)
    a = fit_signal(x, 8000, cfg, progress=False).atoms
    torch.manual_seed(2)
    np.random.seed(2)
    state = torch.get_rng_state(), np.random.get_state()[1].copy()
    b = fit_signal(x, 8000, cfg, progress=False).atoms
    for name in ("time", "freq", "log_sigma", "chirp", "amp_cos", "amp_sin", "channel"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    # the fit neither reads nor sets the global generators
    assert torch.equal(torch.get_rng_state(), state[0]) and np.array_equal(np.random.get_state()[1], state[1])
    c = fit_signal(x, 8000, dict(cfg, seed=4), progress=False).atoms
    assert not torch.equal(a.time, c.time)


def test_adaptive_add_fills_the_budget_and_helps():
    x = mixture(8000, 0.5)[None]
    common = {"num_gaussians": 60, "num_steps": 120, "init_method": "peaks", "log_every": 20}
    plain = fit_signal(x, 8000, resolve_config(None, common), progress=False)
    adaptive = fit_signal(x, 8000, resolve_config(None, dict(common, adaptive_add=True, init_fraction=0.5,
                                                               add_gaussians_steps=[40, 80])), progress=False)
    assert len(adaptive.atoms) <= 60 and len(adaptive.atoms) >= 55
    assert adaptive.history[0][3] == 30  # started from half the budget
    assert adaptive.snr_db > plain.snr_db


def test_adaptive_add_with_no_add_step_inside_the_run_uses_the_whole_budget():
    x = mixture(8000, 0.5)[None]
    cfg = resolve_config(None, {"num_gaussians": 40, "num_steps": 20, "init_method": "peaks", "log_every": 10,
                                "adaptive_add": True, "init_fraction": 0.5, "add_gaussians_steps": [500, 1000]})
    r = fit_signal(x, 8000, cfg, progress=False)
    assert r.history[0][3] == 40 and len(r.atoms) == 40


def test_optimize_with_a_transform_renders_the_transformed_atoms():
    atoms = random_atoms(5, sr=8000, seconds=0.2, seed=4, dtype=torch.float32)
    target = render_fast(atoms, 1600)
    seen = []

    def transform(a: Atoms) -> Atoms:
        seen.append(len(a))
        return a

    out = optimize(atoms, target, resolve_config(None, {}), 3, transform=transform)
    assert seen == [5, 5, 5] and len(out) == 5


def test_stereo_mid_side_fit_reconstructs_both_channels():
    left, right = mixture(8000, 0.25), 0.5 * mixture(8000, 0.25)
    x = np.stack([left, right])
    cfg = resolve_config(None, {"num_gaussians": 60, "num_steps": 50, "stereo_mode": "ms"})
    r = fit_signal(x, 8000, cfg, progress=False)
    from audio_gs.encoder.render import render

    y = render(r.atoms, x.shape[1])
    assert r.atoms.stereo_mode == "ms" and y.shape == (2, 2000)
    assert snr_db(x[0], y[0]) > 10 and snr_db(x[1], y[1]) > 10


def test_fit_signal_leaves_the_schedule_to_its_strategy():
    calls = []

    class Recording(DefaultStrategy):
        def initial_count(self):
            calls.append("initial_count")
            return 7

        def step(self, step, atoms, target):
            calls.append(step)
            return atoms.select(slice(0, 5)) if step == 2 else None

        def finish(self, atoms, target):
            calls.append("finish")
            return atoms

    x = mixture(8000, 0.25)[None]
    cfg = resolve_config(None, {"num_gaussians": 50, "num_steps": 4, "init_method": "peaks", "log_every": 1})
    r = fit_signal(x, 8000, cfg, progress=False, strategy=Recording(budget=50, num_steps=4))
    assert calls == ["initial_count", 1, 2, 3, 4, "finish"]
    assert [h[3] for h in r.history] == [7, 7, 5, 5] and len(r.atoms) == 5


def test_learning_rate_decays_from_lr_to_the_final_ratio():
    cfg = resolve_config(None, {"lr": 0.02, "lr_final_ratio": 0.1})
    rates = [learning_rate(cfg, s, 100) for s in range(1, 101)]
    assert rates[0] == 0.02 and all(a > b for a, b in zip(rates, rates[1:]))
    assert abs(rates[-1] - 0.002) < 1e-5


class _Killed(Exception):
    pass


def test_a_fit_resumed_from_a_least_squares_step_ends_exactly_as_an_uninterrupted_one():
    x = mixture(8000, 0.25)[None]
    cfg = resolve_config(None, {"num_gaussians": 30, "num_steps": 40, "ls_every": 10, "save_every": 10,
                                "log_every": 5, "adaptive_add": True, "init_fraction": 0.7,
                                "add_gaussians_steps": [30], "init_method": "peaks"})
    full = fit_signal(x, 8000, cfg, progress=False)
    saved = {}

    def kill_at_25(step, *_):
        if step == 25:
            raise _Killed

    with pytest.raises(_Killed):
        fit_signal(x, 8000, cfg, progress=False, on_log=kill_at_25,
                   on_checkpoint=lambda step, atoms, seconds: saved.update({step: (atoms, seconds)}))
    assert sorted(saved) == [10, 20]
    atoms, seconds = saved[20]
    resumed = fit_signal(x, 8000, cfg, progress=False, start=Start(atoms, 20, seconds))
    for name in ("time", "freq", "log_sigma", "chirp", "amp_cos", "amp_sin", "channel"):
        assert torch.equal(getattr(full.atoms, name), getattr(resumed.atoms, name)), name
    assert [h[:4] for h in resumed.history] == [h[:4] for h in full.history if h[0] > 20]
    assert resumed.snr_db == full.snr_db and resumed.fit_seconds >= seconds


def test_resuming_past_the_last_step_or_onto_other_audio_is_refused():
    x = mixture(8000, 0.25)[None]
    cfg = resolve_config(None, {"num_gaussians": 10, "num_steps": 5})
    atoms = random_atoms(10, sr=8000, seconds=0.25, dtype=torch.float32)
    with pytest.raises(AudioGSError, match="step 6"):
        fit_signal(x, 8000, cfg, progress=False, start=Start(atoms, 6))
    with pytest.raises(AudioGSError, match="cannot resume"):
        fit_signal(np.stack([x[0], x[0]]), 8000, cfg, progress=False, start=Start(atoms, 2))


def test_a_diverged_fit_is_one_error_not_nan_atoms():
    x = mixture(8000, 0.25)[None].copy()
    x[0, 100] = np.nan
    cfg = resolve_config(None, {"num_gaussians": 10, "num_steps": 5})
    atoms = random_atoms(10, sr=8000, seconds=0.25, dtype=torch.float32)
    with pytest.raises(AudioGSError, match="diverged at step 1"):
        fit_signal(x, 8000, cfg, progress=False, start=Start(atoms, 0))


def test_device_names_are_checked_before_fitting():
    from audio_gs.encoder.fit import fit_device

    assert fit_device({"device": "cpu"}).type == "cpu"
    with pytest.raises(AudioGSError, match="not a torch device"):
        fit_device({"device": "abacus"})
    if not torch.cuda.is_available():
        with pytest.raises(AudioGSError, match="CUDA is not available"):
            fit_device({"device": "cuda"})


def test_fit_with_the_device_option_on_cpu_matches_the_default():
    x = mixture(8000, 0.5)[None]
    cfg = resolve_config(None, {"num_gaussians": 30, "num_steps": 40})
    a = fit_signal(x, 8000, cfg, progress=False)
    b = fit_signal(x, 8000, dict(cfg, device="cpu"), progress=False)
    assert torch.equal(a.atoms.freq, b.atoms.freq) and a.snr_db == b.snr_db


def test_fixed_part_is_left_to_the_atoms_around_it():
    x = mixture(8000, 0.5)[None]
    known = tone(8000, 0.5, 3000, 0.2)[None]
    cfg = resolve_config(None, {"num_gaussians": 60, "num_steps": 60})
    r = fit_signal(x + known, 8000, cfg, progress=False, fixed=known)
    assert r.snr_db > 15  # the atoms model x; with the fixed part the whole is reproduced
    assert not torch.any((r.atoms.freq > 2900) & (r.atoms.freq < 3100) & (r.atoms.amplitude > 0.05))


def test_segmental_loss_spends_more_atoms_on_quiet_frames_than_l2():
    sr = 8000
    loud = tone(sr, 0.5, 300, 0.3) + tone(sr, 0.5, 900, 0.2) + tone(sr, 0.5, 1700, 0.1)
    quiet = (tone(sr, 0.5, 500, 0.3) + tone(sr, 0.5, 1300, 0.2) + tone(sr, 0.5, 2500, 0.1)) * 10 ** (-30 / 20)
    x = np.concatenate([loud, quiet])[None]

    def quiet_atoms(loss_type):
        cfg = resolve_config(None, {"num_gaussians": 30, "num_steps": 40, "loss_type": loss_type,
                                    "masking_exponent": 1.0})
        return int((fit_signal(x, sr, cfg, progress=False).atoms.time > 0.5).sum())

    assert quiet_atoms("segmental") >= quiet_atoms("l2") + 5
