"""The .ags byte format: quantized atoms (audio_gs.codec.quantize) entropy-coded into bytes, and back.

This module knows bytes and symbols only; audio_gs.codec.compress composes it with the quantizer.

Layout (little-endian; varint = LEB128, svarint = zigzag LEB128) is documented byte by byte in
docs/ags_format.md. In short: magic, version, flags, channels, payload method, sample rate,
length, atom count, quantizer settings and steps, per-stream symbol ranges and coding
parameters, the payload, and a CRC32 of everything before it.

Each symbol stream (audio_gs.quantize.STREAMS) is mapped to non-negative integers u (offset from
its minimum, or zigzag around a centre: whichever the cost estimate prefers) and then coded by
one of two payload methods, whichever gives fewer bytes for the file:

- ``METHOD_RANGE``: u is split into a bin (exponent and m mantissa bits, an alphabet of at most
  ~350 bins) and raw low bits. Bins go through constriction's range coder with an adaptive
  categorical model per stream (counts start at 1 and grow by 2 per symbol, refreshed after
  blocks of 8, 16, ... 512 symbols); raw bits are packed after the coded words.
- ``METHOD_ZLIB`` / ``METHOD_LZMA``: u of every stream in fixed-width little-endian integers
  (1, 2, 4 or 8 bytes, from the stream's range), compressed with zlib or lzma.

Reading checks size, magic, version and CRC first, then bounds every count and size read from
the header, and the header's claims against the decoder's budget (audio_gs.codec.budget), before
allocating; anything wrong raises AgsFormatError with a one-line message.
"""

from __future__ import annotations

import io
import lzma
import struct
import zlib

import numpy as np

from audio_gs.codec import budget
from audio_gs.codec.model import NoiseEnvelope
from audio_gs.codec.quantize import (ALLOWED_BITS, ENV_STREAM, KINDS, LOG2_SIGMA_RANGE, MAX_SIGMA_SHIFT, MAX_SYMBOL,
                                     MAX_TIME_UNIT, NOISE_STREAMS, STREAM_KIND, STREAMS, NoiseSteps, QuantizedAtoms,
                                     QuantizedEnvelope, QuantizedNoise, check_envelope_header, env_symbol_limits,
                                     noise_symbol_limits)
from audio_gs.errors import AgsFormatError, AudioGSError

MAGIC = b"\x89AGS"
VERSION = 6  # the newest: 5's layout, its noise gated by the tonal part; written for files with noise
EXACT_VERSION = 5  # 4's layout (envelope optional) with energy-exact noise, not gated
ENVELOPE_VERSION = 4  # 2 plus a noise envelope, noise rendered as drawn (written only for such a model)
BASE_VERSION = 2  # written for a file without noise (or with noise rendered as drawn and no envelope); 1 is still read
READABLE_VERSIONS = (1, 2, 4, 5, 6)  # 3 is the streamed container (audio_gs.codec.stream)
METHOD_RANGE, METHOD_ZLIB, METHOD_LZMA = 0, 1, 2
METHOD_NAMES = {METHOD_RANGE: "range coder (constriction)", METHOD_ZLIB: "zlib", METHOD_LZMA: "lzma"}
MODE_OFFSET, MODE_ZIGZAG = 0, 1
MAX_MANTISSA = 3
MIN_FILE_BYTES = 4 + 1 + 4  # magic, version, CRC
MAX_HEADER_BYTES = 512  # more than any header (fixed fields, varints, up to 13 stream headers) takes
MAX_FILE_BYTES = 1 << 28
MAX_ATOMS = 1 << 22
MAX_SECONDS = 3600
SAMPLE_RATE_RANGE = (1000, 768_000)
BLOCK_START, BLOCK_MAX = 8, 512


# ---- varints -----------------------------------------------------------------------------------

def _uvarint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _svarint(v: int) -> bytes:
    return _uvarint((v << 1) if v >= 0 else ((-v << 1) - 1))


