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


def _write_results(root, rows):
    """ROOT/results.csv of these rows, as a sweep writes it."""
    with open(root / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, sweep.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


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
    _write_results(tmp_path, rows)
    return tmp_path, fids


def test_two_numbers_make_a_heat_map_of_seed_means(fig14_root):
    root, fids = fig14_root
    grid, rows = report.read_sweep(str(root))
    figure = report.draw(grid, rows, select="last")["heatmap"]
    cells = np.asarray(figure.axes[0].images[0].get_array())
    # rows: strength 0.2, 0.3; columns: lambda_BCR 10, 15
    np.testing.assert_allclose(cells, [[9.0, 8.8], [8.6, 8.4]], atol=1e-9)
    assert figure.axes[0].get_xlabel() == "LAMBDA_BCR"
    # By default the paper's rule: of 2 runs the top 15 % is the better.
    figure = report.draw(grid, rows)["heatmap"]
    cells = np.asarray(figure.axes[0].images[0].get_array())
    np.testing.assert_allclose(cells, [[8.95, 8.75], [8.55, 8.35]], atol=1e-9)
    assert figure.axes[1].get_ylabel() == "FID (top 15 % of runs)"


def test_the_table_averages_seeds_and_puts_the_papers_value_beside(fig14_root):
    root, _ = fig14_root
    paths = report.write_report(str(root), str(root / "out"))
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == [
        "heatmap.png",
        "results.md",
    ]
    table = (root / "out" / "results.md").read_text()
    # Fig. 14's headline point (lambda_BCR 15, lambda_aug 0.3): 8.42; its
    # seeds 8.35 and 8.45: the top 15 % of 2 runs is the better one, the
    # figure compared with the paper's by default.
    assert (
        "| augment.strength = 0.3, LAMBDA_BCR = 15.0 | 2 | 100000 | "
        "fid10k_test | 8.35 (1 of 2) | 8.35 (1 of 2) | 8.40 ± 0.07 | 8.40 | "
        "8.40 ± 0.07 | 9.00 | 8.42 | - | -0.07 | Zhao et al. 2020, Fig. 14 |"
        in table
    )
    assert (
        "| augment.strength = 0.2, LAMBDA_BCR = 10.0 | 2 | 100000 | "
        "fid10k_test | 8.95 (1 of 2) | 8.95 (1 of 2) | 9.00 ± 0.07 | 9.00 | "
        "9.00 ± 0.07 | 9.00 | not in the paper | - | - | - |" in table
    )
    assert "show each point's top 15 % of runs" in table
    # Compared by another rule on request: each seed's last checkpoint.
    report.write_report(str(root), str(root / "last"), select="last")
    table = (root / "last" / "results.md").read_text()
    assert "| 8.42 | - | -0.02 | Zhao et al. 2020, Fig. 14 |" in table
    assert "show each point's last checkpoint" in table
    with pytest.raises(UserError, match="--select 'top10' is not one of"):
        report.write_report(str(root), str(root / "bad"), select="top10")


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
        assert value["value_from"] in ("text", "read off the chart")
        if value["value_from"] != "text":  # a reading says how sure it is
            assert float(value["fid_uncertainty"]) > 0
    plain = {
        "model": "sndcgan",
        "mode": "none",
        "lambda_bcr_real": "0.0",
        "lambda_bcr_fake": "0.0",
        "lambda_cntr": "0.0",
    }
    assert report.match_paper(plain, values)["fid"] == "24.73"
    # A regularizer the paper's runs never had (recorded generically by the
    # sweep) has no paper value to stand beside.
    zcr = {**plain, "regularizers": "zcr.lambda_dis = 5.0; zcr.sigma = 0.03"}
    assert report.match_paper(zcr, values) is None
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


def test_a_copied_root_reads_the_runs_beside_its_results(fig14_root):
    # An archive committed on one machine and read in another clone: the
    # recorded model_dir is gone, the run's folder is beside results.csv.
    root, _ = fig14_root
    (root / "s0.2-l10.0-0").mkdir()
    _, rows = report.read_sweep(str(root))
    dirs = {row["point"]: row["model_dir"] for row in rows}
    assert dirs["s0.2-l10.0-0"] == str(root / "s0.2-l10.0-0")
    assert dirs["s0.3-l15.0-1"] == "x"  # no folder beside: left as written


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
        figure.axes[1].get_title() == "augment.mode = none\nLAMBDA_BCR = 10.0"
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
    _write_results(root, rows)
    report.write_report(str(root), str(root / "out"))
    table = (root / "out" / "results.md").read_text()
    assert "| FCD top 15 % of runs | FCD top 15 % of checkpoints |" in table
    assert (
        "| augment.strength = 0.3, LAMBDA_BCR = 15.0 | 2 | 100000 | "
        "fid10k_test | 8.35 (1 of 2) | 8.35 (1 of 2) | 8.40 ± 0.07 | 8.40 | "
        "8.40 ± 0.07 | - | not comparable (FCD) | - | - | - |" in table
    )
    grid, rows = report.read_sweep(str(root))
    figure = report.draw(grid, rows, select="last")["heatmap"]
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


def _runs(fids_by_seed, **settings):
    """results.csv rows: seed -> its FIDs at steps 1, 2, ... (the last one
    final)."""
    rows = []
    for seed, fids in fids_by_seed.items():
        for step, fid in enumerate(fids, 1):
            rows.append(
                {
                    "bindings": f"train.seed = {seed}",
                    "seed": str(seed),
                    "step": str(step),
                    "final": str(step == len(fids)),
                    "fid": str(fid),
                    "inception_score": str(10.0 - fid / 10),
                    **settings,
                }
            )
    return rows


def test_the_papers_rule_keeps_the_top_15_percent_of_runs_or_checkpoints():
    # 20 seeds whose last FIDs are 1 ... 20 and whose first checkpoints
    # are 0.5 lower: the top 15 % of 20 runs are the 3 lowest (1, 2, 3);
    # of 40 checkpoints, the 6 lowest (0.5, 1, 1.5, 2, 2.5, 3).
    rows = _runs({seed: (seed + 0.5, seed + 1.0) for seed in range(20)})
    (group,) = report.group_rows(rows)
    runs = group.select("top15")
    assert runs.scores == [1.0, 2.0, 3.0]
    assert runs.mean == pytest.approx(2.0)
    assert runs.spread == pytest.approx(1.0)
    # IS of the same three models, not of all runs
    assert runs.mean_of("inception_score") == pytest.approx(9.8)
    checkpoints = group.select("top15_checkpoints")
    assert checkpoints.scores == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert group.select("last").mean == pytest.approx(10.5)
    assert group.select("best").mean == pytest.approx(10.0)
    # Fewer than 7 seeds: one run, the best seed's last checkpoint.
    (few,) = report.group_rows(_runs({0: (9.0, 8.0), 1: (7.0, 7.5)}))
    assert few.select("top15").scores == [7.5]
    assert few.select("top15_checkpoints").scores == [7.0]


def test_every_chart_reading_and_table_1_is_in_the_paper_values():
    values = report.paper_values()
    chart = [v for v in values if v["value_from"] == "read off the chart"]

    def readings(source, mode, op, **more):
        return [
            float(v["fid"])
            for v in chart
            if v["source"].startswith(f"Zhao et al. 2020, {source}")
            and v["mode"] == mode
            and (v["augmentation"] == op or v["cntr_views"] == op)
            and all(v[k] == str(x) for k, x in more.items())
        ]

    # PAPER.md's readings, strengths 0.1 ... 0.5 (or each panel's grid)
    assert readings("Fig. 3", "real_and_fake", "translation") == [
        18.9,
        18.9,
        19.3,
        21.3,
        22.8,
    ]
    assert readings("Fig. 3", "none", "zoom_out", lambda_bcr_real=10) == [
        16.3,
        15.4,
        15.0,
        14.7,
        15.0,
    ]
    assert readings("Fig. 5", "none", "translation") == [
        9.3,
        9.0,
        8.9,
        8.6,
        9.9,
    ]
    assert [
        v["strength"]
        for v in chart
        if v["source"].startswith("Zhao et al. 2020, Fig. 5 (vanilla")
        and v["augmentation"] == "brightness"
    ] == ["0.02", "0.06", "0.1", "0.2", "0.3"]
    assert readings("Fig. 6", "none", "simclr") == [
        12.5,
        11.9,
        12.7,
        13.5,
        14.7,
    ]
    assert readings("Fig. 2", "real_only", "zoom_out") == [100.0]
    sources = {v["source"] for v in chart}
    for figure in ("Fig. 2", "Fig. 3", "Fig. 5", "Fig. 6"):
        assert any(figure in s for s in sources), figure
    # Table 1, FID and IS of each row
    table = {
        v["source"].split("(")[1].rstrip(")").split(")")[0]: (
            v["fid"],
            v["inception_score"],
        )
        for v in values
        if "Table 1" in v["source"]
    }
    assert table == {
        "Vanilla": ("14.73", "9.22"),
        "Cntr": ("12.27", "9.23"),
        "BCR": ("9.21", "9.29"),
        "Cntr+BCR": ("8.30", "9.41"),
    }
    real_only = report.match_paper(
        {
            "model": "sndcgan",
            "mode": "real_only",
            "augmentation": "translation",
            "strength": "0.1",
        },
        values,
    )
    assert real_only["fid"] == "31.03" and real_only["value_from"] == "text"


def test_a_stated_value_wins_over_a_reading_and_a_wildcard():
    values = report.paper_values()
    # Sec. 4's 8.65 (text) over Fig. 5's bar read as 8.6
    bcr = {
        "model": "biggan",
        "mode": "none",
        "augmentation": "translation",
        "strength": "0.4",
        "lambda_bcr_real": "10.0",
        "lambda_bcr_fake": "10.0",
    }
    assert report.match_paper(bcr, values)["fid"] == "8.65"
    # A Cntr run with simclr views at crop strength 0.3: Fig. 6's bar, not
    # Table 1's Cntr row (whose views the paper does not state)...
    cntr = {"model": "biggan", "lambda_cntr": "0.1", "cntr_views": "simclr"}
    assert (
        report.match_paper({**cntr, "cntr_strength": "0.3"}, values)["fid"]
        == "11.9"
    )
    # ... which any other Cntr run matches.
    assert (
        report.match_paper({**cntr, "cntr_strength": "0.2"}, values)["fid"]
        == "12.27"
    )


def test_the_papers_bar_is_drawn_beside_ours_with_its_is(tmp_path):
    """Fig. 5's translation panel: our bar at each strength and, beside it,
    the paper's value read off its chart, hatched, with its uncertainty;
    the table gives the paper's IS where the paper has one."""
    grid = {
        "augment.name": ["'translation'"],
        "augment.strength": ["0.1", "0.2", "0.3", "0.4", "0.5"],
        "augment.mode": ["'real_and_fake'"],
    }
    rows = []
    for strength in (0.1, 0.2, 0.3, 0.4, 0.5):
        for seed, fid in ((0, 30.0 + strength), (1, 31.0 + strength)):
            for row in _runs(
                {seed: (fid,)},
                model="biggan",
                mode="real_and_fake",
                augmentation="translation",
                strength=str(strength),
                steps="100000",
                protocol="fid10k_test",
            ):
                row["bindings"] = (
                    f"augment.name = 'translation'; augment.strength = "
                    f"{strength}; augment.mode = 'real_and_fake'; "
                    f"train.seed = {seed}"
                )
                rows.append(row)
    figure = report.draw(grid, rows)["bars"]
    (ax,) = figure.axes[:1]
    ours = sorted(
        (p for p in ax.patches if not p.get_hatch()), key=lambda p: p.get_x()
    )
    paper = sorted(
        (p for p in ax.patches if p.get_hatch()), key=lambda p: p.get_x()
    )
    assert [round(p.get_height(), 6) for p in ours] == [
        30.1,
        30.2,
        30.3,
        30.4,
        30.5,
    ]
    assert [p.get_height() for p in paper] == [11.1, 11.2, 12.0, 13.7, 15.3]
    for mine, theirs in zip(ours, paper):  # side by side, not overlapping
        assert mine.get_x() + mine.get_width() == pytest.approx(theirs.get_x())
    assert "paper (hatched)" in ax.get_legend_handles_labels()[1]
    # Table 1's baseline: our IS beside the paper's 9.22.
    baseline = _runs(
        {0: (15.0,), 1: (14.0,)},
        model="biggan",
        steps="100000",
        protocol="fid10k_test",
    )
    table = report.markdown(report.group_rows(baseline), report.paper_values())
    assert (
        "| 14.00 (1 of 2) | 14.00 (1 of 2) | 14.50 ± 0.71 | 14.50 | "
        "14.50 ± 0.71 | 8.60 | 14.73 | 9.22 | -0.73 |" in table
    )


def test_figure_6_draws_each_view_at_each_strength_beside_the_paper():
    grid = sweep.expand(["paper/fig6_biggan_cntr_views.gin"]).grid
    rows = []
    for views in ("simclr", "translation"):
        for strength in (0.1, 0.3, 0.5, 0.7, 0.9):
            for row in _runs(
                {0: (20.0 + strength,)},
                model="biggan",
                lambda_cntr="0.1",
                cntr_views=views,
                cntr_strength=str(strength),
                steps="100000",
                protocol="fid10k_test",
            ):
                row["bindings"] = (
                    f"contrastive.views = '{views}'; "
                    f"contrastive.strength = {strength}; train.seed = 0"
                )
                rows.append(row)
    figure = report.draw(grid, rows)["bars"]
    spatial, other = figure.axes[:2]
    assert [t.get_text() for t in other.get_xticklabels()][0] == "simclr"

    def heights(ax, hatched):
        return [
            round(p.get_height(), 6)
            for p in sorted(ax.patches, key=lambda p: p.get_x())
            if bool(p.get_hatch()) == hatched
        ]

    assert heights(other, False) == [20.1, 20.3, 20.5, 20.7, 20.9]
    assert heights(other, True) == [12.5, 11.9, 12.7, 13.5, 14.7]
    assert heights(spatial, True) == [13.3, 12.8, 12.6, 12.3, 12.9]


def test_the_sample_figure_keeps_every_title_line(fig14_root):
    """Each panel's title has a line per swept setting: the saved figure
    holds them all (its top rows are background, not cut text)."""
    root, _ = fig14_root
    with open(root / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:  # five settings: a title of six lines
        row["bindings"] = (
            "augment.mode = 'none'; augment.name = 'translation'; "
            "bcr.inputs = 'clean'; " + row["bindings"]
        )
        row["model_dir"] = str(root / row["point"])
        folder = root / row["point"] / "samples"
        folder.mkdir(parents=True)
        plt.imsave(folder / "step_0100000.png", np.zeros((8, 8, 3)))
    _write_results(root, rows)
    report.write_report(str(root), str(root / "out"))
    image = plt.imread(root / "out" / "samples.png")[..., :3]
    assert image[:2].min() == 1.0  # white above the titles
    assert image.min() < 0.1  # the grids themselves are drawn
