"""The codec every listener runs: the .ags file format, the quantizer, the render kernels, decode.

Numpy, numba and constriction only: nothing here imports torch, the fitter, metrics or the CLI.
model (arrays) -> quantize (symbols) -> bitstream (bytes); compress composes them; render draws a Model.
"""
