"""audio_gs.encoder.inputs: the signal a config describes is loaded and checked against what an .ags
file can hold (rate, channels, length) before any fitting; clipping is measured; normalize sets the peak."""

import numpy as np
import pytest
import soundfile as sf

from audio_gs.encoder import inputs as inputs_module
from audio_gs.encoder.config import resolve_config
from audio_gs.encoder.inputs import load_input
from audio_gs.errors import AudioGSError
from synth import tone


def _wav(path, x, sr):
    sf.write(path, np.asarray(x, np.float32).T if np.ndim(x) == 2 else x, sr, subtype="FLOAT")
    return str(path)


@pytest.mark.parametrize("sr,over,fragment", [
    (500, {}, "sample rate 500 Hz"),
    (2_000_000, {}, "sample rate 2000000 Hz"),
])
def test_rates_an_ags_file_cannot_hold_are_refused_with_a_hint(tmp_path, sr, over, fragment):
    path = _wav(tmp_path / "a.wav", tone(sr, 0.01 if sr > 100000 else 0.5, sr / 8), sr)
    with pytest.raises(AudioGSError, match=fragment) as info:
        load_input(resolve_config(None, dict(over, input_path=path)))
    assert "--sample_rate" in str(info.value) and "\n" not in str(info.value)


def test_resampling_brings_a_low_rate_into_range(tmp_path):
    path = _wav(tmp_path / "a.wav", tone(500, 0.5, 60), 500)
    inp = load_input(resolve_config(None, {"input_path": path, "sample_rate": 8000}))
    assert inp.sample_rate == 8000 and inp.x.shape == (1, 4000)


def test_more_than_two_channels_are_refused_unless_mixed_to_mono(tmp_path):
    x = np.stack([tone(8000, 0.25, f) for f in (300, 500, 700)])
    path = _wav(tmp_path / "a.wav", x, 8000)
    for channels in ("keep", "stereo"):
        with pytest.raises(AudioGSError, match="3 channels.*--channels mono"):
            load_input(resolve_config(None, {"input_path": path, "channels": channels}))
    inp = load_input(resolve_config(None, {"input_path": path, "channels": "mono"}))
    np.testing.assert_allclose(inp.x[0], x.mean(0), atol=1e-6)


def test_inputs_longer_than_the_format_holds_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(inputs_module, "MAX_SECONDS", 0.2)
    path = _wav(tmp_path / "a.wav", tone(8000, 0.25), 8000)
    with pytest.raises(AudioGSError, match="longer than"):
        load_input(resolve_config(None, {"input_path": path}))
    assert load_input(resolve_config(None, {"input_path": path, "duration": 0.2})).x.shape == (1, 1600)


def test_clipping_is_measured_and_normalize_sets_the_peak_to_the_headroom(tmp_path):
    x = tone(8000, 0.5, 440, amp=15.0)  # +23.5 dBFS peak, most samples beyond full scale
    path = _wav(tmp_path / "a.wav", x, 8000)
    plain = load_input(resolve_config(None, {"input_path": path}))
    assert plain.gain_db == 0.0 and np.array_equal(plain.x[0], x)
    assert abs(plain.clipped - np.mean(np.abs(x) > 1)) < 1e-12 and plain.clipped > 0.9
    norm = load_input(resolve_config(None, {"input_path": path, "normalize": True, "headroom_db": 3.0}))
    assert abs(20 * np.log10(np.abs(norm.x).max()) + 3.0) < 1e-4
    assert abs(norm.gain_db - (-3.0 - 20 * np.log10(np.abs(x).max()))) < 1e-4
    assert norm.clipped == plain.clipped and norm.peak == plain.peak  # measured before the gain
    assert norm.sha256 != plain.sha256
