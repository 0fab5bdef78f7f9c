"""audio_gs.mel: the shared mel filterbank."""

import numpy as np

from audio_gs.mel import hz_to_mel, mel_filterbank, mel_to_hz


def test_mel_scale_round_trips_and_is_1000_mel_at_1_khz():
    f = np.array([0.0, 100.0, 1000.0, 8000.0])
    assert np.allclose(mel_to_hz(hz_to_mel(f)), f)
    assert abs(hz_to_mel(1000.0) - 1000.0) < 0.5


def test_filterbank_covers_the_band_with_triangles_that_peak_at_one():
    fb = mel_filterbank(16000, 512, 40)
    assert fb.shape == (40, 257)
    assert np.all(fb.sum(0)[5:-5] > 0)  # every bin inside the band is covered
    assert np.all(fb.max(axis=1)[8:] > 0.5) and fb.max() <= 1.0
    centres = np.argmax(fb, axis=1)
    assert np.all(np.diff(centres) >= 0)  # filters ordered by frequency


def test_unit_area_filters_sum_to_one_and_are_read_only():
    fb = mel_filterbank(22050, 1024, 64, unit_area=True)
    assert np.allclose(fb.sum(axis=1), 1.0)
    assert not fb.flags.writeable
