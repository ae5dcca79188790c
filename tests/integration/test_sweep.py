"""Sweeps: grids from gin files and flags, their checks, a real 2-point
sweep on CPU (train, evaluate, results.csv, resume), and the report."""

import csv
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from conftest import REPO
from conftest import tiny_bindings
import gin
import numpy as np
import pytest

from tfgda import configs
from tfgda import models
from tfgda.errors import UserError
from tfgda.experiments import report
from tfgda.experiments import sweep

PAPER = sorted(
    os.path.relpath(p, os.path.join(REPO, "gin_configs"))
    for p in glob.glob(os.path.join(REPO, "gin_configs", "paper", "*.gin"))
)
# Points per paper config: the paper's grids.
EXPECTED_POINTS = {
    "paper/fig2_sndcgan_real_only.gin": 60,
    "paper/fig2_sndcgan_real_only_instance_noise.gin": 5,
    "paper/fig3_sndcgan_real_and_fake.gin": 120,
    "paper/fig3_sndcgan_blueness.gin": 10,
    "paper/fig5_biggan_real_and_fake.gin": 120,
    "paper/fig5_biggan_blueness.gin": 10,
    "paper/fig13_strength_annealing.gin": 3,
    "paper/fig14_translation_brightness.gin": 20,
    "paper/table1_biggan_cntr_bcr.gin": 4,
    "paper/fig6_biggan_cntr_views.gin": 30,
    "paper/fig4_fid_ratio.gin": 1,
    "paper/sndcgan_baseline.gin": 3,
    "paper/biggan_baseline.gin": 3,
    "paper/sndcgan_zoom_out_bcr.gin": 1,
    "paper/biggan_translation_bcr.gin": 1,
}


def test_every_paper_config_is_listed():
    assert PAPER == sorted(EXPECTED_POINTS)


@pytest.mark.parametrize("name", PAPER)
def test_paper_configs_expand_and_build_their_models(name):
    grid = sweep.expand([name])
    assert len(grid.points) == EXPECTED_POINTS[name]
    assert len({p.name for p in grid.points}) == len(grid.points)
    # Every point's bindings parse (expand checked them); the first and last
    # build their models at the config's widths, at CIFAR-10's shape.
    for point in (grid.points[0], grid.points[-1]):
        gin.clear_config()
        from tfgda import configs

        configs.parse([name], list(point.bindings))
        model = getattr(models, point.settings["model"])
        generator, discriminator = model((32, 32, 3), 10)
        images = generator(
            np.zeros([2, generator.dim_z], np.float32), np.zeros([2], np.int32)
        )
        assert images.shape == (2, 32, 32, 3)
        assert discriminator(images, np.zeros([2], np.int32)).shape[0] == 2


SPATIAL = (
    "zoom_out",
    "zoom_in",
    "translation",
    "translation_x",
    "translation_y",
    "cutmix",
    "cutout",
)
APPEARANCE = ("brightness", "redness", "greenness", "mixup")


def _panels(grid):
    """{augmentation: sorted strengths} of a sweep's points."""
    panels = {}
    for point in grid.points:
        settings = point.settings
        panels.setdefault(settings["augmentation"], set()).add(
            settings["strength"]
        )
    return {name: sorted(values) for name, values in panels.items()}


@pytest.mark.parametrize(
    "name, small",
    [
        ("paper/fig3_sndcgan_real_and_fake.gin", [0.02, 0.04, 0.06, 0.08, 0.1]),
        ("paper/fig5_biggan_real_and_fake.gin", [0.06, 0.08, 0.1, 0.2, 0.3]),
    ],
)
def test_figures_3_and_5_sweep_each_panel_at_its_own_strengths(name, small):
    """The paper's pages: 12 panels (no blueness), spatial ops at 0.1-0.5,
    brightness at 0.02-0.3, redness, greenness and mixup at the figure's
    own small grid, instance noise at 0.02-0.1; each in two methods."""
    grid = sweep.expand([name])
    spatial = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert _panels(grid) == {
        **{op: spatial for op in SPATIAL},
        "brightness": [0.02, 0.06, 0.1, 0.2, 0.3],
        **{op: small for op in ("redness", "greenness", "mixup")},
        "instance_noise": [0.02, 0.04, 0.06, 0.08, 0.1],
    }
    methods = {}
    for point in grid.points:
        s = point.settings
        key = (s["augmentation"], s["strength"])
        methods.setdefault(key, set()).add((s["mode"], s["lambda_bcr_real"]))
    assert set(map(frozenset, methods.values())) == {
        frozenset({("real_and_fake", 0.0), ("none", 10.0)})
    }
    # The extra op, on its own and at the figure's colour grid.
    extra = sweep.expand([name.replace("real_and_fake", "blueness")])
    assert _panels(extra) == {"blueness": small}


