"""Reports of a sweep: the paper's layouts, beside the paper's values.

The library behind `python -m tfgda.report` (whose docstring lists what it
draws): `write_report(root, out)` reads ROOT/results.csv and sweep.json and
writes the figures and results.md.
"""

import ast
import csv
import itertools
import json
import math
import os
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tfgda import augment  # noqa: E402
from tfgda import configs  # noqa: E402
from tfgda import rundir  # noqa: E402
from tfgda.errors import UserError  # noqa: E402

__all__ = [
    "Group",
    "draw",
    "group_rows",
    "paper_values",
    "read_sweep",
    "samples",
    "score_name",
    "write_report",
]

PAPER_VALUES = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "paper_values.csv"
)
_SEED = "train.seed"
# The settings a paper value is matched on, with the defaults of a run.
_MATCH = {
    "model": "",
    "mode": "none",
    "augmentation": "",
    "strength": "",
    "schedule": "constant",
    "lambda_bcr_real": "0",
    "lambda_bcr_fake": "0",
    "bcr_inputs": "clean",
    "lambda_cntr": "0",
}


def read_sweep(root):
    """(grid, rows) of a sweep directory; rows as dicts of strings."""
    paths = [os.path.join(root, n) for n in ("sweep.json", "results.csv")]
    for path in paths:
        if not os.path.exists(path):
            raise UserError(
                f"{path!r} does not exist: --root must be a "
                "directory written by tfgda.sweep."
            )
    with open(paths[0]) as f:
        grid = json.load(f)["grid"]
    with open(paths[1], newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise UserError(
            f"{paths[1]!r} has no finished run yet: run the sweep first."
        )
    return grid, rows


def _bindings(row):
    """The swept bindings of a row, {name: Python value}."""
    out = {}
    for part in filter(None, row["bindings"].split("; ")):
        name, _, text = part.partition(" = ")
        out[name] = _literal(text)
    return out


class Group:
    """The rows of one point, over seeds and evaluated checkpoints.

    `fid`, `spread` and `median` are of each seed's last checkpoint (the
    rule the paper's numbers are compared with); `best` averages each
    seed's lowest FID over its evaluated checkpoints (optimistic: it picks
    the checkpoint with the test set). For a sweep scored with the offline
    classifier they are its Frechet distance, FCD (`score_name`).
    """

    def __init__(self, key, rows):
        self.key = key  # ((name, value), ...) without the seed
        self.rows = rows
        column = score_name(rows).lower()
        finals = [
            r for r in rows if str(r.get("final", "True")) in ("True", "")
        ]  # results.csv rows written before `final` existed
        self.fids = [float(r[column]) for r in finals]
        by_seed = {}
        for row in rows:
            by_seed.setdefault(row.get("seed"), []).append(float(row[column]))
        self.best_fids = [min(fids) for fids in by_seed.values()]

    @property
    def fid(self):
        return statistics.fmean(self.fids)

    @property
    def spread(self):
        return statistics.stdev(self.fids) if len(self.fids) > 1 else 0.0

    @property
    def median(self):
        return statistics.median(self.fids)

    @property
    def best(self):
        return statistics.fmean(self.best_fids)

    @property
    def values(self):
        return dict(self.key)


def score_name(rows):
    """'FID', or 'FCD' for results of the offline classifier's features
    (never compared with the paper's FIDs)."""
    features = rows[0].get("features") if rows else None
    return "FID" if features in (None, "", "inception") else "FCD"


def group_rows(rows):
    """Groups rows by their bindings other than the seed, in order."""
    groups = {}
    for row in rows:
        key = tuple((n, v) for n, v in _bindings(row).items() if n != _SEED)
        groups.setdefault(key, []).append(row)
    return [Group(k, v) for k, v in groups.items()]


def paper_values(path=PAPER_VALUES):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _same(a, b):
    a, b = a or "", b or ""
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-6)
    except ValueError:
        return a == b


