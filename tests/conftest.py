"""Shared fixtures. TensorFlow sees two logical CPU devices, so that
distribution strategies run here as they do over two GPUs."""

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gin  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_CIFAR = os.path.join(REPO, "..", "shared", "data", "cifar10-jpeg")


@pytest.fixture(autouse=True)
def _clear_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def _shared_cifar(split):
    """A split of the shared offline CIFAR-10 copy, as a JPEG zip.

    CI sets TFGDA_REQUIRE_SHARED_DATA=1, so there a missing copy fails the
    tests that need it instead of skipping them.
    """
    path = os.path.join(SHARED_CIFAR, f"{split}.zip")
    if not os.path.exists(path):
        if os.environ.get("TFGDA_REQUIRE_SHARED_DATA"):
            pytest.fail(f"the CIFAR-10 copy {path} is missing")
        pytest.skip(f"the CIFAR-10 copy {path} is not on this machine")
    return path


@pytest.fixture(scope="session")
def cifar_zip():
    """The CIFAR-10 test split (10,000 JPEGs)."""
    return _shared_cifar("test")


@pytest.fixture(scope="session")
def cifar_train_zip():
    """The CIFAR-10 train split (50,000 JPEGs)."""
    return _shared_cifar("train")


def built_gan(generator, discriminator, global_batch, **kwargs):
    """A GAN of these networks with Adam for both and the hinge loss,
    built (every variable created); kwargs go to GAN."""
    from tfgda.training import gan as gan_lib
    from tfgda.training import losses
    from tfgda.training import optim

    gan = gan_lib.GAN(
        generator=generator,
        discriminator=discriminator,
        g_optimizer=optim.adam(),
        d_optimizer=optim.adam(),
        loss=losses.hinge,
        global_batch=global_batch,
        **kwargs,
    )
    gan.build()
    return gan


def write_images(folder, layout, size=(8, 8), seed=0):
    """Writes PNGs: layout maps a class folder ('' for none) to a count."""
    rng = np.random.default_rng(seed)
    for cls, count in layout.items():
        os.makedirs(os.path.join(folder, cls), exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(
                os.path.join(folder, cls, f"{i:03d}.png")
            )
    return str(folder)


def zip_folder(folder, path):
    with zipfile.ZipFile(path, "w") as archive:
        for root, _, files in os.walk(folder):
            for f in files:
                full = os.path.join(root, f)
                archive.write(full, os.path.relpath(full, folder))
    return str(path)


@pytest.fixture
def tiny_zip(tmp_path):
    """A zip of 48 random 32x32 PNGs in three class folders."""
    folder = write_images(
        tmp_path / "images", {"a": 16, "b": 16, "c": 16}, size=(32, 32)
    )
    return zip_folder(folder, tmp_path / "tiny.zip")


# Bindings that make a training run test-sized.
TINY = (
    "sndcgan.ch = 4",
    "sndcgan.dim_z = 8",
    "train.batch_size = 8",
    "progress.every = 1",
    "samples.every = 2",
    "dataset.shuffle_buffer = 64",
    "standing_stats.num_samples = 64",
    "standing_stats.grid_samples = 16",
    "standing_stats.batch_size = 16",
)


def tiny_bindings(data_path, steps, *extra):
    return [
        *TINY,
        f"train.steps = {steps}",
        f"dataset.path = '{data_path}'",
        *extra,
    ]


class _StandInInception(tf.Module):
    """A tiny classifier with TF-GAN Inception's contract: float images
    [N, 299, 299, 3] in [-1, 1] -> {'pool_3': [N, 1, 1, D], 'logits':
    [N, K]}. Fixed random weights; features depend on colour and layout."""

    def __init__(self, dim=64, classes=10):
        super().__init__()
        rng = np.random.default_rng(0)
        self.w = tf.Variable(
            rng.normal(size=(8 * 8 * 3, dim)) / 14, dtype=tf.float32
        )
        self.v = tf.Variable(rng.normal(size=(dim, classes)), dtype=tf.float32)

    @tf.function(
        input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)]
    )
    def __call__(self, images):
        x = tf.nn.avg_pool2d(images, 37, 37, "VALID")  # [N, 8, 8, 3]
        h = tf.tanh(tf.matmul(tf.reshape(x, [-1, 8 * 8 * 3]), self.w))
        return {"pool_3": h[:, None, None, :], "logits": tf.matmul(h, self.v)}