def test_figure_2_has_twelve_panels_at_one_grid_and_no_instance_noise():
    grid = sweep.expand(["paper/fig2_sndcgan_real_only.gin"])
    assert _panels(grid) == {
        op: [0.1, 0.2, 0.3, 0.4, 0.5]
        for op in (*SPATIAL, *APPEARANCE, "blueness")
    }
    extra = sweep.expand(["paper/fig2_sndcgan_real_only_instance_noise.gin"])
    assert _panels(extra) == {"instance_noise": [0.02, 0.04, 0.06, 0.08, 0.1]}
    assert {p.settings["mode"] for p in extra.points} == {"real_only"}


def test_paper_grids_are_the_papers():
    fig3 = sweep.expand(["paper/fig3_sndcgan_real_and_fake.gin"])
    settings = [p.settings for p in fig3.points]
    # Two methods per augmentation and strength, not four combinations:
    # vanilla real+fake without bCR, and bCR on clean images (Algorithm 1).
    assert {(s["mode"], s["lambda_bcr_real"]) for s in settings} == {
        ("real_and_fake", 0.0),
        ("none", 10.0),
    }
    assert all(
        s["steps"] == 200_000 and s["batch_size"] == 64 for s in settings
    )
    assert fig3.points[1].bindings == (
        "augment.name = 'zoom_out'",
        "augment.strength = 0.1",
        "augment.mode = 'none'",
        "augment.mix_real_fake = False",
        "LAMBDA_BCR = 10.0",
    )
    fig2 = sweep.expand(["paper/fig2_sndcgan_real_only.gin"])
    assert {p.settings["mode"] for p in fig2.points} == {"real_only"}
    table1 = sweep.expand(["paper/table1_biggan_cntr_bcr.gin"])
    assert [
        (p.settings["lambda_cntr"], p.settings["lambda_bcr_fake"])
        for p in table1.points
    ] == [(0.0, 0.0), (0.1, 0.0), (0.0, 10.0), (0.1, 5.0)]
    # ... the four rows as printed, each matched with its paper value.
    values = report.paper_values()
    printed = [
        report.match_paper(
            {k: "" if v is None else str(v) for k, v in p.settings.items()},
            values,
        )
        for p in table1.points
    ]
    assert [(v["fid"], v["inception_score"]) for v in printed] == [
        ("14.73", "9.22"),
        ("12.27", "9.23"),
        ("9.21", "9.29"),
        ("8.30", "9.41"),
    ]
    fig6 = sweep.expand(["paper/fig6_biggan_cntr_views.gin"])
    assert {
        (p.settings["cntr_views"], p.settings["cntr_strength"])
        for p in fig6.points
    } == {
        (v, s)
        for v in (
            "simclr",
            "brightness",
            "cutout",
            "mixup",
            "translation",
            "zoom_in",
        )
        for s in (0.1, 0.3, 0.5, 0.7, 0.9)
    }
    annealing = sweep.expand(["paper/fig13_strength_annealing.gin"])
    assert [p.settings["schedule"] for p in annealing.points] == [
        "constant",
        "linear_decay",
        "cosine_decay",
    ]


