"""audio_gs: a Gaussian-splatting audio codec (Gabor atoms on the time-frequency plane)."""

from audio_gs.atoms import Atoms
from audio_gs.errors import AudioGSError

__all__ = ["Atoms", "AudioGSError"]
__version__ = "0.1.0"
