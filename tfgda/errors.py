"""The errors the command-line tools report in one line.

Command-line tools print these without a traceback and exit with the
error's `exit_status`. Each message names the problem and the fix.
"""

import difflib

__all__ = [
    "Interrupted",
    "Terminated",
    "UserError",
    "WorkerLostError",
    "did_you_mean",
    "first_line",
    "positive_int",
    "resumes_from",
]


def first_line(error):
    """The first line of an error's message ('' if it has none): what a
    one-line report quotes of an underlying error."""
    text = (getattr(error, "message", None) or str(error)).strip()
    return text.splitlines()[0] if text else ""


def resumes_from(latest):
    """Where a rerun resumes: the checkpoint `latest`, or the run's start
    when it has none yet (every message that tells a user to rerun)."""
    return latest or "its start (no checkpoint yet)"


def did_you_mean(name, known):
    """' Did you mean 'x'?' for the closest of `known` to `name`, or ''."""
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def positive_int(name, value):
    """`value`, or a UserError naming the setting `name` if it is not a
    positive integer."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise UserError(f"{name} must be a positive integer, got {value!r}.")
    return value


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


class Interrupted(UserError):
    """A run stopped by SIGINT (Ctrl-C) after saving its checkpoint; exits
    with the conventional 128 + 2. (Statuses are class attributes: gin
    re-raises errors as proxies that keep the class, not the instance.)"""

    exit_status = 130


class Terminated(Interrupted):
    """The same for SIGTERM (what schedulers send): 128 + 15."""

    exit_status = 143
