"""Sweeps: grids of training runs, run point after point, and their results.

The library behind `python -m tfgda.sweep` (whose docstring says what a
sweep does): `expand` makes the grid from gin files and --sweep values,
`check_evaluation` checks each point's evaluation before anything trains,
`run_sweep` trains and evaluates each point with the `tfgda.train` and
`tfgda.evaluate` programs, and `write_results` gathers ROOT/results.csv.
"""

import ast
import contextlib
import csv
import dataclasses
import inspect
import io
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

import gin

from tfgda import configs
from tfgda import data as data_lib
from tfgda import rundir
from tfgda.errors import Interrupted
from tfgda.errors import Terminated
from tfgda.errors import UserError
from tfgda.metrics import evaluation
from tfgda.metrics import protocols

__all__ = [
    "COLUMNS",
    "Point",
    "Sweep",
    "archive_point",
    "check_evaluation",
    "expand",
    "gather",
    "parse_sweep",
    "run_sweep",
]

# The settings of a run that results.csv records (and the report matches
# against the paper's values), with their defaults (None: the function's).
_SETTINGS = {
    "model": ("train.model", None),
    "mode": ("augment.mode", "none"),
    "augmentation": ("augment.name", None),
    "strength": ("augment.strength", None),
    "schedule": ("augment.schedule", "constant"),
    "lambda_bcr_real": ("bcr.lambda_real", 0.0),
    "lambda_bcr_fake": ("bcr.lambda_fake", 0.0),
    "bcr_augmentation": ("bcr.augment", None),
    "bcr_inputs": ("bcr.inputs", None),
    "lambda_cntr": ("contrastive.weight", 0.0),
    "cntr_views": ("contrastive.views", "simclr"),
    "cntr_strength": ("contrastive.strength", None),
    "steps": ("train.steps", None),
    "batch_size": ("train.batch_size", 64),
    "seed": ("train.seed", 0),
}
# Every bound parameter of every regularizer a point trains with, whatever
# its kind ("bcr.lambda_real = 10.0; zcr.sigma = 0.05"): `_regularizers`.
_REGULARIZERS = "regularizers"
_METRICS = evaluation.METRIC_KEYS
COLUMNS = (
    "point",
    "bindings",
    *_SETTINGS,
    _REGULARIZERS,
    "protocol",
    "features",
    "step",
    "final",
    *_METRICS,
    "model_dir",
)


@dataclasses.dataclass(frozen=True)
class Point:
    """One run of the grid: its folder name, bindings and settings."""

    name: str
    bindings: tuple  # gin binding strings of the swept names
    settings: dict  # _SETTINGS' values for this point


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A checked grid: the base config, the swept names and the points."""

    gin_files: tuple
    bindings: tuple
    grid: dict  # name -> [gin value strings]
    points: tuple

    def record(self, protocol):
        """What ROOT/sweep.json holds: enough to tell sweeps apart."""
        return {
            "gin_files": list(self.gin_files),
            "bindings": list(self.bindings),
            "grid": self.grid,
            "protocol": protocol,
        }


def parse_sweep(text):
    """'NAME=[v1, v2]' -> (NAME, [gin value strings])."""
    name, sep, values = text.partition("=")
    name = _axis_key(name)
    one = r"[A-Za-z_][\w.]*(/[\w.]+)?"
    if not sep or not re.fullmatch(rf"{one}(, {one})*", name):
        raise UserError(
            f"--sweep {text!r} is malformed: write "
            "NAME=[v1, v2, ...], e.g. "
            '"augment.strength=[0.1, 0.2]".'
        )
    try:
        parsed = ast.literal_eval(values.strip())
    except (ValueError, SyntaxError) as e:
        raise UserError(
            f"--sweep {text!r}: the values {values.strip()!r} "
            "are not a list of Python literals (quote "
            "strings: ['translation', 'zoom_out'])."
        ) from e
    if not isinstance(parsed, list) or not parsed:
        raise UserError(
            f"--sweep {text!r}: the values must be a non-empty "
            "list, e.g. [0.1, 0.2]."
        )
    return name, [
        configs.gin_value(v) for v in configs.axis_values(name, parsed)
    ]


def _axis_key(axis):
    """'a.b ,C' -> 'a.b, C': one spelling of a (zipped) axis' names."""
    return ", ".join(configs.axis_names(axis))


