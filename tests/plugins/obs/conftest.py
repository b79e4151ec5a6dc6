"""Fixtures for the OBS tests: one real headless OBS for the session (tests/plugins/obs/headless.py), with
the v2v script loaded; tests marked `obs` run inside its network namespace and get a connected client."""

from __future__ import annotations

import sys
import warnings

import pytest

from tests.capture.helpers import REPO
from tests.plugins.obs.headless import HeadlessObs, why_obs_cannot_run

SCRIPT = REPO / "plugins" / "obs" / "v2v_obs.py"
SCRIPT_CONTROL_PORT = 18765  # inside OBS's namespace every port is free


@pytest.fixture(scope="session")
def obs_studio(tmp_path_factory) -> HeadlessObs:
    """A real OBS 29 (obs-websocket 5.1) under Xvfb, started once; the v2v script is loaded with settings
    that run the tiny model on the pattern. Skips only where OBS is not installed."""
    reason = why_obs_cannot_run()
    if reason is not None:
        pytest.skip(reason)
    from v2v.models.bundle import random_bundle, save_bundle

    root = tmp_path_factory.mktemp("obs")
    model = root / "tiny_model"
    save_bundle(random_bundle(seed=0), model)
    studio = HeadlessObs(root, SCRIPT)
    if studio.netns is None:  # still a real OBS, but it listens beyond loopback while the tests run
        warnings.warn(f"OBS runs in this machine's network namespace: {studio.why_no_namespace}", stacklevel=1)
    studio.script_settings = {
        "python": sys.executable,
        "folder": str(REPO),
        "input": "pattern:64x64",
        "prompt": "panel prompt",
        "strength": 0.6,
        "control_port": SCRIPT_CONTROL_PORT,
        "obs_port": studio.port,
        "obs_password": studio.password,
        "extra": f"--model {model}",
    }
    try:
        studio.start()
    except BaseException:
        studio.close()
        raise
    yield studio
    studio.close()


@pytest.fixture(autouse=True)
def _inside_obs(request):
    """Tests marked `obs` (and what they start) run in OBS's network namespace."""
    if request.node.get_closest_marker("obs") is None:
        yield
        return
    studio = request.getfixturevalue("obs_studio")
    with studio.inside():
        yield


@pytest.fixture
def obs_client(obs_studio):
    """A connected ObsClient (it reconnects by itself when a test restarts OBS)."""
    from plugins.obs.client import ObsClient

    client = ObsClient("127.0.0.1", obs_studio.port, obs_studio.password)
    yield client
    client.close()