@pytest.mark.parametrize("name", PAPER)
def test_paper_bcr_points_train_the_gan_loss_on_clean_images(name):
    """The paper's bCR (Algorithm 1): wherever a paper config turns bCR on,
    D's GAN-loss inputs are not augmented and bCR compares D on clean x."""
    from tfgda import augment
    from tfgda import configs
    from tfgda.training import regularizers

    for point in sweep.expand([name]).points:
        if not point.settings["lambda_bcr_real"]:
            continue
        gin.clear_config()
        configs.parse([name], list(point.bindings))
        policy = augment.augment(total_steps=1)
        x = (
            np.random.RandomState(0)
            .uniform(-1, 1, [2, 32, 32, 3])
            .astype(np.float32)
        )
        assert not policy.active, point.name
        np.testing.assert_array_equal(policy.real(x, [0, 1]), x)
        np.testing.assert_array_equal(policy.fake(x, [0, 1]), x)
        assert regularizers.bcr().inputs == "clean"
        assert point.settings["bcr_inputs"] == "clean"


def test_every_bound_regularizer_parameter_is_recorded():
    """Whatever the regularizer (zCR has no column of its own): results.csv
    records each parameter the point binds, macros and sweeps resolved."""
    grid = sweep.expand(
        ["quickstart.gin"],
        [
            "train.regularizers = [@bcr(), @zcr()]",
            "ZCR = 5.0",
            "zcr.lambda_dis = %ZCR",
            "zcr.sigma = 0.05",
            "bcr.lambda_real = 10.0",
            "bcr.augment = 'translation(0.125)'",
        ],
        ["zcr.lambda_gen=[0.0, 0.5]", "bcr.lambda_real=[0.0, 10.0]"],
    )
    recorded = [p.settings["regularizers"] for p in grid.points]
    assert recorded[0] == (  # bCR's weights 0: not trained, not recorded
        "zcr.lambda_dis = 5.0; zcr.lambda_gen = 0.0; zcr.sigma = 0.05"
    )
    assert recorded[-1] == (
        "bcr.augment = 'translation(0.125)'; bcr.lambda_real = 10.0; "
        "zcr.lambda_dis = 5.0; zcr.lambda_gen = 0.5; zcr.sigma = 0.05"
    )
    assert "regularizers" in sweep.COLUMNS


def test_the_cpu_sweep_is_the_issues_six_methods_seed_first():
    grid = sweep.expand(["cpu/findings_small.gin"])
    methods = [
        (
            p.settings["mode"],
            p.settings["augmentation"],
            p.settings["lambda_bcr_real"],
        )
        for p in grid.points
    ]
    assert methods[:6] == [
        ("none", None, 0.0),
        ("real_only", "translation", 0.0),
        ("real_and_fake", "translation", 0.0),
        ("real_and_fake", "zoom_out", 0.0),
        ("none", "translation", 10.0),
        ("real_and_fake", "brightness", 0.0),
    ]
    assert methods[6:] == methods[:6]  # every method's seed 0 first
    assert [p.settings["seed"] for p in grid.points] == [0] * 6 + [1] * 6
    assert {
        (p.settings["steps"], p.settings["batch_size"], p.settings["strength"])
        for p in grid.points
    } == {(2500, 64, 0.2)}
    gin.clear_config()
    configs.parse(["cpu/findings_small.gin"], list(grid.points[4].bindings))
    assert gin.query_parameter("dataset.subset") == 5000
    assert gin.query_parameter("bcr.inputs") == "clean"


def test_lists_in_a_zipped_tuple_stand_for_each_of_their_values():
    assert configs.axis_values(
        "augment.name, augment.strength",
        [(["a", "b"], [0.1, 0.2]), ("c", [0.3]), ("d", 0.4), ([[1, 2]], 5)],
    ) == [
        ("a", 0.1),
        ("a", 0.2),
        ("b", 0.1),
        ("b", 0.2),
        ("c", 0.3),
        ("d", 0.4),
        ([1, 2], 5),
    ]
    # A single axis' list values are values, not alternatives.
    assert configs.axis_values("train.hooks", [[1, 2]]) == [[1, 2]]
    with pytest.raises(UserError, match="holds an empty list"):
        configs.axis_values("augment.name, augment.strength", [("a", [])])