def _check_disjoint(grid):
    """Raises if two axes bind one name (the later would silently win)."""
    seen = {}
    for axis in grid:
        for name in configs.axis_names(axis):
            if name in seen:
                raise UserError(
                    f"sweep axes {seen[name]!r} and {axis!r} both bind "
                    f"{name}: sweep the config's axis itself, e.g. --sweep "
                    f'"{seen[name]}=[...]", which replaces its values.'
                )
            seen[name] = axis


def expand(gin_files, bindings=(), sweeps=()):
    """Checks the grid of gin_files + bindings + sweeps; returns a Sweep.

    Raises a UserError, before anything runs, for a name that is not
    bindable, a malformed value list, or a point whose config is wrong.
    """
    gin.clear_config()
    configs.parse(gin_files, bindings)
    grid = {
        _axis_key(name): [
            configs.gin_value(v) for v in configs.axis_values(name, values)
        ]
        for name, values in configs.sweep().items()
    }
    for text in sweeps:
        name, values = parse_sweep(text)
        grid[name] = values
    _check_disjoint(grid)
    for axis, values in grid.items():
        for value in values:
            for name, text in configs.axis_bindings(axis, value):
                _check_bindable(name, text)
    points = []
    for values in itertools.product(*grid.values()):
        pairs = [
            pair
            for axis, value in zip(grid, values)
            for pair in configs.axis_bindings(axis, value)
        ]
        point_bindings = tuple(f"{n} = {v}" for n, v in pairs)
        points.append(
            Point(
                _point_name(*zip(*pairs)) if pairs else "run",
                point_bindings,
                _check_point(gin_files, bindings, point_bindings),
            )
        )
    gin.clear_config()
    return Sweep(tuple(gin_files), tuple(bindings), grid, tuple(points))


def _check_bindable(name, value):
    """Raises unless `name` is a configurable's parameter or a macro the
    base config defines (call with the base config parsed)."""
    if "." in name:
        try:
            with gin.unlock_config():
                gin.parse_config(f"{name} = {value}")
        except Exception as e:  # gin raises ValueError, SyntaxError...
            reason = str(e).strip().splitlines()[0]
            raise UserError(
                f"--sweep name {name!r} is not bindable: "
                f"{reason} (see docs/CONFIG.md)."
            ) from e
        return
    try:
        gin.query_parameter(f"%{name}")
    except ValueError as e:
        raise UserError(
            f"--sweep name {name!r} is not bindable: it is "
            "neither a configurable.parameter nor a macro that "
            "the config defines (e.g. LAMBDA_BCR in "
            "paper/fig3_sndcgan_real_and_fake.gin)."
        ) from e


def _check_point(gin_files, bindings, point_bindings):
    """Parses one point's config and checks what a run checks first; returns
    its settings."""
    from tfgda import augment  # pylint: disable=g-import-not-at-top
    from tfgda.training import regularizers  # pylint: disable=g-import-not-at-top

    gin.clear_config()
    where = ", ".join(point_bindings) or "the config"
    try:
        configs.parse(gin_files, [*bindings, *point_bindings])
        settings = {
            key: _query(name, default)
            for key, (name, default) in _SETTINGS.items()
        }
        made = regularizers.from_config()
        augment.check_used(augment.augment(total_steps=settings["steps"]), made)
        settings[_REGULARIZERS] = _regularizers(made)
    except UserError as e:
        raise UserError(f"sweep point {where}: {e}") from e
    return settings


def _regularizers(made):
    """'<name>.<parameter> = <value>; ...': every parameter the config binds
    of each regularizer in `made` (by its configurable, named as the
    regularizer), macros resolved; '' for none."""
    bound = []
    for r in made:
        try:
            names = sorted(gin.get_bindings(r.name))
        except ValueError:  # no configurable of that name
            continue
        bound += [
            f"{r.name}.{n} = {_query(f'{r.name}.{n}', None)!r}" for n in names
        ]
    return "; ".join(bound)


def _query(name, default):
    """A binding's value with macros resolved; references by name. Unbound:
    `default`, or if None the default in the configurable's signature."""
    try:
        value = gin.query_parameter(name)
    except ValueError:
        if default is not None:
            return default
        configurable, _, parameter = name.rpartition(".")
        found = gin.get_configurable(configurable)
        value = inspect.signature(found).parameters[parameter].default
        value = getattr(value, "__name__", value)  # e.g. models.sndcgan
        return (
            None
            if value is inspect.Parameter.empty or value is gin.REQUIRED
            else value
        )
    while isinstance(value, gin.config.ConfigurableReference):
        if not str(value).startswith("%"):
            return value.configurable.name  # a reference, e.g. sndcgan
        value = gin.query_parameter(str(value))  # a macro
    return value


