"""audio_gs: a Gaussian-splatting audio codec (Gabor atoms on the time-frequency plane).

Subpackages: codec (file format, quantizer, kernels, decode; no torch), encoder (the fitter),
bench (datasets, baselines, metrics, report), cli (the `audio-gs` command line).
"""

__version__ = "0.1.0"
