"""The streamable .ags layout (format version 3): a short header, then self-contained blocks written as
the encoder's windows finish, then an end record. A player can decode every complete block of a file
that is still being written.

    header  magic \\x89AGS, version 3, flags 0, channels C, 0, sample rate (u32), CRC32 of these 12 bytes
    block   body length L (u32, > 0), first sample S (u64), samples final after it D (u64), CRC32 of these
            20 bytes; then L bytes: a complete .ags file, version 2, 5 or 6 (its own header, payload and CRC)
            whose atoms are placed at sample S of the stream
    end     L = 0, S = 0, D = the stream's length in samples, CRC32

Block bodies overlap (a window's margin): the decoder adds each block's rendered waveform at S. Every
sample before the next block's S is then final, so decoding needs one block in memory, not the file.
A file cut short decodes up to D of its last complete block (`complete` is False). Nothing here
imports torch or the encoder; docs/ags_format.md describes the bytes.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from audio_gs.codec import bitstream
from audio_gs.errors import AgsFormatError

VERSION = 3
_HEAD = struct.Struct("<4sBBBBI")
_BLOCK = struct.Struct("<IQQ")
HEADER_BYTES = _HEAD.size + 4
BLOCK_HEADER_BYTES = _BLOCK.size + 4


def _crc(b: bytes) -> bytes:
    return struct.pack("<I", zlib.crc32(b) & 0xFFFFFFFF)


def is_stream(data: bytes) -> bool:
    """Whether data starts like a streamed (version 3) .ags file."""
    return len(data) >= 5 and data[:4] == bitstream.MAGIC and data[4] == VERSION


def stream_header(sample_rate: int, n_channels: int) -> bytes:
    head = _HEAD.pack(bitstream.MAGIC, VERSION, 0, int(n_channels), 0, int(sample_rate))
    return head + _crc(head)


def block_record(start: int, final: int, body: bytes) -> bytes:
    """One block: an .ags body (version 2, or 5 or 6 with noise) placed at sample `start`; samples before `final` are complete after it."""
    if not body:
        raise ValueError("a block needs a body")
    head = _BLOCK.pack(len(body), int(start), int(final))
    return head + _crc(head) + body


def end_record(n_samples: int) -> bytes:
    head = _BLOCK.pack(0, 0, int(n_samples))
    return head + _crc(head)


@dataclass
class StreamFile:
    """A parsed streamed file: its blocks as (first sample, final sample, Model), in order."""

    sample_rate: int
    n_channels: int
    blocks: list
    n_samples: int  # samples the file decodes to
    complete: bool  # the end record was read

    @property
    def duration(self) -> float:
        return self.n_samples / self.sample_rate

    def __len__(self) -> int:
        """Gaussians of both kinds in all blocks."""
        return sum(len(m) for _, _, m in self.blocks)


def parse(data: bytes, decode) -> StreamFile:
    """Parse a streamed .ags file (a cut-short one too), each block's body read by decode (bytes ->
    Model: audio_gs.codec.compress.decode, whose read_stream calls this); AgsFormatError on anything invalid."""
    if len(data) < HEADER_BYTES:
        raise AgsFormatError(f"streamed .ags: {len(data)} bytes is shorter than its header")
    head = data[:_HEAD.size]
    if data[_HEAD.size:HEADER_BYTES] != _crc(head):
        raise AgsFormatError("streamed .ags: header CRC mismatch (file damaged)")
    magic, version, flags, channels, reserved, sr = _HEAD.unpack(head)
    if magic != bitstream.MAGIC or version != VERSION or flags or reserved:
        raise AgsFormatError("streamed .ags: not a version-3 header")
    if channels not in (1, 2):
        raise AgsFormatError(f"streamed .ags: {channels} channels (1 or 2)")
    if not bitstream.SAMPLE_RATE_RANGE[0] <= sr <= bitstream.SAMPLE_RATE_RANGE[1]:
        raise AgsFormatError(f"streamed .ags: sample rate {sr} Hz out of range")
    limit = bitstream.MAX_SECONDS * sr
    pos, blocks, final, first, complete = HEADER_BYTES, [], 0, 0, False
    while pos + BLOCK_HEADER_BYTES <= len(data):
        bh = data[pos:pos + _BLOCK.size]
        if data[pos + _BLOCK.size:pos + BLOCK_HEADER_BYTES] != _crc(bh):
            raise AgsFormatError(f"streamed .ags: block header CRC mismatch at byte {pos} (file damaged)")
        size, start, done = _BLOCK.unpack(bh)
        if size == 0:  # the end record
            if done != final:
                raise AgsFormatError(f"streamed .ags: end record says {done} samples, the blocks {final}")
            complete = True
            pos += BLOCK_HEADER_BYTES
            break
        body_at = pos + BLOCK_HEADER_BYTES
        if body_at + size > len(data):
            break  # cut short inside this block: decode what came before
        if not first <= start <= final < done <= limit:
            raise AgsFormatError(f"streamed .ags: block at byte {pos} covers samples [{start}, {done}) after "
                                 f"{final} (blocks must continue the stream, at most {bitstream.MAX_SECONDS} s)")
        try:
            model = decode(data[body_at:body_at + size])
        except AgsFormatError as exc:
            raise AgsFormatError(f"streamed .ags: block at byte {pos}: {exc}") from None
        if (model.sample_rate, model.n_channels) != (sr, channels):
            raise AgsFormatError(f"streamed .ags: block at byte {pos} is {model.n_channels} ch at "
                                 f"{model.sample_rate} Hz in a {channels} ch {sr} Hz stream")
        if start + model.n_samples > limit or done > start + model.n_samples:
            raise AgsFormatError(f"streamed .ags: block at byte {pos} is shorter than the samples it completes")
        blocks.append((int(start), int(done), model))
        first, final = int(start), int(done)
        pos = body_at + size
    if complete and pos != len(data):
        raise AgsFormatError("streamed .ags: bytes after the end record")
    return StreamFile(sample_rate=sr, n_channels=channels, blocks=blocks, n_samples=final, complete=complete)


def iter_stream(sf: StreamFile, *, threads: int | None = None):
    """The waveform of a streamed file in order, as float64 [channels, n] chunks (output channels): each
    block is rendered and added at its first sample; what lies before the next block's first sample is
    final and yielded. AgsFormatError when a rendered sample is not finite."""
    from audio_gs.codec.render import render

    acc = np.zeros((sf.n_channels, 0))
    acc_lo = 0
    for i, (start, done, model) in enumerate(sf.blocks):
        y = render(model, threads=threads)
        if not np.isfinite(y).all():
            raise AgsFormatError(f"rendered audio is not finite near {start / sf.sample_rate:.3f} s")
        hi = start + y.shape[1]
        if hi > acc_lo + acc.shape[1]:
            acc = np.concatenate([acc, np.zeros((sf.n_channels, hi - acc_lo - acc.shape[1]))], axis=1)
        acc[:, start - acc_lo:hi - acc_lo] += y
        upto = sf.blocks[i + 1][0] if i + 1 < len(sf.blocks) else sf.n_samples
        upto = min(upto, sf.n_samples)
        if upto > acc_lo:
            yield acc[:, :upto - acc_lo]
            acc, acc_lo = acc[:, upto - acc_lo:], upto


def render_stream(sf: StreamFile, *, threads: int | None = None) -> np.ndarray:
    """The whole waveform of a streamed file, float64 [channels, n_samples]."""
    parts = list(iter_stream(sf, threads=threads))
    return np.concatenate(parts, axis=1) if parts else np.zeros((sf.n_channels, 0))

