"""audio_gs.encoder.windows: a long signal fitted in windows is one set of atoms close to the whole fit,
bounded by the window, independent of the number of processes, and rate-controlled like a whole file."""

import numpy as np
import pytest
import torch
from synth import chirp, noise_burst, tone

from audio_gs.codec.model import SUPPORT
from audio_gs.encoder.config import resolve_config
from audio_gs.encoder.encode import encode_signal
from audio_gs.encoder.fit import fit_signal
from audio_gs.encoder.losses import snr_db
from audio_gs.encoder.render import render_model
from audio_gs.encoder.windows import fit_windowed, margin_seconds, plan_for, plan_windows

SR = 8000


def _long(seconds=3.0):
    """Tones that change every 0.7 s, a chirp over the whole signal and a noise burst across a seam."""
    n = int(SR * seconds)
    x = chirp(SR, seconds, 300, 2500, 0.15)
    for i, f in enumerate((440, 660, 990, 550, 770)):
        seg = tone(SR, seconds, f, 0.3)
        gate = np.zeros(n, np.float32)
        gate[int(i * 0.7 * SR):int((i + 1) * 0.7 * SR)] = 1
        x = x + seg * gate
    x = x + noise_burst(SR, seconds, start=0.9, length=0.3, amp=0.1, seed=1)
    return x[None].astype(np.float32)


def _cfg(**kw):
    base = dict(num_gaussians=240, num_steps=60, scales_ms=[4, 8, 16, 32], log_every=30, save_every=0,
                noise_steps=30, bits_per_param=6)
    return resolve_config(None, {**base, **kw})


def test_cores_partition_the_signal_and_segments_add_the_margins():
    plan = plan_windows(10 * SR, SR, window_seconds=2.0, margin_s=0.2)
    assert len(plan) == 5
    assert plan.windows[0].core_lo == 0 and plan.windows[-1].core_hi == 10 * SR
    for a, b in zip(plan.windows[:-1], plan.windows[1:]):
        assert a.core_hi == b.core_lo
    for w in plan.windows:
        assert w.seg_lo == max(0, w.core_lo - plan.margin) and w.seg_hi == min(10 * SR, w.core_hi + plan.margin)
    assert plan.max_sigma_s == pytest.approx(plan.margin / SR / SUPPORT)
    assert plan.shares(1001).sum() == 1001 and np.ptp(plan.shares(1001)) <= 1
    assert list(plan.owner([0.0, 1.99, 2.0, 9.99])) == [0, 0, 1, 4]


def test_short_signals_and_window_0_are_fitted_whole():
    assert len(plan_windows(SR, SR, window_seconds=2.0, margin_s=0.2)) == 1
    assert len(plan_windows(10 * SR, SR, window_seconds=0.0, margin_s=0.2)) == 1
    assert plan_for(_cfg(window_seconds=2.0), 2 * SR, SR) is None


def test_windowed_fit_keeps_the_budget_and_is_close_to_the_whole_fit():
    x = _long()
    whole = fit_signal(x, SR, _cfg(), progress=False)
    cfg = _cfg(window_seconds=1.0)
    plan = plan_for(cfg, x.shape[1], SR)
    assert plan is not None and len(plan) == 3
    win = fit_windowed(x, SR, cfg, plan=plan)
    assert 0 < len(win.atoms) <= 240
    assert torch.all(torch.exp(win.atoms.log_sigma) <= plan.max_sigma_s + 1e-9)  # supports fit in a margin
    assert win.snr_db == pytest.approx(snr_db(win.target, render_model(win.atoms, x.shape[1])), abs=1e-6)
    assert win.snr_db > whole.snr_db - 1.5, (win.snr_db, whole.snr_db)
    assert [r.index for r in win.windows] == [0, 1, 2]


def test_the_number_of_processes_does_not_change_the_atoms():
    x = _long(2.0)
    cfg = _cfg(window_seconds=0.6, num_gaussians=120, num_steps=30)
    one = fit_windowed(x, SR, cfg, jobs=1)
    two = fit_windowed(x, SR, cfg, jobs=2)
    for name in ("time", "freq", "log_sigma", "chirp", "amp_cos", "amp_sin"):
        assert torch.equal(getattr(one.atoms, name), getattr(two.atoms, name)), name


def test_the_number_of_processes_does_not_change_the_noise_layer():
    """The window-by-window noise fit runs in cfg["jobs"] processes; its Gaussians are the same up to
    float32 rounding (each worker has its share of the threads, so torch sums in another order)."""
    from audio_gs.encoder.encode import noise_options
    from audio_gs.encoder.windows import WindowScope

    x = _long(2.0).astype(np.float64)
    cfg = _cfg(window_seconds=0.6, noise_per_second=30)
    plan = plan_for(cfg, x.shape[1], SR)
    assert plan is not None and len(plan) >= 3
    one = WindowScope(plan, dict(cfg, jobs=1)).fit_noise(x, SR, 60, noise_options(cfg))
    two = WindowScope(plan, dict(cfg, jobs=2)).fit_noise(x, SR, 60, noise_options(cfg))
    assert len(one) > 0
    for name in ("time", "erb", "log_st", "log_se", "log_energy", "channel"):
        assert np.allclose(getattr(one, name), getattr(two, name), rtol=1e-4, atol=1e-6), name


def test_windowed_encode_lands_on_the_rate_and_decodes():
    from audio_gs.codec.compress import decode
    from audio_gs.codec.render import render

    x = _long()
    enc, result = encode_signal(x, SR, _cfg(window_seconds=1.0, kbps=16.0, noise_per_second=30), progress=False)
    real = 8 * len(enc.data) / 3.0 / 1000
    assert abs(real / 16.0 - 1) <= 0.05 and real <= 16.0001, enc.info
    assert len(result.windows) == 3
    y = render(decode(enc.data))
    assert y.shape == x.shape and np.isfinite(y).all()
    assert snr_db(torch.from_numpy(x).double(), torch.from_numpy(y).double()) > 5


def test_margin_follows_the_widest_scale():
    assert margin_seconds(_cfg(scales_ms=[4, 64])) == pytest.approx(2 * margin_seconds(_cfg(scales_ms=[4, 32])))
