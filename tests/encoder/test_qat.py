"""audio_gs.encoder.qat: straight-through fake quantization and quantization-aware fine-tuning."""

import numpy as np
import torch
from synth import mixture, random_atoms

from audio_gs.codec.quantize import dequantize, quantize
from audio_gs.encoder.atoms import PARAM_NAMES, Atoms
from audio_gs.encoder.config import DEFAULTS
from audio_gs.encoder.lstsq import solve_amplitudes
from audio_gs.encoder.qat import fake_quantize, qat_finetune
from audio_gs.encoder.render import render_model


def _q(a: Atoms, bits: int):
    return quantize(a.to_gabor(), sample_rate=a.sample_rate, n_channels=a.n_channels, bits_per_param=bits)


def _err_db(ref, est) -> float:
    return float(10 * torch.log10(((ref - est) ** 2).sum() / (ref**2).sum()))


def test_fake_quantize_is_quantized_forward_and_identity_backward():
    a = random_atoms(50, seed=9, dtype=torch.float32)
    leaves = {n: getattr(a, n).clone().requires_grad_(True) for n in PARAM_NAMES}
    src = Atoms(**leaves, channel=a.channel, sample_rate=a.sample_rate)
    fq = fake_quantize(src, 6)
    q = _q(a, 6)
    inv = np.empty(len(q), dtype=np.int64)
    inv[q.order] = np.arange(len(q))
    expect = dequantize(q).select(inv)
    w = torch.randn(len(a))
    loss = sum((w * getattr(fq, n)).sum() for n in PARAM_NAMES)
    loss.backward()
    for n in PARAM_NAMES:
        assert torch.allclose(getattr(fq, n).detach(), torch.as_tensor(getattr(expect, n)), rtol=1e-6, atol=1e-6)
        assert torch.allclose(leaves[n].grad, w)


def test_qat_finetune_keeps_atoms_and_stays_close_to_the_target():
    x = torch.from_numpy(mixture(8000, 0.25))[None]
    n = x.shape[-1]
    a = random_atoms(40, seconds=0.25, seed=10, dtype=torch.float32)
    a = solve_amplitudes(a, x, n, iterations=10)
    assert qat_finetune(a, x, n, DEFAULTS, 0) is a
    out = qat_finetune(a, x, n, dict(DEFAULTS, bits_per_param=6), 15)
    assert len(out) == len(a) and not out.time.requires_grad
    assert all(bool(torch.isfinite(getattr(out, k)).all()) for k in PARAM_NAMES)
    assert not torch.equal(out.freq, a.freq)  # it did move

    def coded(atoms):
        return render_model(Atoms.from_gabor(dequantize(_q(atoms, 6)), 8000), n)

    assert _err_db(x, coded(out)) < _err_db(x, coded(a)) + 1.0
