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
from tfgda.experiments import curves as curves_lib  # noqa: E402

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
    "cntr_views": "simclr",
    "cntr_strength": "",
}
# The regularizers of the paper's runs, which _MATCH describes.
_PAPER_REGULARIZERS = {"bcr", "contrastive"}
# A paper value's field that the paper does not state: any run's matches.
_ANY = "*"


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
    for row in rows:  # a copied root (an archive in another clone): the
        # runs beside results.csv, where the recorded path is gone
        beside = os.path.join(root, row.get("point") or "")
        if (
            row.get("point")
            and not os.path.isdir(row.get("model_dir") or "")
            and os.path.isdir(beside)
        ):
            row["model_dir"] = beside
    return grid, rows


def _bindings(row):
    """The swept bindings of a row, {name: Python value}."""
    out = {}
    for part in filter(None, row["bindings"].split("; ")):
        name, _, text = part.partition(" = ")
        out[name] = _literal(text)
    return out


# The figures a point can be reported by (`--select`), with their labels.
SELECTIONS = {
    "top15": "top 15 % of runs",
    "top15_checkpoints": "top 15 % of checkpoints",
    "last": "last checkpoint",
    "best": "best checkpoint",
}
DEFAULT_SELECTION = "top15"
TOP_FRACTION = 0.15


class Selection:
    """The scores (and rows) one rule picks from a point's results."""

    def __init__(self, scores, rows):
        self.scores = scores
        self.rows = rows

    @property
    def mean(self):
        return statistics.fmean(self.scores)

    @property
    def spread(self):
        return statistics.stdev(self.scores) if len(self.scores) > 1 else 0.0

    def __len__(self):
        return len(self.scores)

    def mean_of(self, column):
        """The mean of another column over the same rows (e.g. the IS of
        the models picked by FID), or None where they have none."""
        known = [float(r[column]) for r in self.rows if r.get(column)]
        return statistics.fmean(known) if known else None


def top(scored, fraction=TOP_FRACTION):
    """The best `fraction` of (score, row) pairs, lowest scores first: the
    paper's rule (its models "whose FID ranks in the top 15 %"); at least
    one, ceil(fraction * n) in all."""
    count = max(1, math.ceil(fraction * len(scored) - 1e-9))
    chosen = sorted(scored, key=lambda pair: pair[0])[:count]
    return Selection([s for s, _ in chosen], [r for _, r in chosen])


class Group:
    """The rows of one point, over seeds and evaluated checkpoints.

    `select(rule)` gives the point's figure under each rule of SELECTIONS:
    'top15', the paper's (the runs, pooled over seeds, whose FID ranks in
    the top 15 %, each run by its last checkpoint); 'top15_checkpoints',
    the other reading of "models" (every evaluated checkpoint of every
    run); 'last', each seed's last checkpoint; 'best', each seed's lowest
    score over its checkpoints (optimistic: it picks the checkpoint with
    the test set). For a sweep scored with the offline classifier they
    are its Frechet distance, FCD (`score_name`).
    """

    def __init__(self, key, rows):
        self.key = key  # ((name, value), ...) without the seed
        self.rows = rows
        self.column = column = score_name(rows).lower()
        finals = [
            r for r in rows if str(r.get("final", "True")) in ("True", "")
        ]  # results.csv rows written before `final` existed
        self._last = [(float(r[column]), r) for r in finals]
        by_seed = {}
        for row in rows:
            by_seed.setdefault(row.get("seed"), []).append(
                (float(row[column]), row)
            )
        self._best = [
            min(pairs, key=lambda p: p[0]) for pairs in by_seed.values()
        ]
        self._all = [pair for pairs in by_seed.values() for pair in pairs]

    def select(self, rule=DEFAULT_SELECTION):
        if rule not in SELECTIONS:
            raise UserError(
                f"--select {rule!r} is not one of {', '.join(SELECTIONS)}."
            )
        if rule == "top15":
            return top(self._last)
        if rule == "top15_checkpoints":
            return top(self._all)
        pairs = self._last if rule == "last" else self._best
        return Selection([s for s, _ in pairs], [r for _, r in pairs])

    @property
    def fids(self):
        return self.select("last").scores

    @property
    def fid(self):
        return self.select("last").mean

    @property
    def spread(self):
        return self.select("last").spread

    @property
    def median(self):
        return statistics.median(self.fids)

    @property
    def best(self):
        return self.select("best").mean

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
    """The paper value for a row's setting, or None. A field the paper
    does not state ('*') matches any run; of several matches the one that
    states most wins, then a value from the text over one read off a
    chart."""
    trained = {
        binding.split(".")[0].strip()
        for binding in (row.get("regularizers") or "").split(";")
        if binding.strip()
    }
    if trained - _PAPER_REGULARIZERS:  # e.g. zCR: not in the paper's runs
        return None
    keys = dict(_MATCH)
    if not float(row.get("lambda_cntr") or 0):  # Cntr off: its views unused
        del keys["cntr_views"], keys["cntr_strength"]
    found = [
        value
        for value in values
        if all(
            value.get(k) == _ANY
            or _same(row.get(k) or default, value.get(k) or default)
            for k, default in keys.items()
        )
    ]
    if not found:
        return None
    return min(
        found,
        key=lambda v: (
            sum(v.get(k) == _ANY for k in _MATCH),
            v.get("value_from") != "text",
        ),
    )


