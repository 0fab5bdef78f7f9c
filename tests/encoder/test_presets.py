"""audio_gs.encoder.presets: a preset sits between the config file and the flags; unknown names are refused."""

import pytest

from audio_gs.encoder.config import DEFAULTS, resolve_config
from audio_gs.encoder.presets import PRESETS, preset_values
from audio_gs.errors import AudioGSError


def test_fast_preset_sets_its_values_and_flags_still_win():
    cfg = resolve_config(None, {"preset": "fast"})
    for key, value in PRESETS["fast"].items():
        assert cfg[key] == value, key
    assert cfg["preset"] == "fast"
    assert resolve_config(None, {"preset": "fast", "num_steps": 77})["num_steps"] == 77


def test_a_preset_named_in_the_config_file_applies_over_the_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("preset: best\nnum_steps: 10\nbits_per_param: 6\n")
    cfg = resolve_config(p)
    assert cfg["num_steps"] == PRESETS["best"]["num_steps"]  # the preset sits over the file ...
    assert cfg["bits_per_param"] == 6  # ... and leaves what it does not name
    assert resolve_config(p, {"preset": "fast"})["num_steps"] == PRESETS["fast"]["num_steps"]


def test_presets_change_speed_settings_only():
    modelling = {"loss_type", "kbps", "channels", "stereo_mode", "bits_per_param", "noise_per_second",
                 "sample_rate", "tonal_max_hz", "noise_gain_db"}
    for name, values in PRESETS.items():
        assert not modelling & set(values), name
        assert set(values) <= set(DEFAULTS), name


def test_unknown_preset_names_the_choices():
    with pytest.raises(AudioGSError, match="fast, default, best"):
        preset_values("turbo")
    with pytest.raises(AudioGSError, match="preset"):
        resolve_config(None, {"preset": "turbo"})


def test_preset_values_are_a_copy():
    v = preset_values("fast")
    v["add_gaussians_steps"].append(1)
    assert PRESETS["fast"]["add_gaussians_steps"] == []