def match_paper(row, values):
    """The paper value for a row's setting, or None."""
    for value in values:
        if all(
            _same(row.get(k) or default, value.get(k) or default)
            for k, default in _MATCH.items()
        ):
            return value
    return None


def _baseline(rows, values):
    """The paper's baseline FID for the sweep's model, or None."""
    models = {r["model"] for r in rows}
    for value in values:
        if (
            value["mode"] == "none"
            and value["model"] in models
            and float(value["lambda_bcr_real"]) == 0
            and float(value["lambda_cntr"]) == 0
        ):
            return float(value["fid"]), value["source"]
    return None


def _layout(grid):
    swept = [n for n in grid if n != _SEED]
    numeric = [
        n
        for n in swept
        if all(isinstance(_literal(v), (int, float)) for v in grid[n])
    ]
    if _panels(grid)[0]:
        return "bars"
    if len(swept) == 2 and len(numeric) == 2:
        return "heatmap"
    return "points"


def _axis_values(axis, text):
    """[(name, Python value)] of one value of a grid axis (a zipped axis
    gives one pair per name)."""
    return [
        (name, _literal(value))
        for name, value in configs.axis_bindings(axis, text)
    ]


def _literal(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def draw(grid, rows, values=None):
    """{figure name: matplotlib Figure} in the sweep's layout."""
    values = paper_values() if values is None else values
    groups = group_rows(rows)
    layout = _layout(grid)
    name = score_name(rows)
    baseline = _baseline(rows, values) if name == "FID" else None
    if layout == "bars":
        return {"bars": _bars(grid, groups, baseline, name)}
    if layout == "heatmap":
        return {"heatmap": _heatmap(grid, groups, name)}
    return {"points": _points(groups, baseline, name)}


def _family_rows(names):
    """Augmentation names split as the paper's figures: spatial first."""

    def family(name):
        try:
            return augment.describe(name).family
        except UserError:
            return "other"

    spatial = [n for n in names if family(n) == "spatial"]
    return [r for r in (spatial, [n for n in names if n not in spatial]) if r]


def _panels(grid):
    """({augmentation: [its strengths]}, the axes they come from) of a
    grid that sweeps augment.name, alone or zipped with augment.strength
    (each augmentation at its own strengths, as in the paper's Figs. 3
    and 5); ({}, set()) otherwise."""
    for axis, texts in grid.items():
        names = configs.axis_names(axis)
        if "augment.name" not in names:
            continue
        panels = {}
        for text in texts:
            pairs = dict(_axis_values(axis, text))
            strengths = panels.setdefault(pairs["augment.name"], [])
            if pairs.get("augment.strength") not in strengths:
                strengths.append(pairs.get("augment.strength"))
        axes = {axis}
        if "augment.strength" not in names:
            shared = [_literal(v) for v in grid.get("augment.strength", [None])]
            panels = {n: list(shared) for n in panels}
            axes.add("augment.strength")
        return panels, axes
    return {}, set()


def _bars(grid, groups, baseline, name="FID"):
    panels, panel_axes = _panels(grid)
    names = list(panels)
    shared = len({tuple(v) for v in panels.values()}) == 1
    others = [n for n in grid if n not in (_SEED, *panel_axes)]
    columns = [
        tuple(
            pair for n, v in zip(others, combo) for pair in _axis_values(n, v)
        )
        for combo in itertools.product(*(grid[n] for n in others))
    ]
    family_rows = _family_rows(names)
    fig, axes = plt.subplots(
        len(family_rows),
        len(columns),
        squeeze=False,
        figsize=(5 + 4 * len(columns), 3.2 * len(family_rows)),
    )
    count = max(len(v) for v in panels.values())
    width = 0.8 / count
    for j, column in enumerate(columns):
        for i, row_names in enumerate(family_rows):
            ax = axes[i][j]
            for k in range(count):
                heights, errors, xs = [], [], []
                for x, op in enumerate(row_names):
                    if k >= len(panels[op]):
                        continue
                    group = _find(
                        groups,
                        {
                            "augment.name": op,
                            "augment.strength": panels[op][k],
                            **dict(column),
                        },
                    )
                    if group:
                        xs.append(x + (k - (count - 1) / 2) * width)
                        heights.append(group.fid)
                        errors.append(group.spread)
                if not shared:
                    label = f"strength {k + 1} of {count}"
                elif (strength := panels[names[0]][k]) is not None:
                    label = f"lambda_aug {strength}"
                else:
                    label = None
                ax.bar(xs, heights, width, yerr=errors or None, label=label)
            if baseline:
                ax.axhline(
                    baseline[0],
                    color="red",
                    linestyle="--",
                    label=f"paper baseline {baseline[0]}",
                )
            ax.set_xticks(range(len(row_names)))
            ax.set_xticklabels(
                [
                    op if shared else f"{op} ({_span(panels[op])})"
                    for op in row_names
                ],
                rotation=30,
                ha="right",
            )
            ax.set_ylabel(f"{name} (last checkpoint)")
            if i == 0:
                ax.set_title(
                    ", ".join(f"{n} = {v}" for n, v in column)
                    or f"{name} per augmentation and strength"
                )
    if axes[0][-1].get_legend_handles_labels()[0]:
        axes[0][-1].legend(fontsize="small")
    fig.tight_layout()
    return fig


def _span(strengths):
    """'0.02-0.1': a panel's strengths, for its tick label."""
    known = [v for v in strengths if v is not None]
    return f"{min(known)}-{max(known)}" if known else "default"


def _find(groups, wanted):
    for group in groups:
        have = group.values
        if all(
            _same(str(have.get(n)), str(v))
            for n, v in wanted.items()
            if v is not None
        ):
            return group
    return None


def _heatmap(grid, groups, name="FID"):
    y_name, x_name = [n for n in grid if n != _SEED]
    ys = [_literal(v) for v in grid[y_name]]
    xs = [_literal(v) for v in grid[x_name]]
    cells = [[math.nan] * len(xs) for _ in ys]
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            group = _find(groups, {y_name: y, x_name: x})
            if group:
                cells[i][j] = group.fid
    fig, ax = plt.subplots(figsize=(1.2 * len(xs) + 3, 0.8 * len(ys) + 2))
    image = ax.imshow(cells, cmap="viridis_r", aspect="auto")
    for i in range(len(ys)):
        for j in range(len(xs)):
            if not math.isnan(cells[i][j]):
                ax.text(
                    j,
                    i,
                    f"{cells[i][j]:.2f}",
                    ha="center",
                    va="center",
                    color="white",
                    fontsize="small",
                )
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels([str(x) for x in xs])
    ax.set_yticks(range(len(ys)))
    ax.set_yticklabels([str(y) for y in ys])
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    fig.colorbar(image, ax=ax, label=f"{name} (last checkpoint)")
    fig.tight_layout()
    return fig


def _points(groups, baseline, name="FID"):
    fig, ax = plt.subplots(figsize=(2 + 0.9 * len(groups), 4))
    labels = [
        "\n".join(f"{n.split('.')[-1]}={v}" for n, v in g.key) or "run"
        for g in groups
    ]
    ax.bar(
        range(len(groups)),
        [g.fid for g in groups],
        yerr=[g.spread for g in groups],
    )
    if baseline:
        ax.axhline(
            baseline[0],
            color="red",
            linestyle="--",
            label=f"paper baseline {baseline[0]}",
        )
        ax.legend(fontsize="small")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(labels, fontsize="small")
    ax.set_ylabel(f"{name} (last checkpoint)")
    fig.tight_layout()
    return fig


def markdown(groups, values):
    """The table of our FID beside the paper's, one row per point (an FCD
    table has no paper column: the paper reports FIDs)."""
    name = score_name([g.rows[0] for g in groups])
    lines = [
        f"| point | runs | steps | protocol | {name} last (ours) | "
        f"{name} median | {name} best | FID (paper) | paper source |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for group in groups:
        first = group.rows[0]
        paper = match_paper(first, values) if name == "FID" else None
        ours = f"{group.fid:.2f}" + (
            f" ± {group.spread:.2f}" if len(group.fids) > 1 else ""
        )
        label = ", ".join(f"{n} = {v}" for n, v in group.key) or "the run"
        lines.append(
            f"| {label} | {len(group.fids)} | {first['steps']} | "
            f"{first['protocol']} | {ours} | {group.median:.2f} | "
            f"{group.best:.2f} | "
            f"{paper['fid'] if paper else _no_paper(name)} | "
            f"{paper['source'] if paper else '-'} |"
        )
    return "\n".join(lines) + "\n"


def samples(groups):
    """A figure of each point's last sample grid (of its first seed) side
    by side, titled with the point and step; None if no run kept grids."""
    found = []
    for group in groups:
        row = group.rows[0]
        folder = os.path.join(row.get("model_dir") or "", "samples")
        names = sorted(
            n
            for n in (os.listdir(folder) if os.path.isdir(folder) else [])
            if n.startswith("step_") and n.endswith(".png")
        )
        if names:
            label = (
                "\n".join(
                    f"{n.split('.')[-1]}={v}"
                    for n, v in group.key
                    if n != _SEED
                )
                or "run"
            )
            step = int(names[-1][len("step_") : -len(".png")])
            found.append(
                (
                    f"{label}\nseed {row.get('seed')}, step {step}",
                    plt.imread(os.path.join(folder, names[-1])),
                )
            )
    if not found:
        return None
    fig, axes = plt.subplots(
        1, len(found), squeeze=False, figsize=(2.6 * len(found), 3.4)
    )
    for ax, (title, image) in zip(axes[0], found):
        ax.imshow(image)
        ax.set_title(title, fontsize="x-small")
        ax.axis("off")
    fig.tight_layout()
    return fig


def _no_paper(name):
    return "not in the text" if name == "FID" else "not comparable (FCD)"


def write_report(root, out=None):
    """Writes the figures and results.md; returns their paths."""
    out = out or os.path.join(root, "report")
    run_file = rundir.find_run_files(out)
    if run_file:
        raise UserError(
            f"--out {out!r} holds a training run or sweep ({run_file}): "
            "the report would write its files among them; choose a new "
            "folder (the default is ROOT/report)."
        )
    grid, rows = read_sweep(root)
    values = paper_values()
    os.makedirs(out, exist_ok=True)
    paths = []
    figures = draw(grid, rows, values)
    for name, fig in figures.items():
        path = os.path.join(out, f"{name}.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    groups = group_rows(rows)
    grids = samples(groups)
    if grids:
        path = os.path.join(out, "samples.png")
        grids.savefig(path, dpi=120)
        plt.close(grids)
        paths.append(path)
        figures = {**figures, "samples": grids}
    text = [
        f"# Results of the sweep in {root}",
        "",
        *[f"![{n}]({n}.png)" for n in figures],
        "",
        markdown(groups, values),
        f"{score_name(rows)} last: each seed's last checkpoint, mean ± "
        "standard deviation over seeds (the figures show it; the "
        "paper's numbers are compared with it); median: of the same "
        "over seeds; best: each seed's lowest score over its evaluated "
        "checkpoints, averaged (optimistic: the checkpoint is chosen on "
        "the test set).",
        "",
        "Paper values: tfgda/experiments/paper_values.csv (values stated in "
        "the paper's text; its per-bar chart values are not published as "
        "numbers).",
    ]
    path = os.path.join(out, "results.md")
    with open(path, "w") as f:
        f.write("\n".join(text) + "\n")
    paths.append(path)
    return paths
