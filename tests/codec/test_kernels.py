"""audio_gs.codec.kernels: the C kernels against plain-Python references, and their argument checks."""

import subprocess
import sys

import numpy as np
import pytest

from audio_gs.codec import kernels


def undelta_reference(d, e, origin):
    out, prev = [], int(origin)
    for dk, ek in zip(d.tolist(), e.tolist()):
        v = (prev >> ek) + dk
        if not -(2**60 >> ek) <= v <= (2**60 >> ek):
            return out, False
        prev = v << ek
        out.append(prev)
    return out, True


def test_undelta_matches_the_formula_and_reports_overflow():
    rng = np.random.default_rng(0)
    for _ in range(50):
        k = int(rng.integers(0, 200))
        d = rng.integers(0, 1 << 20, k).astype(np.int64)
        e = rng.integers(0, 30, k).astype(np.int64)
        origin = int(rng.integers(-(1 << 40), 1 << 40))
        n, ok = kernels.undelta(d, e, origin)
        ref, ref_ok = undelta_reference(d, e, origin)
        assert ok == ref_ok and n.tolist()[:len(ref)] == ref
    n, ok = kernels.undelta(np.array([1 << 59, 1 << 59], np.int64), np.zeros(2, np.int64), 1 << 59)
    assert not ok
    assert not kernels.undelta(np.array([1], np.int64), np.array([63], np.int64), 0)[1]


def test_block_index_lists_exactly_the_atoms_that_touch_each_block():
    rng = np.random.default_rng(1)
    k, n, bs = 500, 10_000, 700
    lo = rng.integers(0, n + 1, k)
    hi = np.minimum(lo + rng.integers(-5, 3000, k), n - 1)
    ints = np.ascontiguousarray(np.stack([lo, hi, np.zeros(k, np.int64)], 1).astype(np.int64))
    n_blocks = -(-n // bs)
    starts, atoms = kernels.block_index(ints, bs, n_blocks)
    for j in range(n_blocks):
        expect = np.flatnonzero((lo < (j + 1) * bs) & (hi >= j * bs) & (hi >= lo))
        assert np.array_equal(atoms[starts[j]:starts[j + 1]], expect)


def test_arguments_are_checked_before_the_c_code_runs():
    prm = np.zeros((2, 4))
    amps = np.zeros(2)
    ints = np.array([[0, 10, 0], [5, 20, 1]], np.int64)
    buf = np.zeros((2, 64 + kernels.PAD), np.float32)
    idx = np.arange(2, dtype=np.int64)
    kernels.gabor_block(prm, amps, amps, ints, idx, 8000.0, 0, 64, buf)
    with pytest.raises(ValueError, match="channel"):
        kernels.gabor_block(prm, amps, amps, ints, idx, 8000.0, 0, 64, buf[:1].copy())
    with pytest.raises(ValueError, match="index"):
        kernels.gabor_block(prm, amps, amps, ints, idx + 1, 8000.0, 0, 64, buf)
    with pytest.raises(ValueError, match="buffer"):
        kernels.gabor_block(prm, amps, amps, ints, idx, 8000.0, 0, 64, np.zeros((2, 64), np.float32))
    with pytest.raises(ValueError, match="float64"):
        kernels.gabor_block(prm.astype(np.float32), amps, amps, ints, idx, 8000.0, 0, 64, buf)
    with pytest.raises(ValueError, match="support"):
        kernels.block_index(np.array([[-1, 3, 0]], np.int64), 16, 1)


def test_loading_the_kernels_imports_neither_numba_nor_scipy():
    code = "import sys, audio_gs.codec.kernels, audio_gs.codec.render; print(' '.join(sys.modules))"
    mods = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    assert "audio_gs.codec.kernels" in mods
    assert not {m for m in mods if m.split(".")[0] in ("numba", "scipy", "torch", "soundfile")}
