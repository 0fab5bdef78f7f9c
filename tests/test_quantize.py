"""audio_gs.quantize: symbols, dequantization, bit allocation, straight-through fake quantization, QAT."""

import numpy as np
import pytest
import torch
from conftest import mixture, random_atoms

from audio_gs.atoms import PARAM_NAMES, Atoms
from audio_gs.config import DEFAULTS
from audio_gs.errors import AudioGSError
from audio_gs.quantize import KINDS, dequantize, fake_quantize, qat_finetune, quantize, resolve_bits
from audio_gs.render import render_model

N = 4000  # 0.5 s at 8 kHz


def _err_db(ref: torch.Tensor, est: torch.Tensor) -> float:
    return float(10 * torch.log10(((ref - est) ** 2).sum() / (ref**2).sum()))


def _in_input_order(q, deq: Atoms) -> Atoms:
    inv = torch.empty(len(q), dtype=torch.long)
    inv[torch.from_numpy(q.order)] = torch.arange(len(q))
    return deq.select(inv)


def test_quantization_error_shrinks_as_bits_grow():
    a = random_atoms(200, seed=3)
    ref = render_model(a, N)
    errs = [_err_db(ref, render_model(dequantize(quantize(a, b)).to(dtype=torch.float64), N)) for b in (4, 6, 8, 12)]
    assert all(e1 - e2 > 8 for e1, e2 in zip(errs, errs[1:])), errs  # ~6 dB per bit
    assert errs[-1] < -60


def test_dequantize_is_deterministic_and_requantizing_is_stable():
    a = random_atoms(150, seed=4, n_channels=2)
    q1, q2 = quantize(a, 8), quantize(a, 8)
    d1, d2 = dequantize(q1), dequantize(q2)
    for name in PARAM_NAMES + ("channel",):
        assert torch.equal(getattr(d1, name), getattr(d2, name))
    assert d1.time.dtype == torch.float32
    assert bool((d1.time[1:] >= d1.time[:-1]).all())  # sorted by time
    # a second pass moves nothing by more than a fraction of a step
    r1 = render_model(d1.to(dtype=torch.float64), N)
    r2 = render_model(dequantize(quantize(d1, 8)).to(dtype=torch.float64), N)
    assert _err_db(r1, r2) < -40


def test_channels_and_order_survive_quantization():
    a = random_atoms(120, seed=5, n_channels=2)
    q = quantize(a, 8)
    d = _in_input_order(q, dequantize(q))
    assert torch.equal(d.channel, a.channel)
    assert d.n_channels == 2
    assert torch.allclose(d.time.double(), a.time, atol=2e-3)
    assert torch.allclose(d.log_sigma.double(), a.log_sigma, atol=0.02)


def test_bit_allocation_overrides_one_kind():
    assert resolve_bits(6, {"amp": 10}) == {**{k: 6 for k in KINDS}, "amp": 10}
    a = random_atoms(100, seed=6)
    fine, coarse = quantize(a, 8), quantize(a, 8, {"amp": 4})
    for s in ("log_sigma", "time", "chirp", "freq"):
        assert np.array_equal(fine.symbols[s], coarse.symbols[s])
    assert np.abs(coarse.symbols["amp_cos"]).max() < np.abs(fine.symbols["amp_cos"]).max() / 8


@pytest.mark.parametrize("bits, alloc", [(1, None), (17, None), (8, {"phase": 6}), (8, {"amp": 3.5})])
def test_bad_bits_are_user_errors(bits, alloc):
    with pytest.raises(AudioGSError):
        resolve_bits(bits, alloc)


def test_non_finite_atoms_are_refused():
    a = random_atoms(10, seed=7)
    a.freq[3] = float("nan")
    with pytest.raises(AudioGSError, match="non-finite"):
        quantize(a, 8)


def test_least_squares_amplitudes_reduce_the_error_to_the_target():
    x = torch.from_numpy(mixture(8000, 0.5)).double()[None]
    a = random_atoms(80, seed=8)
    from audio_gs.lstsq import solve_amplitudes

    a = solve_amplitudes(a, x, N, iterations=20)
    plain = render_model(dequantize(quantize(a, 5)).to(dtype=torch.float64), N)
    solved = render_model(dequantize(quantize(a, 5, target=x, n_samples=N)).to(dtype=torch.float64), N)
    assert _err_db(x, solved) < _err_db(x, plain)


def test_fake_quantize_is_quantized_forward_and_identity_backward():
    a = random_atoms(50, seed=9, dtype=torch.float32)
    leaves = {n: getattr(a, n).clone().requires_grad_(True) for n in PARAM_NAMES}
    src = Atoms(**leaves, channel=a.channel, sample_rate=a.sample_rate)
    fq = fake_quantize(src, 6)
    q = quantize(a, 6)
    expect = _in_input_order(q, dequantize(q))
    w = torch.randn(len(a))
    loss = sum((w * getattr(fq, n)).sum() for n in PARAM_NAMES)
    loss.backward()
    for n in PARAM_NAMES:
        assert torch.allclose(getattr(fq, n).detach(), getattr(expect, n), rtol=1e-6, atol=1e-6)  # x + (q - x)
        assert torch.allclose(leaves[n].grad, w)


def test_qat_finetune_keeps_atoms_and_stays_close_to_the_target():
    x = torch.from_numpy(mixture(8000, 0.25))[None]
    n = x.shape[-1]
    a = random_atoms(40, seconds=0.25, seed=10, dtype=torch.float32)
    from audio_gs.lstsq import solve_amplitudes

    a = solve_amplitudes(a, x, n, iterations=10)
    assert qat_finetune(a, x, n, DEFAULTS, 0) is a
    out = qat_finetune(a, x, n, dict(DEFAULTS, bits_per_param=6), 15)
    assert len(out) == len(a) and not out.time.requires_grad
    assert all(bool(torch.isfinite(getattr(out, k)).all()) for k in PARAM_NAMES)
    assert not torch.equal(out.freq, a.freq)  # it did move
    before = _err_db(x, render_model(dequantize(quantize(a, 6)), n))
    after = _err_db(x, render_model(dequantize(quantize(out, 6)), n))
    assert after < before + 1.0