def _point_name(names, values):
    """A readable, file-system-safe folder name for a point."""
    parts = [
        f"{n.split('.')[-1]}={v.strip(chr(39) + chr(34))}"
        for n, v in zip(names, values)
    ]
    name = re.sub(r"[^\w.,=+@-]+", "_", ",".join(parts)).strip("_")
    if len(name) > 120:
        import hashlib  # pylint: disable=g-import-not-at-top

        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[:100]}-{digest}"
    return name


# ------------------------------------------------------------------- running
def check_root(root, sweep, protocol, create):
    """Raises unless root is empty, new, or holds this very sweep."""
    if not root:
        raise UserError("--root is required: the sweep's directory.")
    if os.path.exists(root) and not os.path.isdir(root):
        raise UserError(f"--root {root!r} is a file: choose a directory.")
    record_path = os.path.join(root, rundir.SWEEP_RECORD)
    record = sweep.record(protocol)
    if os.path.exists(record_path):
        with open(record_path) as f:
            existing = json.load(f)
        if existing != record:
            changed = sorted(k for k in record if existing.get(k) != record[k])
            raise UserError(
                f"--root {root!r} holds another sweep's results (its "
                f"sweep.json differs in {', '.join(changed)}): choose "
                "another --root, or rerun that sweep's own command to "
                "resume it."
            )
    elif os.path.isdir(root) and os.listdir(root):
        raise UserError(
            f"--root {root!r} is not empty and holds no "
            "sweep.json: choose a new or empty --root."
        )
    elif create:
        os.makedirs(root, exist_ok=True)
        _write_json(record_path, record)


def _write_json(path, value):
    rundir.write_atomically(path, json.dumps(value, indent=2))


def commands(sweep, point, model_dir, eval_flags, checkpoints="last"):
    """The train and evaluate command lines of a point."""
    python = [sys.executable, "-m"]
    train_cmd = [*python, "tfgda.train", f"--model_dir={model_dir}"]
    train_cmd += [f"--gin_file={f}" for f in sweep.gin_files]
    train_cmd += [
        f"--gin_bindings={b}" for b in (*sweep.bindings, *point.bindings)
    ]
    which = "latest" if checkpoints == "last" else "all"
    eval_cmd = [
        *python,
        "tfgda.evaluate",
        f"--model_dir={model_dir}",
        f"--checkpoint={which}",
        *eval_flags,
    ]
    return train_cmd, eval_cmd


def _result_folder(protocol, features):
    return os.path.join("eval", evaluation.result_folder(protocol, features))


def _result_path(model_dir, protocol, step, features):
    return rundir.result_path(
        model_dir, _result_folder(protocol, features), step
    )


def run_sweep(
    sweep,
    root,
    protocol,
    eval_flags=(),
    dry_run=False,
    out=sys.stdout,
    poll_seconds=30.0,
    checkpoints="last",
    features="inception",
    archive=None,
):
    """Runs (or with dry_run prints) every point; returns the points that
    failed. checkpoints: evaluate each point's 'last' checkpoint or 'all'
    those on disk. features: the feature network of the evaluation
    (`--features`; eval_flags must pass the same on). archive: a folder
    that keeps each finished point's small results (`archive_point`); a
    point found there is finished, and is not trained again even when
    ROOT no longer holds its run."""
    check_root(root, sweep, protocol, create=not dry_run)
    if archive and os.path.exists(archive) and not os.path.isdir(archive):
        raise UserError(f"--archive {archive!r} is a file: choose a folder.")
    failed = []
    total = len(sweep.points)
    for index, point in enumerate(sweep.points, 1):
        model_dir = os.path.join(root, point.name)
        train_cmd, eval_cmd = commands(
            sweep, point, model_dir, eval_flags, checkpoints
        )
        if dry_run:
            print(
                f"{shlex.join(train_cmd)} && {shlex.join(eval_cmd)}", file=out
            )
            continue
        tag = f"[{index}/{total}] {point.name}"
        result = _result_path(
            model_dir, protocol, point.settings["steps"], features
        )
        kept = archive and _finished(
            os.path.join(archive, point.name), point, protocol, features
        )
        if os.path.exists(result) or kept:
            if archive and not kept:  # finished before the archive was asked
                archive_point(model_dir, os.path.join(archive, point.name))
            where = f" (kept in {archive})" if kept else ""
            print(
                f"{tag}: finished before{where}, skipped", file=out, flush=True
            )
            continue
        os.makedirs(model_dir, exist_ok=True)
        _write_json(
            os.path.join(model_dir, "point.json"),
            {"bindings": list(point.bindings), "settings": point.settings},
        )
        start = time.time()
        log = os.path.join(model_dir, "sweep.log")
        for stage, cmd in (("training", train_cmd), ("evaluating", eval_cmd)):
            if (
                stage == "evaluating"
                and os.path.exists(result)
                and checkpoints == "last"
            ):
                continue  # the evaluation hook evaluated the last step
            print(f"{tag}: {stage} (log: {log})", file=out, flush=True)
            status = _run_logged(cmd, log, out, tag, poll_seconds)
            if status:
                failed.append(point)
                print(
                    f"{tag}: {stage} failed with status {status}; "
                    f"last lines of {log}:\n{_tail(log)}",
                    file=out,
                    flush=True,
                )
                break
        else:
            scores = evaluation.summary(
                rundir.read_result(
                    model_dir,
                    _result_folder(protocol, features),
                    point.settings["steps"],
                )
            )
            seconds = time.time() - start
            print(
                f"{tag}: {scores} after {_duration(seconds)}",
                file=out,
                flush=True,
            )
            if archive:
                kept = archive_point(
                    model_dir, os.path.join(archive, point.name), seconds
                )
                print(f"{tag}: results kept in {kept}", file=out, flush=True)
        write_results(root, sweep, protocol, features, archive)
    if not dry_run:
        write_results(root, sweep, protocol, features, archive)
    return failed


