"""audio_gs.losses: each loss is zero at the target, grows with error and is differentiable."""

import numpy as np
import pytest
import torch

from audio_gs.encoder.losses import make_loss, snr_db
from synth import mixture


@pytest.mark.parametrize("loss_type,pw", [("l2", 0.0), ("l1", 0.0), ("spectral", 0.0), ("l2", 0.5)])
def test_loss_is_minimal_at_the_target_and_grows_with_noise(loss_type, pw):
    x = torch.from_numpy(mixture(8000, 0.5))[None].double()
    loss = make_loss(loss_type, 8000, pw)
    g = torch.Generator().manual_seed(0)
    n = torch.randn(x.shape, generator=g, dtype=torch.float64)
    small, big = float(loss(x + 0.01 * n, x)), float(loss(x + 0.1 * n, x))
    assert float(loss(x, x)) < 1e-6 < small < big
    y = (x + 0.05 * n).requires_grad_(True)
    loss(y, x).backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_snr_db_of_known_error():
    x = np.ones(1000)
    assert snr_db(x, x * 0.9) == pytest.approx(20.0)
    assert snr_db(x, x) == float("inf")


def test_unknown_loss_is_rejected():
    with pytest.raises(ValueError):
        make_loss("l3", 8000)