def test_zipped_axes_bind_their_names_in_step():
    assert configs.axis_bindings(
        "augment.mode, LAMBDA_BCR", "('none', 10.0, )"
    ) == [("augment.mode", "'none'"), ("LAMBDA_BCR", "10.0")]
    with pytest.raises(UserError, match="must be a tuple of 2 literals"):
        configs.axis_bindings("augment.mode, LAMBDA_BCR", "'none'")


def test_flags_add_to_and_replace_the_configs_grid():
    grid = sweep.expand(
        ["paper/fig14_translation_brightness.gin"],
        (),
        ["LAMBDA_BCR=[10.0]", "train.seed=[0, 1]"],
    )
    assert len(grid.points) == 5 * 1 * 2
    assert grid.points[0].bindings == (
        "augment.strength = 0.1",
        "LAMBDA_BCR = 10.0",
        "train.seed = 0",
    )
    assert grid.points[0].name == "strength=0.1,LAMBDA_BCR=10.0,seed=0"


@pytest.mark.parametrize(
    "text, message",
    [
        ("augment.strength", "is malformed: write NAME=[v1, v2, ...]"),
        ("augment.strength=0.1,0.2", "the values must be a non-empty list"),
        ("augment.strength=[0.1,", "are not a list of Python literals"),
        ("augment.strength=[]", "the values must be a non-empty list"),
        ("augment.name=[translation]", "are not a list of Python literals"),
    ],
)
def test_malformed_value_lists(text, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[")):
        sweep.parse_sweep(text)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "trian.steps=[1, 2]",
            "not bindable: No configurable matching 'trian'",
        ),
        ("train.stepz=[1, 2]", "doesn't have a parameter named 'stepz'"),
        ("LAMBDA_BCRR=[1.0]", "neither a configurable.parameter nor a macro"),
    ],
)
def test_names_that_are_not_bindable(text, message):
    with pytest.raises(UserError, match=message):
        sweep.expand(["paper/fig3_sndcgan_real_and_fake.gin"], (), [text])


def test_a_bad_value_is_caught_at_its_point():
    with pytest.raises(
        UserError,
        match=r"sweep point augment.name = "
        r"'zoomout'.*unknown augmentation 'zoomout'",
    ):
        sweep.expand(
            ["paper/fig3_sndcgan_real_and_fake.gin"],
            (),
            ["augment.name,augment.strength=[(['zoom_out', 'zoomout'], 0.1)]"],
        )


def test_a_name_two_axes_bind_is_refused_and_a_zipped_axis_replaced():
    fig3 = ["paper/fig3_sndcgan_real_and_fake.gin"]
    with pytest.raises(
        UserError,
        match=r"axes 'augment.name, augment.strength' and 'augment.name' "
        r"both bind augment.name: sweep the config's axis itself",
    ):
        sweep.expand(fig3, (), ["augment.name=['zoom_out']"])
    grid = sweep.expand(
        fig3, (), ["augment.name , augment.strength=[('cutout', [0.1, 0.3])]"]
    )
    assert [
        (p.settings["augmentation"], p.settings["strength"])
        for p in grid.points
    ] == [("cutout", 0.1)] * 2 + [("cutout", 0.3)] * 2


def test_a_root_of_another_sweep_is_refused_and_kept(tmp_path):
    one = sweep.expand(["paper/fig13_strength_annealing.gin"])
    other = sweep.expand(["paper/table1_biggan_cntr_bcr.gin"])
    sweep.check_root(str(tmp_path / "root"), one, "fid10k_test", True)
    record = (tmp_path / "root" / "sweep.json").read_text()
    sweep.check_root(str(tmp_path / "root"), one, "fid10k_test", True)
    with pytest.raises(UserError, match="holds another sweep's results"):
        sweep.check_root(str(tmp_path / "root"), other, "fid10k_test", True)
    with pytest.raises(UserError, match="differs in protocol"):
        sweep.check_root(str(tmp_path / "root"), one, "fid50k_train", True)
    assert (tmp_path / "root" / "sweep.json").read_text() == record
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "ckpt-1.index").write_text("")
    with pytest.raises(UserError, match="not empty and holds no sweep.json"):
        sweep.check_root(str(tmp_path / "run"), one, "fid10k_test", True)


