"""Scoring: the metric rows of decoded files against one reference, many files in one process.

One row per decoded file: the grid coordinates it was given (``meta``), facts read from the files
beside it (the fit's summary.json for audio_gs, the codec's encode/decode info JSON for a baseline,
the decode timing), the real size of the coded file, and every metric of ``metrics.evaluate``.
Scoring every point of one clip and system in one process pays the interpreter start-up and the
imports (torch-free, but pesq, pystoi, visqol, mir_eval, scipy) once instead of once per file.

An item (one decoded file) is a mapping::

    {"decoded": WAV, "coded": FILE, "timing": JSON?, "fit_summary": JSON?, "codec_info": JSON?, "meta": {...}}

Command line (used by the Snakefile)::

    python -m audio_gs.bench.scoring --reference REF.wav --plan '[{...}, ...]' --visqol_mode speech -o rows.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from audio_gs.bench.metrics import json_default, score_item
from audio_gs.errors import AudioGSError, exits_2_on_user_error


def score_items(reference, items: list[dict], *, visqol_mode: str = "audio", metrics=None) -> list[dict]:
    """score_item for every item against one reference file (read once)."""
    from audio_gs.audio_io import load_audio

    ref, sr = load_audio(reference)
    return [score_item(ref, sr, it, visqol_mode=visqol_mode, metrics=metrics) for it in items]


@exits_2_on_user_error
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m audio_gs.bench.scoring", description=__doc__.split("\n")[0])
    ap.add_argument("--reference", required=True, help="reference audio (the benchmark excerpt)")
    ap.add_argument("--plan", required=True, help="JSON list of items (decoded, coded, timing, fit_summary, "
                    "codec_info, meta), or @FILE to read it from a file")
    ap.add_argument("--visqol_mode", default="audio", choices=("audio", "speech"))
    ap.add_argument("--metrics", help="comma-separated subset of the quality metrics")
    ap.add_argument("-o", "--output", required=True, help="rows as a JSON list")
    args = ap.parse_args(argv)
    from audio_gs.audio_io import atomic_write

    text = Path(args.plan[1:]).read_text() if args.plan.startswith("@") else args.plan
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise AudioGSError(f"--plan is not valid JSON ({exc})") from None
    if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("decoded") for i in items):
        raise AudioGSError("--plan must be a JSON list of items, each with a 'decoded' file")
    rows = score_items(args.reference, items, visqol_mode=args.visqol_mode,
                       metrics=args.metrics.split(",") if args.metrics else None)
    out = json.dumps(rows, indent=1, default=json_default)
    atomic_write(args.output, lambda tmp: Path(tmp).write_text(out))
    for r in rows:
        for k, v in (r.get("missing") or {}).items():
            print(f"{r.get('series')} {r.get('point')}: metric {k} missing: {v}", file=sys.stderr)
    print(f"{len(rows)} rows -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
