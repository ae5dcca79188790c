"""docs/PROVENANCE.md names every binding of every shipped config."""

import glob
import os
import re

from conftest import REPO
import pytest

CONFIGS = sorted(
    glob.glob(os.path.join(REPO, "gin_configs", "**", "*.gin"), recursive=True)
)
_BINDING = re.compile(r"^([A-Za-z_][\w./]*)\s*=", re.M)
# Names that are the experiment's grid or a macro of it, not a value.
_NOT_VALUES = {"sweep.grid"}


def _bindings(path):
    with open(path) as f:
        text = f.read()
    return {
        name
        for name in _BINDING.findall(text)
        if "." in name and name not in _NOT_VALUES
    }


@pytest.mark.parametrize(
    "path", CONFIGS, ids=lambda p: os.path.relpath(p, REPO)
)
def test_every_binding_has_a_source(path):
    with open(os.path.join(REPO, "docs", "PROVENANCE.md")) as f:
        provenance = f.read()
    missing = sorted(
        n
        for n in _bindings(path)
        if f"`{n}" not in provenance and f"{n.split('/')[-1]}" not in provenance
    )
    assert not missing, f"docs/PROVENANCE.md does not name {missing}"


@pytest.mark.parametrize(
    "path", CONFIGS, ids=lambda p: os.path.relpath(p, REPO)
)
def test_bcr_configs_say_which_form_they_use(path):
    with open(path) as f:
        text = f.read()
    if re.search(r"^bcr\.lambda_\w+ = (?!0\.0\b)", text, re.M):
        header = "".join(
            line for line in text.splitlines(True) if line.startswith("#")
        )
        assert "bCR form" in header or "bCR's T" in header, path
        assert "bcr.inputs = 'clean'" in text, path
