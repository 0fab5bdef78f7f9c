"""audio_gs.config: defaults < config file < command-line overrides, validated in one place."""

import pytest
import yaml

from audio_gs.encoder.config import DEFAULTS, dump_config, resolve_config
from audio_gs.errors import AudioGSError


def test_defaults_match_the_training_guide():
    cfg = resolve_config()
    assert (cfg["num_gaussians"], cfg["num_steps"], cfg["lr"]) == (500, 5000, 0.01)


def test_file_overrides_defaults_and_flags_override_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("num_gaussians: 123\nlr: 0.5\nloss_type: l1\n")
    cfg = resolve_config(p, {"lr": 0.02, "num_steps": None})
    assert cfg["num_gaussians"] == 123  # from the file
    assert cfg["lr"] == 0.02  # flag wins
    assert cfg["num_steps"] == DEFAULTS["num_steps"]  # None means "flag not given"
    assert cfg["loss_type"] == "l1"


def test_resolved_config_round_trips_through_yaml(tmp_path):
    cfg = resolve_config(None, {"num_gaussians": 77, "add_gaussians_steps": [10, 20], "adaptive_add": True})
    p = tmp_path / "cfg_train.yaml"
    p.write_text(dump_config(cfg))
    assert resolve_config(p) == cfg
    assert yaml.safe_load(p.read_text())["num_gaussians"] == 77


def test_shipped_configs_are_valid():
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parents[2] / "params" / "configs").glob("*.yaml"))
    assert {c.stem for c in configs} >= {"default", "speech", "music"}
    for c in configs:
        resolve_config(c)


@pytest.mark.parametrize("text,fragment", [
    ("num_gausians: 5\n", "unknown config key"),
    ("loss_type: l3\n", "loss_type"),
    ("bits_per_param: 1\n", "bits_per_param"),
    ("num_gaussians: 0\n", "num_gaussians"),
    ("lr: -1\n", "lr"),
    ("add_gaussians_steps: 100\n", "add_gaussians_steps"),
    ("noise_gate: 1\n", "noise_gate must be true or false"),
    ("[1, 2]\n", "mapping"),
    ("a: [\n", "invalid YAML"),
])
def test_bad_config_is_one_clear_error(tmp_path, text, fragment):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(AudioGSError, match=fragment):
        resolve_config(p)


def test_missing_config_file(tmp_path):
    with pytest.raises(AudioGSError, match="no such file"):
        resolve_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("overrides,fragment", [
    ({"sample_rate": 2_000_000}, "sample_rate"),
    ({"sample_rate": 500}, "sample_rate"),
    ({"num_gaussians": (1 << 22) + 1}, "num_gaussians"),
    ({"num_gaussians": True}, "num_gaussians"),
    ({"log_every": 0}, "log_every"),
    ({"save_every": -1}, "save_every"),
    ({"ls_every": 2.5}, "ls_every"),
    ({"headroom_db": -1}, "headroom_db"),
    ({"normalize": "yes"}, "normalize"),
    ({"tonal_max_hz": -5}, "tonal_max_hz"),
    ({"mp_max_rounds": -1}, "mp_max_rounds"),
    ({"mp_max_rounds": 2.5}, "mp_max_rounds"),
])
def test_values_a_fit_cannot_use_are_refused_up_front(overrides, fragment):
    with pytest.raises(AudioGSError, match=fragment):
        resolve_config(None, overrides)


def test_normalize_and_headroom_have_documented_defaults():
    cfg = resolve_config()
    assert cfg["normalize"] is False and cfg["headroom_db"] == 1.0
