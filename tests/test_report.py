"""The report: layouts chosen from the grid, cells and bars that are the
results, seeds averaged, and the paper's values matched by setting."""

import ast
import csv
import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from tfgda.errors import UserError
from tfgda.experiments import report
from tfgda.experiments import sweep

FIG14 = {
    "augment.strength": ["0.2", "0.3"],
    "LAMBDA_BCR": ["10.0", "15.0"],
    "train.seed": ["0", "1"],
}


def _row(strength, lam, seed, fid):
    return {
        "point": f"s{strength}-l{lam}-{seed}",
        "bindings": f"augment.strength = {strength}; LAMBDA_BCR = {lam}; "
        f"train.seed = {seed}",
        "model": "biggan",
        "mode": "none",
        "augmentation": "translation+brightness",
        "strength": strength,
        "schedule": "constant",
        "lambda_bcr_real": lam,
        "lambda_bcr_fake": lam,
        "lambda_cntr": 0.0,
        "steps": 100000,
        "batch_size": 256,
        "seed": seed,
        "protocol": "fid10k_test",
        "step": 100000,
        "fid": fid,
        "inception_score": 9.0,
        "kid": 0.001,
        "model_dir": "x",
    }


@pytest.fixture
def fig14_root(tmp_path):
    rows = []
    fids = {
        (0.2, 10.0): 9.0,
        (0.2, 15.0): 8.8,
        (0.3, 10.0): 8.6,
        (0.3, 15.0): 8.4,
    }
    for (strength, lam), fid in fids.items():
        for seed in (0, 1):  # seeds 0.1 apart: mean fid, spread 0.0707
            rows.append(_row(strength, lam, seed, fid - 0.05 + 0.1 * seed))
    (tmp_path / "sweep.json").write_text(json.dumps({"grid": FIG14}))
    with open(tmp_path / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, sweep.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return tmp_path, fids


def test_two_numbers_make_a_heat_map_of_seed_means(fig14_root):
    root, fids = fig14_root
    grid, rows = report.read_sweep(str(root))
    figure = report.draw(grid, rows)["heatmap"]
    cells = np.asarray(figure.axes[0].images[0].get_array())
    # rows: strength 0.2, 0.3; columns: lambda_BCR 10, 15
    np.testing.assert_allclose(cells, [[9.0, 8.8], [8.6, 8.4]], atol=1e-9)
    assert figure.axes[0].get_xlabel() == "LAMBDA_BCR"


def test_the_table_averages_seeds_and_puts_the_papers_value_beside(fig14_root):
    root, _ = fig14_root
    paths = report.write_report(str(root), str(root / "out"))
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == [
        "heatmap.png",
        "results.md",
    ]
    table = (root / "out" / "results.md").read_text()
    # Fig. 14's headline point (lambda_BCR 15, lambda_aug 0.3): 8.42.
    assert (
        "| augment.strength = 0.3, LAMBDA_BCR = 15.0 | 2 | 100000 | "
        "fid10k_test | 8.40 ± 0.07 | 8.40 | 8.40 | 8.42 | "
        "Zhao et al. 2020, Fig. 14 |" in table
    )
    assert (
        "| augment.strength = 0.2, LAMBDA_BCR = 10.0 | 2 | 100000 | "
        "fid10k_test | 9.00 ± 0.07 | 9.00 | 9.00 | not in the text | - |"
        in table
    )
    assert "the paper's numbers are compared with it" in table


def test_last_median_and_best_over_checkpoints_and_seeds():
    rows = []
    # seed: (FID at step 50k, FID at the last step 100k)
    for seed, (mid, last) in {
        0: (8.0, 9.0),
        1: (9.5, 9.2),
        2: (8.5, 12.0),
    }.items():
        for step, fid, final in ((50000, mid, False), (100000, last, True)):
            rows.append(
                dict(_row(0.3, 15.0, seed, fid), step=step, final=str(final))
            )
    (group,) = report.group_rows(rows)
    assert group.fid == pytest.approx((9.0 + 9.2 + 12.0) / 3)
    assert group.median == pytest.approx(9.2)
    assert group.best == pytest.approx((8.0 + 9.2 + 8.5) / 3)
    assert len(group.fids) == 3


def test_paper_values_each_name_their_source():
    values = report.paper_values()
    assert len(values) >= 7
    for value in values:
        assert value["source"] and float(value["fid"]) > 0
        assert value["value_from"] in ("text", "chart")
    baseline = report.match_paper(
        {
            "model": "sndcgan",
            "mode": "none",
            "lambda_bcr_real": "0.0",
            "lambda_bcr_fake": "0.0",
            "lambda_cntr": "0.0",
        },
        values,
    )
    assert baseline["fid"] == "24.73"
    assert (
        report.match_paper(
            {
                "model": "sndcgan",
                "mode": "real_only",
                "augmentation": "blueness",
                "strength": "0.1",
            },
            values,
        )
        is None
    )


def test_a_root_without_results_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="does not exist: --root must be"):
        report.read_sweep(str(tmp_path))