def _paper_label(value):
    """'24.73', or '21.0 ± 0.3 (read off the chart)'."""
    if value.get("value_from") == "text" or not value.get("fid_uncertainty"):
        return value["fid"]
    return (
        f"{value['fid']} ± {value['fid_uncertainty']} ({value['value_from']})"
    )


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


def draw(grid, rows, values=None, select=DEFAULT_SELECTION):
    """{figure name: matplotlib Figure} in the sweep's layout, each point
    by the rule `select` (one of SELECTIONS), with the paper's value for
    the same setting as a hatched bar beside ours (FID sweeps only)."""
    values = paper_values() if values is None else values
    groups = group_rows(rows)
    layout = _layout(grid)
    name = score_name(rows)
    if name != "FID":
        values = []
    baseline = _baseline(rows, values) if values else None
    axis_label = (
        f"{name} ({SELECTIONS[select]})" if select in SELECTIONS else None
    )
    for group in groups:
        group.select(select)  # an unknown rule: its one-line error
    if layout == "bars":
        figure = _bars(grid, groups, baseline, axis_label, values, select)
        return {"bars": figure}
    if layout == "heatmap":
        return {"heatmap": _heatmap(grid, groups, axis_label, select)}
    return {"points": _points(groups, baseline, axis_label, values, select)}


def _paper_bars(ax, width, papers, colour, label):
    """The paper's values as hatched bars (error bars: a chart reading's
    uncertainty)."""
    if not papers:
        return
    ax.bar(
        [x for x, _ in papers],
        [float(v["fid"]) for _, v in papers],
        width,
        yerr=[float(v.get("fid_uncertainty") or 0) for _, v in papers],
        facecolor="none",
        edgecolor=colour,
        hatch="//",
        label=label,
    )


def _family_rows(names):
    """Augmentation names split as the paper's figures: spatial first."""

    def family(name):
        try:
            return augment.describe(name).family
        except UserError:
            return "other"

    spatial = [n for n in names if family(n) == "spatial"]
    return [r for r in (spatial, [n for n in names if n not in spatial]) if r]


# The swept names that give one panel per augmentation, with their
# strengths': the training augmentation (Figs. 2, 3, 5), the contrastive
# loss' views (Fig. 6).
_PANEL_NAMES = (
    ("augment.name", "augment.strength"),
    ("contrastive.views", "contrastive.strength"),
)


def _panels(grid):
    """({augmentation: [its strengths]}, the axes they come from, (the
    augmentation's name, its strength's name)) of a grid that sweeps an
    augmentation, alone or zipped with its strength (each augmentation at
    its own strengths, as in the paper's Figs. 3 and 5); ({}, set(), None)
    otherwise."""
    for op_name, strength_name in _PANEL_NAMES:
        for axis, texts in grid.items():
            names = configs.axis_names(axis)
            if op_name not in names:
                continue
            panels = {}
            for text in texts:
                pairs = dict(_axis_values(axis, text))
                strengths = panels.setdefault(pairs[op_name], [])
                if pairs.get(strength_name) not in strengths:
                    strengths.append(pairs.get(strength_name))
            axes = {axis}
            if strength_name not in names:
                shared = [_literal(v) for v in grid.get(strength_name, [None])]
                panels = {n: list(shared) for n in panels}
                axes.add(strength_name)
            return panels, axes, (op_name, strength_name)
    return {}, set(), None


