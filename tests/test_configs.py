"""gin files with clear errors (`tfgda.configs`): a user's own module."""

import importlib

import pytest

from tfgda import configs
from tfgda.errors import UserError


def test_a_gin_import_of_a_missing_module_names_the_module(tmp_path):
    path = tmp_path / "mine.gin"
    path.write_text("import tfgda_no_such_module\n")
    with pytest.raises(UserError) as raised:
        configs.parse([str(path)], finalize=False)
    message = str(raised.value)
    assert "No module named 'tfgda_no_such_module'" in message
    assert "PYTHONPATH" in message and "spelling" not in message


def test_a_users_module_on_the_path_joins_the_config(tmp_path, monkeypatch):
    (tmp_path / "my_tfgda_ops.py").write_text(
        "import gin\n\n@gin.configurable\ndef my_op(scale=1.0):\n"
        "    return scale\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "mine.gin"
    path.write_text("import my_tfgda_ops\nmy_op.scale = 3.0\n")
    configs.parse([str(path)], finalize=False)
    # The module the gin file imported, as the run sees it.
    assert importlib.import_module("my_tfgda_ops").my_op() == 3.0


def test_kept_gin_state_gives_the_callers_config_back():
    import gin  # pylint: disable=g-import-not-at-top

    from tfgda.training import trainer  # noqa: F401  (registers train)

    configs.parse([], ["train.steps = 7", "MY_MACRO = 3", "sndcgan.ch = 5"])
    before = gin.config_str()
    with configs.kept_gin_state():
        gin.clear_config()
        configs.parse([], ["train.steps = 100"], finalize=False)
        assert gin.query_parameter("train.steps") == 100
    assert gin.query_parameter("train.steps") == 7
    assert gin.query_parameter("sndcgan.ch") == 5
    assert gin.query_parameter("%MY_MACRO") == 3
    assert gin.config_str() == before
    assert gin.config_is_locked()  # parse finalized and locked it
    # And when the block raises.
    with pytest.raises(ValueError), configs.kept_gin_state():
        gin.clear_config()
        raise ValueError
    assert gin.query_parameter("train.steps") == 7
