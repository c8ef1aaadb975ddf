"""User-facing errors: one clear message, never a traceback.

Every mistake a user can make (a bad file, a wrong flag, a net that cannot work)
raises :class:`TunewizError` (or a subclass) with a message that names the file,
line or layer and says how to fix it.  ``tunewiz.cli.main`` prints it and exits
non-zero.
"""


class TunewizError(Exception):
    """A user mistake, reported as one clear message."""

    exit_code = 2


class FormatError(TunewizError):
    """A file is not what it should be (wrong kind, truncated, bad syntax)."""
