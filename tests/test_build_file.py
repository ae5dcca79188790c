"""BUILD declares exactly the tree's modules, tests and imports."""

import ast
import os
import subprocess
import sys

import build_sync


def _declared():
    with open(os.path.join(build_sync.REPO, "BUILD")) as f:
        tree = ast.parse(f.read())
    declared = {}
    for node in tree.body:
        call = node.value if isinstance(node, ast.Expr) else None
        if not isinstance(call, ast.Call) or call.func.id not in (
            "py_library",
            "py_test",
        ):
            continue
        kw = {k.arg: k.value for k in call.keywords}
        deps = [
            ast.unparse(d) if isinstance(d, ast.Call) else d.value.lstrip(":")
            for d in kw["deps"].elts
        ]
        declared[kw["name"].value] = (
            call.func.id,
            kw["srcs"].elts[0].value,
            sorted(deps),
        )
    return declared


def test_build_matches_the_tree():
    expected = {
        name: (
            kind,
            src,
            [
                d.replace('"', "'") if d.startswith("requirement") else d
                for d in deps
            ],
        )
        for kind, name, src, deps in build_sync.targets()
    }
    declared = {
        name: (kind, src, sorted(d.replace('"', "'") for d in deps))
        for name, (kind, src, deps) in _declared().items()
    }
    missing = sorted(set(expected) - set(declared))
    extra = sorted(set(declared) - set(expected))
    assert not missing and not extra, (
        f"BUILD lacks {missing} and has stale {extra}; run "
        "`python tests/build_sync.py --write`."
    )
    for name in expected:
        assert declared[name] == expected[name], (
            f"{name}: BUILD says {declared[name]}, the code needs "
            f"{expected[name]}; run `python tests/build_sync.py --write`."
        )


def test_every_test_file_is_a_py_test():
    tests = {
        f"{folder}/{f}"
        for folder in build_sync.TEST_FOLDERS
        if os.path.isdir(os.path.join(build_sync.REPO, folder))
        for f in os.listdir(os.path.join(build_sync.REPO, folder))
        if f.startswith("test_") and f.endswith(".py")
    }
    declared = {
        src for kind, src, _ in _declared().values() if kind == "py_test"
    }
    assert "tests/parity/test_biggan_pytorch_parity.py" in tests
    assert tests == declared


def test_no_import_cycle_in_the_package():
    """The import graph of tfgda/ (imports inside functions included)
    flows one way: CLIs -> the run -> step maths -> leaves."""
    graph = {
        name: [d for d in deps if d.startswith("tfgda")]
        for kind, name, _, deps in build_sync.targets()
        if name.startswith("tfgda")
    }
    done, path = set(), []

    def visit(node):
        if node in path:
            cycle = path[path.index(node) :] + [node]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if node in done:
            return
        path.append(node)
        for dep in graph.get(node, []):
            visit(dep)
        path.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)


def test_each_py_test_runs_its_file_with_pytest():
    """Bazel runs `main` with `args`: the runner must run the file's tests
    (a test file as main would define them and run none)."""
    with open(os.path.join(build_sync.REPO, "BUILD")) as f:
        tree = ast.parse(f.read())
    tests = [
        {k.arg: k.value for k in node.value.keywords}
        for node in tree.body
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and node.value.func.id == "py_test"
    ]
    assert tests
    for kw in tests:
        src = kw["srcs"].elts[0].value
        assert kw["main"].value == build_sync.RUNNER
        assert [a.value for a in kw["args"].elts] == [src]
        assert build_sync.RUNNER in [e.value for e in kw["srcs"].elts]
    # What Bazel would run for one target, from the tree's root.
    done = subprocess.run(
        [sys.executable, build_sync.RUNNER, "tests/test_losses.py", "-q"],
        cwd=build_sync.REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert " passed" in done.stdout and " 0 passed" not in done.stdout
