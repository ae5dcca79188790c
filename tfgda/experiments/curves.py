"""A sweep's curves over training, and the paper's findings judged on them.

A point whose runs evaluated during training (the `evaluation` and
`overfitting` hooks) has a curve per seed under each run's eval/ folder.
`curves` reads them, `draw` plots each point's mean and its band over
seeds, `summary` gives each point's last and best-over-training score with
a 95 % interval, and `findings` judges the paper's findings from those
intervals: a finding agrees only where the two intervals do not overlap in
its direction, disagrees where they do not overlap the other way, and
otherwise cannot be told.
"""

import dataclasses
import math
import os
import re
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tfgda import configs  # noqa: E402
from tfgda import rundir  # noqa: E402

__all__ = [
    "FINDINGS",
    "Finding",
    "curves",
    "draw",
    "findings",
    "interval",
    "label",
    "section",
    "summary",
]

# Two-sided 95 % Student t quantiles by degrees of freedom (beyond 30: the
# normal's 1.96 is within 4 %).
_T975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    15: 2.131,
    20: 2.086,
    30: 2.042,
}


def _t975(df):
    known = [d for d in sorted(_T975) if d <= df]
    return _T975[known[-1]] if df <= 30 else 1.96


def interval(values):
    """(mean, sd, low, high): the 95 % t-interval of the mean; with one
    value the interval is the value itself (nothing to judge it by)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, 0.0, mean, mean
    sd = statistics.stdev(values)
    half = _t975(len(values) - 1) * sd / math.sqrt(len(values))
    return mean, sd, mean - half, mean + half


def _series(model_dir, folder, key):
    return [
        (step, float(result[key]))
        for step, result in rundir.read_results(model_dir, folder)
        if result.get(key) is not None
    ]


def curves(groups, folder, key):
    """{point label: [[(step, value), ...] per seed]} of every point whose
    runs have at least two evaluations of `key` in eval/<folder>."""
    out = {}
    for group in groups:
        name = label(group)
        seeds = {}
        for row in group.rows:
            seeds.setdefault(row.get("seed"), row.get("model_dir"))
        found = [
            _series(d, os.path.join("eval", folder), key)
            for d in seeds.values()
            if d
        ]
        found = [s for s in found if len(s) > 1]
        if found:
            out[name] = found
    return out


def label(group):
    """'mode=none, name=translation, LAMBDA_BCR=10.0': a point's swept
    values, a zipped axis' one by one."""
    pairs = []
    for axis, value in group.key:
        names = configs.axis_names(axis)
        values = value if len(names) > 1 else (value,)
        pairs += zip(names, values)
    return ", ".join(f"{n.split('.')[-1]}={v}" for n, v in pairs) or "run"