class _Reader:
    """Bounds-checked reads from the file's bytes; every failure is AgsFormatError."""

    def __init__(self, data: bytes, end: int):
        self.data, self.pos, self.end = data, 0, end

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise AgsFormatError(f"file is truncated or corrupt (reading {what})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def uvarint(self, what: str, limit: int) -> int:
        v, shift = 0, 0
        while True:
            (b,) = self.take(1, what)
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
            if shift > 63:
                raise AgsFormatError(f"corrupt file: {what} is not a valid number")
        if v > limit:
            raise AgsFormatError(f"corrupt file: {what} = {v} is out of range (at most {limit})")
        return v

    def svarint(self, what: str, limit: int) -> int:
        u = self.uvarint(what, 2 * limit + 1)
        return (u >> 1) if not u & 1 else -((u + 1) >> 1)


# ---- symbol <-> non-negative integers <-> (bin, raw bits) ---------------------------------------

def _zigzag(v: np.ndarray) -> np.ndarray:
    return np.where(v >= 0, 2 * v, -2 * v - 1)


def _unzigzag(u: np.ndarray) -> np.ndarray:
    return np.where(u & 1 == 0, u >> 1, -((u + 1) >> 1))


def _bitlen(v: np.ndarray) -> np.ndarray:
    """Number of bits of each non-negative int64 (0 for 0)."""
    v = np.asarray(v, np.int64)
    out = np.zeros(v.shape, np.int64)
    x = v.copy()
    for s in (32, 16, 8, 4, 2, 1):
        big = x >= (np.int64(1) << s)
        out[big] += s
        x[big] >>= s
    return out + (x > 0)


def _to_bins(u: np.ndarray, m: int):
    """u < 2^(m+1) is its own bin; larger u -> bin of (bit length, top m mantissa bits) + raw low bits."""
    n_bits = _bitlen(u)
    small = u < (1 << (m + 1))
    n_raw = np.where(small, 0, n_bits - 1 - m)
    shift = np.maximum(n_raw, 0)
    bins = np.where(small, u, (1 << (m + 1)) + (n_bits - m - 2) * (1 << m) + ((u >> shift) & ((1 << m) - 1)))
    raw = u & ((np.int64(1) << shift) - 1)
    return bins.astype(np.int64), n_raw.astype(np.int64), raw.astype(np.int64)


def _from_bins(bins: np.ndarray, m: int):
    """(high part of u, number of raw bits) for each bin: u = high | raw."""
    small = bins < (1 << (m + 1))
    rest = bins - (1 << (m + 1))
    n_bits = (rest >> m) + m + 2
    n_raw = np.where(small, 0, n_bits - 1 - m)
    high = np.where(small, bins, (((np.int64(1) << m) | (rest & ((1 << m) - 1))) << np.maximum(n_raw, 0)))
    return high.astype(np.int64), n_raw.astype(np.int64)


def _n_bins(u_max: int, m: int) -> int:
    return int(_to_bins(np.array([u_max], np.int64), m)[0][0]) + 1


def _blocks(n: int):
    i, size = 0, BLOCK_START
    while i < n:
        yield i, min(n, i + size)
        i += size
        size = min(2 * size, BLOCK_MAX)


def _adaptive_probs(bins: np.ndarray, n_bins: int):
    """(start, stop, probabilities) of each block under the adaptive model (same on both sides)."""
    counts = np.ones(n_bins, np.float64)
    for i, j in _blocks(len(bins)):
        yield i, j, counts / counts.sum()
        counts += 2.0 * np.bincount(bins[i:j], minlength=n_bins)


def _model_bits(bins: np.ndarray, n_bins: int) -> float:
    """Ideal code length (bits) of bins under the adaptive model."""
    return float(sum(-np.log2(p[bins[i:j]]).sum() for i, j, p in _adaptive_probs(bins, n_bins)))


class _StreamCode:
    """How one stream is mapped to u >= 0: mode, centre (zigzag) and mantissa bits, plus its range."""

    def __init__(self, lo: int, hi: int, mode: int, center: int, m: int):
        self.lo, self.hi, self.mode, self.center, self.m = lo, hi, mode, center, m

    def u(self, v: np.ndarray) -> np.ndarray:
        return v - self.lo if self.mode == MODE_OFFSET else _zigzag(v - self.center)

    def v(self, u: np.ndarray) -> np.ndarray:
        return u + self.lo if self.mode == MODE_OFFSET else _unzigzag(u) + self.center

    @property
    def u_max(self) -> int:
        if self.mode == MODE_OFFSET:
            return self.hi - self.lo
        return int(_zigzag(np.array([self.lo - self.center, self.hi - self.center], np.int64)).max())

    @property
    def n_bins(self) -> int:
        return _n_bins(self.u_max, self.m)

    @property
    def width(self) -> int:
        """Bytes per symbol in the fixed-width (zlib/lzma) payload."""
        return next(w for w in (1, 2, 4, 8) if self.u_max < (1 << (8 * w)) or w == 8)

    def cost(self, v: np.ndarray) -> float:
        bins, n_raw, _ = _to_bins(self.u(v), self.m)
        return _model_bits(bins, self.n_bins) + float(n_raw.sum())


def _choose_code(v: np.ndarray) -> _StreamCode:
    lo, hi = (int(v.min()), int(v.max())) if v.size else (0, 0)
    center = int(np.median(v)) if v.size else 0
    options = [_StreamCode(lo, hi, mode, center if mode == MODE_ZIGZAG else 0, m)
               for mode in (MODE_OFFSET, MODE_ZIGZAG) for m in range(MAX_MANTISSA + 1)]
    if not v.size:
        return options[0]
    return min(options, key=lambda c: c.cost(v))


# ---- payloads ----------------------------------------------------------------------------------

def _pack_bits(values: np.ndarray, n_bits: np.ndarray) -> bytes:
    """Concatenate the n_bits[i] low bits of values[i], most significant first."""
    total = int(n_bits.sum())
    if total == 0:
        return b""
    idx = np.repeat(np.arange(len(values)), n_bits)
    ends = np.cumsum(n_bits)
    pos = np.arange(total) - np.repeat(ends - n_bits, n_bits)
    shift = n_bits[idx] - 1 - pos
    return np.packbits(((values[idx] >> shift) & 1).astype(np.uint8)).tobytes()


def _unpack_bits(data: bytes, n_bits: np.ndarray) -> np.ndarray:
    """Inverse of _pack_bits (the C kernel: one pass, no per-bit arrays)."""
    from audio_gs.codec.kernels import unpack_bits

    try:
        return unpack_bits(data, n_bits)
    except ValueError as exc:
        raise AgsFormatError(f"corrupt payload ({exc})") from None


def _range_payload(us: list[np.ndarray], codes: list[_StreamCode]) -> bytes:
    import constriction

    enc = constriction.stream.queue.RangeEncoder()
    raws, n_raws = [], []
    for u, code in zip(us, codes):
        bins, n_raw, raw = _to_bins(u, code.m)
        for i, j, p in _adaptive_probs(bins, code.n_bins) if code.n_bins > 1 else ():  # one bin: nothing to code
            enc.encode(bins[i:j].astype(np.int32), constriction.stream.model.Categorical(p, perfect=False))
        raws.append(raw)
        n_raws.append(n_raw)
    words = enc.get_compressed().astype("<u4").tobytes()
    raw_bytes = _pack_bits(np.concatenate(raws) if raws else np.zeros(0, np.int64),
                           np.concatenate(n_raws) if n_raws else np.zeros(0, np.int64))
    return _uvarint(len(words) // 4) + words + raw_bytes


def _decode_range(payload: bytes, ks: list[int], codes: list[_StreamCode]) -> list[np.ndarray]:
    import constriction

    r = _Reader(payload, len(payload))
    n_words = r.uvarint("range coder word count", len(payload) // 4)
    words = np.frombuffer(r.take(4 * n_words, "range coder words"), "<u4").astype(np.uint32)
    dec = constriction.stream.queue.RangeDecoder(words)
    highs, n_raws = [], []
    try:
        for k, code in zip(ks, codes):
            bins = np.zeros(k, np.int64)
            for _ in _decode_blocks(dec, k, code.n_bins, bins):
                pass
            high, n_raw = _from_bins(bins, code.m)
            highs.append(high)
            n_raws.append(n_raw)
    except AgsFormatError:
        raise
    except Exception as exc:  # constriction reports an invalid compressed stream in several ways
        raise AgsFormatError(f"corrupt payload ({type(exc).__name__})") from None
    n_raw_all = np.concatenate(n_raws) if n_raws else np.zeros(0, np.int64)
    total = int(n_raw_all.sum())
    rest = r.take(r.end - r.pos, "raw bits")
    if len(rest) != (total + 7) // 8:
        raise AgsFormatError("corrupt payload (raw bit count does not match)")
    raw = _unpack_bits(rest, n_raw_all)
    out, start = [], 0
    for k, high in zip(ks, highs):
        out.append(high | raw[start:start + k])
        start += k
    return out


def _decode_blocks(dec, k: int, n_bins: int, bins: np.ndarray):
    """Decode k bins in the encoder's blocks into bins (a generator so the model updates in step)."""
    import constriction

    if n_bins == 1:
        return
    counts = np.ones(n_bins, np.float64)
    for i, j in _blocks(k):
        p = counts / counts.sum()
        bins[i:j] = dec.decode(constriction.stream.model.Categorical(p, perfect=False), j - i)
        counts += 2.0 * np.bincount(bins[i:j], minlength=n_bins)
        yield i, j, p


def _fixed_bytes(us: list[np.ndarray], codes: list[_StreamCode]) -> bytes:
    return b"".join(u.astype(f"<u{c.width}").tobytes() for u, c in zip(us, codes))


def _decode_fixed(raw: bytes, ks: list[int], codes: list[_StreamCode]) -> list[np.ndarray]:
    out, pos = [], 0
    for k, c in zip(ks, codes):
        n = k * c.width
        out.append(np.frombuffer(raw[pos:pos + n], f"<u{c.width}").astype(np.int64))
        pos += n
    return out


def _decompress(payload: bytes, method: int, expected: int) -> bytes:
    try:
        if method == METHOD_ZLIB:
            d = zlib.decompressobj()
            raw = d.decompress(payload, expected + 1)
            ok = d.eof and not d.unused_data
        else:
            d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
            raw = d.decompress(payload, max_length=expected + 1)
            ok = d.eof and not d.unused_data
    except (zlib.error, lzma.LZMAError, EOFError):
        raise AgsFormatError(f"corrupt payload ({METHOD_NAMES[method]} data is invalid)") from None
    if len(raw) != expected or not ok:
        raise AgsFormatError(f"corrupt payload ({METHOD_NAMES[method]} data has the wrong length)")
    return raw


# ---- header ------------------------------------------------------------------------------------

def _streams_for(n_channels: int) -> tuple[str, ...]:
    return tuple(s for s in STREAMS if s != "channel" or n_channels > 1)


def pack(q: QuantizedAtoms, n_samples: int, method: int | None = None, noise: QuantizedNoise | None = None,
         noise_seed: int = 0, envelope: QuantizedEnvelope | None = None, noise_exact: bool = True,
         noise_gate: bool = True) -> bytes:
    """Bytes of an .ags file for quantized Gabor atoms and, optionally, quantized noise Gaussians with
    the seed of their generator and a noise envelope. Version 6 when there is noise to render
    energy-exact and gated, 5 for energy-exact noise not gated (noise_gate False); noise_exact False
    writes the older versions (4 with an envelope, else 2); without noise, version 2. method None keeps
    the smallest payload."""
    k = len(q)
    kn = len(noise) if noise is not None else 0
    sr = int(q.sample_rate)
    if not SAMPLE_RATE_RANGE[0] <= sr <= SAMPLE_RATE_RANGE[1]:
        raise AudioGSError(f"cannot write .ags: sample rate {sr} Hz outside {SAMPLE_RATE_RANGE}")
    if not 0 <= n_samples <= MAX_SECONDS * sr:
        raise AudioGSError(f"cannot write .ags: length {n_samples} samples (at most {MAX_SECONDS} s)")
    if k > MAX_ATOMS or kn > MAX_ATOMS:
        raise AudioGSError(f"cannot write .ags: {k} + {kn} Gaussians (at most {MAX_ATOMS} of each kind)")
    if noise is not None and noise.n_channels != q.n_channels:
        raise AudioGSError("cannot write .ags: noise and atoms disagree on the channel count")
    if not 0 <= int(noise_seed) < 1 << 63:
        raise AudioGSError(f"cannot write .ags: noise seed {noise_seed} outside [0, 2^63)")
    if envelope is not None:
        why = check_envelope_header(envelope.band_hz, envelope.hop, envelope.step_db, sr, n_samples, q.n_channels)
        if not kn or envelope.n_channels != q.n_channels or why or \
                len(envelope) != q.n_channels * NoiseEnvelope.n_points(n_samples, envelope.hop):
            raise AudioGSError(f"cannot write .ags: {why or 'a noise envelope needs noise Gaussians and one row per channel'}")
    streams = list(_streams_for(q.n_channels))
    vs = [np.asarray(q.symbols[s], np.int64) for s in streams]
    if kn:
        streams += list(noise.streams)
        vs += [np.asarray(noise.symbols[s], np.int64) for s in noise.streams]
    if envelope is not None:
        streams.append(ENV_STREAM)
        vs.append(np.asarray(envelope.symbols, np.int64))
    codes = [_choose_code(v) for v in vs]
    us = [c.u(v) for c, v in zip(codes, vs)]
    payloads = {}
    if method in (None, METHOD_RANGE):
        payloads[METHOD_RANGE] = _range_payload(us, codes)
    if method in (None, METHOD_ZLIB, METHOD_LZMA):
        raw = _fixed_bytes(us, codes)
        if method in (None, METHOD_ZLIB):
            payloads[METHOD_ZLIB] = zlib.compress(raw, 9)
        if method in (None, METHOD_LZMA):
            payloads[METHOD_LZMA] = lzma.compress(raw, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)
    best = min(payloads, key=lambda m: (len(payloads[m]), m))
    payload = payloads[best]

    h = io.BytesIO()
    h.write(MAGIC)
    if kn and noise_exact:
        version = VERSION if noise_gate else EXACT_VERSION
    else:
        version = ENVELOPE_VERSION if envelope is not None else BASE_VERSION
    h.write(struct.pack("<BBBBI", version, 1 if q.stereo_mode == "ms" else 0, q.n_channels, best, sr))
    h.write(_uvarint(n_samples) + _uvarint(k))
    h.write(bytes(q.bits[kind] for kind in KINDS))
    h.write(struct.pack("<BB", q.sigma_shift, q.time_unit))
    h.write(_svarint(q.time_offset) + _svarint(q.time_origin))
    h.write(struct.pack("<fff", q.chirp_step, q.freq_step, q.amp_step))
    h.write(_uvarint(kn))
    if kn:
        h.write(_uvarint(int(noise_seed)) + _svarint(noise.time_origin))
        h.write(struct.pack("<ffff", *noise.steps.as_tuple()))
    if envelope is not None:  # versions 4 to 6
        h.write(_uvarint(envelope.hop) + _uvarint(envelope.band_hz) + struct.pack("<f", envelope.step_db))
    elif version >= ENVELOPE_VERSION:  # versions 5 and 6 without an envelope: hop 0
        h.write(_uvarint(0))
    for c in codes:
        h.write(bytes([(c.mode << 4) | c.m]) + _svarint(c.lo) + _svarint(c.hi))
        if c.mode == MODE_ZIGZAG:
            h.write(_svarint(c.center))
    h.write(_uvarint(len(payload)))
    h.write(payload)
    body = h.getvalue()
    return body + struct.pack("<I", zlib.crc32(body))


def _read_codes(r: _Reader, streams, k: int) -> list[_StreamCode]:
    codes = []
    for s in streams:
        (mm,) = r.take(1, f"{s} coding")
        mode, m = mm >> 4, mm & 0xF
        if mode not in (MODE_OFFSET, MODE_ZIGZAG) or m > MAX_MANTISSA:
            raise AgsFormatError(f"corrupt header: {s} coding {mm:#x}")
        lo, hi = r.svarint(f"{s} minimum", MAX_SYMBOL), r.svarint(f"{s} maximum", MAX_SYMBOL)
        center = r.svarint(f"{s} centre", MAX_SYMBOL) if mode == MODE_ZIGZAG else 0
        if lo > hi or (mode == MODE_ZIGZAG and not lo <= center <= hi and k):
            raise AgsFormatError(f"corrupt header: {s} range [{lo}, {hi}]")
        codes.append(_StreamCode(lo, hi, mode, center, m))
    return codes


def unpack(data: bytes) -> tuple[QuantizedAtoms, int, dict]:
    """(quantized atoms, n_samples, info) from .ags bytes (version 1, 2, 4, 5 or 6); AgsFormatError on anything invalid.

    info: method (payload method name), header_bytes, payload_bytes, codes, noise (QuantizedNoise or
    None), noise_seed, envelope (QuantizedEnvelope or None), noise_exact (versions 5 and 6) and
    noise_gate (version 6).
    """
    if len(data) == 0:
        raise AgsFormatError("file is empty")
    if data[:4] != MAGIC[:len(data[:4])]:
        raise AgsFormatError("not an .ags file (wrong magic bytes)")
    if len(data) < MIN_FILE_BYTES:
        raise AgsFormatError("file is truncated (shorter than an .ags header)")
    version = data[4]
    if version not in READABLE_VERSIONS:
        if version > VERSION:
            raise AgsFormatError(f"file format version {version} is newer than this decoder (version {VERSION})")
        raise AgsFormatError(f"unknown file format version {version}")
    (crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) != crc:
        raise AgsFormatError("file is corrupt or truncated (CRC32 mismatch)")
    r = _Reader(data, len(data) - 4)
    r.take(5, "magic")
    flags, n_channels, method, sr = r.unpack("BBBI", "header")
    if flags & ~1:
        raise AgsFormatError(f"corrupt header: unknown flags {flags:#x}")
    if n_channels not in (1, 2):
        raise AgsFormatError(f"corrupt header: {n_channels} channels (1 or 2 supported)")
    if method not in METHOD_NAMES:
        raise AgsFormatError(f"corrupt header: unknown payload method {method}")
    if not SAMPLE_RATE_RANGE[0] <= sr <= SAMPLE_RATE_RANGE[1]:
        raise AgsFormatError(f"corrupt header: sample rate {sr} Hz")
    stereo_mode = "ms" if flags & 1 else "lr"
    if stereo_mode == "ms" and n_channels != 2:
        raise AgsFormatError("corrupt header: mid/side flag on a mono file")
    n_samples = r.uvarint("length", MAX_SECONDS * sr)
    k = r.uvarint("atom count", MAX_ATOMS)
    bits = dict(zip(KINDS, r.take(len(KINDS), "bits")))
    for kind, b in bits.items():
        if b not in ALLOWED_BITS:
            raise AgsFormatError(f"corrupt header: {b} bits for {kind}")
    sigma_shift, time_unit = r.unpack("BB", "quantizer")
    if sigma_shift > MAX_SIGMA_SHIFT or time_unit > MAX_TIME_UNIT:
        raise AgsFormatError("corrupt header: quantizer grid out of range")
    time_offset = r.svarint("time offset", 1 << 40)
    time_origin = r.svarint("time origin", 1 << 61)
    steps = r.unpack("fff", "quantizer steps")
    if not all(np.isfinite(s) and s > 0 for s in steps):
        raise AgsFormatError("corrupt header: quantizer step is not a positive number")
    kn, noise_seed, noise_origin, noise_steps = 0, 0, 0, None
    if version >= 2:
        kn = r.uvarint("noise Gaussian count", MAX_ATOMS)
        if kn:
            noise_seed = r.uvarint("noise seed", (1 << 63) - 1)
            noise_origin = r.svarint("noise time origin", 1 << 40)
            nsteps = r.unpack("ffff", "noise quantizer steps")
            if not all(np.isfinite(s) and s > 0 for s in nsteps):
                raise AgsFormatError("corrupt header: noise quantizer step is not a positive number")
            noise_steps = NoiseSteps(*(float(v) for v in nsteps))
    env_hop, env_band, env_step, n_env = 0, 0, 0.0, 0
    if version >= ENVELOPE_VERSION and kn:
        env_hop = r.uvarint("noise envelope hop", 1 << 32)
        if env_hop:
            env_band = r.uvarint("noise envelope band edge", 1 << 32)
            (env_step,) = r.unpack("f", "noise envelope step")
            why = check_envelope_header(env_band, env_hop, float(env_step), sr, n_samples, n_channels)
            if why:
                raise AgsFormatError(f"corrupt header: {why}")
            n_env = n_channels * NoiseEnvelope.n_points(n_samples, env_hop)
    streams = _streams_for(n_channels)
    codes = _read_codes(r, streams, k)
    ranges = dict(zip(streams, codes))
    ls_lo, ls_hi = (int(np.ceil(v * 2**sigma_shift)) for v in LOG2_SIGMA_RANGE)
    if k and not (ls_lo <= ranges["log_sigma"].lo and ranges["log_sigma"].hi <= ls_hi):
        raise AgsFormatError("corrupt header: widths outside the format's range")
    if n_channels == 2 and k and not (0 <= ranges["channel"].lo and ranges["channel"].hi <= 1):
        raise AgsFormatError("corrupt header: channel index out of range")
    noise_streams = tuple(s for s in NOISE_STREAMS if s != "noise_channel" or n_channels > 1) if kn else ()
    noise_codes = _read_codes(r, noise_streams, kn)
    if kn:
        limits = noise_symbol_limits(noise_steps)
        for s, c in zip(noise_streams, noise_codes):
            lo, hi = limits[s]
            if not (lo <= c.lo and c.hi <= hi):
                raise AgsFormatError(f"corrupt header: {s} range outside the format's")
    env_streams = (ENV_STREAM,) if env_hop else ()
    env_codes = _read_codes(r, env_streams, n_env)
    if env_hop:
        lo, hi = env_symbol_limits(float(env_step))
        if not (lo <= env_codes[0].lo and env_codes[0].hi <= hi):
            raise AgsFormatError(f"corrupt header: {ENV_STREAM} range outside the format's")
    payload_len = r.uvarint("payload size", r.end - r.pos)
    header_bytes = r.pos
    budget.check_header(file_bytes=len(data), payload_bytes=payload_len, n_samples=n_samples, sample_rate=sr,
                        n_atoms=k + kn)
    payload = r.take(payload_len, "payload")
    if r.pos != r.end:
        raise AgsFormatError("corrupt file: trailing bytes after the payload")
    all_codes = codes + noise_codes + env_codes
    ks = [k] * len(codes) + [kn] * len(noise_codes) + [n_env] * len(env_codes)
    if method == METHOD_RANGE:
        us = _decode_range(payload, ks, all_codes)
    else:
        expected = sum(n * c.width for n, c in zip(ks, all_codes))
        us = _decode_fixed(_decompress(payload, method, expected), ks, all_codes)
    symbols = {}
    for s, u, c in zip(streams + noise_streams + env_streams, us, all_codes):
        if u.size and (int(u.max()) > c.u_max or int(u.min()) < 0):
            raise AgsFormatError(f"corrupt payload ({s} symbol out of range)")
        v = c.v(u)
        if v.size and (int(v.min()) < c.lo or int(v.max()) > c.hi):
            raise AgsFormatError(f"corrupt payload ({s} symbol out of range)")
        symbols[s] = v
    q = QuantizedAtoms(sample_rate=sr, n_channels=n_channels, stereo_mode=stereo_mode, bits=bits,
                       sigma_shift=sigma_shift, time_unit=time_unit, time_offset=time_offset,
                       time_origin=time_origin, chirp_step=steps[0], freq_step=steps[1], amp_step=steps[2],
                       symbols={s: symbols[s] for s in streams})
    noise = None
    if kn:
        noise = QuantizedNoise(steps=noise_steps, n_channels=n_channels, time_origin=noise_origin,
                               symbols={s: symbols[s] for s in noise_streams})
    envelope = None
    if env_hop:
        envelope = QuantizedEnvelope(band_hz=env_band, hop=env_hop, step_db=float(env_step), n_channels=n_channels,
                                     symbols=symbols[ENV_STREAM])
    info = {"method": METHOD_NAMES[method], "header_bytes": header_bytes + 4, "payload_bytes": payload_len,
            "codes": {**ranges, **dict(zip(noise_streams, noise_codes)), **dict(zip(env_streams, env_codes))},
            "version": version, "noise": noise, "noise_seed": noise_seed, "envelope": envelope,
            "noise_exact": version >= EXACT_VERSION, "noise_gate": version >= VERSION}
    return q, n_samples, info


# ---- statistics --------------------------------------------------------------------------------

def raw_bits(q: QuantizedAtoms, noise: QuantizedNoise | None = None) -> dict[str, int]:
    """Bits per Gaussian of a fixed-length code of each stream: ceil(log2(max - min + 1))."""
    out = {s: int(np.ceil(np.log2(hi - lo + 1))) for s, (lo, hi) in q.ranges.items()}
    for s, v in (noise.symbols.items() if noise is not None and len(noise) else ()):
        out[s] = int(np.ceil(np.log2(int(v.max()) - int(v.min()) + 1)))
    return out


def stream_bits(q: QuantizedAtoms, noise: QuantizedNoise | None = None,
                envelope: QuantizedEnvelope | None = None) -> dict[str, float]:
    """Ideal code length (bits, whole file) of each stream under the range coder's model."""
    out = {}
    for s in _streams_for(q.n_channels):
        v = np.asarray(q.symbols[s], np.int64)
        out[s] = _choose_code(v).cost(v) if v.size else 0.0
    if noise is not None and len(noise):
        for s in noise.streams:
            v = np.asarray(noise.symbols[s], np.int64)
            out[s] = _choose_code(v).cost(v)
    if envelope is not None and len(envelope):
        out[ENV_STREAM] = _choose_code(envelope.symbols).cost(envelope.symbols)
    return out


def kind_bits(q: QuantizedAtoms, noise: QuantizedNoise | None = None,
              envelope: QuantizedEnvelope | None = None) -> dict[str, float]:
    """stream_bits summed by parameter kind (amp_cos + amp_sin -> amp; noise streams as they are)."""
    out: dict[str, float] = {}
    for s, b in stream_bits(q, noise, envelope).items():
        kind = STREAM_KIND.get(s, s)
        out[kind] = out.get(kind, 0.0) + b
    return out
