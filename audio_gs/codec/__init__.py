"""The codec every listener runs: the .ags file format, the quantizer, the render kernels, decode.

Numpy, constriction and the package's small C kernels (_kernels.c, loaded with ctypes) only: nothing
here imports torch, numba, the fitter, metrics or the CLI.
model (arrays) -> quantize (symbols) -> bitstream (bytes); compress composes them; render draws a Model.
"""
