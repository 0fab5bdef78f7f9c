"""The one exception type for errors a user can cause (bad file, bad flag, corrupt .ags)."""


class AudioGSError(Exception):
    """A user-facing error: the command line prints its message on one line and exits with 2."""


class AgsFormatError(AudioGSError):
    """An .ags file that cannot be decoded: empty, truncated, corrupt, not .ags, or a newer version."""