def draw(curve_sets, ylabel, title=None):
    """Each point's mean over seeds against step, with its min-max band."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for label, runs in curve_sets.items():
        steps = sorted(set.intersection(*(set(s for s, _ in r) for r in runs)))
        by_step = [[dict(r)[s] for r in runs] for s in steps]
        means = [statistics.fmean(v) for v in by_step]
        (line,) = ax.plot(steps, means, label=f"{label} ({len(runs)})")
        if len(runs) > 1:
            ax.fill_between(
                steps,
                [min(v) for v in by_step],
                [max(v) for v in by_step],
                color=line.get_color(),
                alpha=0.15,
            )
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize="small")
    ax.legend(  # beside the axes: it hides no curve
        fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )
    fig.tight_layout()
    return fig


def summary(curve_sets, lower_is_better=True):
    """{point label: {'last': interval of each seed's last value, 'best':
    interval of each seed's best value over training, 'seeds': n}}."""
    pick = min if lower_is_better else max
    return {
        label: {
            "last": interval([r[-1][1] for r in runs]),
            "best": interval([pick(v for _, v in r) for r in runs]),
            "seeds": len(runs),
        }
        for label, runs in curve_sets.items()
    }


@dataclasses.dataclass(frozen=True)
class Finding:
    """One of the paper's findings: `better` should score lower than
    `worse` (each a dict of results.csv settings that picks a point)."""

    text: str
    better: dict
    worse: dict


_NONE = {"mode": "none", "lambda_bcr_real": "0.0"}
_REAL_ONLY = {"mode": "real_only", "augmentation": "translation"}
_RF = {"mode": "real_and_fake", "augmentation": "translation"}
FINDINGS = (
    Finding(
        "Augmenting only the real images hurts (Fig. 2)", _NONE, _REAL_ONLY
    ),
    Finding("Augmenting real and generated images helps (Fig. 3)", _RF, _NONE),
    Finding(
        "With the same op, real+fake beats real-only (Figs. 2, 3)",
        _RF,
        _REAL_ONLY,
    ),
    Finding(
        "Spatial beats appearance: Translation vs Brightness (Figs. 3, 5)",
        _RF,
        {"mode": "real_and_fake", "augmentation": "brightness"},
    ),
    Finding(
        "Spatial beats appearance: ZoomOut vs Brightness (Figs. 3, 5)",
        {"mode": "real_and_fake", "augmentation": "zoom_out"},
        {"mode": "real_and_fake", "augmentation": "brightness"},
    ),
    Finding(
        "bCR adds to augmentation (Fig. 3, Sec. 4)",
        {
            "mode": "none",
            "augmentation": "translation",
            "lambda_bcr_real": "10.0",
        },
        _RF,
    ),
)


def _matches(group, wanted):
    row = group.rows[0]
    for key, value in wanted.items():
        have = row.get(key)
        if key.startswith("lambda"):
            if float(have or 0) != float(value):
                return False
        elif key == "mode":
            if (have or "none") != value:
                return False
        elif have != value:
            return False
    return True


def findings(groups, scores, table=FINDINGS):
    """[(finding, better's interval, worse's interval, verdict)] for every
    finding whose two points are in the sweep; scores: {point label:
    interval} (lower is better)."""
    out = []
    for finding in table:
        better = [g for g in groups if _matches(g, finding.better)]
        worse = [g for g in groups if _matches(g, finding.worse)]
        if len(better) != 1 or len(worse) != 1:
            continue
        b = scores.get(label(better[0]))
        w = scores.get(label(worse[0]))
        if b is None or w is None:
            continue
        if b[3] < w[2]:
            verdict = "agrees"
        elif w[3] < b[2]:
            verdict = "disagrees"
        else:
            verdict = "cannot tell"
        out.append((finding, b, w, verdict))
    return out


def eval_folders(groups, skip=()):
    """The eval/ folders (relative) holding a curve in the first run of
    the first point: at least two ckpt-N.json files; `skip` left out."""
    for group in groups:
        model_dir = group.rows[0].get("model_dir")
        if not model_dir:
            continue
        found = []
        root = os.path.join(model_dir, "eval")
        for folder, _, files in sorted(os.walk(root)):
            relative = os.path.relpath(folder, root)
            jsons = [f for f in files if re.fullmatch(r"ckpt-\d+\.json", f)]
            if len(jsons) > 1 and relative not in skip:
                found.append(relative)
        return found
    return []


def _cell(iv):
    mean, sd, low, high = iv
    return f"{mean:.1f} ± {sd:.1f} [{low:.1f}, {high:.1f}]"


def section(groups, out, final_scores, score_key):
    """The curves' figures in `out` and the Markdown of the curves' table
    and the findings; ([figure names], markdown) or ([], '') without
    curves. final_scores: {point label: interval of each seed's final
    score under the sweep's protocol}."""
    names, text = [], []
    folders = eval_folders(groups)
    tables = {}
    for folder in folders:
        key = "r_v" if os.path.basename(folder) == "overfitting" else score_key
        sets = curves(groups, folder, key)
        if not sets:
            continue
        name = "curve_" + re.sub(r"[^A-Za-z0-9]+", "_", folder).strip("_")
        label = f"{key.upper() if key != 'r_v' else 'r_v'} ({folder})"
        figure = draw(sets, label, f"{label}: mean over seeds, min-max band")
        figure.savefig(os.path.join(out, f"{name}.png"), dpi=120)
        plt.close(figure)
        names.append(name)
        if key != "r_v":
            tables[folder] = summary(sets)
    if not names:
        return [], ""
    for folder, table in tables.items():
        text += [
            f"### {score_key.upper()} over training ({folder})",
            "",
            "Each seed's last and best evaluation over training: mean ± sd "
            "over seeds [95 % t-interval of the mean].",
            "",
            "| point | seeds | last | best over training |",
            "| --- | --- | --- | --- |",
            *[
                f"| {label} | {row['seeds']} | {_cell(row['last'])} | "
                f"{_cell(row['best'])} |"
                for label, row in table.items()
            ],
            "",
        ]
    judged = {"final score (the sweep's protocol)": final_scores}
    judged.update(
        {
            f"best over training ({folder})": {
                k: v["best"] for k, v in t.items()
            }
            for folder, t in tables.items()
        }
    )
    for what, scores in judged.items():
        rows = findings(groups, scores)
        if not rows:
            continue
        text += [
            f"### The paper's findings, by the {what}",
            "",
            "Agrees only where the 95 % intervals do not overlap in the "
            "paper's direction, disagrees where they do not overlap the "
            "other way; otherwise cannot tell.",
            "",
            "| finding | should be lower | should be higher | verdict |",
            "| --- | --- | --- | --- |",
            *[
                f"| {f.text} | {_cell(b)} | {_cell(w)} | **{v}** |"
                for f, b, w, v in rows
            ],
            "",
        ]
    return names, "\n".join(text)
