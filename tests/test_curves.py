"""The report's curves over training, their intervals, and the paper's
findings judged on them (a synthetic study with known numbers)."""

import csv
import json

import pytest

from tfgda.experiments import curves
from tfgda.experiments import report
from tfgda.experiments import sweep

GRID = {
    "train.seed": ["0", "1", "2"],
    "augment.mode, augment.name, LAMBDA_BCR": [
        "('none', None, 0.0, )",
        "('real_only', 'translation', 0.0, )",
        "('real_and_fake', 'translation', 0.0, )",
        "('none', 'translation', 10.0, )",
        "('real_and_fake', 'brightness', 0.0, )",
    ],
}
# Each method's final FCD per seed, and its best over training.
FINALS = {
    ("none", None, 0.0): (500.0, 520.0, 510.0),
    ("real_only", "translation", 0.0): (505.0, 600.0, 410.0),
    ("real_and_fake", "translation", 0.0): (300.0, 310.0, 305.0),
    ("none", "translation", 10.0): (250.0, 255.0, 245.0),
    ("real_and_fake", "brightness", 0.0): (200.0, 205.0, 210.0),
}
STEPS = (500, 1000, 1500)


def _write(root, fids=FINALS):
    rows = []
    for (mode, name, lam), finals in fids.items():
        for seed, final in enumerate(finals):
            point = f"seed={seed},mode={mode},name={name},LAMBDA_BCR={lam}"
            model_dir = root / point
            curve = model_dir / "eval" / "cifar10_classifier" / "fid2k_test"
            over = model_dir / "eval" / "overfitting"
            curve.mkdir(parents=True)
            over.mkdir(parents=True)
            for i, step in enumerate(STEPS):
                # 100 above the final, then 50 below it (the best), then it
                value = final + (100, -50, 0)[i]
                (curve / f"ckpt-{step}.json").write_text(
                    json.dumps({"fcd": value, "step": step})
                )
                (over / f"ckpt-{step}.json").write_text(
                    json.dumps({"r_v": 0.5 * i, "step": step})
                )
            name_text = "None" if name is None else f"'{name}'"
            rows.append(
                {
                    "point": point,
                    "bindings": f"train.seed = {seed}; augment.mode, "
                    f"augment.name, LAMBDA_BCR = ('{mode}', {name_text}, "
                    f"{lam}, )",
                    "model": "sndcgan",
                    "mode": mode,
                    "augmentation": name or "",
                    "lambda_bcr_real": lam,
                    "lambda_bcr_fake": lam,
                    "seed": seed,
                    "steps": 1500,
                    "protocol": "fid10k_test",
                    "features": "cifar10_classifier",
                    "step": 1500,
                    "final": True,
                    "fcd": final,
                    "model_dir": str(model_dir),
                }
            )
    (root / "sweep.json").write_text(json.dumps({"grid": GRID}))
    with open(root / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, sweep.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def test_interval_is_the_t_interval_of_the_mean():
    mean, sd, low, high = curves.interval([1.0, 2.0, 3.0])
    assert (mean, sd) == (2.0, 1.0)
    assert high - mean == pytest.approx(4.303 / 3**0.5)
    assert curves.interval([5.0]) == (5.0, 0.0, 5.0, 5.0)


def test_the_report_draws_the_curves_and_judges_each_finding(tmp_path):
    _write(tmp_path)
    paths = report.write_report(str(tmp_path), str(tmp_path / "out"))
    names = {p.rsplit("/", 1)[-1] for p in paths}
    assert "curve_cifar10_classifier_fid2k_test.png" in names
    assert "curve_overfitting.png" in names
    text = (tmp_path / "out" / "results.md").read_text()
    # The baseline: last 500/520/510, best 50 below each.
    assert "| mode=none, name=None, LAMBDA_BCR=0.0 | 3 | 510.0 ± 10.0" in text
    assert "| 460.0 ± 10.0 [435.2, 484.8] |" in text
    verdicts = {
        line.split(" | ")[0].lstrip("| "): line.rsplit("**", 2)[1]
        for line in text.split("## Over training")[1].splitlines()
        if line.count("**") == 2
    }
    # Judged twice (final score, best over training): same numbers here.
    assert (
        verdicts["Augmenting only the real images hurts (Fig. 2)"]
        == "cannot tell"
    )  # real-only's seeds spread over the baseline's
    assert (
        verdicts["Augmenting real and generated images helps (Fig. 3)"]
        == "agrees"
    )
    assert (
        verdicts[
            "Spatial beats appearance: Translation vs Brightness (Figs. 3, 5)"
        ]
        == "disagrees"
    )
    assert verdicts["bCR adds to augmentation (Fig. 3, Sec. 4)"] == "agrees"
    assert text.count("### The paper's findings, by the") == 2


def test_a_sweep_without_curves_has_no_curve_section(tmp_path):
    _write(tmp_path)
    for folder in tmp_path.glob("*/eval"):
        for path in folder.rglob("ckpt-500.json"):
            path.unlink()
        for path in folder.rglob("ckpt-1000.json"):
            path.unlink()
    report.write_report(str(tmp_path), str(tmp_path / "out"))
    text = (tmp_path / "out" / "results.md").read_text()
    assert "## Over training" not in text
