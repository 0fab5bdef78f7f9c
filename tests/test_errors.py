"""audio_gs.errors: user errors become one stderr line and exit code 2; other errors are not hidden."""

import pytest

from audio_gs.errors import AgsFormatError, AudioGSError, exits_2_on_user_error


def test_user_error_is_one_line_and_exit_code_2(capsys):
    @exits_2_on_user_error
    def main(argv=None):
        raise AgsFormatError("x.ags: truncated file")

    assert main([]) == 2
    err = capsys.readouterr().err
    assert err == "error: x.ags: truncated file\n"


def test_success_passes_the_return_code_through_and_bugs_still_raise():
    assert exits_2_on_user_error(lambda argv=None: 0)() == 0

    @exits_2_on_user_error
    def buggy(argv=None):
        raise KeyError("bug")

    with pytest.raises(KeyError):
        buggy()
    assert issubclass(AgsFormatError, AudioGSError)
