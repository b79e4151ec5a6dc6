"""Errors a user can fix. Each message is one line that says what went wrong and how to fix it; the
command line prints it as `error: <message>` and exits 1, with no traceback unless `--debug`."""


class CaptureError(RuntimeError):
    """A bad input, a missing device or an unwritable output: one line, with the fix in it."""


class SourceUnavailable(CaptureError):
    """A frame source that cannot be opened on this machine (the message says why)."""


class SinkUnavailable(CaptureError):
    """A frame sink that cannot be opened on this machine (the message says why)."""