def _bars(grid, groups, baseline, axis_label, values, select):
    panels, panel_axes, (op_name, strength_name) = _panels(grid)
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
    # Paired with the paper's bars where the paper has any for these runs.
    paired = any(match_paper(g.rows[0], values) for g in groups)
    bar = width / 2 if paired else width
    shift = width / 4 if paired else 0.0
    paper_label = "paper (hatched)"
    for j, column in enumerate(columns):
        for i, row_names in enumerate(family_rows):
            ax = axes[i][j]
            for k in range(count):
                heights, errors, xs, papers = [], [], [], []
                for x, op in enumerate(row_names):
                    if k >= len(panels[op]):
                        continue
                    group = _find(
                        groups,
                        {
                            op_name: op,
                            strength_name: panels[op][k],
                            **dict(column),
                        },
                    )
                    if group:
                        centre = x + (k - (count - 1) / 2) * width
                        chosen = group.select(select)
                        xs.append(centre - shift)
                        heights.append(chosen.mean)
                        errors.append(chosen.spread)
                        paper = match_paper(group.rows[0], values)
                        if paper:
                            papers.append((centre + shift, paper))
                if not shared:
                    label = f"strength {k + 1} of {count}"
                elif (strength := panels[names[0]][k]) is not None:
                    label = f"lambda_aug {strength}"
                else:
                    label = None
                ours = ax.bar(
                    xs, heights, bar, yerr=errors or None, label=label
                )
                colour = (
                    ours.patches[0].get_facecolor() if ours.patches else None
                )
                _paper_bars(ax, bar, papers, colour, paper_label)
                if papers:
                    paper_label = None
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
            ax.set_ylabel(axis_label)
            if i == 0:
                ax.set_title(
                    "\n".join(f"{n} = {v}" for n, v in column)
                    or f"{axis_label} per augmentation and strength",
                    fontsize="medium",
                )
    legend = {}  # every panel's labels, once each, right of the panels
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    if legend:
        axes[0][-1].legend(
            list(legend.values()),
            list(legend),
            fontsize="small",
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),  # outside: it hides no bar
        )
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


def _heatmap(grid, groups, axis_label, select):
    y_name, x_name = [n for n in grid if n != _SEED]
    ys = [_literal(v) for v in grid[y_name]]
    xs = [_literal(v) for v in grid[x_name]]
    cells = [[math.nan] * len(xs) for _ in ys]
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            group = _find(groups, {y_name: y, x_name: x})
            if group:
                cells[i][j] = group.select(select).mean
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
    fig.colorbar(image, ax=ax, label=axis_label)
    fig.tight_layout()
    return fig


def _points(groups, baseline, axis_label, values, select):
    fig, ax = plt.subplots(figsize=(2 + 0.9 * len(groups), 4))
    labels = [
        "\n".join(f"{n.split('.')[-1]}={v}" for n, v in g.key) or "run"
        for g in groups
    ]
    chosen = [g.select(select) for g in groups]
    papers = [
        (i, v)
        for i, g in enumerate(groups)
        if (v := match_paper(g.rows[0], values))
    ]
    width = 0.4 if papers else 0.8
    shift = 0.2 if papers else 0.0
    ours = ax.bar(
        [i - shift for i in range(len(groups))],
        [c.mean for c in chosen],
        width,
        yerr=[c.spread for c in chosen],
    )
    _paper_bars(
        ax,
        width,
        [(i + shift, v) for i, v in papers],
        ours.patches[0].get_facecolor(),
        "paper (hatched)",
    )
    if baseline:
        ax.axhline(
            baseline[0],
            color="red",
            linestyle="--",
            label=f"paper baseline {baseline[0]}",
        )
    if baseline or papers:
        ax.legend(fontsize="small")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(labels, fontsize="small")
    ax.set_ylabel(axis_label)
    fig.tight_layout()
    return fig


def _cell(selection, of=None):
    """'8.40 ± 0.07', with '(k of n)' when a rule keeps k of n."""
    text = f"{selection.mean:.2f}"
    if len(selection) > 1:
        text += f" ± {selection.spread:.2f}"
    if of is not None and len(selection) != of:
        text += f" ({len(selection)} of {of})"
    return text


