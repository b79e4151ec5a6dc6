import os
import shutil
import subprocess
import time

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A folder with the tiny random model (what `--model` takes), saved once per session."""
    from v2v.models.bundle import random_bundle, save_bundle

    folder = tmp_path_factory.mktemp("tiny_model")
    save_bundle(random_bundle(seed=0), folder)
    return str(folder)


@pytest.fixture
def xvfb(monkeypatch):
    """Start a real X server: `xvfb(size="640x480")` runs Xvfb on a free display (with GLX, for games),
    waits until it takes connections, points DISPLAY at it and returns ":N"; stopped after the test.
    Skips when Xvfb is not installed (.ci/run installs it)."""
    servers = []

    def start(size: str = "640x480") -> str:
        if not shutil.which("Xvfb"):
            pytest.skip("Xvfb is not installed (apt-get install xvfb; .ci/run installs it)")
        read_end, write_end = os.pipe()  # Xvfb picks a free display and writes its number here
        server = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_end),
                "-screen",
                "0",
                f"{size}x24",
                "+extension",
                "GLX",
                "-nolisten",
                "tcp",
                "-noreset",
            ],
            pass_fds=(write_end,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        servers.append(server)
        os.close(write_end)
        with os.fdopen(read_end) as numbers:
            display = f":{numbers.readline().strip()}"
        if display == ":":
            pytest.fail("Xvfb did not start")
        monkeypatch.setenv("DISPLAY", display)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
        _wait_for_x(display)
        return display

    yield start
    for server in servers:
        server.terminate()
        server.wait()


def _wait_for_x(display_name: str) -> None:
    from Xlib import display, error

    deadline = time.monotonic() + 10
    while True:
        try:
            display.Display(display_name).close()
            return
        except error.DisplayError:
            if time.monotonic() > deadline:
                pytest.fail(f"Xvfb {display_name} takes no connections")
            time.sleep(0.05)
