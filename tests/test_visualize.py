"""audio_gs.visualize: ellipse geometry of the atoms and the PNG figure."""

import math

import numpy as np
from synth import random_gabor, tone

from audio_gs.codec.model import Gabor
from audio_gs.visualize import ellipse_polygons, plot_gaussians


def _one(chirp):
    t = np.array
    return Gabor(time=t([0.2]), freq=t([1000.0]), log_sigma=t([math.log(0.01)]), chirp=t([chirp]),
                 amp_cos=t([1.0]), amp_sin=t([0.0]), channel=t([0]))


def test_ellipse_spans_one_sigma_in_time_and_frequency():
    poly = ellipse_polygons(_one(0.0), n_points=361)[0]
    assert np.allclose([poly[:, 0].min(), poly[:, 0].max()], [0.19, 0.21], atol=1e-6)
    half_bw = 1 / (2 * math.pi * 0.01)
    assert np.allclose([poly[:, 1].min(), poly[:, 1].max()], [1000 - half_bw, 1000 + half_bw], atol=1e-3)


def test_chirp_shears_the_ellipse_along_the_sweep():
    poly = ellipse_polygons(_one(5000.0), n_points=361)[0]
    late, early = poly[np.argmax(poly[:, 0])], poly[np.argmin(poly[:, 0])]
    assert late[1] - early[1] > 2 * 5000 * 0.01 * 0.99  # the frequency rises over the atom's span


def test_plot_writes_a_png(tmp_path):
    x = tone(8000, 0.5)[None]
    g = random_gabor(50, seconds=0.5)
    out = plot_gaussians(x, g, 8000, tmp_path / "fig" / "g.png", residual=0.1 * x, title="test")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_plot_draws_the_noise_envelope(tmp_path):
    from audio_gs.codec.model import NoiseEnvelope

    x = tone(8000, 0.5)[None]
    g = random_gabor(50, seconds=0.5)
    env = NoiseEnvelope(band_hz=2000.0, hop=80, gain_db=np.linspace(-20, 10, NoiseEnvelope.n_points(4000, 80))[None])
    plain = plot_gaussians(x, g, 8000, tmp_path / "a.png").read_bytes()
    drawn = plot_gaussians(x, g, 8000, tmp_path / "b.png", envelope=env).read_bytes()
    assert drawn[:8] == b"\x89PNG\r\n\x1a\n" and drawn != plain
