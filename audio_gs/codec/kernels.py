"""The decoder's C kernels (audio_gs/codec/_kernels.c, built by `pip install`), loaded with ctypes.

- ``gabor_block``: add Gabor atoms into one block of samples (float32 or float64 inner loop).
- ``block_index``: the atoms that touch each block of a fixed grid.
- ``undelta``: time symbols to absolute times (the sequential step of dequantization).
- ``unpack_bits``: the raw bits of the range-coded payload, values of given bit lengths.

ctypes releases the GIL for each call, so blocks render in parallel from a thread pool. Loading
costs about a millisecond: no numba, no compiler at run time.
"""

from __future__ import annotations

import ctypes
import importlib.util

import numpy as np

_P, _I, _D = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double


def _load() -> ctypes.CDLL:
    spec = importlib.util.find_spec("audio_gs.codec._kernels")
    if spec is None or not spec.origin:
        raise ImportError("audio_gs's C kernels (audio_gs/codec/_kernels.c) are not built: run `pip install -e .` "
                          "in the repository (or `python setup.py build_ext --inplace`)")
    lib = ctypes.CDLL(spec.origin)
    block_args = [_P, _P, _P, _P, _P, _I, _D, _I, _I, _P, _I]
    for name, args, res in (("ags_gabor_block_f32", block_args, ctypes.c_int),
                            ("ags_gabor_block_f64", block_args, ctypes.c_int),
                            ("ags_block_index", [_P, _I, _I, _I, _P, _P], None),
                            ("ags_undelta", [_P, _P, _I, _I, _P], ctypes.c_int),
                            ("ags_unpack_bits", [_P, _I, _P, _I, _P], ctypes.c_int),
                            ("ags_block_pad", [], ctypes.c_int64)):
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    return lib


_lib = _load()
PAD = int(_lib.ags_block_pad())  # samples a block buffer's rows need after their end


def _ptr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _check(a: np.ndarray, dtype, ndim: int) -> None:
    if a.dtype != dtype or a.ndim != ndim or not a.flags.c_contiguous:
        raise ValueError(f"kernel argument must be a C-contiguous {ndim}-d {np.dtype(dtype).name} array")


def gabor_block(prm: np.ndarray, amp_cos: np.ndarray, amp_sin: np.ndarray, ints: np.ndarray, idx: np.ndarray,
                sample_rate: float, start: int, length: int, out: np.ndarray, *, checked: bool = False) -> None:
    """Add atoms idx (int64 [m]) into out (float32 or float64 [C, length + PAD]) at samples [start, start + length).

    prm: float64 [K, 4] (time s, -1/(2 sigma^2), pi chirp, 2 pi freq); ints: int64 [K, 3] (first and last
    sample of the support, channel); amp_cos, amp_sin: float64 [K]. Atoms add only within their support.
    checked=True skips the O(K) checks of the tables (for callers that made them, e.g. render.GaborPlan).
    """
    k = prm.shape[0]
    _check(prm, np.float64, 2), _check(ints, np.int64, 2), _check(idx, np.int64, 1)
    _check(amp_cos, np.float64, 1), _check(amp_sin, np.float64, 1)
    if prm.shape != (k, 4) or ints.shape != (k, 3) or amp_cos.shape != (k,) or amp_sin.shape != (k,):
        raise ValueError("kernel arguments disagree on the atom count")
    if out.ndim != 2 or not out.flags.c_contiguous or out.shape[1] < length + PAD or out.dtype not in (np.float32,
                                                                                                     np.float64):
        raise ValueError(f"block buffer must be C-contiguous float32/float64 [C, >= {length + PAD}]")
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= k):
        raise ValueError("atom index out of range")
    if not checked:
        check_tables(ints, out.shape[0])
    fn = _lib.ags_gabor_block_f32 if out.dtype == np.float32 else _lib.ags_gabor_block_f64
    fn(_ptr(prm), _ptr(amp_cos), _ptr(amp_sin), _ptr(ints), _ptr(idx), idx.shape[0], float(sample_rate), int(start),
       int(length), _ptr(out), out.shape[1])


def check_tables(ints: np.ndarray, n_channels: int) -> None:
    """ValueError unless every atom's support starts at a sample >= 0 and its channel is in [0, n_channels)."""
    if ints.shape[0] and (int(ints[:, 0].min()) < 0 or int(ints[:, 2].min()) < 0
                          or int(ints[:, 2].max()) >= n_channels):
        raise ValueError("atom support or channel out of range")


def block_index(ints: np.ndarray, block_size: int, n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts int64 [n_blocks + 1], atoms int64 [E]): atoms[starts[j]:starts[j + 1]] are the atoms (in index
    order) whose support [lo, hi] meets block j = [j block_size, (j + 1) block_size)."""
    _check(ints, np.int64, 2)
    if ints.shape[0] and int(ints[:, 0].min()) < 0:
        raise ValueError("atom support out of range")
    lo, hi = ints[:, 0], ints[:, 1]
    ok = hi >= lo
    last = np.minimum(hi[ok] // block_size, n_blocks - 1)
    total = int(np.maximum(last - lo[ok] // block_size + 1, 0).sum())
    starts = np.empty(n_blocks + 1, np.int64)
    atoms = np.empty(total, np.int64)
    _lib.ags_block_index(_ptr(ints), ints.shape[0], int(block_size), int(n_blocks), _ptr(starts), _ptr(atoms))
    return starts, atoms


def undelta(d: np.ndarray, e: np.ndarray, origin: int) -> tuple[np.ndarray, bool]:
    """N_k = ((N_{k-1} >> e_k) + d_k) << e_k with N_{-1} = origin (int64 [K] each); (N, ok), ok False when
    a value leaves +-2^60 or an exponent leaves [0, 62]."""
    d = np.ascontiguousarray(d, np.int64)
    e = np.ascontiguousarray(e, np.int64)
    if d.shape != e.shape or d.ndim != 1:
        raise ValueError("undelta: d and e must be int64 [K]")
    n = np.zeros(d.shape[0], np.int64)
    ok = bool(_lib.ags_undelta(_ptr(d), _ptr(e), d.shape[0], int(origin), _ptr(n)))
    return n, ok


def unpack_bits(data: bytes, n_bits: np.ndarray) -> np.ndarray:
    """int64 [K]: value i is the next n_bits[i] (0..57) bits of data, most significant bit first.
    ValueError when data holds fewer bits or a length is out of range."""
    n_bits = np.ascontiguousarray(n_bits, np.int64)
    buf = np.frombuffer(data, np.uint8)
    out = np.zeros(n_bits.shape[0], np.int64)
    if n_bits.ndim != 1 or not _lib.ags_unpack_bits(_ptr(buf) if buf.size else 0, buf.size, _ptr(n_bits),
                                                    n_bits.shape[0], _ptr(out)):
        raise ValueError("raw bits out of range")
    return out
