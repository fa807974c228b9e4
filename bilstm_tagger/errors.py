"""The one exception type that means "the user gave us something we cannot use".

The CLI turns :class:`InputError` into a one-line message and exit code 2; any other
exception is a bug or an environment failure and exits with code 1.
"""

from __future__ import annotations

import os


class InputError(Exception):
    """Bad input: a malformed corpus line, an unreadable checkpoint, a bad option value.

    ``str(error)`` is the whole message in the ``FILE:LINE: what is wrong`` form
    (``FILE: what is wrong`` when no line applies), ready to print as it is.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(self.location_prefix() + message)

    def location_prefix(self) -> str:
        if self.path is None:
            return ""
        if self.line is None:
            return f"{self.path}: "
        return f"{self.path}:{self.line}: "


class TrainingInterrupted(Exception):
    """Training stopped by a signal (SIGINT from Ctrl-C, or SIGTERM); the resumable state is on disk.

    The CLI exits with ``128 + signum`` (130 for Ctrl-C, 143 for SIGTERM).
    """

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"interrupted by signal {signum}")