def _finished(model_dir, point, protocol, features):
    return os.path.exists(
        _result_path(model_dir, protocol, point.settings["steps"], features)
    )


# What a point's archive keeps: small files only, never checkpoints.
_KEPT = ("operative_config.gin", "run_info.json", "point.json", "sweep.log")


def archive_point(model_dir, dest, wall_seconds=None):
    """Copies a finished point's small results to `dest`: every evaluation
    result under eval/ (JSON and PNG), its configs, its log and its last
    sample grid, with the wall time of the run that finished it in
    point.json; never a checkpoint. Written beside `dest` and then moved
    into place, so a half-written copy never counts as finished. Returns
    dest."""
    partial = dest.rstrip("/") + ".partial"
    if os.path.exists(partial):
        shutil.rmtree(partial)
    os.makedirs(partial)
    for name in _KEPT:
        if os.path.exists(os.path.join(model_dir, name)):
            shutil.copy2(os.path.join(model_dir, name), partial)
    eval_dir = os.path.join(model_dir, "eval")
    for folder, _, files in os.walk(eval_dir):
        for name in files:
            if name.endswith((".json", ".png")):
                target = os.path.join(
                    partial, "eval", os.path.relpath(folder, eval_dir)
                )
                os.makedirs(target, exist_ok=True)
                shutil.copy2(os.path.join(folder, name), target)
    samples = rundir.sample_grids(model_dir)
    if samples:  # where the report looks for a point's grid
        os.makedirs(os.path.join(partial, "samples"))
        shutil.copy2(samples[-1][1], os.path.join(partial, "samples"))
    if wall_seconds is not None:
        path = os.path.join(partial, "point.json")
        record = {}
        if os.path.exists(path):
            with open(path) as f:
                record = json.load(f)
        record["wall_seconds"] = round(wall_seconds, 1)
        _write_json(path, record)
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.rename(partial, dest)
    return dest


def _run_logged(cmd, log, out, tag, poll_seconds):
    """Runs cmd with its output appended to log; echoes its latest progress
    line every poll_seconds. Returns the exit status.

    Ctrl-C (SIGINT), SIGTERM and SIGHUP are caught by a handler of its own
    while the child runs, not as a KeyboardInterrupt, which could land
    anywhere in this loop (in the echo, say) and leave the child training;
    a handler installed here also works where the sweep was started with
    SIGINT ignored. The child runs in a session of its own, so that a
    terminal's Ctrl-C (sent to its whole foreground group) reaches the
    sweep alone, which passes on exactly one signal: a second would stop
    the trainer at once, without the save of its step."""
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
    )
    interrupted = []
    with open(log, "a") as f, _catching_stops(interrupted):
        f.write(f"$ {shlex.join(cmd)}\n")
        f.flush()
        process = subprocess.Popen(
            cmd,
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # signals reach it through the sweep
        )
        shown, echo_at = None, time.time() + poll_seconds
        try:
            while True:
                try:
                    return process.wait(timeout=0.25)
                except subprocess.TimeoutExpired:
                    pass
                if interrupted:
                    _stop_saving(process, interrupted[0])
                    stopped = (
                        Interrupted
                        if interrupted[0] == signal.SIGINT
                        else Terminated
                    )
                    raise stopped(
                        f"{tag}: interrupted; the point's run saved its "
                        f"step (log: {log}). Rerun the same tfgda.sweep "
                        "command to resume: finished points are skipped."
                    )
                if time.time() >= echo_at:
                    echo_at = time.time() + poll_seconds
                    line = _last_progress(log)
                    if line and line != shown:
                        print(f"{tag}: {line}", file=out, flush=True)
                        shown = line
        except Interrupted:
            raise
        except BaseException:
            process.kill()
            process.wait()
            raise


_STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _catching_stops(received):
    """Inside, SIGINT, SIGTERM and SIGHUP append to `received` instead of
    stopping the sweep (main thread only: elsewhere signals stay as they
    are)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        signum: signal.signal(
            signum, lambda signum, frame: received.append(signum)
        )
        for signum in _STOPS
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_saving(process, signum, seconds=600):
    """A stop of the sweep: the child trainer gets one signal, SIGINT for
    a Ctrl-C and SIGTERM otherwise (the trainer has no SIGHUP handler),
    saves its step and exits; it is killed only if it has not after
    `seconds`."""
    if process.poll() is None:
        process.send_signal(
            signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM
        )
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _last_progress(log):
    with open(log, errors="replace") as f:
        lines = [
            x
            for x in f.read().splitlines()[-50:]
            if re.search(r"step \d+/\d+", x)
        ]
    return lines[-1].split("] ", 1)[-1].strip() if lines else None


def _tail(path, n=10):
    with open(path, errors="replace") as f:
        return "\n".join(f.read().splitlines()[-n:])


def _duration(seconds):
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s"


# ------------------------------------------------------------------- results
def gather(root, sweep, protocol, features="inception", archive=None):
    """One row per evaluated checkpoint of each finished point (its final
    step evaluated), in step order; `final` marks the last step's row. A
    point is read from its archived copy when it has one (which outlives
    root's runs: a machine replaced), else from root."""
    rows = []
    for point in sweep.points:
        steps = point.settings["steps"]
        for base in filter(None, (archive, root)):  # the kept copy first
            model_dir = os.path.join(base, point.name)
            last = _result_path(model_dir, protocol, steps, features)
            if os.path.exists(last):
                break
        else:
            continue
        folder = _result_folder(protocol, features)
        for step, result in rundir.read_results(model_dir, folder):
            row = {
                "point": point.name,
                "bindings": "; ".join(point.bindings),
                **point.settings,
                "protocol": protocol,
                "features": features,
                "step": result["step"],
                "final": step == steps,
                "model_dir": model_dir,
            }
            row.update({k: result.get(k) for k in _METRICS})
            rows.append(row)
    return rows


def write_results(root, sweep, protocol, features="inception", archive=None):
    """Writes ROOT/results.csv (atomically), and a copy in the archive if
    there is one; returns its rows."""
    rows = gather(root, sweep, protocol, features, archive)
    text = io.StringIO()
    writer = csv.DictWriter(text, COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    rundir.write_atomically(os.path.join(root, "results.csv"), text.getvalue())
    if archive and os.path.isdir(archive):  # the archive: a report's root
        rundir.write_atomically(
            os.path.join(archive, "results.csv"), text.getvalue()
        )
        record = os.path.join(root, rundir.SWEEP_RECORD)
        if os.path.exists(record):
            with open(record) as f:
                _write_json(
                    os.path.join(archive, rundir.SWEEP_RECORD), json.load(f)
                )
    return rows


@data_lib.shared_indexes()  # points that share an archive: one index
def check_evaluation(
    sweep,
    protocol,
    reference_path=None,
    inception=None,
    features="inception",
    feature_weights=None,
):
    """Raises a UserError, before any point trains, if its evaluation would
    fail: an unknown protocol, an archive run without the protocol's
    reference images, or a feature network that cannot be loaded."""
    parsed = protocols.parse(protocol)
    for point in sweep.points:
        gin.clear_config()
        configs.parse(sweep.gin_files, [*sweep.bindings, *point.bindings])
        path = _query("dataset.path", None)
        run_info = {
            "dataset": "images" if path else _query("dataset.name", None),
            "source": path,
            "image_shape": [32, 32, 3],
        }
        evaluation.real_images_source(
            run_info,
            parsed.split,
            reference_path,
            needed_by=f"protocol {parsed.name} (--protocol)",
        )
        evaluation.check_reference_count(run_info, parsed, reference_path)
    gin.clear_config()
    evaluation.load_features(features, inception, feature_weights)
