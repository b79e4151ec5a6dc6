"""Shared fixtures of the training tests."""

import pytest

from v2v.train.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A whole tiny-preset run (`train all`): (its work directory, its exported bundle). One per test module."""
    workdir = tmp_path_factory.mktemp("run")
    out = workdir / "bundle"
    assert main(["all", "--preset", "tiny", "--workdir", str(workdir), "--out", str(out)]) == 0
    return workdir, out
