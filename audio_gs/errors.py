"""The one exception type for errors a user can cause (bad file, bad flag, corrupt .ags)."""

import functools
import sys


class AudioGSError(Exception):
    """A user-facing error: the command line prints its message on one line and exits with 2."""


class AgsFormatError(AudioGSError):
    """An .ags file that cannot be decoded: empty, truncated, corrupt, not .ags, or a newer version."""


def exits_2_on_user_error(main):
    """Wrap a main(argv) -> int: an AudioGSError prints 'error: <message>' on stderr and returns 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except AudioGSError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return wrapper
