"""Exit codes: what the ``tagger`` commands raise, turned into one line on standard error and a number.

0 success; 2 bad input or usage (one line, ``FILE:LINE: what is wrong``); 1 anything else; 130
Ctrl-C; 143 SIGTERM during training; 141 a closed output pipe. docs/faults.md has the table.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable

import typer

from bilstm_tagger.base.errors import DistributedError, InputError, TrainingInterrupted, WorkerError
from bilstm_tagger.base.runtime import is_quiet_rank


def exit_codes(command: Callable) -> Callable:
    """Run a command, turning what it raises into a one-line message and an exit code.

    Usage errors (bad options) are typer's, exit 2. Here: bad input, exit 2 with
    ``FILE:LINE: what is wrong`` (under torchrun, from rank 0 only); a training process lost, 1;
    Ctrl-C, 130, and SIGTERM during training, 143; a closed output
    pipe, 141, quietly; a failed write (disk full), 1; anything else, exit 1 with one line
    (``BILSTM_TAGGER_DEBUG=1`` shows the traceback instead).
    """

    @functools.wraps(command)
    def run(*args, **kwargs):
        from bilstm_tagger.cli.console import RichReporter, input_warnings_reported

        try:
            with input_warnings_reported(RichReporter()):  # each one line on stderr: warning: FILE:LINE: ...
                return command(*args, **kwargs)
        except InputError as error:
            if not is_quiet_rank():  # under torchrun every process failed alike: rank 0 speaks for all
                print(str(error), file=sys.stderr)
            raise typer.Exit(2) from None
        except (DistributedError, WorkerError) as error:  # a training process or tagging worker lost: which, how
            print(f"error: {error}", file=sys.stderr)
            raise typer.Exit(1) from None
        except BrokenPipeError:
            # The reader of our output went away (``tagger tag ... | head``): stop quietly.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(141) from None
        except TrainingInterrupted as interruption:  # the reporter has said how to resume
            raise typer.Exit(128 + interruption.signum) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None
        except OSError as error:  # disk full, permissions: the message names the file
            where = f"{error.filename}: " if error.filename else ""
            print(f"error: {where}{error.strerror or error}", file=sys.stderr)
            raise typer.Exit(1) from None
        except Exception as error:  # the last line of defence: one line, exit 1
            if os.environ.get("BILSTM_TAGGER_DEBUG"):
                raise
            print(
                f"error: {type(error).__name__}: {error} (BILSTM_TAGGER_DEBUG=1 shows the traceback)", file=sys.stderr
            )
            raise typer.Exit(1) from None

    return run


def report_usage_error(error: typer.TyperException) -> int:
    context = getattr(error, "ctx", None)
    if type(error).__name__ == "NoArgsIsHelpError":
        error.show()  # a bare `tagger` or `tagger train`: the help, as asked
        return 0 if context is None or context.parent is None else 2
    command = context.command_path if context is not None else "tagger"
    print(f"{command}: {error.format_message()} (see {command} --help)", file=sys.stderr)
    return getattr(error, "exit_code", 2)