@pytest.fixture(scope="session")
def standin_inception(tmp_path_factory):
    """A SavedModel directory standing in for TF-GAN's Inception module."""
    path = str(tmp_path_factory.mktemp("inception"))
    tf.saved_model.save(_StandInInception(), path)
    return path


@pytest.fixture(scope="session")
def _trained_run(tmp_path_factory):
    """A 2-step tiny training run with an EMA generator, trained once per
    test process on its own copy of tiny_zip's images."""
    from tfgda import configs  # pylint: disable=g-import-not-at-top
    from tfgda.training import trainer  # pylint: disable=g-import-not-at-top

    root = tmp_path_factory.mktemp("trained_run")
    folder = write_images(
        root / "images", {"a": 16, "b": 16, "c": 16}, size=(32, 32)
    )
    data = zip_folder(folder, root / "tiny.zip")
    model_dir = root / "run"
    configs.parse([], tiny_bindings(data, 2, "train.ema_decay = 0.5"))
    try:
        trainer.train(str(model_dir))
    finally:
        gin.clear_config()
    return model_dir


@pytest.fixture
def run_dir(tmp_path, _trained_run):
    """A copy of that run, the test's own to read and write (a copied run
    is a run: its checkpoints are its own files)."""
    model_dir = tmp_path / "run"
    shutil.copytree(_trained_run, model_dir)
    return str(model_dir)


# ------------------------------------------------ parity with reference code
# The third-party implementations in ../shared/reference/ (loaded, never
# copied) run with PyTorch for CPU in a process of their own
# (tests/parity/reference_runner.py): TensorFlow and PyTorch in one process
# can crash each other. CI installs the `parity` extra and sets
# TFGDA_REQUIRE_SHARED_DATA=1, so there a missing reference or torch fails
# the parity tests instead of skipping them.
PARITY = os.path.join(REPO, "tests", "parity")
REFERENCE = os.path.join(REPO, "..", "shared", "reference", "diffaugment")


def _missing_reference(what):
    if os.environ.get("TFGDA_REQUIRE_SHARED_DATA"):
        pytest.fail(f"{what} is missing: parity tests cannot run")
    pytest.skip(f"{what} is not on this machine")


def python_process(code, timeout=300):
    """Runs `python -c code` in a process of its own, from the repository
    (e.g. a second tf.distribute strategy, whose collective keys would
    clash with this process' first one, or a crash this one must survive);
    returns the finished process, its output as text."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=timeout,
    )


def run_python(code, timeout=300):
    """python_process(code), which must exit 0 (else the test fails with
    its stderr); its stdout."""
    done = python_process(code, timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def run_reference(what, tmp_path_factory):
    """The npz that reference_runner.py writes for `what`."""
    if not os.path.isdir(REFERENCE):
        _missing_reference(f"the reference code {REFERENCE}")
    if importlib.util.find_spec("torch") is None:
        _missing_reference("torch (pip install -e '.[parity]')")
    out = str(tmp_path_factory.mktemp(what) / f"{what}.npz")
    done = subprocess.run(
        [
            sys.executable,
            os.path.join(PARITY, "reference_runner.py"),
            what,
            out,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="session")
def biggan_reference(tmp_path_factory):
    return run_reference("biggan", tmp_path_factory)


@pytest.fixture(scope="session")
def diffaugment_reference(tmp_path_factory):
    return run_reference("diffaugment", tmp_path_factory)
