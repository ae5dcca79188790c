"""The real TFDS path, offline: TFDS's own `cifar10` builder downloads a
small CIFAR-10-format archive (made here) from a server on 127.0.0.1,
prepares it, and a run trains two steps on it. Only the archive's address
is pointed at the local server; the download, extraction, parsing and
reading are TFDS's."""

import functools
import http.server
import io
import os
import tarfile
import threading

from conftest import TINY
import gin
import numpy as np
import pytest

from tfgda import configs
from tfgda import data
from tfgda.errors import UserError
from tfgda.training import trainer

PER_FILE = 4  # records in each of the 5 train batches and the test batch


def _cifar10_binary(folder):
    """cifar-10-binary.tar.gz in the format of the real one: records of a
    label byte and 3072 pixel bytes (channels first), class names."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:

        def add(name, payload):
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))

        for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + [
            "test_batch.bin"
        ]:
            add(
                name,
                b"".join(
                    bytes([i % 10])
                    + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
                    for i in range(PER_FILE)
                ),
            )
        add(
            "batches.meta.txt",
            "".join(f"class_{i}\n" for i in range(10)).encode(),
        )
    (folder / "cifar-10-binary.tar.gz").write_bytes(buffer.getvalue())


@pytest.fixture
def local_cifar10(tmp_path, monkeypatch):
    """TFDS's cifar10 builder, downloading from 127.0.0.1."""
    served = tmp_path / "served"
    served.mkdir()
    _cifar10_binary(served)
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(served)
    )
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/cifar-10-binary.tar.gz"
    from tensorflow_datasets.image_classification import cifar  # pylint: disable=g-import-not-at-top

    real = cifar.Cifar10._cifar_info  # pylint: disable=protected-access
    monkeypatch.setattr(
        cifar.Cifar10,
        "_cifar_info",
        property(lambda self: real.fget(self)._replace(url=url)),
    )
    yield tmp_path / "tfds"
    server.shutdown()


def test_tfds_downloads_prepares_and_trains(local_cifar10, tmp_path):
    ds, info = data.dataset(
        4,
        name="cifar10",
        split="test",
        data_dir=str(local_cifar10),
        shuffle=False,
        repeat=False,
    )
    assert (info.name, info.num_classes, info.image_shape) == (
        "cifar10",
        10,
        (32, 32, 3),
    )
    batch = next(iter(ds))
    assert batch["images"].shape == (4, 32, 32, 3)
    assert float(batch["images"].numpy().min()) >= -1.0
    # Prepared once; a run trains two steps from it (no second download).
    gin.clear_config()
    configs.parse(
        [],
        [
            *TINY,
            "train.steps = 2",
            "train.batch_size = 4",
            f"dataset.data_dir = '{local_cifar10}'",
        ],
    )
    metrics = trainer.train(str(tmp_path / "run"))
    assert np.isfinite(metrics["d_loss"])
    assert os.path.exists(tmp_path / "run" / "ckpt-2.index")


def test_a_missing_module_is_named_not_blamed_on_the_network(
    local_cifar10, monkeypatch
):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

    def missing(*args, **kwargs):
        raise ModuleNotFoundError(
            "No module named 'importlib_resources'", name="importlib_resources"
        )

    monkeypatch.setattr(
        tfds.core.DatasetBuilder, "download_and_prepare", missing
    )
    with pytest.raises(
        UserError, match="pip install importlib_resources"
    ) as raised:
        data.dataset(2, name="cifar10", data_dir=str(local_cifar10))
    assert "network" not in str(raised.value)
