"""gin files with clear errors (`tfgda.configs`): a user's own module."""

import ast
import importlib
import json
import os

from conftest import run_python
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


def _modules_declaring_configurables():
    """Every tfgda module whose source declares a gin configurable."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(configs.__file__)))
    found = set()
    for folder, _, files in os.walk(os.path.join(root, "tfgda")):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path) as f:
                tree = ast.parse(f.read())
            declares = any(
                isinstance(node, ast.Attribute)
                and node.attr in ("configurable", "register")
                and isinstance(node.value, ast.Name)
                and node.value.id == "gin"
                for node in ast.walk(tree)
            )
            if declares:
                module = os.path.relpath(path, root)[: -len(".py")]
                module = module.replace(os.sep, ".")
                found.add(module.removesuffix(".__init__"))
    return found


def _loaded_after(statement):
    """The modules a fresh process holds after `statement`."""
    out = run_python(
        f"import json, sys\n{statement}\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    return set(json.loads(out.splitlines()[-1]))


def test_configs_registers_every_module_declaring_a_configurable():
    declaring = _modules_declaring_configurables()
    assert {"tfgda.training.trainer", "tfgda.data"} <= declaring
    missing = declaring - _loaded_after("from tfgda import configs")
    assert not missing, "add them to tfgda/configurables.py"


def test_the_leaves_do_not_import_configs():
    # configs imports the leaves; a leaf that imported configs back would
    # close a cycle (they use ginfiles).
    assert "tfgda.configs" not in _loaded_after("import tfgda.configurables")


def test_parsing_a_training_config_needs_no_other_import():
    # A fresh process that imports only configs: parse registers the rest.
    out = run_python(
        "import gin\n"
        "from tfgda import configs\n"
        "configs.parse(['quickstart.gin'], ['train.steps = 3'])\n"
        "print(gin.query_parameter('train.steps'))\n"
    )
    assert out.split()[-1] == "3"
