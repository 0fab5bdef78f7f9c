"""audio_gs.encoder.adam: the same updates as torch.optim.Adam, bit for bit, without loading torch._dynamo."""

import subprocess
import sys

import torch

from audio_gs.encoder.adam import Adam


def _run(make_opt, set_lr, steps=25):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(7, generator=g, dtype=torch.float32).requires_grad_()
    b = torch.randn(3, 4, generator=g, dtype=torch.float32).requires_grad_()
    opt = make_opt([a, b])
    for step in range(steps):
        set_lr(opt, 0.05 * (1 - step / steps) + 0.001)
        loss = ((a - 1.5) ** 4).sum() + (b.sin() * b).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return a.detach(), b.detach()


def test_matches_torch_adam_bit_for_bit_with_a_learning_rate_schedule():
    def set_torch(opt, lr):
        for grp in opt.param_groups:
            grp["lr"] = lr

    def set_ours(opt, lr):
        opt.lr = lr

    ref = _run(lambda p: torch.optim.Adam(p, lr=0.05), set_torch)
    ours = _run(lambda p: Adam(p, lr=0.05), set_ours)
    for r, o in zip(ref, ours):
        assert torch.equal(r, o)


def test_skips_tensors_without_a_gradient():
    a = torch.ones(3, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    (a * 2).sum().backward()
    opt.step()
    assert torch.equal(b.detach(), torch.ones(2)) and not torch.equal(a.detach(), torch.ones(3))


def test_a_fast_encode_never_loads_torch_dynamo(tmp_path):
    """The fast preset has no tonal Adam steps and the noise fit uses this Adam: building a torch
    optimiser would load torch._dynamo (about 1.4 s of a short encode)."""
    code = ("import sys, numpy as np; from audio_gs.encoder.config import resolve_config; "
            "from audio_gs.encoder.encode import encode_signal; "
            "t = np.arange(16000) / 16000; x = (0.3 * np.sin(2 * np.pi * 440 * t) "
            "+ 0.05 * np.random.default_rng(0).standard_normal(16000))[None].astype(np.float32); "
            "cfg = resolve_config(None, {'preset': 'fast', 'kbps': 16, 'noise_per_second': 40, 'bits_per_param': 6}); "
            "enc, _ = encode_signal(x, 16000, cfg, progress=False); "
            "assert len(enc.noise) > 0; print('dynamo' if 'torch._dynamo' in sys.modules else 'clean')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "clean"
