"""What an .ags file holds, as plain numpy arrays: the decoder's view of a sound.

Gabor atom k (tonal/transient Gaussian) renders at sample n (tau = n / sample_rate - time[k],
sigma = exp(log_sigma[k])) as

    exp(-tau**2 / (2 sigma**2)) * (amp_cos[k] cos(phi) + amp_sin[k] sin(phi)),
    phi = 2 pi (freq[k] tau + chirp[k] tau**2 / 2),

into model channel channel[k], for |tau| <= SUPPORT * sigma and zero elsewhere. Its spectrogram is a
2-D Gaussian centred on (time, freq) with time spread sigma and frequency spread 1 / (2 pi sigma).
Units: seconds, Hz, Hz/s; amplitudes are peak sample values. Stereo mode "ms" means model channel 0
is mid and 1 is side (left = mid + side, right = mid - side).

A noise Gaussian k carries energy only: a 2-D Gaussian on the (time, ERB-rate) plane with centre
(time[k] s, erb[k] Cams), widths exp(log_st[k]) s and exp(log_se[k]) Cams and total energy
exp(log_energy[k]) (sum of squared samples it adds, in expectation), in model channel channel[k].
The decoder fills it with noise from a generator seeded by the file (audio_gs.codec.noise).

A noise envelope (optional) refines the noise Gaussians' level in time in one band: a gain in dB
every `hop` samples (points at samples 0, hop, 2 hop, ...; linear in dB between them) on the noise
above band_hz, per model channel. The encoder sets it so that the band follows the original's
energy at that resolution, which 2-D Gaussians of a few per second cannot.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

SUPPORT = 5.0  # half-width of an atom's support in sigmas (envelope < -108 dB of energy outside)
GABOR_FIELDS = ("time", "freq", "log_sigma", "chirp", "amp_cos", "amp_sin")
NOISE_FIELDS = ("time", "erb", "log_st", "log_se", "log_energy")
STEREO_MODES = ("lr", "ms")


class _Rows:
    """Shared behaviour of the Gaussian kinds: dataclasses of equal-length 1-D arrays, one row per Gaussian."""

    def __post_init__(self) -> None:
        k = np.shape(getattr(self, fields(self)[0].name))[0]
        for f in fields(self):
            v = getattr(self, f.name)
            if np.ndim(v) != 1 or np.shape(v)[0] != k:
                raise ValueError(f"{type(self).__name__}.{f.name} must have shape [{k}], got {np.shape(v)}")

    def __len__(self) -> int:
        return int(np.shape(getattr(self, fields(self)[0].name))[0])

    def select(self, index):
        """Rows picked by a boolean mask or an index array."""
        return replace(self, **{f.name: np.asarray(getattr(self, f.name))[index] for f in fields(self)})

    @classmethod
    def empty(cls, dtype=np.float64):
        return cls(*(np.zeros(0, np.int64 if f.name == "channel" else dtype) for f in fields(cls)))


@dataclass
class Gabor(_Rows):
    """Gabor atoms as arrays of shape [K] (float; channel int64)."""

    time: np.ndarray
    freq: np.ndarray
    log_sigma: np.ndarray
    chirp: np.ndarray
    amp_cos: np.ndarray
    amp_sin: np.ndarray
    channel: np.ndarray

    @property
    def sigma(self) -> np.ndarray:
        return np.exp(np.asarray(self.log_sigma, np.float64))


@dataclass
class Noise(_Rows):
    """Noise Gaussians as arrays of shape [K] (float; channel int64)."""

    time: np.ndarray
    erb: np.ndarray
    log_st: np.ndarray
    log_se: np.ndarray
    log_energy: np.ndarray
    channel: np.ndarray


@dataclass
class NoiseEnvelope:
    """Gains (dB) [n_channels, n_points] on the noise above band_hz, one point every hop samples."""

    band_hz: float
    hop: int
    gain_db: np.ndarray

    @staticmethod
    def n_points(n_samples: int, hop: int) -> int:
        """Points of an envelope over n_samples: at samples 0, hop, ..., up to n_samples."""
        return int(n_samples) // int(hop) + 1


@dataclass
class Model:
    """A sound as the decoder sees it: its format and its Gaussians of both kinds (model channels).
    noise_seed seeds the generator that fills the noise Gaussians; noise_env, when set, shapes their
    level in time above its band edge; noise_exact renders them energy-exact (audio_gs.codec.noise;
    False only for files of versions 2 and 4); noise_gate removes their noise where the tonal part
    already carries the cell (energy-exact noise only; False for files of version 5)."""

    sample_rate: int
    n_samples: int
    gabor: Gabor
    n_channels: int = 1
    stereo_mode: str = "lr"
    noise: Noise = field(default_factory=Noise.empty)
    noise_seed: int = 0
    noise_env: NoiseEnvelope | None = None
    noise_exact: bool = True
    noise_gate: bool = True

    @property
    def duration(self) -> float:
        return self.n_samples / self.sample_rate

    def __len__(self) -> int:
        """Gaussians of both kinds."""
        return len(self.gabor) + len(self.noise)