def test_dry_run_prints_one_command_per_point_and_writes_nothing(tmp_path):
    grid = sweep.expand(["paper/fig13_strength_annealing.gin"])
    lines = []

    class Out:
        def write(self, text):
            lines.extend(t for t in text.splitlines() if t)

        def flush(self):
            pass

    sweep.run_sweep(
        grid,
        str(tmp_path / "root"),
        "fid10k_test",
        ["--protocol=fid10k_test"],
        dry_run=True,
        out=Out(),
    )
    assert len(lines) == 3
    assert all(
        "-m tfgda.train" in x and "&&" in x and "-m tfgda.evaluate" in x
        for x in lines
    )
    assert "'--gin_bindings=augment.schedule = '\"'\"'linear_decay'" in lines[1]
    assert not (tmp_path / "root").exists()


def _sweep_cli(root, data, standin_inception, cache, *extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        _sweep_args(root, data, standin_inception, cache, *extra),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )


def _sweep_args(root, data, standin_inception, cache, *extra):
    args = [
        sys.executable,
        "-m",
        "tfgda.sweep",
        f"--root={root}",
        "--sweep=augment.name=['translation', 'brightness']",
        f"--inception={standin_inception}",
        f"--reference_path={data}",
        "--protocol=fid8_test",
        "--batch_size=8",
        f"--cache_dir={cache}",
        *extra,
    ]
    args += [
        f"--gin_bindings={b}"
        for b in tiny_bindings(
            data, 2, "augment.mode = 'real_and_fake'", "augment.strength = 0.2"
        )
    ]
    return args


