"""The entry point of every Bazel py_test: runs pytest on the test files it
is given (BUILD passes each target its own file), with the suite's shared
fixtures (tests/conftest.py) and its defaults (slow tests left out)."""

import sys

import pytest

if __name__ == "__main__":
    sys.exit(
        pytest.main(["-p", "no:cacheprovider", "-m", "not slow", *sys.argv[1:]])
    )
