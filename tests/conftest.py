"""Shared fixtures; the synthetic signals themselves live in tests/synth.py."""

import pytest
from synth import chirp, clicks, mixture, noise_burst, tone


@pytest.fixture
def signals():
    return {"tone": tone, "chirp": chirp, "noise_burst": noise_burst, "clicks": clicks, "mixture": mixture}
