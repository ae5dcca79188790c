"""Configs: gin files parsed with every tfgda configurable registered,
and the sweep grid's axes.

`parse` is the one call: it registers every configurable
(`tfgda.configurables`: the modules that declare them) and parses gin
files and bindings with clear errors (`tfgda.ginfiles`, which finds the
files: as given, then in `gin_configs/` of a source checkout, then in
`<prefix>/share/tfgda/gin_configs` of an installed package).
"""

import ast
import itertools

import gin

from tfgda import configurables  # noqa: F401  (registers every configurable)
from tfgda import ginfiles
from tfgda.errors import UserError

__all__ = [
    "axis_bindings",
    "axis_names",
    "axis_values",
    "config_dirs",
    "find_gin_file",
    "gin_value",
    "kept_gin_state",
    "parse",
    "sweep",
]

# The gin files' own helpers, for users of this module.
config_dirs = ginfiles.config_dirs
find_gin_file = ginfiles.find_gin_file
kept_gin_state = ginfiles.kept_gin_state


@gin.configurable("sweep")
def sweep(grid=None):
    """The grid a config sweeps, {binding name: [values, ...]}: a gin file
    holds the points of a paper experiment this way. `tfgda.sweep` expands
    it; training a single point ignores it. A name is a `configurable.param`
    or a macro the config defines (e.g. LAMBDA_BCR, bound to both bCR
    weights). A key of several names joined by commas is one axis whose
    values are tuples, one element per name: e.g. 'augment.mode,
    LAMBDA_BCR': [('real_and_fake', 0.0), ('none', 10.0)] sweeps two
    methods, not the four combinations. In a zipped axis' tuple, a list
    stands for each of its values: ('brightness', [0.02, 0.06]) is two
    points, (['redness', 'mixup'], [0.02, 0.04]) four; so each augmentation
    can have its own strengths, as the panels of the paper's figures do (a
    list-valued parameter in a zipped tuple is written [[a, b]])."""
    return dict(grid or {})


def axis_names(axis):
    """The names a grid axis binds: 'a.b, C' -> ['a.b', 'C']."""
    return [n.strip() for n in axis.split(",")]


def axis_values(axis, values):
    """The values of one grid axis with each zipped tuple's lists expanded
    into their combinations, in order (see `sweep`)."""
    if len(axis_names(axis)) == 1:
        return list(values)
    expanded = []
    for value in values:
        if isinstance(value, tuple) and any(isinstance(v, list) for v in value):
            choices = [v if isinstance(v, list) else [v] for v in value]
            if not all(choices):
                raise UserError(
                    f"sweep axis {axis!r}: its value {value!r} holds an "
                    "empty list, which stands for no point: give the list "
                    "its values or remove the tuple."
                )
            expanded.extend(itertools.product(*choices))
        else:
            expanded.append(value)
    return expanded


def gin_value(value):
    """A Python value (or a gin reference string) as gin source text."""
    if isinstance(value, str) and value.startswith(("@", "%")):
        return value
    if isinstance(value, gin.config.ConfigurableReference):
        return str(value)  # '@name' or '%MACRO', from a gin file's grid
    if isinstance(value, tuple):
        return "(" + "".join(f"{gin_value(v)}, " for v in value) + ")"
    return repr(value)


def axis_bindings(axis, text):
    """[(name, gin value text)] of one value of a grid axis: the axis
    itself, or for a zipped axis 'a.b, C' each name with its element."""
    names = axis_names(axis)
    if len(names) == 1:
        return [(axis, text)]
    try:
        values = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        values = None
    if not isinstance(values, tuple) or len(values) != len(names):
        raise UserError(
            f"sweep axis {axis!r}: its value {text} must be a tuple of "
            f"{len(names)} literals, one per name (e.g. "
            "('real_and_fake', 0.0))."
        )
    return [(n, gin_value(v)) for n, v in zip(names, values)]


def parse(
    gin_files=(), gin_bindings=(), finalize=True, skip_unknown_in_files=False
):
    """Parses gin files and bindings, with every tfgda configurable
    registered; raises UserError on any mistake (`ginfiles.parse`)."""
    ginfiles.parse(gin_files, gin_bindings, finalize, skip_unknown_in_files)
