"""audio_gs.losses: each loss is zero at the target, grows with error and is differentiable; the weighted
losses' weights favour what they say they favour."""

import numpy as np
import pytest
import torch

from audio_gs.encoder.losses import MaskedNorm, frame_weights, make_loss, masking_weights, snr_db
from synth import mixture, tone


@pytest.mark.parametrize("loss_type,pw", [("l2", 0.0), ("l1", 0.0), ("spectral", 0.0), ("l2", 0.5), ("masked", 0.0),
                                         ("segmental", 0.0)])
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


def loud_then_quiet(sr=8000, quiet_db=-40.0):
    """A 440 Hz tone whose second half is quiet_db below its first half."""
    x = tone(sr, 1.0, 440, 0.5).astype(np.float64)
    x[sr // 2:] *= 10 ** (quiet_db / 20)
    return torch.from_numpy(x)[None]


@pytest.mark.parametrize("exponent", [0.25, 0.5, 1.0])
def test_frame_weights_are_flat_in_frequency_and_follow_frame_power(exponent):
    sr = 8000
    w = frame_weights(loud_then_quiet(sr), sr, exponent).numpy()
    assert w.shape[0] == 1 and float(w.mean()) == pytest.approx(1.0)
    assert np.allclose(w, w[:, :1, :])  # one weight per frame
    frames = w.shape[2]
    loud, quiet = w[0, 0, frames // 8], w[0, 0, 7 * frames // 8]
    assert quiet / loud == pytest.approx(10 ** (40 * exponent / 10), rel=0.05)  # (power ratio) ** exponent


def test_frame_weights_of_exponent_zero_are_plain_l2():
    assert torch.allclose(frame_weights(loud_then_quiet(), 8000, 0.0), torch.tensor(1.0, dtype=torch.float64))


def test_segmental_loss_counts_quiet_and_loud_frames_alike_where_l2_ignores_the_quiet():
    sr = 8000
    x = loud_then_quiet(sr)
    half = x.shape[1] // 2
    g = torch.Generator().manual_seed(0)
    n = torch.randn(x.shape, generator=g, dtype=torch.float64)
    loud_err, quiet_err = x.clone(), x.clone()
    loud_err[:, :half] += 0.1 * x[:, :half].std() * n[:, :half]  # 20 dB SNR in the loud half
    quiet_err[:, half:] += 0.1 * x[:, half:].std() * n[:, half:]  # the same SNR in the quiet half
    seg, l2 = make_loss("segmental", sr, masking_exponent=1.0), make_loss("l2", sr)
    assert float(seg(quiet_err, x)) == pytest.approx(float(seg(loud_err, x)), rel=0.3)
    assert float(l2(quiet_err, x)) < 1e-3 * float(l2(loud_err, x))


def test_weighted_norms_gram_is_a_positive_linear_form_and_weighs_the_quiet_half_more():
    sr = 8000
    x = loud_then_quiet(sr)
    r = 0.01 * np.random.default_rng(0).standard_normal(x.shape)
    for weighting, weights in (("masked", masking_weights), ("segmental", frame_weights)):
        norm = MaskedNorm(x, sr, 0.5, weighting)
        assert torch.equal(norm.w, weights(x, sr, 0.5))
        g = norm.gram(r)
        # gram(r) = S^T W S r: a quadratic form, so <r, gram(r)> = sum W |S r|^2 > 0 and gram is linear
        assert float((r * g).sum()) > 0 and np.allclose(norm.gram(2 * r), 2 * g)
        late, early = norm.weight_at_points([0.9], [440.0], [0]), norm.weight_at_points([0.1], [440.0], [0])
        assert late[0] > 10 * early[0]  # the quiet half weighs more
