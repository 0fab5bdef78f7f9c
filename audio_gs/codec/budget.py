"""The decoder's resource budget: what an .ags file of a given size may make the decoder spend.

A file's header claims a length and an atom count, and its widths set the render work (samples the
kernel evaluates). Real files need far less than these bounds (docs/ags_format.md, Decoder budget,
gives the measured figures); a file that claims more is refused with one AgsFormatError line
before anything is allocated for it. The encoder checks the same rule, so it never writes a file
the decoder would refuse.

- length: at most FLOOR_SECONDS + SECONDS_PER_BYTE x file bytes of audio;
- atoms: at most FLOOR_ATOMS + ATOMS_PER_BYTE x payload bytes;
- render work: at most FLOOR_WORK + WORK_PER_BYTE x file bytes sample evaluations.

Memory then follows: the model and its block lists are O(atoms), the output is written block by
block (render.BLOCK_SIZE samples), so nothing scales with the claimed length.
"""

from __future__ import annotations

from audio_gs.errors import AgsFormatError

FLOOR_SECONDS = 30.0  # any file may hold this much audio
SECONDS_PER_BYTE = 1.0  # beyond it, one second per byte of file (real files: 315-1,190 bytes per second)
FLOOR_ATOMS = 64
ATOMS_PER_BYTE = 8  # atoms per payload byte (real files: 0.16-0.18, i.e. 45-50 bits per atom)
FLOOR_WORK = 1 << 26  # sample evaluations any file may ask for (~20 ms of rendering)
WORK_PER_BYTE = 1 << 20  # beyond it, per byte of file (real files: 470-2,900 at 16-22 kHz)


def max_seconds(file_bytes: int) -> float:
    return FLOOR_SECONDS + SECONDS_PER_BYTE * file_bytes


def max_atoms(payload_bytes: int) -> int:
    return FLOOR_ATOMS + ATOMS_PER_BYTE * payload_bytes


def max_work(file_bytes: int) -> float:
    return float(FLOOR_WORK + WORK_PER_BYTE * file_bytes)


def check_header(*, file_bytes: int, payload_bytes: int, n_samples: int, sample_rate: int, n_atoms: int) -> None:
    """AgsFormatError when the claimed length or atom count is beyond what file_bytes can honestly hold."""
    seconds = n_samples / sample_rate
    if seconds > max_seconds(file_bytes):
        raise AgsFormatError(f"file claims {seconds:.1f} s of audio, more than a {file_bytes}-byte file may "
                             f"(at most {max_seconds(file_bytes):.0f} s; decoder budget)")
    if n_atoms > max_atoms(payload_bytes):
        raise AgsFormatError(f"file claims {n_atoms} Gaussians in a {payload_bytes}-byte payload "
                             f"(at most {max_atoms(payload_bytes)}; decoder budget)")


def check_work(*, file_bytes: int, work: float) -> None:
    """AgsFormatError when rendering would evaluate more samples than file_bytes may ask for."""
    if work > max_work(file_bytes):
        raise AgsFormatError(f"file asks for {work:.3g} sample evaluations to render, more than a "
                             f"{file_bytes}-byte file may (at most {max_work(file_bytes):.3g}; decoder budget)")
