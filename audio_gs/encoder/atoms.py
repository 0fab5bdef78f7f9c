"""Atoms: the Gabor-atom Gaussians being fitted, as torch tensors (the encoder's side of
audio_gs.codec.model.Gabor; the atom formula is in that module)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from audio_gs.codec.model import GABOR_FIELDS as PARAM_NAMES
from audio_gs.codec.model import SUPPORT, Gabor, Model

__all__ = ["Atoms", "Unconstrained", "PARAM_NAMES", "SUPPORT"]


@dataclass
class Atoms:
    """One row per Gaussian, as float tensors of shape [K]; channel is an int64 tensor [K].

    stereo_mode "lr" renders channels as they are; "ms" means channel 0 is mid and 1 is side.
    """

    time: torch.Tensor
    freq: torch.Tensor
    log_sigma: torch.Tensor
    chirp: torch.Tensor
    amp_cos: torch.Tensor
    amp_sin: torch.Tensor
    channel: torch.Tensor
    sample_rate: int
    n_channels: int = 1
    stereo_mode: str = "lr"

    def __post_init__(self) -> None:
        k = self.time.shape[0]
        for name in PARAM_NAMES + ("channel",):
            t = getattr(self, name)
            if t.ndim != 1 or t.shape[0] != k:
                raise ValueError(f"Atoms.{name} must have shape [{k}], got {tuple(t.shape)}")

    def __len__(self) -> int:
        return int(self.time.shape[0])

    @property
    def sigma(self) -> torch.Tensor:
        return torch.exp(self.log_sigma)

    @property
    def amplitude(self) -> torch.Tensor:
        return torch.hypot(self.amp_cos, self.amp_sin)

    @property
    def energy(self) -> torch.Tensor:
        """Approximate energy of each atom (sum of squared samples): A^2 sigma fs sqrt(pi) / 2."""
        return self.amplitude**2 * self.sigma * self.sample_rate * (torch.pi**0.5) / 2

    @classmethod
    def empty(cls, sample_rate: int, n_channels: int = 1, dtype=torch.float32, device="cpu") -> "Atoms":
        z = torch.zeros(0, dtype=dtype, device=device)
        return cls(z, z, z, z, z, z, torch.zeros(0, dtype=torch.long, device=device), sample_rate, n_channels)

    @classmethod
    def from_dict(cls, params: dict, sample_rate: int, n_channels: int = 1, stereo_mode: str = "lr") -> "Atoms":
        k = params["time"].shape[0]
        channel = params.get("channel")
        if channel is None:
            channel = torch.zeros(k, dtype=torch.long, device=params["time"].device)
        return cls(**{n: params[n] for n in PARAM_NAMES}, channel=channel.long(), sample_rate=sample_rate,
                   n_channels=n_channels, stereo_mode=stereo_mode)

    def params(self) -> dict[str, torch.Tensor]:
        return {n: getattr(self, n) for n in PARAM_NAMES}

    def state_dict(self) -> dict:
        """Plain tensors and metadata, for torch.save."""
        d = {n: getattr(self, n).detach().cpu() for n in PARAM_NAMES + ("channel",)}
        d.update(sample_rate=self.sample_rate, n_channels=self.n_channels, stereo_mode=self.stereo_mode)
        return d

    @classmethod
    def from_state_dict(cls, d: dict) -> "Atoms":
        return cls(**{n: torch.as_tensor(d[n]) for n in PARAM_NAMES}, channel=torch.as_tensor(d["channel"]).long(),
                   sample_rate=int(d["sample_rate"]), n_channels=int(d["n_channels"]),
                   stereo_mode=str(d.get("stereo_mode", "lr")))

    def map(self, fn) -> "Atoms":
        """Apply fn to every parameter tensor (not channel)."""
        return replace(self, **{n: fn(getattr(self, n)) for n in PARAM_NAMES})

    def select(self, index) -> "Atoms":
        """Rows picked by a boolean mask or an index tensor."""
        return replace(self, **{f.name: getattr(self, f.name)[index] for f in fields(self)
                                if isinstance(getattr(self, f.name), torch.Tensor)})

    def detach(self) -> "Atoms":
        return self.map(lambda t: t.detach())

    def to(self, device=None, dtype=None) -> "Atoms":
        out = self.map(lambda t: t.to(device=device, dtype=dtype))
        return replace(out, channel=self.channel.to(device=device))

    def concat(self, other: "Atoms") -> "Atoms":
        return replace(self, **{f.name: torch.cat([getattr(self, f.name), getattr(other, f.name)])
                                for f in fields(self) if isinstance(getattr(self, f.name), torch.Tensor)})

    def to_gabor(self) -> Gabor:
        """The codec's plain-array form (float64 numpy)."""
        d = self.detach().to(device="cpu", dtype=torch.float64)
        return Gabor(*(getattr(d, n).numpy().copy() for n in PARAM_NAMES), channel=self.channel.cpu().numpy().copy())

    def to_model(self, n_samples: int) -> Model:
        return Model(sample_rate=int(self.sample_rate), n_samples=int(n_samples), gabor=self.to_gabor(),
                     n_channels=int(self.n_channels), stereo_mode=self.stereo_mode)

    @classmethod
    def from_gabor(cls, g: Gabor, sample_rate: int, n_channels: int = 1, stereo_mode: str = "lr",
                   dtype=torch.float32) -> "Atoms":
        vals = {n: torch.as_tensor(np.ascontiguousarray(getattr(g, n)), dtype=dtype) for n in PARAM_NAMES}
        return cls(**vals, channel=torch.as_tensor(np.asarray(g.channel, np.int64)), sample_rate=int(sample_rate),
                   n_channels=int(n_channels), stereo_mode=stereo_mode)

    @classmethod
    def from_model(cls, m: Model, dtype=torch.float32) -> "Atoms":
        return cls.from_gabor(m.gabor, m.sample_rate, m.n_channels, m.stereo_mode, dtype=dtype)

    def sorted_by_time(self) -> "Atoms":
        order = torch.argsort(self.time.detach(), stable=True)
        return self.select(order)

    # ---- optimiser form -------------------------------------------------------------------
    def unconstrained(self) -> "Unconstrained":
        """Optimiser form: offsets from these atoms in units of each atom's own resolution."""
        return Unconstrained(base=self.detach())


