"""audio_gs.encoder.strategy: the add/prune/re-solve schedule, its defaults and its hooks."""

import torch

from audio_gs.encoder.config import resolve_config
from audio_gs.encoder.render import render_fast
from audio_gs.encoder.strategy import DefaultStrategy, add_atoms, prune
from synth import random_atoms


def _target(k=10, seed=2):
    atoms = random_atoms(k, sr=8000, seconds=0.5, seed=seed, dtype=torch.float32)
    return atoms, render_fast(atoms, 4000)


def test_prune_drops_negligible_atoms_and_add_targets_the_residual():
    atoms, y = _target()
    atoms.amp_cos[:3] = 1e-9
    atoms.amp_sin[:3] = 0
    kept = prune(atoms, y, -80.0)
    assert len(kept) == 7
    more = add_atoms(kept.select(slice(0, 4)), y, 3, scales_ms=(1, 2, 4, 8, 16, 32))
    assert len(more) == 7
    assert torch.equal(more.time[:4], kept.time[:4])  # the old atoms come first, unchanged


def test_initial_count_is_the_init_fraction_only_when_add_steps_run():
    assert DefaultStrategy(budget=100, num_steps=50, add_steps=(10, 20), init_fraction=0.5).initial_count() == 50
    assert DefaultStrategy(budget=100, num_steps=50, init_fraction=0.5).initial_count() == 100
    # add steps outside (0, num_steps] never run, so the init places the whole budget
    assert DefaultStrategy(budget=100, num_steps=5, add_steps=(0, 10), init_fraction=0.5).initial_count() == 100
    assert DefaultStrategy(budget=3, num_steps=50, add_steps=(10,), init_fraction=0.01).initial_count() == 1


def test_schedule_is_sorted_unique_and_within_the_run():
    s = DefaultStrategy(budget=10, num_steps=100, add_steps=(80, 0, 40, 40, 120))
    assert s.schedule == (40, 80)


def test_from_config_uses_add_steps_only_with_adaptive_add():
    cfg = resolve_config(None, {"num_gaussians": 40, "num_steps": 100, "add_gaussians_steps": [50],
                                "init_fraction": 0.5, "ls_every": 7, "prune_db": -60.0})
    off = DefaultStrategy.from_config(cfg)
    on = DefaultStrategy.from_config(dict(cfg, adaptive_add=True))
    assert off.schedule == () and off.initial_count() == 40
    assert on.schedule == (50,) and on.initial_count() == 20
    assert (on.budget, on.num_steps, on.ls_every, on.prune_db) == (40, 100, 7, -60.0)


def test_add_steps_reach_the_budget_at_the_last_add_step():
    atoms, y = _target(k=30, seed=5)
    s = DefaultStrategy(budget=30, num_steps=100, add_steps=(20, 60), ls_every=0, scales_ms=(1, 2, 4, 8, 16, 32))
    start = atoms.select(slice(0, 10))
    after_first = s.step(20, start, y)
    assert len(after_first) == 20  # half of the missing 20 at the first of two add steps
    after_second = s.step(60, after_first, y)
    assert len(after_second) == 30


def test_least_squares_steps_change_only_amplitudes_and_skip_the_last_step():
    atoms, y = _target()
    noisy = atoms.map(lambda t: t.clone())
    noisy.amp_cos.mul_(0.5)
    s = DefaultStrategy(budget=10, num_steps=40, ls_every=10)
    assert s.step(7, noisy, y) is None
    assert s.step(40, noisy, y) is None  # the fit ends with finish(), which re-solves anyway
    solved = s.step(30, noisy, y)
    for name in ("time", "freq", "log_sigma", "chirp"):
        assert torch.equal(getattr(solved, name), getattr(noisy, name))
    err = lambda a: float(((render_fast(a, 4000) - y) ** 2).sum())  # noqa: E731
    assert err(solved) < 0.01 * err(noisy)
    assert err(s.finish(noisy, y)) < 0.01 * err(noisy)
    assert DefaultStrategy(budget=10, num_steps=40, ls_every=0).step(30, noisy, y) is None


def test_strategy_draws_no_random_numbers():
    atoms, y = _target(k=20, seed=7)
    s = DefaultStrategy(budget=20, num_steps=40, add_steps=(10,), ls_every=5, scales_ms=(2, 8, 32))
    before = torch.get_rng_state()
    s.step(10, atoms.select(slice(0, 12)), y)
    s.step(15, atoms, y)
    s.finish(atoms, y)
    assert torch.equal(torch.get_rng_state(), before)