def test_two_methods_are_two_columns_of_bars(tmp_path):
    """Fig. 3's layout: a zipped axis (vanilla real+fake, bCR on clean
    images) gives one column of panels per method."""
    grid = {
        "augment.name": ["'translation'"],
        "augment.strength": ["0.1"],
        "augment.mode, LAMBDA_BCR": [
            "('real_and_fake', 0.0, )",
            "('none', 10.0, )",
        ],
    }
    rows = []
    for mode, lam, fid in (("real_and_fake", 0.0, 20.0), ("none", 10.0, 15.0)):
        rows.append(
            {
                "point": mode,
                "bindings": "augment.name = 'translation'; "
                f"augment.strength = 0.1; augment.mode = '{mode}'; "
                f"LAMBDA_BCR = {lam}",
                "model": "sndcgan",
                "mode": mode,
                "fid": str(fid),
            }
        )
    figure = report.draw(grid, rows, values=[])["bars"]
    heights = [[p.get_height() for p in ax.patches] for ax in figure.axes]
    assert heights == [[20.0], [15.0]]
    assert (
        figure.axes[1].get_title() == "augment.mode = none, LAMBDA_BCR = 10.0"
    )


def test_each_panel_is_drawn_at_its_own_strengths(tmp_path):
    """Figs. 3 and 5's grids: augmentation and strength zipped, each
    augmentation at its own strengths; every point is a bar, ordered by
    strength, and the ticks name each panel's strengths."""
    grid = sweep.expand(["paper/fig3_sndcgan_real_and_fake.gin"]).grid
    axis = "augment.name, augment.strength"
    grid = {
        axis: [v for v in grid[axis] if "translation'" in v or "mixup" in v]
    }
    assert len(grid[axis]) == 10
    rows = []
    for text in grid[axis]:
        name, strength = ast.literal_eval(text)
        fid = (30.0 if name == "mixup" else 20.0) + 10 * strength
        rows.append(
            {
                "point": f"{name}-{strength}",
                "bindings": f"augment.name = '{name}'; "
                f"augment.strength = {strength}",
                "model": "sndcgan",
                "fid": str(fid),
            }
        )
    figure = report.draw(grid, rows, values=[])["bars"]
    spatial, appearance = figure.axes
    by_x = lambda ax: [  # noqa: E731
        round(p.get_height(), 6)
        for p in sorted(ax.patches, key=lambda p: p.get_x())
    ]
    assert by_x(spatial) == [21.0, 22.0, 23.0, 24.0, 25.0]
    assert by_x(appearance) == [30.2, 30.4, 30.6, 30.8, 31.0]
    assert [t.get_text() for t in appearance.get_xticklabels()] == [
        "mixup (0.02-0.1)"
    ]


def test_an_offline_sweep_is_reported_as_fcd_without_paper_values(fig14_root):
    root, _ = fig14_root
    with open(root / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:  # the same numbers, as the offline classifier's
        row.update(
            features="cifar10_classifier",
            fcd=row["fid"],
            fid="",
            inception_score="",
            kid="",
            kid_fcd="0.01",
        )
    with open(root / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, sweep.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    report.write_report(str(root), str(root / "out"))
    table = (root / "out" / "results.md").read_text()
    assert "| FCD last (ours) | FCD median | FCD best |" in table
    assert (
        "| augment.strength = 0.3, LAMBDA_BCR = 15.0 | 2 | 100000 | "
        "fid10k_test | 8.40 ± 0.07 | 8.40 | 8.40 | not comparable (FCD) "
        "| - |" in table
    )
    grid, rows = report.read_sweep(str(root))
    figure = report.draw(grid, rows)["heatmap"]
    assert figure.axes[1].get_ylabel() == "FCD (last checkpoint)"


def test_each_points_last_sample_grid_is_shown_side_by_side(fig14_root):
    root, _ = fig14_root
    with open(root / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    colours = {}
    for i, row in enumerate(rows):
        row["model_dir"] = str(root / row["point"])
        folder = root / row["point"] / "samples"
        folder.mkdir(parents=True)
        for step in (50000, 100000):  # the last one is shown
            image = np.full((8, 8, 3), (i * 20 + step // 50000) / 255.0)
            plt.imsave(folder / f"step_{step:07d}.png", image)
        colours[row["point"]] = (i * 20 + 2) / 255.0
    figure = report.samples(report.group_rows(rows))
    # One panel per point (4), each its first seed's last grid.
    assert len(figure.axes) == 4
    for ax, group in zip(figure.axes, report.group_rows(rows)):
        shown = ax.images[0].get_array()[0, 0, 0]
        assert shown == pytest.approx(
            colours[group.rows[0]["point"]], abs=1 / 255
        )
        assert "seed 0, step 100000" in ax.get_title()
    assert (
        report.samples(report.group_rows([dict(r, model_dir="") for r in rows]))
        is None
    )


def test_out_may_not_be_a_run_or_a_sweep(fig14_root, tmp_path):
    root, _ = fig14_root
    run = tmp_path / "run"
    run.mkdir()
    (run / "ckpt-5.index").write_text("x")
    for out in (root, run, tmp_path):
        before = sorted(p.name for p in out.iterdir())
        with pytest.raises(UserError, match="holds a training run or sweep"):
            report.write_report(str(root), str(out))
        assert sorted(p.name for p in out.iterdir()) == before