@dataclass
class Unconstrained:
    """Preconditioned parameters for gradient fitting.

    Offsets are zero at the base atoms and measured in each atom's own resolution cell:
    time in sigma, frequency in 1/(2 pi sigma), chirp in 1/(2 pi sigma^2), log_sigma as is,
    amplitudes relative to the base atom's peak amplitude. A unit step is a comparable
    change in the rendered atom for every parameter, so one learning rate fits all.
    """

    base: Atoms

    def __post_init__(self) -> None:
        b = self.base
        self.offsets = {n: torch.zeros_like(getattr(b, n), requires_grad=True) for n in PARAM_NAMES}
        sigma = b.sigma
        amp_scale = b.amplitude.clamp_min(b.amplitude.max().clamp_min(1e-8) * 1e-3)
        self.scales = {
            "time": sigma,
            "freq": 1.0 / (2 * torch.pi * sigma),
            "log_sigma": torch.ones_like(sigma),
            "chirp": 1.0 / (2 * torch.pi * sigma**2),
            "amp_cos": amp_scale,
            "amp_sin": amp_scale,
        }

    def parameters(self) -> list[torch.Tensor]:
        return list(self.offsets.values())

    def physical(self, max_freq: float | None = None, sigma_range: tuple[float, float] | None = None) -> Atoms:
        """Atoms in physical units (differentiable in the offsets), frequencies/widths kept in range."""
        vals = {n: getattr(self.base, n) + self.offsets[n] * self.scales[n] for n in PARAM_NAMES}
        if max_freq is not None:
            vals["freq"] = vals["freq"].clamp(0.0, max_freq)
        if sigma_range is not None:
            import math

            vals["log_sigma"] = vals["log_sigma"].clamp(math.log(sigma_range[0]), math.log(sigma_range[1]))
        return replace(self.base, **vals)
