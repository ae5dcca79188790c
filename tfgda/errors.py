"""The errors the command-line tools report in one line.

Command-line tools print these without a traceback and exit with the
error's `exit_status`. Each message names the problem and the fix.
"""

import difflib

__all__ = ["UserError", "WorkerLostError", "did_you_mean"]


def did_you_mean(name, known):
    """' Did you mean 'x'?' for the closest of `known` to `name`, or ''."""
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


class UserError(ValueError):
    """A problem with the user's input (config, flags, data, directories)."""

    exit_status = 2


class WorkerLostError(UserError):
    """A multi-worker job lost a worker (preempted, killed, crashed).

    The job must be restarted, every worker with its own command; it resumes
    from the chief's latest checkpoint. Exit status 75 (EX_TEMPFAIL) tells a
    scheduler that a restart is the cure.
    """

    exit_status = 75
