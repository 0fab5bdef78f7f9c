"""Build of the decoder's C kernels (audio_gs/codec/_kernels.c); the rest of the package is declared
in pyproject.toml. `pip install -e .` builds the library in place, `pip install .` into the wheel."""

import sys

from setuptools import Extension, setup

ARGS = [] if sys.platform == "win32" else ["-O3", "-Wno-psabi"]

setup(ext_modules=[Extension("audio_gs.codec._kernels", sources=["audio_gs/codec/_kernels.c"],
                             depends=["audio_gs/codec/_gabor_block.h"], extra_compile_args=ARGS)])
