"""What a command raises to end with one line on stderr and an exit status (docs/cli.md)."""

from __future__ import annotations

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "SIGN_IN",
    "Failure",
    "NotSignedIn",
    "UsageError",
]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
SIGN_IN = "run cdds login URL (or give --token / CDDS_TOKEN)"


class Failure(Exception):
    """The command failed (an HTTP error, a failed run, a verification failure): exit 1.

    The message names what to do; it is printed as ``cdds: <message>``.
    """

    status = EXIT_FAILED


class UsageError(Failure):
    """The command line cannot be carried out as given (as argparse's own errors): exit 2."""

    status = EXIT_USAGE


class NotSignedIn(Failure):
    """No token: neither ``--token``, ``CDDS_TOKEN`` nor a stored sign-in."""

    def __init__(self, detail: str = "not signed in") -> None:
        super().__init__(f"{detail}: {SIGN_IN}")
