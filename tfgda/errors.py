"""The error type for mistakes a user can fix.

Command-line tools print a `UserError` as one line, without a traceback, and
exit with status 2. Its message names the problem and the fix.
"""

__all__ = ["UserError"]


class UserError(ValueError):
    """A problem with the user's input (config, flags, data, directories)."""
