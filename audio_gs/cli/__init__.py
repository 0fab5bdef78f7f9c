"""The `audio-gs` command line: fit/eval (audio_gs.cli.fit) and encode/quantize/decode/info
(audio_gs.cli.codec), thin over library functions. Every user error is one line and exit code 2."""

from __future__ import annotations

import argparse
import sys

from audio_gs.errors import AudioGSError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        self.exit(2, f"audio-gs: error: {message} (see audio-gs --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from audio_gs.cli import codec, fit

    parser = _Parser(prog="audio-gs", description="Gaussian-splatting audio codec")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    fit.register(sub)
    codec.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("--") and argv[0] not in ("--help", "-h"):
        argv = ["fit"] + argv  # the training guide's spelling: audio-gs --input_path X ...
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AudioGSError as exc:
        print(f"audio-gs: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("audio-gs: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our standard output went away (e.g. `| head`): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
