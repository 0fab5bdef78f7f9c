"""audio_gs.fit: a short fit of a synthetic signal reaches a stated SNR; add/prune keeps the budget."""

import numpy as np
import torch

from audio_gs.encoder.atoms import Atoms
from audio_gs.encoder.config import resolve_config
from audio_gs.encoder.fit import add_atoms, fit_signal, optimize, prune
from audio_gs.encoder.losses import snr_db
from audio_gs.encoder.render import render_fast
from synth import chirp, mixture, random_atoms


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


def test_fit_is_deterministic_for_a_seed():
    x = mixture(8000, 0.25)[None]
    cfg = resolve_config(None, {"num_gaussians": 20, "num_steps": 30, "init_method": "random", "seed": 3})
    a = fit_signal(x, 8000, cfg, progress=False).atoms
    b = fit_signal(x, 8000, cfg, progress=False).atoms
    assert torch.equal(a.time, b.time) and torch.equal(a.amp_sin, b.amp_sin)


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


def test_prune_drops_negligible_atoms_and_add_targets_the_residual():
    atoms = random_atoms(10, sr=8000, seconds=0.5, seed=2, dtype=torch.float32)
    atoms.amp_cos[:3] = 1e-9
    atoms.amp_sin[:3] = 0
    y = render_fast(atoms, 4000)
    kept = prune(atoms, y, -80.0)
    assert len(kept) == 7
    more = add_atoms(kept.select(slice(0, 4)), y, 3, resolve_config(None, {}))
    assert len(more) == 7


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