def markdown(groups, values, select=DEFAULT_SELECTION):
    """The table of our scores beside the paper's, one row per point: each
    rule of SELECTIONS, labelled, the paper's FID and IS for the same
    setting, and ours minus the paper's under `select` (an FCD table has
    no paper columns: the paper reports FIDs)."""
    name = score_name([g.rows[0] for g in groups])
    fid = name == "FID"
    lines = [
        f"| point | runs | steps | protocol | {name} top 15 % of runs | "
        f"{name} top 15 % of checkpoints | {name} last | {name} median | "
        f"{name} best | IS ({SELECTIONS[select]}) | FID (paper) | "
        f"IS (paper) | ours - paper | paper source | regularizers |",
        "| --- " * 15 + "|",
    ]
    for group in groups:
        first = group.rows[0]
        paper = match_paper(first, values) if fid else None
        chosen = group.select(select)
        runs = len(group.fids)
        checkpoints = len(group.rows)
        inception = chosen.mean_of("inception_score") if fid else None
        label = ", ".join(f"{n} = {v}" for n, v in group.key) or "the run"
        cells = [
            label,
            str(runs),
            str(first["steps"]),
            first["protocol"],
            _cell(group.select("top15"), runs),
            _cell(group.select("top15_checkpoints"), checkpoints),
            _cell(group.select("last")),
            f"{group.median:.2f}",
            _cell(group.select("best")),
            f"{inception:.2f}" if inception is not None else "-",
            _paper_label(paper) if paper else _no_paper(name),
            (paper.get("inception_score") or "-") if paper else "-",
            f"{chosen.mean - float(paper['fid']):+.2f}" if paper else "-",
            paper["source"] if paper else "-",
            first.get("regularizers") or "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def samples(groups):
    """A figure of each point's last sample grid (of its first seed) side
    by side, titled with the point and step; None if no run kept grids."""
    found = []
    for group in groups:
        row = group.rows[0]
        model_dir = row.get("model_dir")
        grids = rundir.sample_grids(model_dir) if model_dir else []
        if grids:
            label = (
                "\n".join(
                    f"{n.split('.')[-1]}={v}"
                    for n, v in group.key
                    if n != _SEED
                )
                or "run"
            )
            step, path = grids[-1]
            found.append(
                (
                    f"{label}\nseed {row.get('seed')}, step {step}",
                    plt.imread(path),
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


_RULES = """\
The figures and the column "ours - paper" show each point's {rule}.
Rules: top 15 % of runs, the paper's ("the models whose FID ranks in the top
15 %", mean ± std): the runs of the point, pooled over seeds, each by its last
checkpoint, the best ceil(0.15 n) of them kept (one run unless the point has
at least 7 seeds, so with fewer it is the best seed's last checkpoint; the
paper does not say how many seeds it pooled); top 15 % of checkpoints, the
other reading of "models": every evaluated checkpoint of every run, pooled;
last: each seed's last checkpoint, mean ± standard deviation over seeds;
median: of the same; best: each seed's lowest {name} over its evaluated
checkpoints, averaged. The last three are ours. The top 15 % and best
choose by the score on the test set, as the paper's rule does.

Paper values: tfgda/experiments/paper_values.csv, each with its source; a
value "read off the chart" is read by eye from the paper's figure, with its
uncertainty (about ± 0.3 FID on a linear axis, ± 10 % on Fig. 2's log axis).
"""


def _no_paper(name):
    return "not in the paper" if name == "FID" else "not comparable (FCD)"


def write_report(root, out=None, select=DEFAULT_SELECTION):
    """Writes the figures and results.md, each point by the rule `select`
    (SELECTIONS); returns their paths."""
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
    figures = draw(grid, rows, values, select)
    for name, fig in figures.items():
        path = os.path.join(out, f"{name}.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    groups = group_rows(rows)
    grids = samples(groups)
    if grids:
        path = os.path.join(out, "samples.png")
        # "tight": the titles' lines (one per swept setting) stay inside.
        grids.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(grids)
        paths.append(path)
        figures = {**figures, "samples": grids}
    finals = {
        curves_lib.label(g): curves_lib.interval(g.select("last").scores)
        for g in groups
    }
    curve_names, curve_text = curves_lib.section(
        groups, out, finals, score_name(rows).lower()
    )
    paths += [os.path.join(out, f"{n}.png") for n in curve_names]
    text = [
        f"# Results of the sweep in {root}",
        "",
        *[f"![{n}]({n}.png)" for n in figures],
        "",
        markdown(groups, values, select),
        _RULES.format(name=score_name(rows), rule=SELECTIONS[select]),
    ]
    if curve_names:
        text += [
            "## Over training",
            "",
            *[f"![{n}]({n}.png)" for n in curve_names],
            "",
            curve_text,
        ]
    path = os.path.join(out, "results.md")
    with open(path, "w") as f:
        f.write("\n".join(text) + "\n")
    paths.append(path)
    return paths
