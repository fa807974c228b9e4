"""The exception type that means "the user gave us something we cannot use", and its warning.

The CLI turns :class:`InputError` into a one-line message and exit code 2; any other
exception is a bug or an environment failure and exits with code 1. :class:`InputWarning`
is input we read on after a guess (an odd line taken as a blank one): the library raises it
through :mod:`warnings`, and the CLI shows each as one ``warning: FILE:LINE: ...`` line.
"""

from __future__ import annotations

import os
import warnings


def located(message: str, path: str | os.PathLike | None, line: int | None) -> str:
    """``FILE:LINE: message``, ``FILE: message`` without a line, or the message alone without a file."""
    if path is None:
        return message
    if line is None:
        return f"{path}: {message}"
    return f"{path}:{line}: {message}"


class InputError(Exception):
    """Bad input: a malformed corpus line, an unreadable checkpoint, a bad option value.

    ``str(error)`` is the whole message in the ``FILE:LINE: what is wrong`` form
    (``FILE: what is wrong`` when no line applies), ready to print as it is.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(located(message, path, line))


class InputWarning(UserWarning):
    """Input read on after a guess that the user should hear of, e.g. a line of only invisible characters.

    ``str(warning)`` is the whole message, ``FILE:LINE: what was read how``, as for :class:`InputError`.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(located(message, path, line))


# Every file and line is worth its own warning, also when a program reads the same file twice
# (the default action shows a given message once). Appended, so that filters the user sets
# (-W, PYTHONWARNINGS, warnings.filterwarnings) still win.
warnings.filterwarnings("always", category=InputWarning, append=True)


class TrainingInterrupted(Exception):
    """Training stopped by a signal (SIGINT from Ctrl-C, or SIGTERM); the resumable state is on disk.

    The CLI exits with ``128 + signum`` (130 for Ctrl-C, 143 for SIGTERM).
    """

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"interrupted by signal {signum}")


class DistributedError(Exception):
    """A training process lost the others (one died, or stopped answering), or could not join them.

    ``str(error)`` is one line that says which process noticed, while doing what, torch's reason,
    and ``advice`` (what is left to resume from); the CLI prints it and exits with code 1.
    """

    def __init__(self, rank: int, world_size: int, what: str, reason: str, advice: str = ""):
        self.rank, self.world_size, self.what, self.reason = rank, world_size, what, reason
        message = f"training process {rank} of {world_size} lost the others while {what}: {reason}"
        super().__init__(f"{message}; {advice}" if advice else message)

    def advise(self, advice: str) -> DistributedError:
        """The same error, with what the user can do about it."""
        return DistributedError(self.rank, self.world_size, self.what, self.reason, advice)


class WorkerError(Exception):
    """A tagging worker process (``--workers N``) died: killed, out of memory, or crashed.

    ``str(error)`` is one line that names the worker, its process id and how it ended; the CLI
    prints it and exits with code 1. The records before the lost ones have been written.
    """