def test_a_two_point_sweep_trains_evaluates_gathers_resumes_and_archives(
    tmp_path, tiny_zip, standin_inception
):
    """Two points trained, evaluated, gathered and reported; a rerun skips
    them; --archive keeps each finished point's small results (never its
    checkpoints), and on a machine without ROOT's runs the sweep trains
    only the points the archive does not hold."""
    root, archive = tmp_path / "sweep", tmp_path / "kept"
    kept = f"--archive={archive}"
    first = _sweep_cli(root, tiny_zip, standin_inception, tmp_path / "c", kept)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "[1/2] name=translation: training" in first.stdout
    assert "[2/2] name=brightness: FID " in first.stdout
    assert first.stdout.count("results kept in") == 2
    with open(root / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["augmentation"] for r in rows] == ["translation", "brightness"]
    for row in rows:
        assert row["step"] == "2" and row["seed"] == "0"
        assert row["protocol"] == "fid8_test" and row["steps"] == "2"
        assert row["mode"] == "real_and_fake" and row["strength"] == "0.2"
        assert np.isfinite(float(row["fid"])) and float(row["fid"]) >= 0
        with open(
            os.path.join(row["model_dir"], "eval", "fid8_test", "ckpt-2.json")
        ) as f:
            assert json.load(f)["fid"] == pytest.approx(float(row["fid"]))
    points = sorted(p.name for p in archive.iterdir() if p.is_dir())
    assert points == ["name=brightness", "name=translation"]
    for point in points:
        kept_point = archive / point
        assert (kept_point / "eval" / "fid8_test" / "ckpt-2.json").exists()
        assert (kept_point / "operative_config.gin").exists()
        assert (kept_point / "samples" / "step_0000002.png").exists()
        record = json.loads((kept_point / "point.json").read_text())
        assert record["wall_seconds"] > 0
        log = (kept_point / "sweep.log").read_text()
        assert "Finished: step 2 of 2" in log
        assert not list(kept_point.rglob("ckpt-*.index"))  # no checkpoint
    with open(archive / "results.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2
    # The archive is a report's root: the sweep's record and results, rows
    # pointing at the kept copies.
    assert json.loads((archive / "sweep.json").read_text()) == json.loads(
        (root / "sweep.json").read_text()
    )
    assert {r["model_dir"] for r in rows} == {str(archive / p) for p in points}
    # Rerun: both points are finished and skipped; the rows stay.
    again = _sweep_cli(root, tiny_zip, standin_inception, tmp_path / "c", kept)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("finished before (kept in") == 2
    with open(root / "results.csv", newline="") as f:
        assert list(csv.DictReader(f)) == rows
    # Another grid in the same root: refused before anything runs.
    other = _sweep_cli(
        root,
        tiny_zip,
        standin_inception,
        tmp_path / "c",
        "--sweep=train.seed=[0, 1]",
    )
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert "holds another sweep's results" in other.stderr

    # The report: the bars are the results, in the paper's layout.
    out = tmp_path / "report"
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfgda.report",
            f"--root={root}",
            f"--out={out}",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr
    assert (out / "bars.png").stat().st_size > 10_000
    grid, read = report.read_sweep(str(root))
    figure = report.draw(grid, read)["bars"]
    spatial, appearance = figure.axes[0], figure.axes[1]
    heights = {  # ours filled, the paper's hatched
        (ax, bool(p.get_hatch())): []
        for ax in (spatial, appearance)
        for p in ax.patches
    }
    for ax in (spatial, appearance):
        for p in ax.patches:
            heights[ax, bool(p.get_hatch())].append(p.get_height())
    assert [t.get_text() for t in spatial.get_xticklabels()] == ["translation"]
    assert [t.get_text() for t in appearance.get_xticklabels()] == [
        "brightness"
    ]
    np.testing.assert_allclose(heights[spatial, False], [float(rows[0]["fid"])])
    np.testing.assert_allclose(
        heights[appearance, False], [float(rows[1]["fid"])]
    )
    # Beside each, the paper's bar for real+fake at 0.2, read off Fig. 3.
    assert heights[spatial, True] == [18.9]
    assert heights[appearance, True] == [25.0]
    # The paper's SNDCGAN baseline is drawn as a line.
    assert any(
        list(line.get_ydata()) == [24.73, 24.73] for line in spatial.get_lines()
    )
    table = (out / "results.md").read_text()
    fid = float(rows[0]["fid"])  # one seed, one checkpoint: every rule
    assert (
        f"augment.name = translation | 1 | 2 | fid8_test | "
        f"{fid:.2f} | {fid:.2f} | {fid:.2f} | {fid:.2f} | {fid:.2f} | "
        f"{float(rows[0]['inception_score']):.2f} | "
        f"18.9 ± 0.3 (read off the chart) | - | {fid - 18.9:+.2f} | "
        "Zhao et al. 2020, Fig. 3 (vanilla rf) |" in table
    )

    # Another machine: ROOT is gone, one point's archive too (and a
    # half-written copy of it, which does not count).
    shutil.rmtree(root)
    shutil.rmtree(archive / "name=brightness")
    (archive / "name=brightness.partial").mkdir()
    again = _sweep_cli(root, tiny_zip, standin_inception, tmp_path / "c", kept)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "[1/2] name=translation: finished before (kept in" in again.stdout
    assert "[1/2] name=translation: training" not in again.stdout
    assert "[2/2] name=brightness: training" in again.stdout
    assert not (root / "name=translation").exists()
    assert not (archive / "name=brightness.partial").exists()
    with open(root / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["augmentation"] for r in rows] == ["translation", "brightness"]
    assert rows[0]["model_dir"] == str(archive / "name=translation")
    _, reported = report.read_sweep(str(archive))
    assert [os.path.isdir(r["model_dir"]) for r in reported] == [True, True]


def test_a_point_evaluated_by_its_training_is_not_evaluated_again(
    tmp_path, monkeypatch
):
    # The evaluation hook writes the final evaluation itself: the sweep then
    # skips its own evaluation of that point.
    grid = sweep.expand([], ["train.steps = 3"], ["train.seed=[0, 1]"])
    ran = []

    def fake_run(cmd, log, out, tag, poll_seconds):
        ran.append(cmd[2])  # the module: tfgda.train or tfgda.evaluate
        model_dir = cmd[3].split("=", 1)[1]
        if cmd[2] == "tfgda.train" and model_dir.endswith("seed=0"):
            folder = os.path.join(model_dir, "eval", "fid8_test")
        elif cmd[2] == "tfgda.evaluate":
            folder = os.path.join(model_dir, "eval", "fid8_test")
        else:
            return 0
        os.makedirs(folder)
        with open(os.path.join(folder, "ckpt-3.json"), "w") as f:
            json.dump(
                {"step": 3, "fid": 1.5, "inception_score": 1.0, "kid": 0.0}, f
            )
        return 0

    monkeypatch.setattr(sweep, "_run_logged", fake_run)
    failed = sweep.run_sweep(grid, str(tmp_path / "root"), "fid8_test")
    assert not failed
    assert ran == ["tfgda.train", "tfgda.train", "tfgda.evaluate"]
    assert len(sweep.gather(str(tmp_path / "root"), grid, "fid8_test")) == 2


def test_dry_run_from_the_command_line_prints_only_commands(
    tmp_path, standin_inception
):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    args = [
        sys.executable,
        "-m",
        "tfgda.sweep",
        "--dry_run",
        "--gin_file=paper/table1_biggan_cntr_bcr.gin",
        f"--root={tmp_path / 'root'}",
    ]
    # What the sweep would check, a dry run checks: here, the Inception
    # module its evaluations would load.
    missing = subprocess.run(
        [*args, f"--inception={tmp_path / 'no_inception'}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert missing.returncode == 2 and not missing.stdout
    assert "the Inception module directory" in missing.stderr
    done = subprocess.run(
        [*args, f"--inception={standin_inception}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 4 and all("tfgda.train" in x for x in lines)
    # gin's include lookups are not news: one line per lookup would bury
    # the commands of a large grid.
    assert "system_path_file_exists" not in done.stderr
    assert not (tmp_path / "root").exists()


def test_every_evaluated_checkpoint_is_a_row_and_all_can_be_asked(tmp_path):
    grid = sweep.expand([], ["train.steps = 4"], ["train.seed=[0]"])
    (point,) = grid.points
    folder = tmp_path / point.name / "eval" / "fid8_test"
    folder.mkdir(parents=True)
    for step, fid in ((2, 30.0), (4, 20.0)):
        (folder / f"ckpt-{step}.json").write_text(
            json.dumps(
                {"step": step, "fid": fid, "inception_score": 1.0, "kid": 0.1}
            )
        )
    rows = sweep.gather(str(tmp_path), grid, "fid8_test")
    assert [(r["step"], r["final"], r["fid"]) for r in rows] == [
        (2, False, 30.0),
        (4, True, 20.0),
    ]
    _, eval_cmd = sweep.commands(grid, point, "DIR", [], checkpoints="all")
    assert "--checkpoint=all" in eval_cmd
    _, eval_cmd = sweep.commands(grid, point, "DIR", [])
    assert "--checkpoint=latest" in eval_cmd


def test_offline_scores_are_gathered_from_their_own_folder(tmp_path):
    grid = sweep.expand([], ["train.steps = 4"], ["train.seed=[0]"])
    (point,) = grid.points
    inception = tmp_path / point.name / "eval" / "fid8_test"
    offline = (
        tmp_path / point.name / "eval" / "cifar10_classifier" / "fid8_test"
    )
    for folder, result in (
        (inception, {"fid": 30.0}),
        (offline, {"fcd": 3.0, "kid_fcd": 0.01}),
    ):
        folder.mkdir(parents=True)
        (folder / "ckpt-4.json").write_text(json.dumps({"step": 4, **result}))
    (row,) = sweep.write_results(
        str(tmp_path), grid, "fid8_test", "cifar10_classifier"
    )
    assert (row["features"], row["fcd"], row["kid_fcd"], row["fid"]) == (
        "cifar10_classifier",
        3.0,
        0.01,
        None,
    )
    with open(tmp_path / "results.csv") as f:
        assert "fcd" in f.readline()
    (row,) = sweep.gather(str(tmp_path), grid, "fid8_test")
    assert (row["features"], row["fid"], row["fcd"]) == (
        "inception",
        30.0,
        None,
    )
    _, eval_cmd = sweep.commands(
        grid, point, "DIR", ["--features=cifar10_classifier"]
    )
    assert "--features=cifar10_classifier" in eval_cmd


@pytest.mark.parametrize(
    "drop, message",
    [
        (
            "--reference_path",
            "needs the test split, but the run trained on an "
            "image archive: pass --reference_path",
        ),
        ("--inception", "the Inception module directory"),
        ("--protocol", "protocol fid1k_test needs 1000 reference images"),
    ],
)
def test_evaluation_inputs_are_checked_before_any_training(
    tmp_path, tiny_zip, standin_inception, drop, message
):
    root = tmp_path / "sweep"
    args = [
        a
        for a in _sweep_args(root, tiny_zip, standin_inception, tmp_path / "c")
        if not a.startswith(drop)
    ]
    if drop == "--inception":
        args.append(f"--inception={tmp_path / 'no_inception'}")
    if drop == "--protocol":  # more test images than the archive holds
        args.append("--protocol=fid1k_test")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        args, capture_output=True, text=True, cwd=REPO, env=env, timeout=600
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not root.exists()  # nothing trained, nothing written


def _descendants(pid):
    """pid's descendant processes (Linux), children first."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        return []
    return [d for c in children for d in [c, *_descendants(c)]]


@pytest.mark.parametrize(
    "started_with", ["default", "sigint_ignored", "terminal", "sigterm"]
)
def test_ctrl_c_saves_the_point_and_says_how_to_resume(
    tmp_path, tiny_zip, standin_inception, started_with
):
    """Also for a sweep started with SIGINT ignored, as a shell starts a
    background job (`nohup ... &`): the sweep's own handler catches it.
    'terminal': Ctrl-C at a terminal signals the whole foreground process
    group, the sweep and (were it in the group) its trainer, which the
    sweep signals too: a second SIGINT would stop it without its save.
    'sigterm': a scheduler's stop, passed on as one SIGTERM."""
    root = tmp_path / "sweep"
    args = [  # after the sweep's own bindings, so that it wins
        *_sweep_args(root, tiny_zip, standin_inception, tmp_path / "cache"),
        "--gin_bindings=train.steps = 100000",
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    trainers = []  # killed at the end, so that a failure leaves none
    sweep_process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
        preexec_fn=(
            (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
            if started_with == "sigint_ignored"
            else None
        ),
        start_new_session=started_with == "terminal",  # a group of its own
    )
    try:
        logs = list(root.glob("*/sweep.log"))
        deadline = time.time() + 300
        while time.time() < deadline and not (
            logs and re.search(r"step \d+/100000", logs[0].read_text())
        ):
            time.sleep(1)
            logs = list(root.glob("*/sweep.log"))
        assert logs, "the first point never started"
        trainers = _descendants(sweep_process.pid)
        if started_with == "terminal":  # the group, as a terminal does
            os.killpg(sweep_process.pid, signal.SIGINT)
        elif started_with == "sigterm":
            sweep_process.send_signal(signal.SIGTERM)
        else:
            sweep_process.send_signal(signal.SIGINT)  # the sweep alone
        out, err = sweep_process.communicate(timeout=300)
    finally:
        sweep_process.kill()
        for pid in trainers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    status = 143 if started_with == "sigterm" else 130
    assert sweep_process.returncode == status, err[-2000:]
    assert "interrupted; the point's run saved its step" in err
    assert "Rerun the same tfgda.sweep command to resume" in err
    assert "Traceback" not in err
    point = logs[0].parent
    assert list(point.glob("ckpt-*.index"))  # the trainer's save at SIGINT
    log = logs[0].read_text()
    signal_name = "SIGTERM" if started_with == "sigterm" else "SIGINT"
    assert f"stopped by {signal_name}" in log  # the trainer's line
    assert "stopped at once" not in log
