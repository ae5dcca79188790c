"""What a tfgda program shows on its console.

By default only tfgda's own lines: progress, where files go, warnings. Hidden
are TensorFlow's C++ start-up lines (printed when TensorFlow is imported,
whatever TF_CPP_MIN_LOG_LEVEL says), its C++ run-time logs
(TF_CPP_MIN_LOG_LEVEL defaults to 3 unless it is set) and its Python INFO and
WARNING logs (e.g. deprecation notices). A verbosity of 1 or more brings them
all back: the tools' `--verbosity=1` flag (absl's, also `-v 1`), or the
environment variable TFGDA_VERBOSITY=1 (for notebooks, and for the training
runs a sweep starts).

`import tfgda` imports TensorFlow through `import_tensorflow_quietly`, so the
start-up lines are gone before a tool's own imports run.
"""

import contextlib
import logging
import os
import sys
import tempfile

from absl import logging as absl_logging

__all__ = ["ENV", "import_tensorflow_quietly", "setup_logging", "verbosity"]

ENV = "TFGDA_VERBOSITY"
_VERBOSITY_FLAGS = ("--verbosity", "-v", "--v")


def verbosity(argv=None):
    """The verbosity asked for: the last --verbosity / -v in argv, else
    $TFGDA_VERBOSITY, else 0. A value that is not an integer counts as 0
    (absl reports a bad flag value itself)."""
    argv = sys.argv[1:] if argv is None else argv
    value = os.environ.get(ENV, "0")
    for i, arg in enumerate(argv):
        name, eq, rest = arg.partition("=")
        if name in _VERBOSITY_FLAGS:
            if eq:
                value = rest
            elif i + 1 < len(argv):
                value = argv[i + 1]
    try:
        return int(value)
    except ValueError:
        return 0


@contextlib.contextmanager
def _stderr_held():
    """Sends file descriptor 2 (where C++ writes) to a temporary file; on an
    exception, what was written is passed on to the real stderr."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    with tempfile.TemporaryFile() as held:
        sys.stderr.flush()
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            os.write(2, held.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow_quietly():
    """Imports TensorFlow without its C++ start-up lines, unless the
    verbosity is 1 or more or TensorFlow is already imported."""
    if "tensorflow" in sys.modules or verbosity() >= 1:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_held():
        import tensorflow  # noqa: F401


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _own_or_warning(record):
    """tfgda's lines, and other packages' warnings and errors (TensorFlow
    also logs INFO lines through absl, e.g. on every checkpoint)."""
    return record.levelno >= logging.WARNING or record.pathname.startswith(
        _PACKAGE_DIR
    )


class _Formatter(logging.Formatter):
    """`12:06:04 step 20/20 ...`; warnings and errors say so."""

    def __init__(self):
        super().__init__("%(asctime)s %(message)s", datefmt="%H:%M:%S")

    def format(self, record):
        line = super().format(record)
        if record.levelno >= logging.WARNING:
            stamp, _, message = line.partition(" ")
            return f"{stamp} {record.levelname.lower()}: {message}"
        return line


def setup_logging(verbose):
    """For a tool's run, after its flags are parsed. verbose: the
    verbosity (`verbosity()`, or absl's parsed flag)."""
    if verbose >= 1:
        os.environ[ENV] = str(verbose)  # for the programs a tool starts
        return
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    handler = absl_logging.get_absl_handler()
    handler.setFormatter(_Formatter())
    if _own_or_warning not in handler.filters:
        handler.addFilter(_own_or_warning)
