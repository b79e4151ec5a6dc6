"""Shared fixtures of the training tests."""

import shutil

import pytest

from v2v.train.cli import main
from v2v.train.common import Loop


def _files(folder):
    """{relative path: (inode, mtime, size)} of every file under `folder`: a rewrite changes the inode."""
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    """A whole tiny-preset run (`train all`): (its work directory, its exported bundle), one for the session.
    Tests only read it; a test that trains, exports or locks takes `run_copy`. The session ends with a check
    that no test wrote into it."""
    workdir = tmp_path_factory.mktemp("run")
    out = workdir / "bundle"
    assert main(["all", "--preset", "tiny", "--workdir", str(workdir), "--out", str(out)]) == 0
    before = _files(workdir)
    yield workdir, out
    assert _files(workdir) == before, "a test wrote into the shared run: give it `run_copy` instead"


@pytest.fixture
def run_copy(run, tmp_path):
    """A copy of the tiny run in this test's tmp_path, to train on, export from or lock: (work directory, bundle)."""
    workdir = tmp_path / "run"
    shutil.copytree(run[0], workdir)
    return workdir, workdir / "bundle"


@pytest.fixture
def steps_run(monkeypatch):
    """The (stage, step) of every training step any stage's Loop runs during the test, in order."""
    ran = []
    iterate = Loop.__iter__

    def recording(loop):
        for step in iterate(loop):
            ran.append((loop.name, step))
            yield step

    monkeypatch.setattr(Loop, "__iter__", recording)
    return ran
