"""Gin files: finding them, parsing them with user-facing errors, and
keeping a caller's gin state.

A `--gin_file` is looked up as given, then in the `gin_configs/` folder of a
source checkout, then in `<prefix>/share/tfgda/gin_configs` of an installed
package; the same folders serve `include` lines inside gin files.

This module registers nothing: it parses with the configurables already
registered. `tfgda.configs.parse` registers every tfgda configurable first
(`tfgda.configurables`) and is what programs, notebooks and tests call; the
library below the trainer (a run's directory, the metrics) uses this one.
"""

import ast
import contextlib
import inspect
import logging
import os
import re
import sys

import gin

from tfgda.errors import UserError
from tfgda.errors import did_you_mean
from tfgda.errors import first_line

__all__ = ["config_dirs", "find_gin_file", "kept_gin_state", "parse"]


def config_dirs():
    """The folders searched for gin files, most specific first."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dirs = [
        os.path.join(here, "gin_configs"),
        os.path.join(sys.prefix, "share", "tfgda", "gin_configs"),
    ]
    return [d for d in dirs if os.path.isdir(d)]


def find_gin_file(name):
    """Returns the path of gin file `name`, or raises a UserError."""
    if "://" in name:  # a run's operative config on gs://, ram://...
        _read_remote_files()
        import tensorflow as tf  # pylint: disable=g-import-not-at-top

        if tf.io.gfile.exists(name):
            return name
        raise UserError(f"gin file {name!r} not found.")
    candidates = [name] + [os.path.join(d, name) for d in config_dirs()]
    if not name.endswith(".gin"):
        candidates += [c + ".gin" for c in candidates]
    for path in candidates:
        if os.path.isfile(path):
            return path
    shipped = sorted(
        os.path.relpath(os.path.join(root, f), d)
        for d in config_dirs()
        for root, _, files in os.walk(d)
        for f in files
        if f.endswith(".gin")
    )
    hint = did_you_mean(name, shipped)
    raise UserError(
        f"gin file {name!r} not found.{hint} Shipped configs: "
        f"{', '.join(shipped) or 'none'}."
    )


_REMOTE_READER = []
# The folders added to gin's include search path (once each).
_SEARCH_PATHS = set()


def _read_remote_files():
    """Lets gin read files through tf.io.gfile (gs://, ram://), once."""
    if not _REMOTE_READER:
        import tensorflow as tf  # pylint: disable=g-import-not-at-top

        gin.config.register_file_reader(tf.io.gfile.GFile, tf.io.gfile.exists)
        _REMOTE_READER.append(True)


def parse(
    gin_files=(), gin_bindings=(), finalize=True, skip_unknown_in_files=False
):
    """Parses gin files and bindings; raises UserError on any mistake.

    The configurables the files and bindings name must be registered first:
    import the modules that define them (`tfgda.training.trainer` registers
    every one a training config uses). With `skip_unknown_in_files`, bindings in
    the files to configurables not registered are ignored (a run's
    operative config read back by a tool that needs only its model); the
    bindings are always checked.
    """
    for d in config_dirs():
        if d not in _SEARCH_PATHS:
            gin.add_config_file_search_path(d)
            _SEARCH_PATHS.add(d)
    files = [find_gin_file(f) for f in gin_files]
    try:
        with _quiet_include_lookups():
            if skip_unknown_in_files:  # a run's config, maybe of an older tfgda
                for path in files:
                    gin.parse_config(_known_bindings(path), skip_unknown=True)
            else:
                gin.parse_config_files_and_bindings(
                    files, None, finalize_config=False
                )
            gin.parse_config_files_and_bindings(
                None, gin_bindings, finalize_config=finalize
            )
    except UserError:
        raise
    except Exception as e:  # gin raises ValueError, SyntaxError, TokenError...
        unquoted = _unquoted_binding(gin_bindings)
        if unquoted and "Unable to parse" in str(e):
            raise UserError(unquoted) from e
        raise UserError(
            f"gin config error: {first_line(e) or type(e).__name__}{_hint(e)}"
        ) from e


@contextlib.contextmanager
def kept_gin_state():
    """Inside, the process' gin config may be cleared and replaced (a run's,
    loaded to rebuild its models); on leaving, the caller's comes back as
    it was: bindings, macros, imports, the operative config and the lock.
    So a notebook that evaluates a run and then trains keeps its own
    bindings. (gin has no API for this: the one place that reads its
    module state.)"""
    from gin import config as state  # pylint: disable=g-import-not-at-top

    def copy(table):
        return {key: dict(value) for key, value in table.items()}

    saved = (
        copy(state._CONFIG),
        dict(state._SINGLETONS),
        set(state._IMPORTS),
        copy(state._OPERATIVE_CONFIG),
        state.config_is_locked(),
    )
    try:
        yield
    finally:
        config, singletons, imports, operative, locked = saved
        for table, old in (
            (state._CONFIG, config),
            (state._SINGLETONS, singletons),
            (state._IMPORTS, imports),
            (state._OPERATIVE_CONFIG, operative),
        ):
            table.clear()
            table.update(old)
        state._set_config_is_locked(locked)


def _known_bindings(path):
    """The text of the gin file `path` without its bindings of parameters
    that their (registered) configurable does not have: a run written by an
    older tfgda, whose settings have moved since (`_MOVED`), still loads
    for evaluation and export. Each dropped binding is logged."""
    if "://" in path:
        _read_remote_files()
        import tensorflow as tf  # pylint: disable=g-import-not-at-top

        with tf.io.gfile.GFile(path) as f:
            text = f.read()
    else:
        with open(path) as f:
            text = f.read()
    kept, dropping = [], False
    for line in text.splitlines():
        binding = re.match(r"^([\w./]+)\.(\w+)\s*=", line)
        if binding:
            dropping = not _has_parameter(*binding.groups())
            if dropping:
                logging.getLogger("absl").info(
                    "Skipped %s of %s: a setting this version does not have.",
                    line.split("=")[0].strip(),
                    path,
                )
        elif line and not line[0].isspace():
            dropping = False  # a comment, a macro, an import
        if not dropping:
            kept.append(line)
    return "\n".join(kept) + "\n"


def _has_parameter(configurable, parameter):
    """False only for a registered configurable without that parameter."""
    try:
        fn = gin.get_configurable(configurable.split("/")[-1])
    except ValueError:  # not registered here: gin's skip_unknown skips it
        return True
    params = inspect.signature(fn).parameters
    return parameter in params or any(
        p.kind == p.VAR_KEYWORD for p in params.values()
    )


# Settings that moved, for configs written before they did.
_MOVED = {
    "train.log_every": "progress.every",
    "train.image_every": "samples.every",
    "train.checkpoint_every": "checkpoints.every",
    "train.keep_checkpoints": "checkpoints.keep",
    "train.eval_every": (
        "evaluation.every, with the hook listed: train.hooks = [@evaluation()]"
    ),
    "train.eval_protocol": "evaluation.protocol",
    "train.eval_reference_path": "evaluation.reference_path",
    "train.eval_features": "evaluation.features",
    "train.leak_every": (
        "leak_check.every, with the hook listed: train.hooks = [@leak_check()]"
    ),
    "train.leak_augment": "leak_check.augmentation",
}


def _unquoted_binding(gin_bindings):
    """The message for a binding whose value is neither a Python literal nor
    a gin reference (an unquoted string), or None."""
    for binding in gin_bindings:
        name, sep, value = binding.partition("=")
        value = value.strip()
        if not sep or not value or value.startswith(("@", "%")):
            continue
        try:
            ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return (
                f"the binding {binding.strip()!r} has a value that is "
                "not a Python literal: quote strings, e.g. "
                f"{name.strip()} = '{value}'."
            )
    return None


class _DropPathNotFound(logging.Filter):
    def filter(self, record):
        return not str(record.msg).startswith(
            ("Path not found", "system_path_file_exists")
        )


@contextlib.contextmanager
def _quiet_include_lookups():
    """gin logs an error for every folder an `include` is not found in
    before the one it is found in, and a line for every lookup; those are
    expected, not news."""
    drop = _DropPathNotFound()
    logger = logging.getLogger()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def _hint(e):
    """Suggests the closest configurable name for an unknown one, or how
    to make a module a gin file imports importable."""
    text = str(e)
    missing = re.search(r"No module named '([\w.]+)'", text)
    if missing:
        return (
            f": the gin file's `import {missing.group(1)}` needs that module "
            "on the Python path (install it, or add its folder to "
            "PYTHONPATH)."
        )
    markers = [
        m
        for m in (
            "No configurable matching '",
            "No configurable matching reference '@",
        )
        if m in text
    ]
    parameter = re.search(
        r"Configurable '([\w.]+)' doesn't have a "
        r"parameter named '(\w+)'",
        text,
    )
    if parameter:
        moved = _MOVED.get(f"{parameter.group(1)}.{parameter.group(2)}")
        if moved:
            return f" {parameter.group(1)}.{parameter.group(2)} is now {moved}."
        try:
            found = gin.get_configurable(parameter.group(1))
        except ValueError:
            found = None
        names = inspect.signature(found).parameters if found else {}
        hint = did_you_mean(parameter.group(2), names)
        if hint:
            return hint
    if not markers:
        return (
            " Check the spelling against the configurables in docs/CONFIG.md."
        )
    unknown = text.split(markers[-1], 1)[1].split("'", 1)[0]
    # gin has no public list of its configurables: the one private read.
    registry = gin.config._REGISTRY  # pylint: disable=protected-access
    known = sorted({name.split(".")[-1] for name, _ in registry.items()})
    return (
        did_you_mean(unknown.split("/")[-1], known)
        or f" Known configurables: {', '.join(known)}."
    )
