"""plugins/obs/v2v_obs.py outside OBS: the command it runs, its status line and its prompt changes, against
the real control endpoint (capture/control.py). The panel in a real OBS: test_obs.py."""

import sys
import time

import pytest

from capture.control import ControlServer, Steering
from plugins.obs import v2v_obs
from plugins.obs.v2v_obs import DEFAULTS, Runner, build_command, describe_status


def settings(**changes):
    return {**DEFAULTS, **changes}


def wait_until(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_command_runs_v2v_into_obs_with_its_control_port_and_parent():
    command = build_command(
        settings(
            python="/venv/bin/python",
            input="window:Minetest",
            prompt=" sunny hills ",
            strength=0.55,
            control_port=9000,
            obs_password="secret-99",
            extra="--model '/my models/a' --size 512x320",
        ),
        parent_pid=4242,
    )
    assert command[:3] == ["/venv/bin/python", "-m", "v2v"]
    text = " ".join(command)
    for part in (
        "--input window:Minetest",
        "--output obs",
        "--control-port 9000",
        "--parent-pid 4242",
        "--strength 0.55",
        "--prompt sunny hills",
        "--obs-port 4455",
        "--size 512x320",
    ):
        assert part in text, part
    assert "/my models/a" in command and "secret-99" not in text  # the password goes in the environment


def test_the_status_line():
    line = describe_status({"fps": 29.96, "latency_p50_ms": 41.2, "prompt": "hills", "strength": 0.7})
    assert line == "running · 30.0 fps · latency 41 ms · prompt 'hills' · strength 0.7"
    assert "latency - ms" in describe_status({"fps": 0.0, "latency_p50_ms": None, "prompt": "", "strength": 1})


@pytest.fixture
def fake_v2v(tmp_path):
    """A folder whose `python -m v2v` prints its arguments and waits to be stopped (or fails on --fail)."""
    package = tmp_path / "v2v"
    package.mkdir()
    (package / "__main__.py").write_text(
        "import sys, time\nprint('args', ' '.join(sys.argv[1:]), flush=True)\n"
        "if '--fail' in sys.argv:\n    print('error: no OBS at 127.0.0.1:4455', flush=True)\n    sys.exit(1)\n"
        "time.sleep(60)\n"
    )
    return tmp_path


def test_start_stop_and_a_failure_in_the_status(fake_v2v, tmp_path):
    runner = Runner(str(tmp_path / "v2v_obs.log"))
    runner.start(settings(python=sys.executable, folder=str(fake_v2v), obs_password="pw-1"))
    assert runner.running and runner.status.startswith("starting (pid")
    log = tmp_path / "v2v_obs.log"
    wait_until(lambda: "--output obs" in log.read_text())  # v2v's output goes to the log
    runner.stop()
    assert not runner.running and runner.status == "stopped"
    runner.start(settings(python=sys.executable, folder=str(fake_v2v), extra="--fail"))
    wait_until(lambda: runner.refresh() or runner.status.startswith("ended"))
    assert runner.status == "ended (exit 1): error: no OBS at 127.0.0.1:4455"
    runner.start(settings(python=str(tmp_path / "no-python")))
    assert runner.status.startswith("cannot start") and "virtualenv" in runner.status


def test_prompt_changes_go_to_the_control_endpoint(fake_v2v, tmp_path):
    steering = Steering("first", 0.7)
    server = ControlServer(steering, 0).start(steering.snapshot)
    runner = Runner(str(tmp_path / "v2v_obs.log"))
    try:
        runner.start(settings(python=sys.executable, folder=str(fake_v2v), prompt="first", control_port=server.port))
        runner.push("second", 0.4)
        runner.push("third", 0.45)  # the newest values win
        wait_until(lambda: steering.snapshot()["prompt"] == "third")
        assert steering.snapshot()["strength"] == 0.45
        runner.refresh()
        wait_until(lambda: runner.status.startswith("running · "))
        assert "prompt 'third'" in runner.status
        runner.push("bad", 5.0)
        wait_until(lambda: runner.status.startswith("v2v refused the change"))
        assert "strength must be in (0, 1]" in runner.status
    finally:
        runner.stop()
        server.close()


def test_the_script_imports_without_obs():
    assert v2v_obs.obs is None  # outside OBS there is no obspython: the panel functions are not used
